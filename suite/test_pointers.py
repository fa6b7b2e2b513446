"""Bad pointers, three ways, for every pointer argument of every call (after LTP's
tst_get_bad_addr() and its guarded buffers): a PROT_NONE page, an address that fails access_ok()
(the kernel half, (void *)-1), and a buffer that ends exactly at a guard page -- exact (the
kernel reads or writes exactly the bytes it should: success), one byte short (the one byte too
many faults), read-only (the kernel must write there: EFAULT). The model decides every outcome
from the bytes each kernel function copies (mem.Ptr.reads/writes).

Write-only buffers ("the kernel must not read it") cannot be made on x86: PROT_WRITE implies
PROT_READ, the page tables have no write-only mode; that half is not checkable here.
"""
from __future__ import annotations

import ctypes
import struct

import pytest

from harness import mem
from harness.abi import linux as L
from harness.mem import Placed, SockaddrIn, SockaddrUn

from .endpoints import bound, dgram_pair, listener, open_sock, row, setup_ok
from .kinds import Kind, unique

KINDS = ("prot_none", "kernel_half", "minus_one", "guard", "guard_short", "read_only")
BAD = mem.BAD_KINDS
UDP = Kind("inet", L.SOCK_DGRAM)
TCP = Kind("inet", L.SOCK_STREAM)
UNIX_DGRAM = Kind("unix-abstract", L.SOCK_DGRAM)
DW = L.MSG_DONTWAIT
SIN = 16                                    # sizeof(struct sockaddr_in)


def pointer(s, kind: str, data: bytes = b"", via: str = "native"):
    """The pointer of ``kind`` holding ``data`` (for the guard kinds: exactly its bytes
    before the guard page, one byte fewer, or read-only)."""
    k = s.kernel_for(via)
    if kind in BAD:
        return k.bad_pointer(kind)
    if kind == "guard":
        return k.guard(data)
    if kind == "guard_short":
        return k.guard(data, span=len(data) - 1, label=f"guard buffer of {len(data) - 1} of {len(data)} bytes")
    return k.guard(data, writable=False)


def placement(kind: str):
    """A bad kind as a pointer, a guard kind as a placement of the wrapper's own msghdr."""
    return {"guard": Placed(), "guard_short": Placed(short=1),
            "read_only": Placed(writable=False)}.get(kind)


def _drain(s, fd):
    s.recv(fd, 64, DW)


def _i32(v: int) -> bytes:
    return struct.pack("=i", v)


# --------------------------------------------------------------------------- the arguments
# Each case runs one call with the pointer of one kind in one argument; the sockets it needs
# are made by the case (every step a checked call) and closed after.

def case_bind_addr(s, kind, via):
    fd = open_sock(s, UDP)
    s.bind(fd, pointer(s, kind, SockaddrIn(0, "127.0.0.1").encode(), via), SIN, via=via)
    s.close(fd)


def case_connect_addr(s, kind, via):
    peer, addr = bound(s, UDP)
    fd = open_sock(s, UDP)
    s.connect(fd, pointer(s, kind, addr.encode(), via), SIN, via=via)
    s.close(fd)
    s.close(peer)


def case_sendto_data(s, kind, via):
    a, b = dgram_pair(s, UNIX_DGRAM)
    s.sendto(a, pointer(s, kind, b"hello", via), 0, length=5, via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_sendto_addr(s, kind, via):
    peer, addr = bound(s, UDP)
    fd = open_sock(s, UDP)
    s.sendto(fd, b"hi", 0, pointer(s, kind, addr.encode(), via), SIN, via=via)
    _drain(s, peer)
    s.close(fd)
    s.close(peer)


def case_recvfrom_buf(s, kind, via):
    """The buffer is 16 bytes long to the kernel, the guard lets exactly the 5 received
    through: the kernel writes what it received, not the buffer's length."""
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    s.recvfrom(b, 16, DW, buf=pointer(s, kind, bytes(5), via), via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_recvfrom_addr(s, kind, via):
    """*addrlen 128, the source address is 16 bytes: exactly 16 are written."""
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    s.recvfrom(b, 16, DW, addr=pointer(s, kind, bytes(SIN), via), addrlen=128, via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_recvfrom_addrlen(s, kind, via):
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    s.recvfrom(b, 16, DW, addr=True, addrlen=pointer(s, kind, _i32(128), via), via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_getsockname_addr(s, kind, via):
    fd, _ = bound(s, UDP)
    s.getsockname(fd, pointer(s, kind, bytes(SIN), via), 128, via=via)
    s.close(fd)


def case_getsockname_addrlen(s, kind, via):
    fd, _ = bound(s, UDP)
    s.getsockname(fd, True, pointer(s, kind, _i32(128), via), via=via)
    s.close(fd)


def case_getpeername_addr(s, kind, via):
    a, b = dgram_pair(s, UDP)
    s.getpeername(a, pointer(s, kind, bytes(SIN), via), 128, via=via)
    s.close(a)
    s.close(b)


def case_getpeername_addrlen(s, kind, via):
    a, b = dgram_pair(s, UDP)
    s.getpeername(a, True, pointer(s, kind, _i32(128), via), via=via)
    s.close(a)
    s.close(b)


def _accept_with(s, kind, via, addr, addrlen):
    lfd, laddr = listener(s, TCP)
    client = open_sock(s, TCP)
    setup_ok(s, s.connect(client, laddr))
    s.wait(lfd)
    r = s.accept4(lfd, L.SOCK_CLOEXEC, addr(), addrlen(), via=via)
    if r.ok:
        s.close(r.ret)
    s.close(client)
    s.close(lfd)


def case_accept_addr(s, kind, via):
    _accept_with(s, kind, via, lambda: pointer(s, kind, bytes(SIN), via), lambda: 128)


def case_accept_addrlen(s, kind, via):
    _accept_with(s, kind, via, lambda: True, lambda: pointer(s, kind, _i32(128), via))


def case_socketpair_sv(s, kind, via):
    sv = pointer(s, kind, bytes(8), via)
    r = s.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0, sv=sv, via=via)
    if r.ok:
        for fd in struct.unpack("=ii", ctypes.string_at(sv.addr, 8)):
            s.close(fd)


def case_setsockopt_optval(s, kind, via):
    """optlen 8, the guard lets 4 through: an int option reads sizeof(int), not optlen."""
    fd = open_sock(s, UDP)
    s.setsockopt(fd, L.SOL_SOCKET, L.SO_KEEPALIVE, pointer(s, kind, _i32(1), via), 8, via=via)
    s.close(fd)


def case_getsockopt_optval(s, kind, via):
    """*optlen 8, an int option writes min(8, sizeof(int)) = 4 bytes."""
    fd = open_sock(s, UDP)
    s.getsockopt(fd, L.SOL_SOCKET, L.SO_TYPE, 8, pointer(s, kind, bytes(4), via), via=via)
    s.close(fd)


def case_getsockopt_optlen(s, kind, via):
    fd = open_sock(s, UDP)
    s.getsockopt(fd, L.SOL_SOCKET, L.SO_TYPE, pointer(s, kind, _i32(4), via), via=via)
    s.close(fd)


def case_sendmsg_msg(s, kind, via):
    a, b = dgram_pair(s, UNIX_DGRAM)
    msg = placement(kind) or pointer(s, kind, via=via)
    s.sendmsg(a, [b"hello"], 0, msg=msg, via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_sendmsg_iov_base(s, kind, via):
    a, b = dgram_pair(s, UNIX_DGRAM)
    s.sendmsg(a, [b"ab", (pointer(s, kind, b"hello", via), 5)], via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_sendmsg_name(s, kind, via):
    peer, addr = bound(s, UDP)
    fd = open_sock(s, UDP)
    s.sendmsg(fd, [b"hi"], 0, pointer(s, kind, addr.encode(), via), SIN, via=via)
    _drain(s, peer)
    s.close(fd)
    s.close(peer)


def case_sendmsg_control(s, kind, via):
    a, b = dgram_pair(s, UNIX_DGRAM)
    s.sendmsg(a, [b"hello"], 0, control=(pointer(s, kind, via=via), 16), via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_recvmsg_msg(s, kind, via):
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    msg = placement(kind) or pointer(s, kind, via=via)
    s.recvmsg(b, [16], DW, msg=msg, via=via)
    s.recvmsg(b, [16], DW, name=False, msg=msg, via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_recvmsg_iov_base(s, kind, via):
    """iov_len 16, the guard lets exactly the 5 received bytes through."""
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    s.recvmsg(b, [(pointer(s, kind, bytes(5), via), 16)], DW, via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_mmsg_msgvec(s, kind, via):
    a, b = dgram_pair(s, UDP)
    vec = pointer(s, kind, via=via)
    s.sendmmsg(a, [], vlen=1, msgvec=vec, via=via)
    s.recvmmsg(b, [], DW, vlen=1, msgvec=vec, via=via)
    s.close(a)
    s.close(b)


def case_recvmmsg_timeout(s, kind, via):
    """A zero timeout: one message, then the remaining time is written back."""
    a, b = dgram_pair(s, UDP)
    setup_ok(s, s.send(a, b"hello"))
    s.wait(b)
    ts = s.kernel_for(via).abi.timespec
    s.recvmmsg(b, [[16]], DW, timeout=pointer(s, kind, ts.pack(0, 0), via), via=via)
    _drain(s, b)
    s.close(a)
    s.close(b)


def case_socketcall_args(s, kind, via):
    """The argument block of socketcall (the guard kinds: test_socketcall's tail blocks)."""
    s.socketcall(L.SYS_SOCKET, pointer(s, kind, via=via), via=via)
    s.socketcall(L.SYS_GETSOCKNAME, pointer(s, kind, via=via), via=via)


ALL_KINDS, BAD_ONLY = KINDS, BAD
# (case, the kinds it takes, why a kind is left out)
CASES = [
    (case_bind_addr, ALL_KINDS, ""),
    (case_connect_addr, ALL_KINDS, ""),
    (case_sendto_data, ALL_KINDS, ""),
    (case_sendto_addr, ALL_KINDS, ""),
    (case_recvfrom_buf, ALL_KINDS, ""),
    (case_recvfrom_addr, ALL_KINDS, ""),
    (case_recvfrom_addrlen, ALL_KINDS, ""),
    (case_getsockname_addr, ALL_KINDS, ""),
    (case_getsockname_addrlen, ALL_KINDS, ""),
    (case_getpeername_addr, ALL_KINDS, ""),
    (case_getpeername_addrlen, ALL_KINDS, ""),
    (case_accept_addr, ALL_KINDS, ""),
    (case_accept_addrlen, ALL_KINDS, ""),
    (case_socketpair_sv, ALL_KINDS, ""),
    (case_setsockopt_optval, ALL_KINDS, ""),
    (case_getsockopt_optval, ALL_KINDS, ""),
    (case_getsockopt_optlen, ALL_KINDS, ""),
    (case_sendmsg_msg, ALL_KINDS, ""),
    (case_sendmsg_iov_base, ALL_KINDS, ""),
    (case_sendmsg_name, ALL_KINDS, ""),
    (case_sendmsg_control, BAD_ONLY, "a readable msg_control is parsed as cmsghdrs, which the "
                                     "model does not follow"),
    (case_recvmsg_msg, ALL_KINDS, ""),
    (case_recvmsg_iov_base, ALL_KINDS, ""),
    (case_mmsg_msgvec, BAD_ONLY, "a readable mmsghdr vector is the wrapper's own (test_msg)"),
    (case_recvmmsg_timeout, ALL_KINDS, ""),
]
COMPAT_CASES = [case_bind_addr, case_sendto_data, case_recvfrom_addrlen, case_getsockopt_optval,
                case_sendmsg_msg, case_recvmsg_iov_base, case_recvmmsg_timeout, case_socketcall_args]


def _name(fn) -> str:
    return fn.__name__[5:].replace("_", "-")


@pytest.mark.parametrize("case,kinds", [c[:2] for c in CASES], ids=[_name(c[0]) for c in CASES])
def test_pointer_kinds(sc, case, kinds):
    """One pointer argument, every pointer kind it takes: the model decides each outcome."""
    for kind in kinds:
        with row(kind):
            case(sc, kind, "native")


COMPAT_ROWS = [(c, via) for c in COMPAT_CASES for via in ("compat", "socketcall")
               if c is not case_socketcall_args or via == "socketcall"]   # a block: socketcall only


@pytest.mark.parametrize("case,via", COMPAT_ROWS, ids=[f"{_name(c)}-{v}" for c, v in COMPAT_ROWS])
def test_pointer_kinds_compat(sc, case, via):
    """The 32-bit paths: no 32-bit pointer fails access_ok() (compat_ptr() zero-extends; x86_64
    checks TASK_SIZE_MAX), so the access_ok kinds become the unmapped top page, which faults
    when copied; guard buffers are below 4 GiB."""
    if not sc.m.profile.compat_available:
        pytest.skip(f"no 32-bit compat path: {sc.m.profile.compat_reason}")
    kinds = BAD if case is case_socketcall_args else KINDS
    for kind in kinds:
        with row(kind):
            case(sc, kind, via)
