"""Model-only scenarios for socket() (net/socket.c __sys_socket / __sock_create and the
families' create functions) and the proto_ops defaults: each row is a call on a hand-built
profile and the allowed set the model must give, as (errno, rule)."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrLl
from harness.model import af_inet, af_netlink, af_packet, af_unix, ops
from harness.model import socket as SK
from harness.model.rules import Rule

from model_profile import ROOT_CAPS, Run, rules_of

USER = ()        # no capabilities
A, S = L.AF_INET, L.SOCK_STREAM

# (id, caps, family, type, protocol, errno, rule, SO_DOMAIN/TYPE/PROTOCOL on success)
CASES = [
    ("flags", ROOT_CAPS, A, S | 0x100, 0, E.EINVAL, SK.TYPE_FLAGS_INVALID, None),
    ("flags-before-family", ROOT_CAPS, 999, S | 0x10, 0, E.EINVAL, SK.TYPE_FLAGS_INVALID, None),
    ("negative-type", ROOT_CAPS, A, -1, 0, E.EINVAL, SK.TYPE_FLAGS_INVALID, None),
    ("family-af-max", ROOT_CAPS, 46, S, 0, E.EAFNOSUPPORT, SK.FAMILY_OUT_OF_RANGE, None),
    ("family-negative", ROOT_CAPS, -1, S, 0, E.EAFNOSUPPORT, SK.FAMILY_OUT_OF_RANGE, None),
    ("family-before-type", ROOT_CAPS, 46, L.SOCK_MAX, 0, E.EAFNOSUPPORT, SK.FAMILY_OUT_OF_RANGE, None),
    ("type-sock-max", ROOT_CAPS, A, L.SOCK_MAX, 0, E.EINVAL, SK.TYPE_OUT_OF_RANGE, None),
    ("unregistered", ROOT_CAPS, L.AF_NETBEUI, L.SOCK_DGRAM, 0, E.EAFNOSUPPORT, SK.FAMILY_UNAVAILABLE, None),
    ("unspec", ROOT_CAPS, L.AF_UNSPEC, S, 0, E.EAFNOSUPPORT, SK.FAMILY_UNAVAILABLE, None),
    ("packet-remap", ROOT_CAPS, A, L.SOCK_PACKET, 0x300, 0, SK.PACKET_REMAP, (L.AF_PACKET, L.SOCK_PACKET, 0)),
    ("packet-remap-user", USER, A, L.SOCK_PACKET, 0, E.EPERM, af_packet.PACKET_EPERM, None),
    ("packet-raw", ROOT_CAPS, L.AF_PACKET, L.SOCK_RAW, 0x300, 0, af_packet.PACKET_CREATE, (L.AF_PACKET, L.SOCK_RAW, 0)),
    ("packet-stream", ROOT_CAPS, L.AF_PACKET, S, 0, E.ESOCKTNOSUPPORT, af_packet.PACKET_TYPE, None),
    ("packet-stream-user", USER, L.AF_PACKET, S, 0, E.EPERM, af_packet.PACKET_EPERM, None),
    ("inet-stream-0", USER, A, S, 0, 0, af_inet.INET_CREATE, (A, S, L.IPPROTO_TCP)),
    ("inet-dgram-0", USER, A, L.SOCK_DGRAM, 0, 0, af_inet.INET_CREATE, (A, L.SOCK_DGRAM, L.IPPROTO_UDP)),
    ("inet-stream-udp", USER, A, S, L.IPPROTO_UDP, E.EPROTONOSUPPORT, af_inet.INET_PROTOCOL_UNSUPPORTED, None),
    ("inet-raw-0", ROOT_CAPS, A, L.SOCK_RAW, 0, E.EPROTONOSUPPORT, af_inet.INET_PROTOCOL_UNSUPPORTED, None),
    ("inet-raw-icmp", ROOT_CAPS, A, L.SOCK_RAW, 1, 0, af_inet.INET_CREATE, (A, L.SOCK_RAW, 1)),
    ("inet-raw-icmp-user", USER, A, L.SOCK_RAW, 1, E.EPERM, af_inet.INET_RAW_EPERM, None),
    ("inet-rdm", USER, A, L.SOCK_RDM, 0, E.ESOCKTNOSUPPORT, af_inet.INET_TYPE_UNSUPPORTED, None),
    ("inet-protocol-263", USER, A, L.SOCK_RDM, 263, E.EINVAL, af_inet.INET_PROTOCOL_RANGE, None),
    ("inet-ping", ROOT_CAPS, A, L.SOCK_DGRAM, L.IPPROTO_ICMP, E.EACCES, af_inet.PING_GROUP, None),
    ("inet6-stream-0", USER, L.AF_INET6, S, 0, 0, af_inet.INET_CREATE, (L.AF_INET6, S, L.IPPROTO_TCP)),
    ("inet6-packet", USER, L.AF_INET6, L.SOCK_PACKET, 0, E.ESOCKTNOSUPPORT, af_inet.INET_TYPE_UNSUPPORTED, None),
    ("unix-stream-1", USER, L.AF_UNIX, S, 1, 0, af_unix.UNIX_CREATE, (L.AF_UNIX, S, 0)),
    ("unix-raw", USER, L.AF_UNIX, L.SOCK_RAW, 0, 0, af_unix.UNIX_RAW_IS_DGRAM, (L.AF_UNIX, L.SOCK_DGRAM, 0)),
    ("unix-protocol-2", USER, L.AF_UNIX, S, 2, E.EPROTONOSUPPORT, af_unix.UNIX_PROTOCOL, None),
    ("unix-rdm", USER, L.AF_UNIX, L.SOCK_RDM, 0, E.ESOCKTNOSUPPORT, af_unix.UNIX_TYPE, None),
    ("netlink-route", USER, L.AF_NETLINK, L.SOCK_RAW, 0, 0, af_netlink.NETLINK_CREATE, (L.AF_NETLINK, L.SOCK_RAW, 0)),
    ("netlink-stream", USER, L.AF_NETLINK, S, 0, E.ESOCKTNOSUPPORT, af_netlink.NETLINK_TYPE, None),
    ("netlink-1", USER, L.AF_NETLINK, L.SOCK_DGRAM, 1, E.EPROTONOSUPPORT, af_netlink.NETLINK_PROTOCOL, None),
    ("netlink-32", USER, L.AF_NETLINK, L.SOCK_DGRAM, 32, E.EPROTONOSUPPORT, af_netlink.NETLINK_PROTOCOL, None),
]

REACHED: set[str] = set()


def allowed(run, name, *args, **kwargs):
    outcomes = run.allowed(name, *args, **kwargs)
    REACHED.update(rules_of(outcomes))
    return outcomes


@pytest.mark.parametrize("caps,family,type_,protocol,err,rule_,state", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_socket(caps, family, type_, protocol, err, rule_, state):
    run = Run(caps=caps)
    (o,) = allowed(run, "socket", family, type_, protocol)
    assert (o.errno, o.rule) == (err, rule_)
    if state is not None:
        assert o.ret.value == 3 and SK.LOWEST_FREE in o.also
        o.apply(run.m, _ok(3))
        s = run.m.sock(3)
        assert (s.family, s.type, s.protocol) == state


def test_ping_group_range_admits():
    run = Run(net__ipv4__ping_group_range="0 10")
    (o,) = allowed(run, "socket", A, L.SOCK_DGRAM, L.IPPROTO_ICMP)
    assert o.errno == 0 and run.m.profile.groups == (0,)


def test_flags_and_lowest_free():
    run = Run()
    (o,) = allowed(run, "socket", L.AF_UNIX, S | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0)
    assert {SK.CLOEXEC_FLAG, SK.NONBLOCK_FLAG, SK.LOWEST_FREE} <= set(o.also)
    o.apply(run.m, _ok(3))
    assert run.m.fds.get(3).cloexec and run.m.sock(3).nonblock
    run.m.fds.rlimit = 4
    (o,) = allowed(run, "socket", L.AF_UNIX, S, 0)
    assert (o.errno, o.rule) == (E.EMFILE, SK.EMFILE)
    (o,) = allowed(run, "socket", 255, S, 0)          # the family error comes first
    assert o.rule == SK.FAMILY_OUT_OF_RANGE


def test_sock_no_ops_on_packet_and_netlink():
    run = Run()
    pk = run.sock(L.AF_PACKET, L.SOCK_DGRAM, 0)
    (o,) = allowed(run, "connect", pk, SockaddrLl(0x800, 1))
    assert (o.errno, o.rule) == (E.EOPNOTSUPP, ops.NO_CONNECT)
    (o,) = allowed(run, "listen", pk, 5)
    assert (o.errno, o.rule) == (E.EOPNOTSUPP, ops.NO_LISTEN)
    (o,) = allowed(run, "accept", pk)
    assert (o.errno, o.rule) == (E.EOPNOTSUPP, ops.NO_ACCEPT)
    (o,) = allowed(run, "shutdown", pk, L.SHUT_RDWR)
    assert (o.errno, o.rule) == (E.EOPNOTSUPP, ops.NO_SHUTDOWN)
    nl = run.sock(L.AF_NETLINK, L.SOCK_RAW, 0)
    (o,) = allowed(run, "listen", nl, 5)
    assert o.rule == ops.NO_LISTEN
    (o,) = allowed(run, "recv", pk, 10, 0x2000)                     # MSG_ERRQUEUE
    assert (o.errno, o.rule) == (E.EAGAIN, af_packet.RECV_ERRQUEUE_EMPTY)
    (o,) = allowed(run, "recv", pk, 10, 0x2000 | L.MSG_WAITALL)
    assert (o.errno, o.rule) == (E.EINVAL, af_packet.RECV_FLAGS_INVALID)
    from harness.model import NotModelled
    with pytest.raises(NotModelled):
        run.allowed("bind", pk, SockaddrLl(0x800, 1))
    with pytest.raises(NotModelled):
        run.allowed("getsockname", nl)


def test_address_copies():
    """move_addr_to_kernel / move_addr_to_user: lengths and unreadable memory."""
    from harness.mem import Ptr, SockaddrIn
    fault = Ptr(0x1000, "PROT_NONE page", True)
    run = Run()
    fd = run.sock(A, L.SOCK_DGRAM, 0)
    for length in (-1, 129, 1 << 30):
        (o,) = allowed(run, "bind", fd, SockaddrIn(0, "127.0.0.1"), length)
        assert (o.errno, o.rule) == (E.EINVAL, SK.ADDRLEN_INVALID)
    (o,) = allowed(run, "connect", fd, fault, 16)
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_FAULT)
    (o,) = allowed(run, "getsockname", fd, True, fault)
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT)
    (o,) = allowed(run, "getsockname", fd, fault, 16)
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT)
    assert SK.ADDRLEN_OUT_BEFORE_COPY in o.also and o.out["addrlen"].value == 16
    old = Run("5.10")                   # *addrlen written after the address until 6.18
    ofd = old.sock(A, L.SOCK_DGRAM, 0)
    (o,) = allowed(old, "getsockname", ofd, fault, 100)
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT)
    assert SK.ADDRLEN_OUT_AFTER_COPY in o.also and o.out["addrlen"].value == 100
    read_only_len = Ptr(0x7000_0000 - 4, "read-only guard", span=4, writable=False,
                        data=(100).to_bytes(4, "little"))
    (o,) = allowed(run, "getsockname", fd, True, read_only_len)   # 6.18: before the copy
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT) and "addr_written" not in o.out
    assert SK.ADDRLEN_OUT_UNWRITABLE_FIRST in o.also
    (o,) = allowed(old, "getsockname", ofd, True, read_only_len)   # 5.10: after the copy
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT) and o.out["addr_written"].value
    assert SK.ADDRLEN_OUT_UNWRITABLE_LAST in o.also
    (o,) = allowed(run, "getsockname", fd, True, -1)
    assert (o.errno, o.rule) == (E.EINVAL, SK.ADDRLEN_OUT_NEGATIVE)
    (o,) = allowed(run, "getsockname", fd, True, 4)
    assert o.errno == 0 and SK.ADDR_OUT_TRUNCATED in o.also and o.out["addrlen"].value == 16


def test_every_socket_rule_is_reached():
    for case in CASES:
        test_socket(*case[1:])
    test_ping_group_range_admits()
    test_flags_and_lowest_free()
    test_sock_no_ops_on_packet_and_netlink()
    test_address_copies()
    defined = {r.name for mod in (af_packet, af_netlink, ops) for r in vars(mod).values()
               if isinstance(r, Rule)}
    defined |= {r.name for mod in (af_inet, af_unix, SK) for r in vars(mod).values()
                if isinstance(r, Rule) and r.name.startswith(("socket.", "addr."))}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"


def _ok(ret):
    from harness.kernel import Result
    return Result(ret, 0)
