"""The descriptor table around sockets: the lowest free number after close/dup/dup2, EBADF for
descriptors that are not open, ENOTSOCK for one that is not a socket (and what comes before
it), RLIMIT_NOFILE, FD_CLOEXEC/O_NONBLOCK through fcntl, and /proc/self/fd/N = socket:[ino]
with ino = fstat's st_ino."""
from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrUn

from .endpoints import row

INT_MAX = 0x7FFFFFFF




def sock(sc, family=L.AF_UNIX, type_=L.SOCK_STREAM, flags=L.SOCK_CLOEXEC) -> int:
    return sc.socket(family, type_ | flags, 0).ret


@contextmanager
def dev_null(sc):
    """/dev/null opened outside the checked calls, told to the model, closed (checked) after."""
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    sc.m.adopt(fd, os.readlink(f"/proc/self/fd/{fd}"), cloexec=True)
    try:
        yield fd
    finally:
        sc.close(fd)


# --------------------------------------------------------------------------- numbers

def test_lowest_free_after_close(sc):
    """A closed number is the next one handed out, whichever call allocates it."""
    fds = [sock(sc) for _ in range(4)]
    sc.close(fds[2])
    sc.close(fds[1])
    again = sock(sc, L.AF_INET, L.SOCK_DGRAM)            # fds[1]
    copy = sc.dup(fds[0]).ret                             # fds[2]
    sc.close(again)
    pair = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).out["fds"]
    for fd in (*fds[::3], copy, *pair):
        sc.close(fd)


def test_dup_shares_the_socket_not_the_fd_flags(sc):
    """dup() and F_DUPFD share the open file (O_NONBLOCK, the socket) but not FD_CLOEXEC."""
    fd = sock(sc, L.AF_INET, L.SOCK_STREAM, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    copy = sc.dup(fd).ret
    sc.fcntl(copy, L.F_GETFD)
    sc.fcntl(copy, L.F_GETFL)
    high = sc.fcntl(fd, L.F_DUPFD, 100).ret
    sc.fcntl(high, L.F_GETFD)
    higher = sc.fcntl(fd, L.F_DUPFD_CLOEXEC, 100).ret     # 101: 100 is taken
    sc.fcntl(higher, L.F_GETFD)
    sc.fcntl(fd, L.F_SETFL, 0)                            # O_NONBLOCK off for every copy
    for other in (copy, high, higher):
        sc.fcntl(other, L.F_GETFL)
    sc.fcntl(copy, L.F_SETFD, L.FD_CLOEXEC)               # FD_CLOEXEC on this fd only
    sc.fcntl(high, L.F_GETFD)
    sc.fcntl(copy, L.F_GETFD)
    sc.fcntl(fd, L.F_SETFL, L.O_NONBLOCK | L.O_RDWR)      # the access mode is ignored
    sc.fcntl(higher, L.F_GETFL)
    for f in (fd, copy, high, higher):
        sc.close(f)


def test_dup2(sc):
    """dup2: onto a free number, onto an open socket (which it closes), onto itself, and the
    EBADF cases (oldfd not open, newfd negative or >= RLIMIT_NOFILE)."""
    a, b = sock(sc), sock(sc, L.AF_INET6, L.SOCK_DGRAM)
    sc.dup2(a, 200)
    sc.fcntl(200, L.F_GETFD)
    sc.dup2(b, 200)                        # 200 now the inet6 socket; the unix one lives in a
    sc.dup2(a, a)
    sc.dup2(a, b)                          # b's socket still open through 200
    sc.fstat(b)
    with row("closed-oldfd"):
        sc.close(a)
        sc.dup2(a, 201)
        sc.dup2(a, a)
    with row("newfd-negative"):
        sc.dup2(b, -1)
    with row("newfd-rlimit"):
        sc.dup2(b, sc.m.fds.rlimit)
        sc.dup2(b, INT_MAX)
    sc.close(b)
    sc.close(200)


# --------------------------------------------------------------------------- EBADF, ENOTSOCK

def socket_calls(fd):
    """Every socket-layer call on ``fd`` with otherwise valid arguments."""
    return [
        ("bind", (fd, SockaddrIn(0, "127.0.0.1")), {}),
        ("connect", (fd, SockaddrUn(abstract=b"sockspec-nowhere")), {}),
        ("listen", (fd, 5), {}),
        ("accept", (fd,), {}),
        ("accept4", (fd, L.SOCK_CLOEXEC), {}),
        ("getsockname", (fd,), {}),
        ("getpeername", (fd,), {}),
        ("shutdown", (fd, L.SHUT_RDWR), {}),
        ("setsockopt", (fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1), {}),
        ("getsockopt", (fd, L.SOL_SOCKET, L.SO_TYPE), {}),
    ]


def file_calls(fd):
    return [
        ("fcntl", (fd, L.F_GETFD), {}),
        ("fcntl", (fd, L.F_DUPFD, 0), {}),
        ("dup", (fd,), {}),
        ("dup2", (fd, 150), {}),
        ("fstat", (fd,), {}),
        ("readlink", (f"/proc/self/fd/{fd}",), {}),     # "-1": not a name proc has: ENOENT
        ("close", (fd,), {}),
    ]


BAD_FDS = ["closed", "minus-1", "int-max", "rlimit", "int-min"]


@pytest.mark.parametrize("which", BAD_FDS)
def test_ebadf_everywhere(sc, which):
    """A descriptor that is not open: every call answers EBADF (readlink of its /proc entry:
    ENOENT)."""
    if which == "closed":
        fd = sock(sc)
        sc.close(fd)
    else:
        fd = {"minus-1": -1, "int-max": INT_MAX, "rlimit": sc.m.fds.rlimit,
              "int-min": -INT_MAX - 1}[which]
    for name, args, kwargs in socket_calls(fd) + file_calls(fd):
        with row(name):
            sc.call(name, *args, **kwargs)


def test_enotsock(sc):
    """/dev/null is open but not a socket: every socket call answers ENOTSOCK, while the file
    calls work on it."""
    with dev_null(sc) as fd:
        for name, args, kwargs in socket_calls(fd):
            with row(name):
                sc.call(name, *args, **kwargs)
        sc.fstat(fd)
        sc.readlink(f"/proc/self/fd/{fd}")
        sc.fcntl(fd, L.F_GETFD)
        copy = sc.dup(fd).ret
        sc.getsockopt(copy, L.SOL_SOCKET, L.SO_TYPE)
        sc.close(copy)


ORDER_ROWS = [
    # what a non-socket fd meets before ENOTSOCK, call by call
    ("connect-addrlen-negative-first", "connect", {"addr": SockaddrIn(0, "127.0.0.1"), "addrlen": -1}),
    ("connect-addr-fault-first", "connect", {"addr": "fault", "addrlen": 16}),
    ("bind-addrlen-negative-after", "bind", {"addr": SockaddrIn(0, "127.0.0.1"), "addrlen": -1}),
    ("setsockopt-optlen-negative", "setsockopt", {"level": L.SOL_SOCKET, "name": 2, "optlen": -1}),
    ("getsockopt-optlen-negative-after", "getsockopt", {"level": L.SOL_SOCKET, "name": 3, "optlen": -1}),
    ("accept4-bad-flags", "accept4", {"flags": 0x1}),
]


@pytest.mark.parametrize("name,args", [r[1:] for r in ORDER_ROWS], ids=[r[0] for r in ORDER_ROWS])
def test_enotsock_order(sc, name, args):
    """connect() copies the address in before it looks at the file (EINVAL/EFAULT win), bind()
    after; setsockopt's optlen < 0 is EINVAL before the fd on 6.1 only."""
    args = {k: (sc.fault() if v == "fault" else v) for k, v in args.items()}
    with dev_null(sc) as fd:
        if name == "setsockopt":
            sc.setsockopt(fd, args["level"], args["name"], 1, args["optlen"])
        elif name == "getsockopt":
            sc.getsockopt(fd, args["level"], args["name"], args["optlen"])
        elif name == "accept4":
            sc.accept4(fd, args["flags"])
        else:
            sc.call(name, fd, args["addr"], args["addrlen"])


# --------------------------------------------------------------------------- RLIMIT_NOFILE

def test_emfile(sc):
    """With RLIMIT_NOFILE just above the table: one socket fits; then socket, dup, F_DUPFD
    answer EMFILE, dup2 above the limit EBADF, F_DUPFD from the limit EINVAL; a close frees
    the number again."""
    limit = sc.m.fds.lowest_free() + 1

    def body(s):
        fd = s.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        with row("full"):
            s.socket(L.AF_UNIX, L.SOCK_STREAM, 0)
            s.dup(fd)
            s.fcntl(fd, L.F_DUPFD, 0)
            s.fcntl(fd, L.F_DUPFD_CLOEXEC, fd)
            s.fcntl(fd, L.F_DUPFD, limit)
            s.dup2(fd, limit)
            s.dup2(fd, fd)
            s.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0)
        with row("errors before EMFILE"):
            s.socket(L.AF_UNIX, L.SOCK_STREAM | 0x100, 0)
            s.socket(255, L.SOCK_STREAM, 0)
            s.dup(-1)
        s.close(fd)
        with row("freed"):
            copy = s.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
            s.close(copy)
    sc.in_child(body, rlimit_nofile=limit)


def test_rlimit_below_open_fds(sc):
    """A descriptor above a lowered RLIMIT_NOFILE stays usable (dup2 onto itself too); a new
    one still needs a free number below the limit, and dup2 above the limit is refused."""
    fd = sock(sc)
    high = sc.fcntl(fd, L.F_DUPFD_CLOEXEC, 300).ret
    limit = sc.m.fds.lowest_free()

    def body(s):
        s.getsockopt(high, L.SOL_SOCKET, L.SO_TYPE)
        s.socket(L.AF_UNIX, L.SOCK_STREAM, 0)
        s.dup2(high, high)
        s.dup2(high, limit + 1)
        s.dup(high)
    sc.in_child(body, rlimit_nofile=limit)
    sc.close(high)
    sc.close(fd)


# --------------------------------------------------------------------------- procfs

def test_proc_fd_link_is_the_socket_inode(sc):
    """/proc/self/fd/N reads socket:[ino] and fstat's st_ino is ino; a dup shares it, another
    socket has its own; once closed the entry is gone (ENOENT) and fstat says EBADF."""
    a = sock(sc)
    b = sock(sc, L.AF_INET, L.SOCK_DGRAM)
    copy = sc.dup(a).ret
    for fd in (a, b, copy):
        sc.readlink(f"/proc/self/fd/{fd}")
        sc.fstat(fd)
    sc.close(a)
    sc.readlink(f"/proc/self/fd/{a}")
    sc.fstat(a)
    sc.readlink(f"/proc/self/fd/{copy}")
    sc.close(copy)
    sc.close(b)
