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


class PacketOps(ProtoOps):
    """packet_ops and packet_ops_spkt: bind and getname are packet's own (not modelled);
    connect, socketpair, accept, listen and shutdown are sock_no_*."""
    family = L.AF_PACKET
    name = "packet_ops"


PACKET_OPS = PacketOps()


def packet_create(m, type: int, protocol: int):
    from .socket import Created
    if not m.capable("CAP_NET_RAW"):
        return PACKET_EPERM.fail(E.EPERM)
    if type not in (L.SOCK_DGRAM, L.SOCK_RAW, L.SOCK_PACKET):
        return PACKET_TYPE.fail(E.ESOCKTNOSUPPORT)
    return Created(PACKET_CREATE, Sock(L.AF_PACKET, type, 0, PACKET_OPS))
