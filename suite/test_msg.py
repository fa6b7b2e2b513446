"""sendmsg(2)/recvmsg(2)/sendmmsg(2)/recvmmsg(2): scatter/gather, the msghdr rules of
__copy_msghdr() (msg_namelen in and out, msg_iovlen), msg_flags, and the batches: counts,
partial batches, MSG_WAITFORONE, the recvmmsg timeout. Every call is checked against the
model."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrIn

from . import endpoints
from .endpoints import row
from .kinds import Kind
from .pairs import BY_ID, PAIRS, POLLERR, RECORDS, arrived, connected, ids

DW = L.MSG_DONTWAIT
CX = L.SOCK_CLOEXEC
MSG_CMSG_COMPAT = 0x80000000


@pytest.mark.parametrize("pair", PAIRS, ids=ids(PAIRS))
def test_scatter_gather(sc, pair):
    """sendmsg gathers its iovecs into one message; recvmsg scatters what it receives over
    its iovecs in order (msg_namelen out, msg_flags 0 or MSG_TRUNC, msg_controllen 0)."""
    a, b = connected(sc, pair)
    sc.sendmsg(a, [b"ab", b"", b"cdef", b"g"])
    arrived(sc, pair, b, 7)
    sc.recvmsg(b, [3, 0, 2, 10])
    sc.sendmsg(a, [b"hijklmnop"])
    arrived(sc, pair, b, 9)
    sc.recvmsg(b, [2, 3], DW)
    sc.recvmsg(b, [4], DW, name=False)


def test_msghdr_name_rules(sc):
    """msg_namelen: negative with a name is EINVAL (send and receive); NULL msg_name makes
    any msg_namelen harmless; more than 128 is cut to 128 (a sendto addrlen of 129 is
    EINVAL instead); on receive the full length comes back in msg_namelen."""
    r, where = endpoints.bound(sc, Kind("inet", L.SOCK_DGRAM))
    s, _ = endpoints.bound(sc, Kind("inet", L.SOCK_DGRAM))
    with row("send-namelen-negative"):
        sc.sendmsg(s, [b"x"], 0, where, -1)
    with row("send-namelen-1000"):
        sc.sendmsg(s, [b"big"], 0, where, 1000)
    with row("send-null-name-namelen-garbage"):
        sc.sendmsg(s, [b"x"], 0, None, -5)
    with row("sendto-addrlen-129"):
        sc.sendto(s, b"x", 0, where, 129)
    arrived(sc, BY_ID["udp-connected"], r)
    with row("recv-namelen-negative"):
        sc.recvmsg(r, [10], DW, True, -1)
    with row("recv-namelen-1000"):
        sc.recvmsg(r, [10], DW, True, 1000)
    with row("recv-namelen-short"):
        sc.sendmsg(s, [b"y"], 0, where)
        arrived(sc, BY_ID["udp-connected"], r)
        sc.recvmsg(r, [10], DW, True, 6)


def test_sendmsg_zero_namelen_is_no_name(sc):
    """A connected UDP socket: sendmsg with msg_namelen 0 sends to the peer (no name), while
    sendto with a non-NULL address of length 0 is EINVAL."""
    a, b = connected(sc, BY_ID["udp-connected"])
    peer = endpoints.local(sc, b)
    sc.sendmsg(a, [b"peer"], 0, peer, 0)
    sc.sendto(a, b"x", 0, peer, 0)
    arrived(sc, BY_ID["udp-connected"], b)
    sc.recv(b, 10, DW)


@pytest.mark.parametrize("call", ["sendmsg", "recvmsg", "sendmmsg", "recvmmsg"])
def test_cmsg_compat_flag_refused(sc, call):
    """MSG_CMSG_COMPAT from a native 64-bit call is EINVAL, before the descriptor (a closed
    fd too)."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).out["fds"]
    for fd in (a, 32767):
        if call == "sendmsg":
            sc.sendmsg(fd, [b"x"], MSG_CMSG_COMPAT)
        elif call == "recvmsg":
            sc.recvmsg(fd, [1], MSG_CMSG_COMPAT | DW)
        elif call == "sendmmsg":
            sc.sendmmsg(fd, [[b"x"]], MSG_CMSG_COMPAT)
        else:
            sc.recvmmsg(fd, [[1]], MSG_CMSG_COMPAT | DW)


def test_msghdr_faults_and_iovlen(sc):
    """The msghdr itself unreadable: EFAULT (after the descriptor); msg_iovlen 1025 is
    EMSGSIZE, 1024 is fine; an iovec the kernel cannot read (send) or write (receive):
    EFAULT."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_SEQPACKET | CX, 0).out["fds"]
    with row("sendmsg-msg-fault"):
        sc.sendmsg(a, None, 0, msg=sc.fault())
    with row("recvmsg-msg-fault"):
        sc.recvmsg(b, None, DW, msg=sc.fault())
    with row("recvmsg-msg-fault-closed-fd"):
        sc.recvmsg(32767, None, DW, msg=sc.fault())
    with row("iovlen-1025"):
        sc.sendmsg(a, [b""] * 1025)
    with row("iovlen-1024"):
        sc.sendmsg(a, [b"i"] + [b""] * 1023)
    with row("iov-fault"):
        sc.sendmsg(a, [b"ok", (sc.fault(), 4)])
    with row("recv-iov-fault"):
        sc.recvmsg(b, [(sc.fault(), 8)], DW)
    with row("recv-iov-fault-after-data"):
        sc.sendmsg(a, [b"abc"])
        sc.recvmsg(b, [2, (sc.fault(), 8)], DW)


@pytest.mark.parametrize("pair", RECORDS, ids=ids(RECORDS))
def test_msg_flags_out(sc, pair):
    """recvmsg's msg_flags: MSG_TRUNC for a message cut short; never MSG_EOR (unix seqpacket
    ignores it on send); MSG_CMSG_CLOEXEC given in the flags comes back."""
    a, b = connected(sc, pair)
    sc.sendmsg(a, [b"record"], L.MSG_EOR)
    sc.sendmsg(a, [b"next"])
    arrived(sc, pair, b)
    sc.recvmsg(b, [3], DW)
    arrived(sc, pair, b)
    sc.recvmsg(b, [10], DW | L.MSG_CMSG_CLOEXEC)


def test_unix_dgram_addresses(sc):
    """A unix datagram's source: the sender's name (path or abstract, their lengths), none
    for an unnamed sender (msg_namelen 0), the autobind name of a sender with SO_PASSCRED."""
    r, where = endpoints.bound(sc, Kind("unix-path", L.SOCK_DGRAM))
    named, _ = endpoints.bound(sc, Kind("unix-abstract", L.SOCK_DGRAM))
    unnamed = sc.socket(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).ret
    cred = sc.socket(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).ret
    sc.setsockopt(cred, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    for fd in (named, unnamed, cred):
        sc.sendmsg(fd, [b"from"], 0, where)
        sc.recvmsg(r, [10], DW)
    other, _ = endpoints.bound(sc, Kind("unix-abstract", L.SOCK_DGRAM))
    sc.connect(r, endpoints.local(sc, other))
    sc.sendto(named, b"x", 0, where)


# --------------------------------------------------------------------------- sendmmsg

def test_sendmmsg(sc):
    """sendmmsg sends each message as sendmsg would and sets msg_len; a message that fails
    after others ends the batch and its error is dropped (the count is returned, SO_ERROR
    stays 0); when the first fails, its error is returned; vlen 0 returns 0."""
    r, where = endpoints.bound(sc, Kind("inet6", L.SOCK_DGRAM))
    s = sc.socket(L.AF_INET6, L.SOCK_DGRAM | CX, 0).ret
    ok = {"iov": [b"one"], "name": where}
    with row("three"):
        sc.sendmmsg(s, [ok, {"iov": [b"t", b"wo"], "name": where}, {"iov": [b""], "name": where}])
    with row("second-bad"):
        sc.sendmmsg(s, [ok, {"iov": [b"x"], "name": SockaddrIn(0, "127.0.0.1")}, ok])
    with row("first-bad"):
        sc.sendmmsg(s, [{"iov": [b"x"], "name": where, "namelen": -1}, ok])
    with row("vlen-0"):
        sc.sendmmsg(s, [ok], vlen=0)
    with row("msgvec-fault"):
        sc.sendmmsg(s, [], vlen=2, msgvec=sc.fault())
    with row("eor-in-msg-flags"):
        u, v = sc.socketpair(L.AF_UNIX, L.SOCK_SEQPACKET | CX, 0).out["fds"]
        sc.sendmmsg(u, [{"iov": [b"r"], "flags": L.MSG_EOR}, [b"s"]])
    arrived(sc, BY_ID["udp6-connected"], r)
    sc.recvmmsg(r, [[10]] * 6, DW)


def test_sendmmsg_vlen_clamped(sc, profile):
    """vlen above UIO_MAXIOV (1024) is cut to 1024: 1030 messages, 1024 sent (to a port
    nobody holds, from an unconnected socket, so nothing comes back)."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    probe, where = endpoints.bound(sc, Kind("inet", L.SOCK_DGRAM))
    sc.close(probe)
    s = sc.socket(L.AF_INET, L.SOCK_DGRAM | CX, 0).ret
    sc.sendmmsg(s, [{"iov": [b""], "name": where}] * 1030)


# --------------------------------------------------------------------------- recvmmsg

def _queue(sc, pair, a, b, n):
    for i in range(n):
        sc.send(a, b"m%d" % i)
    if pair.is_inet:
        for _ in range(n):
            arrived(sc, pair, b)


@pytest.mark.parametrize("pair", [BY_ID["udp-connected"], BY_ID["unix-dgram-socketpair"],
                                  BY_ID["unix-seqpacket-accepted"]], ids=lambda p: p.id)
def test_recvmmsg(sc, pair):
    """recvmmsg receives up to vlen messages, each as recvmsg would (msg_len, msg_flags, the
    name); without waiting it returns what is there (EAGAIN only when nothing is); with
    MSG_WAITFORONE only the first receive may wait; a zero timeout stops after the first."""
    a, b = connected(sc, pair)
    with row("nothing-queued"):
        sc.recvmmsg(b, [[10]], DW)
    _queue(sc, pair, a, b, 3)
    with row("vlen-2-of-3"):
        sc.recvmmsg(b, [[10], [1, 1]], DW)
    with row("rest"):
        sc.recvmmsg(b, [[10], [10], [10]], DW)
    _queue(sc, pair, a, b, 2)
    with row("waitforone"):
        sc.recvmmsg(b, [[10], [10], [10]], L.MSG_WAITFORONE)
    _queue(sc, pair, a, b, 3)
    with row("zero-timeout"):
        sc.recvmmsg(b, [[10], [10], [10]], DW, timeout=(0, 0))
    with row("long-timeout"):
        sc.recvmmsg(b, [[10], [10], [10]], DW, timeout=(5, 0))
    with row("vlen-0"):
        sc.recvmmsg(b, [[10]], DW, vlen=0)


def test_recvmmsg_timeout_checks(sc):
    """The timeout is read and checked before the descriptor: unreadable is EFAULT, tv_nsec
    outside 0..999999999 or a negative tv_sec EINVAL (on a closed fd too)."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).out["fds"]
    for label, timeout, fd in (("nsec-1e9", (0, 1_000_000_000), b), ("nsec-negative", (0, -1), b),
                               ("sec-negative", (-1, 0), b), ("bad-fd", (0, 1_000_000_000), 32767),
                               ("fault", sc.fault(), b), ("fault-bad-fd", sc.fault(), 32767)):
        with row(label):
            sc.recvmmsg(fd, [[10]], DW, timeout=timeout)


def test_recvmmsg_error_after_some(sc):
    """A receive failing after others ends the batch with the count; its error is kept as
    the socket error (SO_ERROR shows it). The failing datagram is lost (EFAULT)."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).out["fds"]
    for part in (b"1", b"2", b"3"):
        sc.send(a, part)
    sc.recvmmsg(b, [[10], [(sc.fault(), 10)], [10]], DW)
    sc.recvmmsg(b, [[10], [10]], DW)


def test_recvmmsg_pending_error_first(sc, profile):
    """A pending socket error (ICMP port unreachable on a connected UDP socket) is what
    recvmmsg reports, before any message."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    probe, where = endpoints.bound(sc, Kind("inet", L.SOCK_DGRAM))
    sc.close(probe)
    s = sc.socket(L.AF_INET, L.SOCK_DGRAM | CX, 0).ret
    sc.connect(s, where)
    sc.send(s, b"x")
    sc.wait(s, POLLERR)
    sc.recvmmsg(s, [[10]], DW, vlen=0)
    sc.recvmmsg(s, [[10]], DW)
