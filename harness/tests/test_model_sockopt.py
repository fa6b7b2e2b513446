"""Model-only scenarios for setsockopt/getsockopt (harness/model/sock.py, tcp.py): each names
the outcome the model must allow, on hand-built 6.1, 6.12 and 6.18 profiles. The last test
checks that these scenarios reach every rule the two modules define."""
from __future__ import annotations

import errno as E
import struct

import pytest

from harness.abi import linux as L
from harness.mem import NULL, Ptr
from harness.model import sock as S
from harness.model import tcp as T
from harness.model.rules import Rule

from model_profile import Run, only, rules_of

FAULT = Ptr(0x1000, "PROT_NONE page", True)
REACHED: set[str] = set()


def expect(outcomes, errno=0, ret=None, rule=None, **out):
    """The single allowed outcome has this errno (and return value, rule, outputs)."""
    REACHED.update(rules_of(outcomes))
    err, value, outs, rules = only(outcomes)
    assert err == errno, f"errno {err} != {errno}: {outcomes}"
    if ret is not None:
        assert value == ret
    if rule is not None:
        assert rule.name in rules, f"{rule.name} not in {rules}"
    for k, v in out.items():
        assert outs.get(k) == v, f"{k}: {outs.get(k)!r} != {v!r}"
    return outcomes[0]


def play(run, name, *args, **kwargs):
    REACHED.update(rules_of(run.allowed(name, *args, **kwargs)))
    return run.play(name, *args, **kwargs)


def i32(v):
    return struct.pack("=i", v)


# --------------------------------------------------------------------------- net/socket.c

@pytest.mark.parametrize("version", ["6.1", "6.12", "6.18"])
def test_negative_optlen_order(version):
    run = Run(version)
    fd = run.sock()
    bad = expect(run.allowed("setsockopt", 99, L.SOL_SOCKET, L.SO_REUSEADDR, 1, -1),
                 E.EINVAL if version == "6.1" else E.EBADF)
    if version == "6.1":
        assert bad.rule is S.SET_OPTLEN_NEGATIVE_FIRST
    expect(run.allowed("setsockopt", 1, L.SOL_SOCKET, L.SO_REUSEADDR, 1, -1),      # /dev/pts
           E.EINVAL if version == "6.1" else E.ENOTSOCK)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1, -1), E.EINVAL,
           rule=S.SET_OPTLEN_NEGATIVE_FIRST if version == "6.1" else S.SET_OPTLEN_NEGATIVE)


def test_getsockopt_bad_fd_comes_first():
    run = Run("6.1")
    expect(run.allowed("getsockopt", 99, L.SOL_SOCKET, L.SO_TYPE, -1), E.EBADF)
    expect(run.allowed("getsockopt", -1, L.SOL_SOCKET, L.SO_TYPE), E.EBADF)


# --------------------------------------------------------------------------- sk_setsockopt

def test_set_length_value_option_order():
    run = Run()
    fd = run.sock(L.AF_UNIX)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, 1000, 1, 3), E.EINVAL, rule=S.SET_OPTLEN_SHORT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, 1000, FAULT), E.EFAULT, rule=S.SET_FAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_REUSEADDR, None, 4), E.EFAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, 1000, 1), E.ENOPROTOOPT, rule=S.SET_UNKNOWN)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_SNDLOWAT, 1), E.ENOPROTOOPT,
           rule=S.SET_UNKNOWN)
    for name in (L.SO_TYPE, L.SO_PROTOCOL, L.SO_DOMAIN, L.SO_ERROR):
        expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, 1), E.ENOPROTOOPT,
               rule=S.SET_READ_ONLY)


def test_flags_are_stored_and_read_back():
    run = Run()
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE), value=i32(0), optlen=4,
           rule=S.GET_FLAG)
    out = expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE, -7), rule=S.SET_FLAG)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE, -7)
    assert out.errno == 0 and run.obj(fd).opts["SO_KEEPALIVE"] == 1
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_KEEPALIVE), value=i32(1))
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1, 8)
    assert S.reuseaddr(run.obj(fd)) == 1


def test_reuseaddr_default_of_raw_and_ping():
    run = Run()
    raw = run.sock(L.AF_INET6, L.SOCK_RAW, L.IPPROTO_ICMPV6)
    expect(run.allowed("getsockopt", raw, L.SOL_SOCKET, L.SO_REUSEADDR), value=i32(1),
           rule=S.REUSE_DEFAULT)
    assert S.reuseaddr(run.obj(raw)) == 1
    run.play("setsockopt", raw, L.SOL_SOCKET, L.SO_REUSEADDR, 0)
    expect(run.allowed("getsockopt", raw, L.SOL_SOCKET, L.SO_REUSEADDR), value=i32(0))


@pytest.mark.parametrize("caps,errno", [((), E.EACCES), (("CAP_NET_ADMIN",), 0)])
def test_so_debug_needs_net_admin_to_turn_on(caps, errno):
    run = Run(caps=caps)
    fd = run.sock(L.AF_UNIX)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_DEBUG, 1), errno,
           rule=S.SET_DEBUG_EACCES if errno else S.SET_FLAG)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_DEBUG, 0), 0)


@pytest.mark.parametrize("version, refused", [
    ("5.10", False), ((6, 1, 123), False), ((6, 1, 124), True), ((6, 6, 69), False),
    ((6, 6, 70), True), ((6, 12, 8), False), ((6, 12, 9), True), ((6, 13, 0), True), ("6.18", True)])
def test_reuseport_non_inet_by_release(version, refused):
    """'net: restrict SO_REUSEPORT to inet sockets' (v6.13) and its stable backports."""
    run = Run(version)
    unix = run.sock(L.AF_UNIX)
    out = run.allowed("setsockopt", unix, L.SOL_SOCKET, L.SO_REUSEPORT, 1)
    if refused:
        expect(out, E.EOPNOTSUPP, rule=S.SET_REUSEPORT_NOT_INET)
    else:
        expect(out, 0, rule=S.SET_FLAG)


def test_reuseport_only_inet():
    run = Run()
    unix, inet = run.sock(L.AF_UNIX), run.sock(L.AF_INET6)
    expect(run.allowed("setsockopt", unix, L.SOL_SOCKET, L.SO_REUSEPORT, 1), E.EOPNOTSUPP,
           rule=S.SET_REUSEPORT_NOT_INET)
    expect(run.allowed("setsockopt", unix, L.SOL_SOCKET, L.SO_REUSEPORT, 0), 0)
    expect(run.allowed("setsockopt", inet, L.SOL_SOCKET, L.SO_REUSEPORT, 1), 0)


@pytest.mark.parametrize("value,size,extra", [
    (0, 2304, S.BUF_FLOOR), (1152, 2304, None), (1153, 2306, None), (4096, 8192, None),
    (212992, 425984, None), (212993, 425984, S.BUF_CLAMPED), (-1, 425984, S.BUF_CLAMPED),
])
def test_rcvbuf_arithmetic(value, size, extra):
    run = Run()
    fd = run.sock(L.AF_UNIX, L.SOCK_DGRAM)
    out = expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUF, value), rule=S.SET_BUF)
    assert extra is None or extra in out.also
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUF, value)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUF), value=i32(size), rule=S.GET_BUF)
    assert run.obj(fd).userlocks & S.SOCK_RCVBUF_LOCK


def test_sndbuf_floor_and_force():
    run = Run()
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUF, 100)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUF), value=i32(4608))
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUFFORCE, 10**6), rule=S.SET_BUFFORCE)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUFFORCE, 10**6)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUF), value=i32(2 * 10**6))
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUFFORCE, 0x7FFFFFFF)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_SNDBUF), value=i32(0x7FFFFFFE))
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUFFORCE, -5)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUF), value=i32(2304))
    unpriv = Run(caps=())
    fd = unpriv.sock(L.AF_INET, L.SOCK_DGRAM)
    expect(unpriv.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUFFORCE, 1), E.EPERM,
           rule=S.SET_BUFFORCE_EPERM)


def test_buffer_defaults_per_family():
    run = Run(net__core__rmem_default="1000", net__core__wmem_default="2000")
    tcp, udp, unix = run.sock(L.AF_INET6), run.sock(L.AF_INET, L.SOCK_DGRAM), run.sock(L.AF_UNIX)
    expect(run.allowed("getsockopt", tcp, L.SOL_SOCKET, L.SO_RCVBUF), value=i32(131072),
           rule=S.GET_BUF_DEFAULT_TCP)
    expect(run.allowed("getsockopt", tcp, L.SOL_SOCKET, L.SO_SNDBUF), value=i32(16384))
    expect(run.allowed("getsockopt", udp, L.SOL_SOCKET, L.SO_RCVBUF), value=i32(1000),
           rule=S.GET_BUF_DEFAULT)
    expect(run.allowed("getsockopt", unix, L.SOL_SOCKET, L.SO_SNDBUF), value=i32(2000))
    run.obj(tcp).state = "connected"
    with pytest.raises(Exception, match="tcp_init_buffer_space"):
        run.allowed("getsockopt", tcp, L.SOL_SOCKET, L.SO_RCVBUF)


@pytest.mark.parametrize("caps", [(), ("CAP_NET_RAW",), ("CAP_NET_ADMIN",)])
def test_priority_and_mark(caps):
    run = Run(caps=caps)
    fd = run.sock(L.AF_UNIX)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY, 6), rule=S.SET_PRIORITY)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY, 7),
           0 if caps else E.EPERM, rule=S.SET_PRIORITY if caps else S.SET_PRIORITY_EPERM)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, S.SO_MARK, 0),
           0 if caps else E.EPERM, rule=S.SET_MARK if caps else S.SET_MARK_EPERM)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY, 3)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY), value=i32(3), rule=S.GET_INT)


@pytest.mark.parametrize("version", ["6.1", "6.12", "6.18"])
def test_passcred_and_passpidfd_by_version(version):
    run = Run(version)
    inet, unix, nl = run.sock(L.AF_INET), run.sock(L.AF_UNIX), run.sock(L.AF_NETLINK, L.SOCK_RAW)
    restricted = version == "6.18"
    expect(run.allowed("setsockopt", inet, L.SOL_SOCKET, L.SO_PASSCRED, 1),
           E.EOPNOTSUPP if restricted else 0,
           rule=S.PASSCRED_RESTRICTED if restricted else S.SET_PASSCRED)
    expect(run.allowed("getsockopt", inet, L.SOL_SOCKET, L.SO_PASSCRED),
           E.EOPNOTSUPP if restricted else 0,
           rule=S.GET_PASSCRED_RESTRICTED if restricted else S.GET_PASSCRED)
    expect(run.allowed("setsockopt", nl, L.SOL_SOCKET, L.SO_PASSCRED, 1), 0)
    run.play("setsockopt", unix, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    expect(run.allowed("getsockopt", unix, L.SOL_SOCKET, L.SO_PASSCRED), value=i32(1),
           rule=S.GET_PASSCRED)
    pidfd_known = version != "6.1"
    expect(run.allowed("setsockopt", unix, L.SOL_SOCKET, S.SO_PASSPIDFD, 1),
           0 if pidfd_known else E.ENOPROTOOPT,
           rule=S.SET_PASSPIDFD if pidfd_known else S.SET_UNKNOWN)
    expect(run.allowed("getsockopt", unix, L.SOL_SOCKET, S.SO_PASSPIDFD),
           0 if pidfd_known else E.ENOPROTOOPT,
           rule=S.GET_PASSPIDFD if pidfd_known else S.GET_UNKNOWN)
    expect(run.allowed("setsockopt", nl, L.SOL_SOCKET, S.SO_PASSPIDFD, 1),
           E.EOPNOTSUPP if restricted else (0 if pidfd_known else E.ENOPROTOOPT))
    expect(run.allowed("getsockopt", inet, L.SOL_SOCKET, S.SO_PASSPIDFD),
           E.EOPNOTSUPP if restricted else (0 if pidfd_known else E.ENOPROTOOPT))
    if restricted:
        assert {S.PASSPIDFD_RESTRICTED.name, S.GET_PASSPIDFD_RESTRICTED.name} <= REACHED


@pytest.mark.parametrize("caps", [(), ("CAP_NET_RAW",)])
def test_bindtodevice(caps):
    run = Run(caps=caps)
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, None, 0),
           rule=S.SET_BINDTODEVICE)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16), optlen=0,
           value=b"", rule=S.GET_BINDTODEVICE)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"sockspec-x"),
           E.ENODEV, rule=S.SET_BINDTODEVICE_ENODEV)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, FAULT, 4), E.EFAULT,
           rule=S.SET_BINDTODEVICE_FAULT)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo\0")
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16), optlen=3,
           value=b"lo\0")
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 15), E.EINVAL,
           rule=S.GET_BINDTODEVICE_SHORT, optlen=15)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16, FAULT), E.EFAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"", 0),
           0 if caps else E.EPERM, rule=None if caps else S.SET_BINDTODEVICE_EPERM)


# --------------------------------------------------------------------------- sk_getsockopt

def test_get_identity_and_truncation():
    run = Run()
    fd = run.sock(L.AF_INET6, L.SOCK_DGRAM)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE), value=i32(2), rule=S.GET_TYPE)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN), value=i32(10), rule=S.GET_DOMAIN)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_PROTOCOL), value=i32(17),
           rule=S.GET_PROTOCOL)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_ACCEPTCONN), value=i32(0),
           rule=S.GET_ACCEPTCONN)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_SNDLOWAT), value=i32(1),
           rule=S.GET_SNDLOWAT)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN, 2), value=b"\x0a\x00",
           optlen=2, rule=S.GET_TRUNCATED)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN, 0), value=b"", optlen=0)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN, 100), optlen=4)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN, 0, FAULT), optlen=0)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_DOMAIN, 4, FAULT), E.EFAULT,
           rule=S.GET_FAULT, optlen=4)


def test_get_length_then_option():
    run = Run()
    fd = run.sock(L.AF_UNIX)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, 1000, -1), E.EINVAL,
           rule=S.GET_OPTLEN_NEGATIVE, optlen=-1)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE, NULL), E.EFAULT,
           rule=S.GET_OPTLEN_FAULT)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, 1000), E.ENOPROTOOPT, rule=S.GET_UNKNOWN,
           optlen=4)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, -3), E.ENOPROTOOPT)


def test_so_error_is_read_once_even_on_fault():
    run = Run()
    fd = run.sock(L.AF_INET)
    run.obj(fd).so_error = E.ECONNREFUSED
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_ERROR), value=i32(E.ECONNREFUSED),
           rule=S.GET_ERROR)
    fault = run.play("getsockopt", fd, L.SOL_SOCKET, L.SO_ERROR, 4, FAULT)
    assert fault.errno == E.EFAULT and run.obj(fd).so_error == 0
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_ERROR), value=i32(0))
    run.obj(fd).so_error = E.ETIMEDOUT
    run.play("getsockopt", fd, L.SOL_SOCKET, L.SO_ERROR, 0)
    assert run.obj(fd).so_error == 0


# --------------------------------------------------------------------------- other levels

@pytest.mark.parametrize("family,type,protocol,set_err,get_err,rules", [
    (L.AF_INET, L.SOCK_STREAM, 0, E.ENOPROTOOPT, E.EOPNOTSUPP, (S.IP_SET_LEVEL, S.IP_GET_LEVEL)),
    (L.AF_INET, L.SOCK_RAW, L.IPPROTO_ICMP, E.ENOPROTOOPT, E.EOPNOTSUPP, (S.IP_SET_LEVEL,)),
    (L.AF_INET6, L.SOCK_DGRAM, 0, E.ENOPROTOOPT, E.ENOPROTOOPT, (S.IPV6_SET_LEVEL, S.IPV6_GET_LEVEL)),
    (L.AF_UNIX, L.SOCK_SEQPACKET, 0, E.EOPNOTSUPP, E.EOPNOTSUPP, (S.SET_NO_OPS, S.GET_NO_OPS)),
    (L.AF_NETLINK, L.SOCK_DGRAM, 0, E.ENOPROTOOPT, E.ENOPROTOOPT,
     (S.NETLINK_SET_LEVEL, S.NETLINK_GET_LEVEL)),
    (L.AF_PACKET, L.SOCK_RAW, 0, E.ENOPROTOOPT, E.ENOPROTOOPT,
     (S.PACKET_SET_LEVEL, S.PACKET_GET_LEVEL)),
    (L.AF_PACKET, L.SOCK_PACKET, 0, E.EOPNOTSUPP, E.EOPNOTSUPP, (S.SET_NO_OPS,)),
])
def test_unknown_level(family, type, protocol, set_err, get_err, rules):
    run = Run()
    fd = run.sock(family, type, protocol)
    s = expect(run.allowed("setsockopt", fd, 999, 1, 1, 0), set_err)
    g = expect(run.allowed("getsockopt", fd, 999, 1, -1), get_err, optlen=-1)
    assert {r.name for r in rules} <= {s.rule.name, g.rule.name}


def test_sol_ip_is_not_modelled_but_sol_udp_on_tcp_is_refused():
    run = Run()
    tcp, udp6 = run.sock(L.AF_INET), run.sock(L.AF_INET6, L.SOCK_DGRAM)
    expect(run.allowed("getsockopt", tcp, L.SOL_UDP, 1), E.EOPNOTSUPP)
    expect(run.allowed("getsockopt", udp6, L.SOL_TCP, L.TCP_INFO, 104), E.ENOPROTOOPT)
    with pytest.raises(Exception, match="level"):
        run.allowed("getsockopt", udp6, L.SOL_IP, 1)


# --------------------------------------------------------------------------- SOL_TCP

@pytest.mark.parametrize("version,size", [("6.1", 232), ("6.5", 240), ("6.12", 248), ("6.18", 280)])
def test_tcp_info_size_by_version(version, size):
    run = Run({"6.5": (6, 5, 0)}.get(version, version))
    fd = run.sock(L.AF_INET)
    out = expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_INFO, 512), optlen=size,
                 rule=T.TCP_INFO_STATE)
    assert out.out["value"].test(bytes([7]) + bytes(size - 1))
    assert not out.out["value"].test(bytes([1]) + bytes(size - 1))
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_INFO, 0), optlen=0)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_INFO, 512, FAULT), E.EFAULT,
           rule=T.GET_FAULT, optlen=size)


def test_tcp_info_of_a_listener():
    run = Run()
    fd = run.sock(L.AF_INET6)
    sk = run.obj(fd)
    sk.state, sk.sk_state, sk.backlog, sk.accept_queue = "listening", "LISTEN", 5, ["child"]
    out = expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_INFO, 104), optlen=104,
                 rule=T.TCP_INFO_LISTENER)
    info = bytearray(104)
    info[0] = 10
    struct.pack_into("=II", info, 24, 1, 5)
    assert out.out["value"].test(bytes(info))
    struct.pack_into("=II", info, 24, 0, 5)
    assert not out.out["value"].test(bytes(info))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_ACCEPTCONN), value=i32(1))


def test_tcp_ints():
    run = Run()
    fd = run.sock(L.AF_INET)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY), value=i32(0),
           rule=T.GET_NODELAY)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_MAXSEG, 2), value=i32(536)[:2],
           optlen=2, rule=T.GET_MAXSEG)
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, 9), rule=T.SET_NODELAY)
    run.play("setsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, 9)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY), value=i32(1), rule=T.GET_INT)
    for bad in (87, 32768, -1):
        expect(run.allowed("setsockopt", fd, L.SOL_TCP, L.TCP_MAXSEG, bad), E.EINVAL,
               rule=T.SET_MAXSEG_RANGE)
    run.play("setsockopt", fd, L.SOL_TCP, L.TCP_MAXSEG, 1000)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_MAXSEG), value=i32(1000))
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, L.TCP_MAXSEG, 0), rule=T.SET_MAXSEG)


def test_tcp_errors():
    run = Run()
    fd = run.sock(L.AF_INET6)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, -1), E.EINVAL,
           rule=T.GET_OPTLEN_NEGATIVE)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, FAULT), E.EFAULT,
           rule=T.GET_OPTLEN_FAULT)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, 1000), E.ENOPROTOOPT, rule=T.GET_UNKNOWN)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, 4, FAULT), E.EFAULT,
           rule=T.GET_FAULT, optlen=4)
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, 1, 3), E.EINVAL,
           rule=T.SET_OPTLEN_SHORT)
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, FAULT), E.EFAULT,
           rule=T.SET_FAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, 0, 1), E.ENOPROTOOPT, rule=T.SET_UNKNOWN)


# --------------------------------------------------------------------------- issue 16 options

def linger(onoff, secs):
    return struct.pack("=ii", onoff, secs)


def timeval(sec, usec):
    return struct.pack("=qq", sec, usec)


def test_linger_round_trip_and_lengths():
    run = Run()
    fd = run.sock(L.AF_INET)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, 8), value=linger(0, 0),
           optlen=8, rule=S.GET_LINGER)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(1, 0), 7), E.EINVAL,
           rule=S.SET_LINGER_SHORT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(1, 0), 3), E.EINVAL,
           rule=S.SET_OPTLEN_SHORT)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(7, 30))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, 8), value=linger(1, 30))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, 64), optlen=8)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, 4), value=i32(1), optlen=4,
           rule=S.GET_TRUNCATED)
    o = expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(0, 5) + b"xx"),
               rule=S.SET_LINGER)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(0, 5))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, 8), value=linger(0, 30))
    with pytest.raises(Exception, match="l_linger"):
        run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_LINGER, linger(1, -1))
    assert o.errno == 0


@pytest.mark.parametrize("name", [L.SO_RCVTIMEO_OLD, S.SO_RCVTIMEO_NEW, L.SO_SNDTIMEO_OLD,
                                  S.SO_SNDTIMEO_NEW])
def test_timeouts(name):
    run = Run()
    fd = run.sock(L.AF_UNIX, L.SOCK_DGRAM)
    new = name in (S.SO_RCVTIMEO_NEW, S.SO_SNDTIMEO_NEW)
    o = expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 16), value=timeval(0, 0),
               optlen=16, rule=S.GET_TIMEO)
    assert (S.TIMEO_NEW in o.also) == new
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(1, 0), 15), E.EINVAL,
           rule=S.SET_TIMEO_SHORT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(1, 0), 2), E.EINVAL,
           rule=S.SET_OPTLEN_SHORT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(1, 1_000_000)), E.EDOM,
           rule=S.SET_TIMEO_EDOM)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(-1, -1)), E.EDOM)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, FAULT, 16), E.EFAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(2, 500_000) + bytes(8)),
           rule=S.SET_TIMEO)
    run.play("setsockopt", fd, L.SOL_SOCKET, name, timeval(2, 500_000) + bytes(8))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 16), value=timeval(2, 500_000))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 8), value=timeval(2, 0)[:8],
           optlen=8)
    expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(-5, 0)),
           rule=S.SET_TIMEO_NEGATIVE)
    run.play("setsockopt", fd, L.SOL_SOCKET, name, timeval(-5, 0))
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 16), value=timeval(0, 0))
    run.play("setsockopt", fd, L.SOL_SOCKET, name, timeval(0, 10_000))
    with pytest.raises(Exception, match="ticks"):
        run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 16)
    run.play("setsockopt", fd, L.SOL_SOCKET, name, timeval(0, 0))
    assert "SO_RCVTIMEO" not in run.obj(fd).opts and "SO_SNDTIMEO" not in run.obj(fd).opts


def test_new_timeouts_only_since_5_1():
    """Before 5.1 options 66 and 67 have no case in sock_setsockopt()/sock_getsockopt():
    ENOPROTOOPT both ways, *optlen left alone."""
    assert not Run((5, 0, 0)).m.holds(S.TIMEO_NEW) and Run("5.10").m.holds(S.TIMEO_NEW)
    run = Run((5, 0, 0))
    fd = run.sock(L.AF_INET)
    for name in (S.SO_RCVTIMEO_NEW, S.SO_SNDTIMEO_NEW):
        expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, name, timeval(1, 0)), E.ENOPROTOOPT,
               rule=S.SET_UNKNOWN)
        expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, name, 16), E.ENOPROTOOPT,
               rule=S.GET_UNKNOWN, optlen=16)


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_UNIX])
def test_rcvlowat(family):
    run = Run()
    fd = run.sock(family)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_RCVLOWAT), value=i32(1),
           rule=S.GET_RCVLOWAT)
    rule_ = S.SET_RCVLOWAT_TCP if family == L.AF_INET else S.SET_RCVLOWAT
    for val, stored in ((10, 10), (0, 1), (-1, 3145728 if family == L.AF_INET else S.INT_MAX)):
        expect(run.allowed("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVLOWAT, val), rule=rule_)
        run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_RCVLOWAT, val)
        expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_RCVLOWAT), value=i32(stored))
    if family == L.AF_INET:
        with pytest.raises(Exception, match="tcp_set_rcvlowat"):
            run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_RCVBUF)
        locked = run.sock(family)
        run.play("setsockopt", locked, L.SOL_SOCKET, L.SO_RCVBUF, 5000)
        run.play("setsockopt", locked, L.SOL_SOCKET, L.SO_RCVLOWAT, 10**6)
        expect(run.allowed("getsockopt", locked, L.SOL_SOCKET, L.SO_RCVLOWAT), value=i32(5000))
        expect(run.allowed("getsockopt", locked, L.SOL_SOCKET, L.SO_RCVBUF), value=i32(10000))


def test_peercred_peersec_peerpidfd():
    run = Run()
    tcp, udp = run.sock(L.AF_INET), run.sock(L.AF_INET6, L.SOCK_DGRAM)
    none = struct.pack("=iii", 0, -1, -1)
    expect(run.allowed("getsockopt", tcp, L.SOL_SOCKET, L.SO_PEERCRED, 12), value=none,
           optlen=12, rule=S.GET_PEERCRED_NONE)
    expect(run.allowed("getsockopt", udp, L.SOL_SOCKET, L.SO_PEERCRED, 100), optlen=12)
    expect(run.allowed("getsockopt", udp, L.SOL_SOCKET, L.SO_PEERCRED, 4), value=i32(0), optlen=4)
    expect(run.allowed("getsockopt", tcp, L.SOL_SOCKET, S.SO_PEERSEC, 64), E.ENOPROTOOPT,
           rule=S.GET_PEERSEC_NONE, optlen=64)
    expect(run.allowed("getsockopt", tcp, L.SOL_SOCKET, S.SO_PEERPIDFD), E.ENODATA,
           rule=S.GET_PEERPIDFD_NONE)
    expect(run.allowed("setsockopt", tcp, L.SOL_SOCKET, L.SO_PEERCRED, 1), E.ENOPROTOOPT,
           rule=S.SET_UNKNOWN)
    pair = run.play("socketpair", L.AF_UNIX, L.SOCK_STREAM, 0).out["fds"].value
    me = struct.pack("=iII", *S.current_ucred(run.m))
    expect(run.allowed("getsockopt", pair[0], L.SOL_SOCKET, L.SO_PEERCRED, 12), value=me,
           rule=S.GET_PEERCRED)
    expect(run.allowed("getsockopt", pair[1], L.SOL_SOCKET, S.SO_PEERSEC, 64), E.ENOPROTOOPT)
    with pytest.raises(Exception, match="pidfd"):
        run.allowed("getsockopt", pair[1], L.SOL_SOCKET, S.SO_PEERPIDFD)
    old = Run("6.1")
    fd = old.sock(L.AF_INET)
    expect(old.allowed("getsockopt", fd, L.SOL_SOCKET, S.SO_PEERPIDFD), E.ENOPROTOOPT,
           rule=S.GET_UNKNOWN)


@pytest.mark.parametrize("selinux", [True, False, None])
def test_peersec_with_selinux(selinux):
    import dataclasses
    run = Run()
    run.m.profile = dataclasses.replace(run.m.profile, markers={"lsm.selinux": {
        "value": selinux, "source": "test securityfs", "known": selinux is not None}})
    tcp, udp, unix = run.sock(L.AF_INET), run.sock(L.AF_INET, L.SOCK_DGRAM), run.sock(L.AF_UNIX)
    dgram = run.sock(L.AF_UNIX, L.SOCK_DGRAM)
    for fd in (tcp, unix):
        out = run.allowed("getsockopt", fd, L.SOL_SOCKET, S.SO_PEERSEC, 64)
        if selinux:
            REACHED.update(rules_of(out))
            assert {o.errno for o in out} == {0, E.ERANGE}
            assert {o.rule for o in out} == {S.GET_PEERSEC_SELINUX}
            ok, erange = sorted(out, key=lambda o: o.errno)
            assert 10 in ok.out["optlen"] and 65 not in ok.out["optlen"]
            assert 65 in erange.out["optlen"] and 64 not in erange.out["optlen"]
            short = run.allowed("getsockopt", fd, L.SOL_SOCKET, S.SO_PEERSEC, 0)
            assert [o.errno for o in short] == [E.ERANGE]
        else:
            expect(out, E.ENOPROTOOPT, rule=S.GET_PEERSEC_NONE)
    for fd in (udp, dgram):
        expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, S.SO_PEERSEC, 64), E.ENOPROTOOPT,
               rule=S.GET_PEERSEC_NONE)


def test_tcp_cork():
    run = Run()
    fd = run.sock(L.AF_INET6)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, T.TCP_CORK), value=i32(0), rule=T.GET_CORK)
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, T.TCP_CORK, 5), rule=T.SET_CORK)
    run.play("setsockopt", fd, L.SOL_TCP, T.TCP_CORK, 5)
    run.play("setsockopt", fd, L.SOL_TCP, L.TCP_NODELAY, 1)
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, T.TCP_CORK), value=i32(1))
    expect(run.allowed("getsockopt", fd, L.SOL_TCP, L.TCP_NODELAY), value=i32(1))
    expect(run.allowed("setsockopt", fd, L.SOL_TCP, T.TCP_CORK, 1, 3), E.EINVAL)


@pytest.mark.parametrize("type_", [L.SOCK_STREAM, L.SOCK_DGRAM])
def test_ip_tos(type_):
    run = Run()
    fd = run.sock(L.AF_INET, type_)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS), value=i32(0), optlen=4,
           rule=S.GET_TOS)
    expect(run.allowed("setsockopt", fd, L.SOL_IP, S.IP_TOS, 0x1ff), rule=S.SET_TOS)
    run.play("setsockopt", fd, L.SOL_IP, S.IP_TOS, 0x1ff)
    tos = 0xFC if type_ == L.SOCK_STREAM else 0xFF
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS), value=i32(tos))
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS, 3), value=bytes([tos]), optlen=1)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS, 0), value=b"", optlen=0)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS, -1), E.EINVAL,
           rule=S.GET_IP_OPTLEN_NEGATIVE, optlen=-1)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS, FAULT), E.EFAULT, rule=S.GET_IP_FAULT)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS, 4, FAULT), E.EFAULT, optlen=4)
    with pytest.raises(Exception, match="rt_tos2priority"):
        run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY)
    run.play("setsockopt", fd, L.SOL_IP, S.IP_TOS, b"\x10\x20", 1)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS), value=i32(0x10))
    run.play("setsockopt", fd, L.SOL_IP, S.IP_TOS, None, 0)
    expect(run.allowed("getsockopt", fd, L.SOL_IP, S.IP_TOS), value=i32(0))
    expect(run.allowed("setsockopt", fd, L.SOL_IP, S.IP_TOS, FAULT, 2), E.EFAULT,
           rule=S.SET_IP_FAULT)
    run.play("setsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY, 3)
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_PRIORITY), value=i32(3))


def test_ipv6_v6only():
    run = Run()
    fd = run.sock(L.AF_INET6, L.SOCK_DGRAM)
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY), value=i32(0), optlen=4,
           rule=S.GET_V6ONLY)
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, -1), optlen=4)
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 2), optlen=2, value=b"\0\0")
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, FAULT), E.EFAULT,
           rule=S.GET_IPV6_FAULT)
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 4, FAULT), E.EFAULT, optlen=4)
    expect(run.allowed("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 1, 3), E.EINVAL,
           rule=S.SET_V6ONLY_EINVAL)
    expect(run.allowed("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, FAULT, 4), E.EFAULT,
           rule=S.SET_IPV6_FAULT)
    expect(run.allowed("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, None, 4), rule=S.SET_V6ONLY)
    run.play("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 3)
    expect(run.allowed("getsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY), value=i32(1))
    # inet_num, not the address getsockname shows: a refused connection gave its port back
    run.obj(fd).local = "[::1]:40000"
    expect(run.allowed("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 0), rule=S.SET_V6ONLY)
    run.obj(fd).bound = True
    expect(run.allowed("setsockopt", fd, L.SOL_IPV6, L.IPV6_V6ONLY, 0), E.EINVAL,
           rule=S.SET_V6ONLY_EINVAL)
    raw = run.sock(L.AF_INET6, L.SOCK_RAW, L.IPPROTO_ICMPV6)    # inet_num = protocol
    expect(run.allowed("setsockopt", raw, L.SOL_IPV6, L.IPV6_V6ONLY, 1), E.EINVAL,
           rule=S.SET_V6ONLY_EINVAL)


@pytest.mark.parametrize("kind", ["tcp", "udp", "unix"])
def test_receive_timeout(kind):
    """A blocking receive with SO_RCVTIMEO answers EAGAIN, and may take the timeout to."""
    from harness.model import socket as K
    from test_model_data import Data
    d = Data()
    a, b = {"tcp": d.tcp, "udp": d.udp, "unix": d.pair}[kind]()
    d.call("setsockopt", b, L.SOL_SOCKET, L.SO_RCVTIMEO_OLD, timeval(0, 60_000))
    o = d.fails(E.EAGAIN, K.RECV_TIMEOUT, "recvfrom", b, 10)
    assert o.waits is not None and o.waits >= 0.06
    d.call("sendto", a, b"hi", 0)
    d.ok(None, "recvfrom", b, 10)
    d.call("setsockopt", b, L.SOL_SOCKET, S.SO_RCVTIMEO_NEW, timeval(-1, 0))
    o = d.fails(E.EAGAIN, K.RECV_TIMEOUT, "recvmsg", b, [10])
    assert o.waits is not None
    for fd in (a, b):
        d.call("close", fd)


def test_zero_linger_close_resets():
    from harness.model import af_inet
    from test_model_data import Data
    d = Data()
    c, a = d.tcp()
    d.call("setsockopt", c, L.SOL_SOCKET, L.SO_LINGER, linger(1, 0))
    d.ok(af_inet.CLOSE_LINGER_RESET, "close", c)
    assert d.obj(a).so_error == E.ECONNRESET
    d.call("close", a)
    c, a = d.tcp()
    d.call("setsockopt", c, L.SOL_SOCKET, L.SO_LINGER, linger(1, 5))
    with pytest.raises(Exception, match="SO_LINGER with a time"):
        d.call("close", c)


# --------------------------------------------------------------------------- coverage

def test_read_only_optlen():
    """sk_getsockopt() writes the value, then *optlen: a read-only *optlen faults after the
    value was written; a guard buffer one byte short of the int faults on the read."""
    run = Run()
    fd = run.sock()
    ro = Ptr(0x7000_0000 - 4, "read-only guard", span=4, writable=False, data=i32(4))
    o = expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE, ro), E.EFAULT,
               rule=S.GET_OPTLEN_WRITE_FAULT)
    assert o.out["optval_written"].value is True
    short = Ptr(0x7000_0000 - 3, "guard", span=3, data=i32(4)[:3])
    expect(run.allowed("getsockopt", fd, L.SOL_SOCKET, L.SO_TYPE, short), E.EFAULT,
           rule=S.GET_OPTLEN_FAULT)


def test_every_rule_is_reached():
    """Run every scenario above and check each rule of sock.py and tcp.py was reached."""
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_") or name == "test_every_rule_is_reached":
            continue
        marks = getattr(fn, "pytestmark", [])
        params = next((m for m in marks if m.name == "parametrize"), None)
        if params is None:
            fn()
            continue
        argnames = [a.strip() for a in params.args[0].split(",")]
        for values in params.args[1]:
            values = values if len(argnames) > 1 else (values,)
            fn(**dict(zip(argnames, values)))
    defined = {v.name for mod in (S, T) for v in vars(mod).values() if isinstance(v, Rule)
               and not v.name.startswith(("send.", "recv."))}        # tcp.py's data path: test_model_data
    defined |= {r.name for _, r in T.TCP_INFO_SIZES}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"
