"""Model-only scenarios for connection management (harness/model/af_inet.py, af_unix.py,
inet_connection_sock.py and the net/socket.c entries they sit under): bind, listen, accept,
connect, getsockname/getpeername, shutdown and what close leaves behind. Each scenario plays
calls on a hand-built profile as if the kernel answered with the model's outcome (ephemeral
ports and autobind names are then "observed" with a value the model allows) and names what
the model must allow. The last test checks that the scenarios reach every rule the three
modules define."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import loopback, Ptr, SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn
from harness.model import af_inet, af_unix
from harness.model import inet_connection_sock as icsk
from harness.model.observe import expectations
from harness.model.rules import Constraint, Rule
from harness.model.socket import NotModelled

from model_profile import Run, fake_result, rules_of

FAULT = Ptr(0x1000, "PROT_NONE page", True)
REACHED: set[str] = set()
VERSIONS = ["6.1", "6.12", "6.18"]
VERSIONS_OF = {"6.1.100": (6, 1, 100), "6.12.20": (6, 12, 20)}
STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET
NB = L.SOCK_NONBLOCK


class Net(Run):
    """A Run that records the rules it meets and, after each call, observes every unresolved
    address with a value the model allows (as the checker's probes would)."""

    def __init__(self, version="6.18", caps=None, **sysctls):
        if caps is None:
            super().__init__(version, **sysctls)
        else:
            super().__init__(version, caps, **sysctls)
        self.port_hint = 40001

    def outcomes(self, name, *args, **kwargs):
        out = self.allowed(name, *args, **kwargs)
        REACHED.update(rules_of(out))
        return out

    def call(self, name, *args, **kwargs):
        """Play the single allowed outcome; returns (errno, ret, rule names)."""
        out = self.outcomes(name, *args, **kwargs)
        assert len(out) == 1, out
        o = out[0]
        if o.apply is not None:
            o.apply(self.m, fake_result(o))
        self.observe()
        return o

    # -- observation ---------------------------------------------------------------------
    def observe(self):
        socks = list(self.m.fds.socks()) + list(self.m.net.inet_bound)
        for s in list(socks):
            socks += s.accept_queue
        for s in socks:
            if isinstance(s.local, Constraint):
                s.local = self.pick(s.local)
        for fd in list(self.m.fds.entries):
            if self.m.sock(fd) is not None:
                for e in expectations(self.m, fd):      # the expectations must be computable
                    if e.name == "SO_ERROR":
                        e.learn(e.value)                # the probe reads (and clears) SO_ERROR

    def pick(self, constraint):
        for i in range(0x100):
            name = SockaddrUn(abstract=b"%05x" % (0x19c30 + i))
            if name in constraint:
                return name
        lo, hi = self.m.net.port_range
        for port in list(range(self.port_hint, self.port_hint + 4)) + list(range(lo, hi + 1)):
            for addr in ("127.0.0.1", "127.0.0.2", "127.1.2.3", "0.0.0.0", "224.0.0.1",
                         "255.255.255.255"):
                if SockaddrIn(port, addr) in constraint:
                    self.port_hint = port + 1
                    return SockaddrIn(port, addr)
            for addr in ("::1", "::", "::ffff:7f00:1", "ff0e::1"):
                if SockaddrIn6(port, addr) in constraint:
                    self.port_hint = port + 1
                    return SockaddrIn6(port, addr)
        raise AssertionError(f"no value satisfies {constraint}")

    # -- helpers -------------------------------------------------------------------------
    def new(self, family=L.AF_INET, type_=STREAM, protocol=0):
        return self.sock(family, type_ | L.SOCK_CLOEXEC, protocol)

    def local(self, fd):
        return self.obj(fd).local

    def bound(self, family=L.AF_INET, type_=STREAM, addr=None):
        fd = self.new(family, type_)
        self.call("bind", fd, addr or _lo(family))
        return fd

    def listener(self, family=L.AF_INET, type_=STREAM, backlog=8, addr=None):
        fd = self.new(family, type_)
        self.obj(fd).nonblock = True
        self.call("bind", fd, addr or _lo(family))
        self.call("listen", fd, backlog)
        return fd

    def connection(self, lfd):
        """(client, accepted) of a TCP connection to the listener lfd (IPv4)."""
        c = self.new()
        self.call("connect", c, _in(self.local(lfd).port))
        return c, self.call("accept4", lfd, 0).ret.value

    def name(self, fd, peer=False):
        o = self.call("getpeername" if peer else "getsockname", fd)
        return o.errno, _v(o.out.get("addr")), _v(o.out.get("addrlen"))


def _lo(family, port=0):
    if family in (L.AF_INET, L.AF_INET6):
        return loopback(family, port)
    return SockaddrUn(abstract=f"model-{port}-{id(object())}".encode())


def _v(value):
    return getattr(value, "value", value)


def _in(port=0, addr="127.0.0.1", family=L.AF_INET):
    return SockaddrIn(port, addr, family)


def _in6(port=0, addr="::1", scope=0, family=L.AF_INET6):
    return SockaddrIn6(port, addr, 0, scope, family)


# =========================================================================== bind (inet)

@pytest.mark.parametrize("version", VERSIONS)
def test_inet_bind_errors(version):
    n = Net(version)
    fd = n.new()
    n.fails(E.EINVAL, af_inet.BIND_SHORT, "bind", fd, _in(), 15)
    n.fails(E.EAFNOSUPPORT, af_inet.BIND_FAMILY, "bind", fd, _in(family=L.AF_INET6))
    n.fails(E.EAFNOSUPPORT, af_inet.BIND_FAMILY, "bind", fd, _in(0, "127.0.0.1", L.AF_UNSPEC))
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in(80, "192.0.2.1"))
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in(0, "0.1.2.3"))
    n.ok(af_inet.BIND_UNSPEC_ANY, "bind", fd, _in(0, "0.0.0.0", L.AF_UNSPEC))
    assert n.local(fd).addr == "0.0.0.0" and n.local(fd).port % 2 == 1       # odd offset
    n.fails(E.EINVAL, af_inet.BIND_AGAIN, "bind", fd, _in())
    for addr in ("224.0.0.1", "255.255.255.255", "127.1.2.3"):
        n.ok(af_inet.BIND_OK, "bind", n.new(DGRAM and L.AF_INET, DGRAM), _in(0, addr))


def test_inet_bind_nonlocal_outside_private_netns():
    n = Net()
    n.m.profile.__dict__  # the profile is frozen: build one outside the private namespace
    from model_profile import profile as make
    import dataclasses
    n.m.profile = dataclasses.replace(make(), netns_private=False)
    fd = n.new()
    with pytest.raises(NotModelled):
        n.allowed("bind", fd, _in(0, "192.0.2.1"))
    n.ok(af_inet.BIND_OK, "bind", fd, _in(0, "127.0.0.1"))


@pytest.mark.parametrize("version", VERSIONS)
def test_inet6_bind_errors(version):
    n = Net(version)
    fd = n.new(L.AF_INET6)
    n.fails(E.EINVAL, af_inet.BIND_SHORT, "bind", fd, _in6(), 23)
    n.fails(E.EINVAL, af_inet.BIND_SHORT, "bind", fd, _in())
    n.fails(E.EAFNOSUPPORT, af_inet.BIND_FAMILY, "bind", fd, _in6(family=L.AF_INET))
    n.fails(E.EINVAL, af_inet.BIND_V6_MCAST_STREAM, "bind", fd, _in6(0, "ff0e::1"))
    n.fails(E.EINVAL, af_inet.BIND_V6_SCOPE, "bind", fd, _in6(0, "fe80::1"))
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in6(0, "2001:db8::1"))
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in6(0, "::ffff:192.0.2.1"))
    n.fails(E.ENODEV, af_inet.BIND_V6_SCOPE_NODEV, "bind", fd, _in6(0, "fe80::1", 9999))
    assert n.obj(fd).opts["SO_BINDTODEVICE"] == 9999                 # the scope id stays
    fd = n.new(L.AF_INET6)
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in6(0, "fe80::1", 1))
    fd = n.new(L.AF_INET6)
    n.ok(af_inet.BIND_V6ONLY_SET, "bind", fd, _in6())
    assert n.obj(fd).opts["IPV6_V6ONLY"] == 1
    fd = n.new(L.AF_INET6)
    n.ok(af_inet.BIND_V6_MAPPED, "bind", fd, _in6(0, "::ffff:127.0.0.1"))
    assert n.local(fd).addr == "::ffff:7f00:1"
    n.ok(af_inet.BIND_OK, "bind", n.new(L.AF_INET6, DGRAM), _in6(0, "ff0e::1"))


@pytest.mark.parametrize("version", VERSIONS)
def test_inet_bind_privileged_port(version):
    n = Net(version)
    n.ok(af_inet.BIND_PRIVILEGED_OK, "bind", n.new(), _in(80))
    u = Net(version, caps=())
    u.fails(E.EACCES, af_inet.BIND_EACCES, "bind", u.new(), _in(80))
    u.fails(E.EACCES, af_inet.BIND_EACCES, "bind", u.new(L.AF_INET6), _in6(1023))
    u.ok(af_inet.BIND_OK, "bind", u.new(), _in(1024))
    low = Net(version, caps=(), net__ipv4__ip_unprivileged_port_start="0")
    low.ok(af_inet.BIND_OK, "bind", low.new(), _in(80))


def test_inet_bind_conflicts_and_reuse():
    n = Net()
    a = n.bound()
    addr = n.local(a)
    n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", n.new(), addr)
    n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", n.new(), _in(addr.port, "0.0.0.0"))
    n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", n.new(L.AF_INET6), _in6(addr.port, "::"))
    n.ok(af_inet.BIND_OK, "bind", n.new(L.AF_INET6), _in6(addr.port, "::1"))
    n.ok(af_inet.BIND_OK, "bind", n.new(), _in(addr.port, "127.0.0.2"))
    n.ok(af_inet.BIND_OK, "bind", n.new(L.AF_INET, DGRAM), addr)      # another table
    # SO_REUSEADDR on both, the holder not listening: shared
    r1, r2 = n.new(), n.new()
    for fd in (r1, r2):
        n.obj(fd).opts["SO_REUSEADDR"] = 1
    n.call("bind", r1, _in())
    n.ok(af_inet.BIND_REUSEADDR, "bind", r2, n.local(r1))
    n.ok(af_inet.LISTEN_OK, "listen", r2, 4)
    n.fails(E.EADDRINUSE, af_inet.LISTEN_INUSE, "listen", r1, 4)
    r3 = n.new()
    n.obj(r3).opts["SO_REUSEADDR"] = 1
    n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", r3, n.local(r1))   # r2 listens
    with pytest.raises(NotModelled):
        fd = n.new()
        n.obj(fd).opts["SO_REUSEPORT"] = 1
        n.allowed("bind", fd, n.local(r1))


def test_rcv_saddr_equal_table():
    v4 = lambda a: icsk.rcv_addr_of(L.AF_INET, SockaddrIn(1, a), False)
    v6 = lambda a, only=False: icsk.rcv_addr_of(L.AF_INET6, SockaddrIn6(1, a), only)
    assert icsk.rcv_saddr_equal(v4("0.0.0.0"), v4("127.0.0.1"))
    assert not icsk.rcv_saddr_equal(v4("127.0.0.1"), v4("127.0.0.2"))
    assert icsk.rcv_saddr_equal(v4("127.0.0.1"), v6("::"))
    assert not icsk.rcv_saddr_equal(v4("127.0.0.1"), v6("::", True))
    assert not icsk.rcv_saddr_equal(v4("127.0.0.1"), v6("::1", True))
    assert icsk.rcv_saddr_equal(v6("::ffff:127.0.0.1"), v4("127.0.0.1"))
    assert icsk.rcv_saddr_equal(v6("::"), v6("::1", True))
    assert not icsk.rcv_saddr_equal(v6("::", True), v4("0.0.0.0"))


def test_ephemeral_ports():
    n = Net()
    lo, hi = 32768, 60999
    fd = n.bound()
    o = n.outcomes("bind", n.new(), _in())[0]
    assert {"bind.inet_ephemeral_port", "bind.tcp_ephemeral_odd"} <= {r.name for r in o.rules}
    assert (n.local(fd).port - lo) % 2 == 1
    # SO_REUSEADDR: the lower half
    r = n.new()
    n.obj(r).opts["SO_REUSEADDR"] = 1
    o = n.ok(icsk.EPHEMERAL_REUSE_HALF, "bind", r, _in())
    assert n.local(r).port < lo + (((hi + 1 - lo) >> 2) << 1)
    # UDP: anywhere in the range
    o = n.ok(icsk.EPHEMERAL, "bind", n.new(L.AF_INET, DGRAM), _in())
    assert "bind.tcp_ephemeral_odd" not in {x.name for x in o.rules}


def test_ephemeral_exhaustion():
    n = Net(net__ipv4__ip_local_port_range="61000 61003")
    ports = []
    for _ in range(4):
        fd = n.new()
        n.call("bind", fd, _in())
        ports.append(n.local(fd).port)
    assert ports[:2] == [61001, 61003] and sorted(ports[2:]) == [61000, 61002]
    n.fails(E.EADDRINUSE, icsk.PORTS_EXHAUSTED, "bind", n.new(), _in())
    lfd = n.new()
    n.fails(E.EADDRINUSE, icsk.PORTS_EXHAUSTED, "listen", lfd, 1)
    u = Net(net__ipv4__ip_local_port_range="61010 61010")
    target = u.bound(L.AF_INET, DGRAM)
    u.fails(E.EADDRINUSE, icsk.PORTS_EXHAUSTED, "bind", u.new(L.AF_INET, DGRAM), _in())
    u.fails(E.EAGAIN, af_inet.AUTOBIND_FAILED, "connect", u.new(L.AF_INET, DGRAM), _in(9))
    del target


def test_raw_bind():
    n = Net()
    fd = n.new(L.AF_INET, L.SOCK_RAW, 253)
    assert n.name(fd)[1] == SockaddrIn(253, "0.0.0.0")
    n.fails(E.EINVAL, af_inet.BIND_RAW_STATE, "bind", fd, _in(), 15)
    n.ok(af_inet.BIND_RAW, "bind", fd, _in6(0, "::1"), 16)     # no family check: 0.0.0.0
    n.ok(af_inet.BIND_RAW, "bind", fd, _in(7, "127.0.0.1"))
    assert n.local(fd) == SockaddrIn(253, "127.0.0.1")
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_NOTAVAIL, "bind", fd, _in(0, "192.0.2.1"))
    n.ok(af_inet.CONNECT_DGRAM, "connect", fd, _in(9))
    n.fails(E.EINVAL, af_inet.BIND_RAW_STATE, "bind", fd, _in())
    n.fails(E.EOPNOTSUPP, None, "listen", fd, 1)
    r6 = n.new(L.AF_INET6, L.SOCK_RAW, 253)
    n.fails(E.EINVAL, af_inet.BIND_RAW_STATE, "bind", r6, _in6(family=L.AF_INET))
    n.fails(E.EADDRNOTAVAIL, af_inet.BIND_RAW6_MAPPED, "bind", r6, _in6(0, "::ffff:127.0.0.1"))
    n.ok(af_inet.BIND_RAW, "bind", r6, _in6())


# =========================================================================== listen, accept (inet)

@pytest.mark.parametrize("version", VERSIONS)
def test_listen_backlog_clamp(version):
    from harness.model.socket import LISTEN_CLAMP
    n = Net(version, net__core__somaxconn="8")
    fd = n.bound()
    for backlog, expected in ((-1, 8), (-0x80000000, 8), (0, 0), (5, 5), (8, 8), (9, 8),
                              (0x7FFFFFFF, 8), (1 << 20, 8)):
        o = n.ok(af_inet.LISTEN_OK, "listen", fd, backlog)
        assert n.obj(fd).backlog == expected
        assert (LISTEN_CLAMP in o.rules) == (expected != backlog)
    got = {e.name: e.value for e in expectations(n.m, fd)}
    assert got["listen_backlog"] == 8 and got["accept_queue"] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_accept_queue_capacity(version):
    n = Net(version)
    for backlog in (0, 2):
        lfd = n.listener(backlog=backlog)
        addr = n.local(lfd)
        for _ in range(backlog + 1):
            c = n.new(L.AF_INET, STREAM)
            n.obj(c).nonblock = True
            n.fails(E.EINPROGRESS, af_inet.CONNECT_TCP, "connect", c, addr)
            assert n.name(c, peer=True)[0] == 0
            n.ok(af_inet.CONNECT_COMPLETED, "connect", c, addr)
            n.fails(E.EISCONN, af_inet.CONNECT_ISCONN, "connect", c, addr)
        pending = n.new()
        n.obj(pending).nonblock = True
        o = n.fails(E.EINPROGRESS, af_inet.CONNECT_PENDING, "connect", pending, addr)
        assert af_inet.ACCEPT_QUEUE in o.rules
        assert n.name(pending, peer=True)[0] == E.ENOTCONN
        n.fails(E.EALREADY, af_inet.CONNECT_EALREADY, "connect", pending, addr)
        with pytest.raises(NotModelled):
            n.obj(pending).nonblock = False
            n.allowed("connect", pending, addr)
        n.ok(af_inet.SHUTDOWN_CONNECTING, "shutdown", pending, L.SHUT_WR)
        assert n.obj(pending).so_error == 0          # read by the probe (ECONNRESET)
        for _ in range(backlog + 1):
            n.ok(af_inet.ACCEPT_OK, "accept4", lfd, 0)
        n.fails(E.EAGAIN, af_inet.ACCEPT_EAGAIN, "accept", lfd)


def test_listen_states():
    n = Net()
    fd = n.new()
    n.ok(af_inet.LISTEN_AUTOBIND, "listen", fd, 3)
    assert n.local(fd).addr == "0.0.0.0" and n.local(fd).port % 2 == 1
    n.ok(af_inet.LISTEN_OK, "listen", fd, 5)
    c = n.new()
    n.ok(af_inet.CONNECT_TCP, "connect", c, _in(n.local(fd).port))
    n.fails(E.EINVAL, af_inet.LISTEN_STATE, "listen", c, 3)
    a = n.ok(af_inet.ACCEPT_OK, "accept4", fd, 0).ret.value
    n.fails(E.EINVAL, af_inet.LISTEN_STATE, "listen", a, 3)
    n.fails(E.EINVAL, af_inet.ACCEPT_NOT_LISTENING, "accept", c)
    n.fails(E.EOPNOTSUPP, None, "listen", n.new(L.AF_INET, DGRAM), 3)
    n.fails(E.EOPNOTSUPP, None, "accept", n.new(L.AF_INET, DGRAM))
    blocking = n.listener()
    n.obj(blocking).nonblock = False
    with pytest.raises(NotModelled):
        n.allowed("accept", blocking)


def test_accept_peer_and_address_errors():
    n = Net()
    lfd = n.listener(L.AF_INET6, addr=_in6(0, "::"))
    port = n.local(lfd).port
    c = n.new()
    n.call("connect", c, _in(port))
    o = n.ok(af_inet.ACCEPT_OK, "accept4", lfd, 0)
    assert o.out["addr"].value == SockaddrIn6(n.local(c).port, "::ffff:7f00:1")
    assert n.local(o.ret.value) == SockaddrIn6(port, "::ffff:7f00:1")
    n.call("connect", n.new(), _in(port))
    from harness.model.socket import ADDRLEN_OUT_NEGATIVE
    n.fails(E.EINVAL, ADDRLEN_OUT_NEGATIVE, "accept4", lfd, 0, True, -1)
    assert not n.obj(lfd).accept_queue                     # the connection is gone
    n.fails(E.EBADF, None, "accept4", 77, 0x1234)
    n.fails(E.EINVAL, None, "accept4", 1, 0x1234)          # flags before ENOTSOCK
    n.fails(E.ENOTSOCK, None, "accept4", 1, 0)


# =========================================================================== connect (inet)

@pytest.mark.parametrize("version", VERSIONS)
def test_tcp_connect_errors(version):
    n = Net(version)
    lfd = n.listener()
    port = n.local(lfd).port
    fd = n.new()
    n.fails(E.EINVAL, af_inet.CONNECT_SHORT, "connect", fd, _in(port), 1)
    n.fails(E.EINVAL, af_inet.CONNECT_SHORT, "connect", fd, _in(port), 15)
    n.fails(E.EAFNOSUPPORT, af_inet.CONNECT_FAMILY, "connect", fd, _in(port, family=L.AF_INET6))
    n.ok(af_inet.CONNECT_UNSPEC, "connect", fd, SockaddrRaw(b"\0\0"))
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", fd, _in(port, "192.0.2.1"))
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", fd, _in(port, "255.255.255.255"))
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_REFUSED, "connect", fd, _in(0))
    n.ok(af_inet.CONNECT_ANY_IS_LOOPBACK, "connect", fd, _in(port, "0.0.0.0"))
    assert n.obj(fd).peer == SockaddrIn(port, "127.0.0.1")
    o = n.outcomes("connect", n.new(), _in(port))[0]
    assert af_inet.icsk.EPHEMERAL_CONNECT_PARITY in o.rules
    n.fails(E.EISCONN, af_inet.CONNECT_ISCONN, "connect", lfd, _in(port))
    n.fails(E.EISCONN, af_inet.CONNECT_ISCONN, "connect", fd, _in(port))


def test_tcp_refused_sequences():
    n = Net()
    target = n.bound()
    addr = n.local(target)
    fd = n.new()
    n.obj(fd).nonblock = True
    n.fails(E.EINPROGRESS, af_inet.CONNECT_REFUSED, "connect", fd, addr)
    assert n.local(fd).addr == "127.0.0.1" and n.name(fd, peer=True)[0] == E.ENOTCONN
    n.fails(E.ECONNABORTED, af_inet.CONNECT_FAILED_LATER, "connect", fd, addr)  # SO_ERROR read
    assert n.local(fd).addr == "0.0.0.0"
    n.fails(E.EINPROGRESS, af_inet.CONNECT_REFUSED, "connect", fd, addr)
    n.obj(fd).so_error = E.ECONNREFUSED                     # not read this time
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_FAILED_LATER, "connect", fd, addr)
    fd2 = n.new()
    n.obj(fd2).nonblock = True
    n.call("connect", fd2, addr)
    n.fails(E.ENOTCONN, af_inet.SHUTDOWN_ENOTCONN, "shutdown", fd2, L.SHUT_RDWR)
    n.fails(E.EINVAL, af_inet.CONNECT_DISCONNECTING, "connect", fd2, addr)
    n.fails(E.EINVAL, af_inet.LISTEN_STATE, "listen", fd2, 1)
    blocking = n.new()
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_REFUSED, "connect", blocking, addr)
    assert n.local(blocking).addr == "0.0.0.0" and not n.obj(blocking).bound
    n.ok(af_inet.BIND_OK, "bind", blocking, _in())


def test_tcp_connect_outside_private_netns():
    import dataclasses
    from model_profile import profile as make
    n = Net()
    n.m.profile = dataclasses.replace(make(), netns_private=False)
    with pytest.raises(NotModelled):
        n.allowed("connect", n.new(), _in(5555))
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_REFUSED, "connect", n.new(), _in(0))
    with pytest.raises(NotModelled):
        n.allowed("connect", n.new(L.AF_INET, DGRAM), _in(53, "224.0.0.1"))


def test_tcp_source_ports_exhausted():
    n = Net(net__ipv4__ip_local_port_range="61000 61001")
    lfd = n.listener(addr=_in(5000))
    got = []
    for _ in range(2):
        c = n.new()
        n.call("connect", c, _in(5000))
        got.append(n.local(c).port)
    assert got == [61000, 61001]
    n.fails(E.EADDRNOTAVAIL, af_inet.CONNECT_NO_PORT, "connect", n.new(), _in(5000))
    del lfd


def test_tcp_v6_connects():
    n = Net()
    v4l = n.listener()
    port = n.local(v4l).port
    c6 = n.new(L.AF_INET6)
    n.ok(af_inet.CONNECT_TCP, "connect", c6, _in6(port, "::ffff:127.0.0.1"))
    assert n.local(c6).addr == "::ffff:7f00:1"
    o = n.ok(af_inet.ACCEPT_OK, "accept4", v4l, 0)
    assert o.out["addr"].value == SockaddrIn(n.local(c6).port, "127.0.0.1")
    only = n.bound(L.AF_INET6)
    n.fails(E.ENETUNREACH, af_inet.CONNECT_V6ONLY_MAPPED, "connect", only,
            _in6(port, "::ffff:127.0.0.1"))
    fd = n.new(L.AF_INET6)
    n.fails(E.EINVAL, af_inet.CONNECT_SHORT, "connect", fd, _in6(port), 23)
    n.fails(E.EAFNOSUPPORT, af_inet.CONNECT_FAMILY, "connect", fd, _in6(port, family=L.AF_INET))
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", fd, _in6(port, "ff0e::1"))
    n.fails(E.EINVAL, af_inet.CONNECT_V6_SCOPE, "connect", fd, _in6(port, "fe80::1"))
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", fd, _in6(port, "2001:db8::1"))
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_ANY_IS_LOOPBACK, "connect", fd, _in6(port, "::"))


def test_tcp_unspec_and_close():
    n = Net()
    lfd = n.listener()
    port = n.local(lfd).port
    c, a = n.connection(lfd)
    n.ok(af_inet.CONNECT_UNSPEC, "connect", c, SockaddrRaw(b"\0\0"))
    assert n.obj(c).so_error == 0 and n.obj(a).sk_state == "CLOSE"   # both read ECONNRESET
    assert n.name(a, peer=True)[0] == E.ENOTCONN
    n.ok(af_inet.LISTEN_AUTOBIND, "listen", c, 2)
    # FIN exchange: first closer lingers holding the port
    c2, a2 = n.connection(lfd)
    n.ok(af_inet.SHUTDOWN_OK, "shutdown", c2, L.SHUT_WR)
    assert n.obj(a2).sk_state == "CLOSE_WAIT" and n.name(a2, peer=True)[0] == 0
    n.ok(af_inet.SHUTDOWN_OK, "shutdown", a2, L.SHUT_WR)
    assert n.name(c2, peer=True)[0] == E.ENOTCONN and n.name(a2, peer=True)[0] == E.ENOTCONN
    n.fails(E.ENOTCONN, af_inet.SHUTDOWN_ENOTCONN, "shutdown", c2, L.SHUT_RD)
    held = n.local(c2)
    n.call("close", c2)
    n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", n.new(), held)   # TIME_WAIT
    # close with a connection queued: the client is reset
    c3 = n.new()
    n.call("connect", c3, _in(port))
    n.call("close", lfd)
    assert n.obj(c3).sk_state == "CLOSE"
    assert n.name(c3, peer=True)[0] == E.ENOTCONN


def test_tcp_close_with_zero_linger_resets():
    """SO_LINGER {1, 0}: close() sends RST, the peer reads ECONNRESET, and the port is free at
    once (no TIME_WAIT holds it)."""
    import struct
    n = Net()
    lfd = n.listener()
    port = n.local(lfd).port
    c, a = n.connection(lfd)
    held = n.local(c)
    n.call("setsockopt", c, L.SOL_SOCKET, L.SO_LINGER, struct.pack("=ii", 1, 0))
    n.ok(af_inet.CLOSE_LINGER_RESET, "close", c)
    assert n.obj(a).so_error == E.ECONNRESET and n.obj(a).sk_state == "CLOSE"
    n.ok(af_inet.BIND_OK, "bind", n.new(), held)
    # a linger that is off again closes with FIN
    c2 = n.new()
    n.call("connect", c2, _in(port))
    n.call("accept4", lfd, 0)
    n.call("setsockopt", c2, L.SOL_SOCKET, L.SO_LINGER, struct.pack("=ii", 0, 0))
    o = n.call("close", c2)
    assert af_inet.CLOSE_LINGER_RESET not in o.rules


def _with_markers(n, **readings):
    """Give the hand-built profile marker readings: name=True/False, or None for unknown."""
    import dataclasses
    markers = {name.replace("__", "."): ({"value": v, "source": "test", "known": True} if v is not None
                                         else {"value": None, "source": "test: no BTF", "known": False})
               for name, v in readings.items()}
    n.m.profile = dataclasses.replace(n.m.profile, markers=markers)
    return n


def _unhash_scenario(n, new: bool):
    """Ex-established sockets cannot listen and an ex-listener cannot connect where the kernel
    keeps icsk->unhashed_state (``new``); elsewhere both work as they always did."""
    target = n.bound()
    addr = n.local(target)
    lfd = n.listener()
    fd = n.new()
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_REFUSED, "connect", fd, addr)
    assert not n.obj(fd).bound and n.obj(fd).unhashed_from == "ehash"
    if new:
        n.fails(E.EINVAL, af_inet.LISTEN_UNHASHED, "listen", fd, 1)
        assert n.obj(fd).bound and n.local(fd).addr == "0.0.0.0"       # autobound, kept
        n.fails(E.EADDRINUSE, af_inet.BIND_INUSE, "bind", n.new(), _in(n.local(fd).port))
        n.fails(E.EINVAL, af_inet.LISTEN_UNHASHED, "listen", fd, 1)     # again: port stays
    else:
        n.ok(af_inet.LISTEN_AUTOBIND, "listen", fd, 1)
    fixed = n.new()
    n.ok(af_inet.BIND_OK, "bind", fixed, _in())
    n.fails(E.ECONNREFUSED, af_inet.CONNECT_REFUSED, "connect", fixed, addr)
    if new:
        n.fails(E.EINVAL, af_inet.LISTEN_UNHASHED, "listen", fixed, 1)
    else:
        n.ok(af_inet.LISTEN_OK, "listen", fixed, 1)
    # an ex-listener connecting
    n.ok(af_inet.SHUTDOWN_LISTENER, "shutdown", lfd, L.SHUT_RD)
    assert n.obj(lfd).unhashed_from == "lhash"
    other = n.listener()
    if new:
        n.fails(E.EINVAL, af_inet.CONNECT_UNHASHED, "connect", lfd, n.local(other))
    else:
        assert n.call("connect", lfd, n.local(other)).rule is af_inet.CONNECT_TCP


def test_tcp_unhashed_state():
    """The marker decides where it was read; the release range only where it is unknown."""
    name = "inet_connection_sock__unhashed_state"
    _unhash_scenario(_with_markers(Net(), **{name: True}), new=True)             # a 6.18 backport
    _unhash_scenario(_with_markers(Net((7, 5, 0)), **{name: False}), new=False)  # marker absent
    _unhash_scenario(_with_markers(Net((7, 5, 0)), **{name: None}), new=True)    # unknown: range
    _unhash_scenario(_with_markers(Net(), **{name: None}), new=False)
    _unhash_scenario(Net(), new=False)                                           # no markers read


def test_tcp_listener_shutdown():
    n = Net()
    lfd = n.listener()
    c = n.new()
    n.call("connect", c, n.local(lfd))
    n.ok(af_inet.SHUTDOWN_LISTENER, "shutdown", lfd, L.SHUT_WR)
    assert n.obj(lfd).listening
    n.ok(af_inet.SHUTDOWN_LISTENER, "shutdown", lfd, L.SHUT_RD)
    assert not n.obj(lfd).listening and n.obj(c).sk_state == "CLOSE"
    n.fails(E.EINVAL, af_inet.ACCEPT_NOT_LISTENING, "accept", lfd)
    for how in (-1, 3, 0x7FFFFFFF, -0x80000000):
        n.fails(E.EINVAL, af_inet.SHUTDOWN_HOW, "shutdown", lfd, how)


def test_udp_connect():
    n = Net()
    a = n.bound(L.AF_INET, DGRAM)
    fd = n.new(L.AF_INET, DGRAM)
    n.ok(af_inet.CONNECT_DGRAM, "connect", fd, n.local(a))
    assert n.local(fd).addr == "127.0.0.1" and n.obj(fd).peer == n.local(a)
    n.ok(af_inet.SHUTDOWN_OK, "shutdown", fd, L.SHUT_RD)
    n.ok(af_inet.CONNECT_DGRAM, "connect", fd, _in(0))
    assert n.name(fd, peer=True)[0] == E.ENOTCONN                   # port 0 is no peer
    n.ok(af_inet.CONNECT_UNSPEC, "connect", fd, SockaddrRaw(b"\0\0"))
    assert n.local(fd) is None                                      # the port went back
    n.fails(E.ENOTCONN, af_inet.SHUTDOWN_ENOTCONN, "shutdown", fd, L.SHUT_RD)
    f2 = n.new(L.AF_INET, DGRAM)
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", f2, _in(53, "192.0.2.1"))
    assert n.obj(f2).bound                                          # autobound anyway
    n.fails(E.ENETUNREACH, af_inet.CONNECT_UNREACH, "connect", f2, _in(53, "224.0.0.1"))
    b = n.bound(L.AF_INET, DGRAM)
    n.ok(af_inet.CONNECT_MULTICAST, "connect", b, _in(53, "224.0.0.1"))
    n.fails(E.EACCES, af_inet.CONNECT_BROADCAST, "connect", b, _in(53, "255.255.255.255"))
    n.obj(b).opts["SO_BROADCAST"] = 1
    n.ok(af_inet.CONNECT_MULTICAST, "connect", b, _in(53, "255.255.255.255"))
    v6 = n.new(L.AF_INET6, DGRAM)
    n.ok(af_inet.CONNECT_V4_ON_V6, "connect", v6, n.local(a))
    assert n.obj(v6).peer == SockaddrIn6(n.local(a).port, "::ffff:7f00:1")
    only = n.bound(L.AF_INET6, DGRAM)
    n.fails(E.EAFNOSUPPORT, af_inet.CONNECT_V6ONLY_MAPPED, "connect", only, n.local(a))
    n.fails(E.EINVAL, af_inet.CONNECT_V6_SCOPE, "connect", n.new(L.AF_INET6, DGRAM),
            _in6(53, "ff02::1"))


def test_udp_connect_after_disconnecting_an_address_bind():
    """Bound to 127.0.0.1 with port 0: AF_UNSPEC gives the port back, keeps the address; the
    next connect autobinds a free port on 127.0.0.1, which the prediction admits (it once
    looked for the port on the wildcard address, and admitted nothing)."""
    n = Net()
    a = n.bound(L.AF_INET, DGRAM)
    fd = n.new(L.AF_INET, DGRAM)
    n.ok(None, "bind", fd, _in(0, "127.0.0.1"))
    n.ok(af_inet.CONNECT_UNSPEC, "connect", fd, SockaddrRaw(b"\0\0"))
    assert n.local(fd) == _in(0, "127.0.0.1") and not n.obj(fd).bound
    n.ok(af_inet.CONNECT_DGRAM, "connect", fd, n.local(a))      # Net picks what it admits
    lo, hi = n.m.net.port_range
    assert n.local(fd).addr == "127.0.0.1" and lo <= n.local(fd).port <= hi


# =========================================================================== unix

def _un(path=None, abstract=None):
    return SockaddrUn(path=path, abstract=abstract)


def test_unix_bind_5_10():
    test_unix_bind("5.10")


@pytest.mark.parametrize("version", VERSIONS)
def test_unix_bind(version):
    n = Net(version)
    fd = n.new(L.AF_UNIX)
    n.fails(E.EINVAL, af_unix.BIND_LEN, "bind", fd, _un("/tmp/x/a"), 111)
    n.fails(E.EINVAL, af_unix.BIND_LEN, "bind", fd, _un("/tmp/x/a"), 1)
    n.fails(E.EINVAL, af_unix.BIND_FAMILY, "bind", fd, SockaddrUn(path=b"/tmp/x/a", family=L.AF_INET))
    n.m.net.missing_dirs.add("/nodir")
    n.fails(E.ENOENT, af_unix.BIND_PATH_ENOENT, "bind", fd, _un("/nodir/a"))
    n.ok(af_unix.BIND_PATH, "bind", fd, _un("/tmp/x/a"))
    assert n.name(fd)[1:] == (_un("/tmp/x/a"), 11)
    n.fails(E.EADDRINUSE, af_unix.BIND_PATH_EXISTS, "bind", fd, _un("/tmp/x/a"))
    if version == "5.10":
        n.fails(E.EINVAL, af_unix.BIND_PATH_REBIND_LEAVES_NODE, "bind", fd, _un("/tmp/x/b"))
        n.fails(E.EADDRINUSE, af_unix.BIND_PATH_EXISTS, "bind", n.new(L.AF_UNIX), _un("/tmp/x/b"))
    else:
        n.fails(E.EINVAL, af_unix.BIND_PATH_REBIND, "bind", fd, _un("/tmp/x/b"))
        n.ok(af_unix.BIND_PATH, "bind", n.new(L.AF_UNIX), _un("/tmp/x/b"))
    n.fails(E.EINVAL, af_unix.BIND_ABSTRACT_REBIND, "bind", fd, _un(abstract=b"x"))
    n.ok(af_unix.AUTOBIND_BOUND, "bind", fd, SockaddrUn())
    other = n.new(L.AF_UNIX, DGRAM)
    n.fails(E.EADDRINUSE, af_unix.BIND_PATH_EXISTS, "bind", other, _un("/tmp/x/a"))
    n.ok(af_unix.BIND_ABSTRACT, "bind", other, _un(abstract=b"name\0x"))
    assert n.name(other)[2] == 9
    n.ok(af_unix.BIND_ABSTRACT, "bind", n.new(L.AF_UNIX, STREAM), _un(abstract=b"name\0x"))
    n.fails(E.EADDRINUSE, af_unix.BIND_ABSTRACT_INUSE, "bind", n.new(L.AF_UNIX, DGRAM),
            _un(abstract=b"name\0x"))
    auto = n.new(L.AF_UNIX)
    n.ok(af_unix.AUTOBIND, "bind", auto, SockaddrUn())
    name = n.local(auto)
    assert af_unix.is_autobind_name(name) and n.name(auto)[2] == 8
    n.call("close", fd)                                   # the node stays
    n.fails(E.EADDRINUSE, af_unix.BIND_PATH_EXISTS, "bind", n.new(L.AF_UNIX), _un("/tmp/x/a"))
    with pytest.raises(NotModelled):
        n.allowed("bind", n.new(L.AF_UNIX), _un("relative"))


DAC_CAPS = ("CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH")


def _tree(n, uid: int) -> None:
    """A tree declared as Scenario.adopt_path would (owned by root), the caller ``uid``."""
    from harness.model.vfs import Cred, Node
    n.m.vfs.cred = Cred(uid, uid, (), 0o022)
    for path, node in {
            b"/": Node("dir", 0o755, 0, 0), b"/t": Node("dir", 0o755, 0, 0, listed=True),
            b"/t/open": Node("dir", 0o777, 0, 0, listed=True),
            b"/t/nowrite": Node("dir", 0o555, 0, 0, listed=True),
            b"/t/nosearch": Node("dir", 0o666, 0, 0, listed=True),
            b"/t/ro": Node("dir", 0o777, 0, 0, readonly=True, listed=True),
            b"/t/file": Node("file", 0o644, 0, 0), b"/t/wfile": Node("file", 0o666, 0, 0),
            b"/t/loop": Node("symlink", 0o777, 0, 0, b"loop"),
            b"/t/long": Node("symlink", 0o777, 0, 0, b"n" * 256),
            b"/t/up": Node("symlink", 0o777, 0, 0, b"./../t/open")}.items():
        n.m.vfs.declare(path, node)


@pytest.mark.parametrize("version", VERSIONS)
def test_unix_path_permissions(version):
    """The path walk and permission checks of unix bind and connect (model/vfs.py), for root
    with its capabilities and for an unprivileged uid."""
    root = Net(version, caps=DAC_CAPS)
    _tree(root, 0)
    user = Net(version, caps=())
    _tree(user, 65534)
    for n in (root, user):
        n.fails(E.ENOTDIR, af_unix.BIND_PATH_ENOTDIR, "bind", n.new(L.AF_UNIX), _un("/t/file/s"))
        n.fails(E.ENOENT, af_unix.BIND_PATH_ENOENT, "bind", n.new(L.AF_UNIX), _un("/t/none/s"))
        n.fails(E.ELOOP, af_unix.BIND_PATH_ELOOP, "bind", n.new(L.AF_UNIX), _un("/t/loop/s"))
        n.fails(E.EADDRINUSE, af_unix.BIND_PATH_EXISTS, "bind", n.new(L.AF_UNIX), _un("/t/loop"))
        n.fails(E.ENAMETOOLONG, af_unix.BIND_PATH_NAMETOOLONG, "bind", n.new(L.AF_UNIX),
                _un("/t/long/s"))
        n.fails(E.EROFS, af_unix.BIND_PATH_EROFS, "bind", n.new(L.AF_UNIX), _un("/t/ro/s"))
        n.fails(E.ENOTDIR, af_unix.CONNECT_ENOTDIR, "connect", n.new(L.AF_UNIX), _un("/t/file/x"))
        n.fails(E.ELOOP, af_unix.CONNECT_ELOOP, "connect", n.new(L.AF_UNIX), _un("/t/loop"))
        n.fails(E.ENAMETOOLONG, af_unix.CONNECT_NAMETOOLONG, "connect", n.new(L.AF_UNIX),
                _un("/t/long"))
        n.fails(E.ECONNREFUSED, af_unix.CONNECT_NOT_SOCKET, "connect", n.new(L.AF_UNIX),
                _un("/t/wfile"))
        n.fails(E.ENOENT, af_unix.CONNECT_ENOENT, "connect", n.new(L.AF_UNIX), _un("/t/open/x"))
        lfd = n.new(L.AF_UNIX)
        n.ok(af_unix.BIND_PATH, "bind", lfd, _un("/t/up/srv"))     # the node: /t/open/srv
        assert n.name(lfd)[1] == _un("/t/up/srv")
        n.call("listen", lfd, 4)
        c = n.new(L.AF_UNIX)
        n.obj(c).nonblock = True
        n.ok(af_unix.CONNECT_STREAM, "connect", c, _un("/t/open/srv"))
    node = user.m.vfs.nodes[b"/t/open/srv"]                     # 0777 & ~umask, the binder's
    assert (node.kind, node.mode, node.uid, node.gid) == ("sock", 0o755, 65534, 65534)
    # root: CAP_DAC_READ_SEARCH searches any directory, CAP_DAC_OVERRIDE writes any
    root.ok(af_unix.BIND_PATH, "bind", root.new(L.AF_UNIX), _un("/t/nowrite/s"))
    root.ok(af_unix.BIND_PATH, "bind", root.new(L.AF_UNIX), _un("/t/nosearch/s"))
    root.fails(E.ECONNREFUSED, af_unix.CONNECT_NOT_SOCKET, "connect", root.new(L.AF_UNIX),
               _un("/t/file"))
    # the unprivileged uid: the other bits
    user.fails(E.EACCES, af_unix.BIND_PATH_NO_WRITE, "bind", user.new(L.AF_UNIX), _un("/t/nowrite/s"))
    user.fails(E.EACCES, af_unix.BIND_PATH_SEARCH, "bind", user.new(L.AF_UNIX), _un("/t/nosearch/s"))
    user.fails(E.EACCES, af_unix.CONNECT_NO_WRITE, "connect", user.new(L.AF_UNIX), _un("/t/file"))
    user.fails(E.EACCES, af_unix.CONNECT_SEARCH, "connect", user.new(L.AF_UNIX),
               _un("/t/nosearch/x"))
    root.m.vfs.cred = None                                       # not told: no guess
    with pytest.raises(NotModelled):
        root.allowed("bind", root.new(L.AF_UNIX), _un("/t/open/t"))


@pytest.mark.parametrize("version", VERSIONS)
def test_unix_stream_connections(version):
    n = Net(version, net__core__somaxconn="4")
    lfd = n.new(L.AF_UNIX)
    n.fails(E.EINVAL, af_unix.LISTEN_UNBOUND, "listen", lfd, 1)
    n.call("bind", lfd, _un(abstract=b"srv"))
    n.obj(lfd).nonblock = True
    n.ok(af_unix.LISTEN_OK, "listen", lfd, 0x7FFFFFFF)
    assert n.obj(lfd).backlog == 4
    n.ok(af_unix.LISTEN_OK, "listen", lfd, 1)
    n.fails(E.EINVAL, af_unix.ACCEPT_NOT_LISTENING, "accept", n.new(L.AF_UNIX))
    n.fails(E.EAGAIN, af_unix.ACCEPT_EAGAIN, "accept", lfd)
    clients = []
    for _ in range(2):
        c = n.new(L.AF_UNIX)
        n.obj(c).nonblock = True
        n.ok(af_unix.CONNECT_STREAM, "connect", c, _un(abstract=b"srv"))
        clients.append(c)
    c = n.new(L.AF_UNIX)
    n.obj(c).nonblock = True
    n.fails(E.EAGAIN, af_unix.CONNECT_BACKLOG_FULL, "connect", c, _un(abstract=b"srv"))
    n.fails(E.EAGAIN, af_unix.CONNECT_BACKLOG_FULL, "connect", clients[0], _un(abstract=b"srv"))
    n.obj(c).nonblock = False
    with pytest.raises(NotModelled):
        n.allowed("connect", c, _un(abstract=b"srv"))
    o = n.ok(af_unix.ACCEPT_OK, "accept4", lfd, 0)
    assert o.out["addr"].value == SockaddrUn() and o.out["addrlen"].value == 2
    a = o.ret.value
    n.fails(E.EINVAL, af_unix.LISTEN_CONNECTED, "listen", a, 1)        # named by its listener
    assert n.name(a)[1] == _un(abstract=b"srv") and n.name(clients[0], peer=True)[1] == _un(abstract=b"srv")
    o = n.call("getpeername", a)
    assert af_unix.GETNAME_UNNAMED in o.rules
    n.fails(E.EISCONN, af_unix.CONNECT_ISCONN, "connect", clients[0], _un(abstract=b"srv"))
    n.fails(E.EINVAL, af_unix.CONNECT_LISTENER, "connect", lfd, _un(abstract=b"srv"))
    n.fails(E.ENOTCONN, af_unix.GETPEERNAME_ENOTCONN, "getpeername", lfd)
    assert af_unix.GETNAME_NAMED in n.call("getsockname", lfd).rules
    n.ok(af_unix.SHUTDOWN_OK, "shutdown", clients[0], L.SHUT_WR)
    assert n.obj(a).shutdown == 1                                     # mirrored: RCV_SHUTDOWN
    n.fails(E.EINVAL, af_unix.SHUTDOWN_HOW, "shutdown", a, 3)
    n.call("close", clients[0])
    o = n.call("getpeername", a)
    assert af_unix.GETPEERNAME_CLOSED_PEER in o.rules
    # closing the listener resets the embryo's client
    n.call("close", lfd)
    assert n.obj(clients[1]).so_error == E.ECONNRESET and n.obj(clients[1]).err_unprobed
    #                                   (left for the client's next call: a probe would consume it)
    assert n.name(clients[1], peer=True)[1] == _un(abstract=b"srv")
    n.fails(E.ECONNREFUSED, af_unix.CONNECT_ABSTRACT_REFUSED, "connect", n.new(L.AF_UNIX),
            _un(abstract=b"srv"))


def test_unix_close_with_empty_head():
    """unix_release_sock(): a zero-length seqpacket message at the head of the closed end's
    queue resets the peer only before 'af_unix: Don't set -ECONNRESET for consumed OOB skb.'
    (v6.16; stable 6.1.143, 6.12.36) or without CONFIG_AF_UNIX_OOB (5.10); a message behind it
    always does."""
    for version, skips in [("5.10", False), ("6.1.100", False), ("6.1", True), ("6.12.20", False),
                           ("6.12", True), ("6.18", True)]:
        _close_with_empty_head(Net(VERSIONS_OF.get(version, version)), skips)


def _close_with_empty_head(n, skips):
    for behind in (False, True):
        a, b = n.call("socketpair", L.AF_UNIX, SEQPACKET | L.SOCK_CLOEXEC, 0).out["fds"].value
        n.call("send", a, b"")
        if behind:
            n.call("send", a, b"x")
        o = n.call("close", b)
        reset = behind or not skips
        assert n.obj(a).so_error == (E.ECONNRESET if reset else 0)
        assert (af_unix.RESET_SKIPS_EMPTY_HEAD in o.also) == skips
        n.call("close", a)


def test_unix_connect_errors():
    n = Net()
    fd = n.new(L.AF_UNIX)
    n.fails(E.EINVAL, af_unix.CONNECT_LEN, "connect", fd, SockaddrUn())
    n.fails(E.EINVAL, af_unix.CONNECT_FAMILY, "connect", fd, SockaddrRaw(b"\0\0/x"))
    n.fails(E.ENOENT, af_unix.CONNECT_ENOENT, "connect", fd, _un("/tmp/x/none"))
    dg = n.new(L.AF_UNIX, DGRAM)
    n.call("bind", dg, _un("/tmp/x/dg"))
    n.fails(E.EPROTOTYPE, af_unix.CONNECT_PROTOTYPE, "connect", fd, _un("/tmp/x/dg"))
    st = n.new(L.AF_UNIX)
    n.call("bind", st, _un("/tmp/x/st"))
    n.fails(E.ECONNREFUSED, af_unix.CONNECT_NOT_LISTENING, "connect", fd, _un("/tmp/x/st"))
    n.call("listen", st, 1)
    n.ok(af_unix.SHUTDOWN_OK, "shutdown", st, L.SHUT_RD)
    n.fails(E.ECONNREFUSED, af_unix.CONNECT_NOT_LISTENING, "connect", fd, _un("/tmp/x/st"))
    n.fails(E.EINVAL, af_unix.ACCEPT_SHUTDOWN, "accept", st)         # blocking, shut down
    n.call("close", st)
    n.fails(E.ECONNREFUSED, af_unix.CONNECT_STALE, "connect", fd, _un("/tmp/x/st"))
    n.fails(E.EOPNOTSUPP, None, "listen", dg, 1)
    n.fails(E.EOPNOTSUPP, None, "accept", dg)


def test_unix_dgram_connect():
    n = Net()
    a, b, c = (n.new(L.AF_UNIX, DGRAM) for _ in range(3))
    n.call("bind", a, _un(abstract=b"a"))
    n.call("bind", b, _un(abstract=b"b"))
    n.fails(E.EINVAL, af_unix.DGRAM_LEN, "connect", c, SockaddrRaw(b"\0\0"), 1)
    n.ok(af_unix.DGRAM_CONNECT, "connect", c, _un(abstract=b"a"))
    n.ok(af_unix.DGRAM_CONNECT, "connect", a, _un(abstract=b"b"))
    n.fails(E.EPERM, af_unix.DGRAM_EPERM, "connect", c, _un(abstract=b"a"))
    n.ok(af_unix.DGRAM_UNSPEC, "connect", c, SockaddrRaw(b"\0\0"))
    assert n.name(c, peer=True)[0] == E.ENOTCONN
    n.ok(af_unix.DGRAM_CONNECT, "connect", b, _un(abstract=b"b"))      # to itself
    n.ok(af_unix.SHUTDOWN_OK, "shutdown", c, L.SHUT_RDWR)             # unconnected: still 0
    n.fails(E.ECONNREFUSED, af_unix.CONNECT_ABSTRACT_REFUSED, "connect", c, _un(abstract=b"zz"))


def test_unix_passcred_autobind():
    n = Net()
    fd = n.new(L.AF_UNIX)
    n.obj(fd).opts["SO_PASSCRED"] = 1
    n.fails(E.ENOENT, af_unix.CONNECT_PASSCRED, "connect", fd, _un("/tmp/x/none"))
    assert af_unix.is_autobind_name(n.local(fd))
    dg = n.new(L.AF_UNIX, DGRAM)
    n.obj(dg).opts["SO_PASSCRED"] = 1
    n.call("bind", n.new(L.AF_UNIX, DGRAM), _un(abstract=b"peer"))
    n.ok(af_unix.CONNECT_PASSCRED, "connect", dg, _un(abstract=b"peer"))


# =========================================================================== names

def test_inet_names():
    n = Net()
    fd = n.new(L.AF_INET6)
    o = n.call("getsockname", fd)
    assert af_inet.GETNAME_UNBOUND in o.rules and o.out["addr"].value == SockaddrIn6(0, "::")
    n.fails(E.ENOTCONN, af_inet.GETPEER_ENOTCONN, "getpeername", fd)
    n.call("bind", fd, _in6())
    assert af_inet.GETNAME_BOUND in n.call("getsockname", fd).rules
    lfd = n.listener()
    c = n.new()
    n.call("connect", c, n.local(lfd))
    assert af_inet.GETPEER_OK in n.call("getpeername", c).rules
    o = n.call("getsockname", c, True, 4)                     # truncated: family and port
    assert o.out["addrlen"].value == 16


# =========================================================================== coverage

def test_every_rule_is_reached():
    """Every scenario runs again here (under xdist the others may run in another process)."""
    import inspect
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and name != "test_every_rule_is_reached" and callable(fn):
            fn(**({"version": "6.18"} if "version" in inspect.signature(fn).parameters else {}))
    defined = {r.name for mod in (af_inet, af_unix, icsk) for r in vars(mod).values()
               if isinstance(r, Rule) and not r.name.startswith(("socket.", "socketpair.", "send.",
                                                                 "recv."))}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"
