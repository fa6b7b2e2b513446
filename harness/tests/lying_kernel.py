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
- ``poll``: ppoll() reports every socket without POLLOUT (a readiness the model does not
  predict for a fresh or connected socket).
- ``so_error``: getsockopt(SOL_SOCKET, SO_ERROR) reads ECONNRESET, an error the model does not
  hold.
- ``o-path-enotsock``: a native socket call on a descriptor opened O_PATH answers ENOTSOCK, as
  if fdget() returned FMODE_PATH files (it does not: EBADF, fd.ebadf_o_path).
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
FD_CALLS = {native().nr(name) for name in (
    "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "shutdown",
    "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
    "recvmmsg")}
O_PATH = 0o10000000


def opened_o_path(fd: int) -> bool:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            flags = next(line for line in f if line.startswith("flags:"))
    except (OSError, StopIteration):
        return False
    return bool(int(flags.split()[1], 8) & O_PATH)
BIND_CONNECT = (native().nr("bind"), native().nr("connect"))
PATH_ERRNOS = (errno.EACCES, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EROFS)
MSG_FLAGS_OFFSET = struct.calcsize("=Qi4xQQQQ") if native().pointer_size == 8 else 24
MSG_TRUNC = 0x20
PPOLL, GETSOCKOPT = native().nr("ppoll"), native().nr("getsockopt")
POLLOUT = 0x4


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
        if "o-path-enotsock" in self.lies and nr in FD_CALLS and 0 <= a0 < 1 << 20 \
                and opened_o_path(a0):
            return -1, errno.ENOTSOCK
        ret, err = self._real.raw(nr, a0, *rest)
        if "path-errno" in self.lies and nr in BIND_CONNECT and err in PATH_ERRNOS:
            return -1, errno.ENOENT
        if "writeback" in self.lies and err:
            args = (a0,) + rest
            if nr in LENGTH_ARG and LENGTH_ARG[nr] < len(args):
                poke(args[LENGTH_ARG[nr]], struct.pack("=i", 99))
            elif nr == RECVMSG and len(args) > 1 and args[1]:
                poke(args[1] + MSG_FLAGS_OFFSET, struct.pack("=I", MSG_TRUNC))
        if "poll" in self.lies and nr == PPOLL and ret >= 0:
            for i in range(rest[0]):                 # struct pollfd {int fd; short events, revents}
                revents = ctypes.c_short.from_address(a0 + 8 * i + 6)
                revents.value &= ~POLLOUT
        if "so_error" in self.lies and nr == GETSOCKOPT and ret == 0 and \
                rest[:2] == (L.SOL_SOCKET, L.SO_ERROR) and rest[2]:
            ctypes.c_int.from_address(rest[2]).value = errno.ECONNRESET
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
