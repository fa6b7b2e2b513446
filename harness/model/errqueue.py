"""The socket error queue (sk->sk_error_queue) of inet sockets: IP_RECVERR / IPV6_RECVERR
(net/ipv4/ip_sockglue.c, net/ipv6/ipv6_sockglue.c), the ICMP errors a UDP socket queues there
(ip_icmp_error(), ipv6_icmp_error() from __udp4_lib_err() / __udp6_lib_err()), and
recvmsg(MSG_ERRQUEUE) (ip_recv_error(), ipv6_recv_error(), sock_dequeue_err_skb()), with the
control message put_cmsg() writes (net/core/scm.c).

AF_UNIX has no error queue: its receive paths never look at MSG_ERRQUEUE.

Not modelled: the errors other origins queue (timestamping, zerocopy completions, local
EMSGSIZE with IP_RECVERR), IP_RECVERR on an IPv6 socket (the v4-mapped path), IP_RECVERR_RFC4884,
the compat cmsg layout (put_cmsg_compat), the cmsgs IP_PKTINFO and friends add to an error.
"""
from __future__ import annotations

import errno as E
import struct
from dataclasses import dataclass

from ..abi import linux as L
from ..abi.errqueue import (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ICMPV6_DEST_UNREACH,
                            ICMPV6_PORT_UNREACH, IP_RECVERR, IPV6_RECVERR, MSG_ERRQUEUE,
                            SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6, SockExtendedErr)
from ..mem import SockaddrIn, SockaddrIn6
from .rules import Exact, Outcome, rule

# --------------------------------------------------------------------------- rules

SET_RECVERR = rule(
    "setsockopt.ip_recverr", "0; IP_RECVERR = (val != 0); turning it off empties the error queue",
    "IP_RECVERR (SOL_IP, an AF_INET socket) reads an int (optlen >= 4), a byte (1..3) or "
    "nothing (optlen 0: val 0) and stores whether it is non-zero; 0 also purges the error "
    "queue.",
    "net/ipv4/ip_sockglue.c do_ip_setsockopt(): optlen >= sizeof(int) ? copy int : optlen >= "
    "sizeof(char) ? copy byte; case IP_RECVERR: inet->recverr = !!val (6.6+: "
    "inet_assign_bit(RECVERR, sk, val)); if (!val) skb_queue_purge(&sk->sk_error_queue); ip(7) "
    "IP_RECVERR")
SET_RECVERR6 = rule(
    "setsockopt.ipv6_recverr", "0; IPV6_RECVERR = (val != 0); turning it off empties the error "
    "queue",
    "IPV6_RECVERR (SOL_IPV6) needs optlen >= sizeof(int) (less: EINVAL) and stores whether the "
    "int is non-zero; 0 also purges the error queue.",
    "net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt(): case IPV6_RECVERR: if (optlen < "
    "sizeof(int)) goto e_inval; np->recverr = valbool (6.6+: inet6_assign_bit(RECVERR6)); if "
    "(!val) skb_queue_purge(&sk->sk_error_queue); ipv6(7) IPV6_RECVERR")
SET_RECVERR6_SHORT = rule(
    "setsockopt.ipv6_recverr_optlen", "EINVAL",
    "IPV6_RECVERR with optlen < sizeof(int).",
    "net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt(): case IPV6_RECVERR: if (optlen < "
    "sizeof(int)) goto e_inval")
SET_RECVERR_FAULT = rule(
    "setsockopt.ip_recverr_fault", "EFAULT",
    "The IP_RECVERR / IPV6_RECVERR value cannot be read.",
    "net/ipv4/ip_sockglue.c do_ip_setsockopt() / net/ipv6/ipv6_sockglue.c "
    "do_ipv6_setsockopt(): copy_from_sockptr(&val, optval, sizeof(val)) -> -EFAULT")
GET_RECVERR = rule(
    "getsockopt.ip_recverr", "0, the flag (0 or 1)",
    "IP_RECVERR / IPV6_RECVERR read back 1 when set, 0 when not (the default).",
    "net/ipv4/ip_sockglue.c do_ip_getsockopt(): case IP_RECVERR: val = inet->recverr; "
    "net/ipv6/ipv6_sockglue.c do_ipv6_getsockopt(): case IPV6_RECVERR: val = np->recverr; ip(7)")

EMPTY = rule(
    "recv.errqueue_empty", "EAGAIN",
    "recvmsg (or recv, recvfrom, recvmmsg) with MSG_ERRQUEUE on an inet socket whose error "
    "queue is empty answers EAGAIN at once, whether or not the call may wait, and before "
    "anything else the protocol checks (a pending socket error stays pending, a listening or "
    "unconnected TCP socket is not refused).",
    "net/ipv4/udp.c udp_recvmsg(): if (flags & MSG_ERRQUEUE) return ip_recv_error(); "
    "net/ipv6/udp.c udpv6_recvmsg() -> ipv6_recv_error(); net/ipv4/tcp.c tcp_recvmsg() -> "
    "inet_recv_error(); net/ipv4/raw.c raw_recvmsg(), net/ipv6/raw.c rawv6_recvmsg(), "
    "net/ipv4/ping.c ping_recvmsg() likewise; net/ipv4/ip_sockglue.c ip_recv_error(): err = "
    "-EAGAIN; skb = "
    "sock_dequeue_err_skb(sk); if (!skb) goto out; ip(7) IP_RECVERR")
ICMP_ERROR = rule(
    "recv.errqueue_icmp", "the offending datagram's payload; msg_flags MSG_ERRQUEUE; the "
    "destination it was sent to; a cmsg IP_RECVERR / IPV6_RECVERR",
    "recvmsg(MSG_ERRQUEUE) takes the oldest queued error: the payload of the datagram the ICMP "
    "error quoted (cut to the buffer with MSG_TRUNC in msg_flags; MSG_TRUNC in the flags does "
    "not return the full length, MSG_PEEK does not leave it queued), msg_name the address and "
    "port it was sent to, msg_flags | MSG_ERRQUEUE, and a control message SOL_IP/IP_RECVERR "
    "(IPv6: SOL_IPV6/IPV6_RECVERR) holding struct sock_extended_err -- ee_errno ECONNREFUSED, "
    "ee_origin SO_EE_ORIGIN_ICMP, type 3 code 3 (ICMPv6: SO_EE_ORIGIN_ICMP6, type 1 code 4), "
    "ee_info and ee_data 0 -- followed by the offender (the ICMP packet's source address, "
    "port 0).",
    "net/ipv4/ip_sockglue.c ip_recv_error(): copied = skb->len; if (copied > len) msg_flags |= "
    "MSG_TRUNC; sin_port = serr->port; errhdr.offender.sin_addr = ip_hdr(skb)->saddr; "
    "put_cmsg(msg, SOL_IP, IP_RECVERR, sizeof(errhdr), &errhdr); msg_flags |= MSG_ERRQUEUE; "
    "net/ipv6/datagram.c ipv6_recv_error(); ip(7) IP_RECVERR, ipv6(7)",
    shows=('answer', 'out.data', 'out.msg_flags', 'out.cmsgs', 'out.name', 'out.addr',
           'out.controllen'))
SK_ERR_NEXT = rule(
    "recv.errqueue_sk_err_follows", "the socket error becomes the next queued ICMP error's "
    "errno, or 0",
    "Taking an ICMP error off the error queue sets the socket error (SO_ERROR, the next send "
    "or receive) to the ee_errno of the next queued ICMP error, or clears it when none is "
    "left. (From 38b257938ac6 until 985f7337421a, v5.10-rc6, it took ee_origin: older than "
    "every kernel in scope.)",
    "net/core/skbuff.c sock_dequeue_err_skb(): if (icmp_next) sk->sk_err = "
    "SKB_EXT_ERR(skb_next)->ee.ee_errno; if (is_icmp_err_skb(skb) && !icmp_next) sk->sk_err = "
    "0 (commit 985f7337421a 'sock: set sk_err to ee_errno on dequeue from errq')",
    shows=('SO_ERROR', 'answer'))
FAULT = rule(
    "recv.errqueue_fault", "EFAULT; the error is lost",
    "The data buffer cannot be written: the error was already taken off the queue and is "
    "dropped.",
    "net/ipv4/ip_sockglue.c ip_recv_error(): skb = sock_dequeue_err_skb(sk); err = "
    "skb_copy_datagram_msg(); if (unlikely(err)) { kfree_skb(skb); return err; }")
CTRUNC = rule(
    "recv.cmsg_ctrunc", "MSG_CTRUNC in msg_flags; what fits is written",
    "A control message that does not fit msg_controllen is cut: with less room than a cmsghdr "
    "nothing is written; otherwise cmsg_len says how much was (the data cut with it); "
    "msg_flags gets MSG_CTRUNC and msg_controllen the bytes used.",
    "net/core/scm.c put_cmsg(): if (!msg->msg_control || msg->msg_controllen < sizeof(struct "
    "cmsghdr)) { msg->msg_flags |= MSG_CTRUNC; return 0; } if (msg->msg_controllen < cmlen) { "
    "msg->msg_flags |= MSG_CTRUNC; cmlen = msg->msg_controllen; }; recvmsg(2) MSG_CTRUNC",
    shows=('out.msg_flags', 'out.cmsgs', 'out.controllen'))
QUEUED = rule(
    "send.udp_icmp_error_queued", "the length; the ICMP error is queued and sets SO_ERROR",
    "With IP_RECVERR (IPv6: IPV6_RECVERR) the ICMP port unreachable that answers a datagram "
    "is queued on the sender's error queue (POLLERR), and sets the socket error "
    "ECONNREFUSED whether the socket is connected or not.",
    "net/ipv4/udp.c __udp4_lib_err(): if (!inet->recverr) { ... } else ip_icmp_error(sk, skb, "
    "err, uh->dest, info, (u8 *)(uh+1)); sk->sk_err = err; sk_error_report(sk); net/ipv6/udp.c "
    "__udp6_lib_err() -> ipv6_icmp_error(); net/ipv4/ip_sockglue.c ip_icmp_error() -> "
    "sock_queue_err_skb(); ip(7) IP_RECVERR",
    shows=('answer', 'SO_ERROR'))
UNMATCHED = rule(
    "send.udp_icmp_error_unmatched", "the length; the ICMP error reaches no socket",
    "The ICMP error is delivered to the socket that would receive a datagram from the "
    "destination: a socket connected elsewhere that sent with sendto() to another address "
    "does not match (compute_score() wants its peer), so it gets no error at all.",
    "net/ipv4/udp.c __udp4_lib_err(): sk = __udp4_lib_lookup(net, iph->daddr, uh->dest, "
    "iph->saddr, uh->source, ...); if (!sk) ... goto out; compute_score(): inet_daddr != saddr "
    "-> -1; net/ipv6/udp.c __udp6_lib_err()")
RAW_OOB = rule(
    "recv.raw_oob", "EOPNOTSUPP",
    "MSG_OOB on a raw or ping socket's receive is refused before anything else (MSG_ERRQUEUE "
    "too).",
    "net/ipv4/raw.c raw_recvmsg(): err = -EOPNOTSUPP; if (flags & MSG_OOB) goto out; "
    "net/ipv6/raw.c rawv6_recvmsg(): if (flags & MSG_OOB) return -EOPNOTSUPP; net/ipv4/ping.c "
    "ping_recvmsg(): if (flags & MSG_OOB) goto out")
UNIX_IGNORED = rule(
    "recv.unix_errqueue_ignored", "an ordinary receive",
    "AF_UNIX has no error queue and never looks at MSG_ERRQUEUE: the receive takes queued data "
    "as without the flag (EAGAIN only when nothing is queued), and msg_flags does not show "
    "it.",
    "net/unix/af_unix.c unix_stream_read_generic(), __unix_dgram_recvmsg(): no MSG_ERRQUEUE "
    "test (only MSG_OOB); net/socket.c ____sys_recvmsg(): msg_flags = flags & "
    "(MSG_CMSG_CLOEXEC|MSG_CMSG_COMPAT)")

# the part of the offending datagram an ICMP error quotes: icmp_send() fits the original IP
# packet into 576 bytes (ICMPv6: the 1280-byte minimum MTU) after its own headers; the model
# keeps to payloads that certainly fit whole
QUOTED_WHOLE = {L.AF_INET: 512, L.AF_INET6: 1024}


@dataclass(eq=False)
class ErrSkb:
    """One sock_exterr_skb of sk_error_queue: the payload after the quoted UDP header, the
    extended error (with the ICMP packet's source as offender), and the address the offending
    datagram was sent to (serr->addr_offset, serr->port)."""
    payload: bytes
    ee: SockExtendedErr
    dest: object
    family: int                  # AF_INET: queued by ip_icmp_error(); AF_INET6: ipv6_icmp_error()


def _int_of(opt, n: int):
    raw = opt.read(n)
    if raw is None:
        return None
    return struct.unpack("=i", raw)[0] if n == 4 else raw[0]


def _key(sock, level: int, name: int) -> str | None:
    """The option this module answers on this socket, or None. IP_RECVERR on an IPv6 socket
    (the v4-mapped path) is not modelled."""
    if not (sock.type == L.SOCK_DGRAM and sock.protocol in (0, L.IPPROTO_UDP)) and \
            not (sock.type == L.SOCK_STREAM and sock.protocol in (0, L.IPPROTO_TCP)):
        return None
    if sock.family == L.AF_INET and (level, name) == (L.SOL_IP, IP_RECVERR):
        return "IP_RECVERR"
    if sock.family == L.AF_INET6 and (level, name) == (L.SOL_IPV6, IPV6_RECVERR):
        return "IPV6_RECVERR"
    return None


def setsockopt(m, sock, level: int, name: int, opt):
    """do_ip_setsockopt() / do_ipv6_setsockopt() for IP_RECVERR / IPV6_RECVERR; None for any
    other option."""
    key = _key(sock, level, name)
    if key is None:
        return None
    n = opt.optlen
    if key == "IP_RECVERR":
        size = 4 if n >= 4 else 1 if n >= 1 else 0
        val = _int_of(opt, size) if size else 0
        if val is None:
            return SET_RECVERR_FAULT.fail(E.EFAULT)
        rule_ = SET_RECVERR
    else:
        val = _int_of(opt, 4) if n >= 4 else 0
        if val is None:
            return SET_RECVERR_FAULT.fail(E.EFAULT)
        if n < 4:
            return SET_RECVERR6_SHORT.fail(E.EINVAL)
        rule_ = SET_RECVERR6

    def store(model, result, sock=sock, key=key, on=int(val != 0)):
        sock.opts[key] = on
        if not on:
            sock.err_queue.clear()              # skb_queue_purge(&sk->sk_error_queue)
    return rule_.ok(0, apply=store)


def getsockopt(m, sock, level: int, name: int, out):
    """do_ip_getsockopt() / do_ipv6_getsockopt() for IP_RECVERR / IPV6_RECVERR (an int
    buffer of the wrapper's); None for any other option."""
    from .socket import NotModelled
    key = _key(sock, level, name)
    if key is None:
        return None
    len_ = out.read_len()
    if len_ is None or len_ < 4 or not out.writable(4) or not out.len_writable():
        raise NotModelled(f"{key} read with *optlen {len_} or a buffer the model cannot see")
    return GET_RECVERR.ok(0, **out.shown(4, struct.pack("=i", int(sock.opts.get(key, 0)))))


# --------------------------------------------------------------------------- queueing

def recverr(sock, v4: bool) -> bool:
    """inet->recverr for an IPv4 datagram, np->recverr for an IPv6 one."""
    return bool(sock.opts.get("IP_RECVERR" if v4 else "IPV6_RECVERR"))


def port_unreachable(sock, v4: bool, daddr: str, dport: int, payload: bytes) -> ErrSkb:
    """The error skb of an ICMP (ICMPv6) port unreachable answering ``payload`` sent to
    daddr:dport, as ip_icmp_error() / ipv6_icmp_error() queue it."""
    from .socket import NotModelled
    family = L.AF_INET if v4 else L.AF_INET6
    if len(payload) > QUOTED_WHOLE[family]:
        raise NotModelled("an ICMP error quoting a datagram it may cut")
    if v4:
        ee = SockExtendedErr(E.ECONNREFUSED, SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH,
                             ICMP_PORT_UNREACH, 0, 0, 0, SockaddrIn(0, daddr))
        return ErrSkb(payload, ee, SockaddrIn(dport, daddr), family)
    ee = SockExtendedErr(E.ECONNREFUSED, SO_EE_ORIGIN_ICMP6, ICMPV6_DEST_UNREACH,
                         ICMPV6_PORT_UNREACH, 0, 0, 0, SockaddrIn6(0, daddr))
    return ErrSkb(payload, ee, SockaddrIn6(dport, daddr), family)


# --------------------------------------------------------------------------- receiving

def recv_error(m, sock, rmsg):
    """inet_recv_error(): ip_recv_error() for an AF_INET socket, ipv6_recv_error() for
    AF_INET6: the oldest queued error, or EAGAIN."""
    from .socket import NotModelled, Received
    if not sock.err_queue:
        return Outcome(EMPTY, E.EAGAIN, Exact(-1), {}, None)
    skb = sock.err_queue[0]
    if skb.family != sock.family:
        raise NotModelled("an IPv4 error on an IPv6 socket's error queue")

    def dequeue(model, result, sock=sock, skb=skb):
        """sock_dequeue_err_skb(): the socket error follows the next ICMP error."""
        sock.err_queue.remove(skb)
        if sock.err_queue:
            sock.so_error = sock.err_queue[0].ee.ee_errno
            sock.err_unprobed = True            # left for the test's next call to read
        else:
            sock.so_error = 0
            sock.err_unprobed = False
    also = (SK_ERR_NEXT,)
    copied = min(len(skb.payload), rmsg.size)
    flags = MSG_ERRQUEUE | (L.MSG_TRUNC if copied < len(skb.payload) else 0)
    if rmsg.iter.write_faults(copied):
        return Outcome(FAULT, E.EFAULT, Exact(-1), {}, dequeue, also)
    v4 = sock.family == L.AF_INET
    name = (skb.dest, 16 if v4 else 28)
    errhdr = skb.ee.encode(16 if v4 else 28)
    control = ((L.SOL_IP, IP_RECVERR, errhdr) if v4 else (L.SOL_IPV6, IPV6_RECVERR, errhdr),)
    return Received(ICMP_ERROR, copied, skb.payload[:copied], name, flags, dequeue, also,
                    control=control)


def raw_recvmsg(m, sock, rmsg):
    """raw_recvmsg() / rawv6_recvmsg() / ping_recvmsg(): MSG_OOB refused, then the error queue
    (nothing the model does queues an error there); what the socket receives is not modelled."""
    from .socket import NotModelled
    if rmsg.flags & L.MSG_OOB:
        return RAW_OOB.fail(E.EOPNOTSUPP)
    if rmsg.flags & MSG_ERRQUEUE:
        return recv_error(m, sock, rmsg)
    raise NotModelled(f"what {sock} receives")


def unix_ignores(answer):
    """An AF_UNIX receive with MSG_ERRQUEUE: the answer without the flag, naming the rule."""
    from dataclasses import replace
    return replace(answer, also=tuple(answer.also) + (UNIX_IGNORED,))


# --------------------------------------------------------------------------- put_cmsg

def put_cmsgs(m, controllen: int, cmsgs) -> tuple[tuple, int, bool]:
    """put_cmsg() for each (level, type, data) into a native msg_control of ``controllen``
    bytes: (the messages the buffer then shows, msg_controllen written back, MSG_CTRUNC)."""
    from ..abi import native
    from ..abi.errqueue import Cmsg, cmsg_len, cmsg_space, cmsghdr, decode_data
    from .socket import NotModelled
    if m.via != "native" and cmsgs and controllen > 0:
        # (with no room at all put_cmsg_compat() only sets MSG_CTRUNC, as put_cmsg() does)
        raise NotModelled("control messages in the compat layout (put_cmsg_compat)")
    abi = native()
    hdr = cmsghdr(abi).size
    left, shown, trunc = controllen, [], False
    for level, type_, data in cmsgs:
        if left < hdr:
            trunc = True
            continue
        cmlen = cmsg_len(len(data), abi)
        if left < cmlen:
            trunc, cmlen = True, left
        body = data[:cmlen - hdr]
        shown.append(Cmsg(cmlen, level, type_, decode_data(level, type_, body)))
        left -= min(cmsg_space(len(data), abi), left)
    return tuple(shown), controllen - left, trunc
