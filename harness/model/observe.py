"""What a user can observe about a descriptor, as the model predicts it.

The checker probes the kernel for the same names after each call (harness/check.py) and
compares. Where the model holds a Constraint (an ephemeral port, an inode), a matching
observation is learned, so later predictions are exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..abi import linux as L
from .core import Model
from .ops import ProtoOps
from .rules import Constraint, Outcome, rule
from .state import Foreign, Sock


@dataclass
class Expect:
    name: str
    value: Any                              # a value or a Constraint
    learn: Callable | None = None           # learn(observed) once a Constraint admitted it
    # resync(observed) after a divergence where the kernel's answer is a legitimate state of
    # its own (the port it chose): the model adopts it, so the scenario can go on
    resync: Callable | None = None

    def admits(self, observed) -> bool:
        return observed in self.value if isinstance(self.value, Constraint) else observed == self.value


@dataclass(frozen=True)
class Name(Constraint):
    """getsockname/getpeername as observed: (address, addrlen) or an errno name."""
    addr: Any
    addrlen: Any

    def __contains__(self, observed) -> bool:
        if not isinstance(observed, tuple) or len(observed) != 2:
            return False
        addr, length = observed
        ok_addr = addr in self.addr if isinstance(self.addr, Constraint) else addr == self.addr
        ok_len = length in self.addrlen if isinstance(self.addrlen, Constraint) else length == self.addrlen
        return ok_addr and ok_len

    def __str__(self) -> str:
        return f"{self.addr} (addrlen {self.addrlen})"


def has_own(ops, method: str) -> bool:
    """Whether a family overrides a proto_ops method (otherwise the model leaves it alone)."""
    return getattr(type(ops), method) is not getattr(ProtoOps, method)


def _name_expect(m: Model, sock: Sock, peer: bool) -> Expect | None:
    if not has_own(sock.ops, "getname"):
        return None
    got = sock.ops.getname(m, sock, peer)
    label = "peername" if peer else "sockname"
    if isinstance(got, Outcome):
        from ..abi.result import errname
        return Expect(label, errname(got.errno))
    addr, addrlen = got

    def learn(observed, sock=sock, peer=peer):
        attr = "peer" if peer else "local"
        if isinstance(getattr(sock, attr), Constraint):
            setattr(sock, attr, observed[0])

    def resync(observed, sock=sock, peer=peer):
        # the target chose another address or port than the model allows: take its choice
        attr = "peer" if peer else "local"
        if isinstance(observed, tuple) and len(observed) == 2 and observed[0] is not None \
                and (isinstance(getattr(sock, attr), Constraint) or sock.family in (L.AF_INET, L.AF_INET6)):
            setattr(sock, attr, observed[0])
    return Expect(label, Name(addr, addrlen), learn, resync)


def expectations(m: Model, fd: int) -> list[Expect]:
    entry = m.fds.get(fd)
    if entry is None:
        return [Expect("open", False)]
    if isinstance(entry.obj, Foreign):
        return [Expect("open", True)]
    sock: Sock = entry.obj
    out = [
        Expect("open", True),
        Expect("FD_CLOEXEC", entry.cloexec),
        Expect("O_NONBLOCK", sock.nonblock),
        Expect("SO_DOMAIN", sock.family),
        Expect("SO_TYPE", sock.type),
        Expect("SO_PROTOCOL", sock.protocol),
        Expect("SO_ACCEPTCONN", int(sock.listening)),
        Expect("procfs", True),          # /proc/self/fd/N == socket:[fstat st_ino], S_IFSOCK
    ]

    def learn_inode(observed, sock=sock):
        sock.inode = observed
    out.append(Expect("inode", socket_inode(m, sock), learn_inode))
    for peer in (False, True):
        e = _name_expect(m, sock, peer)
        if e is not None:
            out.append(e)
    if sock.listening and sock.family in (L.AF_INET, L.AF_INET6) and sock.type == L.SOCK_STREAM \
            and sock.backlog is not None:
        out.append(Expect("listen_backlog", sock.backlog))     # TCP_INFO tcpi_sacked
        out.append(Expect("accept_queue", len(sock.accept_queue)))   # TCP_INFO tcpi_unacked
    if sock.family == L.AF_INET6 and (sock.type, sock.protocol) in ((L.SOCK_STREAM, L.IPPROTO_TCP),
                                                                     (L.SOCK_DGRAM, L.IPPROTO_UDP)):
        # sk_ipv6only: 0 from inet6_create() (net.ipv6.bindv6only, 0 in the suite's
        # namespaces), 1 after IPV6_V6ONLY or a bind to a specific IPv6 address
        # (net/ipv6/af_inet6.c __inet6_bind(); ipv6(7) IPV6_V6ONLY)
        out.append(Expect("IPV6_V6ONLY", int(bool(sock.opts.get("IPV6_V6ONLY")))))
    if ("so_error" in sock.opts or sock.so_error) and not sock.err_unprobed:
        # (an error that arrives asynchronously, or that the test leaves for the next call,
        # is not read: reading SO_ERROR would consume it)
        def clear(observed, sock=sock):
            sock.so_error = 0
        out.append(Expect("SO_ERROR", sock.so_error, clear))
    return out


@dataclass(frozen=True)
class NewInode(Constraint):
    """A sockfs inode not yet observed: positive, and not the inode of another live socket."""
    taken: frozenset

    def __contains__(self, value) -> bool:
        return isinstance(value, int) and value > 0 and value not in self.taken

    def __str__(self) -> str:
        return "a sockfs inode no other open socket has"


def socket_inode(m: Model, sock: Sock):
    """The inode fstat and /proc/self/fd report for this socket: the one observed before, or a
    new one (every socket has its own inode: net/socket.c sock_alloc() -> new_inode_pseudo())."""
    if isinstance(sock.inode, int):
        return sock.inode
    return NewInode(frozenset(s.inode for s in m.fds.socks() if s is not sock and isinstance(s.inode, int)))


SIGNAL_NAMES = {13: "SIGPIPE"}


def process_expectations(m: Model) -> list[Expect]:
    """What the process shows beyond its descriptors: whether each signal the test blocked is
    pending (sigpending(2)); nothing when the test blocked none."""
    return [Expect(f"{SIGNAL_NAMES.get(sig, sig)} pending", sig in m.sig_pending)
            for sig in sorted(m.sig_blocked)]


SO_ERROR_AT_END = rule(
    "getsockopt.so_error_at_end", "the pending error, 0 when none",
    "At the end of a scenario every socket still open reads, through SO_ERROR, the error the "
    "model holds pending for it (a reset or an ICMP error the test never collected included), "
    "and 0 when it holds none: an error the kernel keeps that the model does not have is a "
    "failure. The checker reads it last, just before closing (the read consumes it).",
    "net/core/sock.c sk_getsockopt() SO_ERROR: val = -sock_error(sk) (xchg(&sk->sk_err, 0)); "
    "socket(7) SO_ERROR")


def so_error_at_end(m: Model) -> list[tuple[int, Sock, Expect]]:
    """(fd, socket, expectation) for every socket of the model still open, once per socket
    (the lowest fd of a dup'd one): SO_ERROR reads its pending error."""
    out, seen = [], set()
    for fd, entry in sorted(m.fds.entries.items()):
        sock = entry.obj
        if not isinstance(sock, Sock) or sock.ident in seen:
            continue
        seen.add(sock.ident)
        out.append((fd, sock, Expect("SO_ERROR", sock.so_error)))
    return out
