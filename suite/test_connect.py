"""connect(2): stream connections of every kind, blocking and not (EINPROGRESS, completion seen
through getpeername, a second connect, SO_ERROR); the inet errno matrix (lengths, families,
AF_UNSPEC, INADDR_ANY as loopback, unreachable, broadcast, multicast, refused); a failed
non-blocking connect step by step; AF_UNSPEC on TCP and UDP; datagram peers; IPv4 through
IPv6 sockets (v4-mapped); the source port (even offsets, exhaustion); the AF_UNIX errno matrix
(ENOENT, ECONNREFUSED, EPROTOTYPE, EPERM, EAGAIN)."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import NULL, SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn

from .endpoints import (bound, connected, listener, local, missing_dir, needs_private_netns, rows_for,
                        open_sock, row, unix_path, unspec)
from .kinds import CONNECTION_ORIENTED, INET, UNIX, Kind, ids, unique

STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET
INET_STREAM = [k for k in INET if k.type == STREAM]
INET_DGRAM = [k for k in INET if k.type == DGRAM]
NB = L.SOCK_CLOEXEC | L.SOCK_NONBLOCK


def _in(port=0, addr="127.0.0.1", family=L.AF_INET):
    return SockaddrIn(port, addr, family)


def _in6(port=0, addr="::1", scope=0, family=L.AF_INET6):
    return SockaddrIn6(port, addr, 0, scope, family)


def _with_port(addr, port):
    return SockaddrIn(port, addr.addr) if isinstance(addr, SockaddrIn) else SockaddrIn6(port, addr.addr)


# --------------------------------------------------------------------------- stream connections

@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_connect_stream(sc, kind):
    """Blocking: 0, then EISCONN. Non-blocking: TCP answers EINPROGRESS with the connection
    already made on loopback (getpeername works; connect again: 0, then EISCONN); AF_UNIX
    connects at once. The listener's queue holds both (tcpi_unacked)."""
    lfd, addr = listener(sc, kind)
    blocking = open_sock(sc, kind)
    sc.connect(blocking, addr)
    sc.connect(blocking, addr)
    nonblocking = open_sock(sc, kind, NB)
    for _ in range(3):
        sc.connect(nonblocking, addr)
    sc.getsockname(lfd)
    for fd in (blocking, nonblocking, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", CONNECTION_ORIENTED, ids=ids(CONNECTION_ORIENTED))
def test_connect_listener(sc, kind):
    """A listening socket cannot connect: TCP EISCONN (its state is not CLOSE), AF_UNIX EINVAL."""
    lfd, addr = listener(sc, kind)
    other, other_addr = listener(sc, kind)
    sc.connect(lfd, other_addr)
    sc.connect(lfd, addr)
    for fd in (lfd, other):
        sc.close(fd)


# --------------------------------------------------------------------------- inet errno matrix

# (id, address, addrlen or None, needs the private netns: off loopback the host's routes
# decide); a listener's port replaces PORT
PORT = -1
INET4_ROWS = [
    ("len-0", NULL, 0, False),
    ("len-1", _in(PORT), 1, False),
    ("len-15", _in(PORT), 15, False),
    ("null-len-16", NULL, 16, False),
    ("fault-page", "fault", 16, False),
    ("family-inet6", _in(PORT, family=L.AF_INET6), None, False),
    ("family-unix", _in(PORT, family=L.AF_UNIX), None, False),
    ("unspec", _in(PORT, family=L.AF_UNSPEC), None, False),
    ("unspec-len-2", unspec(), 2, False),
    ("unspec-len-1", unspec(), 1, False),
    ("listener", _in(PORT), None, False),
    ("any-is-loopback", _in(PORT, "0.0.0.0"), None, False),
    ("127.0.0.2-no-listener", _in(PORT, "127.0.0.2"), None, False),
    ("port-0", _in(0), None, False),
    ("broadcast", _in(PORT, "255.255.255.255"), None, True),
    ("multicast", _in(PORT, "224.0.0.1"), None, True),
    ("unreachable", _in(PORT, "192.0.2.1"), None, True),
]
INET6_ROWS = [
    ("len-0", NULL, 0, False),
    ("len-23", _in6(PORT), 23, False),
    ("len-24", _in6(PORT), 24, False),
    ("fault-page", "fault", 28, False),
    ("family-inet-len-28", _in6(PORT, family=L.AF_INET), None, False),
    ("sockaddr-in", _in(PORT), None, False),
    ("sockaddr-in-len-15", _in(PORT), 15, False),
    ("unspec", _in6(PORT, "::", family=L.AF_UNSPEC), None, False),
    ("listener", _in6(PORT), None, False),
    ("any-is-loopback", _in6(PORT, "::"), None, False),
    ("v4mapped-no-listener", _in6(PORT, "::ffff:127.0.0.1"), None, False),
    ("port-0", _in6(0), None, False),
    ("multicast-global", _in6(PORT, "ff0e::1"), None, True),
    ("multicast-link", _in6(PORT, "ff02::1"), None, False),
    ("link-local-no-scope", _in6(PORT, "fe80::1"), None, False),
    ("unreachable", _in6(PORT, "2001:db8::1"), None, True),
    ("v4mapped-unreachable", _in6(PORT, "::ffff:192.0.2.1"), None, True),
]


@pytest.mark.parametrize("kind", INET, ids=ids(INET))
def test_connect_inet_errors(sc, kind):
    """Each row on a fresh socket (stream: blocking): the length and family checks, AF_UNSPEC,
    INADDR_ANY meaning loopback, no listener (TCP: ECONNREFUSED), no route, broadcast and
    multicast (TCP: ENETUNREACH; UDP: no route without a source address). The rows whose answer
    depends on the host's routes are test_connect_inet_errors_private_netns."""
    _connect_rows(sc, kind, private=False)


@pytest.mark.parametrize("kind", INET, ids=ids(INET))
def test_connect_inet_errors_private_netns(sc, profile, kind):
    """The rows of test_connect_inet_errors that need a namespace with only loopback routes."""
    table = INET4_ROWS if kind.family == L.AF_INET else INET6_ROWS
    needs_private_netns(profile, "connecting to addresses other than loopback", sc,
                        [r[0] for r in rows_for(table, private=True)])
    _connect_rows(sc, kind, private=True)


def _connect_rows(sc, kind, private: bool):
    lfd, laddr = listener(sc, kind) if kind.type == STREAM else bound(sc, kind)
    fd = open_sock(sc, kind)
    table = INET4_ROWS if kind.family == L.AF_INET else INET6_ROWS
    for label, addr, addrlen, _ in rows_for(table, private):
        with row(label):
            if addr == "fault":
                addr = sc.fault()
            elif hasattr(addr, "port") and addr.port == PORT:
                addr = type(addr)(**{**addr.__dict__, "port": laddr.port})
            r = sc.connect(fd, addr, addrlen)
            if r.ok or kind.type == STREAM and r.errno not in (E.EINVAL, E.EAFNOSUPPORT, E.EFAULT):
                fd = open_sock(sc, kind)     # the next row needs a fresh socket


# --------------------------------------------------------------------------- refused, reset

@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_connect_refused_nonblocking(sc, kind):
    """Nobody listens: EINPROGRESS, SO_ERROR ECONNREFUSED (read by the probe), connect again
    ECONNABORTED (getsockname drops the address, keeps the port), and again a new attempt. A
    shut down attempt is SS_DISCONNECTING: connect and listen answer EINVAL."""
    target, addr = bound(sc, kind)
    fd = open_sock(sc, kind, NB)
    for _ in range(3):
        sc.connect(fd, addr)
    sc.close(fd)
    fd = open_sock(sc, kind, NB)
    sc.connect(fd, addr)
    sc.shutdown(fd, L.SHUT_RDWR)
    sc.connect(fd, addr)
    sc.listen(fd, 1)
    sc.close(fd)
    sc.close(target)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_connect_refused_blocking(sc, kind):
    """Nobody listens: ECONNREFUSED; the port goes back unless bind() fixed it (getsockname
    keeps showing it), the address unless bind() fixed it; bind and listen work afterwards."""
    target, addr = bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.connect(fd, addr)
    sc.bind(fd, kind.address())
    sc.close(fd)
    fd = open_sock(sc, kind)
    sc.bind(fd, kind.address())                  # address fixed, port automatic
    sc.connect(fd, addr)
    sc.listen(fd, 1)
    sc.close(fd)
    fd, mine = bound(sc, kind)
    fixed = open_sock(sc, kind)
    sc.close(fd)
    sc.bind(fixed, mine)                         # address and port fixed
    sc.connect(fixed, addr)
    sc.connect(fixed, addr)
    sc.close(fixed)
    sc.close(target)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_connect_unspec_resets(sc, kind):
    """AF_UNSPEC on an established TCP socket resets the connection: 0, its own SO_ERROR and the
    peer's read ECONNRESET, both lose their peer; the socket may listen again (new port)."""
    client, accepted, lfd = connected(sc, kind)
    sc.connect(client, unspec())
    sc.getpeername(accepted)
    sc.listen(client, 2)
    sc.connect(lfd, unspec())                    # a listener: stops listening
    sc.connect(lfd, unspec())                    # closed: nothing to do
    for fd in (client, accepted, lfd):
        sc.close(fd)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_connect_after_listening(sc, kind):
    """A listener that stopped listening (shutdown SHUT_RD, connect AF_UNSPEC) connects again:
    a connection where the kernel does not remember the hash table it left, EINVAL where it
    keeps icsk->unhashed_state (listen.tcp_unhashed's sibling connect.tcp_unhashed)."""
    target, addr = listener(sc, kind)
    for stop in ("shutdown", "unspec"):
        fd, _ = listener(sc, kind)
        if stop == "shutdown":
            sc.shutdown(fd, L.SHUT_RD)
        else:
            sc.connect(fd, unspec())
        sc.connect(fd, addr)
        sc.getsockname(fd)
        sc.close(fd)
    sc.close(target)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_listen_after_time_wait(sc, kind):
    """A connection closed in order (FIN both ways) leaves the first closer's socket in CLOSE
    behind a TIME_WAIT end: it may listen where the kernel does not remember that it was
    established, and gets EINVAL, keeping its port, where it keeps icsk->unhashed_state."""
    client, accepted, lfd = connected(sc, kind)
    sc.shutdown(client, L.SHUT_WR)
    sc.shutdown(accepted, L.SHUT_WR)
    sc.wait(client)
    sc.listen(client, 1)
    sc.getsockname(client)
    for fd in (client, accepted, lfd):
        sc.close(fd)


# --------------------------------------------------------------------------- datagram peers

@pytest.mark.parametrize("kind", INET_DGRAM, ids=ids(INET_DGRAM))
def test_connect_dgram(sc, kind):
    """An unbound UDP socket gets a port and the route's source address; connect again replaces
    the peer; AF_UNSPEC forgets it and gives an automatic port back; port 0 is a peer
    getpeername does not report."""
    a, a_addr = bound(sc, kind)
    b, b_addr = bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.connect(fd, a_addr)
    sc.connect(fd, b_addr)
    sc.connect(fd, _with_port(b_addr, 0))
    sc.connect(fd, unspec())
    sc.connect(fd, unspec())
    sc.connect(b, a_addr)                       # a bound socket keeps its address and port
    sc.connect(b, unspec())
    for f in (fd, a, b):
        sc.close(f)


@pytest.mark.parametrize("kind", INET_DGRAM, ids=ids(INET_DGRAM))
def test_connect_dgram_after_disconnecting_an_address_bind(sc, kind):
    """Bound to an address with port 0 (the address is the user's, the port is not): AF_UNSPEC
    gives the port back and keeps the address; the next connect gives it a new automatic port
    on that address (found by sockspec explore, seed 13)."""
    a, a_addr = bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.bind(fd, kind.address(0))
    sc.connect(fd, unspec())
    sc.connect(fd, a_addr)
    sc.connect(fd, unspec())
    sc.connect(fd, _with_port(a_addr, 0))
    for f in (fd, a):
        sc.close(f)


@pytest.mark.parametrize("kind", INET_DGRAM, ids=ids(INET_DGRAM))
def test_connect_dgram_failure_keeps_port(sc, profile, kind):
    """A failing datagram connect of an unbound socket keeps the port it was given first."""
    needs_private_netns(profile, "an unreachable destination")
    fd = open_sock(sc, kind)
    sc.connect(fd, _in(53, "192.0.2.1") if kind.family == L.AF_INET else _in6(53, "2001:db8::1"))
    sc.connect(fd, kind.address(53))
    sc.close(fd)


def test_connect_dgram_broadcast_multicast(sc):
    """From a socket with a source address: a multicast peer is fine; the broadcast address
    needs SO_BROADCAST (EACCES without)."""
    fd, _ = bound(sc, Kind("inet", DGRAM))
    sc.connect(fd, _in(53, "224.0.0.1"))
    sc.connect(fd, _in(53, "255.255.255.255"))
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BROADCAST, 1)
    sc.connect(fd, _in(53, "255.255.255.255"))
    sc.close(fd)


# --------------------------------------------------------------------------- IPv4 over IPv6

def test_connect_v4_client_dual_stack_listener(sc):
    """An IPv4 client reaches an AF_INET6 listener on ::; the accepted socket sees v4-mapped
    addresses; an AF_INET6 client reaches an AF_INET listener through ::ffff:127.0.0.1."""
    lfd = open_sock(sc, Kind("inet6", STREAM), NB)
    sc.bind(lfd, _in6(0, "::"))
    sc.listen(lfd, 4)
    port = local(sc, lfd).port
    client = open_sock(sc, Kind("inet", STREAM))
    sc.connect(client, _in(port))
    accepted = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
    v4l, v4addr = listener(sc, Kind("inet", STREAM))
    v6client = open_sock(sc, Kind("inet6", STREAM))
    sc.connect(v6client, _in6(v4addr.port, "::ffff:127.0.0.1"))
    v4accepted = sc.accept4(v4l, L.SOCK_CLOEXEC).ret
    for fd in (client, accepted, lfd, v6client, v4accepted, v4l):
        sc.close(fd)


def test_connect_v6only_by_bind(sc):
    """Binding ::1 makes a socket IPv6-only: a v4-mapped destination is unreachable
    (ENETUNREACH), a sockaddr_in refused (EAFNOSUPPORT, datagram)."""
    v4l, v4addr = listener(sc, Kind("inet", STREAM))
    for type_ in (STREAM, DGRAM):
        fd = open_sock(sc, Kind("inet6", type_))
        sc.bind(fd, _in6(0, "::1"))
        sc.connect(fd, _in6(v4addr.port, "::ffff:127.0.0.1"))
        if type_ == DGRAM:
            sc.connect(fd, _in(v4addr.port))
        sc.close(fd)
    sc.close(v4l)


def test_connect_dgram_v4_on_v6(sc):
    """An AF_INET6 datagram socket connects to a sockaddr_in or a v4-mapped address over IPv4."""
    target, addr = bound(sc, Kind("inet", DGRAM))
    for dest in (addr, _in6(addr.port, "::ffff:127.0.0.1")):
        fd = open_sock(sc, Kind("inet6", DGRAM))
        sc.connect(fd, dest)
        sc.connect(fd, unspec())
        sc.close(fd)
    sc.close(target)


@pytest.mark.parametrize("kind", INET_STREAM, ids=ids(INET_STREAM))
def test_connect_from_bound_address(sc, kind):
    """A client bound to a loopback address (and port 0) connects from it."""
    lfd, addr = listener(sc, kind)
    fd = open_sock(sc, kind)
    sc.bind(fd, _in(0, "127.0.0.2") if kind.family == L.AF_INET else _in6(0, "::1"))
    sc.connect(fd, addr)
    sc.accept4(lfd, L.SOCK_CLOEXEC)
    for f in list(sc.created_fds()):
        sc.close(f)


def test_connect_source_ports_exhausted(sc):
    """A two-port range: the first connect takes the even offset, the next to the same
    destination the odd one, the third gets EADDRNOTAVAIL."""
    lfd, addr = listener(sc, Kind("inet", STREAM))
    sc.set_sysctl("net.ipv4.ip_local_port_range", (61100, 61101))   # apart from other tests
    for _ in range(3):
        fd = open_sock(sc, Kind("inet", STREAM))
        sc.connect(fd, addr)
    for f in list(sc.created_fds()):
        sc.close(f)


def test_connect_dgram_autobind_exhausted(sc):
    """A one-port range already taken: a datagram connect of an unbound socket is EAGAIN."""
    sc.set_sysctl("net.ipv4.ip_local_port_range", (61010, 61010))
    target, addr = bound(sc, Kind("inet", DGRAM))
    fd = open_sock(sc, Kind("inet", DGRAM))
    sc.connect(fd, addr)
    sc.close(fd)
    sc.close(target)


# --------------------------------------------------------------------------- AF_UNIX

def _unix(payload: bytes) -> SockaddrRaw:
    return SockaddrRaw(L.AF_UNIX.to_bytes(2, "little") + payload)


@pytest.mark.parametrize("kind", UNIX, ids=ids(UNIX))
def test_connect_unix_errors(sc, kind):
    """Each row on a fresh socket: the address checks (EINVAL), a missing path or directory
    (ENOENT), a path left by a closed socket (ECONNREFUSED), a socket of another type at the
    path (EPROTOTYPE; abstract names are per type: ECONNREFUSED), a stream socket that does not
    listen (ECONNREFUSED), a datagram socket connected elsewhere (EPERM)."""
    stale, stale_addr = bound(sc, Kind("unix-path", kind.type))
    sc.close(stale)
    other_type = DGRAM if kind.type != DGRAM else STREAM
    foreign, foreign_addr = bound(sc, Kind(kind.addressing, other_type))
    idle, idle_addr = bound(sc, kind)
    taken, _ = bound(sc, kind)
    if kind.type == DGRAM:
        sc.connect(idle, sc.m.sock(taken).local)      # idle is connected elsewhere: EPERM
    fd = open_sock(sc, kind)
    rows = [
        ("len-0", NULL, 0),
        ("len-2", SockaddrUn(), None),
        ("len-111", unix_path(), 111),
        ("family-inet", SockaddrUn(path=unix_path().path, family=L.AF_INET), None),
        ("unspec", unspec(), None),
        ("no-such-path", unix_path(), None),
        ("missing-directory", SockaddrUn(path=missing_dir(sc) + "/s"), None),
        ("no-such-abstract-name", SockaddrUn(abstract=unique().encode()), None),
        ("path-of-closed-socket", stale_addr, None),
        ("other-type", foreign_addr, None),
        ("not-listening-or-connected-elsewhere", idle_addr, None),
    ]
    for label, addr, addrlen in rows:
        with row(label):
            if sc.connect(fd, addr, addrlen).ok:
                fd = open_sock(sc, kind)


@pytest.mark.parametrize("kind", [k for k in UNIX if k.type != DGRAM],
                         ids=ids([k for k in UNIX if k.type != DGRAM]))
def test_connect_unix_listener_shut_down(sc, kind):
    """A listener shut down for reading refuses connections (ECONNREFUSED)."""
    lfd, addr = listener(sc, kind)
    sc.shutdown(lfd, L.SHUT_RD)
    fd = open_sock(sc, kind, NB)
    sc.connect(fd, addr)
    sc.close(fd)
    sc.close(lfd)


@pytest.mark.parametrize("kind", [k for k in UNIX if k.type == DGRAM],
                         ids=ids([k for k in UNIX if k.type == DGRAM]))
def test_connect_unix_dgram(sc, kind):
    """A datagram socket takes a peer, changes it, connects to itself, dissolves it (AF_UNSPEC,
    with any length from 2); a target connected back to us is still allowed."""
    a, a_addr = bound(sc, kind)
    b, b_addr = bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.connect(fd, a_addr)
    sc.connect(fd, b_addr)
    sc.connect(b, sc.m.sock(fd).local if sc.m.sock(fd).local else a_addr)
    sc.connect(a, a_addr)                       # to itself
    sc.connect(fd, unspec(), 2)
    sc.connect(fd, unspec(), 1)
    sc.connect(fd, unspec(), 16)
    for f in (fd, a, b):
        sc.close(f)


@pytest.mark.parametrize("kind", UNIX, ids=ids(UNIX))
def test_connect_unix_passcred_autobind(sc, kind):
    """With SO_PASSCRED an unnamed socket is autobound by connect, even by one that fails."""
    target, addr = listener(sc, kind) if kind.type != DGRAM else bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    sc.connect(fd, unix_path())
    sc.connect(fd, addr)
    if kind.type != DGRAM:
        sc.accept4(target, L.SOCK_CLOEXEC)
    for f in list(sc.created_fds()):
        sc.close(f)


@pytest.mark.privileged
def test_connect_packet_not_supported(sc):
    """packet_ops has no connect, listen or accept (sock_no_connect, sock_no_listen,
    sock_no_accept): EOPNOTSUPP. Creating the socket needs CAP_NET_RAW."""
    from harness.mem import SockaddrLl

    from .privilege import run_as

    def body(s):
        fd = s.socket(L.AF_PACKET, L.SOCK_DGRAM, 0).ret
        s.connect(fd, SockaddrLl(0x0800, 1))
        s.listen(fd, 5)
        s.accept4(fd, L.SOCK_NONBLOCK)
        s.close(fd)
    run_as(sc, "privileged", "CAP_NET_RAW", body)
