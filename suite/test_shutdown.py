"""shutdown(2): the how argument (EINVAL outside SHUT_RD..SHUT_RDWR, INT_MAX included); inet
sockets that are not connected (ENOTCONN, yet the bits are kept); TCP's FIN exchange on
loopback (the peer reaches CLOSE_WAIT; both shut: both closed, getpeername ENOTCONN); a
listener (SHUT_WR: nothing; SHUT_RD: it stops listening and resets its queue); a connect still
waiting for its SYN-ACK (abandoned, SO_ERROR ECONNRESET); AF_UNIX (always 0, mirrored on a
stream peer); what close does to the other end; each half shut on one end of every kind of
connected pair, and what both ends can still send and receive (EPIPE, SIGPIPE, EOF, a reset)."""
from __future__ import annotations

import pytest

from harness.abi import linux as L

from .endpoints import (INT_MAX, INT_MIN, connected, dgram_pair, listener, open_sock, row,
                        unspec)
from .kinds import ALL, CONNECTION_ORIENTED, DATAGRAM, ids

HOWS = [("shut-rd", L.SHUT_RD), ("shut-wr", L.SHUT_WR), ("shut-rdwr", L.SHUT_RDWR),
        ("minus-1", -1), ("3", 3), ("int-max", INT_MAX), ("int-min", INT_MIN)]


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_shutdown_unconnected(sc, kind):
    """Every how on a fresh socket, then on a bound one: inet answers ENOTCONN (recording the
    bits) for a valid how, AF_UNIX 0; an invalid how is EINVAL for both."""
    fd = open_sock(sc, kind)
    for label, how in HOWS:
        with row(label):
            sc.shutdown(fd, how)
    sc.bind(fd, kind.address())
    sc.shutdown(fd, L.SHUT_RDWR)
    sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_shutdown_connected(sc, kind):
    """SHUT_WR on one end, then on the other: TCP moves both to CLOSE (getpeername ENOTCONN,
    shutdown again ENOTCONN); AF_UNIX stays connected and answers 0."""
    client, accepted, lfd = connected(sc, kind)
    sc.shutdown(client, L.SHUT_WR)
    sc.getpeername(accepted)
    sc.shutdown(accepted, L.SHUT_WR)
    sc.getpeername(client)
    sc.shutdown(client, L.SHUT_RD)
    sc.shutdown(accepted, L.SHUT_RDWR)
    for fd in (client, accepted, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_shutdown_read_only(sc, kind):
    """SHUT_RD sends nothing: both ends stay connected."""
    client, accepted, lfd = connected(sc, kind)
    for how in (L.SHUT_RD, L.SHUT_RD):
        sc.shutdown(client, how)
    sc.getpeername(accepted)
    sc.getpeername(client)
    for fd in (client, accepted, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_shutdown_listener(sc, kind):
    """SHUT_WR on a listener does nothing; SHUT_RD on a TCP listener stops it (its queued
    connection is reset: the client's SO_ERROR is ECONNRESET, it has no peer; the listener
    may listen again); on an AF_UNIX listener it records RCV_SHUTDOWN (new connects are
    refused)."""
    lfd, addr = listener(sc, kind)
    client = open_sock(sc, kind)
    sc.connect(client, addr)
    sc.shutdown(lfd, L.SHUT_WR)
    sc.getsockname(lfd)
    sc.shutdown(lfd, L.SHUT_RD)
    sc.getpeername(client)
    sc.listen(lfd, 2)
    for fd in (client, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", [k for k in CONNECTION_ORIENTED if k.is_inet],
                         ids=ids([k for k in CONNECTION_ORIENTED if k.is_inet]))
def test_shutdown_syn_sent(sc, kind):
    """A connect still waiting for the SYN-ACK (full backlog) is abandoned by shutdown(): 0,
    SO_ERROR ECONNRESET, unconnected again."""
    lfd, addr = listener(sc, kind, backlog=0)
    first = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.connect(first, addr)
    pending = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.connect(pending, addr)
    sc.shutdown(pending, L.SHUT_WR)
    sc.getpeername(pending)
    sc.shutdown(pending, L.SHUT_WR)
    for fd in (pending, first, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", DATAGRAM, ids=ids(DATAGRAM))
def test_shutdown_datagram_connected(sc, kind):
    """A connected datagram socket shuts down with 0 (UDP has a peer; AF_UNIX always 0); after
    AF_UNSPEC a UDP socket answers ENOTCONN again."""
    a, b = dgram_pair(sc, kind)
    for how in (L.SHUT_RD, L.SHUT_WR, L.SHUT_RDWR):
        sc.shutdown(a, how)
    sc.connect(a, unspec())
    sc.shutdown(a, L.SHUT_RD)
    sc.close(a)
    sc.close(b)


# --------------------------------------------------------------------------- close (release)

@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_close_listener_with_queue(sc, kind):
    """Closing a listener with connections not yet accepted resets them: each client's SO_ERROR
    reads ECONNRESET; a TCP client loses its peer; an AF_UNIX client keeps the listener's name
    as peer; an AF_UNIX path stays taken (EADDRINUSE), a TCP port is free."""
    lfd, addr = listener(sc, kind)
    clients = [open_sock(sc, kind) for _ in range(2)]
    for fd in clients:
        sc.connect(fd, addr)
    sc.close(lfd)
    for fd in clients:
        sc.getpeername(fd)
    again = open_sock(sc, kind)
    sc.bind(again, addr)
    for fd in clients + [again]:
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_close_connected_end(sc, kind):
    """Closing one end: the TCP peer reaches CLOSE_WAIT (getpeername still works), closing the
    peer too then frees it; the AF_UNIX peer keeps the closed end's name. The closing TCP end
    lingers (FIN_WAIT2) holding its port."""
    client, accepted, lfd = connected(sc, kind)
    sc.close(accepted)
    sc.getpeername(client)
    sc.getsockname(client)
    sc.close(client)
    client, accepted, _ = _again(sc, kind, lfd)
    sc.close(client)
    sc.shutdown(accepted, L.SHUT_WR)
    sc.getpeername(accepted)
    sc.close(accepted)
    sc.close(lfd)


def _again(sc, kind, lfd):
    addr = sc.m.sock(lfd).local
    client = open_sock(sc, kind)
    sc.connect(client, addr)
    return client, sc.accept4(lfd, L.SOCK_CLOEXEC).ret, lfd


@pytest.mark.parametrize("kind", [k for k in CONNECTION_ORIENTED if k.is_inet],
                         ids=ids([k for k in CONNECTION_ORIENTED if k.is_inet]))
def test_close_keeps_port_bound(sc, kind):
    """The end that closes first lingers and keeps its port: binding that port is EADDRINUSE
    (with SO_REUSEADDR on both sides it is allowed); the end that closes second frees it."""
    lfd, addr = listener(sc, kind)
    client = open_sock(sc, kind)
    sc.setsockopt(client, L.SOL_SOCKET, L.SO_REUSEADDR, 1)
    sc.bind(client, kind.address())
    sc.connect(client, addr)
    accepted = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
    port_addr = sc.m.sock(client).local
    sc.close(client)
    plain = open_sock(sc, kind)
    sc.bind(plain, port_addr)
    sc.close(plain)
    reuse = open_sock(sc, kind)
    sc.setsockopt(reuse, L.SOL_SOCKET, L.SO_REUSEADDR, 1)
    sc.bind(reuse, port_addr)
    sc.close(reuse)
    for fd in (accepted, lfd):
        sc.close(fd)


# --------------------------------------------------------------------------- both ends

SIGPIPE = 13
DW = L.MSG_DONTWAIT
BOTH_ENDS = ["tcp-accepted", "tcp6-accepted", "unix-stream-socketpair",
             "unix-seqpacket-socketpair", "unix-dgram-socketpair", "udp-connected"]
HALVES = [("shut-rd", L.SHUT_RD), ("shut-wr", L.SHUT_WR), ("shut-rdwr", L.SHUT_RDWR)]


@pytest.mark.parametrize("pair_id", BOTH_ENDS)
def test_shutdown_both_ends(sc, pair_id):
    """Each half shut on one end ``a`` of a fresh connected pair, then what each end can still
    do, the checker comparing every socket's poll readiness (POLLIN, POLLOUT, POLLHUP,
    POLLRDHUP) after every call:

    - ``a`` sends: after SHUT_WR EPIPE, with SIGPIPE for a stream unless MSG_NOSIGNAL (in a
      forked child with SIGPIPE blocked: sigpending() shows it); after SHUT_RD alone it sends;
    - ``a`` receives without waiting: 0 once its receive side is shut (stream, seqpacket),
      EAGAIN for a datagram socket;
    - the peer ``b`` sends: TCP and UDP still deliver to a read-shut end (its data is read
      there), AF_UNIX refuses it with EPIPE (a stream or seqpacket peer had SEND_SHUTDOWN
      mirrored onto it, a datagram sender finds the receiver's RCV_SHUTDOWN);
    - ``b`` receives: what ``a`` sent, EOF (0) after a's SHUT_WR on a stream or seqpacket
      pair, EAGAIN on a datagram pair (nothing is mirrored there)."""
    from .pairs import BY_ID, POLLERR, arrived, connected
    pair = BY_ID[pair_id]
    for label, how in HALVES:
        with row(label):
            a, b = connected(sc, pair)
            sc.shutdown(a, how)
            if how != L.SHUT_RD:
                def own_send(s, a=a):
                    s.block_signals(SIGPIPE)
                    s.send(a, b"x")
                    s.send(a, b"x", L.MSG_NOSIGNAL)
                sc.in_child(own_send)
            elif sc.send(a, b"to-b", L.MSG_NOSIGNAL).ok:
                arrived(sc, pair, b, 4)
            sc.recv(a, 10, DW)
            if sc.send(b, b"to-a", L.MSG_NOSIGNAL).ok:
                if pair.is_inet and pair.stream and how == L.SHUT_RDWR:
                    sc.wait(a, POLLERR)         # the data is answered by a reset
                else:
                    arrived(sc, pair, a, 4)
            sc.recv(a, 10, DW)
            sc.recv(b, 10, DW)
            sc.recv(b, 10, DW)
            sc.close(a)
            sc.close(b)
