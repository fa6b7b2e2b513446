"""socket(2): every row is one call, checked against the model; the rule that answers is in
the report. The rows are the ERRORS section of socket(2) and the creation paths of each family."""
from __future__ import annotations

import pytest

from harness.abi import linux as L

from .kinds import CREATABLE, ids
from .privilege import SIDES, run_as

AF_MAX_PLACEHOLDER = "AF_MAX"   # resolved from the profile: AF_MAX differs between kernels

# (id, family, type, protocol)
CASES = [
    # __sys_socket: flag bits
    ("type-flag-0x100", L.AF_INET, L.SOCK_STREAM | 0x100, 0),
    ("type-flag-0x10", L.AF_INET, L.SOCK_STREAM | 0x10, 0),
    ("type-flag-high-bit", L.AF_UNIX, L.SOCK_DGRAM | 0x40000000, 0),
    ("type-negative", L.AF_INET, -1, 0),
    ("type-flag-o-append", L.AF_UNIX, L.SOCK_STREAM | 0o2000, 0),
    ("type-flag-bad-family", 9999, L.SOCK_STREAM | 0x100, 0),
    # __sock_create: ranges, checked family first
    ("family-af-max", AF_MAX_PLACEHOLDER, L.SOCK_STREAM, 0),
    ("family-255", 255, L.SOCK_STREAM, 0),
    ("family-negative", -1, L.SOCK_STREAM, 0),
    ("family-int-max", 0x7FFFFFFF, L.SOCK_DGRAM, 0),
    ("family-out-and-type-out", 255, L.SOCK_MAX, 0),
    ("type-sock-max", L.AF_INET, L.SOCK_MAX, 0),
    ("type-15", L.AF_UNIX, 15, 0),
    ("type-0-inet", L.AF_INET, 0, 0),
    ("type-0-unix", L.AF_UNIX, 0, 0),
    # families nothing registers
    ("family-unspec", L.AF_UNSPEC, L.SOCK_STREAM, 0),
    ("family-netbeui", L.AF_NETBEUI, L.SOCK_DGRAM, 0),
    ("family-security", L.AF_SECURITY, L.SOCK_DGRAM, 0),
    ("family-ash", L.AF_ASH, L.SOCK_DGRAM, 0),
    ("family-decnet", L.AF_DECnet, L.SOCK_SEQPACKET, 0),
    # inet_create: the protosw walk
    ("inet-stream-0", L.AF_INET, L.SOCK_STREAM, 0),
    ("inet-stream-tcp", L.AF_INET, L.SOCK_STREAM, L.IPPROTO_TCP),
    ("inet-stream-udp", L.AF_INET, L.SOCK_STREAM, L.IPPROTO_UDP),
    ("inet-stream-icmp", L.AF_INET, L.SOCK_STREAM, L.IPPROTO_ICMP),
    ("inet-dgram-0", L.AF_INET, L.SOCK_DGRAM, 0),
    ("inet-dgram-udp", L.AF_INET, L.SOCK_DGRAM, L.IPPROTO_UDP),
    ("inet-dgram-tcp", L.AF_INET, L.SOCK_DGRAM, L.IPPROTO_TCP),
    ("inet-dgram-icmp-ping", L.AF_INET, L.SOCK_DGRAM, L.IPPROTO_ICMP),
    ("inet-raw-0", L.AF_INET, L.SOCK_RAW, 0),
    ("inet-rdm", L.AF_INET, L.SOCK_RDM, 0),
    ("inet-protocol-negative", L.AF_INET, L.SOCK_STREAM, -1),
    ("inet-protocol-ipproto-max", L.AF_INET, L.SOCK_STREAM, 263),
    ("inet-protocol-1000", L.AF_INET, L.SOCK_DGRAM, 1000),
    ("inet-protocol-255-stream", L.AF_INET, L.SOCK_STREAM, L.IPPROTO_RAW),
    # inet6_create
    ("inet6-stream-0", L.AF_INET6, L.SOCK_STREAM, 0),
    ("inet6-stream-tcp", L.AF_INET6, L.SOCK_STREAM, L.IPPROTO_TCP),
    ("inet6-stream-udp", L.AF_INET6, L.SOCK_STREAM, L.IPPROTO_UDP),
    ("inet6-dgram-0", L.AF_INET6, L.SOCK_DGRAM, 0),
    ("inet6-dgram-udp", L.AF_INET6, L.SOCK_DGRAM, L.IPPROTO_UDP),
    ("inet6-dgram-icmpv6-ping", L.AF_INET6, L.SOCK_DGRAM, L.IPPROTO_ICMPV6),
    ("inet6-raw-0", L.AF_INET6, L.SOCK_RAW, 0),
    ("inet6-rdm", L.AF_INET6, L.SOCK_RDM, 0),
    ("inet6-protocol-negative", L.AF_INET6, L.SOCK_DGRAM, -5),
    ("inet6-protocol-ipproto-max", L.AF_INET6, L.SOCK_DGRAM, 263),
    ("inet6-sock-packet", L.AF_INET6, L.SOCK_PACKET, 0),
    # unix_create
    ("unix-stream-0", L.AF_UNIX, L.SOCK_STREAM, 0),
    ("unix-stream-pf-unix", L.AF_UNIX, L.SOCK_STREAM, L.AF_UNIX),
    ("unix-stream-2", L.AF_UNIX, L.SOCK_STREAM, 2),
    ("unix-dgram-0", L.AF_UNIX, L.SOCK_DGRAM, 0),
    ("unix-seqpacket-0", L.AF_UNIX, L.SOCK_SEQPACKET, 0),
    ("unix-raw-is-dgram", L.AF_UNIX, L.SOCK_RAW, 0),
    ("unix-raw-pf-unix", L.AF_UNIX, L.SOCK_RAW, L.AF_UNIX),
    ("unix-rdm", L.AF_UNIX, L.SOCK_RDM, 0),
    ("unix-packet", L.AF_UNIX, L.SOCK_PACKET, 0),
    ("unix-dgram-protocol-negative", L.AF_UNIX, L.SOCK_DGRAM, -1),
    # netlink_create
    ("netlink-raw-route", L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_ROUTE),
    ("netlink-dgram-route", L.AF_NETLINK, L.SOCK_DGRAM, L.NETLINK_ROUTE),
    ("netlink-raw-usersock", L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_USERSOCK),
    ("netlink-stream", L.AF_NETLINK, L.SOCK_STREAM, 0),
    ("netlink-seqpacket", L.AF_NETLINK, L.SOCK_SEQPACKET, 0),
    ("netlink-raw-protocol-1", L.AF_NETLINK, L.SOCK_RAW, 1),
    ("netlink-raw-protocol-max-links", L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_MAX_LINKS),
    ("netlink-raw-protocol-negative", L.AF_NETLINK, L.SOCK_RAW, -1),
]

# Rows whose answer depends on CAP_NET_RAW: each runs on both sides of the capability.
PRIVILEGED_CASES = [
    ("sock-packet-remap", L.AF_INET, L.SOCK_PACKET, 0),
    ("sock-packet-remap-eth-p-all", L.AF_INET, L.SOCK_PACKET, 0x0300),
    ("inet-raw-icmp", L.AF_INET, L.SOCK_RAW, L.IPPROTO_ICMP),
    ("inet-raw-ipproto-raw", L.AF_INET, L.SOCK_RAW, L.IPPROTO_RAW),
    ("inet-raw-udp", L.AF_INET, L.SOCK_RAW, L.IPPROTO_UDP),
    ("inet6-raw-icmpv6", L.AF_INET6, L.SOCK_RAW, L.IPPROTO_ICMPV6),
    ("packet-raw", L.AF_PACKET, L.SOCK_RAW, 0),
    ("packet-dgram-eth-p-ip", L.AF_PACKET, L.SOCK_DGRAM, 0x0008),
    ("packet-packet", L.AF_PACKET, L.SOCK_PACKET, 0),
    ("packet-stream", L.AF_PACKET, L.SOCK_STREAM, 0),
    ("packet-protocol-wide", L.AF_PACKET, L.SOCK_RAW, 0x10300),
]


def create_and_close(sc, family, type_, protocol):
    r = sc.socket(family, type_, protocol)
    if r.ok:
        sc.close(r.ret)


@pytest.mark.parametrize("family,type_,protocol", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_socket(sc, profile, family, type_, protocol):
    if family == AF_MAX_PLACEHOLDER:
        family = profile.af_max
    create_and_close(sc, family, type_, protocol)


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("family,type_,protocol", [c[1:] for c in PRIVILEGED_CASES],
                         ids=[c[0] for c in PRIVILEGED_CASES])
def test_socket_needs_cap_net_raw(sc, side, family, type_, protocol):
    run_as(sc, side, "CAP_NET_RAW", lambda s: create_and_close(s, family, type_, protocol))


FLAGS = [("nonblock", L.SOCK_NONBLOCK), ("cloexec", L.SOCK_CLOEXEC),
         ("nonblock-cloexec", L.SOCK_NONBLOCK | L.SOCK_CLOEXEC)]


@pytest.mark.parametrize("flags", [f[1] for f in FLAGS], ids=[f[0] for f in FLAGS])
@pytest.mark.parametrize("kind", CREATABLE, ids=ids(CREATABLE))
def test_socket_flags(sc, kind, flags):
    """SOCK_NONBLOCK and SOCK_CLOEXEC land on the new descriptor (O_NONBLOCK, FD_CLOEXEC)."""
    create_and_close(sc, kind.family, kind.type | flags, 0)


def test_socket_lowest_free_fd_reuse(sc):
    """A freed descriptor number is the next one handed out (fd.lowest_free)."""
    fds = [sc.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret for _ in range(3)]
    sc.close(fds[1])
    again = sc.socket(L.AF_INET, L.SOCK_DGRAM, 0).ret
    sc.close(fds[0])
    sc.close(again)
    sc.close(fds[2])


def test_socket_emfile(sc):
    """With RLIMIT_NOFILE at the next free fd, socket() fails with EMFILE; family errors come
    before it (sock_map_fd runs last)."""
    limit = sc.m.fds.lowest_free() + 1

    def body(s):
        first = s.socket(L.AF_UNIX, L.SOCK_STREAM, 0)
        s.socket(L.AF_UNIX, L.SOCK_STREAM, 0)           # EMFILE
        s.socket(255, L.SOCK_STREAM, 0)                  # EAFNOSUPPORT, not EMFILE
        s.socket(L.AF_INET, L.SOCK_STREAM | 0x100, 0)   # EINVAL, not EMFILE
        s.close(first.ret)
        s.socket(L.AF_UNIX, L.SOCK_DGRAM, 0)
    sc.in_child(body, rlimit_nofile=limit)
