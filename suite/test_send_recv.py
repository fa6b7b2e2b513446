"""send(2)/recv(2)/sendto/recvfrom over connected pairs of every kind and both directions, and
the errno matrices of the byte-stream and datagram protocols: boundaries, partial reads,
MSG_PEEK, MSG_TRUNC, MSG_OOB, zero-length data, addresses, EAGAIN, shutdown, a closed peer,
EPIPE and SIGPIPE, ICMP port unreachable, EFAULT. Every call is checked against the model."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn

from . import endpoints
from .endpoints import row
from .kinds import Kind, unique
from .pairs import (BY_ID, ONE_EACH, PAIRS, POLLERR, POLLIN, arrived, connected, directions, ids,
                    loopback_of)

DW = L.MSG_DONTWAIT
CX = L.SOCK_CLOEXEC


# --------------------------------------------------------------------------- every pair

@pytest.mark.parametrize("pair,rev", directions(PAIRS))
def test_bytes_and_boundaries(sc, pair, rev):
    """Two sends, then receives: a stream delivers the bytes as one run (coalesced), a
    datagram or seqpacket socket one message per receive; then nothing is left (EAGAIN)."""
    a, b = connected(sc, pair, rev)
    sc.send(a, b"hello")
    sc.send(a, b"world!")
    if pair.stream:
        arrived(sc, pair, b, 11)
        sc.recv(b, 100, DW)
    else:
        arrived(sc, pair, b)
        sc.recv(b, 100, DW)
        arrived(sc, pair, b)
        sc.recv(b, 100, DW)
    sc.recv(b, 100, DW)


# (label, buffer size, flags, send first): one row of the receive-flag table, run in order on
# one connected pair; every row without MSG_DONTWAIT has the data it needs already queued
RECV_FLAG_ROWS = [
    ("zero-length-empty", 0, DW, None),
    ("empty", 10, DW | L.MSG_WAITALL, None),
    ("peek-short", 3, DW | L.MSG_PEEK, (b"abcdefgh", b"ijk")),
    ("peek-trunc", 3, DW | L.MSG_PEEK | L.MSG_TRUNC, None),
    ("peek-waitall-blocking-satisfied", 3, L.MSG_PEEK | L.MSG_WAITALL, None),
    ("peek-waitall-more-than-queued", 100, DW | L.MSG_PEEK | L.MSG_WAITALL, None),
    ("trunc-short", 2, DW | L.MSG_TRUNC, None),
    ("waitall-short", 4, DW | L.MSG_WAITALL, None),
    ("waitall-rest", 100, DW | L.MSG_WAITALL, None),
    ("nothing-left", 100, DW, None),
    ("zero-length-peek-trunc", 0, DW | L.MSG_PEEK | L.MSG_TRUNC, (b"lmnop",)),
    ("zero-length-trunc", 0, DW | L.MSG_TRUNC, None),
    ("after-zero-length", 100, DW, None),
]
FLAG_PAIRS = [BY_ID[i] for i in ("tcp-accepted", "udp-connected", "udp6-connected",
                                 "unix-stream-socketpair", "unix-dgram-socketpair",
                                 "unix-seqpacket-socketpair")]


@pytest.mark.parametrize("pair", FLAG_PAIRS, ids=ids(FLAG_PAIRS))
def test_recv_flag_combinations(sc, pair):
    """MSG_PEEK, MSG_TRUNC, MSG_WAITALL and MSG_DONTWAIT, alone and together, through
    recvmsg (the returned length and msg_flags compared): a stream returns the start of the
    bytes and keeps the rest, a datagram loses the rest (MSG_TRUNC in msg_flags); MSG_PEEK
    leaves the data queued; MSG_TRUNC returns the real datagram length (UDP, unix datagram and
    seqpacket, even for a zero-length buffer), discards the bytes (TCP) or changes nothing
    (unix stream); MSG_WAITALL without waiting returns what is there, and a datagram socket
    ignores it; nothing queued: EAGAIN, a zero-length stream receive too, 0 when bytes are
    queued."""
    a, b = connected(sc, pair)
    for label, size, flags, sends in RECV_FLAG_ROWS:
        with row(label):
            for part in sends or ():
                sc.send(a, part)
            if sends:
                arrived(sc, pair, b, sum(map(len, sends)) if pair.stream else 1)
            sc.recvmsg(b, [size], flags)


@pytest.mark.parametrize("pair", PAIRS, ids=ids(PAIRS))
def test_zero_length(sc, pair):
    """A zero-length send: a stream sends nothing (0, nothing to read); a datagram or
    seqpacket socket sends an empty message that a receive returns as 0."""
    a, b = connected(sc, pair)
    sc.send(a, b"")
    if pair.records:
        arrived(sc, pair, b)
    sc.recv(b, 10, DW)
    sc.recv(b, 10, DW)


# --------------------------------------------------------------------------- addresses

@pytest.mark.parametrize("pair", PAIRS, ids=ids(PAIRS))
def test_source_address(sc, pair):
    """recvfrom's address: UDP reports the sender (16/28 bytes), TCP none (addrlen 0), unix
    the sender's name (msg_namelen 0 for an unnamed one: a socketpair end, a connecting
    client; an accepted socket carries its listener's name)."""
    a, b = connected(sc, pair)
    sc.send(a, b"x")
    sc.send(b, b"y")
    arrived(sc, pair, b)
    sc.recvfrom(b, 10, DW, True)
    arrived(sc, pair, a)
    sc.recvfrom(a, 10, DW, True, 200)


@pytest.mark.parametrize("pair", [BY_ID["udp6-connected"], BY_ID["unix-dgram-connected"],
                                  BY_ID["tcp-accepted"]], ids=lambda p: p.id)
def test_address_length_in_out(sc, pair):
    """*addrlen shorter than the address: the address is cut and the full length reported;
    a negative *addrlen fails with EINVAL after the data was consumed."""
    a, b = connected(sc, pair)
    for part in (b"one", b"two", b"six"):
        sc.send(a, part)
        arrived(sc, pair, b)
        if pair.stream:
            break                    # a stream needs one send: each recvfrom below takes a byte
    sc.recvfrom(b, 1 if pair.stream else 10, DW, True, 4)
    sc.recvfrom(b, 1 if pair.stream else 10, DW, True, -1)
    sc.recvfrom(b, 10, DW, True, 0)


@pytest.mark.parametrize("pair", PAIRS, ids=ids(PAIRS))
def test_sendto_on_connected(sc, pair):
    """sendto() with a destination on a connected socket: TCP ignores the address (the bytes
    reach the peer), UDP and a unix datagram socket send that datagram to the socket named
    and stay connected, a unix stream socket answers EISCONN, a seqpacket socket ignores the
    address. A send without an address then still reaches the peer."""
    from .kinds import unique
    a, b = connected(sc, pair)
    third = None
    if pair.records and not pair.type == L.SOCK_SEQPACKET:
        third, where = endpoints.bound(sc, pair.kind if pair.is_inet else
                                       Kind("unix-abstract", L.SOCK_DGRAM))
    elif pair.is_inet:
        where = loopback_of(pair.family, 9)
    else:
        where = SockaddrUn(abstract=unique("nowhere").encode())
    sc.sendto(a, b"there", 0, where)
    if third is not None:
        arrived(sc, pair, third)
        sc.recvfrom(third, 10, DW, True)
    sc.send(a, b"peer")
    arrived(sc, pair, b, 9 if pair.stream else 1)
    sc.recv(b, 20, DW)
    if not pair.is_inet:
        sc.recv(b, 20, DW)


# --------------------------------------------------------------------------- errno matrix

def _udp(sc, family=L.AF_INET, bound=False):
    fd = sc.socket(family, L.SOCK_DGRAM | CX, 0).ret
    if bound:
        sc.bind(fd, endpoints.loopback(Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_DGRAM)))
    return fd


def _receiver(sc, family):
    fd = _udp(sc, family, bound=True)
    return fd, endpoints.local(sc, fd)


def _unix(sc, type_):
    return sc.socket(L.AF_UNIX, type_ | CX, 0).ret


def rows_udp(sc, family):
    fd = _udp(sc, family)
    r, where = _receiver(sc, family)
    big, big_where = _receiver(sc, family)
    unix_addr = SockaddrUn(path=b"/nonexistent")
    bad_family = SockaddrIn6(1, "::1") if family == L.AF_INET else SockaddrUn(abstract=b"x")
    short = SockaddrRaw(where.encode()[:15 if family == L.AF_INET else 23])
    return fd, r, where, [
        ("no-destination", lambda: sc.send(fd, b"x")),
        ("oob", lambda: sc.sendto(fd, b"x", L.MSG_OOB, where)),
        ("port-0", lambda: sc.sendto(fd, b"x", 0, endpoints.loopback(
            Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_DGRAM), 0))),
        ("addrlen-short", lambda: sc.sendto(fd, b"x", 0, short)),
        ("addrlen-129", lambda: sc.sendto(fd, b"x", 0, where, 129)),
        ("addrlen-negative", lambda: sc.sendto(fd, b"x", 0, where, -1)),
        ("wrong-family", lambda: sc.sendto(fd, b"x", 0, bad_family, 28)),
        ("unspec-family", lambda: sc.sendto(fd, b"u", 0, SockaddrRaw(b"\0\0" + where.encode()[2:]))),
        ("addr-fault", lambda: sc.sendto(fd, b"x", 0, sc.fault(), 16)),
        ("data-fault", lambda: sc.sendto(fd, sc.fault(), 0, where, length=4)),
        ("over-64k", lambda: sc.sendto(fd, b"\0" * 65536, 0, bad_family, 28)),
        ("max-payload", lambda: sc.sendto(fd, b"m" * (65507 if family == L.AF_INET else 65527), 0, big_where)),
        ("max-payload-plus-1", lambda: sc.sendto(fd, b"m" * (65508 if family == L.AF_INET else 65528), 0, big_where)),
        ("zero-length-name-is-a-name", lambda: sc.sendto(fd, b"x", 0, where, 0)),
    ], unix_addr


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_udp_send_errors(sc, family):
    """udp_sendmsg()/udpv6_sendmsg(): EDESTADDRREQ, MSG_OOB (EOPNOTSUPP for IPv4, ignored by
    IPv6), the address checks (EINVAL/EAFNOSUPPORT), the size limits (65507/65527 bytes of
    payload; more than 65535 refused first for IPv4), EFAULT; the unbound socket is given a
    port by the first send even when it fails. A receive ignores MSG_OOB."""
    fd, r, where, rows, _ = rows_udp(sc, family)
    for label, call in rows:
        with row(label):
            call()
    arrived(sc, BY_ID["udp-connected"], r)
    sc.recvfrom(r, 70000, DW | L.MSG_OOB, True)
    sc.recvfrom(r, 70000, DW, True)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_udp_no_route(sc, profile, family):
    """A destination off loopback has no route in the private network namespace."""
    endpoints.needs_private_netns(profile, "the routes of the private namespace")
    fd = _udp(sc, family)
    far = SockaddrIn(9, "192.0.2.1") if family == L.AF_INET else SockaddrIn6(9, "2001:db8::1")
    sc.sendto(fd, b"x", 0, far)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_udp_v4_destinations(sc, family):
    """An IPv6 socket sends to a sockaddr_in or a v4-mapped address over IPv4 (where MSG_OOB is
    refused); an IPv4 receiver sees the datagram from 127.0.0.1, an IPv6 one from
    ::ffff:127.0.0.1."""
    r4, where4 = _receiver(sc, L.AF_INET)
    fd = _udp(sc, L.AF_INET6)
    sc.sendto(fd, b"v4", 0, where4)
    sc.sendto(fd, b"mapped", 0, SockaddrIn6(where4.port, "::ffff:127.0.0.1"))
    sc.sendto(fd, b"oob", L.MSG_OOB, SockaddrIn6(where4.port, "::ffff:127.0.0.1"))
    for _ in range(2):
        arrived(sc, BY_ID["udp-connected"], r4)
        sc.recvfrom(r4, 10, DW, True)
    r6 = sc.socket(L.AF_INET6, L.SOCK_DGRAM | CX, 0).ret
    sc.bind(r6, SockaddrIn6(0, "::"))
    port = endpoints.local(sc, r6).port
    s4 = _udp(sc, L.AF_INET)
    sc.sendto(s4, b"to-v6", 0, SockaddrIn(port, "127.0.0.1"))
    arrived(sc, BY_ID["udp6-connected"], r6)
    sc.recvfrom(r6, 10, DW, True)


ERRORS = [
    # (id, setup, call): setup returns the fds the call uses
    ("tcp-send-unconnected", "tcp", lambda sc, fd: sc.send(fd, b"x", L.MSG_NOSIGNAL)),
    ("tcp-sendto-unconnected-address-ignored", "tcp",
     lambda sc, fd: sc.sendto(fd, b"x", L.MSG_NOSIGNAL, SockaddrIn(1, "127.0.0.1"))),
    ("tcp-recv-unconnected", "tcp", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("tcp-recv-listener", "tcp-listener", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("tcp-send-listener", "tcp-listener", lambda sc, fd: sc.send(fd, b"x", L.MSG_NOSIGNAL)),
    ("tcp-recv-oob-nothing", "tcp", lambda sc, fd: sc.recv(fd, 10, L.MSG_OOB)),
    ("unix-stream-send-unconnected", "unix-stream", lambda sc, fd: sc.send(fd, b"x")),
    ("unix-stream-recv-unconnected", "unix-stream", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("unix-stream-sendto-unconnected", "unix-stream",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=b"nowhere"))),
    ("unix-stream-oob-empty", "unix-stream-pair", lambda sc, fd: sc.send(fd, b"", L.MSG_OOB)),
    ("unix-stream-sendto-connected", "unix-stream-pair",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=b"nowhere"))),
    ("unix-stream-recv-listener", "unix-stream-listener", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("unix-dgram-send-unconnected", "unix-dgram", lambda sc, fd: sc.send(fd, b"x")),
    ("unix-dgram-recv-empty", "unix-dgram", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("unix-dgram-sendto-enoent", "unix-dgram",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(path=f"/tmp/{unique('absent')}".encode()))),
    ("unix-dgram-sendto-abstract-refused", "unix-dgram",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=unique("absent").encode()))),
    ("unix-dgram-sendto-addrlen-2", "unix-dgram",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=b"a"), 2)),
    ("unix-dgram-sendto-family", "unix-dgram",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrIn(1, "127.0.0.1"))),
    ("unix-dgram-sendto-fault-before-lookup", "unix-dgram",
     lambda sc, fd: sc.sendto(fd, sc.fault(), 0, SockaddrUn(abstract=b"nowhere"), length=1)),
    ("unix-dgram-oob", "unix-dgram-pair", lambda sc, fd: sc.send(fd, b"x", L.MSG_OOB)),
    ("unix-dgram-recv-oob", "unix-dgram-pair", lambda sc, fd: sc.recv(fd, 1, L.MSG_OOB)),
    ("unix-seqpacket-send-unconnected", "unix-seqpacket", lambda sc, fd: sc.send(fd, b"x")),
    ("unix-seqpacket-recv-unconnected", "unix-seqpacket", lambda sc, fd: sc.recv(fd, 10, DW)),
    ("unix-seqpacket-oob", "unix-seqpacket-pair", lambda sc, fd: sc.send(fd, b"x", L.MSG_OOB)),
    ("unix-seqpacket-recv-oob", "unix-seqpacket-pair", lambda sc, fd: sc.recv(fd, 1, L.MSG_OOB)),
    ("unix-seqpacket-sendto-address-ignored", "unix-seqpacket-pair",
     lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=b"nowhere"))),
    ("closed-fd-send", "closed", lambda sc, fd: sc.send(fd, b"x")),
    ("closed-fd-recvfrom", "closed", lambda sc, fd: sc.recvfrom(fd, 10, 0, True)),
    ("not-a-socket-sendto", "file", lambda sc, fd: sc.sendto(fd, b"x", 0, SockaddrUn(abstract=b"a"))),
    ("not-a-socket-recv", "file", lambda sc, fd: sc.recv(fd, 10)),
]


def _setup(sc, what: str) -> int:
    import os
    if what == "tcp":
        return sc.socket(L.AF_INET, L.SOCK_STREAM | CX, 0).ret
    if what == "tcp-listener":
        return endpoints.listener(sc, Kind("inet", L.SOCK_STREAM))[0]
    if what == "unix-stream-listener":
        return endpoints.listener(sc, Kind("unix-abstract", L.SOCK_STREAM))[0]
    if what.endswith("-pair"):
        type_ = {"unix-stream-pair": L.SOCK_STREAM, "unix-dgram-pair": L.SOCK_DGRAM,
                 "unix-seqpacket-pair": L.SOCK_SEQPACKET}[what]
        return sc.socketpair(L.AF_UNIX, type_ | CX, 0).out["fds"][0]
    if what.startswith("unix-"):
        return _unix(sc, {"unix-stream": L.SOCK_STREAM, "unix-dgram": L.SOCK_DGRAM,
                          "unix-seqpacket": L.SOCK_SEQPACKET}[what])
    if what == "closed":
        return 32767
    fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    sc.adopt(fd, "/dev/null")
    return fd


@pytest.mark.parametrize("setup,call", [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS])
def test_errors(sc, setup, call):
    """One row of the errno matrix (see the id); the rule that answers is in the report."""
    fd = _setup(sc, setup)
    call(sc, fd)
    if setup == "file":
        sc.close(fd)


# --------------------------------------------------------------------------- EAGAIN

@pytest.mark.parametrize("pair", ONE_EACH, ids=ids(ONE_EACH))
def test_nothing_queued(sc, pair):
    """Nothing queued: EAGAIN with MSG_DONTWAIT, and with O_NONBLOCK on the file and no flag."""
    a, b = connected(sc, pair, flags=CX | L.SOCK_NONBLOCK)
    sc.recv(b, 10, DW)
    sc.recv(b, 10)
    sc.recvfrom(a, 10, 0, True)


def test_unix_dgram_queue_full(sc, profile):
    """A receiver not connected back takes net.unix.max_dgram_qlen + 1 datagrams; the next
    non-blocking send answers EAGAIN (the connected peer of a socketpair has no such limit). A
    socket connected to that full receiver is not writable (poll) and its send answers EAGAIN
    until the receiver reads."""
    qlen = profile.sysctl_int("net.unix.max_dgram_qlen", 10)
    if qlen > 64:
        pytest.skip(f"net.unix.max_dgram_qlen is {qlen}")
    r, where = endpoints.bound(sc, Kind("unix-abstract", L.SOCK_DGRAM))
    s = _unix(sc, L.SOCK_DGRAM)
    for i in range(qlen + 1):
        sc.sendto(s, b"%d" % i, DW, where)
    sc.sendto(s, b"full", DW, where)
    sc.recv(r, 10, DW)
    sc.sendto(s, b"room", DW, where)
    c = _unix(sc, L.SOCK_DGRAM)
    sc.connect(c, where)                          # the queue is full: c is not writable
    sc.send(c, b"c", DW)
    sc.recv(r, 10, DW)
    sc.send(c, b"c", DW)


def test_tcp_send_while_connecting(sc):
    """A non-blocking send while the SYN is unanswered (the listener's queue is full)."""
    lfd, addr = endpoints.listener(sc, Kind("inet", L.SOCK_STREAM), backlog=0)
    first = sc.socket(L.AF_INET, L.SOCK_STREAM | CX | L.SOCK_NONBLOCK, 0).ret
    sc.connect(first, addr)
    pending = sc.socket(L.AF_INET, L.SOCK_STREAM | CX | L.SOCK_NONBLOCK, 0).ret
    sc.connect(pending, addr)
    sc.send(pending, b"x")
    sc.recv(pending, 10)


def test_unix_dgram_emsgsize(sc):
    """A unix datagram may hold SO_SNDBUF - 32 bytes (the doubled value): one more is
    EMSGSIZE."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | CX, 0).out["fds"]
    sc.setsockopt(a, L.SOL_SOCKET, L.SO_SNDBUF, 10000)
    sc.send(a, b"z" * 19969)
    sc.send(a, b"z" * 19968)
    sc.recv(b, 20000, DW)
    sc.send(b, b"q" * 19969)
    sc.recv(a, 10, DW | L.MSG_TRUNC)


# --------------------------------------------------------------------------- shutdown, close

@pytest.mark.parametrize("pair", PAIRS, ids=ids(PAIRS))
def test_after_shutdown(sc, pair):
    """After shutdown(SHUT_WR) a send fails with EPIPE (SIGPIPE only for streams: CPython
    ignores it here); after shutdown(SHUT_RD) queued data is still read, then 0 on a stream or
    seqpacket socket, EAGAIN on a non-blocking datagram receive (0 when it would wait)."""
    a, b = connected(sc, pair)
    sc.send(a, b"q")
    arrived(sc, pair, b)
    sc.shutdown(b, L.SHUT_RD)
    sc.recv(b, 10, DW)
    sc.recv(b, 10, DW)
    if not pair.stream:
        sc.recv(b, 10)
    sc.shutdown(a, L.SHUT_WR)
    sc.send(a, b"x")
    sc.send(a, b"x", L.MSG_NOSIGNAL)


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.how != "connected"], ids=lambda p: p.id)
def test_peer_closed(sc, pair):
    """The peer is closed with nothing unread: a stream or seqpacket receive returns 0; a send
    then fails (TCP after one successful send answered by a reset: EPIPE; unix stream and
    seqpacket EPIPE at once; a unix datagram socket ECONNREFUSED, then ENOTCONN)."""
    a, b = connected(sc, pair)
    sc.close(b)
    if pair.is_inet:
        sc.wait(a, POLLIN)
    sc.recv(a, 10, DW)
    sc.send(a, b"x", L.MSG_NOSIGNAL)
    if pair.is_inet:
        sc.wait(a, POLLERR)
    sc.send(a, b"x", L.MSG_NOSIGNAL)
    sc.recv(a, 10, DW)


def peer_closed_with_unread_data(sc, pair) -> int:
    """A connected pair, data sent both ways, then one end closed with the data sent to it
    unread (a reset: TCP's RST, AF_UNIX's sk_err); returns the other end."""
    a, b = connected(sc, pair)
    sc.send(b, b"from-b")
    sc.send(a, b"unread")
    arrived(sc, pair, a)
    arrived(sc, pair, b)
    sc.close(b)
    if pair.is_inet:
        sc.wait(a, POLLERR)
    return a


@pytest.mark.parametrize("pair", [BY_ID["tcp-accepted"], BY_ID["tcp6-accepted"],
                                  BY_ID["unix-stream-socketpair"],
                                  BY_ID["unix-seqpacket-accepted"]], ids=lambda p: p.id)
def test_peer_closed_with_unread_data(sc, pair):
    """The peer is closed while data it never read is queued: the data it sent is still read
    here first, then ECONNRESET once, then 0 (TCP: the reset; AF_UNIX: sk_err)."""
    a = peer_closed_with_unread_data(sc, pair)
    sc.recv(a, 100, DW)
    sc.recv(a, 100, DW)
    sc.recv(a, 100, DW)


@pytest.mark.parametrize("flags", [L.MSG_WAITALL, L.MSG_WAITALL | L.MSG_PEEK],
                         ids=["waitall", "waitall-peek"])
@pytest.mark.parametrize("pair", [BY_ID["tcp-accepted"], BY_ID["tcp6-accepted"],
                                  BY_ID["unix-stream-socketpair"]], ids=lambda p: p.id)
def test_peer_closed_with_unread_data_read_wanting_more(sc, pair, flags):
    """As above, but the first read wants more than is queued (MSG_WAITALL): AF_UNIX consumes
    the pending error after copying the data and returns the data, so the error is never
    reported (recv.unix_sk_err_unreported), unless it only peeked (the peek stops at the last
    skb first); TCP stops at the error and reports it next."""
    a = peer_closed_with_unread_data(sc, pair)
    sc.recv(a, 100, DW | flags)
    sc.recv(a, 100, DW)
    sc.recv(a, 100, DW)


def test_seqpacket_send_after_reset(sc):
    """A seqpacket peer closed with data it never read: the next send reports ECONNRESET (the
    pending error comes first), then EPIPE."""
    a, b = connected(sc, BY_ID["unix-seqpacket-socketpair"])
    sc.send(a, b"unread")
    sc.close(b)
    sc.send(a, b"x")
    sc.send(a, b"x")


@pytest.mark.parametrize("what", ["zero-length-seqpacket", "two-zero-length-seqpacket",
                                  "read-oob-byte-stream", "read-oob-byte-then-data-stream"])
def test_close_with_empty_head(sc, what):
    """The closed end's receive queue holds an skb with nothing left to read at its head (a
    zero-length seqpacket message, the emptied skb of an out-of-band byte already read): whether
    the peer gets ECONNRESET depends on the kernel (close.unix_reset_skips_empty_head) and on
    what is queued behind it."""
    seqpacket = what.endswith("seqpacket")
    a, b = connected(sc, BY_ID["unix-seqpacket-socketpair" if seqpacket else
                               "unix-stream-socketpair"])
    if seqpacket:
        for _ in range(2 if what.startswith("two") else 1):
            sc.send(a, b"")
    else:
        sc.send(a, b"x", L.MSG_OOB)
        sc.recv(b, 1, L.MSG_OOB | DW)
        if what.endswith("then-data-stream"):
            sc.send(a, b"y")
    sc.close(b)
    sc.getsockopt(a, L.SOL_SOCKET, L.SO_ERROR)
    sc.recv(a, 10, DW)


# --------------------------------------------------------------------------- SIGPIPE

SIGPIPE = 13


@pytest.mark.parametrize("pair", [BY_ID["tcp-accepted"], BY_ID["unix-stream-socketpair"],
                                  BY_ID["unix-seqpacket-socketpair"]], ids=lambda p: p.id)
def test_sigpipe(sc, pair):
    """EPIPE on a stream send raises SIGPIPE unless MSG_NOSIGNAL; a seqpacket send's EPIPE
    raises none. Observed in a child with SIGPIPE blocked: sigpending() shows it (the model
    predicts it after every call)."""
    a, b = connected(sc, pair)
    sc.shutdown(a, L.SHUT_WR)

    def body(s):
        s.block_signals(SIGPIPE)
        s.send(a, b"x", L.MSG_NOSIGNAL)
        s.send(a, b"x")
        s.send(a, b"y")
    sc.in_child(body)


def test_sigpipe_tcp_unconnected(sc):
    """A TCP socket never connected: EPIPE, and SIGPIPE."""
    fd = sc.socket(L.AF_INET6, L.SOCK_STREAM | CX, 0).ret

    def body(s):
        s.block_signals(SIGPIPE)
        s.send(fd, b"x")
    sc.in_child(body)


# --------------------------------------------------------------------------- ICMP errors

@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_udp_port_unreachable(sc, profile, family):
    """A connected UDP socket sending to a port nobody holds gets ICMP port unreachable back:
    ECONNREFUSED is its next send's (or receive's) answer, and SO_ERROR shows it until read;
    an unconnected sender sees nothing."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    kind = Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_DGRAM)
    probe, where = endpoints.bound(sc, kind)
    sc.close(probe)
    fd = _udp(sc, family)
    sc.connect(fd, where)
    sc.send(fd, b"1")
    sc.wait(fd, POLLERR)
    sc.send(fd, b"2")
    sc.send(fd, b"3")
    sc.wait(fd, POLLERR)
    sc.recv(fd, 10, DW)
    sc.send(fd, b"4")
    sc.wait(fd, POLLERR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    lone = _udp(sc, family)
    sc.sendto(lone, b"x", 0, where)
    sc.sendto(lone, b"x", 0, where)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["udp", "udp6"])
def test_udp_connected_port_zero(sc, profile, family):
    """A UDP socket connected to port 0 of loopback filters on the address only: a datagram it
    sends to its own address comes back to it, one from another socket on loopback reaches
    it, and one it sends to a port nobody holds brings ECONNREFUSED back."""
    endpoints.needs_private_netns(profile, "a port nobody holds")
    kind = Kind("inet" if family == L.AF_INET else "inet6", L.SOCK_DGRAM)
    probe, nobody = endpoints.bound(sc, kind)
    sc.close(probe)
    fd, own = _receiver(sc, family)
    zero = SockaddrIn(0, own.addr) if family == L.AF_INET else SockaddrIn6(0, own.addr)
    sc.connect(fd, zero)
    sc.sendto(fd, b"self", 0, own)
    arrived(sc, BY_ID["udp-connected"], fd)
    sc.recvfrom(fd, 10, DW, True)
    other = _udp(sc, family, bound=True)
    sc.sendto(other, b"other", 0, own)
    arrived(sc, BY_ID["udp-connected"], fd)
    sc.recvfrom(fd, 10, DW, True)
    sc.sendto(fd, b"lost", 0, nobody)
    sc.wait(fd, POLLERR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)


# --------------------------------------------------------------------------- out-of-band

def test_tcp_oob(sc):
    """TCP urgent data: the last byte of a MSG_OOB send is urgent; an ordinary read stops
    before it, recv(MSG_OOB) takes it once (then EINVAL), and a read at it skips it."""
    a, b = connected(sc, BY_ID["tcp-accepted"])
    sc.send(a, b"ab", L.MSG_OOB)
    sc.send(a, b"cd")
    sc.wait_sent(a)
    sc.recv(b, 10, DW)
    sc.recv(b, 10, L.MSG_OOB | L.MSG_PEEK)
    sc.recv(b, 10, L.MSG_OOB)
    sc.recv(b, 10, L.MSG_OOB)
    sc.recv(b, 10, DW)
    sc.send(a, b"", L.MSG_OOB)
    sc.send(a, b"e", L.MSG_OOB)
    sc.wait_sent(a)
    sc.recvmsg(b, [0], L.MSG_OOB)
    sc.recv(b, 10, DW)


def test_tcp_oob_inline(sc):
    """With SO_OOBINLINE the urgent byte stays in the stream and recv(MSG_OOB) is EINVAL."""
    a, b = connected(sc, BY_ID["tcp6-accepted"])
    sc.setsockopt(b, L.SOL_SOCKET, L.SO_OOBINLINE, 1)
    sc.send(a, b"xy", L.MSG_OOB)
    sc.wait_sent(a)
    sc.recv(b, 10, L.MSG_OOB)
    sc.recv(b, 10, DW)


UNIX_OOB = [
    # (id, program): a, b are the ends of a unix stream socketpair
    ("oob-then-data", [("send", "a", b"hello", L.MSG_OOB), ("send", "a", b"world"),
                       ("recv", "b", 10, DW), ("recv", "b", 1, L.MSG_OOB),
                       ("recv", "b", 10, DW), ("recv", "b", 10, L.MSG_OOB)]),
    ("peek-stops-at-read-oob", [("send", "a", b"hello", L.MSG_OOB), ("send", "a", b"world"),
                                ("recv", "b", 1, L.MSG_OOB), ("recv", "b", 9, L.MSG_PEEK | DW),
                                ("recv", "b", 9, DW), ("recv", "b", 9, DW)]),
    ("read-oob-at-head", [("send", "a", b"x", L.MSG_OOB), ("recv", "b", 1, L.MSG_OOB),
                          ("send", "a", b"y"), ("recv", "b", 10, DW), ("recv", "b", 10, DW)]),
    ("oob-dropped-by-read", [("send", "a", b"x", L.MSG_OOB), ("recv", "b", 10, DW),
                             ("recv", "b", 10, L.MSG_OOB | DW)]),
    ("second-oob-replaces", [("send", "a", b"x", L.MSG_OOB), ("send", "a", b"y", L.MSG_OOB),
                             ("recv", "b", 10, L.MSG_OOB), ("recv", "b", 10, DW)]),
    ("peek-oob-then-take", [("send", "a", b"ab", L.MSG_OOB), ("send", "a", b"cd"),
                            ("recv", "b", 10, DW), ("recv", "b", 10, L.MSG_PEEK | DW),
                            ("recv", "b", 10, L.MSG_OOB | L.MSG_PEEK),
                            ("recv", "b", 10, L.MSG_OOB), ("recv", "b", 10, DW)]),
    ("zero-length-buffer", [("send", "a", b"z", L.MSG_OOB), ("recvmsg", "b", [0], L.MSG_OOB),
                            ("recv", "b", 10, L.MSG_OOB | DW)]),
    ("inline", [("setsockopt", "b", L.SOL_SOCKET, L.SO_OOBINLINE, 1),
                ("send", "a", b"ab", L.MSG_OOB), ("send", "a", b"cd"),
                ("recv", "b", 10, L.MSG_OOB | DW), ("recv", "b", 10, DW), ("recv", "b", 10, DW)]),
]


@pytest.mark.parametrize("program", [r[1] for r in UNIX_OOB], ids=[r[0] for r in UNIX_OOB])
def test_unix_stream_oob(sc, profile, program):
    """AF_UNIX stream MSG_OOB (CONFIG_AF_UNIX_OOB): the last byte of the send is out of band;
    where the handling of a read out-of-band byte changed (6.10) the model has one rule per
    range. Without CONFIG_AF_UNIX_OOB every MSG_OOB call is refused, and the rest of the
    program reads the data as ordinary bytes."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | CX, 0).out["fds"]
    ends = {"a": a, "b": b}
    for step, (name, end, *args) in enumerate(program):
        with row(f"step {step}"):
            getattr(sc, name)(ends[end], *args)


# --------------------------------------------------------------------------- EFAULT

@pytest.mark.parametrize("pair", ONE_EACH, ids=ids(ONE_EACH))
def test_receive_fault(sc, pair):
    """The receive buffer cannot be written: EFAULT; a datagram is lost with it, a stream's
    bytes stay queued (MSG_PEEK leaves a datagram too)."""
    a, b = connected(sc, pair)
    sc.send(a, b"first")
    sc.send(a, b"second")
    arrived(sc, pair, b, 11 if pair.stream else 1)
    sc.recvfrom(b, 10, DW | L.MSG_PEEK, buf=sc.fault())
    sc.recvfrom(b, 10, DW, buf=sc.fault())
    arrived(sc, pair, b)
    sc.recv(b, 100, DW)


@pytest.mark.parametrize("pair", ONE_EACH, ids=ids(ONE_EACH))
def test_send_fault(sc, pair):
    """The data cannot be read: EFAULT and nothing is sent."""
    a, b = connected(sc, pair)
    sc.send(a, sc.fault(), 0, length=3)
    sc.send(a, b"ok")
    arrived(sc, pair, b)
    sc.recv(b, 10, DW)
