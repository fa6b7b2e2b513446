"""getsockname(2) / getpeername(2): what each kind reports through its life (unbound, bound,
listening, connected, accepted, after the peer left), the AF_UNIX lengths (unnamed: 2; a path:
strlen + 3; an abstract name: as bound), and the length argument (truncation, NULL, negative,
unwritable)."""
from __future__ import annotations

import pytest

from harness.abi import linux as L
from harness.mem import NULL, SockaddrUn

from .endpoints import connected, dgram_pair, listener, open_sock, row, unix_path
from .kinds import ALL, CONNECTION_ORIENTED, DATAGRAM, UNIX, ids, unique

NAME_CALLS = ["getsockname", "getpeername"]


def _names(sc, *fds):
    for fd in fds:
        sc.getsockname(fd)
        sc.getpeername(fd)


@pytest.mark.parametrize("kind", ALL, ids=ids(ALL))
def test_names_through_life(sc, kind):
    """Unbound (inet: the wildcard and port 0; unix: unnamed, length 2; no peer), bound,
    listening, connected (both ends, and the accepted socket: the listener's address), then
    after the other end closed (TCP: CLOSE_WAIT keeps the peer; unix keeps the dead peer's
    name)."""
    fd = open_sock(sc, kind)
    _names(sc, fd)
    sc.bind(fd, kind.address())
    _names(sc, fd)
    sc.close(fd)
    if kind in CONNECTION_ORIENTED:
        client, accepted, lfd = connected(sc, kind)
        _names(sc, lfd, client, accepted)
        sc.close(client)
        _names(sc, accepted)
        sc.close(accepted)
        sc.close(lfd)
    else:
        a, b = dgram_pair(sc, kind)
        _names(sc, a, b)
        sc.close(b)
        _names(sc, a)
        sc.close(a)


# (id, addr, addrlen)
LENGTH_ROWS = [
    ("full", True, None),
    ("len-0", True, 0),
    ("len-1", True, 1),
    ("len-4", True, 4),
    ("len-200", True, 200),
    ("len-negative", True, -1),
    ("len-int-min", True, -0x80000000),
    ("addr-null", NULL, 16),
    ("addr-fault", "fault", 16),
    ("addr-fault-len-0", "fault", 0),
    ("addrlen-ptr-null", True, NULL),
    ("addrlen-ptr-fault", True, "fault"),
]


@pytest.mark.parametrize("call", NAME_CALLS)
@pytest.mark.parametrize("kind", CONNECTION_ORIENTED + [k for k in DATAGRAM if not k.is_inet],
                         ids=ids(CONNECTION_ORIENTED + [k for k in DATAGRAM if not k.is_inet]))
def test_names_length_argument(sc, kind, call):
    """move_addr_to_user(): the address is cut to *addrlen and the full length written back;
    length 0 copies nothing; a negative length is EINVAL; an unwritable address or length
    pointer EFAULT (a zero length never touches the address)."""
    if kind in CONNECTION_ORIENTED:
        client, accepted, lfd = connected(sc, kind)
    else:
        client, accepted = dgram_pair(sc, kind)
        lfd = None
    for label, addr, addrlen in LENGTH_ROWS:
        with row(label):
            addr = sc.fault() if addr == "fault" else addr
            addrlen = sc.fault() if addrlen == "fault" else addrlen
            getattr(sc, call)(client, addr, addrlen)
    for fd in (client, accepted, lfd):
        if fd is not None:
            sc.close(fd)


@pytest.mark.parametrize("call", NAME_CALLS)
def test_names_bad_descriptor(sc, call):
    """EBADF for a descriptor not open or negative; ENOTSOCK for a file."""
    import os
    getattr(sc, call)(sc.m.fds.lowest_free(200))
    getattr(sc, call)(-1)
    r, w = os.pipe()
    try:
        sc.adopt(r, f"pipe:[{os.fstat(r).st_ino}]")
        getattr(sc, call)(r)
    finally:
        sc.m.fds.remove(r)
        os.close(r)
        os.close(w)


def test_names_unix_lengths(sc):
    """AF_UNIX names keep the length they were bound with: a path is reported with one NUL
    (whatever addrlen was), an abstract name with exactly its bytes, autobind with 8; the
    client of a connection is unnamed unless it bound."""
    path = unix_path()
    rows = [
        ("path-exact", path, None),
        ("path-long-addrlen", unix_path(), 110),
        ("abstract", SockaddrUn(abstract=unique().encode()), None),
        ("abstract-trailing-nuls", SockaddrUn(abstract=unique().encode() + b"\0\0"), None),
        ("autobind", SockaddrUn(), None),
    ]
    for label, addr, addrlen in rows:
        with row(label):
            fd = sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
            sc.bind(fd, addr, addrlen)
            sc.getsockname(fd)
            sc.getsockname(fd, True, 3)
            sc.close(fd)


@pytest.mark.parametrize("kind", [k for k in UNIX if k.type != L.SOCK_DGRAM],
                         ids=ids([k for k in UNIX if k.type != L.SOCK_DGRAM]))
def test_names_unix_autobound_client(sc, kind):
    """A client that autobound before connecting is reported by its autobind name."""
    lfd, addr = listener(sc, kind)
    client = open_sock(sc, kind)
    sc.bind(client, SockaddrUn())
    sc.connect(client, addr)
    accepted = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
    _names(sc, client, accepted)
    for fd in (client, accepted, lfd):
        sc.close(fd)


def test_names_socketpair(sc):
    """socketpair ends are connected and unnamed: both names have length 2."""
    for type_ in (L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET):
        a, b = sc.socketpair(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).out["fds"]
        _names(sc, a)
        sc.bind(a, SockaddrUn(abstract=unique().encode()))
        sc.getpeername(b)
        sc.close(a)
        sc.getpeername(b)
        sc.close(b)


@pytest.mark.parametrize("kind", [k for k in CONNECTION_ORIENTED if k.is_inet],
                         ids=ids([k for k in CONNECTION_ORIENTED if k.is_inet]))
def test_names_inet_wildcard_listener(sc, kind):
    """An accepted socket reports the address the client connected to, not the listener's
    wildcard; the client reports the loopback source address."""
    lfd = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.listen(lfd, 2)                             # implicit bind to the wildcard address
    port = sc.m.sock(lfd).local.port
    client = open_sock(sc, kind)
    sc.connect(client, kind.address(port))
    accepted = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
    _names(sc, client, accepted)
    for fd in (client, accepted, lfd):
        sc.close(fd)
