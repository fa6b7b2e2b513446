"""The fd table calls (fs/file.c, fs/open.c, fs/fcntl.c, fs/stat.c) and what /proc/self/fd
shows for a socket (fs/proc/fd.c, net/socket.c sockfs_dname())."""
from __future__ import annotations

import errno as E
import re

from ..abi import linux as L
from .core import Model, syscall
from .rules import Predicate, rule
from .socket import EMFILE, LOWEST_FREE, is_error, new_fd
from .state import Foreign, Sock

CLOSE = rule("close.ok", "0",
             "close() removes the descriptor; the socket is released when its last fd goes.",
             "fs/open.c close_fd(); net/socket.c sock_close(); close(2)")
CLOSE_EBADF = rule("close.ebadf", "EBADF", "close() of a descriptor that is not open.",
                   "fs/open.c close_fd() -> -EBADF; close(2) ERRORS EBADF")
DUP = rule("dup.ok", "the lowest free fd",
           "dup() gives the lowest free descriptor, sharing the open file; FD_CLOEXEC is clear.",
           "fs/file.c dup() -> get_unused_fd_flags(0); dup(2)")
DUP_EBADF = rule("dup.ebadf", "EBADF", "dup() of a descriptor that is not open (an O_PATH one is).",
                 "fs/file.c SYSCALL_DEFINE1(dup): fget_raw() fails -> -EBADF; dup(2) ERRORS EBADF")
DUP2 = rule("dup2.ok", "newfd",
            "dup2() makes newfd refer to oldfd's file, closing what newfd held; FD_CLOEXEC clear; "
            "oldfd == newfd returns newfd unchanged.",
            "fs/file.c ksys_dup3()/dup2 (do_dup2); dup(2)")
DUP2_EBADF = rule("dup2.ebadf", "EBADF",
                  "dup2() with oldfd not open, or newfd outside 0..RLIMIT_NOFILE-1.",
                  "fs/file.c ksys_dup3(): newfd >= rlimit(RLIMIT_NOFILE) -> -EBADF; dup(2) ERRORS")
FCNTL_FLAGS = rule("fcntl.socket_flags", "F_GETFL = O_RDWR | O_NONBLOCK?, F_GETFD = FD_CLOEXEC?",
                   "A socket's file is O_RDWR, plus O_NONBLOCK when set; FD_CLOEXEC is per fd.",
                   "net/socket.c sock_alloc_file(): O_RDWR | (flags & O_NONBLOCK); fcntl(2)")
FCNTL_SETFL = rule("fcntl.setfl", "0",
                   "F_SETFL sets O_NONBLOCK on the open file, seen through every dup'd fd.",
                   "fs/fcntl.c setfl(); fcntl(2) F_SETFL")
FCNTL_SETFD = rule("fcntl.setfd", "0",
                   "F_SETFD sets FD_CLOEXEC on this descriptor only.",
                   "fs/fcntl.c do_fcntl() F_SETFD; fcntl(2)")
FCNTL_DUPFD = rule("fcntl.dupfd", "the lowest free fd >= arg",
                   "F_DUPFD gives the lowest free descriptor at or above arg.",
                   "fs/fcntl.c f_dupfd(); fcntl(2) F_DUPFD")
FCNTL_DUPFD_EINVAL = rule(
    "fcntl.dupfd_einval", "EINVAL", "F_DUPFD with arg negative or >= RLIMIT_NOFILE.",
    "fs/fcntl.c f_dupfd(): from >= rlimit(RLIMIT_NOFILE) -> -EINVAL; fcntl(2) ERRORS EINVAL")
FCNTL_EBADF = rule("fcntl.ebadf", "EBADF", "fcntl() on a descriptor that is not open.",
                   "fs/fcntl.c SYSCALL_DEFINE3(fcntl): fdget_raw() fails; fcntl(2) ERRORS EBADF")
PROCFS_LINK = rule("procfs.fd_link", "socket:[ino]",
                   "/proc/self/fd/N of a socket reads socket:[ino], ino being fstat's st_ino.",
                   "net/socket.c sockfs_dname(): \"socket:[%lu]\", d_inode->i_ino; proc(5) /proc/pid/fd")
PROCFS_ENOENT = rule(
    "procfs.fd_enoent", "ENOENT", "/proc/self/fd/N of a descriptor that is not open.",
    "fs/proc/fd.c proc_lookupfd_common(): no such fd -> -ENOENT; proc(5)")
PROCFS_NAME_NOT_FD = rule(
    "procfs.fd_name_not_number", "ENOENT",
    "/proc/self/fd/NAME where NAME is not a descriptor number as proc spells one (a sign, a "
    "leading zero, a non-digit, a value too large for 32 bits): there is no such entry.",
    "fs/proc/fd.c proc_lookupfd_common(): fd = name_to_int(&dentry->d_name); if (fd == ~0U) "
    "-> -ENOENT; fs/proc/util.c name_to_int(); proc(5) /proc/pid/fd")
FSTAT_SOCK = rule("fstat.socket", "S_IFSOCK, st_ino = the socket inode",
                  "fstat() of a socket fd reports S_IFSOCK and the sockfs inode number.",
                  "net/socket.c sock_alloc(): inode->i_mode = S_IFSOCK | S_IRWXUGO; fstat(2), inode(7)")
FSTAT_OTHER = rule("fstat.not_socket", "st_mode of the file (not S_IFSOCK)",
                   "fstat() of a descriptor that is not a socket (/dev/null ...) reports the "
                   "file's own type.",
                   "fs/stat.c vfs_fstat(); stat(2), inode(7) S_IFMT")
PROCFS_FILE_LINK = rule(
    "procfs.fd_link_file", "the file's path",
    "/proc/self/fd/N of a descriptor that is not a socket reads the path of the file it opened.",
    "fs/proc/base.c proc_fd_link() -> d_path(); proc(5) /proc/pid/fd")
FSTAT_EBADF = rule("fstat.ebadf", "EBADF", "fstat() of a descriptor that is not open.",
                   "fs/stat.c vfs_fstat(): fdget_raw() fails; stat(2) ERRORS EBADF")

_PROC_FD = re.compile(r"/proc/self/fd/([^/]+)$")


def name_to_int(name: str) -> int | None:
    """fs/proc/util.c name_to_int(): the number a /proc directory entry's name spells, or
    None (~0U) for one that does not: a leading zero, a non-digit, or too large."""
    if len(name) > 1 and name[0] == "0":
        return None
    n = 0
    for ch in name:
        if not "0" <= ch <= "9" or n >= (0xFFFFFFFF - 9) // 10:
            return None
        n = n * 10 + int(ch)
    return n


def release(m: Model, obj) -> None:
    """The last reference to a file went away: sock_close() -> sock->ops->release()."""
    from .scm import in_flight
    if isinstance(obj, Sock) and not m.fds.fds_of(obj) and not in_flight(m, obj):
        release_fn = getattr(obj.ops, "release", None)
        if release_fn is not None:
            release_fn(m, obj)


@syscall("close")
def close_fd(m: Model, fd: int):
    entry = m.fds.get(fd) if fd >= 0 else None
    if entry is None:
        return CLOSE_EBADF.fail(E.EBADF)

    def remove(model: Model, result):
        gone = model.fds.remove(fd)
        release(model, gone.obj)

    obj, also = entry.obj, ()
    if isinstance(obj, Sock) and set(m.fds.fds_of(obj)) == {fd}:
        also = tuple(getattr(obj.ops, "release_rules", lambda sock, m=None: ())(obj, m))
        if any(s.fp for s in obj.recv_queue):
            from .scm import INFLIGHT_RELEASED
            also += (INFLIGHT_RELEASED,)
    return CLOSE.ok(0, apply=remove, also=also)


def _install_dup(obj, newfd):
    def install(model: Model, result):
        old = model.fds.remove(newfd)
        model.fds.install(newfd, obj, False)
        if old is not None and old.obj is not obj:
            release(model, old.obj)
    return install


@syscall("dup")
def dup(m: Model, fd: int):
    entry = m.fds.get(fd) if fd >= 0 else None     # fget_raw(): an O_PATH file too
    if entry is None:
        return DUP_EBADF.fail(E.EBADF)
    obj = entry.obj
    newfd = new_fd(m)
    if is_error(newfd):
        return newfd
    return DUP.ok(newfd, apply=_install_dup(obj, newfd), also=(LOWEST_FREE,))


@syscall("dup2")
def dup2(m: Model, oldfd: int, newfd: int):
    """SYSCALL_DEFINE2(dup2): oldfd == newfd only checks oldfd; else ksys_dup3() checks newfd
    against RLIMIT_NOFILE (the fds are unsigned: negative ones are huge), then oldfd."""
    entry = m.fds.get(oldfd) if oldfd >= 0 else None
    if oldfd == newfd:
        return DUP2.ok(newfd) if entry is not None else DUP2_EBADF.fail(E.EBADF)
    if newfd < 0 or newfd >= m.fds.rlimit or entry is None:
        return DUP2_EBADF.fail(E.EBADF)
    return DUP2.ok(newfd, apply=_install_dup(entry.obj, newfd))


@syscall("fcntl")
def do_fcntl(m: Model, fd: int, cmd: int, arg: int = 0):
    entry = m.fds.get(fd) if fd >= 0 else None
    if entry is None:
        return FCNTL_EBADF.fail(E.EBADF)
    obj = entry.obj
    if cmd == L.F_GETFD:
        return FCNTL_FLAGS.ok(L.FD_CLOEXEC if entry.cloexec else 0)
    if cmd == L.F_SETFD:
        def setfd(model, result):
            entry.cloexec = bool(arg & L.FD_CLOEXEC)
        return FCNTL_SETFD.ok(0, apply=setfd)
    if isinstance(obj, Foreign):
        from .socket import NotModelled
        raise NotModelled("fcntl on an fd the model did not create")
    if cmd == L.F_GETFL:
        return FCNTL_FLAGS.ok(L.O_RDWR | (L.O_NONBLOCK if obj.nonblock else 0))
    if cmd == L.F_SETFL:
        def setfl(model, result):
            obj.nonblock = bool(arg & L.O_NONBLOCK)
        return FCNTL_SETFL.ok(0, apply=setfl)
    if cmd in (L.F_DUPFD, L.F_DUPFD_CLOEXEC):
        if arg < 0 or arg >= m.fds.rlimit:
            return FCNTL_DUPFD_EINVAL.fail(E.EINVAL)
        newfd = m.fds.lowest_free(arg)
        if newfd >= m.fds.rlimit:
            return EMFILE.fail(E.EMFILE)
        cloexec = cmd == L.F_DUPFD_CLOEXEC

        def install(model, result):
            model.fds.install(newfd, obj, cloexec)
        return FCNTL_DUPFD.ok(newfd, apply=install)
    from .socket import NotModelled
    raise NotModelled(f"fcntl command {cmd}")



def socket_link(sock: Sock):
    """What /proc/self/fd/N reads for this socket: socket:[ino], the ino learned by a probe."""
    if isinstance(sock.inode, int):
        return f"socket:[{sock.inode}]"
    return Predicate(lambda t: bool(re.fullmatch(r"socket:\[\d+\]", t)), "socket:[<ino>]")


@syscall("readlink")
def proc_fd_link(m: Model, path, size: int = 256):
    from .socket import NotModelled
    match = _PROC_FD.match(path if isinstance(path, str) else path.decode())
    if not match:
        raise NotModelled(f"readlink of {path!r}")
    fd = name_to_int(match.group(1))
    if fd is None:
        return PROCFS_NAME_NOT_FD.fail(E.ENOENT)
    entry = m.fds.get(fd)
    if entry is None:
        return PROCFS_ENOENT.fail(E.ENOENT)
    if isinstance(entry.obj, Foreign):
        rule_ = PROCFS_LINK if entry.obj.is_socket else PROCFS_FILE_LINK
        return rule_.ok(len(entry.obj.what), target=entry.obj.what)
    return PROCFS_LINK.ok(Predicate(lambda n: n > 9, "its length"), target=socket_link(entry.obj))



@syscall("fstat")
def vfs_fstat(m: Model, fd: int):
    entry = m.fds.get(fd) if fd >= 0 else None
    if entry is None:
        return FSTAT_EBADF.fail(E.EBADF)
    if isinstance(entry.obj, Foreign):
        if entry.obj.is_socket:
            from .socket import NotModelled
            raise NotModelled("fstat of a socket the model did not create")
        return FSTAT_OTHER.ok(0, st_mode=Predicate(lambda v: v & L.S_IFMT != L.S_IFSOCK,
                                                   "not S_IFSOCK"))
    sock = entry.obj
    from .observe import socket_inode
    ino = socket_inode(m, sock)
    mode = Predicate(lambda v: v & L.S_IFMT == L.S_IFSOCK, "S_IFSOCK")

    def learn_inode(model, result):
        sock.inode = result.out["st_ino"]
    return FSTAT_SOCK.ok(0, apply=learn_inode, st_ino=ino, st_mode=mode)
