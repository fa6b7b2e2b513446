"""net/packet/af_packet.c: packet_create() and the packet proto_ops the suite uses."""
from __future__ import annotations

import errno as E

from ..abi import linux as L
from .ops import ProtoOps
from .rules import rule
from .state import Sock

PACKET_EPERM = rule(
    "socket.packet_eperm", "EPERM",
    "Creating an AF_PACKET socket (including a remapped AF_INET SOCK_PACKET) needs CAP_NET_RAW.",
    "net/packet/af_packet.c packet_create(): !ns_capable(net->user_ns, CAP_NET_RAW); packet(7)")
PACKET_TYPE = rule(
    "socket.packet_type_unsupported", "ESOCKTNOSUPPORT",
    "AF_PACKET takes SOCK_DGRAM, SOCK_RAW and SOCK_PACKET only (checked after the capability).",
    "net/packet/af_packet.c packet_create(): type != SOCK_DGRAM && != SOCK_RAW && != SOCK_PACKET")
PACKET_CREATE = rule(
    "socket.packet_create", "fd",
    "An AF_PACKET socket. The protocol (network order, cut to 16 bits) only selects the frames "
    "it receives: sk_protocol is never set, so SO_PROTOCOL reads 0.",
    "net/packet/af_packet.c packet_create(): po->num = proto, no sk->sk_protocol; packet(7)",
    shows=('answer', 'SO_DOMAIN', 'SO_PROTOCOL'))


RECV_FLAGS_INVALID = rule(
    "recv.packet_flags_invalid", "EINVAL",
    "A packet socket receives with MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC and MSG_ERRQUEUE only: "
    "any other flag (MSG_WAITALL, MSG_OOB, MSG_CMSG_CLOEXEC ...) is refused first.",
    "net/packet/af_packet.c packet_recvmsg(): if (flags & ~(MSG_PEEK|MSG_DONTWAIT|MSG_TRUNC|"
    "MSG_CMSG_COMPAT|MSG_ERRQUEUE)) goto out (-EINVAL)")
RECV_ERRQUEUE_EMPTY = rule(
    "recv.packet_errqueue_empty", "EAGAIN",
    "MSG_ERRQUEUE on a packet socket reads its error queue (transmit timestamps, which the "
    "suite never asks for): empty, EAGAIN at once whether or not the call may wait.",
    "net/packet/af_packet.c packet_recvmsg(): if (flags & MSG_ERRQUEUE) { err = "
    "sock_recv_errqueue(sk, msg, len, SOL_PACKET, PACKET_TX_TIMESTAMP); goto out; }; "
    "net/core/sock.c sock_recv_errqueue(): err = -EAGAIN; skb = sock_dequeue_err_skb(sk); if "
    "(skb == NULL) goto out")
MSG_ERRQUEUE = 0x2000
MSG_CMSG_COMPAT = 0x80000000
PACKET_RECV_FLAGS = L.MSG_PEEK | L.MSG_DONTWAIT | L.MSG_TRUNC | MSG_CMSG_COMPAT | MSG_ERRQUEUE


class PacketOps(ProtoOps):
    """packet_ops and packet_ops_spkt: bind and getname are packet's own (not modelled);
    connect, socketpair, accept, listen and shutdown are sock_no_*. Of packet_recvmsg() only
    the flag check and MSG_ERRQUEUE are modelled (what a packet socket receives from the
    interfaces is not)."""
    family = L.AF_PACKET
    name = "packet_ops"

    def recvmsg(self, m, sock, rmsg):
        from .socket import NotModelled
        if rmsg.flags & ~PACKET_RECV_FLAGS:
            return RECV_FLAGS_INVALID.fail(E.EINVAL)
        if rmsg.flags & MSG_ERRQUEUE:
            return RECV_ERRQUEUE_EMPTY.fail(E.EAGAIN)
        raise NotModelled("a packet socket's receive (frames from the interfaces)")


PACKET_OPS = PacketOps()


def packet_create(m, type: int, protocol: int):
    from .socket import Created
    if not m.capable("CAP_NET_RAW"):
        return PACKET_EPERM.fail(E.EPERM)
    if type not in (L.SOCK_DGRAM, L.SOCK_RAW, L.SOCK_PACKET):
        return PACKET_TYPE.fail(E.ESOCKTNOSUPPORT)
    return Created(PACKET_CREATE, Sock(L.AF_PACKET, type, 0, PACKET_OPS))
