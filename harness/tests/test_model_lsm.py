"""Model-only scenarios for kernels that differ by what they are rather than by release: SELinux
among the running security modules (harness/model/lsm.py) and a kernel without CONFIG_COMPAT
(MSG_CMSG_COMPAT is 0 there). The marker readings are hand-made; no syscall is issued."""
from __future__ import annotations

import dataclasses
import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrIn6, SockaddrRaw
from harness.model import lsm
from harness.model.socket import CMSG_COMPAT_NATIVE, MSG_CMSG_COMPAT

from model_profile import Run

SELINUX = {"lsm.selinux": {"value": True, "source": "test securityfs", "known": True}}
NO_SELINUX = {"lsm.selinux": {"value": False, "source": "test securityfs", "known": True}}
UNKNOWN = {"lsm.selinux": {"value": None, "source": "no securityfs", "known": False}}
NO_COMPAT = {"CONFIG_COMPAT": {"value": None, "source": "test config", "known": True}}


def run(markers: dict) -> Run:
    r = Run("7.2")
    r.m.profile = dataclasses.replace(r.m.profile, markers=markers)
    return r


def answer(r: Run, name, *args):
    """(errno, rule names) of the single outcome the model allows."""
    out = r.allowed(name, *args)
    assert len(out) == 1, out
    return out[0].errno, {x.name for x in out[0].rules}


def sock(r: Run, family, type_, proto=0) -> int:
    ret = r.play("socket", family, type_, proto).ret
    return getattr(ret, "value", ret)


INET6_AS_IN = SockaddrIn(0, "127.0.0.1", family=L.AF_INET6)       # 16 bytes of family AF_INET6


@pytest.mark.parametrize("type_, proto", [(L.SOCK_STREAM, 0), (L.SOCK_DGRAM, 0),
                                          (L.SOCK_RAW, L.IPPROTO_RAW)])
def test_selinux_bind_checks_the_address_first(type_, proto):
    """An AF_INET6 sockaddr of 16 bytes on an AF_INET socket: the protocol alone answers
    EAFNOSUPPORT (raw: binds, no family check), SELinux's hook EINVAL before it."""
    plain, sel = run(NO_SELINUX), run(SELINUX)
    fd_plain, fd_sel = sock(plain, L.AF_INET, type_, proto), sock(sel, L.AF_INET, type_, proto)
    errno, rules = answer(sel, "bind", fd_sel, INET6_AS_IN, 16)
    assert errno == E.EINVAL and lsm.SELINUX_BIND_ADDR.name in rules
    errno, rules = answer(plain, "bind", fd_plain, INET6_AS_IN, 16)
    assert lsm.SELINUX_BIND_ADDR.name not in rules
    assert errno == (0 if type_ == L.SOCK_RAW else E.EAFNOSUPPORT)


def test_selinux_bind_family_cases():
    r = run(SELINUX)
    fd4 = sock(r, L.AF_INET, L.SOCK_DGRAM)
    fd6 = sock(r, L.AF_INET6, L.SOCK_DGRAM)
    unix = SockaddrRaw(b"\x01\x00abcd")
    # the protocol would say EINVAL (shorter than sockaddr_in); SELinux looks at the family first
    assert answer(r, "bind", fd4, unix, 6) == (E.EAFNOSUPPORT, {lsm.SELINUX_BIND_ADDR.name})
    plain = run(NO_SELINUX)
    assert answer(plain, "bind", sock(plain, L.AF_INET, L.SOCK_DGRAM), unix, 6)[0] == E.EINVAL
    assert answer(r, "bind", fd4, SockaddrRaw(b"\x01"), 1)[0] == E.EINVAL
    assert answer(r, "bind", fd4, SockaddrRaw(b"\x01\x00" + b"x" * 14), 16)[0] == E.EAFNOSUPPORT
    unspec_any = SockaddrIn(0, "0.0.0.0", family=L.AF_UNSPEC)
    unspec_lo = SockaddrIn(0, "127.0.0.1", family=L.AF_UNSPEC)
    assert answer(r, "bind", fd4, unspec_lo, 16) == (E.EAFNOSUPPORT, {lsm.SELINUX_BIND_ADDR.name})
    assert lsm.SELINUX_BIND_ADDR.name not in answer(r, "bind", fd4, unspec_any, 16)[1]
    assert answer(r, "bind", fd6, unspec_any, 16) == (E.EINVAL, {lsm.SELINUX_BIND_ADDR.name})
    assert answer(r, "bind", fd6, SockaddrRaw(bytes(28)), 28) == (E.EAFNOSUPPORT, {lsm.SELINUX_BIND_ADDR.name})
    assert answer(r, "bind", fd6, SockaddrIn6(0, "::1"), 20) == (E.EINVAL, {lsm.SELINUX_BIND_ADDR.name})
    # unix sockets are not the hook's business
    u = sock(r, L.AF_UNIX, L.SOCK_DGRAM)
    assert lsm.SELINUX_BIND_ADDR.name not in answer(r, "bind", u, SockaddrRaw(b"\x02\x00"), 2)[1]


def test_selinux_connect_checks_tcp_sockets_only():
    r = run(SELINUX)
    tcp = sock(r, L.AF_INET, L.SOCK_STREAM)
    udp = sock(r, L.AF_INET, L.SOCK_DGRAM)
    assert answer(r, "connect", tcp, INET6_AS_IN, 16) == (E.EINVAL, {lsm.SELINUX_CONNECT_ADDR.name})
    assert answer(r, "connect", tcp, SockaddrRaw(b"\x01\x00" + bytes(14)), 16) == \
        (E.EAFNOSUPPORT, {lsm.SELINUX_CONNECT_ADDR.name})
    assert answer(r, "connect", udp, SockaddrRaw(b"\x01"), 1) == (E.EINVAL, {lsm.SELINUX_CONNECT_ADDR.name})
    assert lsm.SELINUX_CONNECT_ADDR.name not in answer(r, "connect", udp, INET6_AS_IN, 16)[1]
    plain = run(NO_SELINUX)
    tcp = sock(plain, L.AF_INET, L.SOCK_STREAM)
    assert answer(plain, "connect", tcp, INET6_AS_IN, 16)[0] == E.EAFNOSUPPORT


def test_unknown_selinux_is_taken_as_absent():
    assert not lsm.SELINUX_BIND_ADDR.holds((7, 2, 13), UNKNOWN)
    assert "unknown, taken as absent" in lsm.SELINUX_BIND_ADDR.basis((7, 2, 13), UNKNOWN)
    assert lsm.SELINUX_BIND_ADDR.holds((5, 10, 0), SELINUX)


def test_without_config_compat_the_flag_is_unknown():
    """MSG_CMSG_COMPAT is 0 without CONFIG_COMPAT: the native calls take the bit as an
    ordinary flag (UML); with the option, or where the config is unknown, EINVAL."""
    for markers, refused in ((NO_COMPAT, False), ({}, True)):
        r = run(markers)
        a, _ = r.play("socketpair", L.AF_UNIX, L.SOCK_DGRAM, 0).out["fds"].value
        errno, rules = answer(r, "sendmsg", a, [b"x"], MSG_CMSG_COMPAT)
        assert (errno == E.EINVAL) == refused
        assert (CMSG_COMPAT_NATIVE.name in rules) == refused
