"""A backend that lies, and a pytest plugin that installs it (``-p harness.tests.lying_kernel``,
what to lie about in $SOCKSPEC_LIE, comma-separated):

- ``socketcall``: the 32-bit path answers getpid through int $0x80 with the caller's pid, and
  ENOSYS to everything else (socketcall and the i386 socket syscalls): a broken socketcall on a
  kernel whose IA32 emulation works. Needs no IA32 emulation on the host.
- ``ipv6``: socket()/socketpair() of AF_INET6 answer EAFNOSUPPORT, whatever the kernel has.
- ``writeback``: a native getsockname/getpeername/accept/accept4/recvfrom/getsockopt that
  fails writes 99 to *addrlen / *optlen anyway, and a failing recvmsg sets MSG_TRUNC in the
  caller's msg_flags: write-backs the kernel never makes on an error.
- ``unix-einval``: socket(AF_UNIX, ...) answers EINVAL whatever the type flags: the errno of a
  rule the model considered and excluded (socket.type_flags_invalid), for the explanation.
- ``path-errno``: a native bind or connect failing with EACCES, ENOTDIR, ELOOP, ENAMETOOLONG or
  EROFS answers ENOENT instead: a kernel that does not tell path errors apart.

Everything else goes to the real backend. Loaded as a plugin, it replaces the backend the
sockspec plugin loads, so the session profile is probed through the lie too: the profile must
not change its mind from these answers, and the run must go red.
"""
from __future__ import annotations

import ctypes
import errno
import os
import struct

from harness.abi import ABIS, native
from harness.abi import linux as L

I386_GETPID = ABIS["i386"].nr("getpid")
SOCKET, SOCKETPAIR = native().nr("socket"), native().nr("socketpair")
# the argument holding the length pointer the "writeback" lie scribbles on
LENGTH_ARG = {native().nr(name): i for name, i in (
    ("getsockname", 2), ("getpeername", 2), ("accept", 2), ("accept4", 2), ("recvfrom", 5),
    ("getsockopt", 4))}
RECVMSG = native().nr("recvmsg")
BIND_CONNECT = (native().nr("bind"), native().nr("connect"))
PATH_ERRNOS = (errno.EACCES, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EROFS)
MSG_FLAGS_OFFSET = struct.calcsize("=Qi4xQQQQ") if native().pointer_size == 8 else 24
MSG_TRUNC = 0x20


class LyingBackend:
    has_compat = True

    def __init__(self, real, lies):
        self._real = real
        self.lies = set(lies)
        self.name = real.name           # reproducers load the real backend by this name

    def raw(self, nr, a0=0, *rest):
        if "ipv6" in self.lies and nr in (SOCKET, SOCKETPAIR) and a0 == L.AF_INET6:
            return -1, errno.EAFNOSUPPORT
        if "unix-einval" in self.lies and nr == SOCKET and a0 == L.AF_UNIX:
            return -1, errno.EINVAL
        ret, err = self._real.raw(nr, a0, *rest)
        if "path-errno" in self.lies and nr in BIND_CONNECT and err in PATH_ERRNOS:
            return -1, errno.ENOENT
        if "writeback" in self.lies and err:
            args = (a0,) + rest
            if nr in LENGTH_ARG and LENGTH_ARG[nr] < len(args):
                poke(args[LENGTH_ARG[nr]], struct.pack("=i", 99))
            elif nr == RECVMSG and len(args) > 1 and args[1]:
                poke(args[1] + MSG_FLAGS_OFFSET, struct.pack("=I", MSG_TRUNC))
        return ret, err

    def compat(self, nr, *args):
        if "socketcall" in self.lies:
            if nr == I386_GETPID:
                return os.getpid(), 0
            return -1, errno.ENOSYS
        return self._real.compat(nr, *args)


def poke(addr: int, data: bytes) -> None:
    """Write ``data`` at ``addr`` the way a kernel would: through read(2) from a pipe, so an
    unmapped or PROT_NONE address (a test's fault page) fails with EFAULT instead of killing
    the process. NULL is left alone."""
    if not addr:
        return
    r, w = os.pipe()
    try:
        os.write(w, data)
        os.readv(r, [(ctypes.c_char * len(data)).from_address(addr)])
    except OSError:
        pass                                # not writable: nothing to lie into
    finally:
        os.close(r)
        os.close(w)


def lies() -> list[str]:
    return [w for w in os.environ.get("SOCKSPEC_LIE", "").split(",") if w]


# -- as a pytest plugin: wrap whatever backend the sockspec plugin loads -----------------
if lies():
    from harness import pytest_plugin as _plugin

    _real_load = _plugin.load_backend

    def _load(name=None):
        return LyingBackend(_real_load(name), lies())

    _plugin.load_backend = _load
