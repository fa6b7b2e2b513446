"""Model-only scenarios for the pointer kinds (harness/mem.py's catalogue): what the model
allows for a PROT_NONE page, an address failing access_ok(), and guard buffers exact, one byte
short and read-only, argument by argument, from the bytes each kernel function copies."""
from __future__ import annotations

import errno as E
import struct

import pytest

from harness import mem
from harness.abi import linux as L
from harness.mem import KERNEL_HALF, MINUS_ONE, Placed, Ptr, SockaddrIn
from harness.model import sock, socket

from test_model_data import DGRAM, DW, STREAM, Data, lo

FAULT = Ptr(0x1000, "PROT_NONE page", True)


def guard(data: bytes, span: int | None = None, writable: bool = True) -> Ptr:
    span = len(data) if span is None else span
    return Ptr(0x7000_0000 - span, "guard", span=span, writable=writable, data=data[:span])


def i32(v: int) -> bytes:
    return struct.pack("=i", v)


SIN = 16


def test_ptr_reads_and_writes():
    g = guard(b"abcd")
    assert g.reads(4) and not g.reads(5) and g.writes(4) and not g.writes(5)
    assert g.read(3) == b"abc" and g.read(5) is None
    ro = guard(b"abcd", writable=False)
    assert ro.reads(4) and not ro.writes(1) and ro.writes(0)
    assert not KERNEL_HALF.user and not KERNEL_HALF.reads(1) and KERNEL_HALF.reads(0)
    assert Ptr(0x1234).reads(8) is None
    with pytest.raises(LookupError):
        Ptr(0x1234).read(8)


def test_input_address_exact_length():
    """move_addr_to_kernel() copies exactly addrlen bytes: a guard buffer of exactly that many
    works, one byte fewer faults, read-only is fine; both access_ok kinds fault."""
    d = Data()
    fd = d.new(L.AF_INET, DGRAM)
    addr = SockaddrIn(0, "127.0.0.1").encode()
    d.fails(E.EFAULT, socket.ADDR_FAULT, "bind", fd, guard(addr, SIN - 1), SIN)
    d.fails(E.EFAULT, socket.ADDR_FAULT, "bind", fd, KERNEL_HALF, SIN)
    d.fails(E.EFAULT, socket.ADDR_FAULT, "bind", fd, MINUS_ONE, SIN)
    d.fails(E.EBADF, socket.EBADF, "bind", 999, KERNEL_HALF, SIN)
    d.ok(None, "bind", fd, guard(addr, writable=False), SIN)


@pytest.mark.parametrize("version", ["6.1", "6.18"])
def test_output_address_and_length(version):
    """move_addr_to_user(): exactly min(*addrlen, klen) bytes are written; a read-only
    *addrlen faults after the copy until 6.18, before it since."""
    d = Data(version)
    fd = d.bound(L.AF_INET, DGRAM)
    d.ok(socket.GETNAME, "getsockname", fd, guard(bytes(SIN)), 128)
    d.fails(E.EFAULT, socket.ADDR_OUT_FAULT, "getsockname", fd, guard(bytes(SIN), SIN - 1), 128)
    d.fails(E.EFAULT, socket.ADDR_OUT_FAULT, "getsockname", fd, guard(bytes(SIN), writable=False), 128)
    d.ok(socket.GETNAME, "getsockname", fd, True, guard(i32(128)))
    d.fails(E.EFAULT, socket.ADDR_OUT_FAULT, "getsockname", fd, True, guard(i32(128), 3))
    if version == "6.18":
        o = d.fails(E.EFAULT, socket.ADDRLEN_OUT_UNWRITABLE_FIRST, "getsockname", fd, True,
                    guard(i32(128), writable=False))
        assert "addr_written" not in o.out
    else:
        o = d.fails(E.EFAULT, socket.ADDRLEN_OUT_UNWRITABLE_LAST, "getsockname", fd, True,
                    guard(i32(128), writable=False))
        assert o.out["addr_written"].value is True
    # a negative *addrlen is EINVAL whether or not it can be written
    d.fails(E.EINVAL, socket.ADDRLEN_OUT_NEGATIVE, "getsockname", fd, True,
            guard(i32(-1), writable=False))


def test_data_access_ok_before_descriptor():
    """import_ubuf(): an address failing access_ok() is EFAULT before EBADF, even for length 0;
    a PROT_NONE page passes it (EBADF first; length 0 sends)."""
    d = Data()
    for ptr in (KERNEL_HALF, MINUS_ONE):
        d.fails(E.EFAULT, socket.DATA_ACCESS_FAULT, "sendto", 999, ptr, 0, length=4)
        d.fails(E.EFAULT, socket.DATA_ACCESS_FAULT, "sendto", 999, ptr, 0, length=0)
        d.fails(E.EFAULT, socket.DATA_ACCESS_FAULT, "recvfrom", 999, 4, 0, buf=ptr)
    d.fails(E.EBADF, socket.EBADF, "sendto", 999, FAULT, 0, length=4)
    d.fails(E.EBADF, socket.EBADF, "recvfrom", 999, 4, 0, buf=FAULT)
    a, b = d.udp()
    d.ok(None, "send", a, guard(b"hello"), 0, length=5)
    d.fails(E.EFAULT, None, "send", a, guard(b"hello", 4), 0, length=5)
    d.ok(None, "recvfrom", b, 16, DW, buf=guard(bytes(5)))      # writes the 5 received


def test_iovecs():
    """import_iovec(): an iov_base failing access_ok() is EFAULT before the protocol (a
    receive on an empty socket: EFAULT, not EAGAIN); a PROT_NONE one faults when copied."""
    d = Data()
    a, b = d.udp()
    d.fails(E.EFAULT, socket.IOV_ACCESS_FAULT, "recvmsg", b, [(KERNEL_HALF, 8)], DW)
    d.fails(E.EAGAIN, None, "recvmsg", b, [(FAULT, 8)], DW)
    d.fails(E.EFAULT, socket.IOV_ACCESS_FAULT, "sendmsg", a, [b"x", (MINUS_ONE, 0)])
    d.ok(None, "sendmsg", a, [b"ab", (guard(b"hello"), 5)])
    d.fails(E.EFAULT, None, "sendmsg", a, [b"ab", (guard(b"hello", 4), 5)])


def test_msghdr_placement_and_control():
    d = Data()
    a, b = d.udp()
    d.fails(E.EFAULT, socket.HDR_FAULT, "sendmsg", a, [b"x"], 0, msg=Placed(short=1))
    d.ok(None, "sendmsg", a, [b"x"], 0, msg=Placed(writable=False))
    d.fails(E.EFAULT, socket.CONTROL_FAULT, "sendmsg", a, [b"x"], 0, control=(FAULT, 16))
    d.fails(E.EFAULT, socket.CONTROL_FAULT, "sendmsg", a, [b"x"], 0, control=(KERNEL_HALF, 16))
    d.ok(None, "sendmsg", a, [b"y"], 0, control=(FAULT, 0))
    o = d.fails(E.EFAULT, socket.HDR_WRITE_FAULT, "recvmsg", b, [16], DW, False,
                msg=Placed(writable=False))
    assert o.apply is not None                      # the datagram is consumed
    d.fails(E.EFAULT, socket.ADDRLEN_OUT_UNWRITABLE_FIRST, "recvmsg", b, [16], DW,
            msg=Placed(writable=False))


def test_sockopt_lengths():
    """sk_setsockopt() reads sizeof(int) whatever optlen says; sk_getsockopt() writes min(len,
    4) then *optlen: a read-only *optlen faults after the value was written."""
    d = Data()
    fd = d.new(L.AF_INET, DGRAM)
    d.ok(sock.SET_FLAG, "setsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE, guard(i32(1)), 8)
    d.fails(E.EFAULT, sock.SET_FAULT, "setsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE,
            guard(i32(1), 3), 8)
    d.ok(sock.GET_TYPE, "getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE, 8, guard(bytes(4)))
    d.fails(E.EFAULT, sock.GET_FAULT, "getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE, 8,
            guard(bytes(4), 3))
    d.fails(E.EFAULT, sock.GET_OPTLEN_FAULT, "getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE,
            guard(i32(4), 3))
    o = d.fails(E.EFAULT, sock.GET_OPTLEN_WRITE_FAULT, "getsockopt", fd, L.SOL_SOCKET,
                L.SO_TYPE, guard(i32(4), writable=False))
    assert o.out["optval_written"].value is True


def test_socketpair_sv_and_timeout():
    d = Data()
    d.fails(E.EFAULT, socket.SOCKETPAIR_FAULT, "socketpair", L.AF_UNIX, STREAM, 0,
            sv=guard(bytes(8), 7))
    d.fails(E.EFAULT, socket.SOCKETPAIR_FAULT, "socketpair", L.AF_UNIX, STREAM, 0,
            sv=guard(bytes(8), writable=False))
    a, b = d.udp()
    ts = struct.pack("=qq", 0, 0)
    d.fails(E.EFAULT, socket.TIMEOUT_FAULT, "recvmmsg", 999, [[16]], DW, timeout=guard(ts, 15))
    d.fails(E.EAGAIN, None, "recvmmsg", b, [[16]], DW, timeout=guard(ts, writable=False))
    d.call("send", a, b"hello")
    d.fails(E.EFAULT, socket.TIMEOUT_WRITE_FAULT, "recvmmsg", b, [[16]], DW,
            timeout=guard(ts, writable=False))


def test_compat_catalogue():
    """The 32-bit paths have no address above TASK_SIZE_MAX: the stand-in passes access_ok()
    and faults when copied (EBADF first for send's data)."""
    assert mem.COMPAT_TOP.user and mem.COMPAT_TOP.inaccessible and mem.COMPAT_TOP.addr < 1 << 32
    d = Data(via="compat")
    d.fails(E.EBADF, socket.EBADF, "sendto", 999, mem.COMPAT_TOP, 0, length=4)
