"""setsockopt(2) / getsockopt(2): SOL_SOCKET options over the socket kinds (defaults, set then
get, the buffer arithmetic), the errno matrix of both calls (lengths, pointers, unknown options
and levels, family by family), the privileged options on both sides of their capability, and
SOL_TCP (TCP_NODELAY, TCP_MAXSEG, TCP_INFO)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.abi import linux as L
from harness.mem import NULL
import struct

from harness.model.sock import (IP_TOS, SO_MARK, SO_PASSPIDFD, SO_PEERPIDFD, SO_PEERSEC, SO_RCVTIMEO_NEW,
                                SO_SNDTIMEO_NEW, SOL_NETLINK, SOL_RAW)
from harness.model.tcp import TCP_CORK

from .endpoints import bound, connected, dgram_pair, open_sock, row
from .kinds import ALL, ids
from .privilege import SIDES, run_as


@dataclass(frozen=True)
class SockKind:
    id: str
    family: int
    type: int
    protocol: int = 0
    cap: str | None = None          # needed to create it

    def __str__(self):
        return self.id


KINDS = [
    SockKind("inet-stream", L.AF_INET, L.SOCK_STREAM),
    SockKind("inet-dgram", L.AF_INET, L.SOCK_DGRAM),
    SockKind("inet6-stream", L.AF_INET6, L.SOCK_STREAM),
    SockKind("inet6-dgram", L.AF_INET6, L.SOCK_DGRAM),
    SockKind("unix-stream", L.AF_UNIX, L.SOCK_STREAM),
    SockKind("unix-dgram", L.AF_UNIX, L.SOCK_DGRAM),
    SockKind("unix-seqpacket", L.AF_UNIX, L.SOCK_SEQPACKET),
    SockKind("netlink-route", L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_ROUTE),
]
PRIVILEGED_KINDS = [
    SockKind("inet-raw-icmp", L.AF_INET, L.SOCK_RAW, L.IPPROTO_ICMP, "CAP_NET_RAW"),
    SockKind("inet6-raw-icmpv6", L.AF_INET6, L.SOCK_RAW, L.IPPROTO_ICMPV6, "CAP_NET_RAW"),
    SockKind("packet-raw", L.AF_PACKET, L.SOCK_RAW, 0, "CAP_NET_RAW"),
    SockKind("packet-sock-packet", L.AF_PACKET, L.SOCK_PACKET, 0, "CAP_NET_RAW"),
]
ALL_KINDS = KINDS + PRIVILEGED_KINDS
BY_ID = {k.id: k for k in ALL_KINDS}




def open_kind(sc, kind: SockKind) -> int:
    if kind.cap and not sc.m.capable(kind.cap):
        pytest.skip(f"creating {kind.id} needs {kind.cap} (run as root)")
    return sc.socket(kind.family, kind.type | L.SOCK_CLOEXEC, kind.protocol).ret


# --------------------------------------------------------------------------- defaults

GET_OPTIONS = [
    ("SO_TYPE", L.SO_TYPE), ("SO_DOMAIN", L.SO_DOMAIN), ("SO_PROTOCOL", L.SO_PROTOCOL),
    ("SO_ACCEPTCONN", L.SO_ACCEPTCONN), ("SO_ERROR", L.SO_ERROR), ("SO_SNDLOWAT", L.SO_SNDLOWAT),
    ("SO_REUSEADDR", L.SO_REUSEADDR), ("SO_REUSEPORT", L.SO_REUSEPORT),
    ("SO_KEEPALIVE", L.SO_KEEPALIVE), ("SO_BROADCAST", L.SO_BROADCAST),
    ("SO_DONTROUTE", L.SO_DONTROUTE), ("SO_OOBINLINE", L.SO_OOBINLINE), ("SO_DEBUG", L.SO_DEBUG),
    ("SO_PRIORITY", L.SO_PRIORITY), ("SO_MARK", SO_MARK), ("SO_RCVBUF", L.SO_RCVBUF),
    ("SO_SNDBUF", L.SO_SNDBUF), ("SO_PASSCRED", L.SO_PASSCRED), ("SO_PASSPIDFD", SO_PASSPIDFD),
    ("SO_BINDTODEVICE", L.SO_BINDTODEVICE), ("SO_LINGER", L.SO_LINGER),
    ("SO_RCVTIMEO_OLD", L.SO_RCVTIMEO_OLD), ("SO_SNDTIMEO_NEW", SO_SNDTIMEO_NEW),
    ("SO_RCVLOWAT", L.SO_RCVLOWAT), ("SO_PEERCRED", L.SO_PEERCRED), ("SO_PEERSEC", SO_PEERSEC),
    ("SO_PEERPIDFD", SO_PEERPIDFD),
]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=str)
def test_get_default(sc, kind):
    """Every option reads its initial value (buffers from the namespace's sysctls)."""
    fd = open_kind(sc, kind)
    for label, name in GET_OPTIONS:
        with row(label):
            sc.getsockopt(fd, L.SOL_SOCKET, name, 64 if name == L.SO_BINDTODEVICE else 4)
    sc.close(fd)


# --------------------------------------------------------------------------- set, then get

SET_OPTIONS = [
    ("SO_REUSEADDR", L.SO_REUSEADDR, 1), ("SO_REUSEPORT", L.SO_REUSEPORT, 1),
    ("SO_KEEPALIVE", L.SO_KEEPALIVE, 7), ("SO_BROADCAST", L.SO_BROADCAST, -1),
    ("SO_DONTROUTE", L.SO_DONTROUTE, 1), ("SO_OOBINLINE", L.SO_OOBINLINE, 1),
    ("SO_PRIORITY", L.SO_PRIORITY, 6), ("SO_PASSCRED", L.SO_PASSCRED, 1),
    ("SO_PASSPIDFD", SO_PASSPIDFD, 1), ("SO_DEBUG-off", L.SO_DEBUG, 0),
    ("SO_RCVLOWAT", L.SO_RCVLOWAT, 100),
]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=str)
def test_set_then_get(sc, kind):
    """Set, read back, clear, read back: a flag stores val != 0."""
    fd = open_kind(sc, kind)
    for label, name, value in SET_OPTIONS:
        with row(label):
            sc.setsockopt(fd, L.SOL_SOCKET, name, value)
            sc.getsockopt(fd, L.SOL_SOCKET, name)
            sc.setsockopt(fd, L.SOL_SOCKET, name, 0)
            sc.getsockopt(fd, L.SOL_SOCKET, name)
    sc.close(fd)


# --------------------------------------------------------------------------- buffers

INT_MAX = 0x7FFFFFFF
# values; "max" is net.core.rmem_max / wmem_max from the profile
BUF_VALUES = [("0", 0), ("1", 1), ("1151", 1151), ("1152", 1152), ("1153", 1153),
              ("2303", 2303), ("2304", 2304), ("4096", 4096), ("max", "max"),
              ("max+1", "max+1"), ("minus-1", -1), ("int-min", -INT_MAX - 1),
              ("int-max", INT_MAX), ("1e9", 10**9)]


def buf_value(profile, name, value):
    if not isinstance(value, str):
        return value
    limit = profile.sysctl_int("net.core.rmem_max" if name in (L.SO_RCVBUF, L.SO_RCVBUFFORCE)
                               else "net.core.wmem_max")
    return min(limit + (1 if value == "max+1" else 0), INT_MAX)


@pytest.mark.parametrize("name", [L.SO_RCVBUF, L.SO_SNDBUF], ids=["SO_RCVBUF", "SO_SNDBUF"])
@pytest.mark.parametrize("kind", [BY_ID["inet-stream"], BY_ID["unix-dgram"]], ids=str)
def test_buffer_size(sc, profile, kind, name):
    """SO_RCVBUF/SO_SNDBUF: clamped (as unsigned) to the sysctl max, doubled, floored."""
    fd = open_kind(sc, kind)
    for label, value in BUF_VALUES:
        with row(label):
            sc.setsockopt(fd, L.SOL_SOCKET, name, buf_value(profile, name, value))
            sc.getsockopt(fd, L.SOL_SOCKET, name)
    sc.close(fd)


FORCE_VALUES = [("minus-1", -1), ("0", 0), ("1000", 1000), ("max+1", "max+1"), ("int-max", INT_MAX)]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", [L.SO_RCVBUFFORCE, L.SO_SNDBUFFORCE],
                         ids=["SO_RCVBUFFORCE", "SO_SNDBUFFORCE"])
def test_buffer_force(sc, profile, side, name):
    """The *FORCE options skip the sysctl max and need CAP_NET_ADMIN (EPERM otherwise)."""
    plain = L.SO_RCVBUF if name == L.SO_RCVBUFFORCE else L.SO_SNDBUF

    def body(s):
        fd = s.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        for label, value in FORCE_VALUES:
            with row(label):
                s.setsockopt(fd, L.SOL_SOCKET, name, buf_value(profile, name, value))
                s.getsockopt(fd, L.SOL_SOCKET, plain)
        s.close(fd)
    run_as(sc, side, "CAP_NET_ADMIN", body)


# --------------------------------------------------------------------------- privileges

def run_without(sc, side, caps, body):
    """Like run_as, for a rule that any one of several capabilities satisfies."""
    if side == "privileged":
        if not any(sc.m.capable(c) for c in caps):
            pytest.skip(f"needs one of {', '.join(caps)} (run as root to check this side)")
        body(sc)
    elif any(sc.m.capable(c) for c in caps):
        sc.in_child(body, drop=tuple(c for c in caps if sc.m.capable(c)))
    else:
        body(sc)


PRIVILEGED_SETS = [
    ("SO_DEBUG-on", L.SO_DEBUG, 1), ("SO_PRIORITY-7", L.SO_PRIORITY, 7),
    ("SO_PRIORITY-minus-1", L.SO_PRIORITY, -1), ("SO_PRIORITY-6", L.SO_PRIORITY, 6),
    ("SO_MARK-42", SO_MARK, 42), ("SO_MARK-0", SO_MARK, 0),
]


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_privileged_options(sc, side):
    """SO_DEBUG on needs CAP_NET_ADMIN (EACCES); SO_PRIORITY outside 0..6 and SO_MARK need
    CAP_NET_RAW or CAP_NET_ADMIN (EPERM). The unprivileged side lacks both."""
    def body(s):
        fd = s.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        for label, name, value in PRIVILEGED_SETS:
            with row(label):
                s.setsockopt(fd, L.SOL_SOCKET, name, value)
                s.getsockopt(fd, L.SOL_SOCKET, name)
        s.close(fd)
    run_without(sc, side, ("CAP_NET_ADMIN", "CAP_NET_RAW"), body)


# --------------------------------------------------------------------------- SO_BINDTODEVICE

def test_bindtodevice_lo_and_back(sc):
    """A name, not an int: "lo" binds (ifindex 1), reading needs IFNAMSIZ bytes, an empty name
    or optlen 0 unbinds -- the one option exempt from optlen >= sizeof(int)."""
    fd = sc.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, None, 0)          # unbound: a no-op
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo")
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 15)               # EINVAL
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 64, sc.fault())    # EFAULT
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo\0ignored")
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"", 0)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 4)
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"sockspec-none0")  # ENODEV
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, sc.fault(), 4)      # EFAULT
    sc.close(fd)


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_bindtodevice_rebind_needs_net_raw(sc, side):
    """Binding the first time needs nothing; changing or clearing it needs CAP_NET_RAW."""
    def body(s):
        fd = s.socket(L.AF_INET6, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        s.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo")
        s.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo")
        s.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, None, 0)
        s.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16)
        s.close(fd)
    run_as(sc, side, "CAP_NET_RAW", body)


# --------------------------------------------------------------------------- errno matrix

BAD_FD = "bad-fd"        # resolved in the test: a closed descriptor
# (id, kind, call, level, option, args): args are the wrapper's keyword arguments
ERRORS = {
    # net/socket.c: the descriptor, optlen < 0 and their order (6.1 vs 6.7+)
    "fd-and-negative-optlen": [
    ("set-optlen-negative", "inet-stream", "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"optlen": -1}),
    ("set-optlen-negative-bad-fd", BAD_FD, "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"optlen": -1}),
    ("set-optlen-negative-fd-minus-1", -1, "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"optlen": -1}),
    ("set-optlen-int-min-unix", "unix-stream", "set", 999, 1, {"optlen": -INT_MAX - 1}),
    ("set-bad-fd", BAD_FD, "set", L.SOL_SOCKET, L.SO_REUSEADDR, {}),
    ("get-bad-fd", BAD_FD, "get", L.SOL_SOCKET, L.SO_TYPE, {}),
    ("get-fd-minus-1", -1, "get", L.SOL_SOCKET, L.SO_TYPE, {}),
    ("get-bad-fd-optlen-negative", BAD_FD, "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": -1}),
    ],
    # sk_setsockopt: length, then the value, then the option
    "sol-socket-set": [
    ("set-optlen-0", "inet-dgram", "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"optlen": 0}),
    ("set-optlen-3", "unix-dgram", "set", L.SOL_SOCKET, L.SO_KEEPALIVE, {"optlen": 3}),
    ("set-optlen-8", "unix-dgram", "set", L.SOL_SOCKET, L.SO_KEEPALIVE, {"value": 1, "optlen": 8}),
    ("set-optlen-3-unknown-option", "inet-stream", "set", L.SOL_SOCKET, 1000, {"optlen": 3}),
    ("set-optlen-2-read-only", "inet-stream", "set", L.SOL_SOCKET, L.SO_TYPE, {"optlen": 2}),
    ("set-optval-null", "inet-stream", "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"value": None, "optlen": 4}),
    ("set-optval-fault", "unix-stream", "set", L.SOL_SOCKET, L.SO_REUSEADDR, {"value": "fault"}),
    ("set-optval-fault-unknown-option", "inet6-dgram", "set", L.SOL_SOCKET, 1000, {"value": "fault"}),
    ("set-so-type", "inet-stream", "set", L.SOL_SOCKET, L.SO_TYPE, {}),
    ("set-so-protocol", "unix-dgram", "set", L.SOL_SOCKET, L.SO_PROTOCOL, {}),
    ("set-so-domain", "inet6-stream", "set", L.SOL_SOCKET, L.SO_DOMAIN, {}),
    ("set-so-error", "netlink-route", "set", L.SOL_SOCKET, L.SO_ERROR, {}),
    ("set-so-acceptconn", "inet-stream", "set", L.SOL_SOCKET, L.SO_ACCEPTCONN, {"value": 1}),
    ("set-so-sndlowat", "inet-dgram", "set", L.SOL_SOCKET, L.SO_SNDLOWAT, {"value": 1}),
    ("set-option-0", "inet-stream", "set", L.SOL_SOCKET, 0, {}),
    ("set-option-1000", "unix-stream", "set", L.SOL_SOCKET, 1000, {}),
    ("set-option-negative", "inet6-dgram", "set", L.SOL_SOCKET, -1, {}),
    ("set-reuseport-unix", "unix-stream", "set", L.SOL_SOCKET, L.SO_REUSEPORT, {"value": 1}),
    ("set-reuseport-netlink", "netlink-route", "set", L.SOL_SOCKET, L.SO_REUSEPORT, {"value": 1}),
    ("set-passcred-inet", "inet-stream", "set", L.SOL_SOCKET, L.SO_PASSCRED, {"value": 1}),
    ("set-passpidfd-netlink", "netlink-route", "set", L.SOL_SOCKET, SO_PASSPIDFD, {"value": 1}),
    ],
    # sk_getsockopt: the length first, then the option, then the copy
    "sol-socket-get": [
    ("get-optlen-negative", "inet-stream", "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": -1}),
    ("get-optlen-negative-unknown-option", "unix-dgram", "get", L.SOL_SOCKET, 1000, {"optlen": -1}),
    ("get-optlen-null", "inet-dgram", "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": NULL}),
    ("get-optlen-fault", "unix-seqpacket", "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": "fault"}),
    ("get-optval-fault", "inet-stream", "get", L.SOL_SOCKET, L.SO_DOMAIN, {"optval": "fault"}),
    ("get-optval-null", "inet6-stream", "get", L.SOL_SOCKET, L.SO_DOMAIN, {"optval": NULL}),
    ("get-optval-null-optlen-0", "inet6-stream", "get", L.SOL_SOCKET, L.SO_DOMAIN,
     {"optval": NULL, "optlen": 0}),
    ("get-optval-fault-optlen-0", "unix-stream", "get", L.SOL_SOCKET, L.SO_TYPE,
     {"optval": "fault", "optlen": 0}),
    ("get-so-error-optval-fault", "inet-dgram", "get", L.SOL_SOCKET, L.SO_ERROR, {"optval": "fault"}),
    ("get-option-0", "inet-stream", "get", L.SOL_SOCKET, 0, {}),
    ("get-option-1000", "netlink-route", "get", L.SOL_SOCKET, 1000, {}),
    ("get-option-negative", "unix-dgram", "get", L.SOL_SOCKET, -5, {}),
    ("get-passcred-inet6", "inet6-dgram", "get", L.SOL_SOCKET, L.SO_PASSCRED, {}),
    ("get-passpidfd-inet", "inet-stream", "get", L.SOL_SOCKET, SO_PASSPIDFD, {}),
    ("get-passpidfd-unix", "unix-stream", "get", L.SOL_SOCKET, SO_PASSPIDFD, {}),
    ],
    # truncation: the first *optlen bytes, *optlen cut to the value's size
    "sol-socket-truncation": [
    ("get-optlen-0", "inet-stream", "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": 0}),
    ("get-optlen-1", "inet-stream", "get", L.SOL_SOCKET, L.SO_PROTOCOL, {"optlen": 1}),
    ("get-optlen-2", "unix-seqpacket", "get", L.SOL_SOCKET, L.SO_TYPE, {"optlen": 2}),
    ("get-optlen-3", "inet6-dgram", "get", L.SOL_SOCKET, L.SO_DOMAIN, {"optlen": 3}),
    ("get-optlen-8", "inet6-dgram", "get", L.SOL_SOCKET, L.SO_DOMAIN, {"optlen": 8}),
    ("get-optlen-1000", "unix-dgram", "get", L.SOL_SOCKET, L.SO_RCVBUF, {"optlen": 1000}),
    ("get-optlen-int-max", "unix-dgram", "get", L.SOL_SOCKET, L.SO_SNDBUF, {"optlen": INT_MAX,
                                                                          "optval": "fault"}),
    ("get-so-error-optlen-0", "inet-stream", "get", L.SOL_SOCKET, L.SO_ERROR, {"optlen": 0}),
    ],
    # other levels: the family decides, and get and set may differ
    "levels": [
    ("set-level-999-inet-stream", "inet-stream", "set", 999, 1, {}),
    ("get-level-999-inet-stream", "inet-stream", "get", 999, 1, {}),
    ("set-level-999-inet-dgram", "inet-dgram", "set", 999, 1, {}),
    ("get-level-999-inet-dgram", "inet-dgram", "get", 999, 1, {}),
    ("set-level-999-inet6-stream", "inet6-stream", "set", 999, 1, {}),
    ("get-level-999-inet6-stream", "inet6-stream", "get", 999, 1, {}),
    ("set-level-999-inet6-dgram", "inet6-dgram", "set", 999, 1, {}),
    ("get-level-999-inet6-dgram", "inet6-dgram", "get", 999, 1, {}),
    ("set-level-999-unix", "unix-stream", "set", 999, 1, {}),
    ("get-level-999-unix", "unix-seqpacket", "get", 999, 1, {}),
    ("set-level-999-netlink", "netlink-route", "set", 999, 1, {}),
    ("get-level-999-netlink", "netlink-route", "get", 999, 1, {}),
    ("set-level-negative-inet", "inet-dgram", "set", -1, 1, {}),
    ("get-level-negative-inet6", "inet6-stream", "get", -1, 1, {}),
    ("set-sol-tcp-udp", "inet-dgram", "set", L.SOL_TCP, L.TCP_NODELAY, {"value": 1}),
    ("get-sol-tcp-udp", "inet-dgram", "get", L.SOL_TCP, L.TCP_INFO, {"optlen": 104}),
    ("get-sol-tcp-udp6", "inet6-dgram", "get", L.SOL_TCP, L.TCP_INFO, {"optlen": 104}),
    ("set-sol-tcp-unix", "unix-stream", "set", L.SOL_TCP, L.TCP_NODELAY, {"value": 1}),
    ("get-sol-tcp-unix", "unix-stream", "get", L.SOL_TCP, L.TCP_INFO, {"optlen": 104}),
    ("get-sol-tcp-netlink", "netlink-route", "get", L.SOL_TCP, L.TCP_INFO, {"optlen": 104}),
    ("set-sol-udp-tcp", "inet-stream", "set", L.SOL_UDP, 1, {}),
    ("get-sol-udp-tcp", "inet-stream", "get", L.SOL_UDP, 1, {}),
    ("set-sol-ipv6-inet", "inet-stream", "set", L.SOL_IPV6, 1, {}),
    ("get-sol-ipv6-inet", "inet-dgram", "get", L.SOL_IPV6, 1, {}),
    ("set-sol-packet-inet6", "inet6-stream", "set", L.SOL_PACKET, 1, {}),
    ("get-sol-netlink-inet6", "inet6-dgram", "get", SOL_NETLINK, 1, {}),
    ("set-sol-raw-tcp", "inet-stream", "set", SOL_RAW, 1, {}),
    ("get-sol-ip-unix", "unix-dgram", "get", L.SOL_IP, 1, {}),
    ("set-sol-ip-netlink", "netlink-route", "set", L.SOL_IP, 1, {}),
    # the level is checked before the length there
    ("set-level-999-inet-optlen-0", "inet-stream", "set", 999, 1, {"optlen": 0}),
    ("set-level-999-unix-optlen-0", "unix-dgram", "set", 999, 1, {"optlen": 0}),
    ("get-level-999-inet-optlen-negative", "inet-stream", "get", 999, 1, {"optlen": -1}),
    ("get-level-999-inet6-optlen-negative", "inet6-stream", "get", 999, 1, {"optlen": -1}),
    ("get-level-999-unix-optval-fault", "unix-stream", "get", 999, 1, {"optval": "fault"}),
    ],
    # privileged kinds: packet sockets have their own level; SOCK_PACKET has no sockopt ops
    "levels-privileged-kinds": [
    ("set-level-999-packet", "packet-raw", "set", 999, 1, {}),
    ("get-level-999-packet", "packet-raw", "get", 999, 1, {}),
    ("set-sol-packet-sock-packet", "packet-sock-packet", "set", L.SOL_PACKET, 1, {}),
    ("get-sol-packet-sock-packet", "packet-sock-packet", "get", L.SOL_PACKET, 1, {}),
    ("set-level-999-raw", "inet-raw-icmp", "set", 999, 1, {}),
    ("get-level-999-raw", "inet-raw-icmp", "get", 999, 1, {}),
    ("set-level-999-raw6", "inet6-raw-icmpv6", "set", 999, 1, {}),
    ("get-level-999-raw6", "inet6-raw-icmpv6", "get", 999, 1, {}),
    ],
}


def resolve(sc, args: dict) -> dict:
    return {k: (sc.fault() if v == "fault" else v) for k, v in args.items()}


@pytest.mark.parametrize("section", list(ERRORS))
def test_sockopt_errors(sc, section):
    """The errno matrix, one row per case; a failure names its row."""
    ran = [label for label, where, call, level, name, args in ERRORS[section]
           if run_row(label, sc, where, call, level, name, args)]
    if not ran:
        pytest.skip(f"every row of {section} needs CAP_NET_RAW to create its socket (run as root)")


def run_row(label, sc, where, call, level, name, args) -> bool:
    kind = BY_ID.get(where) if isinstance(where, str) else None
    if kind is not None and kind.cap and not sc.m.capable(kind.cap):
        sc.skip_row(label, f"creating {kind.id} needs {kind.cap}, which this process lacks "
                           "(run as root to check it)")
        return False
    with row(label):
        one_error_row(sc, where, call, level, name, resolve(sc, args))
    return True


def one_error_row(sc, where, call, level, name, args):
    fd = None
    if where == BAD_FD:
        target = sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        sc.close(target)
    elif isinstance(where, int):
        target = where
    else:
        target = fd = open_kind(sc, BY_ID[where])
    if call == "set":
        sc.setsockopt(target, level, name, **({"value": 1} | args))
    else:
        sc.getsockopt(target, level, name, **args)
    if fd is not None:
        sc.close(fd)


def test_so_error_reads_zero_twice(sc):
    """No pending error: SO_ERROR reads 0, and reading changes nothing."""
    fd = sc.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    sc.close(fd)


def test_options_follow_the_socket_not_the_fd(sc):
    """Options belong to the socket: a dup'd descriptor reads what the other one set."""
    fd = sc.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    other = sc.dup(fd).ret
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1)
    sc.setsockopt(other, L.SOL_SOCKET, L.SO_RCVBUF, 5000)
    sc.getsockopt(other, L.SOL_SOCKET, L.SO_REUSEADDR)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUF)
    sc.close(fd)
    sc.getsockopt(other, L.SOL_SOCKET, L.SO_REUSEADDR)
    sc.close(other)


# --------------------------------------------------------------------------- SOL_TCP

TCP_ROWS = [
    ("nodelay-default", "get", L.TCP_NODELAY, {}),
    ("nodelay-on", "set", L.TCP_NODELAY, {"value": 5}),
    ("maxseg-default", "get", L.TCP_MAXSEG, {}),
    ("maxseg-1000", "set", L.TCP_MAXSEG, {"value": 1000}),
    ("maxseg-88", "set", L.TCP_MAXSEG, {"value": 88}),
    ("maxseg-87", "set", L.TCP_MAXSEG, {"value": 87}),
    ("maxseg-32767", "set", L.TCP_MAXSEG, {"value": 32767}),
    ("maxseg-32768", "set", L.TCP_MAXSEG, {"value": 32768}),
    ("maxseg-minus-1", "set", L.TCP_MAXSEG, {"value": -1}),
    ("maxseg-0", "set", L.TCP_MAXSEG, {"value": 0}),
    ("set-optlen-2", "set", L.TCP_NODELAY, {"value": 1, "optlen": 2}),
    ("set-optval-fault", "set", L.TCP_NODELAY, {"value": "fault"}),
    ("set-unknown-0", "set", 0, {"value": 1}),
    ("set-unknown-1000", "set", 1000, {"value": 1}),
    ("get-unknown-1000", "get", 1000, {}),
    ("get-optlen-negative", "get", L.TCP_NODELAY, {"optlen": -1}),
    ("get-optlen-negative-unknown", "get", 1000, {"optlen": -1}),
    ("get-optlen-fault", "get", L.TCP_NODELAY, {"optlen": "fault"}),
    ("get-optlen-2", "get", L.TCP_MAXSEG, {"optlen": 2}),
    ("get-optlen-0", "get", L.TCP_NODELAY, {"optlen": 0}),
    ("get-optval-fault", "get", L.TCP_MAXSEG, {"optval": "fault"}),
    ("cork-default", "get", TCP_CORK, {}),
    ("cork-on", "set", TCP_CORK, {"value": 2}),
    ("cork-off", "set", TCP_CORK, {"value": 0}),
    ("cork-optlen-3", "set", TCP_CORK, {"value": 1, "optlen": 3}),
    ("cork-optlen-8", "set", TCP_CORK, {"value": 1, "optlen": 8}),
    ("cork-get-optlen-1", "get", TCP_CORK, {"optlen": 1}),
    ("info-optlen-0", "get", L.TCP_INFO, {"optlen": 0}),
    ("info-optlen-1", "get", L.TCP_INFO, {"optlen": 1}),
    ("info-optlen-104", "get", L.TCP_INFO, {"optlen": 104}),
    ("info-optlen-232", "get", L.TCP_INFO, {"optlen": 232}),
    ("info-optlen-512", "get", L.TCP_INFO, {"optlen": 512}),
    ("info-optlen-negative", "get", L.TCP_INFO, {"optlen": -1}),
    ("info-optval-fault", "get", L.TCP_INFO, {"optlen": 512, "optval": "fault"}),
]


@pytest.mark.parametrize("family", [L.AF_INET, L.AF_INET6], ids=["inet", "inet6"])
def test_sol_tcp(sc, family):
    """SOL_TCP before a connection, a fresh socket per row; a set is read back."""
    for label, call, name, args in TCP_ROWS:
        with row(label):
            fd = sc.socket(family, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
            args = resolve(sc, args)
            if call == "set":
                if sc.setsockopt(fd, L.SOL_TCP, name, **args).ok:
                    sc.getsockopt(fd, L.SOL_TCP, name)
            else:
                sc.getsockopt(fd, L.SOL_TCP, name, **args)
            sc.close(fd)


# --------------------------------------------------------------------------- connections

TCP_KINDS = [k for k in ALL if k.type == L.SOCK_STREAM and k.is_inet]
UNIX_STREAM = [k for k in ALL if k.type in (L.SOCK_STREAM, L.SOCK_SEQPACKET) and not k.is_inet]


@pytest.mark.parametrize("kind", TCP_KINDS, ids=ids(TCP_KINDS))
def test_listener_and_accepted(sc, kind):
    """A listener shows SO_ACCEPTCONN = 1 and, in TCP_INFO, its backlog (tcpi_sacked) and the
    connections waiting (tcpi_unacked); the accepted socket inherits the listener's options
    (struct sock is copied) and is ESTABLISHED."""
    lfd, addr = bound(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    for name, value in ((L.SO_KEEPALIVE, 1), (L.SO_RCVBUF, 6000), (L.SO_SNDBUF, 7000),
                        (L.SO_REUSEADDR, 1)):
        sc.setsockopt(lfd, L.SOL_SOCKET, name, value)
    sc.setsockopt(lfd, L.SOL_TCP, L.TCP_MAXSEG, 1200)
    sc.listen(lfd, 7)
    sc.getsockopt(lfd, L.SOL_SOCKET, L.SO_ACCEPTCONN)
    sc.getsockopt(lfd, L.SOL_TCP, L.TCP_INFO, 232)
    sc.getsockopt(lfd, L.SOL_TCP, L.TCP_MAXSEG)
    cfd = open_sock(sc, kind)
    sc.getsockopt(cfd, L.SOL_SOCKET, L.SO_RCVBUF)
    sc.connect(cfd, addr)
    sc.getsockopt(lfd, L.SOL_TCP, L.TCP_INFO, 104)
    sc.getsockopt(cfd, L.SOL_TCP, L.TCP_INFO, 8)
    afd = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
    sc.getsockopt(lfd, L.SOL_TCP, L.TCP_INFO, 32)
    for name in (L.SO_ACCEPTCONN, L.SO_KEEPALIVE, L.SO_RCVBUF, L.SO_SNDBUF, L.SO_REUSEADDR,
                 L.SO_ERROR):
        sc.getsockopt(afd, L.SOL_SOCKET, name)
    sc.getsockopt(afd, L.SOL_TCP, L.TCP_INFO, 1)
    for fd in (afd, cfd, lfd):
        sc.close(fd)


@pytest.mark.parametrize("optval", ["buffer", "fault", "optlen-0"])
@pytest.mark.parametrize("kind", TCP_KINDS, ids=ids(TCP_KINDS))
def test_so_error_after_refused_connect(sc, kind, optval):
    """A non-blocking connect to a port nobody listens on: EINPROGRESS, then SO_ERROR reads
    ECONNREFUSED once -- it is consumed even when the copy out faults or *optlen is 0."""
    holder, addr = bound(sc, kind)                       # bound, not listening: RST
    fd = open_sock(sc, kind, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK)
    sc.connect(fd, addr)
    args = {"buffer": {}, "fault": {"optval": sc.fault()}, "optlen-0": {"optlen": 0}}[optval]
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR, **args)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
    sc.getsockopt(fd, L.SOL_TCP, L.TCP_INFO, 1)
    sc.close(fd)
    sc.close(holder)


@pytest.mark.parametrize("kind", UNIX_STREAM, ids=ids(UNIX_STREAM))
def test_unix_listener(sc, kind):
    """SO_ACCEPTCONN follows listen() for AF_UNIX too; SO_PASSCRED is an AF_UNIX option."""
    lfd, addr = bound(sc, kind)
    sc.getsockopt(lfd, L.SOL_SOCKET, L.SO_ACCEPTCONN)
    sc.listen(lfd, 3)
    sc.getsockopt(lfd, L.SOL_SOCKET, L.SO_ACCEPTCONN)
    sc.setsockopt(lfd, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    sc.getsockopt(lfd, L.SOL_SOCKET, L.SO_PASSCRED)
    sc.close(lfd)


# --------------------------------------------------------------------------- issue 16: options

def linger(onoff: int, secs: int) -> bytes:
    return struct.pack("=ii", onoff, secs)


def timeval(sec: int, usec: int) -> bytes:
    return struct.pack("=qq", sec, usec)


LINGER_ROWS = [
    # (label, value, optlen or None)
    ("optlen-0", linger(1, 5), 0), ("optlen-3", linger(1, 5), 3),
    ("optlen-4", linger(1, 5), 4), ("optlen-7", linger(1, 5), 7),
    ("on-30", linger(1, 30), None), ("onoff-7-normalised", linger(7, 12), None),
    ("off-keeps-time", linger(0, 99), None), ("optlen-9", linger(1, 0) + b"x", None),
    ("on-0", linger(1, 0), 8), ("off", linger(0, 0), None),
]


@pytest.mark.parametrize("kind", [BY_ID["inet-stream"], BY_ID["unix-dgram"]], ids=str)
def test_linger_round_trip(sc, kind):
    """SO_LINGER: struct linger of 8 bytes; l_onoff reads back as 0/1, l_onoff 0 keeps the
    time; shorter than an int or than the struct -> EINVAL; read back with *optlen 4, 8, 12."""
    fd = open_kind(sc, kind)
    for label, value, optlen in LINGER_ROWS:
        with row(label):
            sc.setsockopt(fd, L.SOL_SOCKET, L.SO_LINGER, value, optlen)
            sc.getsockopt(fd, L.SOL_SOCKET, L.SO_LINGER, 8)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_LINGER, 4)
    sc.getsockopt(fd, L.SOL_SOCKET, L.SO_LINGER, 12)
    sc.setsockopt(fd, L.SOL_SOCKET, L.SO_LINGER, sc.fault(), 8)
    sc.close(fd)


@pytest.mark.parametrize("kind", TCP_KINDS, ids=ids(TCP_KINDS))
def test_zero_linger_close_resets(sc, kind):
    """close() with SO_LINGER {1, 0} sends RST instead of FIN: the peer's receive reports
    ECONNRESET (once), then EOF."""
    cfd, afd, lfd = connected(sc, kind)
    sc.close(lfd)
    sc.sendto(afd, b"data", 0)
    sc.wait(cfd, nbytes=4)
    sc.recvfrom(cfd, 64, L.MSG_DONTWAIT)
    sc.setsockopt(cfd, L.SOL_SOCKET, L.SO_LINGER, linger(1, 0))
    sc.close(cfd)
    sc.recvfrom(afd, 64, L.MSG_DONTWAIT)
    sc.recvfrom(afd, 64, L.MSG_DONTWAIT)
    sc.close(afd)


TIMEO_ROWS = [
    ("optlen-0", timeval(1, 0), 0), ("optlen-4", timeval(1, 0), 4),
    ("optlen-15", timeval(1, 0), 15), ("exact-16", timeval(2, 500_000), 16),
    ("optlen-17", timeval(3, 0) + b"x", None), ("usec-1000000", timeval(1, 1_000_000), None),
    ("usec-minus-1", timeval(1, -1), None), ("sec-negative", timeval(-1, 0), None),
    ("sec-negative-usec-bad", timeval(-1, 1_000_000), None), ("usec-only", timeval(0, 40_000), None),
    ("zero-clears", timeval(0, 0), None),
]
TIMEO_NAMES = [("SO_RCVTIMEO_OLD", L.SO_RCVTIMEO_OLD), ("SO_RCVTIMEO_NEW", SO_RCVTIMEO_NEW),
               ("SO_SNDTIMEO_OLD", L.SO_SNDTIMEO_OLD), ("SO_SNDTIMEO_NEW", SO_SNDTIMEO_NEW)]


@pytest.mark.parametrize("label,name", TIMEO_NAMES, ids=[n for n, _ in TIMEO_NAMES])
def test_timeouts(sc, label, name):
    """SO_RCVTIMEO/SO_SNDTIMEO, old (struct timeval) and new (__kernel_sock_timeval) layouts:
    16 bytes; shorter -> EINVAL; tv_usec outside 0..999999 -> EDOM; a negative tv_sec is a
    zero timeout and reads {0, 0}."""
    fd = sc.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    for rlabel, value, optlen in TIMEO_ROWS:
        with row(rlabel):
            sc.setsockopt(fd, L.SOL_SOCKET, name, value, optlen)
            sc.getsockopt(fd, L.SOL_SOCKET, name, 16)
    sc.setsockopt(fd, L.SOL_SOCKET, name, timeval(1, 20_000))
    sc.getsockopt(fd, L.SOL_SOCKET, name, 8)
    sc.getsockopt(fd, L.SOL_SOCKET, name, 32)
    sc.setsockopt(fd, L.SOL_SOCKET, name, sc.fault(), 16)
    sc.close(fd)


def _pair(sc, kind):
    if kind.is_inet and kind.type == L.SOCK_STREAM:
        cfd, afd, lfd = connected(sc, kind)
        sc.close(lfd)
        return cfd, afd
    if kind.is_inet:
        return dgram_pair(sc, kind)
    return tuple(sc.socketpair(L.AF_UNIX, kind.type | L.SOCK_CLOEXEC, 0).out["fds"])


TIMEOUT_KINDS = [k for k in ALL if k.addressing in ("inet", "unix-abstract")]


@pytest.mark.parametrize("kind", TIMEOUT_KINDS, ids=ids(TIMEOUT_KINDS))
def test_receive_times_out(sc, kind):
    """A blocking receive with a 60 ms SO_RCVTIMEO fails with EAGAIN once it expired (the
    checker bounds the call by the timeout plus its slack); data queued is returned at once;
    a negative timeout does not wait at all."""
    a, b = _pair(sc, kind)
    sc.setsockopt(b, L.SOL_SOCKET, L.SO_RCVTIMEO_OLD, timeval(0, 60_000))
    sc.recvfrom(b, 16)
    sc.sendto(a, b"ping", 0)
    sc.wait(b, nbytes=4)
    sc.recvfrom(b, 16)
    sc.setsockopt(b, L.SOL_SOCKET, SO_RCVTIMEO_NEW, timeval(-1, 0))
    sc.recvmsg(b, [16])
    sc.close(a)
    sc.close(b)


PEER_KINDS = [k for k in ALL if k.addressing in ("inet", "unix-abstract")]


@pytest.mark.parametrize("kind", PEER_KINDS, ids=ids(PEER_KINDS))
def test_peer_credentials(sc, kind):
    """SO_PEERCRED: a socketpair reads the creator's pid, euid and egid on both ends; a socket
    with no recorded peer (any inet socket, connected or not) reads {0, -1, -1} -- not
    ENOTCONN. *optlen is cut to 12. SO_PEERSEC without a peer label: ENOPROTOOPT; SO_PEERPIDFD
    without a peer pid: ENODATA (6.5+)."""
    lone = open_sock(sc, kind)
    for optlen in (12, 4, 0, 100):
        sc.getsockopt(lone, L.SOL_SOCKET, L.SO_PEERCRED, optlen)
    sc.getsockopt(lone, L.SOL_SOCKET, SO_PEERSEC, 64)
    sc.getsockopt(lone, L.SOL_SOCKET, SO_PEERPIDFD, 4)
    sc.close(lone)
    if kind.is_inet:
        a, b = _pair(sc, kind)
        sc.getsockopt(a, L.SOL_SOCKET, L.SO_PEERCRED, 12)
        sc.getsockopt(b, L.SOL_SOCKET, SO_PEERPIDFD, 4)
    else:
        a, b = _pair(sc, kind)
        sc.getsockopt(a, L.SOL_SOCKET, L.SO_PEERCRED, 12)
        sc.getsockopt(b, L.SOL_SOCKET, L.SO_PEERCRED, 8)
    sc.close(a)
    sc.close(b)


@pytest.mark.privileged
@pytest.mark.parametrize("side", SIDES)
def test_bindtodevice_lo_first_time(sc, side):
    """Binding an unbound socket to "lo" needs no capability (sock_bindtoindex_locked() asks
    for CAP_NET_RAW only to change a binding); a name padded past IFNAMSIZ is cut."""
    def body(s):
        fd = s.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        s.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo" + bytes(30))
        s.getsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, 16)
        s.setsockopt(fd, L.SOL_SOCKET, L.SO_BINDTODEVICE, b"lo", 2)
        s.close(fd)
    run_as(sc, side, "CAP_NET_RAW", body)


def test_tcp_rcvlowat(sc):
    """SO_RCVLOWAT on TCP: capped at half the buffer; fewer unread bytes than the mark leave
    the socket unreadable for poll (the checker compares readiness after each call), and a
    non-blocking receive still returns what is there."""
    kind = TCP_KINDS[0]
    cfd, afd, lfd = connected(sc, kind)
    sc.close(lfd)
    sc.setsockopt(afd, L.SOL_SOCKET, L.SO_RCVLOWAT, 10)
    sc.getsockopt(afd, L.SOL_SOCKET, L.SO_RCVLOWAT)
    sc.sendto(cfd, b"12345", 0)
    sc.wait_sent(cfd)
    sc.recvfrom(afd, 64, L.MSG_DONTWAIT)
    sc.sendto(cfd, b"0123456789", 0)
    sc.wait(afd, nbytes=10)
    sc.recvfrom(afd, 64, L.MSG_DONTWAIT)
    sc.setsockopt(cfd, L.SOL_SOCKET, L.SO_RCVBUF, 4096)
    sc.setsockopt(cfd, L.SOL_SOCKET, L.SO_RCVLOWAT, 1 << 20)
    sc.getsockopt(cfd, L.SOL_SOCKET, L.SO_RCVLOWAT)
    sc.setsockopt(cfd, L.SOL_SOCKET, L.SO_RCVLOWAT, -1)
    sc.getsockopt(cfd, L.SOL_SOCKET, L.SO_RCVLOWAT)
    sc.close(cfd)
    sc.close(afd)


V6ONLY_ROWS = [
    ("get-default", "get", {}), ("get-optlen-negative", "get", {"optlen": -1}),
    ("get-optlen-2", "get", {"optlen": 2}), ("get-optlen-0", "get", {"optlen": 0}),
    ("get-optlen-8", "get", {"optlen": 8}), ("get-optval-fault", "get", {"optval": "fault"}),
    ("get-optlen-fault", "get", {"optlen": "fault"}),
    ("set-1", "set", {"value": 1}), ("set-7", "set", {"value": 7}), ("set-0", "set", {"value": 0}),
    ("set-optlen-3", "set", {"value": 1, "optlen": 3}),
    ("set-optlen-8", "set", {"value": 1, "optlen": 8}),
    ("set-null", "set", {"value": None, "optlen": 4}),
    ("set-fault", "set", {"value": "fault"}),
]


@pytest.mark.parametrize("kind", [BY_ID["inet6-stream"], BY_ID["inet6-dgram"]], ids=str)
def test_ipv6_v6only(sc, kind):
    """IPV6_V6ONLY before bind: set and read back (0/1, a NULL value is 0, *optlen cut to 4 as
    unsigned); after bind it is fixed (EINVAL)."""
    fd = open_kind(sc, kind)
    for label, call, args in V6ONLY_ROWS:
        with row(label):
            args = resolve(sc, args)
            if call == "set":
                sc.setsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY, **({"value": 1} | args))
                sc.getsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY)
            else:
                sc.getsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY, **args)
    sc.close(fd)
    fd, _ = bound(sc, [k for k in ALL if k.family == L.AF_INET6 and k.type == kind.type][0])
    sc.setsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY, 0)
    sc.getsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY)
    sc.close(fd)


@pytest.mark.parametrize("flags", [L.SOCK_NONBLOCK, 0], ids=["nonblocking", "blocking"])
def test_ipv6_v6only_after_a_refused_connect(sc, flags):
    """A refused TCP connection gives back the port connect() took (and one bind() took for
    port 0), so IPV6_V6ONLY may be set again although getsockname still shows the port; a
    port bind() fixed stays, and the option answers EINVAL (found by sockspec explore)."""
    kind = [k for k in ALL if k.family == L.AF_INET6 and k.type == L.SOCK_STREAM][0]
    target, addr = bound(sc, kind)             # bound, not listening: connect is refused
    fd = open_sock(sc, kind, flags)
    sc.connect(fd, addr)
    sc.getsockname(fd)
    sc.setsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY, 1)
    sc.getsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY)
    sc.close(fd)
    fd = open_sock(sc, kind, flags)
    sc.bind(fd, kind.address())                # the address fixed, the port automatic
    sc.connect(fd, addr)
    sc.setsockopt(fd, L.SOL_IPV6, L.IPV6_V6ONLY, 1)
    sc.close(fd)
    fd, mine = bound(sc, kind)
    fixed = open_sock(sc, kind, flags)
    sc.close(fd)
    sc.bind(fixed, mine)                       # the port fixed: it stays after the refusal
    sc.connect(fixed, addr)
    sc.setsockopt(fixed, L.SOL_IPV6, L.IPV6_V6ONLY, 1)
    sc.close(fixed)
    sc.close(target)


def test_peer_credentials_of_another_uid(sc):
    """A socketpair made by a process that dropped to uid/gid 65534 records that process's
    pid and ids (init_peercred() takes current's euid and egid); as an ordinary user, the
    user's own."""
    def body(s):
        a, b = s.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).out["fds"]
        s.getsockopt(a, L.SOL_SOCKET, L.SO_PEERCRED, 12)
        s.getsockopt(b, L.SOL_SOCKET, L.SO_PEERCRED, 12)
        s.close(a)
        s.close(b)
    import os
    if os.geteuid() == 0 and sc.m.capable("CAP_SETUID") and sc.m.capable("CAP_SETGID"):
        sc.in_child(body, uid=65534)
    else:
        body(sc)


TOS_ROWS = [
    ("get-default", "get", {}), ("get-optlen-1", "get", {"optlen": 1}),
    ("get-optlen-3", "get", {"optlen": 3}), ("get-optlen-0", "get", {"optlen": 0}),
    ("get-optlen-8", "get", {"optlen": 8}), ("get-optlen-negative", "get", {"optlen": -1}),
    ("get-optval-fault", "get", {"optval": "fault"}),
    ("set-0x10", "set", {"value": 0x10}), ("set-0xff", "set", {"value": 0xFF}),
    ("set-0x1b7", "set", {"value": 0x1B7}), ("set-minus-1", "set", {"value": -1}),
    ("set-byte", "set", {"value": b"\x28\x99", "optlen": 1}),
    ("set-optlen-3", "set", {"value": b"\x48\x00\x00", "optlen": 3}),
    ("set-optlen-0", "set", {"value": None, "optlen": 0}),
    ("set-optlen-8", "set", {"value": 0x20, "optlen": 8}),
    ("set-fault", "set", {"value": "fault"}),
]


@pytest.mark.parametrize("kind", [BY_ID["inet-stream"], BY_ID["inet-dgram"]], ids=str)
def test_ip_tos(sc, kind):
    """IP_TOS: an int, a byte (optlen 1..3) or nothing (optlen 0 = 0), kept as 8 bits; TCP
    keeps its own ECN bits; read back as a byte when 0 < *optlen < 4."""
    fd = open_kind(sc, kind)
    for label, call, args in TOS_ROWS:
        with row(label):
            args = resolve(sc, args)
            if call == "set":
                sc.setsockopt(fd, L.SOL_IP, IP_TOS, **args)
                sc.getsockopt(fd, L.SOL_IP, IP_TOS)
            else:
                sc.getsockopt(fd, L.SOL_IP, IP_TOS, **args)
    sc.close(fd)
