"""A catalogue of descriptors that are not sockets, for every call that takes an fd (after
LTP's lib/tst_fd.c, which accept03 and others run through).

Each kind is a number with no open file (closed, -1, RLIMIT_NOFILE, INT_MAX) or an open file of
some kind: a regular file, a directory, an O_PATH file, both ends of a pipe, /dev/null, eventfd,
epoll, timerfd, signalfd, memfd, inotify, pidfd, fanotify, userfaultfd, perf event, io_uring, a
bpf map, fsopen/fspick contexts, an open_tree (O_PATH) mount, and a socket reached by O_PATH (its
file in the filesystem, and /proc/self/fd/N of a socket).

Opening one is a setup call outside the socket layer: it is issued directly (raw syscalls, not
checked) and the model adopts the descriptor as a Foreign file, told whether it is O_PATH
(FMODE_PATH: EBADF) or not (ENOTSOCK). Whether this kernel has a kind at all is decided from the
profile (the kernel config, the release, capabilities, sysctls), never from the call under test
nor from the setup call's own answer: a kind the profile says exists must open, else the test
errors (SetupError). On a sandbox target (gVisor, UML) a kind that cannot be opened is skipped
with the setup call's answer: that is a finding about its files, not about its socket layer."""
from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass
from typing import Callable

from harness.abi import linux as L
from harness.mem import SockaddrUn

from .endpoints import SetupError, setup_ok
from .kinds import unix_dir, unique

INT_MAX = 0x7FFFFFFF
O_PATH = 0o10000000
AT_FDCWD = -100


@dataclass
class Opened:
    """What a kind's opener made: ``fd`` is the descriptor the calls get; ``fds`` every
    descriptor it opened (closed, checked, at the end); ``path_only``: fd was opened O_PATH."""
    fd: int
    fds: list[int]
    path_only: bool = False


@dataclass(frozen=True)
class FdKind:
    name: str
    description: str
    opener: Callable | None = None      # opener(sc) -> Opened; None: a number with no file
    number: Callable | None = None      # number(sc) -> the fd number (kinds with no file)
    config: str | None = None           # the CONFIG_ option it needs (harness/abi/markers.py)
    since: tuple | None = None          # the release that added it
    needs_cap: str | None = None        # a capability its setup call needs
    gate: Callable | None = None        # gate(profile) -> why it cannot be opened, or None

    @property
    def opened(self) -> bool:
        return self.opener is not None

    def absent(self, profile) -> str | None:
        """Why this kernel or process cannot have this kind (from the profile), or None."""
        if self.since and tuple(profile.kernel_version) < self.since:
            return (f"{self.description} exists since Linux {'.'.join(map(str, self.since))}; "
                    f"this kernel is {'.'.join(map(str, profile.kernel_version))}")
        if self.config:
            r = (profile.markers or {}).get(self.config) or {}
            if r.get("known") and r.get("value") in (None, "n"):
                return f"{self.config} is not set ({r.get('source')}): no {self.description}"
        if self.needs_cap and not profile.has_cap(self.needs_cap):
            return f"opening {self.description} needs {self.needs_cap}, which this process lacks"
        if self.gate is not None:
            return self.gate(profile)
        return None


# --------------------------------------------------------------------------- setup calls

def _sys(sc, name: str, *args) -> int:
    """A setup syscall by name (native ABI): the new fd, or SetupError naming the call."""
    r = sc.k.raw(sc.k.native_abi.nr(name), *args)
    if not r.ok:
        raise SetupError(f"setup call {name}{args!r} failed: {r} (the profile says this kernel "
                         "has it: see suite/fdkinds.py)")
    return r.ret


def _buf(data: bytes) -> tuple[ctypes.Array, int]:
    raw = ctypes.create_string_buffer(data, len(data))
    return raw, ctypes.addressof(raw)


_keep: list = []                        # buffers a setup call was given (alive for the session)


def _ptr(data: bytes) -> int:
    raw, addr = _buf(data)
    _keep.append(raw)
    return addr


def _cstr(text: str) -> int:
    return _ptr(text.encode() + b"\0")


def _one(fd: int) -> Opened:
    return Opened(fd, [fd])


def _file(sc) -> Opened:
    path = os.path.join(unix_dir(), unique("file"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.unlink(path)
    return _one(fd)


def _directory(sc) -> Opened:
    return _one(os.open(unix_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))


def _o_path_file(sc) -> Opened:
    path = os.path.join(unix_dir(), unique("file"))
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    fd = os.open(path, O_PATH | os.O_CLOEXEC)
    os.unlink(path)
    return Opened(fd, [fd], path_only=True)


def _pipe(end: int) -> Callable:
    def opener(sc) -> Opened:
        fds = list(os.pipe2(os.O_CLOEXEC))
        return Opened(fds[end], fds)
    return opener


def _dev(path: str) -> Callable:
    return lambda sc: _one(os.open(path, os.O_RDONLY | os.O_CLOEXEC))


EFD_CLOEXEC = TFD_CLOEXEC = SFD_CLOEXEC = IN_CLOEXEC = EPOLL_CLOEXEC = os.O_CLOEXEC
MFD_CLOEXEC = 1
FAN_CLOEXEC, FAN_CLASS_NOTIF = 0x1, 0x0
CLOCK_MONOTONIC = 1


def _eventfd(sc):
    return _one(_sys(sc, "eventfd2", 0, EFD_CLOEXEC))


def _epoll(sc):
    return _one(_sys(sc, "epoll_create1", EPOLL_CLOEXEC))


def _timerfd(sc):
    return _one(_sys(sc, "timerfd_create", CLOCK_MONOTONIC, TFD_CLOEXEC))


def _signalfd(sc):
    return _one(_sys(sc, "signalfd4", -1, _ptr(b"\0" * 8), 8, SFD_CLOEXEC))


def _memfd(sc):
    return _one(_sys(sc, "memfd_create", _cstr("sockspec"), MFD_CLOEXEC))


def _inotify(sc):
    return _one(_sys(sc, "inotify_init1", IN_CLOEXEC))


def _pidfd(sc):
    fd = _sys(sc, "pidfd_open", os.getpid(), 0)       # a pidfd is always O_CLOEXEC
    return _one(fd)


def _fanotify(sc):
    return _one(_sys(sc, "fanotify_init", FAN_CLASS_NOTIF | FAN_CLOEXEC, os.O_RDONLY))


def _userfaultfd(sc):
    return _one(_sys(sc, "userfaultfd", os.O_CLOEXEC))


PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, PERF_FLAG_FD_CLOEXEC = 1, 0, 8
PERF_ATTR_SIZE_VER0 = 64


def _perf_event(sc):
    # struct perf_event_attr (VER0): type, size, config, sample_period, sample_type,
    # read_format, then the flag bits: disabled (bit 0), exclude_kernel (5), exclude_hv (6)
    attr = struct.pack("=IIQQQQQ", PERF_TYPE_SOFTWARE, PERF_ATTR_SIZE_VER0,
                       PERF_COUNT_SW_CPU_CLOCK, 0, 0, 0, 1 | 1 << 5 | 1 << 6)
    attr += b"\0" * (PERF_ATTR_SIZE_VER0 - len(attr))
    return _one(_sys(sc, "perf_event_open", _ptr(attr), 0, -1, -1, PERF_FLAG_FD_CLOEXEC))


def _io_uring(sc):
    fd = _sys(sc, "io_uring_setup", 1, _ptr(b"\0" * 120))     # struct io_uring_params
    os.set_inheritable(fd, False)                              # (it has no CLOEXEC flag)
    return _one(fd)


BPF_MAP_CREATE, BPF_MAP_TYPE_ARRAY = 0, 2


def _bpf_map(sc):
    attr = struct.pack("=IIIII", BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0) + b"\0" * 108  # union bpf_attr
    return _one(_sys(sc, "bpf", BPF_MAP_CREATE, _ptr(attr), len(attr)))   # O_CLOEXEC always


FSOPEN_CLOEXEC = FSPICK_CLOEXEC = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC


def _fsopen(sc):
    return _one(_sys(sc, "fsopen", _cstr("tmpfs"), FSOPEN_CLOEXEC))


def _fspick(sc):
    return _one(_sys(sc, "fspick", AT_FDCWD, _cstr("/"), FSPICK_CLOEXEC))


def _open_tree(sc):
    fd = _sys(sc, "open_tree", AT_FDCWD, _cstr("/"), OPEN_TREE_CLOEXEC)   # no OPEN_TREE_CLONE:
    return Opened(fd, [fd], path_only=True)                                # an O_PATH file


def _socket_file_o_path(sc) -> Opened:
    """A unix socket bound to a path (checked calls), and that path opened with O_PATH: the
    fd refers to the socket's inode in the filesystem, not to a socket file."""
    s = setup_ok(sc, sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)).ret
    path = os.path.join(unix_dir(), unique("opath"))
    setup_ok(sc, sc.bind(s, SockaddrUn(path=path)))
    fd = os.open(path, O_PATH | os.O_CLOEXEC)
    return Opened(fd, [fd, s], path_only=True)


def _socket_proc_o_path(sc) -> Opened:
    """/proc/self/fd/N of a socket opened with O_PATH: the socket's own inode, path only."""
    s = setup_ok(sc, sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0)).ret
    fd = os.open(f"/proc/self/fd/{s}", O_PATH | os.O_CLOEXEC)
    return Opened(fd, [fd, s], path_only=True)


# --------------------------------------------------------------------------- gates

def _sysctl(profile, name: str) -> int | None:
    return profile.sysctl_int(name)


def _io_uring_gate(profile) -> str | None:
    v = _sysctl(profile, "kernel.io_uring_disabled")
    if v == 2:
        return "kernel.io_uring_disabled = 2: io_uring_setup() is refused to every process"
    if v == 1 and not profile.has_cap("CAP_SYS_ADMIN"):
        return "kernel.io_uring_disabled = 1 and this process lacks CAP_SYS_ADMIN"
    return None


def _perf_gate(profile) -> str | None:
    v = _sysctl(profile, "kernel.perf_event_paranoid")
    if v is not None and v > 2 and not profile.has_cap("CAP_SYS_ADMIN"):
        return f"kernel.perf_event_paranoid = {v} and this process lacks CAP_SYS_ADMIN"
    return None


def _bpf_gate(profile) -> str | None:
    v = _sysctl(profile, "kernel.unprivileged_bpf_disabled")
    if v and not profile.has_cap("CAP_SYS_ADMIN"):
        return f"kernel.unprivileged_bpf_disabled = {v} and this process lacks CAP_SYS_ADMIN"
    return None


def _userfaultfd_gate(profile) -> str | None:
    if _sysctl(profile, "vm.unprivileged_userfaultfd") != 1 and profile.euid != 0:
        return "vm.unprivileged_userfaultfd is not 1 and this process is not root"
    return None


def _closed(sc) -> int:
    s = setup_ok(sc, sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0)).ret
    sc.close(s)
    return s


KINDS = [
    # numbers with no open file: EBADF (fd.ebadf)
    FdKind("closed", "a descriptor just closed", number=_closed),
    FdKind("minus-1", "-1", number=lambda sc: -1),
    FdKind("rlimit", "RLIMIT_NOFILE (no descriptor can have that number)",
           number=lambda sc: sc.m.fds.rlimit),
    FdKind("int-max", "INT_MAX", number=lambda sc: INT_MAX),
    # open files that are not sockets: ENOTSOCK (fd.enotsock)
    FdKind("file", "a regular file", _file),
    FdKind("directory", "a directory", _directory),
    FdKind("pipe-read", "a pipe's read end", _pipe(0)),
    FdKind("pipe-write", "a pipe's write end", _pipe(1)),
    FdKind("dev-null", "/dev/null", _dev("/dev/null")),
    FdKind("dev-zero", "/dev/zero", _dev("/dev/zero")),
    FdKind("proc-maps", "/proc/self/maps", _dev("/proc/self/maps")),
    FdKind("eventfd", "an eventfd", _eventfd, config="CONFIG_EVENTFD"),
    FdKind("epoll", "an epoll instance", _epoll, config="CONFIG_EPOLL"),
    FdKind("timerfd", "a timerfd", _timerfd, config="CONFIG_TIMERFD"),
    FdKind("signalfd", "a signalfd", _signalfd, config="CONFIG_SIGNALFD"),
    FdKind("memfd", "a memfd", _memfd, config="CONFIG_MEMFD_CREATE"),
    FdKind("inotify", "an inotify instance", _inotify, config="CONFIG_INOTIFY_USER"),
    FdKind("pidfd", "a pidfd (pidfd_open)", _pidfd, since=(5, 3, 0)),
    FdKind("fanotify", "a fanotify group", _fanotify, config="CONFIG_FANOTIFY",
           needs_cap="CAP_SYS_ADMIN"),
    FdKind("userfaultfd", "a userfaultfd", _userfaultfd, config="CONFIG_USERFAULTFD",
           gate=_userfaultfd_gate),
    FdKind("perf-event", "a perf event (software clock)", _perf_event, config="CONFIG_PERF_EVENTS",
           gate=_perf_gate),
    FdKind("io-uring", "an io_uring instance", _io_uring, config="CONFIG_IO_URING",
           since=(5, 1, 0), gate=_io_uring_gate),
    FdKind("bpf-map", "a bpf array map", _bpf_map, config="CONFIG_BPF_SYSCALL", gate=_bpf_gate),
    FdKind("fsopen", "a filesystem context (fsopen)", _fsopen, since=(5, 2, 0),
           needs_cap="CAP_SYS_ADMIN"),
    FdKind("fspick", "a filesystem context (fspick)", _fspick, since=(5, 2, 0),
           needs_cap="CAP_SYS_ADMIN"),
    # open, but O_PATH (FMODE_PATH): EBADF (fd.ebadf_o_path)
    FdKind("o-path-file", "a regular file opened O_PATH", _o_path_file),
    FdKind("open-tree", "a mount from open_tree() (an O_PATH file)", _open_tree, since=(5, 2, 0)),
    FdKind("socket-file-o-path", "a bound unix socket's file opened O_PATH", _socket_file_o_path),
    FdKind("socket-proc-o-path", "/proc/self/fd/N of a socket opened O_PATH", _socket_proc_o_path),
]
BY_NAME = {k.name: k for k in KINDS}


def ids() -> list[str]:
    return [k.name for k in KINDS]


def open_kind(sc, kind: FdKind) -> tuple[int, list[int]]:
    """Open ``kind`` (or pick its number), tell the model what each new descriptor is, and
    return (the fd the calls get, the descriptors to close at the end)."""
    if not kind.opened:
        return kind.number(sc), []
    try:
        made = kind.opener(sc)
    except (SetupError, OSError) as exc:
        why = exc if isinstance(exc, SetupError) else SetupError(f"opening {kind.description}: {exc}")
        if sc.m.profile.target_kind == "sandbox":
            # a sandbox (gVisor, UML) that lacks a kind of file is a finding about its file
            # system, not about its socket layer: the socket calls have nothing to be given
            import pytest
            pytest.skip(f"the sandbox cannot open {kind.description}: {why}")
        raise why from None
    for fd in made.fds:
        if sc.m.fds.get(fd) is None:            # the socket of an O_PATH kind is the model's
            path_only = made.path_only and fd == made.fd
            sc.m.adopt(fd, os.readlink(f"/proc/self/fd/{fd}"), cloexec=True,
                       path_only=path_only, kind=kind.name if fd == made.fd else "")
    return made.fd, made.fds
