"""accept(2) / accept4(2): who may accept (EINVAL, EOPNOTSUPP), an empty queue (EAGAIN), the
order of the argument checks (EBADF, EINVAL flags, EMFILE, ENOTSOCK), accept4's flags on the
new descriptor only, the peer address and its length (truncation, NULL, EFAULT and EINVAL
after the connection was taken), FIFO order, a connection whose client already left."""
from __future__ import annotations

import os

import pytest

from harness.abi import linux as L

from .endpoints import bound, connected, listener, open_sock, row
from .kinds import ALL, CONNECTION_ORIENTED, ids

NB = L.SOCK_CLOEXEC | L.SOCK_NONBLOCK
FLAGS = [("0", 0), ("nonblock", L.SOCK_NONBLOCK), ("cloexec", L.SOCK_CLOEXEC),
         ("nonblock-cloexec", L.SOCK_NONBLOCK | L.SOCK_CLOEXEC)]


def _queue(sc, kind, lfd, addr, n: int) -> list[int]:
    clients = []
    for _ in range(n):
        fd = open_sock(sc, kind)
        sc.connect(fd, addr)
        clients.append(fd)
    return clients


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_accept_not_listening(sc, kind):
    """accept() on a socket that does not listen: stream/seqpacket EINVAL, datagram EOPNOTSUPP
    (sock_no_accept); unbound, bound, and (stream) connected."""
    fd = open_sock(sc, kind, NB)
    sc.accept(fd)
    sc.bind(fd, kind.address())
    sc.accept4(fd, L.SOCK_NONBLOCK)
    sc.close(fd)
    if kind in CONNECTION_ORIENTED:
        client, accepted, lfd = connected(sc, kind)
        sc.accept(client)
        sc.accept(accepted)
        for f in (client, accepted, lfd):
            sc.close(f)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_accept_flags(sc, kind):
    """accept4's SOCK_NONBLOCK/SOCK_CLOEXEC land on the new descriptor (not inherited from the
    listener, which is non-blocking here); other bits are EINVAL before anything is taken;
    accept() is accept4(..., 0). The order is FIFO; an empty queue answers EAGAIN."""
    lfd, addr = listener(sc, kind)
    clients = _queue(sc, kind, lfd, addr, len(FLAGS) + 1)
    sc.accept4(lfd, 0x1234)
    sc.accept4(lfd, L.SOCK_NONBLOCK | 1)
    for label, flags in FLAGS:
        with row(label):
            sc.close(sc.accept4(lfd, flags).ret)
    sc.close(sc.accept(lfd).ret)
    sc.accept(lfd)
    sc.accept4(lfd, L.SOCK_CLOEXEC)
    for fd in clients + [lfd]:
        sc.close(fd)


# (id, addr, addrlen): how the peer address is asked for
ADDR_ROWS = [
    ("addr-null", False, None),
    ("addrlen-0", True, 0),
    ("addrlen-4-truncated", True, 4),
    ("addrlen-full", True, None),
    ("addrlen-200", True, 200),
    ("addrlen-negative", True, -1),
    ("addr-fault", "fault", 16),
    ("addrlen-ptr-fault", True, "fault"),
]


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_accept_peer_address(sc, kind):
    """The peer's address is copied out truncated to *addrlen, with the full length written
    back; a NULL address copies nothing. A negative length (EINVAL) or an unwritable buffer
    (EFAULT) fails after the connection was taken: it is gone."""
    lfd, addr = listener(sc, kind)
    clients = _queue(sc, kind, lfd, addr, len(ADDR_ROWS) + 1)
    for label, ptr, addrlen in ADDR_ROWS:
        with row(label):
            ptr = sc.fault() if ptr == "fault" else ptr
            addrlen = sc.fault() if addrlen == "fault" else addrlen
            r = sc.accept4(lfd, L.SOCK_CLOEXEC, ptr, addrlen)
            if r.ok:
                sc.close(r.ret)
    sc.close(sc.accept4(lfd, L.SOCK_CLOEXEC).ret)    # the one left: the failed ones were taken
    sc.accept4(lfd, L.SOCK_CLOEXEC)
    for fd in clients + [lfd]:
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_accept_client_gone(sc, kind):
    """A connection whose client closed (or shut down) before accept() is still handed out;
    its peer address is the client's."""
    lfd, addr = listener(sc, kind)
    left, shut = _queue(sc, kind, lfd, addr, 2)
    sc.close(left)
    sc.shutdown(shut, L.SHUT_RDWR)
    for _ in range(2):
        sc.close(sc.accept4(lfd, L.SOCK_CLOEXEC).ret)
    sc.close(shut)
    sc.close(lfd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_accept_bound_client(sc, kind):
    """A client that bound a name first is reported by that name."""
    lfd, addr = listener(sc, kind)
    client, _ = bound(sc, kind)
    sc.connect(client, addr)
    sc.close(sc.accept4(lfd, L.SOCK_CLOEXEC).ret)
    sc.close(client)
    sc.close(lfd)


def test_accept_argument_order(sc):
    """EBADF comes first, then accept4's flags (EINVAL, even on a non-socket), then ENOTSOCK."""
    lfd, _ = listener(sc, CONNECTION_ORIENTED[0])
    free = sc.m.fds.lowest_free(100)
    sc.accept4(free, 0x1234)
    sc.accept4(-1, 0)
    r, w = os.pipe()
    try:
        sc.adopt(r, f"pipe:[{os.fstat(r).st_ino}]")
        sc.accept4(r, 0x1234)
        sc.accept4(r, 0)
        sc.accept(r)
    finally:
        sc.m.fds.remove(r)
        os.close(r)
        os.close(w)
    sc.close(lfd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_accept_emfile(sc, kind):
    """With no descriptor free, accept4 fails with EMFILE before dequeuing (the connection
    stays); EBADF and a bad flag still come first."""
    lfd, addr = listener(sc, kind)
    client = open_sock(sc, kind)
    sc.connect(client, addr)
    limit = sc.m.fds.lowest_free() + 0

    def body(s):
        s.accept4(lfd, 0)                         # EMFILE: the queue keeps the connection
        s.accept4(lfd, 0x1234)                    # EINVAL first
        s.accept4(limit + 5, 0)                   # EBADF first
    sc.in_child(body, rlimit_nofile=limit)
    sc.close(sc.accept4(lfd, L.SOCK_CLOEXEC).ret)
    sc.close(client)
    sc.close(lfd)


@pytest.mark.parametrize("kind", [k for k in CONNECTION_ORIENTED if not k.is_inet],
                         ids=ids([k for k in CONNECTION_ORIENTED if not k.is_inet]))
def test_accept_unix_blocking_listener_shut_down(sc, kind):
    """A blocking AF_UNIX listener shut down for reading, with nothing queued, answers EINVAL
    at once instead of waiting."""
    lfd, _ = listener(sc, kind, nonblock=False)
    sc.shutdown(lfd, L.SHUT_RD)
    sc.accept(lfd)
    sc.close(lfd)


@pytest.mark.parametrize("kind", [k for k in CONNECTION_ORIENTED if k.is_inet],
                         ids=ids([k for k in CONNECTION_ORIENTED if k.is_inet]))
def test_accept_after_listen_stopped(sc, kind):
    """A TCP listener shut down for reading stops listening: accept is EINVAL, and the clients
    it had queued were reset (SO_ERROR ECONNRESET, no peer)."""
    lfd, addr = listener(sc, kind)
    client = open_sock(sc, kind)
    sc.connect(client, addr)
    sc.shutdown(lfd, L.SHUT_RD)
    sc.accept(lfd)
    sc.getpeername(client)
    sc.close(client)
    sc.close(lfd)
