"""The model's state: the fd table, the sockets behind it, and the network namespace.

Only what a user can observe is kept. Where the kernel is free to choose (an ephemeral port, an
inode number) a field holds a Constraint until a probe observes the value; from then on it holds
the value (``learn``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..abi import linux as L
from .rules import Constraint

RCV_SHUTDOWN = 1        # include/net/sock.h
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3
SOCK_BINDADDR_LOCK = 4  # include/net/sock.h sk_userlocks: bind() fixed the address / the port
SOCK_BINDPORT_LOCK = 8

_ids = itertools.count(1)


@dataclass(eq=False)
class Sock:
    """struct socket + struct sock, as far as they can be observed from user space.
    ``state`` follows the socket layer: unconnected, listening, connecting, connected (plus
    disconnecting, and closed for a released socket: an embryo, or a TCP end lingering in
    Net.inet_bound); a datagram connect leaves it alone, as the kernel does (see peer,
    peer_sock, sk_state). A TCP end that sent FIN is FIN_WAIT1 until the peer's delayed ACK
    makes it FIN_WAIT2: the model keeps FIN_WAIT1 for both."""
    family: int
    type: int
    protocol: int
    ops: Any = None                 # the family's operations (a model *Ops class instance)
    nonblock: bool = False          # O_NONBLOCK lives on the file, shared by dup'd fds
    state: str = "unconnected"
    local: Any = None               # bound address, a Constraint until observed, or None
    peer: Any = None                # the connected peer's address
    peer_sock: "Sock | None" = None  # the other end when it is in the model
    backlog: int | None = None      # sk_max_ack_backlog of a listener
    accept_queue: list = field(default_factory=list)   # established, not yet accepted
    recv_queue: list = field(default_factory=list)     # datagrams or stream chunks
    shutdown: int = 0               # RCV_SHUTDOWN | SEND_SHUTDOWN
    so_error: int = 0
    opts: dict = field(default_factory=dict)
    inode: int | Constraint | None = None
    ident: int = field(default_factory=lambda: next(_ids))
    # connection management (af_inet.py, af_unix.py, inet_connection_sock.py)
    sk_state: str = "CLOSE"         # the transport's sk_state by its TCP_* name; unix uses CLOSE,
    #                                 LISTEN, ESTABLISHED. ``state`` is the socket layer's view.
    bound: bool = False             # holds a port in the bind table (inet_num != 0) or a unix name
    userlocks: int = 0              # SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK: what bind() fixed
    listener: "Sock | None" = None  # the listener whose accept queue holds it, until accepted
    accepted_from: "Sock | None" = None  # the listener accept() took it from
    bind_bucket: bool = False       # its port came from bind()/listen() (or its listener's):
    #                                 connect()'s port search skips such ports
    unhashed_from: str | None = None  # TCP: the hash table it last left, "ehash" or "lhash"
    #                                 (icsk->unhashed_state where the kernel keeps it)
    # data (socket.py entries, tcp.py, udp.py, af_unix.py); recv_queue holds Skb items
    err_unprobed: bool = False      # so_error came (or may still come) asynchronously, or is
    #                                 left for the next call: the checker must not read
    #                                 SO_ERROR, which would consume it
    rcv_nxt: int = 0                # TCP: bytes received so far (the model's sequence space)
    copied_seq: int = 0             # TCP: bytes consumed by recv (urgent bytes skipped count)
    rcv_fin: bool = False           # TCP: the peer's FIN arrived (SOCK_DONE)
    urg: Any = None                 # TCP urgent data: None or Urg
    oob_skb: Any = None             # unix stream: u->oob_skb, an Skb of recv_queue or None
    err_queue: list = field(default_factory=list)      # sk_error_queue: errqueue.ErrSkb items

    def take_error(self) -> int:
        """sock_error(): the pending error, cleared (xchg(&sk->sk_err, 0))."""
        err, self.so_error, self.err_unprobed = self.so_error, 0, False
        return err

    @property
    def listening(self) -> bool:
        return self.state == "listening"

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def __repr__(self) -> str:
        fam = L.FAMILY_NAMES.get(self.family, self.family)
        typ = L.TYPE_NAMES.get(self.type, self.type)
        return f"<sock#{self.ident} {fam} {typ} proto={self.protocol} {self.state} local={self.local}>"

    def describe(self) -> str:
        """One line of what the model holds about the socket, for failure messages."""
        fam = L.FAMILY_NAMES.get(self.family, self.family)
        typ = L.TYPE_NAMES.get(self.type, self.type)
        parts = [f"{fam} {typ}", f"{self.state}/{self.sk_state}"]
        if self.local is not None:
            parts.append(f"local {self.local}")
        if self.peer is not None:
            parts.append(f"peer {self.peer}")
        if self.bound:
            parts.append("bound")
        if self.backlog is not None:
            parts.append(f"backlog {self.backlog}, {len(self.accept_queue)} queued")
        if self.recv_queue:
            parts.append(f"{len(self.recv_queue)} queued to read")
        if self.shutdown:
            parts.append(f"shutdown {self.shutdown}")
        if self.so_error:
            parts.append(f"so_error {self.so_error}")
        if self.err_queue:
            parts.append(f"{len(self.err_queue)} in the error queue")
        if self.unhashed_from:
            parts.append(f"left {self.unhashed_from}")
        if self.nonblock:
            parts.append("O_NONBLOCK")
        return ", ".join(parts)


@dataclass(eq=False)
class Skb:
    """One sk_buff of a receive queue as recv can tell it: the bytes, who sent them, and (unix
    stream) how much of it recv consumed (UNIXCB(skb).consumed)."""
    data: bytes
    sender: "Sock | None" = None    # skb->sk: unix_copy_addr() reads its name at recv time
    source: Any = None              # UDP: the source address (None: the sender's, read late)
    consumed: int = 0
    fp: tuple = ()                  # unix: the files of SCM_RIGHTS (UNIXCB(skb).fp), model/scm.py
    creds: tuple | None = None      # unix: (pid, uid, gid) stamped at the send, or None

    @property
    def left(self) -> int:
        return len(self.data) - self.consumed


@dataclass(eq=False)
class Urg:
    """TCP urgent data at the receiver (tp->urg_data, tp->urg_seq)."""
    seq: int                        # the urgent byte's position in the model's sequence space
    byte: bytes
    read: bool = False              # TCP_URG_READ: recv(MSG_OOB) took it


@dataclass(eq=False)
class Foreign:
    """An open fd the model did not create (pytest's files, pipes, an inherited socket, the
    suite's catalogue of descriptor kinds: suite/fdkinds.py)."""
    what: str                        # the /proc/self/fd link target
    nonblock: bool = False
    path_only: bool = False          # opened with O_PATH (FMODE_PATH): fdget() does not see it
    kind: str = ""                   # what it is, for messages ("eventfd", "O_PATH file")

    @property
    def is_socket(self) -> bool:
        return self.what.startswith("socket:")


@dataclass(eq=False)
class FdEntry:
    obj: Sock | Foreign
    cloexec: bool = False


class FdTable:
    """files_struct: fd -> open file. alloc_fd() hands out the lowest free number
    (fs/file.c), below RLIMIT_NOFILE."""

    def __init__(self, entries: dict[int, FdEntry] | None = None, rlimit: int = 1024):
        self.entries: dict[int, FdEntry] = dict(entries or {})
        self.rlimit = rlimit

    def lowest_free(self, start: int = 0) -> int:
        fd = start
        while fd in self.entries:
            fd += 1
        return fd

    def get(self, fd: int) -> FdEntry | None:
        return self.entries.get(fd)

    def install(self, fd: int, obj, cloexec: bool = False) -> None:
        self.entries[fd] = FdEntry(obj, cloexec)

    def remove(self, fd: int) -> FdEntry | None:
        return self.entries.pop(fd, None)

    def fds_of(self, obj) -> list[int]:
        return [fd for fd, e in self.entries.items() if e.obj is obj]

    def socks(self) -> list[Sock]:
        seen, out = set(), []
        for e in self.entries.values():
            if isinstance(e.obj, Sock) and e.obj.ident not in seen:
                seen.add(e.obj.ident)
                out.append(e.obj)
        return out


@dataclass
class Net:
    """The network namespace as the model sees it: per-netns sysctls and the sockets alive in
    it that the model knows (open, or queued on a listener)."""
    somaxconn: int = 4096
    port_range: tuple[int, int] = (32768, 60999)
    unprivileged_port_start: int = 1024
    unix_paths: set = field(default_factory=set)       # filesystem names created by bind
    inet_bound: list = field(default_factory=list)     # Socks holding a TCP/UDP port, incl. ends
    #                                                    lingering after close (FIN_WAIT2, TIME_WAIT)
    unix_bsd: dict = field(default_factory=dict)       # filesystem name -> the Sock bound to it
    unix_abstract: dict = field(default_factory=dict)  # Sock.ident -> a Sock with an abstract name
    missing_dirs: set = field(default_factory=set)     # directories the suite declared absent


def learn(obj, attr: str, observed) -> bool:
    """If obj.attr is a Constraint that admits ``observed``, fix it to ``observed``.
    Returns whether the value is (now) the observed one."""
    current = getattr(obj, attr)
    if isinstance(current, Constraint):
        if observed in current:
            setattr(obj, attr, observed)
            return True
        return False
    return current == observed
