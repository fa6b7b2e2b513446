"""net/ipv4/af_inet.c: inet_create() and the inet proto_ops (inet_stream_ops, inet_dgram_ops,
inet_sockraw_ops); the protocol details they reach (tcp, udp, ping, raw) are modelled here too.
"""
from __future__ import annotations

import errno as E

from ..abi import linux as L
from .ops import ProtoOps
from .rules import rule
from .state import Sock

IPPROTO_MAX = 263            # include/uapi/linux/in.h: IPPROTO_MPTCP + 1

INET_PROTOCOL_RANGE = rule(
    "socket.inet_protocol_range", "EINVAL",
    "AF_INET/AF_INET6 protocol < 0 or >= IPPROTO_MAX.",
    "net/ipv4/af_inet.c inet_create(), net/ipv6/af_inet6.c inet6_create(): "
    "protocol < 0 || protocol >= IPPROTO_MAX")
INET_TYPE_UNSUPPORTED = rule(
    "socket.inet_type_unsupported", "ESOCKTNOSUPPORT",
    "No inet protocol is registered for this socket type (inetsw[type] is empty).",
    "net/ipv4/af_inet.c inet_create(): err = -ESOCKTNOSUPPORT before the inetsw[type] walk; "
    "socket(2) ERRORS")
INET_PROTOCOL_UNSUPPORTED = rule(
    "socket.inet_protocol_unsupported", "EPROTONOSUPPORT",
    "The type has protocols, but none matches (protocol 0 matches a type's default, except "
    "for SOCK_RAW whose only entry is the IPPROTO_IP wildcard).",
    "net/ipv4/af_inet.c inet_create(): err = -EPROTONOSUPPORT in the inetsw[type] walk; "
    "socket(2) ERRORS EPROTONOSUPPORT")
INET_RAW_EPERM = rule(
    "socket.inet_raw_eperm", "EPERM",
    "SOCK_RAW needs CAP_NET_RAW (checked after the protocol lookup).",
    "net/ipv4/af_inet.c inet_create(): SOCK_RAW && !ns_capable(net->user_ns, CAP_NET_RAW); raw(7)")
INET_CREATE = rule(
    "socket.inet_create", "fd",
    "An inet socket; protocol 0 becomes the type's default (TCP, UDP), which SO_PROTOCOL reports.",
    "net/ipv4/af_inet.c inet_create(): the IPPROTO_IP wildcard cases; socket(2), ip(7)")
PING_GROUP = rule(
    "socket.ping_group_range", "EACCES",
    "An ICMP datagram (ping) socket needs the caller's group in net.ipv4.ping_group_range "
    "(root is not exempt; the default 1 0 admits nobody).",
    "net/ipv4/ping.c ping_init_sock(); icmp(7) ping_group_range")


# inetsw[type]: (protocol, name in /proc/net/protocols), in registration order: the permanent
# inetsw_array entries (tcp, udp, ping, raw) first, then what modules or late init add.
INETSW = {
    L.SOCK_STREAM: ((L.IPPROTO_TCP, "TCP"), (L.IPPROTO_MPTCP, "MPTCP")),
    L.SOCK_DGRAM: ((L.IPPROTO_UDP, "UDP"), (L.IPPROTO_ICMP, "PING"), (L.IPPROTO_UDPLITE, "UDP-Lite")),
    L.SOCK_RAW: ((L.IPPROTO_IP, "RAW"),),
    L.SOCK_SEQPACKET: ((L.IPPROTO_SCTP, "SCTP"),),
}
INET6SW = {
    L.SOCK_STREAM: ((L.IPPROTO_TCP, "TCPv6"), (L.IPPROTO_MPTCP, "MPTCPv6")),
    L.SOCK_DGRAM: ((L.IPPROTO_UDP, "UDPv6"), (L.IPPROTO_ICMPV6, "PINGv6"), (L.IPPROTO_UDPLITE, "UDPLITEv6")),
    L.SOCK_RAW: ((L.IPPROTO_IP, "RAWv6"),),
    L.SOCK_SEQPACKET: ((L.IPPROTO_SCTP, "SCTPv6"),),
}
_ALWAYS = {"TCP", "UDP", "PING", "RAW", "TCPv6", "UDPv6", "PINGv6", "RAWv6"}


def registered(m, table, type: int):
    """The entries of inetsw[type] this kernel has (from /proc/net/protocols when present)."""
    names = set(m.profile.protocols) or _ALWAYS
    return [(proto, name) for proto, name in table.get(type, ()) if name in names or name in _ALWAYS]


def inetsw_lookup(m, table, type: int, protocol: int):
    """The inetsw[type] walk of inet_create(): the matching protocol, or an error outcome."""
    err = INET_TYPE_UNSUPPORTED.fail(E.ESOCKTNOSUPPORT)
    for answer, _name in registered(m, table, type):
        err = None
        if protocol == answer:
            if protocol != L.IPPROTO_IP:
                return protocol
        else:
            if protocol == L.IPPROTO_IP:             # the two wild cases
                return answer
            if answer == L.IPPROTO_IP:
                return protocol
        err = INET_PROTOCOL_UNSUPPORTED.fail(E.EPROTONOSUPPORT)
    return err


def in_ping_group_range(m) -> bool:
    low, high = (m.profile.sysctl_ints("net.ipv4.ping_group_range") or (1, 0))[:2]
    return any(low <= gid <= high for gid in m.profile.groups)


def _create(m, family: int, table, ping_protocol: int, ops, type: int, protocol: int):
    from .socket import Created, is_error
    if protocol < 0 or protocol >= IPPROTO_MAX:
        return INET_PROTOCOL_RANGE.fail(E.EINVAL)
    found = inetsw_lookup(m, table, type, protocol)
    if is_error(found):
        return found
    if type == L.SOCK_RAW and not m.capable("CAP_NET_RAW"):
        return INET_RAW_EPERM.fail(E.EPERM)
    if type == L.SOCK_DGRAM and found == ping_protocol and not in_ping_group_range(m):
        return PING_GROUP.fail(E.EACCES)
    return Created(INET_CREATE, Sock(family, type, found, ops(type)))


def inet_create(m, type: int, protocol: int):
    return _create(m, L.AF_INET, INETSW, L.IPPROTO_ICMP, inet_ops, type, protocol)


def inet6_create(m, type: int, protocol: int):
    """net/ipv6/af_inet6.c inet6_create(): the same walk over inetsw6."""
    return _create(m, L.AF_INET6, INET6SW, L.IPPROTO_ICMPV6, inet_ops, type, protocol)


class InetStreamOps(ProtoOps):
    family = L.AF_INET
    name = "inet_stream_ops"


class InetDgramOps(ProtoOps):
    family = L.AF_INET
    name = "inet_dgram_ops"


class InetRawOps(ProtoOps):
    family = L.AF_INET
    name = "inet_sockraw_ops"


INET_STREAM_OPS, INET_DGRAM_OPS, INET_RAW_OPS = InetStreamOps(), InetDgramOps(), InetRawOps()


def inet_ops(type: int) -> ProtoOps:
    return {L.SOCK_STREAM: INET_STREAM_OPS, L.SOCK_DGRAM: INET_DGRAM_OPS}.get(type, INET_RAW_OPS)
