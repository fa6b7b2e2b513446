"""net/netlink/af_netlink.c: netlink_create() and the netlink proto_ops the suite uses."""
from __future__ import annotations

import errno as E

from ..abi import linux as L
from .ops import ProtoOps
from .rules import rule
from .state import Sock

NETLINK_TYPE = rule(
    "socket.netlink_type_unsupported", "ESOCKTNOSUPPORT",
    "AF_NETLINK takes SOCK_RAW and SOCK_DGRAM only.",
    "net/netlink/af_netlink.c netlink_create(): type != SOCK_RAW && type != SOCK_DGRAM; netlink(7)")
NETLINK_PROTOCOL = rule(
    "socket.netlink_protocol_unsupported", "EPROTONOSUPPORT",
    "The netlink protocol is out of range (< 0 or >= MAX_LINKS) or nothing registered it.",
    "net/netlink/af_netlink.c netlink_create(): protocol >= MAX_LINKS or !nl_table[protocol].registered")
NETLINK_CREATE = rule(
    "socket.netlink_create", "fd",
    "A netlink socket of a registered protocol; SO_PROTOCOL is that protocol.",
    "net/netlink/af_netlink.c netlink_create(); netlink(7)")

# Registered by the netlink core and rtnetlink in every kernel; 1 (unused) and 3 (the old
# firewall, removed in 3.5) by none. Other numbers depend on the configuration.
ALWAYS_REGISTERED = {L.NETLINK_ROUTE, L.NETLINK_USERSOCK, 4, 15, 16}   # + SOCK_DIAG, UEVENT, GENERIC
NEVER_REGISTERED = {1, 3}


class NetlinkOps(ProtoOps):
    """netlink_ops: bind, connect and getname are netlink's own (not modelled); socketpair,
    accept, listen and shutdown are sock_no_*."""
    family = L.AF_NETLINK
    name = "netlink_ops"

    def connect(self, m, sock, addr: bytes, addrlen: int, flags: int):
        from .socket import NotModelled
        raise NotModelled("netlink_connect")


NETLINK_OPS = NetlinkOps()


def netlink_create(m, type: int, protocol: int):
    from .socket import Created, NotModelled
    if type not in (L.SOCK_RAW, L.SOCK_DGRAM):
        return NETLINK_TYPE.fail(E.ESOCKTNOSUPPORT)
    if protocol < 0 or protocol >= L.NETLINK_MAX_LINKS or protocol in NEVER_REGISTERED:
        return NETLINK_PROTOCOL.fail(E.EPROTONOSUPPORT)
    if protocol not in ALWAYS_REGISTERED:
        raise NotModelled(f"netlink protocol {protocol} depends on the kernel configuration")
    return Created(NETLINK_CREATE, Sock(L.AF_NETLINK, type, protocol, NETLINK_OPS))
