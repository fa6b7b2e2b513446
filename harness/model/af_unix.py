"""net/unix/af_unix.c: unix_create(), unix_socketpair() and the unix proto_ops
(unix_stream_ops, unix_dgram_ops, unix_seqpacket_ops)."""
from __future__ import annotations

import errno as E

from ..abi import linux as L
from .ops import ProtoOps
from .rules import rule
from .state import Sock

UNIX_PROTOCOL = rule(
    "socket.unix_protocol", "EPROTONOSUPPORT",
    "AF_UNIX protocol other than 0 or PF_UNIX.",
    "net/unix/af_unix.c unix_create(): protocol && protocol != PF_UNIX; unix(7)")
UNIX_TYPE = rule(
    "socket.unix_type_unsupported", "ESOCKTNOSUPPORT",
    "AF_UNIX takes SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET (and SOCK_RAW) only.",
    "net/unix/af_unix.c unix_create(): default: return -ESOCKTNOSUPPORT")
UNIX_RAW_IS_DGRAM = rule(
    "socket.unix_raw_is_dgram", "fd (SO_TYPE = SOCK_DGRAM)",
    "AF_UNIX SOCK_RAW is created as SOCK_DGRAM.",
    "net/unix/af_unix.c unix_create(): case SOCK_RAW: sock->type = SOCK_DGRAM")
UNIX_CREATE = rule(
    "socket.unix_create", "fd",
    "An AF_UNIX socket; SO_PROTOCOL reads 0 whatever protocol (0 or PF_UNIX) was given.",
    "net/unix/af_unix.c unix_create() -> unix_create1(): sk_protocol is not set; unix(7)")
UNIX_SOCKETPAIR = rule(
    "socketpair.unix", "0, two connected sockets",
    "socketpair() on AF_UNIX: both ends connected to each other, each unnamed.",
    "net/unix/af_unix.c unix_socketpair(); socketpair(2)")


class UnixOps(ProtoOps):
    family = L.AF_UNIX

    def __init__(self, name: str):
        self.name = name

    def socketpair(self, m, a: Sock, b: Sock):
        def connect_pair(model, result):
            a.peer_sock, b.peer_sock = b, a
            a.state = b.state = "connected"
        return UNIX_SOCKETPAIR.ok(0, apply=connect_pair)


UNIX_STREAM_OPS = UnixOps("unix_stream_ops")
UNIX_DGRAM_OPS = UnixOps("unix_dgram_ops")
UNIX_SEQPACKET_OPS = UnixOps("unix_seqpacket_ops")


def unix_create(m, type: int, protocol: int):
    from .socket import Created
    if protocol and protocol != L.AF_UNIX:
        return UNIX_PROTOCOL.fail(E.EPROTONOSUPPORT)
    if type == L.SOCK_STREAM:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_STREAM_OPS))
    if type == L.SOCK_RAW:
        return Created(UNIX_RAW_IS_DGRAM, Sock(L.AF_UNIX, L.SOCK_DGRAM, 0, UNIX_DGRAM_OPS))
    if type == L.SOCK_DGRAM:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_DGRAM_OPS))
    if type == L.SOCK_SEQPACKET:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_SEQPACKET_OPS))
    return UNIX_TYPE.fail(E.ESOCKTNOSUPPORT)
