"""Connected pairs as data (after gVisor's SocketPairKind with IncludeReversals): a pair kind
says how to make two connected sockets, and a test body written once runs over every kind and
both directions. Ids read like ``tcp6-accepted`` or ``unix-dgram-socketpair-reversed``."""
from __future__ import annotations

import errno as E
from dataclasses import dataclass

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrIn6

from . import endpoints
from .kinds import Kind

POLLIN, POLLERR, POLLHUP = 0x1, 0x8, 0x10


@dataclass(frozen=True)
class PairKind:
    name: str              # tcp, tcp6, udp, udp6, unix-stream, unix-dgram, unix-seqpacket
    how: str               # accepted (connect + accept), socketpair, connected (datagram)
    family: int
    type: int
    addressing: str = ""   # the Kind used for bound/listening sockets

    @property
    def id(self) -> str:
        return f"{self.name}-{self.how}"

    @property
    def is_inet(self) -> bool:
        return self.family in (L.AF_INET, L.AF_INET6)

    @property
    def stream(self) -> bool:
        return self.type == L.SOCK_STREAM

    @property
    def records(self) -> bool:
        """Message boundaries are kept (datagram, seqpacket)."""
        return self.type != L.SOCK_STREAM

    @property
    def kind(self) -> Kind:
        return Kind(self.addressing, self.type)

    def make(self, sc, flags: int = L.SOCK_CLOEXEC) -> tuple[int, int]:
        """Two connected sockets, every step a checked call. A listener is closed again."""
        ok = endpoints.setup_ok
        endpoints.needs_family(sc, self.family)
        if self.how == "socketpair":
            a, b = ok(sc, sc.socketpair(self.family, self.type | flags, 0)).out["fds"]
            return a, b
        if self.how == "accepted":
            lfd, addr = endpoints.listener(sc, self.kind)
            c = ok(sc, sc.socket(self.family, self.type | flags, 0)).ret
            ok(sc, sc.connect(c, addr), allow=(E.EINPROGRESS,) if flags & L.SOCK_NONBLOCK else ())
            a = ok(sc, sc.accept4(lfd, flags & (L.SOCK_CLOEXEC | L.SOCK_NONBLOCK))).ret
            ok(sc, sc.close(lfd))
            return c, a
        a, a_addr = endpoints.bound(sc, self.kind, flags)
        b, b_addr = endpoints.bound(sc, self.kind, flags)
        ok(sc, sc.connect(a, b_addr))
        ok(sc, sc.connect(b, a_addr))
        return a, b

PAIRS = [
    PairKind("tcp", "accepted", L.AF_INET, L.SOCK_STREAM, "inet"),
    PairKind("tcp6", "accepted", L.AF_INET6, L.SOCK_STREAM, "inet6"),
    PairKind("udp", "connected", L.AF_INET, L.SOCK_DGRAM, "inet"),
    PairKind("udp6", "connected", L.AF_INET6, L.SOCK_DGRAM, "inet6"),
    PairKind("unix-stream", "socketpair", L.AF_UNIX, L.SOCK_STREAM),
    PairKind("unix-stream", "accepted", L.AF_UNIX, L.SOCK_STREAM, "unix-path"),
    PairKind("unix-dgram", "socketpair", L.AF_UNIX, L.SOCK_DGRAM),
    PairKind("unix-dgram", "connected", L.AF_UNIX, L.SOCK_DGRAM, "unix-abstract"),
    PairKind("unix-seqpacket", "socketpair", L.AF_UNIX, L.SOCK_SEQPACKET),
    PairKind("unix-seqpacket", "accepted", L.AF_UNIX, L.SOCK_SEQPACKET, "unix-abstract"),
]
BY_ID = {p.id: p for p in PAIRS}
STREAMS = [p for p in PAIRS if p.stream]
RECORDS = [p for p in PAIRS if p.records]
INET = [p for p in PAIRS if p.is_inet]
UNIX = [p for p in PAIRS if not p.is_inet]
ONE_EACH = [BY_ID[i] for i in ("tcp-accepted", "udp6-connected", "unix-stream-socketpair",
                               "unix-dgram-socketpair", "unix-seqpacket-accepted")]


def directions(pairs):
    """(pair, reversed) params with readable ids: each pair both ways round."""
    import pytest
    return [pytest.param(p, rev, id=p.id + ("-reversed" if rev else ""))
            for p in pairs for rev in (False, True)]


def ids(pairs) -> list[str]:
    return [p.id for p in pairs]


def connected(sc, pair: PairKind, reverse: bool = False, flags: int = L.SOCK_CLOEXEC):
    """(sender, receiver) of a fresh pair; reversed swaps the ends."""
    a, b = pair.make(sc, flags)
    return (b, a) if reverse else (a, b)


def arrived(sc, pair: PairKind, fd: int, nbytes: int = 1) -> None:
    """Before a receive that must not wait: on loopback the bytes are there in practice, but
    only AF_UNIX promises it when the send returns; wait (bounded) for inet."""
    if pair.is_inet:
        sc.wait(fd, POLLIN, nbytes=nbytes)


def loopback_of(family: int, port: int = 0):
    return SockaddrIn(port, "127.0.0.1") if family == L.AF_INET else SockaddrIn6(port, "::1")
