"""Model-only scenarios for poll() readiness (harness/model/poll.py) and the end-of-scenario
SO_ERROR expectation (harness/model/observe.py): the main states of each family, played on
the model as if the kernel answered with the model's outcome, and the bits the model predicts
for them (read from tcp_poll, datagram_poll/udp_poll, unix_poll, unix_dgram_poll)."""
from __future__ import annotations

import errno as E

from harness.abi import linux as L
from harness.model import observe, poll
from harness.model.poll import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP

from test_model_connections import Net, _lo

STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET


def ready(net: Net, fd: int) -> poll.Readiness:
    return poll.readiness(net.m, net.obj(fd))


def bits_of(net: Net, fd: int) -> int:
    r = ready(net, fd)
    assert not r.free, f"fd {fd}: {r} leaves bits open"
    return r.value


def names(net: Net, fd: int) -> set[str]:
    return {r.name for r in ready(net, fd).all_rules}


def tcp_pair(net: Net, family=L.AF_INET):
    """(client, accepted, listener) of a TCP connection on the model."""
    lfd = net.listener(family)
    c = net.new(family)
    net.call("connect", c, net.local(lfd))
    a = net.call("accept4", lfd, L.SOCK_CLOEXEC).ret.value
    return c, a, lfd


# --------------------------------------------------------------------------- TCP

def test_tcp_fresh_socket_is_writable_and_hung_up():
    """tcp_poll() on TCP_CLOSE: the connected branch runs (POLLOUT), and TCP_CLOSE is POLLHUP."""
    net = Net()
    fd = net.new()
    assert bits_of(net, fd) == POLLOUT | POLLHUP
    assert {"poll.tcp_hup", "poll.tcp_writable", "poll.inet_in_flight"} <= names(net, fd)


def test_tcp_listener_readable_only_with_a_connection_queued():
    net = Net()
    lfd = net.listener()
    assert bits_of(net, lfd) == 0
    c = net.new()
    net.call("connect", c, net.local(lfd))
    assert bits_of(net, lfd) == POLLIN
    assert names(net, lfd) >= {"poll.tcp_listen"}
    net.call("accept4", lfd, 0)
    assert bits_of(net, lfd) == 0


def test_tcp_connected_with_and_without_data():
    net = Net()
    c, a, _ = tcp_pair(net)
    assert bits_of(net, c) == POLLOUT and bits_of(net, a) == POLLOUT
    net.call("send", c, b"hello", 0)
    assert bits_of(net, a) == POLLIN | POLLOUT
    assert "poll.tcp_readable" in names(net, a)
    net.call("recv", a, 10, L.MSG_DONTWAIT)
    assert bits_of(net, a) == POLLOUT


def test_tcp_urgent_byte_alone_is_not_readable():
    """An unread urgent byte at the read position raises the target (not SO_OOBINLINE)."""
    net = Net()
    c, a, _ = tcp_pair(net)
    net.call("send", c, b"u", L.MSG_OOB)
    assert bits_of(net, a) == POLLOUT
    net.call("send", c, b"v", 0)
    assert bits_of(net, a) == POLLIN | POLLOUT


def test_tcp_peer_shut_down_and_closed():
    """The peer's FIN: POLLIN|POLLRDHUP (and POLLOUT); our own SHUT_WR: POLLOUT stays; both
    directions shut: POLLHUP."""
    net = Net()
    c, a, _ = tcp_pair(net)
    net.call("shutdown", c, L.SHUT_WR)
    assert bits_of(net, a) == POLLIN | POLLOUT | POLLRDHUP
    assert bits_of(net, c) == POLLOUT
    net.call("shutdown", a, L.SHUT_WR)
    assert bits_of(net, c) == POLLIN | POLLOUT | POLLHUP | POLLRDHUP
    assert bits_of(net, a) == POLLIN | POLLOUT | POLLHUP | POLLRDHUP


def test_tcp_reset_is_pollerr():
    """Closing with unread data resets the peer: its pending ECONNRESET is POLLERR (poll does
    not consume it), and tcp_done() shut both directions."""
    net = Net()
    c, a, _ = tcp_pair(net)
    net.call("send", c, b"unread", 0)
    net.call("close", a)
    assert bits_of(net, c) == POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP
    assert "poll.sk_err" in names(net, c)
    ends = {fd: expect.value for fd, _, expect in observe.so_error_at_end(net.m)}
    assert ends[c] == E.ECONNRESET and a not in ends


def test_tcp_nonblocking_refused():
    """Nobody listens: tcp_reset() in SYN_SENT sets ECONNREFUSED and tcp_done() shuts both
    directions (SHUTDOWN_MASK)."""
    net = Net()
    target = net.bound()
    where = net.local(target)
    net.call("close", target)
    fd = net.new()
    net.obj(fd).nonblock = True
    o = net.outcomes("connect", fd, where)[0]
    o.apply(net.m, None)
    assert o.errno == E.EINPROGRESS
    assert bits_of(net, fd) == POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP


def test_tcp_syn_sent_is_neither_readable_nor_writable():
    """A connect to a full backlog waits in SYN_SENT."""
    net = Net()
    lfd = net.listener(backlog=0)
    first = net.new()
    net.call("connect", first, net.local(lfd))
    second = net.new()
    second_sock = net.obj(second)
    second_sock.nonblock = True
    [pending] = net.outcomes("connect", second, net.local(lfd))
    assert pending.errno == E.EINPROGRESS and pending.rule.name == "connect.inet_backlog_full"
    pending.apply(net.m, None)
    assert second_sock.sk_state == "SYN_SENT"
    assert bits_of(net, second) == 0
    assert "poll.tcp_syn_sent" in names(net, second)


# --------------------------------------------------------------------------- UDP, raw, netlink

def test_udp_readiness():
    net = Net()
    a = net.bound(L.AF_INET, DGRAM)
    b = net.bound(L.AF_INET, DGRAM)
    assert bits_of(net, a) == POLLOUT
    net.call("sendto", b, b"x", 0, net.local(a))
    assert bits_of(net, a) == POLLIN | POLLOUT
    assert "poll.datagram" in names(net, a)
    net.call("shutdown", b, L.SHUT_RD)
    assert bits_of(net, b) == POLLIN | POLLOUT | POLLRDHUP
    net.call("shutdown", b, L.SHUT_WR)
    assert bits_of(net, b) == POLLIN | POLLOUT | POLLRDHUP | POLLHUP


def test_udp_port_unreachable_is_pollerr():
    net = Net()
    gone = net.bound(L.AF_INET, DGRAM)
    where = net.local(gone)
    net.call("close", gone)
    fd = net.new(L.AF_INET, DGRAM)
    net.call("connect", fd, where)
    net.call("send", fd, b"x", 0)
    assert bits_of(net, fd) == POLLOUT | POLLERR
    assert ready(net, fd).settles is poll.INET_IN_FLIGHT


def test_raw_and_packet_leave_only_pollin_open():
    net = Net()
    raw = net.sock(L.AF_INET, L.SOCK_RAW, L.IPPROTO_ICMP)
    r = ready(net, raw)
    assert r.value & ~r.free == POLLOUT and r.free == POLLIN
    assert "poll.raw_may_receive" in {x.name for x in r.open_by}
    assert POLLOUT in r and POLLIN | POLLOUT in r and POLLIN not in r
    pk = net.sock(L.AF_PACKET, L.SOCK_RAW, 0)
    assert ready(net, pk).free == POLLIN and ready(net, pk).settles is None
    nl = net.sock(L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_ROUTE)
    assert bits_of(net, nl) == POLLOUT


# --------------------------------------------------------------------------- AF_UNIX

def test_unix_stream_states():
    net = Net()
    fresh = net.new(L.AF_UNIX, STREAM)
    assert bits_of(net, fresh) == POLLOUT | POLLHUP               # TCP_CLOSE
    lfd = net.listener(L.AF_UNIX, STREAM)
    assert bits_of(net, lfd) == 0                                  # a listener is not writable
    c = net.new(L.AF_UNIX, STREAM)
    net.call("connect", c, net.local(lfd))
    assert bits_of(net, lfd) == POLLIN                             # the embryo's skb
    a = net.call("accept4", lfd, 0).ret.value
    assert bits_of(net, c) == POLLOUT and bits_of(net, a) == POLLOUT
    net.call("send", c, b"abc", 0)
    assert bits_of(net, a) == POLLIN | POLLOUT
    net.call("close", a)                                           # data unread: ECONNRESET
    assert bits_of(net, c) == POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP
    assert "poll.unix_stream" in names(net, c)


def test_unix_socketpair_peer_closed_and_shut_down():
    net = Net()
    a, b = net.call("socketpair", L.AF_UNIX, STREAM, 0).out["fds"].value
    net.call("shutdown", a, L.SHUT_WR)
    assert bits_of(net, b) == POLLIN | POLLOUT | POLLRDHUP
    net.call("close", a)
    assert bits_of(net, b) == POLLIN | POLLOUT | POLLHUP | POLLRDHUP


def test_unix_dgram_and_seqpacket():
    net = Net()
    d = net.new(L.AF_UNIX, DGRAM)
    assert bits_of(net, d) == POLLOUT                              # no POLLHUP for datagrams
    s = net.new(L.AF_UNIX, SEQPACKET)
    assert bits_of(net, s) == POLLOUT | POLLHUP                    # seqpacket in TCP_CLOSE
    assert "poll.unix_dgram" in names(net, s)


def test_unix_dgram_peer_queue_full_is_not_writable():
    """A sender connected one way to a receiver whose queue is over max_dgram_qlen."""
    net = Net(net__unix__max_dgram_qlen="2")
    rx = net.bound(L.AF_UNIX, DGRAM, _lo(L.AF_UNIX))
    tx = net.new(L.AF_UNIX, DGRAM)
    tx_sock = net.obj(tx)
    tx_sock.nonblock = True
    net.call("connect", tx, net.local(rx))
    for _ in range(3):
        net.call("send", tx, b"d", 0)
    assert bits_of(net, tx) == 0
    assert "poll.unix_dgram_peer_full" in names(net, tx)
    net.call("recv", rx, 10, L.MSG_DONTWAIT)
    assert bits_of(net, tx) == POLLOUT


def test_unix_send_buffer_margin_leaves_pollout_open():
    """Unread data near a quarter of the send buffer: the truesize is only known within a
    margin, so POLLOUT is left open; far above it, not writable."""
    net = Net()
    a, b = net.call("socketpair", L.AF_UNIX, STREAM, 0).out["fds"].value
    net.call("setsockopt", a, L.SOL_SOCKET, L.SO_SNDBUF, 4096)       # doubled: 8192
    net.call("send", a, b"x" * 1500, 0)
    r = ready(net, a)
    assert r.free == POLLOUT and "poll.unix_sndbuf_margin" in {x.name for x in r.open_by}
    net.call("send", a, b"y" * 1500, 0)
    assert bits_of(net, a) == 0
    assert bits_of(net, b) == POLLIN | POLLOUT


def test_so_error_at_end_lists_every_open_socket_once():
    net = Net()
    a, b = net.call("socketpair", L.AF_UNIX, STREAM, 0).out["fds"].value
    net.call("dup", a)
    ends = observe.so_error_at_end(net.m)
    assert [fd for fd, _, _ in ends] == [a, b]
    assert all(e.value == 0 and e.admits(0) and not e.admits(E.ECONNRESET) for _, _, e in ends)
