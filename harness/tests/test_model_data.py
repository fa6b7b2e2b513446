"""Model-only scenarios for the data calls (harness/model/socket.py's entries, udp.py, tcp.py's
data path, af_unix.py's): each plays calls on a hand-built profile as if the kernel answered
with the model's outcome (ephemeral ports and autobind names are then "observed" with a value
the model allows) and names what the model must allow. The last test checks that the
scenarios reach every rule those modules define for the data calls."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import loopback, Ptr, SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn
from harness.model import Call, NotModelled, af_inet, af_unix, compat, socket, tcp, udp
from harness.model.observe import expectations, process_expectations
from harness.model.rules import Constraint, Rule

from model_profile import Run, fake_result, rules_of

FAULT = Ptr(0x1000, "PROT_NONE page", True)
REACHED: set[str] = set()
VERSIONS = ["6.1", "6.12", "6.18"]
STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET
DW, PEEK, TRUNC, OOB = L.MSG_DONTWAIT, L.MSG_PEEK, L.MSG_TRUNC, L.MSG_OOB
SIGPIPE = 13


class Data(Run):
    """A Run that records the rules it meets and observes what the checker's probes would."""

    def __init__(self, version="6.18", caps=None, via="native", **sysctls):
        super().__init__(version, **sysctls) if caps is None else super().__init__(version, caps, **sysctls)
        self.via = via
        self.hint = 40001

    def outcomes(self, name, *args, **kwargs):
        out = self.m.allowed(Call(name, args, kwargs, self.via))
        REACHED.update(rules_of(out))
        return out

    def call(self, name, *args, **kwargs):
        from harness.check import touched_fds
        out = self.outcomes(name, *args, **kwargs)
        assert len(out) == 1, out
        o = out[0]
        result = fake_result(o)
        if o.apply is not None:
            o.apply(self.m, result)
        self.observe(touched_fds(Call(name, args, kwargs), result))
        return o

    def observe(self, fds):
        """What the checker's probes do after a call: learn the touched sockets' names,
        read (and so clear) SO_ERROR where the model expects it read."""
        for s in self.m.fds.socks():
            if isinstance(s.local, Constraint):
                s.local = self.pick(s.local)
        for fd in fds:
            if self.m.sock(fd) is not None:
                for e in expectations(self.m, fd):
                    if e.name == "SO_ERROR":
                        e.learn(e.value)
        process_expectations(self.m)

    def pick(self, constraint):
        for i in range(0x40):
            name = SockaddrUn(abstract=b"%05x" % (0x19c30 + i))
            if name in constraint:
                return name
        lo, hi = self.m.net.port_range
        for port in list(range(self.hint, self.hint + 4)) + list(range(lo, hi + 1)):
            for sa in (SockaddrIn(port, "127.0.0.1"), SockaddrIn(port, "0.0.0.0"),
                       SockaddrIn6(port, "::1"), SockaddrIn6(port, "::")):
                if sa in constraint:
                    self.hint = port + 1
                    return sa
        raise AssertionError(f"no value satisfies {constraint}")

    # -- building blocks ---------------------------------------------------------------
    def new(self, family=L.AF_INET, type_=STREAM):
        return self.call("socket", family, type_ | L.SOCK_CLOEXEC, 0).ret.value

    def bound(self, family=L.AF_INET, type_=DGRAM, addr=None):
        fd = self.new(family, type_)
        self.call("bind", fd, addr or lo(family))
        return fd

    def addr(self, fd):
        return self.obj(fd).local

    def pair(self, type_=STREAM):
        return self.call("socketpair", L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).out["fds"].value

    def tcp(self, family=L.AF_INET):
        """(client, accepted) of a connection."""
        lfd = self.bound(family, STREAM)
        self.obj(lfd).nonblock = True
        self.call("listen", lfd, 8)
        c = self.new(family, STREAM)
        self.call("connect", c, self.addr(lfd))
        a = self.call("accept4", lfd, L.SOCK_CLOEXEC).ret.value
        self.call("close", lfd)
        return c, a

    def udp(self, family=L.AF_INET):
        a, b = self.bound(family), self.bound(family)
        self.call("connect", a, self.addr(b))
        self.call("connect", b, self.addr(a))
        return a, b

    def unix_conn(self, type_=STREAM):
        lfd = self.bound(L.AF_UNIX, type_, SockaddrUn(abstract=b"srv%d" % len(self.m.net.unix_abstract)))
        self.obj(lfd).nonblock = True
        self.call("listen", lfd, 4)
        c = self.new(L.AF_UNIX, type_)
        self.call("connect", c, self.addr(lfd))
        a = self.call("accept4", lfd, L.SOCK_CLOEXEC).ret.value
        return c, a, lfd


def lo(family, port=0):
    if family in (L.AF_INET, L.AF_INET6):
        return loopback(family, port)
    return SockaddrUn(abstract=f"model-{id(object())}".encode())


def data(o):
    return o.out["data"].value


# =========================================================================== every kind

@pytest.mark.parametrize("kind", ["tcp", "tcp6", "udp", "udp6", "unix-stream", "unix-dgram",
                                  "unix-seqpacket", "unix-stream-conn", "unix-seqpacket-conn"])
def test_boundaries(kind):
    d = Data()
    if kind.startswith("tcp"):
        a, b = d.tcp(L.AF_INET6 if kind == "tcp6" else L.AF_INET)
    elif kind.startswith("udp"):
        a, b = d.udp(L.AF_INET6 if kind == "udp6" else L.AF_INET)
    elif kind.endswith("-conn"):
        a, b, _ = d.unix_conn(STREAM if "stream" in kind else SEQPACKET)
    else:
        a, b = d.pair({"unix-stream": STREAM, "unix-dgram": DGRAM, "unix-seqpacket": SEQPACKET}[kind])
    d.ok(None, "send", a, b"hello")
    d.ok(None, "send", a, b"world!")
    stream = kind.startswith("tcp") or "stream" in kind
    got = d.ok(None, "recv", b, 100, DW)
    assert data(got) == (b"helloworld!" if stream else b"hello")
    if not stream:
        assert data(d.ok(None, "recv", b, 100, DW)) == b"world!"
    rule = tcp.RECV_EAGAIN if kind.startswith("tcp") else udp.RECV_EAGAIN if kind.startswith("udp") \
        else af_unix.RECV_EAGAIN
    d.fails(E.EAGAIN, rule, "recv", b, 100, DW)


# =========================================================================== generic layer

def test_sendto_and_recvfrom_entries():
    d = Data()
    a, b = d.pair(DGRAM)
    d.fails(E.EBADF, socket.EBADF, "send", 99, b"x")
    d.fails(E.EBADF, socket.EBADF, "recv", 99, 1)
    d.fails(E.EINVAL, socket.ADDRLEN_INVALID, "sendto", a, b"x", 0, SockaddrUn(abstract=b"a"), 129)
    d.fails(E.EFAULT, socket.ADDR_FAULT, "sendto", a, b"x", 0, FAULT, 16)
    d.ok(af_unix.SEND_DGRAM, "sendto", a, b"x", 0, None, 5)
    got = d.ok(af_unix.RECV_UNNAMED, "recvfrom", b, 10, 0, True, 4)
    assert got.out["addrlen"].value == 0
    d.obj(b).nonblock = True
    d.fails(E.EAGAIN, socket.NONBLOCK_FILE, "recv", b, 10)
    u = d.new(L.AF_INET, DGRAM)
    d.fails(E.EINVAL, socket.SEND_ZERO_NAME, "sendto", u, b"x", 0, lo(L.AF_INET, 9), 0)


def test_recvfrom_address_out():
    d = Data()
    a, b = d.udp()
    d.ok(None, "send", a, b"one")
    got = d.ok(socket.ADDR_OUT_TRUNCATED, "recvfrom", b, 10, DW, True, 4)
    assert got.out["addrlen"].value == 16
    d.ok(None, "send", a, b"two")
    d.fails(E.EINVAL, socket.RECV_ADDR_AFTER_DATA, "recvfrom", b, 10, DW, True, -1)
    d.fails(E.EAGAIN, udp.RECV_EAGAIN, "recv", b, 10, DW)           # the datagram went
    with pytest.raises(NotModelled):
        d.outcomes("recv", b, 10, L.MSG_MORE | DW)


def test_msghdr():
    d = Data()
    a, b = d.udp()
    where = d.addr(b)
    d.fails(E.EINVAL, socket.CMSG_COMPAT_NATIVE, "sendmsg", 99, [b"x"], socket.MSG_CMSG_COMPAT)
    d.fails(E.EINVAL, socket.CMSG_COMPAT_NATIVE, "recvmsg", a, [1], socket.MSG_CMSG_COMPAT)
    d.fails(E.EFAULT, socket.HDR_FAULT, "sendmsg", a, None, 0, msg=FAULT)
    d.fails(E.EFAULT, socket.HDR_FAULT, "recvmsg", a, None, 0, msg=FAULT)
    d.fails(E.EINVAL, socket.NAMELEN_NEGATIVE, "sendmsg", a, [b"x"], 0, where, -1)
    d.fails(E.EINVAL, socket.NAMELEN_NEGATIVE, "recvmsg", a, [1], 0, True, -1)
    d.fails(E.EMSGSIZE, socket.IOVLEN_TOO_BIG, "sendmsg", a, [b""] * 1025)
    d.ok(socket.NAMELEN_CLAMPED, "sendmsg", a, [b"big"], 0, where, 1000)
    d.ok(socket.NAME_NULL, "sendmsg", a, [b"x"], 0, None, -5)
    got = d.ok(udp.RECV_OK, "recvmsg", b, [1, 1], DW | L.MSG_CMSG_CLOEXEC, True, 1000)
    assert got.out["msg_flags"].value == L.MSG_TRUNC | L.MSG_CMSG_CLOEXEC
    assert got.out["namelen"].value == 16 and data(got) == b"bi"
    got = d.ok(None, "recvmsg", b, [4], DW, False)
    assert got.out["namelen"].value == 0 and "name" not in got.out
    with pytest.raises(NotModelled):
        d.outcomes("sendmsg", a, [b"x"], 0, None, None, b"\0" * 16)
    with pytest.raises(NotModelled):
        d.outcomes("sendmsg", a, None, 0, msg=Ptr(0x20000))
    with pytest.raises(NotModelled):
        d.outcomes("recvmsg", a, [4], DW, True, None, 8)


def test_compat_paths_take_msg_cmsg_compat():
    d = Data(via="compat")
    a, b = d.pair(DGRAM)
    d.ok(af_unix.SEND_DGRAM, "sendmsg", a, [b"x"], socket.MSG_CMSG_COMPAT)
    d.ok(af_unix.RECV_DGRAM, "recvmsg", b, [2], socket.MSG_CMSG_COMPAT)
    d.ok(None, "send", a, b"y")
    assert data(d.ok(None, "recvfrom", b, 2)) == b"y"


def test_socketcall_words_reach_the_data_entries():
    d = Data()
    fd = d.new(L.AF_INET, DGRAM)
    low = Ptr(0x20000, "low page")
    for call, words, err in ((L.SYS_SEND, [99, 0, 0, 0], E.EBADF),
                             (L.SYS_RECVMSG, [fd, FAULT, 0], E.EFAULT),
                             (L.SYS_SENDMMSG, [fd, FAULT, 1, 0], E.EFAULT),
                             (L.SYS_RECVMMSG, [fd, 0, 1, 0, FAULT], E.EFAULT)):
        o = d.call("socketcall", call, words)
        assert o.errno == err and compat.DISPATCH in o.also
    for call, words in ((L.SYS_SENDTO, [fd, low, 4, 0, low, 16]), (L.SYS_SENDMSG, [fd, low, 0]),
                        (L.SYS_RECVMMSG, [fd, low, 1, 0, low]), (L.SYS_SENDMMSG, [fd, low, 1, 0])):
        with pytest.raises(NotModelled):
            d.outcomes("socketcall", call, words)


# =========================================================================== mmsg

def test_sendmmsg():
    d = Data()
    r = d.bound(L.AF_INET6)
    where = d.addr(r)
    s = d.new(L.AF_INET6, DGRAM)
    ok = {"iov": [b"one"], "name": where}
    o = d.ok(socket.SENDMMSG_OK, "sendmmsg", s, [ok, {"iov": [b"t", b"wo"], "name": where}])
    assert o.out["msg_len"].value == [3, 3]
    o = d.ok(socket.SENDMMSG_PARTIAL, "sendmmsg", s, [ok, {"iov": [b"x"], "name": lo(L.AF_INET)}, ok])
    assert o.ret.value == 1 and o.out["msg_len"].value == [3, 0, 0]
    d.fails(E.EINVAL, socket.SENDMMSG_FIRST_ERROR, "sendmmsg", s, [{"iov": [b"x"], "name": where, "namelen": -1}])
    d.ok(socket.MMSG_VLEN_ZERO, "sendmmsg", s, [ok], vlen=0)
    d.fails(E.EFAULT, socket.HDR_FAULT, "sendmmsg", s, [], vlen=2, msgvec=FAULT)
    d.fails(E.EINVAL, socket.CMSG_COMPAT_NATIVE, "sendmmsg", s, [ok], socket.MSG_CMSG_COMPAT)
    got = d.ok(socket.RECVMMSG_OK, "recvmmsg", r, [[10]] * 4, DW)
    assert [m["data"] for m in got.out["messages"].value] == [b"one", b"two", b"one"]
    with pytest.raises(NotModelled):
        d.outcomes("sendmmsg", s, [ok], vlen=2)


def test_sendmmsg_vlen_clamped():
    d = Data()
    s = d.new(L.AF_INET, DGRAM)
    o = d.ok(socket.VLEN_CLAMPED, "sendmmsg", s, [{"iov": [b""], "name": lo(L.AF_INET, 9)}] * 1030)
    assert o.ret.value == 1024 and udp.SEND_NO_RECEIVER in o.also


def test_recvmmsg():
    d = Data()
    a, b = d.pair(DGRAM)
    d.fails(E.EAGAIN, socket.RECVMMSG_FIRST_ERROR, "recvmmsg", b, [[10]], DW)
    for i in range(3):
        d.ok(None, "send", a, b"m%d" % i)
    o = d.ok(socket.TIMEOUT_ZERO, "recvmmsg", b, [[10]] * 3, DW, timeout=(0, 0))
    assert o.ret.value == 1
    o = d.ok(socket.WAITFORONE, "recvmmsg", b, [[10]] * 3, L.MSG_WAITFORONE)
    assert o.ret.value == 2
    d.ok(socket.MMSG_VLEN_ZERO, "recvmmsg", b, [[10]], DW, vlen=0)
    d.fails(E.EINVAL, socket.TIMEOUT_INVALID, "recvmmsg", 99, [[10]], DW, timeout=(0, 10 ** 9))
    d.fails(E.EINVAL, socket.TIMEOUT_INVALID, "recvmmsg", b, [[10]], DW, timeout=(-1, 0))
    d.fails(E.EFAULT, socket.TIMEOUT_FAULT, "recvmmsg", 99, [[10]], DW, timeout=FAULT)
    d.fails(E.EINVAL, socket.CMSG_COMPAT_NATIVE, "recvmmsg", b, [[10]], socket.MSG_CMSG_COMPAT)
    with pytest.raises(NotModelled):
        d.outcomes("recvmmsg", b, [[10]], DW, timeout=(0, 5))
    for i in range(3):
        d.ok(None, "send", a, b"n%d" % i)
    o = d.ok(socket.RECVMMSG_ERROR_PARKED, "recvmmsg", b, [[10], [(FAULT, 10)], [10]], DW)
    assert o.ret.value == 1 and udp.RECV_FAULT in o.also
    o.apply(d.m, fake_result(o))                     # (again, without the probe's read)
    d.fails(E.EFAULT, socket.RECVMMSG_SOCK_ERROR, "recvmmsg", b, [[10]], DW)
    assert data(d.ok(None, "recv", b, 10, DW)) == b"n2"


# =========================================================================== UDP

@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_udp_send_checks(family):
    d = Data()
    v4 = family == L.AF_INET
    s = d.new(family, DGRAM)
    d.fails(E.EDESTADDRREQ, udp.SEND_DESTADDRREQ, "send", s, b"x")
    assert af_inet.SEND_AUTOBIND.name in REACHED and d.obj(s).bound   # autobound anyway
    r = d.bound(family)
    where = d.addr(r)
    if v4:
        d.fails(E.EOPNOTSUPP, udp.SEND_OOB, "sendto", s, b"x", OOB, where)
        d.fails(E.EMSGSIZE, udp.SEND_TOO_LONG, "sendto", s, b"\0" * 65536, 0, SockaddrUn(abstract=b"x"), 28)
        d.fails(E.EAFNOSUPPORT, udp.SEND_FAMILY, "sendto", s, b"x", 0, SockaddrIn6(1, "::1"))
        d.ok(udp.SEND_OK, "sendto", s, b"u", 0, SockaddrRaw(b"\0\0" + where.encode()[2:]))
        d.ok(udp.SEND_OK, "sendto", s, b"v", 0, where)
    else:
        d.ok(udp.SEND6_OOB_IGNORED, "sendto", s, b"x", OOB, where)
        d.fails(E.EINVAL, udp.SEND_FAMILY, "sendto", s, b"\0" * 65536, 0, SockaddrUn(abstract=b"x"), 28)
        d.fails(E.EINVAL, udp.SEND_ADDRLEN, "sendto", s, b"x", 0, SockaddrRaw(b"\n"), 1)
        d.fails(E.EDESTADDRREQ, udp.SEND6_UNSPEC, "sendto", s, b"x", 0, SockaddrRaw(b"\0" * 28))
        d.fails(E.EOPNOTSUPP, udp.SEND_V4_ON_V6, "sendto", s, b"x", OOB, SockaddrIn(9, "127.0.0.1"))
    d.fails(E.EINVAL, udp.SEND_ADDRLEN, "sendto", s, b"x", 0, SockaddrRaw(where.encode()[:15 if v4 else 23]))
    d.fails(E.EINVAL, udp.SEND_PORT_ZERO, "sendto", s, b"x", 0, lo(family, 0))
    d.fails(E.EFAULT, udp.SEND_FAULT, "sendto", s, FAULT, 0, where, length=4)
    big = 65507 if v4 else 65527
    d.fails(E.EMSGSIZE, udp.SEND_EMSGSIZE, "sendto", s, b"m" * (big + 1), 0, where)
    got = d.ok(udp.RECV_OK, "recvfrom", r, 10, DW, True)
    assert got.out["addrlen"].value == (16 if v4 else 28)
    if not v4:
        d.fails(E.EAGAIN, udp.RECV_EAGAIN, "recv", r, 10, DW)
    else:
        d.ok(udp.RECV_OOB_IGNORED, "recv", r, 10, OOB | DW)
    d.ok(udp.SEND_OK, "sendto", s, b"m" * big, 0, where)     # an empty queue takes it
    with pytest.raises(NotModelled):
        d.outcomes("sendto", s, b"", 0, where)                  # may overflow the receiver
    far = SockaddrIn(9, "192.0.2.1") if v4 else SockaddrIn6(9, "2001:db8::1")
    d.fails(E.ENETUNREACH, udp.SEND_UNREACH, "sendto", s, b"x", 0, far)


def test_udp_v6_socket_to_v4():
    d = Data()
    r4 = d.bound(L.AF_INET)
    port = d.addr(r4).port
    s = d.new(L.AF_INET6, DGRAM)
    d.ok(udp.SEND_V4_ON_V6, "sendto", s, b"v4", 0, d.addr(r4))
    d.ok(udp.SEND_V4_ON_V6, "sendto", s, b"mapped", 0, SockaddrIn6(port, "::ffff:127.0.0.1"))
    got = d.ok(udp.RECV_OK, "recvfrom", r4, 10, DW, True)
    assert got.out["addr"].value.addr == "127.0.0.1"
    only = d.new(L.AF_INET6, DGRAM)
    d.obj(only).opts["IPV6_V6ONLY"] = 1              # (as setsockopt(IPV6_V6ONLY) would set it)
    d.fails(E.ENETUNREACH, udp.SEND_UNREACH, "sendto", only, b"x", 0, d.addr(r4))
    r6 = d.bound(L.AF_INET6, DGRAM, SockaddrIn6(0, "::"))
    s4 = d.new(L.AF_INET, DGRAM)
    d.ok(udp.SEND_OK, "sendto", s4, b"to-v6", 0, SockaddrIn(d.addr(r6).port, "127.0.0.1"))
    got = d.ok(udp.RECV_OK, "recvfrom", r6, 10, DW, True)
    assert got.out["addr"].value.addr == "::ffff:7f00:1"


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_udp_port_unreachable(family):
    d = Data()
    s = d.new(family, DGRAM)
    d.call("connect", s, lo(family, 9))
    d.ok(udp.SEND_NO_RECEIVER, "send", s, b"1")
    assert d.obj(s).so_error == E.ECONNREFUSED and d.obj(s).err_unprobed
    assert not any(e.name == "SO_ERROR" for e in expectations(d.m, s))
    d.fails(E.ECONNREFUSED, udp.SEND_SK_ERR, "send", s, b"2")
    d.ok(udp.SEND_NO_RECEIVER, "send", s, b"3")
    d.fails(E.ECONNREFUSED, udp.RECV_SK_ERR, "recv", s, 10, DW)
    d.ok(None, "send", s, b"4")
    o = d.call("getsockopt", s, L.SOL_SOCKET, L.SO_ERROR)
    assert o.out["value"].value == E.ECONNREFUSED.to_bytes(4, "little") and d.obj(s).so_error == 0
    lone = d.new(family, DGRAM)
    d.ok(udp.SEND_NO_RECEIVER, "sendto", lone, b"x", 0, lo(family, 9))
    assert d.obj(lone).so_error == 0


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6])
def test_udp_connected_to_port_zero(family):
    """compute_score(): inet_dport 0 filters nothing, so a socket connected to port 0 of
    loopback takes its own datagrams and any other socket's on that address, and the ICMP error
    for a datagram it sends to a closed port reaches it."""
    d = Data()
    s = d.bound(family, DGRAM)
    own = d.addr(s)
    d.call("connect", s, lo(family, 0))
    d.ok(udp.RECV_PEER_PORT_ZERO, "sendto", s, b"self", 0, own)
    assert [x.data for x in d.obj(s).recv_queue] == [b"self"]
    other = d.bound(family, DGRAM)
    d.ok(udp.RECV_PEER_PORT_ZERO, "sendto", other, b"other", 0, own)
    assert len(d.obj(s).recv_queue) == 2
    o = d.ok(udp.RECV_PEER_PORT_ZERO, "sendto", s, b"lost", 0, lo(family, 9))
    assert udp.SEND_NO_RECEIVER in o.rules and d.obj(s).so_error == E.ECONNREFUSED


def test_send_address_on_connected():
    """sendto() on connected sockets: TCP ignores the address (any address), UDP and a unix
    datagram socket send that datagram where it says and stay connected, unix stream answers
    EISCONN, seqpacket ignores it."""
    d = Data()
    for family in (L.AF_INET, L.AF_INET6):
        a, b = d.tcp(family)
        d.ok(tcp.SEND_ADDR_IGNORED, "sendto", a, b"x", 0, SockaddrUn(abstract=b"nowhere"))
        d.ok(tcp.SEND_ADDR_IGNORED, "sendto", a, b"y", 0, lo(family, 9))
        assert data(d.ok(None, "recv", b, 10, DW)) == b"xy"
        fresh = d.new(family, STREAM)
        d.fails(E.EPIPE, tcp.SEND_ADDR_IGNORED, "sendto", fresh, b"x", L.MSG_NOSIGNAL, lo(family, 9))
        a, b = d.udp(family)
        c = d.bound(family, DGRAM)
        d.ok(udp.SEND_ADDR_CONNECTED, "sendto", a, b"there", 0, d.addr(c))
        assert data(d.ok(None, "recv", c, 10, DW)) == b"there"
        d.ok(udp.SEND_OK, "send", a, b"peer")
        assert data(d.ok(None, "recv", b, 10, DW)) == b"peer"
    a, b = d.pair(DGRAM)
    c = d.bound(L.AF_UNIX, DGRAM)
    d.ok(af_unix.SEND_DGRAM_ADDR_CONNECTED, "sendto", a, b"there", 0, d.addr(c))
    assert data(d.ok(None, "recv", c, 10, DW)) == b"there"
    a, b = d.pair(STREAM)
    d.fails(E.EISCONN, af_unix.SEND_STREAM_ADDR, "sendto", a, b"x", 0, d.addr(c))
    a, b = d.pair(SEQPACKET)
    d.ok(af_unix.SEND_SEQ_ADDR_IGNORED, "sendto", a, b"x", 0, d.addr(c))
    assert data(d.ok(None, "recv", b, 10, DW)) == b"x"


def test_udp_shutdown():
    d = Data()
    a, b = d.udp()
    d.ok(None, "send", a, b"q")
    d.call("shutdown", b, L.SHUT_RD)
    d.ok(udp.RECV_OK, "recv", b, 10, DW)
    d.fails(E.EAGAIN, udp.RECV_EAGAIN, "recv", b, 10, DW)
    d.ok(udp.RECV_SHUT_EOF, "recv", b, 10)
    d.call("shutdown", a, L.SHUT_WR)
    d.fails(E.EPIPE, udp.SEND_SHUT, "send", a, b"x")
    with pytest.raises(NotModelled):
        d.outcomes("recv", a, 10)                     # would wait


def test_dgram_peek_trunc_fault():
    d = Data()
    a, b = d.udp(L.AF_INET6)
    d.ok(None, "send", a, b"abcdefgh")
    d.ok(None, "send", a, b"ijk")
    assert data(d.ok(udp.RECV_PEEK, "recv", b, 3, DW | PEEK)) == b"abc"
    got = d.ok(udp.RECV_TRUNC, "recv", b, 2, DW | TRUNC)
    assert got.ret.value == 8
    d.fails(E.EFAULT, udp.RECV_FAULT, "recvfrom", b, 10, DW, buf=FAULT)
    d.fails(E.EAGAIN, None, "recv", b, 10, DW)


def test_udp_lookup():
    d = Data()
    wild = d.bound(L.AF_INET, DGRAM, SockaddrIn(0, "0.0.0.0"))
    port = d.addr(wild).port
    s = d.new(L.AF_INET, DGRAM)
    d.ok(udp.SEND_OK, "sendto", s, b"w", 0, SockaddrIn(port, "127.0.0.1"))
    assert d.obj(wild).recv_queue
    other = d.new(L.AF_INET, DGRAM)
    d.call("connect", wild, SockaddrIn(1, "127.0.0.1"))     # now only from 127.0.0.1:1
    d.ok(udp.SEND_NO_RECEIVER, "sendto", other, b"x", 0, SockaddrIn(port, "127.0.0.1"))
    with pytest.raises(NotModelled):
        d.outcomes("sendto", other, b"x", 0, SockaddrIn(port, "127.0.0.2"))


# =========================================================================== TCP

def test_tcp_send_recv():
    d = Data()
    c, a = d.tcp()
    d.ok(tcp.SEND_OK, "send", c, b"hello")
    d.ok(tcp.SEND_OK, "send", c, b"")
    d.ok(tcp.SEND_OK, "send", c, b"world")
    assert data(d.ok(tcp.RECV_PEEK, "recv", a, 3, DW | PEEK)) == b"hel"
    got = d.ok(tcp.RECV_TRUNC, "recvfrom", a, 2, DW | TRUNC, True)
    assert got.ret.value == 2 and data(got) == b"\0\0" and got.out["addrlen"].value == 0
    d.ok(tcp.RECV_ZERO, "recv", a, 0, DW)
    d.fails(E.EINVAL, socket.RECV_ADDR_AFTER_DATA, "recvfrom", a, 1, DW, True, -1)
    d.fails(E.EFAULT, tcp.RECV_FAULT, "recvfrom", a, 10, DW, buf=FAULT)
    got = d.ok(tcp.RECV_WAITALL, "recv", a, 100, DW | L.MSG_WAITALL)
    assert data(got) == b"loworld"
    d.fails(E.EAGAIN, tcp.RECV_ZERO, "recv", a, 0, DW)
    d.fails(E.EFAULT, tcp.SEND_FAULT, "send", c, FAULT, 0, length=3)
    with pytest.raises(NotModelled):
        d.outcomes("recv", a, 10)                    # would wait
    with pytest.raises(NotModelled):
        d.outcomes("send", c, b"\0" * 40000)          # the window


def test_tcp_errors():
    d = Data()
    t = d.new()
    d.fails(E.EPIPE, tcp.SEND_NOT_CONNECTED, "send", t, b"x", L.MSG_NOSIGNAL)
    d.fails(E.ENOTCONN, tcp.RECV_NOT_CONNECTED, "recv", t, 10, DW)
    d.call("shutdown", t, L.SHUT_RD)
    d.ok(tcp.RECV_EOF, "recv", t, 10)
    lfd = d.bound(L.AF_INET, STREAM)
    d.call("listen", lfd, 0)
    d.fails(E.ENOTCONN, tcp.RECV_LISTEN, "recv", lfd, 10, DW)
    d.fails(E.EPIPE, tcp.SEND_NOT_CONNECTED, "send", lfd, b"x", L.MSG_NOSIGNAL)
    first = d.new()
    d.obj(first).nonblock = True
    d.call("connect", first, d.addr(lfd))
    pending = d.new()
    d.obj(pending).nonblock = True
    d.call("connect", pending, d.addr(lfd))
    d.fails(E.EAGAIN, tcp.SEND_CONNECTING, "send", pending, b"x")
    d.obj(pending).nonblock = False
    with pytest.raises(NotModelled):
        d.outcomes("send", pending, b"x")


def test_tcp_peer_closed():
    d = Data()
    c, a = d.tcp()
    d.call("close", a)
    d.ok(tcp.RECV_EOF, "recv", c, 10, DW)
    d.ok(tcp.SEND_TO_CLOSED, "send", c, b"x", L.MSG_NOSIGNAL)
    assert d.obj(c).so_error == E.EPIPE and d.obj(c).err_unprobed
    d.fails(E.EPIPE, tcp.SEND_SK_ERR, "send", c, b"x", L.MSG_NOSIGNAL)
    d.fails(E.EPIPE, tcp.SEND_NOT_CONNECTED, "send", c, b"x", L.MSG_NOSIGNAL)
    d.ok(tcp.RECV_EOF, "recv", c, 10, DW)


def test_tcp_data_to_a_peer_shut_both_ways():
    """SHUT_RD alone still queues the peer's data; SHUT_RDWR (FIN_WAIT with RCV_SHUTDOWN)
    answers it with a reset: ECONNRESET at the shut end, EPIPE at the sender (CLOSE_WAIT)."""
    d = Data()
    c, a = d.tcp()
    d.call("shutdown", c, L.SHUT_RD)
    d.ok(tcp.SEND_OK, "send", a, b"queued")
    assert data(d.ok(tcp.RECV_OK, "recv", c, 100, DW)) == b"queued"
    c, a = d.tcp()
    d.call("shutdown", c, L.SHUT_RDWR)
    d.ok(tcp.SEND_TO_READ_SHUT, "send", a, b"x", L.MSG_NOSIGNAL)
    assert d.obj(c).so_error == E.ECONNRESET and d.obj(c).sk_state == "CLOSE"
    assert d.obj(a).so_error == E.EPIPE and d.obj(a).sk_state == "CLOSE"
    d.fails(E.ECONNRESET, tcp.RECV_SK_ERR, "recv", c, 10, DW)
    d.ok(tcp.RECV_EOF, "recv", a, 10, DW)


def test_tcp_reset_with_unread_data():
    d = Data()
    c, a = d.tcp(L.AF_INET6)
    d.ok(None, "send", a, b"from-a")
    d.ok(None, "send", c, b"unread")
    d.call("close", a)
    assert data(d.ok(tcp.RECV_OK, "recv", c, 100, DW)) == b"from-a"
    d.fails(E.ECONNRESET, tcp.RECV_SK_ERR, "recv", c, 100, DW)
    d.ok(tcp.RECV_EOF, "recv", c, 100, DW)
    c2, a2 = d.tcp()
    d.ok(None, "send", c2, b"unread")
    d.call("close", a2)
    d.fails(E.ECONNRESET, tcp.SEND_SK_ERR, "send", c2, b"x")
    d.fails(E.EPIPE, tcp.SEND_NOT_CONNECTED, "send", c2, b"x")


def test_tcp_shutdown_and_sigpipe():
    d = Data()
    c, a = d.tcp()
    d.m.sig_blocked.add(SIGPIPE)
    d.call("shutdown", c, L.SHUT_WR)
    d.ok(tcp.RECV_EOF, "recv", a, 10, DW)
    d.fails(E.EPIPE, socket.NOSIGNAL, "send", c, b"x", L.MSG_NOSIGNAL)
    assert SIGPIPE not in d.m.sig_pending
    d.fails(E.EPIPE, socket.SIGPIPE_RAISED, "send", c, b"x")
    assert SIGPIPE in d.m.sig_pending
    assert [e.value for e in process_expectations(d.m)] == [True]
    c2, a2 = d.tcp()
    d.call("shutdown", a2, L.SHUT_WR)                # CLOSE_WAIT at c2: it may still send
    d.ok(tcp.SEND_OK, "send", c2, b"x")
    d.call("shutdown", c2, L.SHUT_WR)                # LAST_ACK, CLOSE: not connected now
    d.fails(E.EPIPE, tcp.SEND_NOT_CONNECTED, "send", c2, b"x", L.MSG_NOSIGNAL)
    d.obj(c2).so_error = E.ECONNRESET
    d.fails(E.ECONNRESET, tcp.SEND_SK_ERR, "send", c2, b"x")
    d.obj(c2).sk_state, d.obj(c2).shutdown = "ESTABLISHED", 2
    with pytest.raises(NotModelled):
        d.outcomes("send", c2, b"x")


def test_tcp_oob():
    d = Data()
    c, a = d.tcp()
    d.ok(tcp.SEND_OOB, "send", c, b"ab", OOB)
    d.ok(None, "send", c, b"cd")
    with pytest.raises(NotModelled):
        d.outcomes("send", c, b"e", OOB)             # a second urgent byte
    assert data(d.ok(tcp.RECV_URG_MARK, "recv", a, 10, DW)) == b"a"
    got = d.ok(tcp.RECV_URG, "recv", a, 10, OOB | PEEK)
    assert data(got) == b"b" and got.ret.value == 1
    d.ok(tcp.RECV_URG, "recv", a, 10, OOB)
    d.fails(E.EINVAL, tcp.RECV_URG_NONE, "recv", a, 10, OOB)
    assert data(d.ok(tcp.RECV_URG_MARK, "recv", a, 10, DW)) == b"cd"
    d.ok(tcp.SEND_OOB, "send", c, b"e", OOB)
    got = d.ok(tcp.RECV_URG, "recvmsg", a, [0], OOB)
    assert got.out["msg_flags"].value == OOB | TRUNC
    d.fails(E.EAGAIN, tcp.RECV_URG_MARK, "recv", a, 10, DW)
    d.ok(tcp.SEND_OOB, "send", c, b"f", OOB)
    d.fails(E.EFAULT, tcp.RECV_FAULT, "recvfrom", a, 10, OOB, buf=FAULT)
    d.fails(E.EINVAL, tcp.RECV_URG_NONE, "recv", a, 10, OOB)
    c2, a2 = d.tcp()
    d.obj(a2).opts["SO_OOBINLINE"] = 1
    d.ok(tcp.SEND_OOB, "send", c2, b"xy", OOB)
    d.fails(E.EINVAL, tcp.RECV_URG_NONE, "recv", a2, 10, OOB)
    assert data(d.ok(tcp.RECV_URG_MARK, "recv", a2, 10, DW)) == b"x"   # stops at the mark
    assert data(d.ok(tcp.RECV_OK, "recv", a2, 10, DW)) == b"y"         # inline: not skipped


# =========================================================================== AF_UNIX

def test_unix_stream():
    d = Data()
    a, b = d.pair(STREAM)
    d.ok(af_unix.SEND_STREAM, "send", a, b"hello")
    d.ok(af_unix.SEND_STREAM, "send", a, b"")
    d.ok(None, "send", a, b"world")
    assert data(d.ok(af_unix.RECV_STREAM, "recv", b, 3, TRUNC | DW)) == b"hel"
    d.ok(tcp.RECV_ZERO, "recv", b, 0, DW)
    d.fails(E.EFAULT, tcp.RECV_FAULT, "recvfrom", b, 10, DW, buf=FAULT)
    assert data(d.ok(tcp.RECV_PEEK, "recv", b, 4, PEEK | DW)) == b"lowo"
    assert data(d.ok(af_unix.RECV_STREAM, "recv", b, 100, DW | L.MSG_WAITALL)) == b"loworld"
    d.fails(E.EAGAIN, af_unix.RECV_EAGAIN, "recv", b, 100, DW)
    d.fails(E.EFAULT, af_unix.SEND_FAULT, "send", a, FAULT, 0, length=2)
    d.fails(E.EISCONN, af_unix.SEND_STREAM_ADDR, "sendto", a, b"x", 0, SockaddrUn(abstract=b"x"))
    with pytest.raises(NotModelled):
        d.outcomes("recv", b, 10)                     # would wait
    with pytest.raises(NotModelled):
        d.outcomes("send", a, b"\0" * 40000)
    u = d.new(L.AF_UNIX, STREAM)
    d.fails(E.ENOTCONN, af_unix.SEND_STREAM_ENOTCONN, "send", u, b"x")
    d.fails(E.EOPNOTSUPP, af_unix.SEND_STREAM_ADDR, "sendto", u, b"x", 0, SockaddrUn(abstract=b"x"))
    d.fails(E.EINVAL, af_unix.RECV_STREAM_EINVAL, "recv", u, 10, DW)


def test_unix_stream_addresses():
    d = Data()
    c, a, lfd = d.unix_conn(STREAM)
    d.ok(None, "send", a, b"srv")
    got = d.ok(af_unix.RECV_STREAM, "recvfrom", c, 10, DW, True)
    assert got.out["addr"].value == d.addr(lfd)
    d.ok(None, "send", c, b"cli")
    got = d.ok(af_unix.RECV_UNNAMED, "recvfrom", a, 10, DW, True)
    assert got.out["addrlen"].value == 0


def test_unix_peer_closed_read_wanting_more():
    """MSG_WAITALL wants more than the data queued before the reset: the read copies the data,
    sock_error() then consumes the error, and the call returns the data; the error is never
    reported. A peek leaves the loop at the last skb, before that: the error stays pending."""
    d = Data()
    a, b = d.pair(STREAM)
    d.ok(None, "send", b, b"from-b")
    d.ok(None, "send", a, b"unread")
    d.call("close", b)
    assert d.obj(a).so_error == E.ECONNRESET
    got = d.ok(af_unix.RECV_STREAM, "recv", a, 100, DW | L.MSG_WAITALL | L.MSG_PEEK)
    assert data(got) == b"from-b" and d.obj(a).so_error == E.ECONNRESET
    got = d.ok(af_unix.RECV_STREAM, "recv", a, 100, DW | L.MSG_WAITALL)
    assert data(got) == b"from-b" and af_unix.RECV_SK_ERR_UNREPORTED in got.rules
    assert d.obj(a).so_error == 0
    d.ok(af_unix.RECV_EOF, "recv", a, 100, DW)


def test_unix_peer_closed():
    d = Data()
    a, b = d.pair(STREAM)
    d.ok(None, "send", b, b"from-b")
    d.ok(None, "send", a, b"unread")
    d.call("close", b)
    assert data(d.ok(af_unix.RECV_STREAM, "recv", a, 100, DW)) == b"from-b"
    d.fails(E.ECONNRESET, af_unix.RECV_SK_ERR, "recv", a, 100, DW)
    d.ok(af_unix.RECV_EOF, "recv", a, 100, DW)
    d.fails(E.EPIPE, af_unix.SEND_STREAM_PIPE, "send", a, b"x", L.MSG_NOSIGNAL)
    s, t = d.pair(SEQPACKET)
    d.ok(None, "send", s, b"for-t")
    d.ok(None, "send", t, b"unread")
    d.call("close", s)
    d.fails(E.ECONNRESET, af_unix.SEND_SK_ERR, "send", t, b"x")
    d.fails(E.EPIPE, af_unix.SEND_DGRAM_PIPE, "send", t, b"x")
    assert data(d.ok(af_unix.RECV_DGRAM, "recv", t, 100, DW)) == b"for-t"
    d.ok(af_unix.RECV_EOF, "recv", t, 100, DW)
    x, y = d.pair(DGRAM)
    d.ok(None, "send", x, b"q")
    d.call("close", y)
    d.fails(E.ECONNREFUSED, af_unix.SEND_DGRAM_REFUSED, "send", x, b"x")
    d.fails(E.ENOTCONN, af_unix.SEND_DGRAM_ENOTCONN_LATE, "send", x, b"x")
    d.fails(E.EAGAIN, af_unix.RECV_EAGAIN, "recv", x, 10, DW)
    e, f = d.pair(STREAM)
    d.ok(None, "send", e, b"gone")
    d.call("close", f)
    d.fails(E.EPIPE, af_unix.SEND_STREAM_PIPE, "send", e, b"x", L.MSG_NOSIGNAL)
    d.fails(E.ECONNRESET, af_unix.RECV_SK_ERR, "recv", e, 10, DW)
    g, h = d.pair(STREAM)
    d.obj(g).so_error = E.ECONNRESET                 # as a peer's close would leave it
    d.fails(E.ECONNRESET, af_unix.SEND_SK_ERR, "send", g, b"x")


def test_unix_shutdown_and_sigpipe():
    d = Data()
    d.m.sig_blocked.add(SIGPIPE)
    a, b = d.pair(SEQPACKET)
    d.call("shutdown", a, L.SHUT_WR)
    d.fails(E.EPIPE, af_unix.SEND_DGRAM_PIPE, "send", a, b"x")
    assert SIGPIPE not in d.m.sig_pending
    d.ok(af_unix.RECV_EOF, "recv", b, 10, DW)
    s, t = d.pair(STREAM)
    d.call("shutdown", s, L.SHUT_WR)
    d.fails(E.EPIPE, socket.SIGPIPE_RAISED, "send", s, b"x")
    assert SIGPIPE in d.m.sig_pending
    x, y = d.pair(DGRAM)
    d.call("shutdown", y, L.SHUT_RD)
    d.fails(E.EPIPE, af_unix.SEND_DGRAM_PIPE, "send", x, b"x")
    d.fails(E.EAGAIN, af_unix.RECV_EAGAIN, "recv", y, 10, DW)
    d.ok(af_unix.RECV_EOF, "recv", y, 10)


def test_unix_dgram():
    d = Data()
    r = d.bound(L.AF_UNIX, DGRAM, SockaddrUn(abstract=b"recv"))
    s = d.new(L.AF_UNIX, DGRAM)
    d.fails(E.ENOTCONN, af_unix.SEND_DGRAM_ENOTCONN_LATE, "send", s, b"x")
    d.fails(E.EFAULT, af_unix.SEND_FAULT, "send", s, FAULT, 0, length=1)   # 6.14+: copy first
    old = Data("6.1")                                   # until 6.14: the peer first
    so = old.new(L.AF_UNIX, DGRAM)
    old.fails(E.ENOTCONN, af_unix.SEND_DGRAM_ENOTCONN, "send", so, FAULT, 0, length=1)
    d.fails(E.EINVAL, af_unix.SEND_DGRAM_ADDR, "sendto", s, b"x", 0, SockaddrUn(abstract=b"a"), 2)
    o = d.fails(E.ECONNREFUSED, af_unix.SEND_DGRAM_LOOKUP, "sendto", s, b"x", 0, SockaddrUn(abstract=b"none"))
    assert af_unix.CONNECT_ABSTRACT_REFUSED in o.also
    d.fails(E.EFAULT, af_unix.SEND_FAULT, "sendto", s, FAULT, 0, SockaddrUn(abstract=b"none"), length=1)
    d.fails(E.EOPNOTSUPP, af_unix.SEND_DGRAM_OOB, "sendto", s, b"x", OOB, SockaddrUn(abstract=b"recv"))
    for i in range(11):
        d.ok(af_unix.SEND_DGRAM, "sendto", s, b"%d" % i, DW, SockaddrUn(abstract=b"recv"))
    d.fails(E.EAGAIN, af_unix.SEND_DGRAM_EAGAIN, "sendto", s, b"full", DW, SockaddrUn(abstract=b"recv"))
    with pytest.raises(NotModelled):
        d.outcomes("sendto", s, b"full", 0, SockaddrUn(abstract=b"recv"))
    got = d.ok(af_unix.RECV_UNNAMED, "recvfrom", r, 10, DW, True)
    assert got.out["addrlen"].value == 0
    d.fails(E.EOPNOTSUPP, af_unix.RECV_DGRAM_OOB, "recv", r, 10, OOB)
    d.fails(E.EFAULT, udp.RECV_FAULT, "recvfrom", r, 10, DW, buf=FAULT)
    got = d.ok(udp.RECV_TRUNC, "recvmsg", r, [0], DW | TRUNC)
    assert got.ret.value == 1 and got.out["msg_flags"].value == TRUNC
    c = d.new(L.AF_UNIX, DGRAM)
    d.call("setsockopt", c, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    d.ok(af_unix.SEND_PASSCRED, "sendto", c, b"cred", 0, SockaddrUn(abstract=b"recv"))
    other = d.bound(L.AF_UNIX, DGRAM, SockaddrUn(abstract=b"other"))
    d.call("connect", r, SockaddrUn(abstract=b"other"))
    d.fails(E.EPERM, af_unix.SEND_DGRAM_EPERM, "sendto", s, b"x", 0, SockaddrUn(abstract=b"recv"))
    d.call("setsockopt", s, L.SOL_SOCKET, L.SO_SNDBUF, 10000)
    d.fails(E.EMSGSIZE, af_unix.SEND_DGRAM_EMSGSIZE, "sendto", s, b"z" * 19969, 0, SockaddrUn(abstract=b"other"))
    d.ok(af_unix.SEND_DGRAM, "sendto", s, b"z" * 19968, 0, SockaddrUn(abstract=b"other"))
    with pytest.raises(NotModelled):
        d.outcomes("sendto", s, b"z" * 100, 0, SockaddrUn(abstract=b"other"))
    d.obj(s).so_error = E.ECONNRESET
    d.fails(E.ECONNRESET, af_unix.SEND_SK_ERR, "sendto", s, b"x", 0, SockaddrUn(abstract=b"other"))
    d.obj(other).so_error = E.ECONNRESET
    d.fails(E.ECONNRESET, af_unix.RECV_SK_ERR, "recv", other, 10, DW)
    with pytest.raises(NotModelled):
        d.outcomes("recv", s, 10)


def test_unix_seqpacket():
    d = Data()
    u = d.new(L.AF_UNIX, SEQPACKET)
    d.fails(E.ENOTCONN, af_unix.SEND_SEQ_ENOTCONN, "send", u, b"x")
    d.fails(E.ENOTCONN, af_unix.RECV_SEQ_ENOTCONN, "recv", u, 10, DW)
    a, b = d.pair(SEQPACKET)
    d.fails(E.EOPNOTSUPP, af_unix.SEND_DGRAM_OOB, "send", a, b"x", OOB)
    d.fails(E.EOPNOTSUPP, af_unix.RECV_DGRAM_OOB, "recv", b, 1, OOB)
    d.ok(af_unix.SEND_DGRAM, "sendto", a, b"record", 0, SockaddrUn(abstract=b"ignored"))
    d.ok(None, "sendmsg", a, [b"next"], L.MSG_EOR)
    got = d.ok(af_unix.RECV_DGRAM, "recvmsg", b, [3], DW)
    assert data(got) == b"rec" and got.out["msg_flags"].value == TRUNC
    assert data(d.ok(udp.RECV_PEEK, "recv", b, 10, DW | PEEK)) == b"next"
    d.call("shutdown", a, L.SHUT_RDWR)
    d.ok(af_unix.RECV_DGRAM, "recv", b, 10)
    d.ok(af_unix.RECV_EOF, "recv", b, 10, DW)


PROGRAMS = {
    "oob-then-data": [("send", "a", b"hello", OOB), ("send", "a", b"world"),
                      ("recv", "b", 10, DW), ("recv", "b", 1, OOB), ("recv", "b", 10, DW),
                      ("recv", "b", 10, OOB)],
    "peek-after-read-oob": [("send", "a", b"hello", OOB), ("send", "a", b"world"),
                            ("recv", "b", 1, OOB), ("recv", "b", 9, PEEK | DW),
                            ("recv", "b", 9, DW), ("recv", "b", 9, DW)],
    "read-oob-at-head": [("send", "a", b"x", OOB), ("recv", "b", 1, OOB), ("send", "a", b"y"),
                         ("recv", "b", 10, DW), ("recv", "b", 10, DW)],
    "peek-oob": [("send", "a", b"ab", OOB), ("send", "a", b"cd"), ("recv", "b", 10, DW),
                 ("recv", "b", 10, PEEK | DW), ("recv", "b", 10, OOB | PEEK),
                 ("recv", "b", 10, OOB), ("recv", "b", 10, DW)],
    "dropped": [("send", "a", b"x", OOB), ("recv", "b", 10, DW), ("recv", "b", 10, OOB | DW)],
    "zero-buffer": [("send", "a", b"z", OOB), ("recvmsg", "b", [0], OOB), ("recv", "b", 10, OOB)],
}
EXPECTED = {   # (errno or data) per step; where 6.1 differs it says so
    "oob-then-data": [5, 5, b"hell", b"o", {"6.1": E.EAGAIN, "new": b"world"}, E.EINVAL],
    "peek-after-read-oob": [5, 5, b"o", {"6.1": b"hellworld", "new": b"hell"}, b"hell", b"world"],
    "read-oob-at-head": [1, 1, 1, {"6.1": E.EAGAIN, "new": b"y"}, {"6.1": b"y", "new": E.EAGAIN}],
    "peek-oob": [2, 2, b"a", b"cd", b"b", b"b", {"6.1": E.EAGAIN, "new": b"cd"}],
    "dropped": [1, E.EAGAIN, E.EINVAL],
    "zero-buffer": [1, b"", E.EINVAL],
}


@pytest.mark.parametrize("program,version", [(p, v) for p in PROGRAMS for v in VERSIONS])
def test_unix_stream_oob(program, version):
    d = Data(version)
    a, b = d.pair(STREAM)
    ends = {"a": a, "b": b}
    for step, ((name, end, *args), want) in enumerate(zip(PROGRAMS[program], EXPECTED[program])):
        if isinstance(want, dict):
            want = want["6.1" if version == "6.1" else "new"]
        o = d.call(name, ends[end], *args)
        if isinstance(want, bytes):
            assert o.errno == 0 and data(o) == want, (step, o.describe(), want)
        elif name == "send":
            assert o.ret.value == want, (step, o)
        elif want in (E.EAGAIN, E.EINVAL):
            assert o.errno == want, (step, o.describe())
        else:
            assert o.ret.value == want, (step, o)


def test_unix_stream_oob_more():
    d = Data()
    a, b = d.pair(STREAM)
    d.fails(E.EOPNOTSUPP, af_unix.SEND_OOB_EMPTY, "send", a, b"", OOB)
    d.ok(af_unix.SEND_OOB, "send", a, b"x", OOB)
    d.ok(af_unix.SEND_OOB, "send", a, b"y", OOB)
    assert data(d.ok(af_unix.RECV_OOB, "recv", b, 10, OOB)) == b"y"
    assert data(d.ok(af_unix.RECV_STREAM, "recv", b, 10, DW)) == b"x"
    d.ok(af_unix.SEND_OOB, "send", a, b"z", OOB)
    d.fails(E.EFAULT, tcp.RECV_FAULT, "recvfrom", b, 1, OOB, buf=FAULT)
    d.fails(E.EINVAL, af_unix.RECV_OOB_NONE, "recv", b, 1, OOB)
    with pytest.raises(NotModelled):
        d.outcomes("recv", b, 0, DW)                  # a zero-length read at the emptied skb
    d.call("setsockopt", b, L.SOL_SOCKET, L.SO_OOBINLINE, 1)
    d.ok(af_unix.SEND_OOB, "send", a, b"ab", OOB)
    d.fails(E.EINVAL, af_unix.RECV_OOB_NONE, "recv", b, 10, OOB)
    assert data(d.ok(af_unix.RECV_OOB_MARK, "recv", b, 10, DW)) == b"a"
    assert data(d.ok(None, "recv", b, 10, DW)) == b"b"


def test_unix_stream_without_oob():
    """Before 5.15, or without CONFIG_AF_UNIX_OOB (the marker decides over the release),
    MSG_OOB is refused both ways and the bytes are ordinary data."""
    import dataclasses
    no = {"value": None, "source": "test config", "known": True}
    yes = {"value": "y", "source": "test config", "known": True}
    for version, markers, supported in (("5.10", {}, False), ("6.18", {"CONFIG_AF_UNIX_OOB": no}, False),
                                        ("5.10", {"CONFIG_AF_UNIX_OOB": yes}, True), ("6.1", {}, True)):
        d = Data(version)
        d.m.profile = dataclasses.replace(d.m.profile, markers=markers)
        a, b = d.pair(STREAM)
        if supported:
            d.ok(af_unix.SEND_OOB, "send", a, b"x", OOB)
            continue
        d.fails(E.EOPNOTSUPP, af_unix.SEND_OOB_UNSUPPORTED, "send", a, b"x", OOB)
        d.fails(E.EOPNOTSUPP, af_unix.SEND_OOB_UNSUPPORTED, "send", a, b"", OOB)
        d.ok(af_unix.SEND_STREAM, "send", a, b"ab")
        d.fails(E.EOPNOTSUPP, af_unix.RECV_OOB_UNSUPPORTED, "recv", b, 10, OOB)
        assert data(d.ok(af_unix.RECV_STREAM, "recv", b, 10, DW)) == b"ab"


def test_pointer_kinds():
    """The data calls' pointer-kind scenarios (test_model_pointers), run here too so that this
    module's rule check sees them in its own process."""
    import test_model_pointers as P
    P.test_data_access_ok_before_descriptor()
    P.test_iovecs()
    P.test_msghdr_placement_and_control()
    P.test_socketpair_sv_and_timeout()


def test_receive_timeouts():
    """SO_RCVTIMEO's receive scenarios (test_model_sockopt), run here too for the same reason."""
    import test_model_sockopt as S
    for kind in ("tcp", "udp", "unix"):
        S.test_receive_timeout(kind)


def test_every_rule_is_reached():
    """Every scenario runs again here (under xdist the others may run in another process)."""
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_") or name == "test_every_rule_is_reached" or not callable(fn):
            continue
        params = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        combos = [{}]
        for p in params:
            names = [n.strip() for n in p.args[0].split(",")]
            combos = [dict(c, **dict(zip(names, v if len(names) > 1 else (v,))))
                      for c in combos for v in p.args[1]]
        for c in combos:
            fn(**c)
    defined = {r.name for mod in (socket, udp, tcp, af_unix, af_inet) for r in vars(mod).values()
               if isinstance(r, Rule) and r.name.split(".")[0] in
               ("send", "recv", "sendto", "recvfrom", "msg", "mmsg", "sendmmsg", "recvmmsg")}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"
