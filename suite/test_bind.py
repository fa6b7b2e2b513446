"""bind(2): every kind binds its address; the errno matrices of inet_bind, inet6_bind, raw_bind
and unix_bind; ephemeral ports (range, parity, SO_REUSEADDR's lower half, exhaustion);
address conflicts across sockets, families and SO_REUSEADDR; privileged ports on both sides of
CAP_NET_BIND_SERVICE and of net.ipv4.ip_unprivileged_port_start; unix names (paths, abstract
names, autobind) and what close leaves behind."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.mem import NULL, SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn

from .endpoints import (bound, ids_of, listener, local, missing_dir, needs_private_netns,
                        open_sock, unix_path)
from .kinds import ALL, INET, UNIX, Kind, ids, unique
from .privilege import SIDES, run_as

STREAM, DGRAM = L.SOCK_STREAM, L.SOCK_DGRAM
INET_KINDS = [k for k in INET]                     # inet/inet6 x stream/dgram
TYPES = [("stream", STREAM), ("dgram", DGRAM)]


# --------------------------------------------------------------------------- every kind binds

@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_bind_fresh_address(sc, kind):
    """A fresh socket binds its kind's address; getsockname (probed) reports it."""
    fd = open_sock(sc, kind)
    sc.bind(fd, kind.address())
    sc.close(fd)


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_bind_twice(sc, kind):
    """A bound socket cannot bind again (EINVAL), even to another fresh address."""
    fd, _ = bound(sc, kind)
    sc.bind(fd, kind.address())
    sc.close(fd)


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_bind_address_in_use(sc, kind):
    """A second socket of the kind cannot take a bound address (EADDRINUSE)."""
    fd, addr = bound(sc, kind)
    other = open_sock(sc, kind)
    sc.bind(other, addr)
    sc.close(other)
    sc.close(fd)


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
@pytest.mark.parametrize("where", ["loopback", "wildcard"])
def test_bind_ephemeral_port(sc, kind, where):
    """Port 0 picks a port in ip_local_port_range (TCP: at an odd offset from its start)."""
    fd = open_sock(sc, kind)
    wild = where == "wildcard"
    addr = (SockaddrIn(0, "0.0.0.0" if wild else "127.0.0.1") if kind.family == L.AF_INET
            else SockaddrIn6(0, "::" if wild else "::1"))
    sc.bind(fd, addr)
    again = open_sock(sc, kind)
    sc.bind(again, addr)                 # another free port
    sc.close(again)
    sc.close(fd)


# --------------------------------------------------------------------------- inet errno matrix

def _in(port=0, addr="127.0.0.1", family=L.AF_INET):
    return SockaddrIn(port, addr, family)


def _in6(port=0, addr="::1", scope=0, family=L.AF_INET6):
    return SockaddrIn6(port, addr, 0, scope, family)


# (id, socket family, address, addrlen or None, needs the private netns)
INET_ROWS = [
    ("v4-loopback", L.AF_INET, _in(), None, False),
    ("v4-127.1.2.3", L.AF_INET, _in(0, "127.1.2.3"), None, False),
    ("v4-any", L.AF_INET, _in(0, "0.0.0.0"), None, False),
    ("v4-multicast", L.AF_INET, _in(0, "224.0.0.1"), None, False),
    ("v4-broadcast", L.AF_INET, _in(0, "255.255.255.255"), None, False),
    ("v4-len-128", L.AF_INET, _in(), 128, False),
    ("v4-len-15", L.AF_INET, _in(), 15, False),
    ("v4-len-2", L.AF_INET, _in(), 2, False),
    ("v4-len-0", L.AF_INET, _in(), 0, False),
    ("v4-len-negative", L.AF_INET, _in(), -1, False),
    ("v4-len-129", L.AF_INET, _in(), 129, False),
    ("v4-family-inet6", L.AF_INET, _in(family=L.AF_INET6), None, False),
    ("v4-family-unix", L.AF_INET, _in(family=L.AF_UNIX), None, False),
    ("v4-unspec-any", L.AF_INET, _in(0, "0.0.0.0", L.AF_UNSPEC), None, False),
    ("v4-unspec-loopback", L.AF_INET, _in(0, "127.0.0.1", L.AF_UNSPEC), None, False),
    ("v4-sockaddr-in6", L.AF_INET, _in6(), None, False),
    ("v4-not-local", L.AF_INET, _in(0, "192.0.2.1"), None, True),
    ("v4-zeronet-not-local", L.AF_INET, _in(0, "0.1.2.3"), None, True),
    ("v4-not-local-before-privileged-port", L.AF_INET, _in(80, "192.0.2.1"), None, True),
    ("v6-loopback", L.AF_INET6, _in6(), None, False),
    ("v6-any", L.AF_INET6, _in6(0, "::"), None, False),
    ("v6-len-24", L.AF_INET6, _in6(), 24, False),
    ("v6-len-23", L.AF_INET6, _in6(), 23, False),
    ("v6-len-27", L.AF_INET6, _in6(), 27, False),
    ("v6-sockaddr-in", L.AF_INET6, _in(), None, False),
    ("v6-family-inet-len-28", L.AF_INET6, _in6(family=L.AF_INET), None, False),
    ("v6-family-unspec", L.AF_INET6, _in6(0, "::", family=L.AF_UNSPEC), None, False),
    ("v6-v4mapped-loopback", L.AF_INET6, _in6(0, "::ffff:127.0.0.1"), None, False),
    ("v6-v4mapped-any", L.AF_INET6, _in6(0, "::ffff:0.0.0.0"), None, False),
    ("v6-v4mapped-not-local", L.AF_INET6, _in6(0, "::ffff:192.0.2.1"), None, True),
    ("v6-not-local", L.AF_INET6, _in6(0, "2001:db8::1"), None, True),
    ("v6-link-local-no-scope", L.AF_INET6, _in6(0, "fe80::1"), None, False),
    ("v6-link-local-lo-scope", L.AF_INET6, _in6(0, "fe80::1", scope=1), None, False),
    ("v6-link-local-no-such-device", L.AF_INET6, _in6(0, "fe80::1", scope=9999), None, True),
    ("v6-link-local-scope-cut-by-len-24", L.AF_INET6, _in6(0, "fe80::1", scope=1), 24, False),
    ("v6-multicast-global", L.AF_INET6, _in6(0, "ff0e::1"), None, False),
    ("v6-multicast-link-no-scope", L.AF_INET6, _in6(0, "ff02::1"), None, False),
]


@pytest.mark.parametrize("type_", [t for _, t in TYPES], ids=[n for n, _ in TYPES])
@pytest.mark.parametrize("family,addr,addrlen,private", [r[1:] for r in INET_ROWS],
                         ids=ids_of(INET_ROWS))
def test_bind_inet(sc, profile, family, type_, addr, addrlen, private):
    if private:
        needs_private_netns(profile, "an address off loopback")
    fd = sc.socket(family, type_ | L.SOCK_CLOEXEC, 0).ret
    sc.bind(fd, addr, addrlen)
    sc.close(fd)


BAD_POINTERS = [("null-len-16", NULL, 16), ("null-len-0", NULL, 0), ("fault-page", "fault", 16)]


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
@pytest.mark.parametrize("ptr,addrlen", [r[1:] for r in BAD_POINTERS], ids=ids_of(BAD_POINTERS))
def test_bind_bad_pointer(sc, kind, ptr, addrlen):
    """An unreadable address is EFAULT before the family looks at it; length 0 copies nothing
    (the family then refuses the empty address)."""
    fd = open_sock(sc, kind)
    sc.bind(fd, sc.fault() if ptr == "fault" else ptr, addrlen)
    sc.close(fd)


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_after_connect(sc, kind):
    """A socket that got a port from connect() cannot bind (EINVAL)."""
    if kind.type == STREAM:
        lfd, addr = listener(sc, kind)
    else:
        lfd, addr = bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.connect(fd, addr)
    sc.bind(fd, kind.address())
    for f in (fd, lfd):
        sc.close(f)


# --------------------------------------------------------------------------- conflicts

# (id, first type, first address, second type, second address): the second binds the port the
# first got, on its own address
CROSS = [
    ("v4-loopback-then-v4-any", STREAM, L.AF_INET, "127.0.0.1", L.AF_INET, "0.0.0.0"),
    ("v4-any-then-v4-loopback", STREAM, L.AF_INET, "0.0.0.0", L.AF_INET, "127.0.0.1"),
    ("v4-loopback-then-v4-other-loopback", STREAM, L.AF_INET, "127.0.0.1", L.AF_INET, "127.0.0.2"),
    ("v4-loopback-then-v6-any", STREAM, L.AF_INET, "127.0.0.1", L.AF_INET6, "::"),
    ("v6-any-then-v4-loopback", STREAM, L.AF_INET6, "::", L.AF_INET, "127.0.0.1"),
    ("v6-any-then-v4-any", DGRAM, L.AF_INET6, "::", L.AF_INET, "0.0.0.0"),
    ("v6-loopback-then-v4-loopback", STREAM, L.AF_INET6, "::1", L.AF_INET, "127.0.0.1"),
    ("v4-loopback-then-v6-loopback", DGRAM, L.AF_INET, "127.0.0.1", L.AF_INET6, "::1"),
    ("v4-loopback-then-v6-mapped", STREAM, L.AF_INET, "127.0.0.1", L.AF_INET6, "::ffff:127.0.0.1"),
    ("v6-mapped-then-v4-any", DGRAM, L.AF_INET6, "::ffff:127.0.0.1", L.AF_INET, "0.0.0.0"),
    ("v6-loopback-then-v6-any", STREAM, L.AF_INET6, "::1", L.AF_INET6, "::"),
    ("v6-any-then-v6-mapped", DGRAM, L.AF_INET6, "::", L.AF_INET6, "::ffff:127.0.0.1"),
    ("v4-stream-then-v4-dgram", STREAM, L.AF_INET, "127.0.0.1", L.AF_INET, "127.0.0.1"),
]


def _addr(family, addr, port=0):
    return SockaddrIn(port, addr) if family == L.AF_INET else SockaddrIn6(port, addr)


@pytest.mark.parametrize("first_type,f1,a1,f2,a2", [r[1:] for r in CROSS], ids=ids_of(CROSS))
def test_bind_conflict_across_addresses(sc, first_type, f1, a1, f2, a2):
    """Whether two bindings of one port overlap (inet_rcv_saddr_equal): wildcards, families,
    v4-mapped addresses; TCP and UDP ports are separate."""
    second_type = DGRAM if a1 == a2 and f1 == f2 else first_type
    first = sc.socket(f1, first_type | L.SOCK_CLOEXEC, 0).ret
    sc.bind(first, _addr(f1, a1))
    port = local(sc, first).port
    second = sc.socket(f2, second_type | L.SOCK_CLOEXEC, 0).ret
    sc.bind(second, _addr(f2, a2, port))
    sc.close(second)
    sc.close(first)


def _reuse(sc, fd):
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1)


# (id, type, first has SO_REUSEADDR, second has it, first listens)
REUSE = [
    ("tcp-both", STREAM, True, True, False),
    ("tcp-both-first-listening", STREAM, True, True, True),
    ("tcp-first-only", STREAM, True, False, False),
    ("tcp-second-only", STREAM, False, True, False),
    ("tcp-neither", STREAM, False, False, False),
    ("udp-both", DGRAM, True, True, False),
    ("udp-first-only", DGRAM, True, False, False),
    ("udp-second-only", DGRAM, False, True, False),
]


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["inet", "inet6"])
@pytest.mark.parametrize("type_,r1,r2,listening", [r[1:] for r in REUSE], ids=ids_of(REUSE))
def test_bind_reuseaddr(sc, family, type_, r1, r2, listening):
    """SO_REUSEADDR on both sockets shares a port, unless (TCP) the holder listens."""
    kind = Kind("inet" if family == L.AF_INET else "inet6", type_)
    first = open_sock(sc, kind)
    if r1:
        _reuse(sc, first)
    sc.bind(first, kind.address())
    addr = local(sc, first)
    if listening:
        sc.listen(first, 4)
    second = open_sock(sc, kind)
    if r2:
        _reuse(sc, second)
    sc.bind(second, addr)
    if type_ == STREAM and r1 and r2 and not listening:
        sc.listen(second, 4)              # the first to listen wins ...
        sc.listen(first, 4)               # ... the other gets EADDRINUSE
    sc.close(second)
    sc.close(first)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["inet", "inet6"])
def test_bind_reuseaddr_ephemeral_lower_half(sc, family):
    """With SO_REUSEADDR, TCP's ephemeral search starts in the lower half of the range."""
    kind = Kind("inet" if family == L.AF_INET else "inet6", STREAM)
    fds = []
    for _ in range(3):
        fd = open_sock(sc, kind)
        _reuse(sc, fd)
        sc.bind(fd, kind.address())
        fds.append(fd)
    for fd in fds:
        sc.close(fd)


@pytest.mark.parametrize("type_", [t for _, t in TYPES], ids=[n for n, _ in TYPES])
def test_bind_port_range_exhausted(sc, type_):
    """A four-port ip_local_port_range: TCP hands out the odd offsets, then the even ones, then
    EADDRINUSE; UDP any free port, then EADDRINUSE."""
    sc.set_sysctl("net.ipv4.ip_local_port_range", (61000, 61003))
    kind = Kind("inet", type_)
    fds = []
    for _ in range(5):
        fd = open_sock(sc, kind)
        sc.bind(fd, kind.address())
        fds.append(fd)
    for fd in fds:
        sc.close(fd)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["inet", "inet6"])
def test_bind_port_freed_by_close(sc, family):
    """Closing a bound (never connected) socket frees its port at once."""
    kind = Kind("inet" if family == L.AF_INET else "inet6", STREAM)
    fd, addr = bound(sc, kind)
    sc.close(fd)
    again = open_sock(sc, kind)
    sc.bind(again, addr)
    sc.close(again)


# --------------------------------------------------------------------------- privileged ports

PORTS = [("port-1", 1), ("port-80", 80), ("port-1023", 1023)]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("port", [p for _, p in PORTS], ids=[n for n, _ in PORTS])
@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_privileged_port(sc, side, kind, port):
    """A port below ip_unprivileged_port_start (1024) needs CAP_NET_BIND_SERVICE."""
    def body(s):
        fd = open_sock(s, kind)
        s.bind(fd, (SockaddrIn(port, "127.0.0.1") if kind.family == L.AF_INET
                    else SockaddrIn6(port, "::1")))
        s.close(fd)
    run_as(sc, side, "CAP_NET_BIND_SERVICE", body)


# (id, ip_unprivileged_port_start, port)
SYSCTL_PORTS = [("start-0-port-80", 0, 80), ("start-2000-port-1500", 2000, 1500),
                ("start-2000-port-2000", 2000, 2000), ("start-80-port-79", 80, 79),
                ("start-80-port-80", 80, 80)]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("start,port", [r[1:] for r in SYSCTL_PORTS], ids=ids_of(SYSCTL_PORTS))
def test_bind_unprivileged_port_start(sc, side, start, port):
    """net.ipv4.ip_unprivileged_port_start moves the line (for AF_INET6 too)."""
    sc.set_sysctl("net.ipv4.ip_unprivileged_port_start", start)

    def body(s):
        for family, addr in ((L.AF_INET, SockaddrIn(port, "127.0.0.1")),
                             (L.AF_INET6, SockaddrIn6(port, "::1"))):
            fd = s.socket(family, STREAM | L.SOCK_CLOEXEC, 0).ret
            s.bind(fd, addr)
            s.close(fd)
    run_as(sc, side, "CAP_NET_BIND_SERVICE", body)


# --------------------------------------------------------------------------- raw sockets

# (id, family, address, addrlen)
RAW_ROWS = [
    ("v4-loopback", L.AF_INET, _in(7, "127.0.0.1"), None),
    ("v4-any", L.AF_INET, _in(0, "0.0.0.0"), None),
    ("v4-family-not-checked", L.AF_INET, _in6(0, "::1"), 16),
    ("v4-len-15", L.AF_INET, _in(), 15),
    ("v4-not-local", L.AF_INET, _in(0, "192.0.2.1"), None),
    ("v6-loopback", L.AF_INET6, _in6(0, "::1"), None),
    ("v6-v4mapped", L.AF_INET6, _in6(0, "::ffff:127.0.0.1"), None),
    ("v6-family-inet", L.AF_INET6, _in6(family=L.AF_INET), None),
    ("v6-len-23", L.AF_INET6, _in6(), 23),
    ("v6-not-local", L.AF_INET6, _in6(0, "2001:db8::1"), None),
]


@pytest.mark.privileged
@pytest.mark.parametrize("family,addr,addrlen", [r[1:] for r in RAW_ROWS], ids=ids_of(RAW_ROWS))
def test_bind_raw(sc, profile, family, addr, addrlen):
    """raw_bind()/rawv6_bind(): an address only (the port shown stays the protocol); raw_bind
    checks no family; a raw socket binds again while unconnected."""
    if not sc.m.capable("CAP_NET_RAW"):
        pytest.skip("raw sockets need CAP_NET_RAW (run as root)")
    needs_private_netns(profile, "raw sockets on loopback only")
    fd = sc.socket(family, L.SOCK_RAW | L.SOCK_CLOEXEC, 253).ret
    sc.bind(fd, addr, addrlen)
    sc.bind(fd, _in(0, "127.0.0.2") if family == L.AF_INET else _in6(0, "::1"))
    sc.connect(fd, _in(9, "127.0.0.1") if family == L.AF_INET else _in6(9, "::1"))
    sc.bind(fd, addr, addrlen)                 # connected: EINVAL
    sc.close(fd)


# --------------------------------------------------------------------------- unix names

UNIX_STREAM, UNIX_DGRAM = Kind("unix-path", STREAM), Kind("unix-path", DGRAM)


def _raw_un(payload: bytes) -> SockaddrRaw:
    return SockaddrRaw(L.AF_UNIX.to_bytes(2, "little") + payload)


# (id, address maker, addrlen or None)
UNIX_ROWS = [
    ("autobind", lambda sc: SockaddrUn(), None),
    ("autobind-len-2-of-path", lambda sc: unix_path(), 2),
    ("len-0", lambda sc: unix_path(), 0),
    ("len-1", lambda sc: unix_path(), 1),
    ("len-110-nul-padded", lambda sc: _raw_un(unix_path().path + b"\0" * (108 - len(unix_path().path))), 110),
    ("len-111", lambda sc: unix_path(), 111),
    ("family-inet", lambda sc: SockaddrUn(path=unix_path().path, family=L.AF_INET), None),
    ("family-inet-len-2", lambda sc: SockaddrUn(family=L.AF_INET), None),
    ("family-unspec", lambda sc: SockaddrUn(path=unix_path().path, family=L.AF_UNSPEC), None),
    ("path-missing-directory", lambda sc: SockaddrUn(path=missing_dir(sc) + "/s"), None),
    ("path-cut-by-addrlen", lambda sc: unix_path(unique() + "xyz"), lambda a: len(a.encode()) - 4),
    ("path-nul-inside", lambda sc: _raw_un(unix_path().path + b"\0tail"), None),
    ("abstract", lambda sc: SockaddrUn(abstract=unique().encode()), None),
    ("abstract-empty-name", lambda sc: SockaddrUn(abstract=b""), None),
    ("abstract-nul-inside", lambda sc: SockaddrUn(abstract=b"a\0b" + unique().encode()), None),
    ("abstract-107-bytes", lambda sc: SockaddrUn(abstract=unique().encode().ljust(107, b"x")), None),
]


@pytest.mark.parametrize("type_", [STREAM, DGRAM, L.SOCK_SEQPACKET], ids=["stream", "dgram", "seqpacket"])
@pytest.mark.parametrize("make,addrlen", [r[1:] for r in UNIX_ROWS], ids=ids_of(UNIX_ROWS))
def test_bind_unix(sc, type_, make, addrlen):
    addr = make(sc)
    if callable(addrlen):
        addrlen = addrlen(addr)
    fd = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
    sc.bind(fd, addr, addrlen)
    sc.close(fd)


@pytest.mark.parametrize("type_", [STREAM, DGRAM, L.SOCK_SEQPACKET], ids=["stream", "dgram", "seqpacket"])
def test_bind_unix_autobind_twice(sc, type_):
    """Autobind names a socket once: again it changes nothing (0); a path bind then is EINVAL;
    two sockets get two names."""
    a = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
    b = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
    for fd in (a, b):
        sc.bind(fd, SockaddrUn())
    sc.bind(a, SockaddrUn())
    sc.bind(a, unix_path())
    sc.bind(b, SockaddrUn(abstract=unique().encode()))
    sc.close(a)
    sc.close(b)


@pytest.mark.parametrize("kind", UNIX, ids=ids(UNIX))
def test_bind_unix_name_after_close(sc, kind):
    """After close, an abstract name is free again; a path stays taken by its node (EADDRINUSE)."""
    fd, addr = bound(sc, kind)
    sc.close(fd)
    again = open_sock(sc, kind)
    sc.bind(again, addr)
    sc.close(again)


@pytest.mark.parametrize("addressing", ["unix-path", "unix-abstract"])
def test_bind_unix_same_name_other_type(sc, addressing):
    """An abstract name is per socket type; a path is one filesystem node for all types."""
    fd, addr = bound(sc, Kind(addressing, STREAM))
    for type_ in (DGRAM, L.SOCK_SEQPACKET, STREAM):
        other = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
        sc.bind(other, addr)
        sc.close(other)
    sc.close(fd)


def test_bind_unix_path_rebind_existing(sc):
    """A bound socket binding an existing path: EADDRINUSE (mknod fails first), a new path:
    EINVAL (the node is made, then unlinked)."""
    fd, addr = bound(sc, UNIX_STREAM)
    other, other_addr = bound(sc, UNIX_DGRAM)
    sc.bind(fd, other_addr)
    fresh = unix_path()
    sc.bind(fd, fresh)
    third = open_sock(sc, UNIX_DGRAM)
    sc.bind(third, fresh)                   # the node was removed: free
    for f in (fd, other, third):
        sc.close(f)
