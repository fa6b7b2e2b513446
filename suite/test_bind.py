"""bind(2): every kind binds its address once; the errno matrices of inet_bind, inet6_bind,
raw_bind and unix_bind; ephemeral ports (range, parity, SO_REUSEADDR's lower half,
exhaustion); address conflicts across sockets, families and SO_REUSEADDR; privileged ports on
both sides of CAP_NET_BIND_SERVICE and of net.ipv4.ip_unprivileged_port_start; unix names
(paths, abstract names, autobind) and what close leaves behind. Big tables run as rows of one
test per kind; a failure names its row."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.mem import NULL, SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn

from .endpoints import (bound, listener, local, missing_dir, needs_private_netns, rows_for, open_sock,
                        row, unix_path)
from .kinds import ALL, INET, UNIX, Kind, ids, unique
from .privilege import SIDES, run_as

STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET
INET_KINDS = list(INET)                            # inet/inet6 x stream/dgram
FAMILIES = [("inet", L.AF_INET), ("inet6", L.AF_INET6)]


def _in(port=0, addr="127.0.0.1", family=L.AF_INET):
    return SockaddrIn(port, addr, family)


def _in6(port=0, addr="::1", scope=0, family=L.AF_INET6):
    return SockaddrIn6(port, addr, 0, scope, family)


def _addr(family, addr, port=0):
    return SockaddrIn(port, addr) if family == L.AF_INET else SockaddrIn6(port, addr)


def _reuse(sc, fd):
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1)


# --------------------------------------------------------------------------- every kind

@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_bind_once(sc, kind):
    """A fresh socket binds its kind's address (getsockname, probed, reports it); it cannot
    bind again (EINVAL); a second socket cannot take the address (EADDRINUSE)."""
    fd = open_sock(sc, kind)
    sc.bind(fd, kind.address())
    addr = local(sc, fd)
    sc.bind(fd, kind.address())
    other = open_sock(sc, kind)
    sc.bind(other, addr)
    sc.close(other)
    sc.close(fd)


BAD_POINTERS = [("null-len-16", NULL, 16), ("null-len-0", NULL, 0), ("fault-page", "fault", 16),
                ("len-negative", "fresh", -1), ("len-129", "fresh", 129)]


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_bind_bad_address_argument(sc, kind):
    """move_addr_to_kernel(): a length outside 0..128 is EINVAL, an unreadable address EFAULT,
    both before the family looks; length 0 copies nothing and the family refuses it."""
    fd = open_sock(sc, kind)
    for label, ptr, addrlen in BAD_POINTERS:
        with row(label):
            addr = sc.fault() if ptr == "fault" else kind.address() if ptr == "fresh" else ptr
            sc.bind(fd, addr, addrlen)
    sc.close(fd)


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_ephemeral_port(sc, kind):
    """Port 0 picks a free port in ip_local_port_range (TCP: at an odd offset from its start),
    on the loopback and on the wildcard address; a closed socket's port is free at once."""
    fds = []
    for addr in (kind.address(), _addr(kind.family, "0.0.0.0" if kind.family == L.AF_INET else "::")):
        for _ in range(2):
            fd = open_sock(sc, kind)
            sc.bind(fd, addr)
            fds.append(fd)
    addr = local(sc, fds[0])
    sc.close(fds[0])
    again = open_sock(sc, kind)
    sc.bind(again, addr)
    for fd in fds[1:] + [again]:
        sc.close(fd)


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_after_connect(sc, kind):
    """A socket that got its port from connect() cannot bind (EINVAL)."""
    lfd, addr = listener(sc, kind) if kind.type == STREAM else bound(sc, kind)
    fd = open_sock(sc, kind)
    sc.connect(fd, addr)
    sc.bind(fd, kind.address())
    for f in (fd, lfd):
        sc.close(f)


# --------------------------------------------------------------------------- inet errno matrix

# (id, address, addrlen or None, needs the private netns): AF_INET sockets
INET4_ROWS = [
    ("loopback", _in(), None, False),
    ("127.1.2.3", _in(0, "127.1.2.3"), None, False),
    ("any", _in(0, "0.0.0.0"), None, False),
    ("multicast", _in(0, "224.0.0.1"), None, False),
    ("broadcast", _in(0, "255.255.255.255"), None, False),
    ("len-128", _in(), 128, False),
    ("len-15", _in(), 15, False),
    ("len-2", _in(), 2, False),
    ("len-0", _in(), 0, False),
    ("family-inet6", _in(family=L.AF_INET6), None, False),
    ("family-unix", _in(family=L.AF_UNIX), None, False),
    ("unspec-any", _in(0, "0.0.0.0", L.AF_UNSPEC), None, False),
    ("unspec-loopback", _in(0, "127.0.0.1", L.AF_UNSPEC), None, False),
    ("sockaddr-in6", _in6(), None, False),
    ("not-local", _in(0, "192.0.2.1"), None, True),
    ("zeronet-not-local", _in(0, "0.1.2.3"), None, True),
    ("not-local-before-privileged-port", _in(80, "192.0.2.1"), None, True),
]
# AF_INET6 sockets
INET6_ROWS = [
    ("loopback", _in6(), None, False),
    ("any", _in6(0, "::"), None, False),
    ("len-24", _in6(), 24, False),
    ("len-23", _in6(), 23, False),
    ("len-27", _in6(), 27, False),
    ("sockaddr-in", _in(), None, False),
    ("family-inet-len-28", _in6(family=L.AF_INET), None, False),
    ("family-unspec", _in6(0, "::", family=L.AF_UNSPEC), None, False),
    ("v4mapped-loopback", _in6(0, "::ffff:127.0.0.1"), None, False),
    ("v4mapped-any", _in6(0, "::ffff:0.0.0.0"), None, False),
    ("v4mapped-not-local", _in6(0, "::ffff:192.0.2.1"), None, True),
    ("not-local", _in6(0, "2001:db8::1"), None, True),
    ("link-local-no-scope", _in6(0, "fe80::1"), None, False),
    ("link-local-scope-cut-by-len-24", _in6(0, "fe80::1", scope=1), 24, False),
    ("multicast-global", _in6(0, "ff0e::1"), None, False),
    ("multicast-link-no-scope", _in6(0, "ff02::1"), None, False),
    ("multicast-before-privileged-port", _in6(80, "ff0e::1"), None, False),
    # these two leave sin6_scope_id as the socket's device: last
    ("link-local-lo-scope", _in6(0, "fe80::1", scope=1), None, False),
    ("link-local-no-such-device", _in6(0, "fe80::1", scope=9999), None, True),
]


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_inet_errors(sc, kind):
    """inet_bind / inet6_bind, each row on a fresh socket: length, family (AF_UNSPEC with
    INADDR_ANY is let through), local/multicast/broadcast/v4-mapped/link-local addresses, in
    the kernel's order of checks. The rows whose answer depends on the host's own addresses
    are test_bind_inet_errors_private_netns."""
    _bind_rows(sc, kind, private=False)


@pytest.mark.parametrize("kind", INET_KINDS, ids=ids(INET_KINDS))
def test_bind_inet_errors_private_netns(sc, profile, kind):
    """The rows of test_bind_inet_errors that need a namespace whose only addresses are the
    loopback ones the model knows (a non-local address: EADDRNOTAVAIL)."""
    table = INET4_ROWS if kind.family == L.AF_INET else INET6_ROWS
    needs_private_netns(profile, "binding addresses other than loopback", sc,
                        [r[0] for r in rows_for(table, private=True)])
    _bind_rows(sc, kind, private=True)


def _bind_rows(sc, kind, private: bool):
    fd = open_sock(sc, kind)
    table = INET4_ROWS if kind.family == L.AF_INET else INET6_ROWS
    for label, addr, addrlen, _ in rows_for(table, private):
        with row(label):
            if sc.bind(fd, addr, addrlen).ok:
                fd = open_sock(sc, kind)  # the next row needs an unbound socket


# --------------------------------------------------------------------------- conflicts

# (id, type, first family/address, second family/address): the second binds the port the
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
    ("tcp-port-then-udp", None, L.AF_INET, "127.0.0.1", L.AF_INET, "127.0.0.1"),
]


def test_bind_conflict_across_addresses(sc):
    """Whether two bindings of one port overlap (inet_rcv_saddr_equal): wildcards, families,
    v4-mapped addresses; the TCP and UDP port tables are separate."""
    for label, type_, f1, a1, f2, a2 in CROSS:
        with row(label):
            first = sc.socket(f1, (type_ or STREAM) | L.SOCK_CLOEXEC, 0).ret
            sc.bind(first, _addr(f1, a1))
            port = local(sc, first).port
            second = sc.socket(f2, (type_ or DGRAM) | L.SOCK_CLOEXEC, 0).ret
            sc.bind(second, _addr(f2, a2, port))


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


@pytest.mark.parametrize("family", [f for _, f in FAMILIES], ids=[n for n, _ in FAMILIES])
def test_bind_reuseaddr(sc, family):
    """SO_REUSEADDR on both sockets shares a port, unless (TCP) the holder listens; of two TCP
    sockets sharing a port, the first to listen wins and the other gets EADDRINUSE."""
    name = "inet" if family == L.AF_INET else "inet6"
    for label, type_, r1, r2, listening in REUSE:
        with row(label):
            kind = Kind(name, type_)
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
                sc.listen(second, 4)
                sc.listen(first, 4)


@pytest.mark.parametrize("family", [f for _, f in FAMILIES], ids=[n for n, _ in FAMILIES])
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


@pytest.mark.parametrize("type_", [STREAM, DGRAM], ids=["stream", "dgram"])
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


# --------------------------------------------------------------------------- privileged ports

PORTS = [1, 80, 1023]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_bind_privileged_port(sc, side):
    """A port below ip_unprivileged_port_start (1024) needs CAP_NET_BIND_SERVICE; port 1024
    does not."""
    def body(s):
        for kind in INET_KINDS:
            fd = open_sock(s, kind)
            for port in PORTS + [1024]:
                with row(f"{kind}-port-{port}"):
                    if s.bind(fd, _addr(kind.family,
                                        "127.0.0.1" if kind.family == L.AF_INET else "::1", port)).ok:
                        s.close(fd)
                        fd = open_sock(s, kind)
            s.close(fd)
    run_as(sc, side, "CAP_NET_BIND_SERVICE", body)


# (id, ip_unprivileged_port_start, port)
SYSCTL_PORTS = [("start-0-port-80", 0, 80), ("start-2000-port-1500", 2000, 1500),
                ("start-2000-port-2000", 2000, 2000), ("start-80-port-79", 80, 79),
                ("start-80-port-80", 80, 80)]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_bind_unprivileged_port_start(sc, side):
    """net.ipv4.ip_unprivileged_port_start moves the line, for AF_INET6 too."""
    def body(s):
        for label, start, port in SYSCTL_PORTS:
            with row(label):
                s.set_sysctl("net.ipv4.ip_unprivileged_port_start", start)
                for family in (L.AF_INET, L.AF_INET6):
                    fd = s.socket(family, STREAM | L.SOCK_CLOEXEC, 0).ret
                    s.bind(fd, _addr(family, "127.0.0.1" if family == L.AF_INET else "::1", port))
                    s.close(fd)
    if side == "unprivileged" and sc.m.capable("CAP_NET_BIND_SERVICE"):
        sc.set_sysctl("net.ipv4.ip_unprivileged_port_start", 1024)   # restored after the child
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
def test_bind_raw(sc, profile):
    """raw_bind()/rawv6_bind(): an address only (the port shown stays the protocol); raw_bind
    checks no family; a raw socket binds again while unconnected, not once connected."""
    if not sc.m.capable("CAP_NET_RAW"):
        pytest.skip("raw sockets need CAP_NET_RAW (run as root)")
    needs_private_netns(profile, "raw sockets off loopback")
    fds = {family: sc.socket(family, L.SOCK_RAW | L.SOCK_CLOEXEC, 253).ret
           for family in (L.AF_INET, L.AF_INET6)}
    for label, family, addr, addrlen in RAW_ROWS:
        with row(label):
            sc.bind(fds[family], addr, addrlen)
    for family, fd in fds.items():
        sc.connect(fd, _in(9, "127.0.0.1") if family == L.AF_INET else _in6(9, "::1"))
        sc.bind(fd, _in(0, "127.0.0.1") if family == L.AF_INET else _in6(0, "::1"))


# --------------------------------------------------------------------------- unix names

def _raw_un(payload: bytes) -> SockaddrRaw:
    return SockaddrRaw(L.AF_UNIX.to_bytes(2, "little") + payload)


def _padded_path() -> SockaddrRaw:
    path = unix_path().path
    return _raw_un(path + b"\0" * (108 - len(path)))


# (id, address maker, addrlen or None or a function of the address)
UNIX_ROWS = [
    ("autobind", lambda sc: SockaddrUn(), None),
    ("autobind-len-2-of-path", lambda sc: unix_path(), 2),
    ("len-0", lambda sc: unix_path(), 0),
    ("len-1", lambda sc: unix_path(), 1),
    ("len-110-nul-padded", lambda sc: _padded_path(), 110),
    ("len-111", lambda sc: unix_path(), 111),
    ("family-inet", lambda sc: SockaddrUn(path=unix_path().path, family=L.AF_INET), None),
    ("family-inet-len-2", lambda sc: SockaddrUn(family=L.AF_INET), None),
    ("family-unspec", lambda sc: SockaddrUn(path=unix_path().path, family=L.AF_UNSPEC), None),
    ("path-missing-directory", lambda sc: SockaddrUn(path=missing_dir(sc) + "/s"), None),
    ("path-cut-by-addrlen", lambda sc: unix_path(unique() + "xyz"), lambda a: len(a.encode()) - 4),
    ("path-nul-inside", lambda sc: _raw_un(unix_path().path + b"\0tail"), None),
    ("abstract", lambda sc: SockaddrUn(abstract=unique().encode()), None),
    ("abstract-empty-name", lambda sc: SockaddrUn(abstract=unique().encode()), 3),
    ("abstract-nul-inside", lambda sc: SockaddrUn(abstract=b"a\0b" + unique().encode()), None),
    ("abstract-107-bytes", lambda sc: SockaddrUn(abstract=unique().encode().ljust(107, b"x")), None),
]


@pytest.mark.parametrize("type_", [STREAM, DGRAM, SEQPACKET], ids=["stream", "dgram", "seqpacket"])
def test_bind_unix(sc, type_):
    """unix_bind, each row on a fresh socket: autobind (length 2), length and family checks
    (EINVAL), filesystem names (cut at the first NUL, ENOENT without the directory) and abstract
    names (exactly addrlen - 2 bytes)."""
    fd = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
    for label, make, addrlen in UNIX_ROWS:
        with row(label):
            addr = make(sc)
            if sc.bind(fd, addr, addrlen(addr) if callable(addrlen) else addrlen).ok:
                fd = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret


@pytest.mark.parametrize("type_", [STREAM, DGRAM, SEQPACKET], ids=["stream", "dgram", "seqpacket"])
def test_bind_unix_autobind_twice(sc, type_):
    """Autobind names a socket once: again it changes nothing (0), a path or abstract bind then
    is EINVAL; two sockets get two names."""
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
    """After close an abstract name is free again; a path stays taken by its node (EADDRINUSE);
    a bound socket does not autobind."""
    fd, addr = bound(sc, kind)
    sc.bind(fd, SockaddrUn())
    sc.close(fd)
    again = open_sock(sc, kind)
    sc.bind(again, addr)
    sc.close(again)


@pytest.mark.parametrize("addressing", ["unix-path", "unix-abstract"])
def test_bind_unix_same_name_other_type(sc, addressing):
    """An abstract name is per socket type; a path is one filesystem node for all types."""
    fd, addr = bound(sc, Kind(addressing, STREAM))
    for type_ in (DGRAM, SEQPACKET, STREAM):
        other = sc.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
        sc.bind(other, addr)
        sc.close(other)
    sc.close(fd)


def test_bind_unix_path_rebind_existing(sc):
    """A bound socket binding an existing path: EADDRINUSE (mknod fails first); a new path:
    EINVAL (the node is made, then unlinked, so another socket may take it)."""
    fd, _ = bound(sc, Kind("unix-path", STREAM))
    other, other_addr = bound(sc, Kind("unix-path", DGRAM))
    sc.bind(fd, other_addr)
    fresh = unix_path()
    sc.bind(fd, fresh)
    third = open_sock(sc, Kind("unix-path", DGRAM))
    sc.bind(third, fresh)
    for f in (fd, other, third):
        sc.close(f)
