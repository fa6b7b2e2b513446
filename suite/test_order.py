"""Check order: two arguments wrong at once, call by call. Which errno the kernel answers is the
order of its checks (net/socket.c, the families); the model reads the arguments in that order,
so each row here is decided by the model's rules, and the rule that won is recorded. Pairs:
bad fd / not a socket against a bad pointer (a PROT_NONE page, or an address failing access_ok(),
which import_ubuf() refuses before the descriptor is looked up), bad flags against bad lengths,
a protocol state error against an unreadable or unwritable buffer."""
from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

from harness import mem
from harness.abi import linux as L
from harness.mem import SockaddrIn

from .endpoints import bound, dgram_pair, listener, open_sock, row
from .kinds import Kind

UDP = Kind("inet", L.SOCK_DGRAM)
TCP = Kind("inet", L.SOCK_STREAM)
UNIX_DGRAM = Kind("unix-abstract", L.SOCK_DGRAM)
DW = L.MSG_DONTWAIT
MSG_CMSG_COMPAT = 0x80000000
LO = SockaddrIn(9, "127.0.0.1")


class Env:
    """What a row needs: a closed fd number, a file that is not a socket, a PROT_NONE page,
    an address failing access_ok(), and sockets made on demand."""

    def __init__(self, s, notsock: int):
        self.s = s
        self.closed = s.m.fds.lowest_free(300)
        self.notsock = notsock
        self.fault = s.fault()
        self.kaddr = mem.KERNEL_HALF
        self.made: list[int] = []

    def sock(self, kind=UDP) -> int:
        fd = open_sock(self.s, kind)
        self.made.append(fd)
        return fd

    def bound(self, kind=UDP):
        fd, addr = bound(self.s, kind)
        self.made.append(fd)
        return fd, addr

    def pair(self, kind=UDP):
        a, b = dgram_pair(self.s, kind)
        self.made += [a, b]
        return a, b

    def listener(self, kind=TCP) -> int:
        fd, _ = listener(self.s, kind)
        self.made.append(fd)
        return fd


@contextmanager
def environment(s):
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    s.m.adopt(fd, os.readlink(f"/proc/self/fd/{fd}"), cloexec=True)
    env = Env(s, fd)
    try:
        yield env
    finally:
        for made in env.made:
            s.close(made)
        s.close(fd)


# (id, row): each row issues one call with two wrong arguments
ROWS = {
    "socket": [
        ("flags+family", lambda s, e: s.socket(999, L.SOCK_STREAM | 0x4000, 0)),
        ("family+type", lambda s, e: s.socket(999, 99, 0)),
        ("type+family-unregistered", lambda s, e: s.socket(L.AF_UNSPEC, 99, 0)),
        ("family-unregistered+protocol", lambda s, e: s.socket(L.AF_UNSPEC, L.SOCK_STREAM, 999)),
        ("type+protocol", lambda s, e: s.socket(L.AF_INET, 99, 999)),
    ],
    "socketpair": [
        ("flags+sv-fault", lambda s, e: s.socketpair(L.AF_UNIX, L.SOCK_STREAM | 0x4000, 0, sv=e.fault)),
        ("sv-fault+family-unsupported", lambda s, e: s.socketpair(L.AF_INET, L.SOCK_DGRAM, 0, sv=e.fault)),
        ("sv-fault+type", lambda s, e: s.socketpair(L.AF_UNIX, 99, 0, sv=e.fault)),
        ("sv-kernel-half+family", lambda s, e: s.socketpair(999, L.SOCK_STREAM, 0, sv=e.kaddr)),
    ],
    "bind": [
        ("ebadf+addr-fault", lambda s, e: s.bind(e.closed, e.fault, 16)),
        ("ebadf+addr-kernel-half", lambda s, e: s.bind(e.closed, e.kaddr, 16)),
        ("enotsock+addr-fault", lambda s, e: s.bind(e.notsock, e.fault, 16)),
        ("ebadf+addrlen", lambda s, e: s.bind(e.closed, LO, -1)),
        ("addrlen+addr-fault", lambda s, e: s.bind(e.sock(), e.fault, 129)),
        ("family+addr-short", lambda s, e: s.bind(e.sock(), mem.SockaddrRaw(b"\x01\x00abcd"), 6)),
    ],
    "connect": [
        ("ebadf+addr-fault", lambda s, e: s.connect(e.closed, e.fault, 16)),
        ("enotsock+addr-fault", lambda s, e: s.connect(e.notsock, e.fault, 16)),
        ("enotsock+addr-kernel-half", lambda s, e: s.connect(e.notsock, e.kaddr, 16)),
        ("enotsock+addrlen", lambda s, e: s.connect(e.notsock, LO, 129)),
        ("addrlen+addr-fault", lambda s, e: s.connect(e.sock(), e.fault, -1)),
    ],
    "listen": [
        ("enotsock+backlog", lambda s, e: s.listen(e.notsock, -1)),
        ("ebadf+backlog", lambda s, e: s.listen(e.closed, -1)),
        ("dgram+backlog", lambda s, e: s.listen(e.sock(), -1)),
    ],
    "accept4": [
        ("ebadf+flags", lambda s, e: s.accept4(e.closed, 0x4000)),
        ("enotsock+flags", lambda s, e: s.accept4(e.notsock, 0x4000)),
        ("flags+addr-fault", lambda s, e: s.accept4(e.listener(), 0x4000, e.fault, 16)),
        ("enotsock+addr-fault", lambda s, e: s.accept4(e.notsock, 0, e.fault, 16)),
        ("not-listening+addr-fault", lambda s, e: s.accept4(e.sock(TCP), 0, e.fault, 16)),
        ("empty+addr-fault", lambda s, e: s.accept4(e.listener(), 0, e.fault, 16)),
        ("empty+addrlen-fault", lambda s, e: s.accept4(e.listener(), 0, True, e.fault)),
        ("empty+addrlen-negative", lambda s, e: s.accept4(e.listener(), 0, True, -1)),
        ("dgram+addrlen-kernel-half", lambda s, e: s.accept4(e.sock(), 0, True, e.kaddr)),
    ],
    "getsockname": [
        ("ebadf+addr-fault", lambda s, e: s.getsockname(e.closed, e.fault, 16)),
        ("enotsock+addrlen-fault", lambda s, e: s.getsockname(e.notsock, True, e.fault)),
        ("addrlen-negative+addr-fault", lambda s, e: s.getsockname(e.sock(), e.fault, -1)),
        ("addrlen-fault+addr-fault", lambda s, e: s.getsockname(e.sock(), e.fault, e.fault)),
        ("addrlen-kernel-half+addr-kernel-half", lambda s, e: s.getsockname(e.sock(), e.kaddr, e.kaddr)),
    ],
    "getpeername": [
        ("ebadf+addrlen-fault", lambda s, e: s.getpeername(e.closed, True, e.fault)),
        ("enotconn+addr-fault", lambda s, e: s.getpeername(e.sock(), e.fault, 16)),
        ("enotconn+addrlen-negative", lambda s, e: s.getpeername(e.sock(), True, -1)),
    ],
    "sendto": [
        ("ebadf+data-kernel-half", lambda s, e: s.sendto(e.closed, e.kaddr, 0, LO, length=4)),
        ("ebadf+data-fault", lambda s, e: s.sendto(e.closed, e.fault, 0, LO, length=4)),
        ("enotsock+data-kernel-half-len-0", lambda s, e: s.sendto(e.notsock, e.kaddr, 0, LO, length=0)),
        ("enotsock+addr-fault", lambda s, e: s.sendto(e.notsock, b"x", 0, e.fault, 16)),
        ("addrlen+data-fault", lambda s, e: s.sendto(e.sock(), e.fault, 0, LO, 129, length=4)),
        ("addr-fault+data-kernel-half", lambda s, e: s.sendto(e.sock(), e.kaddr, 0, e.fault, 16, length=4)),
        ("destaddrreq+data-fault", lambda s, e: s.sendto(e.sock(), e.fault, 0, length=4)),
        ("destaddrreq+data-kernel-half", lambda s, e: s.sendto(e.sock(), e.kaddr, 0, length=4)),
        ("oob+data-fault", lambda s, e: s.sendto(e.sock(), e.fault, L.MSG_OOB, LO, length=4)),
        ("unix-enotconn+data-fault", lambda s, e: s.sendto(e.sock(UNIX_DGRAM), e.fault, 0, length=4)),
    ],
    "recvfrom": [
        ("ebadf+buf-kernel-half", lambda s, e: s.recvfrom(e.closed, 8, DW, buf=e.kaddr)),
        ("ebadf+buf-fault", lambda s, e: s.recvfrom(e.closed, 8, DW, buf=e.fault)),
        ("enotsock+buf-kernel-half", lambda s, e: s.recvfrom(e.notsock, 8, DW, buf=e.kaddr)),
        ("eagain+buf-fault", lambda s, e: s.recvfrom(e.sock(), 8, DW, buf=e.fault)),
        ("eagain+addr-fault", lambda s, e: s.recvfrom(e.sock(), 8, DW, e.fault, 16)),
        ("eagain+addrlen-negative", lambda s, e: s.recvfrom(e.sock(), 8, DW, True, -1)),
        ("eagain+buf-kernel-half", lambda s, e: s.recvfrom(e.sock(), 8, DW, buf=e.kaddr)),
    ],
    "sendmsg": [
        ("cmsg-compat+ebadf", lambda s, e: s.sendmsg(e.closed, [b"x"], MSG_CMSG_COMPAT)),
        ("ebadf+msg-fault", lambda s, e: s.sendmsg(e.closed, None, 0, msg=e.fault)),
        ("enotsock+msg-kernel-half", lambda s, e: s.sendmsg(e.notsock, None, 0, msg=e.kaddr)),
        ("namelen-negative+iovlen", lambda s, e: s.sendmsg(e.sock(), [b""] * 1025, 0, LO, -1)),
        ("name-fault+iovlen", lambda s, e: s.sendmsg(e.sock(), [b""] * 1025, 0, e.fault, 16)),
        ("iovlen+iov-kernel-half", lambda s, e: s.sendmsg(e.sock(), [(e.kaddr, 1)] * 1025, 0, LO)),
        ("iov-kernel-half+control-fault", lambda s, e: s.sendmsg(e.sock(), [(e.kaddr, 1)], 0, LO,
                                                                  control=(e.fault, 16))),
        ("control-fault+destaddrreq", lambda s, e: s.sendmsg(e.sock(), [b"x"], 0, control=(e.fault, 16))),
        ("destaddrreq+iov-kernel-half", lambda s, e: s.sendmsg(e.sock(), [(e.kaddr, 4)])),
        ("destaddrreq+iov-fault", lambda s, e: s.sendmsg(e.sock(), [(e.fault, 4)])),
    ],
    "recvmsg": [
        ("cmsg-compat+msg-fault", lambda s, e: s.recvmsg(e.sock(), None, MSG_CMSG_COMPAT, msg=e.fault)),
        ("ebadf+msg-fault", lambda s, e: s.recvmsg(e.closed, None, DW, msg=e.fault)),
        ("eagain+iov-kernel-half", lambda s, e: s.recvmsg(e.sock(), [(e.kaddr, 8)], DW)),
        ("eagain+iov-fault", lambda s, e: s.recvmsg(e.sock(), [(e.fault, 8)], DW)),
        ("namelen-negative+iov-kernel-half", lambda s, e: s.recvmsg(e.sock(), [(e.kaddr, 8)], DW, True, -1)),
    ],
    "sendmmsg": [
        ("cmsg-compat+msgvec-fault", lambda s, e: s.sendmmsg(e.closed, [], MSG_CMSG_COMPAT, vlen=1, msgvec=e.fault)),
        ("ebadf+msgvec-fault", lambda s, e: s.sendmmsg(e.closed, [], 0, vlen=1, msgvec=e.fault)),
        ("vlen-0+msgvec-fault", lambda s, e: s.sendmmsg(e.sock(), [], 0, vlen=0, msgvec=e.fault)),
        ("enotsock+msgvec-kernel-half", lambda s, e: s.sendmmsg(e.notsock, [], 0, vlen=1, msgvec=e.kaddr)),
    ],
    "recvmmsg": [
        ("timeout-fault+ebadf", lambda s, e: s.recvmmsg(e.closed, [[8]], DW, timeout=e.fault)),
        ("timeout-invalid+ebadf", lambda s, e: s.recvmmsg(e.closed, [[8]], DW, timeout=(0, -1))),
        ("cmsg-compat+timeout-fault", lambda s, e: s.recvmmsg(e.sock(), [[8]], MSG_CMSG_COMPAT, timeout=e.fault)),
        ("ebadf+msgvec-fault", lambda s, e: s.recvmmsg(e.closed, [], DW, vlen=1, msgvec=e.fault)),
        ("vlen-0+msgvec-kernel-half", lambda s, e: s.recvmmsg(e.sock(), [], DW, vlen=0, msgvec=e.kaddr)),
        ("eagain+iov-kernel-half", lambda s, e: s.recvmmsg(e.sock(), [[(e.kaddr, 8)]], DW)),
    ],
    "setsockopt": [
        ("ebadf+optval-fault", lambda s, e: s.setsockopt(e.closed, L.SOL_SOCKET, L.SO_KEEPALIVE, e.fault, 4)),
        ("enotsock+optval-kernel-half", lambda s, e: s.setsockopt(e.notsock, L.SOL_SOCKET, L.SO_KEEPALIVE, e.kaddr, 4)),
        ("optlen-negative+ebadf", lambda s, e: s.setsockopt(e.closed, L.SOL_SOCKET, L.SO_KEEPALIVE, 1, -1)),
        ("optlen-short+optval-fault", lambda s, e: s.setsockopt(e.sock(), L.SOL_SOCKET, L.SO_KEEPALIVE, e.fault, 3)),
        ("read-only-option+optval-fault", lambda s, e: s.setsockopt(e.sock(), L.SOL_SOCKET, L.SO_TYPE, e.fault, 4)),
        ("unknown-option+optval-fault", lambda s, e: s.setsockopt(e.sock(), L.SOL_SOCKET, 1000, e.fault, 4)),
        ("unix-level+optval-fault", lambda s, e: s.setsockopt(e.sock(UNIX_DGRAM), L.SOL_IP, 1, e.fault, 4)),
    ],
    "getsockopt": [
        ("ebadf+optlen-fault", lambda s, e: s.getsockopt(e.closed, L.SOL_SOCKET, L.SO_TYPE, e.fault)),
        ("enotsock+optlen-kernel-half", lambda s, e: s.getsockopt(e.notsock, L.SOL_SOCKET, L.SO_TYPE, e.kaddr)),
        ("optlen-fault+unknown-option", lambda s, e: s.getsockopt(e.sock(), L.SOL_SOCKET, 1000, e.fault)),
        ("optlen-negative+optval-fault", lambda s, e: s.getsockopt(e.sock(), L.SOL_SOCKET, L.SO_TYPE, -1, e.fault)),
        ("unknown-option+optval-fault", lambda s, e: s.getsockopt(e.sock(), L.SOL_SOCKET, 1000, 4, e.fault)),
        ("unix-level+optlen-fault", lambda s, e: s.getsockopt(e.sock(UNIX_DGRAM), L.SOL_IP, 1, e.fault)),
    ],
    "shutdown": [
        ("ebadf+how", lambda s, e: s.shutdown(e.closed, 7)),
        ("enotsock+how", lambda s, e: s.shutdown(e.notsock, 7)),
        ("enotconn+how", lambda s, e: s.shutdown(e.sock(TCP), 7)),
    ],
}


@pytest.mark.parametrize("call", sorted(ROWS))
def test_two_wrong_arguments(sc, call):
    """Each row: two wrong arguments; the model's order of checks picks the errno."""
    for label, fn in ROWS[call]:
        with row(label), environment(sc) as env:
            fn(sc, env)


SOCKETCALL_ROWS = [
    ("call-range+block-fault", 0, "fault"),
    ("call-range+block-top", 21, "top"),
    ("block-fault+ebadf-inside", L.SYS_BIND, "fault"),
]


def test_socketcall_order(sc):
    """socketcall checks the call number before it copies the argument block."""
    if not sc.m.profile.compat_available:
        pytest.skip(f"no 32-bit compat path: {sc.m.profile.compat_reason}")
    for label, call, block in SOCKETCALL_ROWS:
        with row(label):
            ptr = sc.fault() if block == "fault" else mem.COMPAT_TOP
            sc.socketcall(call, ptr, via="socketcall")
