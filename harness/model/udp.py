"""net/ipv4/udp.c and net/ipv6/udp.c: udp_sendmsg(), udpv6_sendmsg(), udp_recvmsg(),
udpv6_recvmsg(), and the delivery between them on loopback (__udp4_lib_rcv's socket lookup,
the ICMP port unreachable that answers a datagram nobody takes).

The network the model knows is the one af_inet.py knows: 127.0.0.1 and ::1 (a datagram to any
other loopback address, to a broadcast or multicast group, or from outside the private network
namespace is NotModelled). Delivery on loopback happens inside the sending call (the softirq
runs when the send enables bottom halves); the suite still polls before a non-blocking
receive. The ICMP error a connected sender gets back is marked as arriving asynchronously
(Sock.err_unprobed): the checker leaves SO_ERROR for the test to read.

With IP_RECVERR (IPV6_RECVERR) the ICMP error is also queued on the sender's error queue and
sets its socket error even when it is not connected (errqueue.py, which also answers
recvmsg(MSG_ERRQUEUE)).

Not modelled: corking (UDP_CORK, MSG_MORE), control messages on ordinary receives (IP_PKTINFO
...), GSO, UDP-Lite, SO_REUSEPORT groups, receive buffer overflow (a datagram that could
overflow the receiver's buffer is NotModelled), IP options, IP_RECVERR on an IPv6 socket (the
v4-mapped path), errors other than port unreachable.
"""
from __future__ import annotations

import errno as E
import ipaddress

from ..abi import linux as L
from ..mem import SockaddrIn, SockaddrIn6
from . import inet_connection_sock as icsk
from .rules import Exact, Outcome, rule
from .state import RCV_SHUTDOWN, SEND_SHUTDOWN, Skb

UDP_HLEN = 8
IP_MAX_MTU = 0xFFFF
IPV6_MAXPLEN = 65535

# --------------------------------------------------------------------------- send rules

SEND_TOO_LONG = rule(
    "send.udp_len_over_64k", "EMSGSIZE",
    "An IPv4 UDP send of more than 65535 bytes is refused first of all (before MSG_OOB and "
    "the address).",
    "net/ipv4/udp.c udp_sendmsg(): if (len > 0xFFFF) return -EMSGSIZE")
SEND_OOB = rule(
    "send.udp_oob", "EOPNOTSUPP",
    "MSG_OOB on an IPv4 UDP send (BSD compatibility).",
    "net/ipv4/udp.c udp_sendmsg(): if (msg->msg_flags & MSG_OOB) return -EOPNOTSUPP; udp(7)")
SEND6_OOB_IGNORED = rule(
    "send.udp6_oob_ignored", "the datagram is sent",
    "udpv6_sendmsg() has no MSG_OOB check: an IPv6 UDP send with MSG_OOB is an ordinary send "
    "(to a v4-mapped destination it goes through udp_sendmsg and fails with EOPNOTSUPP).",
    "net/ipv6/udp.c udpv6_sendmsg(): no MSG_OOB test (6.1.192, 6.12.117); observed on 6.18.44")
SEND_ADDRLEN = rule(
    "send.udp_addrlen", "EINVAL",
    "The destination address is shorter than sockaddr_in (16) for AF_INET, than "
    "sizeof(sa_family_t) or SIN6_LEN_RFC2133 (24) for AF_INET6.",
    "net/ipv4/udp.c udp_sendmsg(): msg_namelen < sizeof(*usin) -> -EINVAL; net/ipv6/udp.c "
    "udpv6_sendmsg(): addr_len < offsetof(struct sockaddr, sa_data), < SIN6_LEN_RFC2133")
SEND_FAMILY = rule(
    "send.udp_family", "EAFNOSUPPORT (IPv6: EINVAL)",
    "An IPv4 socket takes AF_INET (or AF_UNSPEC, read as AF_INET) destinations, others "
    "EAFNOSUPPORT; an IPv6 socket takes AF_INET6, AF_INET and AF_UNSPEC (no destination), "
    "others EINVAL.",
    "net/ipv4/udp.c udp_sendmsg(): sin_family != AF_INET && != AF_UNSPEC -> -EAFNOSUPPORT; "
    "net/ipv6/udp.c udpv6_sendmsg(): default: return -EINVAL")
SEND6_UNSPEC = rule(
    "send.udp6_unspec_name", "the name is ignored",
    "An AF_UNSPEC destination on an IPv6 socket counts as no destination: the connected peer "
    "(or EDESTADDRREQ).",
    "net/ipv6/udp.c udpv6_sendmsg(): case AF_UNSPEC: msg->msg_name = sin6 = NULL")
SEND_PORT_ZERO = rule(
    "send.udp_port_zero", "EINVAL",
    "A destination port of 0.",
    "net/ipv4/udp.c udp_sendmsg(): if (dport == 0) return -EINVAL; net/ipv6/udp.c "
    "udpv6_sendmsg(): if (sin6->sin6_port == 0) return -EINVAL")
SEND_DESTADDRREQ = rule(
    "send.udp_destaddrreq", "EDESTADDRREQ",
    "No destination given and the socket is not connected.",
    "net/ipv4/udp.c udp_sendmsg(): if (sk->sk_state != TCP_ESTABLISHED) return -EDESTADDRREQ; "
    "udp(7), send(2) ERRORS EDESTADDRREQ")
SEND_EMSGSIZE = rule(
    "send.udp_emsgsize", "EMSGSIZE",
    "The datagram does not fit an IP packet: more than 65507 bytes of payload over IPv4 "
    "(65535 - 20 - 8), more than 65527 over IPv6 (the 65535-byte payload length less the "
    "UDP header).",
    "net/ipv4/ip_output.c __ip_append_data(): length > maxnonfragsize - fragheaderlen; "
    "net/ipv6/ip6_output.c __ip6_append_data(): > sizeof(ipv6hdr) + IPV6_MAXPLEN - headersize; "
    "udp(7) ERRORS EMSGSIZE")
SEND_UNREACH = rule(
    "send.udp_unreachable", "ENETUNREACH",
    "No route to the destination (an address off loopback in the private namespace; a "
    "v4-mapped destination from an IPV6_V6ONLY socket).",
    "net/ipv4/udp.c udp_sendmsg(): ip_route_output_flow() -> -ENETUNREACH; net/ipv6/udp.c "
    "udpv6_sendmsg(): ipv6_only_sock(sk) ? -ENETUNREACH")
SEND_SK_ERR = rule(
    "send.udp_sk_err", "the pending socket error, consumed",
    "A pending socket error (ICMP port unreachable after an earlier datagram) is reported by the "
    "next send, which sends nothing.",
    "net/core/sock.c sock_alloc_send_pskb(): err = sock_error(sk) from __ip_append_data(); "
    "udp(7) ERRORS ECONNREFUSED")
SEND_SHUT = rule(
    "send.udp_shutdown", "EPIPE (no SIGPIPE)",
    "After shutdown(SHUT_WR) a UDP send fails with EPIPE; no signal is raised.",
    "net/core/sock.c sock_alloc_send_pskb(): sk_shutdown & SEND_SHUTDOWN -> -EPIPE")
SEND_FAULT = rule(
    "send.udp_fault", "EFAULT",
    "The data cannot be read: nothing is sent.",
    "net/ipv4/ip_output.c __ip_append_data(): getfrag() -> ip_generic_getfrag() -> -EFAULT")
SEND_OK = rule(
    "send.udp", "the length; the datagram is delivered",
    "The datagram goes to the socket bound to the destination (an exactly bound one before a "
    "wildcard; a connected one only from its peer); it keeps its boundaries, and a zero-length "
    "datagram is a datagram.",
    "net/ipv4/udp.c udp_sendmsg() -> udp_send_skb(); __udp4_lib_lookup(), compute_score(); "
    "net/ipv6/udp.c; udp(7)")
SEND_NO_RECEIVER = rule(
    "send.udp_port_unreachable", "the length; a connected sender gets ECONNREFUSED later",
    "A datagram nobody takes is answered with ICMP port unreachable, which sets "
    "ECONNREFUSED as the error of a connected sender (SO_ERROR, or the next send or receive); "
    "an unconnected sender sees nothing (unless IP_RECVERR: send.udp_icmp_error_queued).",
    "net/ipv4/udp.c __udp4_lib_rcv(): icmp_send(ICMP_PORT_UNREACH); __udp4_lib_err(): "
    "!inet->recverr && sk_state != TCP_ESTABLISHED -> ignore, else sk->sk_err = err; "
    "net/ipv6/udp.c __udp6_lib_err(); udp(7) ECONNREFUSED")
SEND_ADDR_CONNECTED = rule(
    "send.udp_addr_on_connected", "the datagram goes to the address given",
    "A connected UDP socket that is given a destination sends that datagram there, not to its "
    "peer, and stays connected (a later send without an address goes to the peer again). The "
    "ICMP error such a datagram may bring back reaches it only if it came from the peer "
    "(send.udp_icmp_error_unmatched).",
    "net/ipv4/udp.c udp_sendmsg(): if (usin) { daddr = usin->sin_addr.s_addr; dport = "
    "usin->sin_port; } else { if (sk->sk_state != TCP_ESTABLISHED) return -EDESTADDRREQ; daddr "
    "= inet->inet_daddr; ...}; net/ipv6/udp.c udpv6_sendmsg(); udp(7) 'sendto(2) ... may "
    "still be used'; send(2) EISCONN 'or the recipient specification is ignored'")
SEND_V4_ON_V6 = rule(
    "send.udp6_v4_destination", "sent over IPv4",
    "An IPv6 socket sends to a sockaddr_in or a v4-mapped address through udp_sendmsg(), with "
    "the IPv4 limits (MSG_OOB refused, 65507 bytes).",
    "net/ipv6/udp.c udpv6_sendmsg(): case AF_INET / ipv6_addr_v4mapped(daddr) -> "
    "udp_sendmsg()")

# --------------------------------------------------------------------------- recv rules

RECV_PEER_PORT_ZERO = rule(
    "recv.udp_peer_port_zero", "datagrams from any port of the peer's address",
    "A UDP socket connected to port 0 (connect() accepts it; only a send to port 0 is refused) "
    "filters incoming datagrams on the peer's address only: inet_dport is 0, so the lookup "
    "takes a datagram from any source port of that address -- its own included -- and the ICMP "
    "error for a datagram it sent to any port reaches it.",
    "net/ipv4/udp.c compute_score(): if (inet->inet_dport) { if (inet->inet_dport != sport) "
    "return -1; score += 4; }; net/ipv6/udp.c compute_score(): the same test; "
    "net/ipv4/datagram.c __ip4_datagram_connect(): inet->inet_dport = usin->sin_port")

RECV_OK = rule(
    "recv.udp", "one datagram; the source address (16 or 28 bytes)",
    "A receive takes the oldest datagram whole: a short buffer gets its start and msg_flags "
    "MSG_TRUNC; the address is the sender's (v4-mapped on an IPv6 socket).",
    "net/ipv4/udp.c udp_recvmsg(): copied < ulen -> msg->msg_flags |= MSG_TRUNC; sin_port = "
    "udp_hdr->source; net/ipv6/udp.c udpv6_recvmsg(); udp(7)")
RECV_TRUNC = rule(
    "recv.dgram_trunc_real_length", "the datagram's real length",
    "With MSG_TRUNC in the flags a datagram receive returns the datagram's full length even "
    "when the buffer was shorter (UDP, unix datagram and seqpacket).",
    "net/ipv4/udp.c udp_recvmsg(): if (flags & MSG_TRUNC) err = ulen; net/unix/af_unix.c "
    "__unix_dgram_recvmsg(): (flags & MSG_TRUNC) ? skb->len - skip : size; recv(2) MSG_TRUNC")
RECV_PEEK = rule(
    "recv.dgram_peek", "the datagram, left queued",
    "MSG_PEEK returns the oldest datagram and leaves it for the next receive.",
    "net/core/datagram.c __skb_try_recv_from_queue(): MSG_PEEK -> refcount_inc, no unlink; "
    "recv(2) MSG_PEEK")
RECV_OOB_IGNORED = rule(
    "recv.udp_oob_ignored", "an ordinary receive",
    "UDP ignores MSG_OOB on receive.",
    "net/ipv4/udp.c udp_recvmsg(): flags are not checked for MSG_OOB")
RECV_SK_ERR = rule(
    "recv.udp_sk_err", "the pending socket error, consumed",
    "A pending socket error (ICMP port unreachable) is reported before any queued datagram.",
    "net/ipv4/udp.c __skb_recv_udp(): error = sock_error(sk); if (error) break;")
RECV_EAGAIN = rule(
    "recv.udp_eagain", "EAGAIN",
    "No datagram queued and the call may not wait.",
    "net/ipv4/udp.c __skb_recv_udp(): error = -EAGAIN, !timeo; recv(2) ERRORS EAGAIN")
RECV_SHUT_EOF = rule(
    "recv.udp_shutdown_eof", "0",
    "A blocking receive on an empty queue after shutdown(SHUT_RD) returns 0 at once (a "
    "non-blocking one still answers EAGAIN); queued datagrams are still delivered.",
    "net/core/datagram.c __skb_wait_for_more_packets(): RCV_SHUTDOWN -> out_noerr (*err = 0)")
RECV_FAULT = rule(
    "recv.dgram_fault", "EFAULT; the datagram is lost",
    "The buffer cannot be written: the datagram was already taken off the queue and is "
    "dropped (MSG_PEEK leaves it).",
    "net/ipv4/udp.c udp_recvmsg(): if (unlikely(err)) { if (!peeking) atomic_inc(&sk->sk_drops); "
    "kfree_skb(skb); return err; }; net/unix/af_unix.c __unix_dgram_recvmsg(): out_free")


# --------------------------------------------------------------------------- helpers

def _nm(why: str):
    return icsk.not_modelled(why)


def _local_addr(sock) -> str | None:
    """The bound address (None: wildcard or unbound)."""
    local = sock.local
    if local is None or not hasattr(local, "addr"):
        return None
    if local.addr in ("0.0.0.0", "::"):
        return None
    return local.addr


def _v4_of(sock) -> str | None:
    """A v6 socket's bound address as IPv4 (v4-mapped), or its v4 address."""
    a = _local_addr(sock)
    if a is None or sock.family == L.AF_INET:
        return a
    mapped = ipaddress.IPv6Address(a).ipv4_mapped
    if mapped is None:
        raise _nm("an IPv4 datagram from a socket bound to an IPv6 address")
    return str(mapped)


def _port_now(sock):
    local = sock.local
    return None if local is None or not hasattr(local, "port") else local.port


def source_of(skb, family: int):
    """The source address recv reports, in the receiving socket's family."""
    addr, port = skb.source
    if port is None:                               # the sender's autobind port, learned by now
        port = _port_now(skb.sender)
        if port is None:
            raise _nm("the sender's port was never observed")
    if family == L.AF_INET6 and ":" not in addr:
        return SockaddrIn6(port, icsk.canonical(L.AF_INET6, "::ffff:" + addr))
    if family == L.AF_INET6:
        return SockaddrIn6(port, icsk.canonical(L.AF_INET6, addr))
    return SockaddrIn(port, addr)


def _score_v4(sk, saddr: str, sport: int) -> int | None:
    """compute_score() of net/ipv4/udp.c for a socket already matching the address and port;
    None when a connected socket's peer is not the sender."""
    score = 2 if sk.family == L.AF_INET else 1
    if sk.peer is not None:
        peer = sk.peer
        paddr = peer.addr
        if sk.family == L.AF_INET6:
            mapped = ipaddress.IPv6Address(paddr).ipv4_mapped
            if mapped is None:
                return None
            paddr = str(mapped)
        bonus = _peer_filter(paddr, peer.port, saddr, sport)
        if bonus is None:
            return None
        score += bonus
    return score


def _peer_filter(paddr: str, pport: int, saddr: str, sport: int) -> int | None:
    """The part of compute_score() that a connected socket's peer contributes: None when the
    datagram's source is not the peer, else the score it adds (4 for the address, 4 for the
    port). A peer port of 0 (connect() to port 0) filters nothing (RECV_PEER_PORT_ZERO)."""
    if paddr != saddr:
        return None
    if pport == 0:
        return 4
    if pport != sport:
        return None
    return 8


def _autobind_may_pick(m, port: int) -> bool:
    """Whether a socket being autobound now could get ``port`` (in the ephemeral range, and
    no UDP socket holds it)."""
    lo, hi = m.net.port_range[:2]
    return lo <= port <= hi and not any(icsk.table_of(s) == "udp" and icsk.port_of(s) == port
                                        for s in m.net.inet_bound)


def lookup(m, v4: bool, daddr: str, dport: int, saddr: str, sport: int | None):
    """__udp4_lib_lookup() / __udp6_lib_lookup(): the socket that takes a datagram, None when
    none does. A socket bound to the exact address is looked for before the wildcard ones;
    within a slot the best compute_score() wins (a tie is decided by the receiving CPU: not
    modelled)."""
    exact, wild = [], []
    for sk in m.net.inet_bound:
        if icsk.table_of(sk) != "udp" or icsk.port_of(sk) != dport or sk.state == "closed":
            continue
        a = sk.local.addr
        if v4:
            if sk.family == L.AF_INET:
                slot = exact if a == daddr else wild if a == "0.0.0.0" else None
            elif icsk.ipv6only(sk):
                slot = None
            else:
                mapped = ipaddress.IPv6Address(a).ipv4_mapped
                slot = exact if (mapped is not None and str(mapped) == daddr) else \
                    wild if a == "::" else None
        elif sk.family == L.AF_INET6:
            slot = exact if a == daddr else wild if a == "::" else None
        else:
            slot = None
        if slot is not None:
            slot.append(sk)
    for group in (exact, wild):
        scored = []
        for sk in group:
            if sport is None and sk.peer is not None and sk.peer.port != 0:
                if _autobind_may_pick(m, sk.peer.port):
                    raise _nm("a datagram from a port never observed to a connected socket")
                continue                    # the new port cannot be the one it is connected to
            if v4:
                s = _score_v4(sk, saddr, sport)
            else:
                s = 0
                if sk.peer is not None:
                    bonus = _peer_filter(sk.peer.addr, sk.peer.port, saddr, sport)
                    if bonus is None:
                        continue
                    s += bonus
            if s is not None:
                scored.append((s, sk))
        if scored:
            best = max(s for s, _ in scored)
            winners = [sk for s, sk in scored if s == best]
            if len(winners) > 1:
                raise _nm("several UDP sockets could take this datagram")
            return winners[0]
    return None


def _rcvbuf(m, sock) -> int:
    if "SO_RCVBUF" in sock.opts:
        return sock.opts["SO_RCVBUF"]
    return m.sysctl_int("net.core.rmem_default", 212992)


def _fits(m, receiver, length: int) -> None:
    """__udp_enqueue_schedule_skb() drops a datagram when sk_rmem_alloc exceeds sk_rcvbuf. An
    empty queue always takes one; otherwise the model needs a clear margin (truesize is about
    twice the payload at worst)."""
    queued = [len(s.data) for s in receiver.recv_queue]
    if not queued:
        return
    charge = sum(2 * n + 1024 for n in queued + [length])
    if charge > _rcvbuf(m, receiver) // 2:
        raise _nm("a datagram that may overflow the receiver's buffer")


def _deliver(m, sender, v4: bool, saddr: str, daddr: str, dport: int, data: bytes):
    """(transition, rules) of a datagram on loopback: queued at the receiver, or ICMP port
    unreachable back to a connected sender."""
    sport = _port_now(sender)                  # None: an autobind port not yet observed
    receiver = lookup(m, v4, daddr, dport, saddr, sport)
    if receiver is None:
        known = any(icsk.port_of(s) == dport for s in m.net.inet_bound)
        if not known and not m.profile.netns_private:
            raise _nm(f"port {dport} may have a socket the model does not know")
        return _port_unreachable(m, sender, v4, daddr, dport, data)
    _fits(m, receiver, len(data))

    def queue(model, result, receiver=receiver, sender=sender):
        receiver.recv_queue.append(Skb(data, sender=sender, source=(saddr, _port_now(sender))))
    if receiver.peer is not None and receiver.peer.port == 0:
        return queue, (SEND_OK, RECV_PEER_PORT_ZERO)
    return queue, (SEND_OK,)


def _peer_is(sock, v4: bool, daddr: str, dport: int) -> bool:
    """A connected socket's peer is daddr:dport (a v6 socket's v4-mapped peer for IPv4)."""
    peer = sock.peer
    addr = peer.addr
    if v4 and sock.family == L.AF_INET6:
        mapped = ipaddress.IPv6Address(addr).ipv4_mapped
        addr = None if mapped is None else str(mapped)
    return addr == daddr and peer.port in (0, dport)


def _port_unreachable(m, sender, v4: bool, daddr: str, dport: int, data: bytes):
    """(transition, rules) of the ICMP port unreachable that answers a datagram on loopback:
    __udp4_lib_err() / __udp6_lib_err() look up the socket a datagram from daddr:dport would
    reach -- the sender, unless it is connected to another peer. With IP_RECVERR
    (IPV6_RECVERR) the error is queued there and sets the socket error; without, only a
    connected socket's error is set."""
    from . import errqueue
    sport = _port_now(sender)
    if sport is not None and any(s is not sender and icsk.table_of(s) == "udp"
                                 and icsk.port_of(s) == sport for s in m.net.inet_bound):
        raise _nm("an ICMP error for a port several UDP sockets hold")
    connected = sender.sk_state == "ESTABLISHED"
    if connected and not _peer_is(sender, v4, daddr, dport):
        return None, (SEND_NO_RECEIVER, errqueue.UNMATCHED)
    extra = (RECV_PEER_PORT_ZERO,) if connected and sender.peer.port == 0 else ()
    if errqueue.recverr(sender, v4):
        skb = errqueue.port_unreachable(sender, v4, daddr, dport, data)

        def queued(model, result, sender=sender, skb=skb):
            sender.err_queue.append(skb)
            sender.so_error = E.ECONNREFUSED
            sender.err_unprobed = True              # the ICMP error arrives asynchronously
        return queued, (errqueue.QUEUED, SEND_NO_RECEIVER) + extra

    def refused(model, result, sender=sender):
        if connected:
            sender.so_error = E.ECONNREFUSED
            sender.err_unprobed = True              # the ICMP error arrives asynchronously
    return refused, (SEND_NO_RECEIVER,) + extra


def _route_v4(m, sock, daddr: str):
    """ip_route_output_flow() for the model's network: the source address, or an error."""
    kind = _v4_kind(m, daddr)
    if kind == "nonlocal":
        return SEND_UNREACH.fail(E.ENETUNREACH)
    src = _v4_of(sock)
    if kind != "local" or (src is None and daddr != "127.0.0.1"):
        raise _nm(f"a datagram to {daddr}")
    return src or "127.0.0.1"


def _v4_kind(m, daddr: str) -> str:
    from .af_inet import v4_kind
    return v4_kind(m, daddr)


def _alloc_and_copy(m, sock, msg, also):
    """sock_alloc_send_pskb() then getfrag(): the pending error, EPIPE after SHUT_WR, EFAULT;
    None when the data is in the skb."""
    if sock.so_error:
        err = sock.so_error

        def take(model, result, sock=sock):
            sock.take_error()
        return Outcome(SEND_SK_ERR, err, Exact(-1), {}, take, also)
    if sock.shutdown & SEND_SHUTDOWN:
        return Outcome(SEND_SHUT, E.EPIPE, Exact(-1), {}, None, also)
    if msg.iter.faults():
        return Outcome(SEND_FAULT, E.EFAULT, Exact(-1), {}, None, also)
    return None


def _with(outcome, also: tuple):
    return Outcome(outcome.rule, outcome.errno, outcome.ret, outcome.out, outcome.apply,
                   outcome.also + tuple(also))


# --------------------------------------------------------------------------- sendmsg

def udp_sendmsg(m, sock, msg, also=(), name_v4=None):
    """udp_sendmsg(): ``name_v4`` is the sockaddr_in bytes udpv6_sendmsg() hands over."""
    from .af_inet import decode_in, family_of
    if msg.len > 0xFFFF:
        return _with(SEND_TOO_LONG.fail(E.EMSGSIZE), also)
    if msg.flags & L.MSG_OOB:
        return _with(SEND_OOB.fail(E.EOPNOTSUPP), also)
    name = name_v4 if name_v4 is not None else msg.name
    if name is not None:
        if (16 if name_v4 is not None else msg.namelen) < 16:
            return _with(SEND_ADDRLEN.fail(E.EINVAL), also)
        if family_of(name) not in (L.AF_INET, L.AF_UNSPEC):
            return _with(SEND_FAMILY.fail(E.EAFNOSUPPORT), also)
        dport, daddr = decode_in(name)
        if dport == 0:
            return _with(SEND_PORT_ZERO.fail(E.EINVAL), also)
        if sock.sk_state == "ESTABLISHED":
            also = tuple(also) + (SEND_ADDR_CONNECTED,)
    else:
        if sock.sk_state != "ESTABLISHED":
            return _with(SEND_DESTADDRREQ.fail(E.EDESTADDRREQ), also)
        peer = sock.peer
        dport = peer.port
        daddr = peer.addr
        if sock.family == L.AF_INET6:
            daddr = str(ipaddress.IPv6Address(daddr).ipv4_mapped)
    if daddr == "0.0.0.0":
        raise _nm("a datagram to INADDR_ANY (routed to loopback)")
    src = _route_v4(m, sock, daddr)
    if isinstance(src, Outcome):
        return _with(src, also)
    if msg.len + UDP_HLEN > IP_MAX_MTU - 20:
        return _with(SEND_EMSGSIZE.fail(E.EMSGSIZE), also)
    bad = _alloc_and_copy(m, sock, msg, also)
    if bad is not None:
        return bad
    data = msg.iter.read()
    deliver, rules = _deliver(m, sock, True, src, daddr, dport, data)
    return rules[0].ok(msg.len, apply=deliver, also=tuple(also) + rules[1:])


def udpv6_sendmsg(m, sock, msg, also=()):
    from .af_inet import decode_in6, family_of, v6_kind
    name = msg.name
    daddr = dport = None
    if name is not None:
        if msg.namelen < 2:
            return _with(SEND_ADDRLEN.fail(E.EINVAL), also)
        fam = family_of(name)
        if fam == L.AF_INET6:
            if msg.namelen < L.SOCKADDR_IN6_SIZE_V1:
                return _with(SEND_ADDRLEN.fail(E.EINVAL), also)
            dport, daddr, scope = decode_in6(name, msg.namelen)
            if scope:
                raise _nm("a scope id on a UDP destination")
        elif fam == L.AF_INET:
            return _v4_path(m, sock, msg, also + (SEND_V4_ON_V6,), name)
        elif fam == L.AF_UNSPEC:
            name, also = None, also + (SEND6_UNSPEC,)
        else:
            return _with(SEND_FAMILY.fail(E.EINVAL), also)
    if name is None:
        if sock.sk_state != "ESTABLISHED":
            return _with(SEND_DESTADDRREQ.fail(E.EDESTADDRREQ), also)
        dport, daddr = sock.peer.port, sock.peer.addr
    if daddr == "::":
        raise _nm("a datagram to :: (routed to loopback)")
    mapped = ipaddress.IPv6Address(daddr).ipv4_mapped
    if mapped is not None:
        v4 = SockaddrIn(dport, str(mapped)).encode()
        return _v4_path(m, sock, msg, also + (SEND_V4_ON_V6,), v4)
    if name is not None and dport == 0:
        return _with(SEND_PORT_ZERO.fail(E.EINVAL), also)
    if name is not None and sock.sk_state == "ESTABLISHED":
        also = tuple(also) + (SEND_ADDR_CONNECTED,)
    if msg.flags & L.MSG_OOB:
        also = also + (SEND6_OOB_IGNORED,)
    kind = v6_kind(m, daddr)
    if kind == "nonlocal":
        return _with(SEND_UNREACH.fail(E.ENETUNREACH), also)
    if kind != "loopback":
        raise _nm(f"a datagram to {daddr}")
    bound = _local_addr(sock)
    if bound is not None and bound != "::1":
        raise _nm("a datagram to ::1 from a socket bound to another address")
    if msg.len + UDP_HLEN > IPV6_MAXPLEN:
        return _with(SEND_EMSGSIZE.fail(E.EMSGSIZE), also)
    bad = _alloc_and_copy(m, sock, msg, also)
    if bad is not None:
        return bad
    data = msg.iter.read()
    deliver, rules = _deliver(m, sock, False, "::1", "::1", dport, data)
    return rules[0].ok(msg.len, apply=deliver, also=tuple(also) + rules[1:])


def _v4_path(m, sock, msg, also, v4_name: bytes):
    if icsk.ipv6only(sock):
        return _with(SEND_UNREACH.fail(E.ENETUNREACH), also)
    return udp_sendmsg(m, sock, msg, also, name_v4=v4_name)


# --------------------------------------------------------------------------- recvmsg

def udp_recvmsg(m, sock, rmsg):
    """udp_recvmsg() / udpv6_recvmsg() -> __skb_recv_udp()."""
    from . import errqueue
    from .socket import Received
    if rmsg.flags & errqueue.MSG_ERRQUEUE:           # ip_recv_error() / ipv6_recv_error()
        return errqueue.recv_error(m, sock, rmsg)
    also = (RECV_OOB_IGNORED,) if rmsg.flags & L.MSG_OOB else ()
    if sock.so_error:
        err = sock.so_error

        def take(model, result, sock=sock):
            sock.take_error()
        return Outcome(RECV_SK_ERR, err, Exact(-1), {}, take, also)
    if not sock.recv_queue:
        if rmsg.nonblock:
            return Outcome(RECV_EAGAIN, E.EAGAIN, Exact(-1), {}, None, also)
        if sock.shutdown & RCV_SHUTDOWN:
            return Received(RECV_SHUT_EOF, 0, also=also)
        raise _nm("a blocking UDP receive on an empty queue waits")
    skb = sock.recv_queue[0]

    def take(model, result, sock=sock, skb=skb):
        if not rmsg.peek:
            sock.recv_queue.remove(skb)
    ulen = len(skb.data)
    copied = min(rmsg.size, ulen)
    flags = L.MSG_TRUNC if copied < ulen else 0
    also += (RECV_PEEK,) if rmsg.peek else ()
    if rmsg.iter.write_faults(copied):
        return Outcome(RECV_FAULT, E.EFAULT, Exact(-1), {}, take, also)
    name = (source_of(skb, sock.family), 16 if sock.family == L.AF_INET else 28)
    ret = copied
    if rmsg.flags & L.MSG_TRUNC:
        ret, also = ulen, also + (RECV_TRUNC,)
    return Received(RECV_OK, ret, skb.data[:copied], name, flags, take, also)
