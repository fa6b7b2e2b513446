"""The port tables and the accept queue of inet sockets: net/ipv4/inet_connection_sock.c
(inet_csk_get_port, inet_csk_bind_conflict, inet_csk_find_open_port, inet_csk_accept,
sk_acceptq_is_full), net/ipv4/inet_hashtables.c (__inet_hash_connect, the listener lookup) and
net/ipv4/udp.c (udp_lib_get_port, udp_lib_lport_inuse).

``Net.inet_bound`` holds every socket that owns a port: bound or connected TCP and UDP
sockets, accepted and not yet accepted children (they share their listener's port), and TCP
ends that linger after close (FIN_WAIT2, TIME_WAIT; they keep the port). A socket's address in
the table is what getsockname reports (``Sock.local``).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..abi import linux as L
from ..mem import SockaddrIn, SockaddrIn6
from .rules import Constraint, Predicate, rule

LOOPBACK4_IPV6 = int(ipaddress.IPv4Address("127.0.0.6"))   # include/net/ipv6.h: the v4 address
#                                                            of a v6 socket bound to a v6 address

EPHEMERAL = rule(
    "bind.inet_ephemeral_port", "0, a port in net.ipv4.ip_local_port_range",
    "Port 0 (or an implicit bind) picks a free port inside ip_local_port_range.",
    "net/ipv4/inet_connection_sock.c inet_csk_find_open_port(), net/ipv4/udp.c "
    "udp_lib_get_port(): inet_sk_get_local_port_range(); ip(7) ip_local_port_range",
    shows=('sockname',))
EPHEMERAL_BIND_PARITY = rule(
    "bind.tcp_ephemeral_odd", "a port at an odd offset from the range's low end",
    "TCP bind(port 0) and listen() on an unbound socket try ports of the parity opposite to "
    "the range's low end first, leaving the other half to connect().",
    "net/ipv4/inet_connection_sock.c inet_csk_find_open_port(): offset |= 1U ('We do the "
    "opposite to not pollute connect() users')",
    shows=('sockname',))
EPHEMERAL_REUSE_HALF = rule(
    "bind.tcp_ephemeral_reuse_lower_half", "a port in the lower half of the range",
    "With SO_REUSEADDR, TCP's port search starts in the lower half of ip_local_port_range.",
    "net/ipv4/inet_connection_sock.c inet_csk_find_open_port(): attempt_half = sk_reuse == "
    "SK_CAN_REUSE; half = low + (((high - low) >> 2) << 1)",
    shows=('sockname',))
PORTS_EXHAUSTED = rule(
    "bind.inet_ports_exhausted", "EADDRINUSE",
    "Port 0 (or listen() of an unbound TCP socket) when every port of ip_local_port_range is "
    "taken.",
    "net/ipv4/inet_connection_sock.c inet_csk_get_port(): inet_csk_find_open_port() == NULL "
    "-> -EADDRINUSE; net/ipv4/udp.c udp_lib_get_port(); bind(2) ERRORS EADDRINUSE")
EPHEMERAL_CONNECT_PARITY = rule(
    "connect.tcp_ephemeral_even", "a port at an even offset from the range's low end",
    "connect() on an unbound TCP socket picks its source port at an even offset from the "
    "range's low end first.",
    "net/ipv4/inet_hashtables.c __inet_hash_connect(): offset &= ~1U ('In first pass we try "
    "ports of @low parity')",
    shows=('sockname',))


# --------------------------------------------------------------------------- addresses

@dataclass(frozen=True)
class RcvAddr:
    """What the bind table compares: sk_rcv_saddr, sk_v6_rcv_saddr (v6 sockets), ipv6only."""
    family: int
    v4: int
    v6: ipaddress.IPv6Address | None
    ipv6only: bool

    @property
    def v6type(self) -> str:
        if self.v6 is None or self.v6.ipv4_mapped is not None:
            return "mapped"
        return "any" if int(self.v6) == 0 else "addr"


def not_modelled(why: str):
    from .socket import NotModelled
    return NotModelled(why)


def ipv6only(sock) -> bool:
    return bool(sock.opts.get("IPV6_V6ONLY"))


def rcv_addr_of(family: int, sa, only: bool) -> RcvAddr:
    """The table's view of an address the socket is (or would be) bound to."""
    if family == L.AF_INET:
        return RcvAddr(family, int(ipaddress.IPv4Address(sa.addr)), None, False)
    a6 = ipaddress.IPv6Address(sa.addr)
    if a6.ipv4_mapped is not None:
        v4 = int(a6.ipv4_mapped)
    else:
        v4 = 0 if int(a6) == 0 else LOOPBACK4_IPV6
    return RcvAddr(family, v4, a6, only)


def rcv_addr(sock) -> RcvAddr:
    local = sock.local
    if local is None:
        return rcv_addr_of(sock.family, wildcard_of(sock.family), ipv6only(sock))
    if isinstance(local, Constraint):
        raise not_modelled("a socket whose port was never observed holds a port")
    return rcv_addr_of(sock.family, local, ipv6only(sock))


def port_of(sock) -> int | None:
    local = sock.local
    if local is None or isinstance(local, Constraint):
        return None
    return local.port


def wildcard_of(family: int, port: int = 0):
    return SockaddrIn(port, "0.0.0.0") if family == L.AF_INET else SockaddrIn6(port, "::")


def _v4_equal(a: int, b: int, sk2_ipv6only: bool, w1: bool, w2: bool) -> bool:
    if not sk2_ipv6only:
        if a == b:
            return True
        return (w1 and not a) or (w2 and not b)
    return False


def rcv_saddr_equal(sk: RcvAddr, sk2: RcvAddr, wildcard: bool = True) -> bool:
    """inet_rcv_saddr_equal(): whether two bindings of the same port overlap."""
    if sk.family == L.AF_INET6:
        t1, t2 = sk.v6type, (sk2.v6type if sk2.family == L.AF_INET6 else "mapped")
        if t1 == "mapped" and t2 == "mapped":
            return _v4_equal(sk.v4, sk2.v4, sk2.ipv6only, wildcard, wildcard)
        if t1 == "any" and t2 == "any":
            return True
        if t2 == "any" and wildcard and not (sk2.ipv6only and t1 == "mapped"):
            return True
        if t1 == "any" and wildcard and not (sk.ipv6only and t2 == "mapped"):
            return True
        return sk2.family == L.AF_INET6 and sk.v6 == sk2.v6
    return _v4_equal(sk.v4, sk2.v4, sk2.ipv6only, wildcard, wildcard)


# --------------------------------------------------------------------------- tables

def table_of(sock) -> str | None:
    """Which port table the socket's protocol uses (TCP and UDP share v4 and v6)."""
    if sock.type == L.SOCK_STREAM and sock.protocol == L.IPPROTO_TCP:
        return "tcp"
    if sock.type == L.SOCK_DGRAM and sock.protocol == L.IPPROTO_UDP:
        return "udp"
    if sock.type == L.SOCK_DGRAM and sock.protocol == L.IPPROTO_UDPLITE:
        return "udplite"
    return None


def owners(m, table: str, port: int, exclude=None) -> list:
    out = []
    for sk2 in m.net.inet_bound:
        if sk2 is exclude or table_of(sk2) != table:
            continue
        if port_of(sk2) == port:
            out.append(sk2)
    return out


def reuse(sock) -> bool:
    return bool(sock.opts.get("SO_REUSEADDR"))


def bound_dev_if(sock) -> int:
    return int(sock.opts.get("SO_BINDTODEVICE", 0) or 0)


def _dev_overlap(sk, sk2) -> bool:
    a, b = bound_dev_if(sk), bound_dev_if(sk2)
    return not a or not b or a == b


def bind_conflict(m, sock, addr: RcvAddr, port: int, relax: bool = True):
    """inet_csk_bind_conflict() (TCP) / udp_lib_lport_inuse() (UDP): the first socket that
    forbids binding ``sock`` to addr:port, or None."""
    if sock.opts.get("SO_REUSEPORT"):
        raise not_modelled("SO_REUSEPORT bind conflicts")
    table = table_of(sock)
    for sk2 in owners(m, table, port, exclude=sock):
        if sk2.opts.get("SO_REUSEPORT"):
            raise not_modelled("SO_REUSEPORT bind conflicts")
        if not _dev_overlap(sock, sk2):
            continue
        if table == "tcp":
            if reuse(sock) and reuse(sk2) and sk2.sk_state != "LISTEN" and relax:
                continue
        elif reuse(sock) and reuse(sk2):
            continue
        if rcv_saddr_equal(addr, rcv_addr(sk2)):
            return sk2
    return None


def hold(m, sock, by_bind: bool | None = None) -> None:
    """The socket now owns its port (inet_bind_hash / udp hash); ``by_bind``: the port came from
    bind()/listen() (inet_csk_get_port) rather than connect() (__inet_hash_connect)."""
    sock.bound = True
    if by_bind is not None:
        sock.bind_bucket = by_bind
    if table_of(sock) is not None and sock not in m.net.inet_bound:
        m.net.inet_bound.append(sock)


def put_port(m, sock) -> None:
    """inet_put_port() / udp_lib_unhash(): the socket gives its port back."""
    sock.bound = False
    if sock in m.net.inet_bound:
        m.net.inet_bound.remove(sock)


# --------------------------------------------------------------------------- ephemeral ports

def _range(m) -> tuple[int, int]:
    lo, hi = m.net.port_range[:2]
    return lo, hi


def bind_port_choice(m, sock, addr: RcvAddr) -> tuple[Predicate | None, tuple]:
    """The ports inet_csk_find_open_port() (TCP) or udp_lib_get_port() (UDP) may choose for
    sock at addr (None: the range is exhausted), and the rules that say so. TCP scans the odd
    offsets from the range's start, then the even ones; with SO_REUSEADDR the lower half first,
    then the upper half."""
    lo, hi = _range(m)
    table = table_of(sock)
    taken = {}
    for sk2 in m.net.inet_bound:
        if sk2 is not sock and table_of(sk2) == table and port_of(sk2) is not None:
            taken.setdefault(port_of(sk2), []).append(sk2)

    def free(port, relax_reuse):
        for sk2 in taken.get(port, ()):
            if not _dev_overlap(sock, sk2):
                continue
            if relax_reuse and reuse(sock) and reuse(sk2):
                continue
            if rcv_saddr_equal(addr, rcv_addr(sk2)):
                return False
        return True

    if table != "tcp":
        blocked = frozenset(p for p in taken if lo <= p <= hi and not free(p, True))
        if len(blocked) > hi - lo:
            return None, ()
        return Predicate(lambda p: lo <= p <= hi and p not in blocked,
                         f"a free port in {lo}..{hi}"), (EPHEMERAL,)
    blocked = frozenset(p for p in taken if not free(p, False))
    high = hi + 1
    spans = [(lo, high)]
    rules = (EPHEMERAL,)
    if reuse(sock) and high - lo >= 4:
        half = lo + (((high - lo) >> 2) << 1)
        spans = [(lo, half), (half, high)]
    for n, (low, top) in enumerate(spans):
        for parity in (1, 0):
            candidates = len(range(low + parity, top, 2))
            if candidates > sum(1 for p in blocked if low <= p < top and (p - low) % 2 == parity):
                more = (EPHEMERAL_BIND_PARITY,) if parity else ()
                if len(spans) == 2 and n == 0:
                    more += (EPHEMERAL_REUSE_HALF,)
                what = (f"a free port in {low}..{top - 1} at an "
                        f"{'odd' if parity else 'even'} offset from {low}")
                return Predicate(lambda p, low=low, top=top, parity=parity:
                                 low <= p < top and (p - low) % 2 == parity and p not in blocked,
                                 what), rules + more
    return None, ()


def connect_port_choice(m, sock, src: RcvAddr, dst) -> tuple[Predicate | None, tuple]:
    """The source ports __inet_hash_connect() may give an unbound TCP socket connecting to dst
    (a SockaddrIn/In6 as the socket's family writes it): even offsets from the range's start
    first, then odd ones; a port bound by bind()/listen() is skipped, a port used by connect()
    is shared unless the 4-tuple would repeat. None: EADDRNOTAVAIL."""
    lo, hi = _range(m)
    binds, tuples = set(), set()
    for sk2 in m.net.inet_bound:
        if table_of(sk2) != "tcp" or port_of(sk2) is None or sk2 is sock:
            continue
        if sk2.bind_bucket:
            binds.add(port_of(sk2))
        elif sk2.peer is not None and not isinstance(sk2.peer, Constraint):
            tuples.add((rcv_addr(sk2), port_of(sk2), sk2.peer))

    blocked = {p for p in binds if lo <= p <= hi}
    blocked |= {p for (addr, p, dst_) in tuples if addr == src and dst_ == dst and lo <= p <= hi}
    for parity in (0, 1):
        if len(range(lo + parity, hi + 1, 2)) > sum(1 for p in blocked if (p - lo) % 2 == parity):
            more = (EPHEMERAL_CONNECT_PARITY,) if parity == 0 else ()
            what = f"a port in {lo}..{hi} at an {'even' if parity == 0 else 'odd'} offset from {lo}"
            return Predicate(lambda p, parity=parity: lo <= p <= hi and (p - lo) % 2 == parity
                             and p not in blocked, what), (EPHEMERAL,) + more
    return None, ()


def address_with_port(family: int, addr: str, ports: Predicate) -> Predicate:
    """A getsockname value: this address with a port from ``ports``."""
    cls = SockaddrIn if family == L.AF_INET else SockaddrIn6

    def test(sa):
        return type(sa) is cls and sa.addr == addr and sa.port in ports and \
            (cls is SockaddrIn or (sa.flowinfo == 0 and sa.scope_id == 0))
    shown = f"[{addr}]" if family == L.AF_INET6 else addr
    return Predicate(test, f"{shown}:<{ports}>")


# --------------------------------------------------------------------------- listeners

def canonical(family: int, addr: str) -> str:
    """The address as the kernel prints it back (decode_sockaddr's form)."""
    return str(ipaddress.ip_address(addr)) if family == L.AF_INET else \
        str(ipaddress.IPv6Address(addr))


def lookup_listener(m, v4: bool, daddr: str, dport: int):
    """__inet_lookup_listener(): the listener a SYN to daddr:dport reaches (v4: daddr is a v4
    address; v6 listeners not IPV6_V6ONLY take v4 connections on :: or ::ffff:daddr)."""
    exact, wild = [], []
    for sk in m.net.inet_bound:
        if sk.sk_state != "LISTEN" or table_of(sk) != "tcp" or port_of(sk) != dport:
            continue
        a = sk.local.addr
        if v4:
            if sk.family == L.AF_INET:
                (exact if a == daddr else wild if a == "0.0.0.0" else []).append(sk)
            elif not ipv6only(sk):
                mapped = ipaddress.IPv6Address(a).ipv4_mapped
                if mapped is not None and str(mapped) == daddr:
                    exact.append(sk)
                elif a == "::":
                    wild.append(sk)
        elif sk.family == L.AF_INET6:
            if ipaddress.IPv6Address(a).ipv4_mapped is not None:
                continue
            (exact if a == daddr else wild if a == "::" else []).append(sk)
    for group in (exact, wild):
        if len(group) == 1:
            return group[0]
        if group:
            v4s = [s for s in group if s.family == L.AF_INET]
            if len(v4s) == 1:
                return v4s[0]
            raise not_modelled("several listeners could take this connection")
    return None


def acceptq_is_full(listener) -> bool:
    """sk_acceptq_is_full(): sk_ack_backlog > sk_max_ack_backlog, so backlog N admits N + 1."""
    return len(listener.accept_queue) > (listener.backlog or 0)
