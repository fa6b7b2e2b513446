"""socketpair(2): AF_UNIX pairs of every type with the type flags on both descriptors, the
other families' refusals, and net/socket.c's order -- both descriptors are reserved and their
numbers written to sv[] before the sockets are created, so EMFILE comes first, then EFAULT
(even for a family that would refuse), and nothing is installed on any failure."""
from __future__ import annotations

import struct

import pytest

from harness.abi import linux as L
from harness.mem import NULL, Buffer, Ptr

from .endpoints import row
from .privilege import SIDES, run_as

TYPES = [("stream", L.SOCK_STREAM), ("dgram", L.SOCK_DGRAM), ("seqpacket", L.SOCK_SEQPACKET),
         ("raw-is-dgram", L.SOCK_RAW)]
FLAGS = [("none", 0), ("nonblock", L.SOCK_NONBLOCK), ("cloexec", L.SOCK_CLOEXEC),
         ("nonblock-cloexec", L.SOCK_NONBLOCK | L.SOCK_CLOEXEC)]




def pair_and_close(s, family, type_, protocol=0, **kwargs):
    r = s.socketpair(family, type_, protocol, **kwargs)
    if r.ok:
        for fd in r.out["fds"]:
            s.close(fd)
    return r


@pytest.mark.parametrize("type_", [t[1] for t in TYPES], ids=[t[0] for t in TYPES])
def test_unix_pair(sc, type_):
    """Both ends exist, are connected, and carry the flags (O_NONBLOCK, FD_CLOEXEC) given;
    protocol PF_UNIX is accepted like 0."""
    for label, flags in FLAGS:
        with row(label):
            pair_and_close(sc, L.AF_UNIX, type_ | flags)
    with row("protocol-pf-unix"):
        pair_and_close(sc, L.AF_UNIX, type_ | L.SOCK_CLOEXEC, L.AF_UNIX)


def test_pair_ends_are_separate_sockets(sc):
    """Two sockets, two inodes; options set on one end stay there."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).out["fds"]
    sc.setsockopt(a, L.SOL_SOCKET, L.SO_SNDBUF, 10000)
    sc.getsockopt(b, L.SOL_SOCKET, L.SO_SNDBUF)
    sc.getsockopt(a, L.SOL_SOCKET, L.SO_SNDBUF)
    sc.close(a)
    sc.getsockopt(b, L.SOL_SOCKET, L.SO_TYPE)
    sc.close(b)


AF_MAX = "AF_MAX"
ERRORS = [
    ("inet-stream", L.AF_INET, L.SOCK_STREAM, 0),
    ("inet-dgram", L.AF_INET, L.SOCK_DGRAM, 0),
    ("inet6-stream", L.AF_INET6, L.SOCK_STREAM, 0),
    ("inet6-dgram-udp", L.AF_INET6, L.SOCK_DGRAM, L.IPPROTO_UDP),
    ("netlink-route", L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_ROUTE),
    ("netlink-dgram", L.AF_NETLINK, L.SOCK_DGRAM, L.NETLINK_ROUTE),
    ("inet-seqpacket", L.AF_INET, L.SOCK_SEQPACKET, 0),
    ("inet-stream-udp", L.AF_INET, L.SOCK_STREAM, L.IPPROTO_UDP),
    ("unix-rdm", L.AF_UNIX, L.SOCK_RDM, 0),
    ("unix-protocol-2", L.AF_UNIX, L.SOCK_STREAM, 2),
    ("unix-type-flag-0x100", L.AF_UNIX, L.SOCK_STREAM | 0x100, 0),
    ("unix-type-11", L.AF_UNIX, 11, 0),
    ("family-255", 255, L.SOCK_STREAM, 0),
    ("family-negative", -1, L.SOCK_DGRAM, 0),
    ("family-af-max", AF_MAX, L.SOCK_DGRAM, 0),
    ("family-unspec", L.AF_UNSPEC, L.SOCK_STREAM, 0),
]


def resolve_family(profile, family):
    return profile.af_max if family == AF_MAX else family


@pytest.mark.parametrize("sv", ["buffer", "fault"])
def test_refusals(sc, profile, sv):
    """Every family but AF_UNIX refuses (EOPNOTSUPP after creating both sockets; creation
    errors first). With sv unwritable, EFAULT wins over all of them but the type flags; no
    descriptor is left behind either way."""
    for label, family, type_, protocol in ERRORS:
        with row(label):
            kwargs = {"sv": sc.fault()} if sv == "fault" else {}
            pair_and_close(sc, resolve_family(profile, family), type_, protocol, **kwargs)
    sc.close(sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret)     # the lowest fd


PRIVILEGED = [
    ("inet-raw-icmp", L.AF_INET, L.SOCK_RAW, L.IPPROTO_ICMP),
    ("inet6-raw-icmpv6", L.AF_INET6, L.SOCK_RAW, L.IPPROTO_ICMPV6),
    ("packet-raw", L.AF_PACKET, L.SOCK_RAW, 0),
    ("packet-dgram", L.AF_PACKET, L.SOCK_DGRAM, 0),
    ("inet-sock-packet-remap", L.AF_INET, L.SOCK_PACKET, 0),
]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_refusals_needing_cap_net_raw(sc, side):
    """Raw and packet sockets: EPERM without CAP_NET_RAW, EOPNOTSUPP with it; EFAULT before
    either."""
    def body(s):
        for label, family, type_, protocol in PRIVILEGED:
            with row(label):
                pair_and_close(s, family, type_, protocol)
                pair_and_close(s, family, type_, protocol, sv=s.fault())
    run_as(sc, side, "CAP_NET_RAW", body)


_straddle: int | None = None


def straddling_sv(sc) -> Ptr:
    """sv whose first int is writable and whose second lies on a PROT_NONE page."""
    global _straddle
    if _straddle is None:
        base = sc.k.mmap(8192, L.PROT_READ | L.PROT_WRITE, L.MAP_PRIVATE | L.MAP_ANONYMOUS)
        sc.k.mprotect(base + 4096, 4096, L.PROT_NONE)
        _straddle = base
    Buffer(_straddle + 4092, 4).write(struct.pack("=i", -1))
    return Ptr(_straddle + 4092, "sv[1] on a PROT_NONE page", inaccessible=True)


def test_efault_writes_sv0_and_installs_nothing(sc):
    """sv[1] on a PROT_NONE page: EFAULT, and both reserved numbers go back unused (the next
    socket gets the first). NULL faults at once."""
    sv = straddling_sv(sc)
    sc.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0, sv=sv)
    sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM, 0, sv=NULL)
    sc.socketpair(L.AF_INET, L.SOCK_DGRAM, 0, sv=NULL)
    sc.close(sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret)


_page: Buffer | None = None


def test_sv_written_even_when_refused(sc):
    """The numbers land in sv[] before the family refuses: EOPNOTSUPP with sv = the two lowest
    free numbers, which stay free."""
    global _page
    if _page is None:
        _page = Buffer(sc.k.mmap(4096, L.PROT_READ | L.PROT_WRITE,
                                 L.MAP_PRIVATE | L.MAP_ANONYMOUS), 4096)
    _page.write(struct.pack("=ii", -1, -1))
    sc.socketpair(L.AF_INET, L.SOCK_STREAM, 0, sv=_page)          # the model predicts sv[]
    _page.write(struct.pack("=ii", -1, -1))
    sc.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0, sv=_page)
    a, b = struct.unpack("=ii", _page.read(8))
    sc.close(a)
    sc.close(b)


def limit_free(s, count: int) -> int:
    """In a child: lower RLIMIT_NOFILE so that exactly ``count`` numbers below it are free."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    top = max(s.m.fds.entries) + count + 2
    limit = [fd for fd in range(top) if s.m.fds.get(fd) is None][count]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    s.m.fds.rlimit = limit
    return limit


def test_emfile(sc):
    """Both numbers are reserved first: with one free, EMFILE (and nothing kept); with none,
    EMFILE too -- before EFAULT and before the family's own errors; with two, a pair."""
    def body(s):
        limit_free(s, 1)
        with row("one-free"):
            s.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0)
            s.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0, sv=s.fault())
            s.socketpair(255, L.SOCK_STREAM, 0)
            s.socketpair(L.AF_UNIX, L.SOCK_STREAM | 0x100, 0)
            fd = s.socket(L.AF_UNIX, L.SOCK_DGRAM, 0).ret          # the free number is still free
        with row("none-free"):
            s.socketpair(L.AF_UNIX, L.SOCK_DGRAM, 0)
            s.socketpair(L.AF_INET, L.SOCK_DGRAM, 0, sv=s.fault())
        s.close(fd)
        limit_free(s, 2)
        with row("two-free"):
            pair_and_close(s, L.AF_UNIX, L.SOCK_SEQPACKET)
    sc.in_child(body)
