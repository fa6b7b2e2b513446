"""poll() readiness as the model predicts it: net/socket.c sock_poll() -> the family's
proto_ops->poll, read from the model's socket state.

    TCP (AF_INET/AF_INET6 stream)   tcp_poll()          net/ipv4/tcp.c
    UDP, UDP-Lite                   udp_poll()          net/ipv4/udp.c -> datagram_poll()
    raw inet, ping, netlink         datagram_poll()     net/core/datagram.c
    AF_PACKET                       packet_poll()       net/packet/af_packet.c -> datagram_poll()
    AF_UNIX stream                  unix_poll()         net/unix/af_unix.c
    AF_UNIX datagram, seqpacket     unix_dgram_poll()   net/unix/af_unix.c

The checker (harness/check.py) issues one ppoll() with a zero timeout over every socket of the
scenario after each call and compares five bits: POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP
(POLLRDNORM/POLLWRNORM/POLLPRI are not compared). A prediction is a ``Readiness``: the bits
set, and the bits the model cannot predict (``free``), each left open by a named rule.

Not modelled (``readiness`` returns None, and the checker says so): MPTCP (mptcp_poll) and
SCTP (sctp_poll) sockets.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..abi import linux as L
from .rules import Constraint, Rule, rule
from .state import RCV_SHUTDOWN, SHUTDOWN_MASK, Sock

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
POLLRDHUP = 0x2000
COMPARED = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP
# what the checker asks for (POLLERR and POLLHUP are always reported)
REQUESTED = POLLIN | POLLPRI | POLLOUT | POLLRDHUP
BIT_NAMES = ((POLLIN, "POLLIN"), (POLLOUT, "POLLOUT"), (POLLERR, "POLLERR"),
             (POLLHUP, "POLLHUP"), (POLLRDHUP, "POLLRDHUP"))


def bits(mask: int) -> str:
    names = [name for bit, name in BIT_NAMES if mask & bit]
    return "|".join(names) if names else "0"


# --------------------------------------------------------------------------- rules

_SOCK_POLL = "net/socket.c sock_poll() -> sock->ops->poll(); poll(2)"

SK_ERR = rule(
    "poll.sk_err", "POLLERR while an error is pending",
    "A pending socket error (what SO_ERROR would read, before anything consumes it), or an "
    "error waiting in the error queue (IP_RECVERR: even after SO_ERROR was read), shows as "
    "POLLERR; poll() does not consume it. A TCP listener never shows it.",
    "net/ipv4/tcp.c tcp_poll(): READ_ONCE(sk->sk_err) || !skb_queue_empty_lockless("
    "&sk->sk_error_queue) -> EPOLLERR; net/core/datagram.c datagram_poll() likewise; "
    "net/unix/af_unix.c unix_poll()/unix_dgram_poll(): sk->sk_err -> EPOLLERR; poll(2) "
    "POLLERR; socket(7) SO_ERROR")
TCP_LISTEN = rule(
    "poll.tcp_listen", "POLLIN iff a connection waits in the accept queue, nothing else",
    "A TCP listener is readable when accept() would not wait; it is never writable and shows "
    "no POLLHUP, POLLRDHUP or POLLERR.",
    "net/ipv4/tcp.c tcp_poll(): state == TCP_LISTEN -> inet_csk_listen_poll(): "
    "!reqsk_queue_empty() ? EPOLLIN | EPOLLRDNORM : 0; accept(2), tcp(7)")
TCP_HUP = rule(
    "poll.tcp_hup", "POLLHUP in TCP_CLOSE or when both directions are shut",
    "A TCP socket in TCP_CLOSE (never connected, refused, reset, disconnected) or with "
    "sk_shutdown == SHUTDOWN_MASK shows POLLHUP: a fresh socket is POLLOUT|POLLHUP.",
    "net/ipv4/tcp.c tcp_poll(): if (shutdown == SHUTDOWN_MASK || state == TCP_CLOSE) mask |= "
    "EPOLLHUP ('EPOLLHUP is certainly not done right')")
TCP_RDHUP = rule(
    "poll.tcp_rcv_shutdown", "POLLIN|POLLRDHUP once the receive side is shut",
    "The peer's FIN (or shutdown(SHUT_RD), or a reset) makes the socket readable (recv returns "
    "0 or the error) and shows POLLRDHUP.",
    "net/ipv4/tcp.c tcp_poll(): if (shutdown & RCV_SHUTDOWN) mask |= EPOLLIN | EPOLLRDNORM | "
    "EPOLLRDHUP; poll(2) POLLRDHUP (since Linux 2.6.17)")
TCP_READABLE = rule(
    "poll.tcp_readable", "POLLIN when at least SO_RCVLOWAT bytes are unread",
    "Unread bytes make a connected TCP socket readable; an unread urgent byte at the read "
    "position does not count (unless SO_OOBINLINE).",
    "net/ipv4/tcp.c tcp_poll(): target = sock_rcvlowat(sk, 0, INT_MAX); urg_data && urg_seq == "
    "copied_seq && !SOCK_URGINLINE -> target++; tcp_stream_is_readable() / tcp_epollin_ready(): "
    "rcv_nxt - copied_seq >= target")
TCP_WRITABLE = rule(
    "poll.tcp_writable", "POLLOUT unless the connection is being set up",
    "Outside SYN_SENT/SYN_RECV a TCP socket with send buffer room is writable (the model never "
    "fills it: at most 32 KiB unread at the peer), and so is one whose send side is shut.",
    "net/ipv4/tcp.c tcp_poll(): state != TCP_SYN_SENT && state != TCP_SYN_RECV -> "
    "__sk_stream_is_writeable(sk, 1) -> EPOLLOUT; SEND_SHUTDOWN -> EPOLLOUT | EPOLLWRNORM")
TCP_SYN_SENT = rule(
    "poll.tcp_syn_sent", "neither POLLIN nor POLLOUT while the SYN is unanswered",
    "A connect waiting for its SYN-ACK (the listener's accept queue was full) is neither "
    "readable nor writable.",
    "net/ipv4/tcp.c tcp_poll(): the connected branch is skipped for TCP_SYN_SENT (no "
    "TCP_FASTOPEN defer_connect); connect(2) EINPROGRESS 'select(2) for writing'")
DATAGRAM = rule(
    "poll.datagram", "POLLIN with a datagram queued, POLLOUT, shutdown bits",
    "A datagram socket (UDP, raw, ping, netlink, packet) is readable with a datagram queued or "
    "its receive side shut (POLLRDHUP too), hung up with both sides shut, and writable while "
    "less than half its send buffer is in use (a loopback datagram is orphaned at once).",
    "net/core/datagram.c datagram_poll(): RCV_SHUTDOWN -> EPOLLRDHUP | EPOLLIN; shutdown == "
    "SHUTDOWN_MASK -> EPOLLHUP; !skb_queue_empty(sk_receive_queue) -> EPOLLIN; "
    "sock_writeable() -> EPOLLOUT; net/ipv4/udp.c udp_poll(); drivers/net/loopback.c "
    "loopback_xmit(): skb_orphan()")
MAY_RECEIVE = rule(
    "poll.raw_may_receive", "POLLIN either way",
    "A raw inet or packet socket receives whatever the namespace's devices carry for its "
    "protocol (ICMP errors, the suite's own loopback traffic): the model does not follow it, "
    "so POLLIN is left open for these sockets (only that bit).",
    "net/ipv4/raw.c raw_v4_input(), net/packet/af_packet.c packet_rcv() (packet_create(): "
    "proto != 0 -> __register_prot_hook()); packet_poll() -> datagram_poll(); raw(7), packet(7)")
UNIX_STREAM = rule(
    "poll.unix_stream", "unix_poll(): POLLIN with data or shut, POLLHUP in TCP_CLOSE, POLLOUT",
    "An AF_UNIX stream socket is readable with bytes queued (a listener: with connections "
    "queued, each an skb on its receive queue) or its receive side shut (POLLRDHUP too); it "
    "shows POLLHUP when not connected (TCP_CLOSE) or when both sides are shut (the peer "
    "closed); it is writable unless it listens or its unread skbs use a quarter of its send "
    "buffer -- also after the peer shut down, 'to prevent stuck sockets'.",
    "net/unix/af_unix.c unix_poll(): sk_err -> EPOLLERR; shutdown == SHUTDOWN_MASK -> "
    "EPOLLHUP; RCV_SHUTDOWN -> EPOLLRDHUP | EPOLLIN; receive queue -> EPOLLIN; TCP_CLOSE -> "
    "EPOLLHUP; unix_writable(): state != TCP_LISTEN && (sk_wmem_alloc << 2) <= sk_sndbuf; unix(7)")
UNIX_DGRAM = rule(
    "poll.unix_dgram", "unix_dgram_poll(): POLLIN with data or shut, POLLOUT",
    "An AF_UNIX datagram or seqpacket socket is readable with a datagram (a seqpacket "
    "listener: a connection) queued or its receive side shut (POLLRDHUP too), hung up with "
    "both sides shut, a seqpacket socket also in TCP_CLOSE; writable as unix_writable() says.",
    "net/unix/af_unix.c unix_dgram_poll(): RCV_SHUTDOWN -> EPOLLRDHUP | EPOLLIN; shutdown == "
    "SHUTDOWN_MASK -> EPOLLHUP; receive queue -> EPOLLIN; SOCK_SEQPACKET && TCP_CLOSE -> "
    "EPOLLHUP; unix_writable(); unix(7)")
UNIX_PEER_FULL = rule(
    "poll.unix_dgram_peer_full", "no POLLOUT while the connected peer's queue is full",
    "A datagram socket connected to a peer that is not connected back, whose receive queue "
    "holds more than its max_dgram_qlen datagrams, is not writable (until the peer reads or "
    "dies).",
    "net/unix/af_unix.c unix_dgram_poll(): other && unix_peer(other) != sk && "
    "unix_recvq_full_lockless(other) && unix_dgram_peer_wake_me() -> writable = 0; "
    "net.unix.max_dgram_qlen, unix(7)")
UNIX_SNDBUF = rule(
    "poll.unix_sndbuf_margin", "POLLOUT either way",
    "The truesize of the skbs a unix socket has unread at receivers is only known within a "
    "margin (at least the data, at most twice it plus 1 KiB each): where a quarter of the "
    "send buffer lies inside it, POLLOUT is left open.",
    "net/unix/af_unix.c unix_writable(): (refcount_read(&sk->sk_wmem_alloc) << 2) <= sk_sndbuf; "
    "skb_set_owner_w() charges the skb's truesize to the sender until the receiver frees it")
# Not a rule of the kernel but of the checker (so not registered: no check is expected to
# need it, and the rule coverage of a run does not count it): its name is recorded in the
# state of a check that needed it.
INET_IN_FLIGHT = Rule(
    "poll.inet_in_flight", "poll", "the model's readiness, reached within a bound",
    "Segments and ICMP errors on loopback are handled by the network softirq, normally before "
    "the sending call returns but not promised (ksoftirqd may run it later): for an inet socket "
    "whose readiness differs from the model's, the checker polls again (zero timeout, for at "
    "most a second) until it matches; it must match in the end.",
    "net/core/dev.c __netif_rx() / net_rx_action(); kernel/softirq.c (ksoftirqd); "
    "drivers/net/loopback.c loopback_xmit(); tcp(7), udp(7)")


# --------------------------------------------------------------------------- the prediction

@dataclass(frozen=True)
class Readiness(Constraint):
    """revents as observed, by the five compared bits: ``value`` is what the model predicts,
    ``free`` the bits it leaves open (``open_by``: the rules that left them open); ``rules``
    are the rules that made the prediction; ``settles``: the rule that lets the kernel take a
    bounded while to get there (None: it must show it at once)."""
    value: int
    free: int = 0
    rules: tuple[Rule, ...] = ()
    open_by: tuple[Rule, ...] = ()
    settles: Rule | None = None

    @property
    def all_rules(self) -> tuple[Rule, ...]:
        return self.rules + self.open_by + ((self.settles,) if self.settles else ())

    def __contains__(self, observed) -> bool:
        return isinstance(observed, int) and not ((observed ^ self.value) & COMPARED & ~self.free)

    def __str__(self) -> str:
        fixed = bits(self.value & ~self.free)
        if not self.free:
            return fixed
        return (f"{fixed} ({bits(self.free)} either way: "
                f"{', '.join(r.name for r in self.open_by)})")


class _Mask:
    def __init__(self):
        self.value = 0
        self.free = 0
        self.rules: list[Rule] = []
        self.open_by: list[Rule] = []

    def set(self, bits_: int, why: Rule) -> None:
        self.value |= bits_
        self.note(why)

    def note(self, why: Rule) -> None:
        if why not in self.rules:
            self.rules.append(why)

    def leave_open(self, bits_: int, why: Rule) -> None:
        self.free |= bits_
        if why not in self.open_by:
            self.open_by.append(why)

    def done(self, settles: Rule | None = None) -> Readiness:
        return Readiness(self.value & COMPARED, self.free & COMPARED, tuple(self.rules),
                         tuple(self.open_by), settles)


def readiness_all(m, socks: list[Sock]) -> list[Readiness | None]:
    """readiness() of each of ``socks`` (what unix senders have unread, counted once)."""
    from .af_unix import unix_charges
    charges = unix_charges(m)
    return [readiness(m, sock, charges) for sock in socks]


def readiness(m, sock: Sock, charges: dict | None = None) -> Readiness | None:
    """sock_poll() for this socket: the predicted revents, or None where not modelled.
    ``charges``: af_unix.unix_charges(m), when the caller has it."""
    from . import inet_connection_sock as icsk
    if sock.family == L.AF_UNIX:
        if sock.type == L.SOCK_STREAM:
            return unix_poll(m, sock, charges).done()
        return unix_dgram_poll(m, sock, charges).done()
    if sock.family in (L.AF_INET, L.AF_INET6):
        # what reaches an inet socket goes through the network softirq: it may come late
        table = icsk.table_of(sock)
        if table == "tcp":
            return tcp_poll(m, sock).done(INET_IN_FLIGHT)
        if sock.type == L.SOCK_RAW:
            return datagram_poll(m, sock, may_receive=True).done(INET_IN_FLIGHT)
        if sock.type == L.SOCK_DGRAM:         # udp_poll (UDP, UDP-Lite), ping: datagram_poll
            return datagram_poll(m, sock).done(INET_IN_FLIGHT)
        return None                            # MPTCP, SCTP
    if sock.family == L.AF_PACKET:
        return datagram_poll(m, sock, may_receive=True).done()
    if sock.family == L.AF_NETLINK:
        return datagram_poll(m, sock).done()
    return None


def _sk_err(mask: _Mask, sock: Sock) -> None:
    if sock.so_error or sock.err_queue:      # sk_err || !skb_queue_empty(&sk_error_queue)
        mask.set(POLLERR, SK_ERR)


def tcp_poll(m, sock: Sock) -> _Mask:
    mask = _Mask()
    state = sock.sk_state
    if state == "LISTEN":
        if sock.accept_queue:
            mask.set(POLLIN, TCP_LISTEN)
        mask.note(TCP_LISTEN)
        return mask
    shutdown = sock.shutdown
    if shutdown == SHUTDOWN_MASK or state == "CLOSE":
        mask.set(POLLHUP, TCP_HUP)
    if shutdown & RCV_SHUTDOWN:
        mask.set(POLLIN | POLLRDHUP, TCP_RDHUP)
    if state not in ("SYN_SENT", "SYN_RECV"):
        target = max(int(sock.opts.get("SO_RCVLOWAT", 1) or 1), 1)
        urg = sock.urg
        if urg is not None and urg.seq == sock.copied_seq and not sock.opts.get("SO_OOBINLINE"):
            target += 1
        if sock.rcv_nxt - sock.copied_seq >= target:
            mask.set(POLLIN, TCP_READABLE)
        mask.set(POLLOUT, TCP_WRITABLE)
    else:
        mask.note(TCP_SYN_SENT)
    _sk_err(mask, sock)
    return mask


def datagram_poll(m, sock: Sock, may_receive: bool = False) -> _Mask:
    mask = _Mask()
    mask.note(DATAGRAM)
    _sk_err(mask, sock)
    if sock.shutdown & RCV_SHUTDOWN:
        mask.set(POLLIN | POLLRDHUP, DATAGRAM)
    if sock.shutdown == SHUTDOWN_MASK:
        mask.set(POLLHUP, DATAGRAM)
    if sock.recv_queue:
        mask.set(POLLIN, DATAGRAM)
    # connection_based() (SOCK_STREAM/SOCK_SEQPACKET) is never true for the families here
    mask.set(POLLOUT, DATAGRAM)
    if may_receive:
        mask.leave_open(POLLIN, MAY_RECEIVE)
    return mask


# -- AF_UNIX

def _unix_writable(m, sock: Sock, mask: _Mask, why: Rule, charges: dict | None) -> None:
    """unix_writable(): not a listener, and sk_wmem_alloc at most a quarter of sk_sndbuf."""
    from .af_unix import _sndbuf, unix_charges
    if sock.sk_state == "LISTEN":
        mask.note(why)
        return
    low, high = (charges if charges is not None else unix_charges(m)).get(id(sock), (0, 0))
    sndbuf = _sndbuf(m, sock)
    if 4 * (high + 1) <= sndbuf:
        mask.set(POLLOUT, why)
    elif 4 * (low + 1) <= sndbuf:
        mask.set(POLLOUT, why)
        mask.leave_open(POLLOUT, UNIX_SNDBUF)
    else:
        mask.note(UNIX_SNDBUF)


def _unix_common(mask: _Mask, sock: Sock, why: Rule) -> None:
    _sk_err(mask, sock)
    if sock.shutdown == SHUTDOWN_MASK:
        mask.set(POLLHUP, why)
    if sock.shutdown & RCV_SHUTDOWN:
        mask.set(POLLIN | POLLRDHUP, why)
    if sock.recv_queue or sock.accept_queue:
        mask.set(POLLIN, why)


def unix_poll(m, sock: Sock, charges: dict | None = None) -> _Mask:
    mask = _Mask()
    mask.note(UNIX_STREAM)
    _unix_common(mask, sock, UNIX_STREAM)
    if sock.sk_state == "CLOSE":
        mask.set(POLLHUP, UNIX_STREAM)
    _unix_writable(m, sock, mask, UNIX_STREAM, charges)
    return mask


def unix_dgram_poll(m, sock: Sock, charges: dict | None = None) -> _Mask:
    mask = _Mask()
    mask.note(UNIX_DGRAM)
    _unix_common(mask, sock, UNIX_DGRAM)
    if sock.type == L.SOCK_SEQPACKET and sock.sk_state == "CLOSE":
        mask.set(POLLHUP, UNIX_DGRAM)
    _unix_writable(m, sock, mask, UNIX_DGRAM, charges)
    other = sock.peer_sock
    if mask.value & POLLOUT and other is not None and other.peer_sock is not sock \
            and other.state != "closed":
        qlen = m.sysctl_int("net.unix.max_dgram_qlen", 10)
        if len(other.recv_queue) > qlen:
            mask.value &= ~POLLOUT
            mask.free &= ~POLLOUT
            mask.note(UNIX_PEER_FULL)
    return mask

