"""The error queue: recvmsg(MSG_ERRQUEUE) with nothing queued (EAGAIN on inet sockets, an
ordinary receive on AF_UNIX, which has no error queue), and IP_RECVERR / IPV6_RECVERR on UDP:
the ICMP port unreachable a datagram to a closed loopback port brings back is queued with its
struct sock_extended_err, read with recvmsg(MSG_ERRQUEUE), and interacts with SO_ERROR and
POLLERR. Every call is checked against the model (harness/model/errqueue.py)."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.abi.errqueue import IP_RECVERR, IPV6_RECVERR, MSG_ERRQUEUE

from . import endpoints
from .endpoints import row
from .kinds import Kind
from .pairs import ONE_EACH, POLLERR, arrived, connected, ids
from .privilege import run_as

DW = L.MSG_DONTWAIT
CX = L.SOCK_CLOEXEC
ERRQ = MSG_ERRQUEUE


@pytest.mark.parametrize("pair", ONE_EACH, ids=ids(ONE_EACH))
def test_errqueue_empty(sc, pair):
    """Nothing in the error queue: an inet socket answers EAGAIN to every receive call with
    MSG_ERRQUEUE, blocking or not, and the data queued stays; AF_UNIX ignores the flag and
    receives the data (then EAGAIN without waiting)."""
    a, b = connected(sc, pair)
    if pair.is_inet:
        sc.recvmsg(b, [10], ERRQ, controllen=64)
        sc.recvmmsg(b, [[10]], ERRQ)
    sc.send(a, b"data")
    arrived(sc, pair, b)
    sc.recvfrom(b, 10, ERRQ | DW, True)
    sc.recv(b, 10, ERRQ | DW)
    sc.recv(b, 10, DW)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["tcp", "tcp6"])
def test_errqueue_empty_tcp_not_connected(sc, family):
    """MSG_ERRQUEUE is answered before TCP looks at its state: a listening or a never
    connected socket reads EAGAIN, not ENOTCONN."""
    kind = Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_STREAM)
    lfd, _ = endpoints.listener(sc, kind)
    fd = sc.socket(family, L.SOCK_STREAM | CX, 0).ret
    sc.recv(lfd, 10, ERRQ)
    sc.recv(fd, 10, ERRQ)
    sc.recv(fd, 10, DW)


RECVERR = {L.AF_INET: (L.SOL_IP, IP_RECVERR), L.AF_INET6: (L.SOL_IPV6, IPV6_RECVERR)}


def _udp(sc, family):
    return sc.socket(family, L.SOCK_DGRAM | CX, 0).ret


def _closed_port(sc, family):
    """An address on loopback nobody holds (a socket bound there, then closed)."""
    kind = Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_DGRAM)
    probe, where = endpoints.bound(sc, kind)
    sc.close(probe)
    return where


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_ip_recverr(sc, profile, family):
    """IP_RECVERR (IPV6_RECVERR) on an unconnected UDP socket: each datagram to a closed port
    comes back as an ICMP error queued with the datagram's payload and a sock_extended_err
    (ECONNREFUSED, SO_EE_ORIGIN_ICMP 3/3, ICMPv6 1/4, the offender ::1/127.0.0.1) and sets the
    socket error (the next send reports it); taking one off the queue sets SO_ERROR to the next
    one's errno (or 0); POLLERR stays while the queue holds one; MSG_PEEK does not keep it; a
    short control buffer gets MSG_CTRUNC; turning the option off empties the queue."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    level, opt = RECVERR[family]
    where = _closed_port(sc, family)
    fd = _udp(sc, family)
    sc.getsockopt(fd, level, opt)
    sc.setsockopt(fd, level, opt, 1)
    sc.getsockopt(fd, level, opt)
    sc.recvmsg(fd, [10], ERRQ, controllen=64)
    sc.sendto(fd, b"hello", 0, where)
    sc.wait(fd, POLLERR)
    sc.sendto(fd, b"x", 0, where)                 # the pending socket error, consumed
    sc.sendto(fd, b"world!", 0, where)
    sc.wait(fd, POLLERR)
    for label, call in [
        ("first-peek-short", lambda: sc.recvmsg(fd, [3], ERRQ | L.MSG_PEEK | L.MSG_TRUNC,
                                                controllen=64)),
        ("so-error-is-the-next", lambda: sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)),
        ("second-short-control", lambda: sc.recvmsg(fd, [10], ERRQ, controllen=20)),
        ("empty-again", lambda: sc.recvmsg(fd, [10], ERRQ | DW, controllen=64)),
        ("third", lambda: sc.sendto(fd, b"3", 0, where)),
    ]:
        with row(label):
            call()
    sc.wait(fd, POLLERR)
    sc.setsockopt(fd, level, opt, 0)               # purges the queue; sk_err stays
    sc.recvmsg(fd, [10], ERRQ, controllen=64)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_ip_recverr_connected(sc, profile, family):
    """A connected UDP socket with IP_RECVERR: the error of a datagram to its peer is queued
    and read through recv/recvfrom with MSG_ERRQUEUE too (no control buffer: no cmsg); a
    datagram sent with sendto() to a closed port other than the peer brings no error back at
    all (the ICMP error's socket lookup wants the peer)."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    level, opt = RECVERR[family]
    peer = _closed_port(sc, family)
    other = _closed_port(sc, family)
    fd = _udp(sc, family)
    sc.setsockopt(fd, level, opt, 1)
    sc.connect(fd, peer)
    sc.send(fd, b"one")
    sc.wait(fd, POLLERR)
    sc.recvfrom(fd, 10, ERRQ, True)
    sc.sendto(fd, b"elsewhere", 0, other)
    sc.send(fd, b"two")
    sc.wait(fd, POLLERR)
    sc.recvmmsg(fd, [[10], [10]], ERRQ)           # no msg_control: MSG_CTRUNC
    sc.recv(fd, 10, ERRQ | DW)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_ip_recverr_bad_arguments(sc, profile, family):
    """IP_RECVERR / IPV6_RECVERR with a value the kernel cannot read (EFAULT) and with a short
    optlen (IPv4 reads a byte, IPv6 wants an int: EINVAL); a queued error whose data buffer
    cannot be written is EFAULT and lost (the next read finds the queue empty)."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    level, opt = RECVERR[family]
    where = _closed_port(sc, family)
    fd = _udp(sc, family)
    with row("optval-fault"):
        sc.setsockopt(fd, level, opt, sc.fault(), 4)
    with row("optlen-2"):
        sc.setsockopt(fd, level, opt, b"\x01\x00", 2)
    with row("optlen-0"):
        sc.setsockopt(fd, level, opt, b"", 0)
    sc.getsockopt(fd, level, opt)
    sc.setsockopt(fd, level, opt, 1)
    sc.sendto(fd, b"lost", 0, where)
    sc.wait(fd, POLLERR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    with row("data-fault"):
        sc.recvmsg(fd, [(sc.fault(), 8)], ERRQ, controllen=64)
    sc.recvmsg(fd, [10], ERRQ | DW, controllen=64)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_errqueue_leaves_the_socket_error(sc, profile, family):
    """Without IP_RECVERR the ICMP error of a connected UDP socket is only its socket error:
    recv and recvmmsg with MSG_ERRQUEUE answer EAGAIN and leave it pending (recvmmsg does not
    report it first, as it does without the flag); the next receive reports it."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    peer = _closed_port(sc, family)
    fd = _udp(sc, family)
    sc.connect(fd, peer)
    sc.send(fd, b"one")
    sc.wait(fd, POLLERR)
    sc.recvmmsg(fd, [[10]], ERRQ)
    sc.recv(fd, 10, ERRQ | DW)
    sc.recvmmsg(fd, [[10]], DW)


def test_errqueue_packet(sc):
    """A packet socket (protocol 0: it takes no frames) answers MSG_ERRQUEUE with EAGAIN,
    blocking or not, and refuses a flag outside its allow-list (MSG_WAITALL, MSG_CMSG_CLOEXEC)
    with EINVAL before anything else. Creating one needs CAP_NET_RAW (its refusal is checked in
    test_socket.py)."""
    endpoints.needs_family(sc, L.AF_PACKET)

    def body(s):
        fd = endpoints.setup_ok(s, s.socket(L.AF_PACKET, L.SOCK_RAW | CX, 0)).ret
        s.recv(fd, 10, ERRQ)
        s.recvmsg(fd, [10], ERRQ | DW)
        s.recv(fd, 10, ERRQ | L.MSG_WAITALL)
        s.recvmsg(fd, [10], DW | L.MSG_CMSG_CLOEXEC)
    run_as(sc, "privileged", "CAP_NET_RAW", body)


@pytest.mark.parametrize("via", ["compat", "socketcall"])
def test_ip_recverr_compat(sc, profile, via):
    """The 32-bit entries read a queued error too: with no msg_control put_cmsg_compat() has no
    room and sets MSG_CTRUNC, as the native put_cmsg() does; an empty queue is EAGAIN."""
    if not profile.compat_available:
        pytest.skip(f"no 32-bit compat path: {profile.compat_reason}")
    endpoints.needs_private_netns(profile, "a port nobody holds")
    where = _closed_port(sc, L.AF_INET)
    fd = _udp(sc, L.AF_INET)
    sc.setsockopt(fd, L.SOL_IP, IP_RECVERR, 1)
    sc.sendto(fd, b"compat", 0, where)
    sc.wait(fd, POLLERR)
    sc.recvmsg(fd, [10], ERRQ, via=via)
    sc.recvmsg(fd, [10], ERRQ, via=via)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["raw", "raw6"])
def test_errqueue_raw(sc, family):
    """A raw socket (IPPROTO_RAW: it receives nothing) answers MSG_ERRQUEUE with EAGAIN,
    blocking or not, and MSG_OOB with EOPNOTSUPP before looking at the error queue."""
    def body(s):
        fd = endpoints.setup_ok(s, s.socket(family, L.SOCK_RAW | CX, L.IPPROTO_RAW)).ret
        s.recv(fd, 10, ERRQ)
        s.recvmsg(fd, [10], ERRQ | DW, controllen=64)
        s.recv(fd, 10, ERRQ | L.MSG_OOB | DW)
    run_as(sc, "privileged", "CAP_NET_RAW", body)
