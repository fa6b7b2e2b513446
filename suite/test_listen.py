"""listen(2): the backlog clamp to net.core.somaxconn (default, 8 and 128 in the private
namespace; negative and huge backlogs; listen again), seen in TCP_INFO's tcpi_sacked and in
the accept queue's capacity (backlog N admits N + 1: TCP drops the next SYN, so a non-blocking
connect stays in progress; AF_UNIX answers EAGAIN); which sockets may listen; the implicit
bind of an unbound TCP listener."""
from __future__ import annotations

import pytest

from harness.abi import linux as L

from .endpoints import (INT_MAX, INT_MIN, bound, connected, dgram_pair, listener, local,
                        open_sock, row)
from .kinds import CONNECTION_ORIENTED, DATAGRAM, Kind, ids

INET_STREAM = [k for k in CONNECTION_ORIENTED if k.is_inet]
UNIX_CONN = [k for k in CONNECTION_ORIENTED if not k.is_inet]

BACKLOGS = [("-1", -1), ("int-min", INT_MIN), ("0", 0), ("1", 1), ("128", 128),
            ("65536", 65536), ("1<<20", 1 << 20), ("int-max", INT_MAX)]


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_backlog(sc, kind):
    """Any backlog is accepted; (unsigned)backlog > somaxconn becomes somaxconn, so a negative
    one does too (TCP shows the result as tcpi_sacked). Each row listens on a fresh socket."""
    fd, _ = bound(sc, kind)
    for label, backlog in BACKLOGS:
        with row(f"backlog={label}"):
            sc.listen(fd, backlog)
    sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_somaxconn(sc, kind):
    """With net.core.somaxconn lowered in the namespace to 8, then 128, every backlog above it
    (and every negative one) is clamped; listen() again applies the clamp in force."""
    fd, _ = bound(sc, kind)
    for somaxconn in (8, 128):
        sc.set_sysctl("net.core.somaxconn", somaxconn)
        for label, backlog in BACKLOGS + [("somaxconn", somaxconn), ("somaxconn+1", somaxconn + 1),
                                          ("somaxconn-1", somaxconn - 1)]:
            with row(f"somaxconn={somaxconn}-backlog={label}"):
                sc.listen(fd, backlog)
    sc.close(fd)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_listen_again_changes_backlog(sc, kind):
    """listen() on a listener only changes the backlog (tcpi_sacked follows)."""
    fd, _ = listener(sc, kind, backlog=5)
    for backlog in (1, 0, 200, -1, 5):
        sc.listen(fd, backlog)
    sc.close(fd)


@pytest.mark.parametrize("kind", DATAGRAM, ids=ids(DATAGRAM))
def test_listen_datagram(sc, kind):
    """Datagram sockets do not listen (sock_no_listen: EOPNOTSUPP): unbound, bound, connected."""
    fd = open_sock(sc, kind)
    sc.listen(fd, 5)
    sc.bind(fd, kind.address())
    sc.listen(fd, 5)
    sc.close(fd)
    a, b = dgram_pair(sc, kind)
    sc.listen(a, 1)
    sc.close(a)
    sc.close(b)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_who_may(sc, kind):
    """An unbound TCP socket listens on the wildcard address and an ephemeral port (at an odd
    offset); an unbound AF_UNIX socket cannot (EINVAL); a connected socket, either end, cannot
    (EINVAL)."""
    fd = open_sock(sc, kind)
    sc.listen(fd, 3)
    sc.close(fd)
    client, accepted, lfd = connected(sc, kind)
    sc.listen(client, 3)
    sc.listen(accepted, 3)
    for fd in (client, accepted, lfd):
        sc.close(fd)


def test_listen_socketpair(sc):
    """A socketpair end is connected: listen is EINVAL before and after it is bound."""
    r = sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)
    a, b = r.out["fds"]
    sc.listen(a, 1)
    sc.bind(a, Kind("unix-abstract", L.SOCK_STREAM).address())
    sc.listen(a, 1)
    sc.close(a)
    sc.close(b)


# --------------------------------------------------------------------------- queue capacity

def fill_queue(sc, kind: Kind, lfd: int, addr, expected: int) -> None:
    """Connect non-blocking clients until the listener refuses one; accept everything."""
    clients = []
    for _ in range(expected + 1):
        fd = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
        sc.connect(fd, addr)
        clients.append(fd)
    pending = clients[-1]
    sc.connect(pending, addr)                 # TCP: EALREADY (SYN unanswered); unix: EAGAIN
    sc.getsockname(lfd)                       # the listener's queue (tcpi_unacked) is probed
    sc.close(pending)                         # before a SYN retry could get in
    while True:
        r = sc.accept4(lfd, L.SOCK_CLOEXEC)
        if not r.ok:
            break                             # the queue is empty (EAGAIN), itself checked
        sc.close(r.ret)
    for fd in clients[:-1]:
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_queue_capacity(sc, kind):
    """backlog N holds N + 1 connections (sk_acceptq_is_full / unix_recvq_full: '>'), for
    backlog 0 and 2."""
    for backlog in (0, 2):
        with row(f"backlog={backlog}"):
            lfd, addr = listener(sc, kind, backlog)
            fill_queue(sc, kind, lfd, addr, backlog + 1)
            sc.close(lfd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_queue_capacity_somaxconn(sc, kind):
    """With somaxconn 8, listen(INT_MAX) holds 9 connections: the clamp, then N + 1."""
    sc.set_sysctl("net.core.somaxconn", 8)
    lfd, addr = listener(sc, kind, INT_MAX)
    fill_queue(sc, kind, lfd, addr, 9)
    sc.close(lfd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_listen_again_changes_capacity(sc, kind):
    """Raising the backlog of a full listener lets the next connection in."""
    lfd, addr = listener(sc, kind, 0)
    first = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.connect(first, addr)
    sc.listen(lfd, 1)
    second = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.connect(second, addr)
    sc.listen(lfd, 0)                          # lowering keeps what is queued
    for _ in range(3):
        r = sc.accept4(lfd, L.SOCK_CLOEXEC)
        if r.ok:
            sc.close(r.ret)
    for fd in (first, second, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_listen_reuseaddr_twice(sc, kind):
    """Two SO_REUSEADDR sockets bound to one port: one listens, the other gets EADDRINUSE; after
    the first closes, the second may listen."""
    a = open_sock(sc, kind)
    sc.setsockopt(a, L.SOL_SOCKET, L.SO_REUSEADDR, 1)
    sc.bind(a, kind.address())
    b = open_sock(sc, kind)
    sc.setsockopt(b, L.SOL_SOCKET, L.SO_REUSEADDR, 1)
    sc.bind(b, local(sc, a))
    sc.listen(a, 2)
    sc.listen(b, 2)
    sc.close(a)
    sc.listen(b, 2)
    sc.close(b)
