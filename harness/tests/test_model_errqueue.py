"""Model-only scenarios for the error queue (harness/model/errqueue.py): recvmsg(MSG_ERRQUEUE)
on an empty queue and on AF_UNIX, IP_RECVERR / IPV6_RECVERR, the ICMP port unreachable they
queue, put_cmsg()'s truncation, and the socket error and POLLERR that follow the queue."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.abi.errqueue import (IP_RECVERR, IPV6_RECVERR, MSG_ERRQUEUE, SO_EE_ORIGIN_ICMP,
                                  SO_EE_ORIGIN_ICMP6, Cmsg, SockExtendedErr, cmsgs)
from harness.abi import native
from harness.mem import Ptr, SockaddrIn, SockaddrIn6
from harness.model import NotModelled, errqueue, poll, udp

from test_model_data import DGRAM, DW, STREAM, SEQPACKET, Data, data, lo

ERRQ = MSG_ERRQUEUE
FAULT = Ptr(0x1000, "PROT_NONE page", True)
RECVERR = {L.AF_INET: (L.SOL_IP, IP_RECVERR), L.AF_INET6: (L.SOL_IPV6, IPV6_RECVERR)}
POLLERR = 0x8


def _pollerr(d, fd) -> bool:
    return bool(poll.readiness(d.m, d.obj(fd)).value & POLLERR)


@pytest.mark.parametrize("kind", ["tcp", "tcp6", "udp", "udp6"])
def test_errqueue_empty_inet(kind):
    d = Data()
    family = L.AF_INET6 if kind.endswith("6") else L.AF_INET
    a, b = d.tcp(family) if kind.startswith("tcp") else d.udp(family)
    d.fails(E.EAGAIN, errqueue.EMPTY, "recvmsg", b, [10], ERRQ, controllen=64)
    d.fails(E.EAGAIN, errqueue.EMPTY, "recvmmsg", b, [[10]], ERRQ)
    d.ok(None, "send", a, b"data")
    d.fails(E.EAGAIN, errqueue.EMPTY, "recv", b, 10, ERRQ | DW)
    assert data(d.ok(None, "recv", b, 10, DW)) == b"data"             # still queued
    # a pending socket error stays pending: neither recvmsg nor recvmmsg reports it
    d.obj(b).so_error, d.obj(b).err_unprobed = E.ECONNRESET, True
    d.fails(E.EAGAIN, errqueue.EMPTY, "recvmmsg", b, [[10]], ERRQ)
    d.fails(E.EAGAIN, errqueue.EMPTY, "recv", b, 10, ERRQ)
    assert d.obj(b).so_error == E.ECONNRESET
    d.obj(b).so_error, d.obj(b).err_unprobed = 0, False


def test_errqueue_empty_tcp_before_its_state():
    d = Data()
    lfd = d.bound(L.AF_INET, STREAM)
    d.call("listen", lfd, 4)
    fresh = d.new(L.AF_INET6, STREAM)
    d.fails(E.EAGAIN, errqueue.EMPTY, "recv", lfd, 10, ERRQ)
    d.fails(E.EAGAIN, errqueue.EMPTY, "recv", fresh, 10, ERRQ)


@pytest.mark.parametrize("type_", [STREAM, DGRAM, SEQPACKET])
def test_errqueue_unix_ignored(type_):
    d = Data()
    a, b = d.pair(type_)
    d.ok(None, "send", a, b"data")
    got = d.ok(errqueue.UNIX_IGNORED, "recvfrom", b, 10, ERRQ | DW, True)
    assert data(got) == b"data"
    d.fails(E.EAGAIN, errqueue.UNIX_IGNORED, "recv", b, 10, ERRQ | DW)
    d.ok(None, "send", a, b"more")
    got = d.ok(errqueue.UNIX_IGNORED, "recvmsg", b, [10], ERRQ)
    assert not got.out["msg_flags"].value & ERRQ
    d.ok(None, "send", a, b"last")
    got = d.ok(errqueue.UNIX_IGNORED, "recvmsg", b, [10], ERRQ | DW, controllen=64)
    assert got.out["control"].value == ()           # scm_recv(): no files, no credentials


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_recverr_option(family):
    d = Data()
    level, opt = RECVERR[family]
    s = d.new(family, DGRAM)
    got = d.ok(errqueue.GET_RECVERR, "getsockopt", s, level, opt)
    assert got.out["value"].value == b"\0\0\0\0"
    rule = errqueue.SET_RECVERR if family == L.AF_INET else errqueue.SET_RECVERR6
    d.ok(rule, "setsockopt", s, level, opt, 7)
    assert d.call("getsockopt", s, level, opt).out["value"].value == b"\1\0\0\0"
    d.fails(E.EFAULT, errqueue.SET_RECVERR_FAULT, "setsockopt", s, level, opt, FAULT, 4)
    if family == L.AF_INET:
        d.ok(errqueue.SET_RECVERR, "setsockopt", s, level, opt, b"\0", 1)     # a byte
        assert not d.obj(s).opts["IP_RECVERR"]
        d.ok(errqueue.SET_RECVERR, "setsockopt", s, level, opt, b"\1", 1)
        d.ok(errqueue.SET_RECVERR, "setsockopt", s, level, opt, b"", 0)       # val 0
        assert not d.obj(s).opts["IP_RECVERR"]
    else:
        d.fails(E.EINVAL, errqueue.SET_RECVERR6_SHORT, "setsockopt", s, level, opt, b"\1", 1)
    t = d.new(family, STREAM)                        # TCP keeps the flag too
    d.ok(rule, "setsockopt", t, level, opt, 1)
    other = RECVERR[L.AF_INET6 if family == L.AF_INET else L.AF_INET]
    if family == L.AF_INET6:
        with pytest.raises(NotModelled):             # IP_RECVERR on IPv6: the v4-mapped path
            d.outcomes("setsockopt", s, *other, 1)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_icmp_error_queued_and_read(family):
    d = Data()
    level, opt = RECVERR[family]
    v4 = family == L.AF_INET
    closed = lo(family, 9)
    s = d.new(family, DGRAM)
    d.call("setsockopt", s, level, opt, 1)
    d.ok(errqueue.QUEUED, "sendto", s, b"hello", 0, closed)
    sock = d.obj(s)
    assert sock.so_error == E.ECONNREFUSED and sock.err_unprobed and len(sock.err_queue) == 1
    assert _pollerr(d, s)
    d.fails(E.ECONNREFUSED, udp.SEND_SK_ERR, "sendto", s, b"x", 0, closed)
    assert _pollerr(d, s)                            # the queue still holds one
    d.ok(errqueue.QUEUED, "sendto", s, b"world!", 0, closed)
    got = d.ok(errqueue.ICMP_ERROR, "recvmsg", s, [3], ERRQ | L.MSG_PEEK | L.MSG_TRUNC,
               controllen=64)
    assert got.ret.value == 3 and data(got) == b"hel"
    assert got.out["msg_flags"].value == ERRQ | L.MSG_TRUNC
    (cm,) = got.out["cmsgs"].value
    ee = cm.data
    assert (cm.level, cm.type) == (level, opt)
    assert (ee.ee_errno, ee.ee_origin, ee.ee_type, ee.ee_code) == (
        (E.ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3) if v4 else (E.ECONNREFUSED, SO_EE_ORIGIN_ICMP6, 1, 4))
    assert ee.offender == (SockaddrIn(0, "127.0.0.1") if v4 else SockaddrIn6(0, "::1"))
    assert got.out["name"].value == closed and got.out["controllen"].value == (48 if v4 else 64)
    assert errqueue.SK_ERR_NEXT in got.rules
    assert sock.so_error == E.ECONNREFUSED and len(sock.err_queue) == 1      # the next one's
    d.call("getsockopt", s, L.SOL_SOCKET, L.SO_ERROR)
    assert sock.so_error == 0 and _pollerr(d, s)
    got = d.ok(errqueue.CTRUNC, "recvmsg", s, [10], ERRQ, controllen=20)
    assert got.out["msg_flags"].value == ERRQ | L.MSG_CTRUNC
    assert got.out["cmsgs"].value == (Cmsg(20, level, opt, b"o\0\0\0"),)
    assert not _pollerr(d, s) and sock.so_error == 0
    d.fails(E.EAGAIN, errqueue.EMPTY, "recvmsg", s, [10], ERRQ | DW, controllen=64)
    # no room for a cmsghdr at all, and a buffer that cannot be written
    d.ok(errqueue.QUEUED, "sendto", s, b"3", 0, closed)
    got = d.ok(errqueue.CTRUNC, "recvmsg", s, [10], ERRQ, controllen=8)
    assert "cmsgs" not in got.out and got.out["controllen"].value == 0
    d.ok(errqueue.QUEUED, "sendto", s, b"4", 0, closed)
    d.fails(E.EFAULT, errqueue.FAULT, "recvfrom", s, 10, ERRQ, buf=FAULT)
    assert not sock.err_queue and sock.so_error == 0                          # lost
    # turning the option off purges the queue (the socket error stays)
    d.ok(errqueue.QUEUED, "sendto", s, b"5", 0, closed)
    d.call("setsockopt", s, level, opt, 0)
    assert not sock.err_queue and sock.so_error == E.ECONNREFUSED
    d.fails(E.EAGAIN, errqueue.EMPTY, "recv", s, 10, ERRQ)
    d.fails(E.ECONNREFUSED, udp.RECV_SK_ERR, "recv", s, 10, DW)
    d.call("setsockopt", s, level, opt, 1)
    with pytest.raises(NotModelled):                 # a datagram an ICMP error may cut
        d.outcomes("sendto", s, b"z" * 2000, 0, closed)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_icmp_error_only_from_the_peer(family):
    d = Data()
    level, opt = RECVERR[family]
    s = d.new(family, DGRAM)
    d.call("setsockopt", s, level, opt, 1)
    d.call("connect", s, lo(family, 9))
    d.ok(errqueue.UNMATCHED, "sendto", s, b"elsewhere", 0, lo(family, 10))
    assert not d.obj(s).err_queue and d.obj(s).so_error == 0
    d.ok(errqueue.QUEUED, "send", s, b"peer")
    got = d.ok(errqueue.ICMP_ERROR, "recv", s, 10, ERRQ)
    assert data(got) == b"peer"
    plain = d.new(family, DGRAM)                     # without IP_RECVERR: the same lookup
    d.call("connect", plain, lo(family, 9))
    d.ok(errqueue.UNMATCHED, "sendto", plain, b"x", 0, lo(family, 10))
    assert d.obj(plain).so_error == 0


def test_compat_cmsg_not_modelled():
    d = Data(via="compat")
    s = d.new(L.AF_INET, DGRAM)
    d.call("setsockopt", s, L.SOL_IP, IP_RECVERR, 1)
    d.call("sendto", s, b"x", 0, lo(L.AF_INET, 9))
    with pytest.raises(NotModelled):
        d.outcomes("recvmsg", s, [10], ERRQ | 0x80000000, controllen=64)
    got = d.ok(errqueue.CTRUNC, "recvmsg", s, [10], ERRQ | 0x80000000)    # no room: the same
    assert got.out["msg_flags"].value == ERRQ | L.MSG_CTRUNC and got.out["controllen"].value == 0


def test_cmsg_codec_round_trip():
    abi = native()
    ee = SockExtendedErr(E.ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3, 0, 0, 0, SockaddrIn(0, "127.0.0.1"))
    body = ee.encode(16)
    raw = (48).to_bytes(8, "little") + (0).to_bytes(4, "little") + IP_RECVERR.to_bytes(4, "little") + body
    assert cmsgs(raw, abi) == (Cmsg(48, L.SOL_IP, IP_RECVERR, ee),)
    assert cmsgs(raw[:20], abi)[0].data == body[:4]
    assert cmsgs(b"", abi) == ()


def test_errqueue_packet():
    from harness.model import af_packet
    d = Data()
    fd = d.new(L.AF_PACKET, L.SOCK_RAW)
    d.fails(E.EAGAIN, af_packet.RECV_ERRQUEUE_EMPTY, "recv", fd, 10, ERRQ)
    d.fails(E.EINVAL, af_packet.RECV_FLAGS_INVALID, "recv", fd, 10, ERRQ | L.MSG_WAITALL)
    d.fails(E.EINVAL, af_packet.RECV_FLAGS_INVALID, "recvmsg", fd, [10], DW | L.MSG_CMSG_CLOEXEC)
    with pytest.raises(NotModelled):
        d.outcomes("recv", fd, 10, DW)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_errqueue_raw_and_ping(family):
    d = Data(net__ipv4__ping_group_range="0 2147483647")
    raw = d.call("socket", family, L.SOCK_RAW | L.SOCK_CLOEXEC, L.IPPROTO_RAW).ret.value
    icmp = L.IPPROTO_ICMP if family == L.AF_INET else L.IPPROTO_ICMPV6
    ping = d.call("socket", family, DGRAM | L.SOCK_CLOEXEC, icmp).ret.value
    for fd in (raw, ping):
        d.fails(E.EAGAIN, errqueue.EMPTY, "recv", fd, 10, ERRQ)
        d.fails(E.EOPNOTSUPP, errqueue.RAW_OOB, "recv", fd, 10, ERRQ | L.MSG_OOB)
        with pytest.raises(NotModelled):
            d.outcomes("recv", fd, 10, DW)
