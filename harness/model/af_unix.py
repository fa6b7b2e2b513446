"""net/unix/af_unix.c: unix_create(), unix_socketpair() and the unix proto_ops
(unix_stream_ops, unix_dgram_ops, unix_seqpacket_ops): bind (filesystem, abstract, autobind),
listen, connect (stream/seqpacket and datagram), accept, getname, shutdown and release.

What the model keeps: a socket's name (``Sock.local``: a SockaddrUn, None when unnamed), its peer
(``Sock.peer_sock``), the listener's queue of embryos (``Sock.accept_queue``: connected sockets
that accept() will hand out) and the namespace's name tables (``Net.unix_abstract``,
``Net.unix_bsd``, and ``Net.unix_paths`` for filesystem nodes, which outlive their socket).
Filesystem paths are compared as strings: the suite binds absolute, normalised paths in
directories that exist, except those it declares absent in ``Net.missing_dirs``.
"""
from __future__ import annotations

import errno as E
import posixpath
import re
import struct

from ..abi import linux as L
from ..mem import SockaddrUn
from .ops import ProtoOps
from .rules import Constraint, Outcome, Predicate, as_outcomes, rule
from .state import RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK, Sock

SUN_PATH_OFFSET = 2                  # offsetof(struct sockaddr_un, sun_path) == sizeof(sa_family_t)
SOCKADDR_UN_SIZE = 110               # sizeof(struct sockaddr_un)

UNIX_PROTOCOL = rule(
    "socket.unix_protocol", "EPROTONOSUPPORT",
    "AF_UNIX protocol other than 0 or PF_UNIX.",
    "net/unix/af_unix.c unix_create(): protocol && protocol != PF_UNIX; unix(7)")
UNIX_TYPE = rule(
    "socket.unix_type_unsupported", "ESOCKTNOSUPPORT",
    "AF_UNIX takes SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET (and SOCK_RAW) only.",
    "net/unix/af_unix.c unix_create(): default: return -ESOCKTNOSUPPORT")
UNIX_RAW_IS_DGRAM = rule(
    "socket.unix_raw_is_dgram", "fd (SO_TYPE = SOCK_DGRAM)",
    "AF_UNIX SOCK_RAW is created as SOCK_DGRAM.",
    "net/unix/af_unix.c unix_create(): case SOCK_RAW: sock->type = SOCK_DGRAM")
UNIX_CREATE = rule(
    "socket.unix_create", "fd",
    "An AF_UNIX socket; SO_PROTOCOL reads 0 whatever protocol (0 or PF_UNIX) was given.",
    "net/unix/af_unix.c unix_create() -> unix_create1(): sk_protocol is not set; unix(7)")
UNIX_SOCKETPAIR = rule(
    "socketpair.unix", "0, two connected sockets",
    "socketpair() on AF_UNIX: both ends connected to each other, each unnamed.",
    "net/unix/af_unix.c unix_socketpair(); socketpair(2)")

# --------------------------------------------------------------------------- bind

AUTOBIND = rule(
    "bind.unix_autobind", "0, an abstract name of 5 hex digits (getsockname length 8)",
    "addrlen == sizeof(sa_family_t) with sun_family AF_UNIX binds an unbound socket to a free "
    "abstract name: a NUL and five lowercase hex digits (\"%05x\" of a 20-bit number).",
    "net/unix/af_unix.c unix_bind() -> unix_autobind(): addr->len = offsetof(sun_path) + 6, "
    "sprintf(sun_path + 1, \"%05x\", ordernum); unix(7) Autobind feature")
AUTOBIND_BOUND = rule(
    "bind.unix_autobind_bound", "0, the name is unchanged",
    "Autobind of a socket that already has a name succeeds and changes nothing.",
    "net/unix/af_unix.c unix_autobind(): if (u->addr) goto out; with err = 0")
BIND_LEN = rule(
    "bind.unix_addrlen", "EINVAL",
    "addrlen <= sizeof(sa_family_t) (other than autobind) or > sizeof(struct sockaddr_un) (110).",
    "net/unix/af_unix.c unix_validate_addr(): addr_len <= offsetof(sun_path) || addr_len > "
    "sizeof(*sunaddr); unix(7) ERRORS EINVAL")
BIND_FAMILY = rule(
    "bind.unix_family", "EINVAL",
    "sun_family is not AF_UNIX (EINVAL, not EAFNOSUPPORT).",
    "net/unix/af_unix.c unix_validate_addr(): sun_family != AF_UNIX -> -EINVAL; unix(7) ERRORS")
BIND_PATH = rule(
    "bind.unix_path", "0, a filesystem name (getsockname length strlen(path) + 3)",
    "A sun_path not starting with NUL creates a socket node; the name is cut at the first NUL "
    "and reported with its terminating NUL whatever addrlen was.",
    "net/unix/af_unix.c unix_bind_bsd(): unix_mkname_bsd() returns strlen + offsetof + 1; "
    "vfs_mknod(S_IFSOCK); unix(7) Pathname sockets")
BIND_PATH_EXISTS = rule(
    "bind.unix_path_exists", "EADDRINUSE",
    "The path already exists (a live socket or a node left by a closed one): mknod's EEXIST "
    "becomes EADDRINUSE; checked before whether the socket is bound.",
    "net/unix/af_unix.c unix_bind_bsd(): return err == -EEXIST ? -EADDRINUSE : err; "
    "unix(7) ERRORS EADDRINUSE")
BIND_PATH_ENOENT = rule(
    "bind.unix_path_enoent", "ENOENT",
    "A directory on the path does not exist.",
    "net/unix/af_unix.c unix_bind_bsd() -> kern_path_create() -> -ENOENT; unix(7) ERRORS ENOENT")
BIND_PATH_REBIND = rule(
    "bind.unix_path_rebind", "EINVAL",
    "The socket already has a name: the node just created is unlinked again.",
    "net/unix/af_unix.c unix_bind_bsd(): if (u->addr) goto out_unlock -> vfs_unlink, -EINVAL; "
    "unix(7) ERRORS EINVAL")
BIND_ABSTRACT = rule(
    "bind.unix_abstract", "0, an abstract name (getsockname length = addrlen)",
    "A sun_path starting with NUL names the socket in the abstract namespace; the name is the "
    "addrlen - 2 bytes given, NULs included.",
    "net/unix/af_unix.c unix_bind_abstract(); unix(7) Abstract sockets")
BIND_ABSTRACT_INUSE = rule(
    "bind.unix_abstract_inuse", "EADDRINUSE",
    "Another socket of the same type holds the abstract name (the hash includes sk_type, so "
    "another type may hold the same name).",
    "net/unix/af_unix.c unix_bind_abstract(): __unix_find_socket_byname(); unix_abstract_hash() "
    "hash ^= type; unix(7) ERRORS EADDRINUSE")
BIND_ABSTRACT_REBIND = rule(
    "bind.unix_abstract_rebind", "EINVAL",
    "The socket already has a name.",
    "net/unix/af_unix.c unix_bind_abstract(): if (u->addr) -> -EINVAL; unix(7) ERRORS EINVAL")

# --------------------------------------------------------------------------- listen

LISTEN_UNBOUND = rule(
    "listen.unix_unbound", "EINVAL",
    "A stream or seqpacket socket without a name cannot listen (no autobind here).",
    "net/unix/af_unix.c unix_listen(): if (!u->addr) goto out (-EINVAL); listen(2) ERRORS")
LISTEN_CONNECTED = rule(
    "listen.unix_connected", "EINVAL",
    "A connected stream or seqpacket socket cannot listen.",
    "net/unix/af_unix.c unix_listen(): sk_state != TCP_CLOSE && != TCP_LISTEN -> -EINVAL")
LISTEN_OK = rule(
    "listen.unix", "0, sk_max_ack_backlog = backlog",
    "A bound stream or seqpacket socket listens (again: only the backlog changes).",
    "net/unix/af_unix.c unix_listen(): sk_max_ack_backlog = backlog; sk_state = TCP_LISTEN")

# --------------------------------------------------------------------------- connect

CONNECT_LEN = rule(
    "connect.unix_addrlen", "EINVAL",
    "addrlen <= sizeof(sa_family_t) or > sizeof(struct sockaddr_un) (110).",
    "net/unix/af_unix.c unix_stream_connect()/unix_dgram_connect() -> unix_validate_addr(); "
    "connect(2)")
CONNECT_FAMILY = rule(
    "connect.unix_family", "EINVAL",
    "sun_family is neither AF_UNIX nor (for datagram sockets) AF_UNSPEC.",
    "net/unix/af_unix.c unix_validate_addr(): sun_family != AF_UNIX -> -EINVAL")
CONNECT_ENOENT = rule(
    "connect.unix_enoent", "ENOENT",
    "No filesystem node at the path (or a directory on it is missing).",
    "net/unix/af_unix.c unix_find_bsd() -> kern_path() -> -ENOENT; connect(2), unix(7)")
CONNECT_STALE = rule(
    "connect.unix_no_socket", "ECONNREFUSED",
    "The node exists but no socket is bound to it any more (its socket was closed).",
    "net/unix/af_unix.c unix_find_bsd(): unix_find_socket_byinode() == NULL -> -ECONNREFUSED")
CONNECT_PROTOTYPE = rule(
    "connect.unix_prototype", "EPROTOTYPE",
    "The socket bound at the path is of another type.",
    "net/unix/af_unix.c unix_find_bsd(): sk->sk_type != type -> -EPROTOTYPE; unix(7) ERRORS "
    "EPROTOTYPE")
CONNECT_ABSTRACT_REFUSED = rule(
    "connect.unix_abstract_refused", "ECONNREFUSED",
    "No socket of this type holds the abstract name (one of another type does not count).",
    "net/unix/af_unix.c unix_find_abstract(): !sk -> -ECONNREFUSED")
CONNECT_NOT_LISTENING = rule(
    "connect.unix_not_listening", "ECONNREFUSED",
    "The stream/seqpacket socket found is not listening, or was shut down for reading.",
    "net/unix/af_unix.c unix_stream_connect(): other->sk_state != TCP_LISTEN || "
    "other->sk_shutdown & RCV_SHUTDOWN -> -ECONNREFUSED; connect(2) ERRORS ECONNREFUSED")
CONNECT_BACKLOG_FULL = rule(
    "connect.unix_backlog_full", "EAGAIN",
    "The listener's queue holds more than its backlog (so backlog N admits N + 1) and the "
    "connecting socket is non-blocking; checked before the connecting socket's own state.",
    "net/unix/af_unix.c unix_stream_connect(): unix_recvq_full_lockless(): "
    "skb_queue_len > sk_max_ack_backlog, !timeo -> -EAGAIN; unix(7) ERRORS EAGAIN")
CONNECT_ISCONN = rule(
    "connect.unix_isconn", "EISCONN",
    "The stream/seqpacket socket is already connected (checked after the target lookup).",
    "net/unix/af_unix.c unix_stream_connect(): sk_state == TCP_ESTABLISHED -> -EISCONN")
CONNECT_LISTENER = rule(
    "connect.unix_listener", "EINVAL",
    "A listening socket cannot connect.",
    "net/unix/af_unix.c unix_stream_connect(): sk_state != TCP_CLOSE (TCP_LISTEN) -> -EINVAL")
CONNECT_STREAM = rule(
    "connect.unix_stream", "0, connected; an embryo queued on the listener",
    "The connection is made at once: the socket is connected to a new socket queued on the "
    "listener, which carries the listener's name; accept() hands it out.",
    "net/unix/af_unix.c unix_stream_connect(): unix_peer(sk) = newsk, __skb_queue_tail("
    "&other->sk_receive_queue); unix(7)")
CONNECT_PASSCRED = rule(
    "connect.unix_passcred_autobind", "the socket is autobound first",
    "An unnamed socket with SO_PASSCRED (or SO_PASSPIDFD) is autobound at the start of connect "
    "and keeps the name even if the connect fails.",
    "net/unix/af_unix.c unix_stream_connect(), unix_dgram_connect(): test_bit(SOCK_PASSCRED) "
    "&& !u->addr -> unix_autobind(); unix(7) SO_PASSCRED")
DGRAM_LEN = rule(
    "connect.unix_dgram_addrlen", "EINVAL",
    "A datagram connect with addrlen < sizeof(sa_family_t).",
    "net/unix/af_unix.c unix_dgram_connect(): alen < offsetofend(struct sockaddr, sa_family)")
DGRAM_UNSPEC = rule(
    "connect.unix_dgram_unspec", "0, disconnected",
    "AF_UNSPEC dissolves a datagram socket's association (whether or not it had one).",
    "net/unix/af_unix.c unix_dgram_connect(): 1003.1g breaking connected state with AF_UNSPEC")
DGRAM_EPERM = rule(
    "connect.unix_dgram_eperm", "EPERM",
    "The target datagram socket is connected to some other socket.",
    "net/unix/af_unix.c unix_dgram_connect(): !unix_may_send(sk, other) -> -EPERM")
DGRAM_CONNECT = rule(
    "connect.unix_dgram", "0, the peer is set",
    "A datagram socket is associated with the target (replacing an earlier peer; the target's "
    "queue of the old association is flushed).",
    "net/unix/af_unix.c unix_dgram_connect(): unix_peer(sk) = other; unix(7)")

# --------------------------------------------------------------------------- accept

ACCEPT_NOT_LISTENING = rule(
    "accept.unix_not_listening", "EINVAL",
    "accept() on a stream or seqpacket socket that is not listening.",
    "net/unix/af_unix.c unix_accept(): sk_state != TCP_LISTEN -> -EINVAL; accept(2) ERRORS EINVAL")
ACCEPT_EAGAIN = rule(
    "accept.unix_eagain", "EAGAIN",
    "Nothing queued and the listener's file is non-blocking.",
    "net/unix/af_unix.c unix_accept() -> skb_recv_datagram(MSG_DONTWAIT) -> -EAGAIN; accept(2)")
ACCEPT_SHUTDOWN = rule(
    "accept.unix_shutdown", "EINVAL",
    "Nothing queued, a blocking listener shut down for reading: the wait ends with no error, "
    "which accept turns into EINVAL.",
    "net/unix/af_unix.c unix_accept(): if (arg->err == 0) arg->err = -EINVAL; "
    "net/core/datagram.c __skb_wait_for_more_packets(): RCV_SHUTDOWN -> out_noerr")
ACCEPT_OK = rule(
    "accept.unix", "the new fd; the connector's name (unnamed: length 2)",
    "The oldest queued connection is handed out; its address is the connecting socket's name.",
    "net/unix/af_unix.c unix_accept(): skb_recv_datagram(), sock_graft(); accept(2)")

# --------------------------------------------------------------------------- names, shutdown

GETNAME_UNNAMED = rule(
    "getsockname.unix_unnamed", "sun_family only, length sizeof(sa_family_t) == 2",
    "A socket without a name (or the peer of getpeername without one) reports AF_UNIX and a "
    "length of 2.",
    "net/unix/af_unix.c unix_getname(): !addr -> err = offsetof(struct sockaddr_un, sun_path); "
    "unix(7) Address format: unnamed")
GETNAME_NAMED = rule(
    "getsockname.unix_named", "the bound name with its length",
    "A named socket reports the unix_address it was given (path + NUL, abstract bytes, or the "
    "autobind name); an accepted socket carries its listener's name.",
    "net/unix/af_unix.c unix_getname(): memcpy(sunaddr, addr->name, addr->len)")
GETPEERNAME_ENOTCONN = rule(
    "getpeername.unix_enotconn", "ENOTCONN",
    "getpeername() on a socket without a peer (a datagram socket never connected, a listener, "
    "an unconnected stream socket).",
    "net/unix/af_unix.c unix_getname(): peer && !unix_peer_get(sk) -> -ENOTCONN")
GETPEERNAME_CLOSED_PEER = rule(
    "getpeername.unix_closed_peer", "the closed peer's name",
    "The peer pointer survives the peer's close: getpeername still reports its name.",
    "net/unix/af_unix.c unix_release_sock(): unix_peer(sk) = NULL only for the closing socket")
SHUTDOWN_HOW = rule(
    "shutdown.unix_how", "EINVAL",
    "how is not SHUT_RD, SHUT_WR or SHUT_RDWR.",
    "net/unix/af_unix.c unix_shutdown(): mode < SHUT_RD || mode > SHUT_RDWR -> -EINVAL")
SHUTDOWN_OK = rule(
    "shutdown.unix", "0",
    "Any AF_UNIX socket, connected or not: sk_shutdown |= how + 1; a stream/seqpacket peer gets "
    "the mirrored bits (our SHUT_WR is its RCV_SHUTDOWN).",
    "net/unix/af_unix.c unix_shutdown(): peer_mode from mode; shutdown(2)")


# --------------------------------------------------------------------------- helpers

def _family(data: bytes) -> int | None:
    return struct.unpack_from("=H", data)[0] if len(data) >= 2 else None


def _not_modelled(why: str):
    from .socket import NotModelled
    return NotModelled(why)


def validate_addr(data: bytes, addrlen: int, len_rule, family_rule):
    """unix_validate_addr(): None, or the EINVAL outcome."""
    if addrlen <= SUN_PATH_OFFSET or addrlen > SOCKADDR_UN_SIZE:
        return len_rule.fail(E.EINVAL)
    if _family(data) != L.AF_UNIX:
        return family_rule.fail(E.EINVAL)
    return None


def bsd_path(data: bytes, addrlen: int) -> bytes:
    """unix_mkname_bsd(): sun_path cut at the first NUL (the kernel NUL-terminates at addrlen)."""
    path = data[SUN_PATH_OFFSET:addrlen].split(b"\0", 1)[0]
    if len(path) >= L.UNIX_PATH_MAX:
        raise _not_modelled("a 108-byte sun_path without NUL (getsockname length 111)")
    if not path.startswith(b"/") or re.search(rb"//|/\./|/\.\./|/\.\.?$|/$", path):
        raise _not_modelled(f"unix path {path!r}: the model compares absolute, normalised paths")
    return path


def _dir_missing(m, path: bytes) -> bool:
    parent = posixpath.dirname(path)
    while parent not in (b"/", b""):
        if parent.decode(errors="surrogateescape") in m.net.missing_dirs or parent in m.net.missing_dirs:
            return True
        parent = posixpath.dirname(parent)
    return False


def is_autobind_name(sa) -> bool:
    return (isinstance(sa, SockaddrUn) and sa.abstract is not None
            and re.fullmatch(rb"[0-9a-f]{5}", sa.abstract) is not None)


def autobind_name(m, sock: Sock) -> Predicate:
    taken = {s.local.abstract for s in m.net.unix_abstract.values()
             if s.type == sock.type and isinstance(s.local, SockaddrUn)}
    return Predicate(lambda sa: is_autobind_name(sa) and sa.abstract not in taken,
                     "an unused autobind name (NUL + 5 hex digits)")


def unix_name_len(sa) -> int:
    """addr->len: what getsockname reports for a name."""
    return len(sa.encode()) if sa is not None else SUN_PATH_OFFSET


def _register(m, sock: Sock, name) -> None:
    sock.local = name
    sock.bound = True
    if isinstance(name, SockaddrUn) and name.path is not None:
        m.net.unix_paths.add(name.path)
        m.net.unix_bsd[name.path] = sock
    else:
        m.net.unix_abstract[sock.ident] = sock


def _autobind_apply(sock: Sock):
    def apply(model, result, sock=sock):
        _register(model, sock, autobind_name(model, sock))   # learned by the getsockname probe
    return apply


def abstract_owner(m, type: int, name: bytes) -> Sock | None:
    """The socket of this type holding the abstract name (unix_find_socket_byname())."""
    for s in m.net.unix_abstract.values():
        if s.type == type and isinstance(s.local, SockaddrUn) and s.local.abstract == name:
            return s
    return None


def find_other(m, sock: Sock, data: bytes, addrlen: int):
    """unix_find_other(): the socket at the address, or the ENOENT/ECONNREFUSED/EPROTOTYPE
    outcome."""
    if data[SUN_PATH_OFFSET:SUN_PATH_OFFSET + 1] != b"\0":
        path = bsd_path(data, addrlen)
        if _dir_missing(m, path) or path not in m.net.unix_paths:
            return CONNECT_ENOENT.fail(E.ENOENT)
        other = m.net.unix_bsd.get(path)
        if other is None:
            return CONNECT_STALE.fail(E.ECONNREFUSED)
        if other.type != sock.type:
            return CONNECT_PROTOTYPE.fail(E.EPROTOTYPE)
        return other
    other = abstract_owner(m, sock.type, data[SUN_PATH_OFFSET + 1:addrlen])
    if other is None:
        return CONNECT_ABSTRACT_REFUSED.fail(E.ECONNREFUSED)
    return other


def _passcred_autobind(m, sock: Sock) -> bool:
    """unix_*_connect(): SO_PASSCRED on an unnamed socket autobinds it first."""
    return bool(sock.opts.get("SO_PASSCRED") or sock.opts.get("SO_PASSPIDFD")) and not sock.bound


# --------------------------------------------------------------------------- the ops

class UnixOps(ProtoOps):
    family = L.AF_UNIX

    def __init__(self, name: str, connection: bool):
        self.name = name
        self.connection = connection          # stream/seqpacket: listen/accept/stream connect

    def socketpair(self, m, a: Sock, b: Sock):
        def connect_pair(model, result):
            a.peer_sock, b.peer_sock = b, a
            a.state = b.state = "connected"
            a.sk_state = b.sk_state = "ESTABLISHED"
        return UNIX_SOCKETPAIR.ok(0, apply=connect_pair)

    # -- bind ----------------------------------------------------------------------
    def bind(self, m, sock, addr: bytes, addrlen: int):
        if addrlen == SUN_PATH_OFFSET and _family(addr) == L.AF_UNIX:
            if sock.bound:
                return AUTOBIND_BOUND.ok(0)
            return AUTOBIND.ok(0, apply=_autobind_apply(sock))
        err = validate_addr(addr, addrlen, BIND_LEN, BIND_FAMILY)
        if err is not None:
            return err
        if addr[SUN_PATH_OFFSET] != 0:
            path = bsd_path(addr, addrlen)
            if _dir_missing(m, path):
                return BIND_PATH_ENOENT.fail(E.ENOENT)
            if path in m.net.unix_paths:
                return BIND_PATH_EXISTS.fail(E.EADDRINUSE)
            if sock.bound:
                return BIND_PATH_REBIND.fail(E.EINVAL)
            name = SockaddrUn(path=path)
            return BIND_PATH.ok(0, apply=lambda model, r: _register(model, sock, name))
        if sock.bound:
            return BIND_ABSTRACT_REBIND.fail(E.EINVAL)
        abstract = addr[SUN_PATH_OFFSET + 1:addrlen]
        if abstract_owner(m, sock.type, abstract) is not None:
            return BIND_ABSTRACT_INUSE.fail(E.EADDRINUSE)
        name = SockaddrUn(abstract=abstract)
        return BIND_ABSTRACT.ok(0, apply=lambda model, r: _register(model, sock, name))

    # -- listen --------------------------------------------------------------------
    def listen(self, m, sock, backlog: int):
        if not self.connection:
            return super().listen(m, sock, backlog)
        if not sock.bound:
            return LISTEN_UNBOUND.fail(E.EINVAL)
        if sock.sk_state not in ("CLOSE", "LISTEN"):
            return LISTEN_CONNECTED.fail(E.EINVAL)

        def apply(model, result):
            sock.backlog = backlog
            sock.sk_state = "LISTEN"
            sock.state = "listening"
        return LISTEN_OK.ok(0, apply=apply)

    # -- connect -------------------------------------------------------------------
    def connect(self, m, sock, addr: bytes, addrlen: int, flags: int):
        if self.connection:
            return self.stream_connect(m, sock, addr, addrlen, flags)
        return self.dgram_connect(m, sock, addr, addrlen, flags)

    def _passcred(self, m, sock, outcomes):
        """SO_PASSCRED (or SO_PASSPIDFD) on an unnamed socket: connect autobinds it first, and
        the name stays whatever the connect then answers."""
        bind = _autobind_apply(sock)
        out = []
        for o in as_outcomes(outcomes):
            def apply(model, result, o=o):
                bind(model, result)
                if o.apply is not None:
                    o.apply(model, result)
            out.append(Outcome(o.rule, o.errno, o.ret, o.out, apply, o.also + (CONNECT_PASSCRED,)))
        return tuple(out)

    def stream_connect(self, m, sock, addr, addrlen, flags):
        err = validate_addr(addr, addrlen, CONNECT_LEN, CONNECT_FAMILY)
        if err is not None:
            return err
        if _passcred_autobind(m, sock):
            return self._passcred(m, sock, self._stream_connect(m, sock, addr, addrlen, flags))
        return self._stream_connect(m, sock, addr, addrlen, flags)

    def _stream_connect(self, m, sock, addr, addrlen, flags):
        from .socket import is_error
        other = find_other(m, sock, addr, addrlen)
        if is_error(other):
            return other
        if other.sk_state != "LISTEN" or other.shutdown & RCV_SHUTDOWN:
            return CONNECT_NOT_LISTENING.fail(E.ECONNREFUSED)
        if len(other.accept_queue) > (other.backlog or 0):
            if flags & L.O_NONBLOCK:
                return CONNECT_BACKLOG_FULL.fail(E.EAGAIN)
            raise _not_modelled("a blocking connect to a full unix listener waits")
        if sock.sk_state != "CLOSE":
            if sock.sk_state == "ESTABLISHED":
                return CONNECT_ISCONN.fail(E.EISCONN)
            return CONNECT_LISTENER.fail(E.EINVAL)

        def apply(model, result, other=other):
            embryo = Sock(L.AF_UNIX, sock.type, 0, self, state="connected", sk_state="ESTABLISHED",
                          local=other.local, bound=other.local is not None, listener=other,
                          peer_sock=sock)
            other.accept_queue.append(embryo)
            sock.peer_sock = embryo
            sock.state = "connected"
            sock.sk_state = "ESTABLISHED"
        return CONNECT_STREAM.ok(0, apply=apply)

    def dgram_connect(self, m, sock, addr, addrlen, flags):
        if addrlen < 2:
            return DGRAM_LEN.fail(E.EINVAL)
        if _family(addr) == L.AF_UNSPEC:
            return DGRAM_UNSPEC.ok(0, apply=lambda model, r: _dgram_set_peer(model, sock, None))
        err = validate_addr(addr, addrlen, CONNECT_LEN, CONNECT_FAMILY)
        if err is not None:
            return err
        if _passcred_autobind(m, sock):
            return self._passcred(m, sock, self._dgram_connect(m, sock, addr, addrlen))
        return self._dgram_connect(m, sock, addr, addrlen)

    def _dgram_connect(self, m, sock, addr, addrlen):
        from .socket import is_error
        other = find_other(m, sock, addr, addrlen)
        if is_error(other):
            return other
        if other.peer_sock is not None and other.peer_sock is not sock:
            return DGRAM_EPERM.fail(E.EPERM)

        def apply(model, result, other=other):
            other.sk_state = "ESTABLISHED"
            _dgram_set_peer(model, sock, other)
        return DGRAM_CONNECT.ok(0, apply=apply)

    # -- accept --------------------------------------------------------------------
    def accept(self, m, sock, newfd, flags, addr, addrlen):
        from .socket import accepted
        if not self.connection:
            return super().accept(m, sock, newfd, flags, addr, addrlen)
        if sock.sk_state != "LISTEN":
            return ACCEPT_NOT_LISTENING.fail(E.EINVAL)
        if not sock.accept_queue:
            if sock.nonblock:
                return ACCEPT_EAGAIN.fail(E.EAGAIN)
            if sock.shutdown & RCV_SHUTDOWN:
                return ACCEPT_SHUTDOWN.fail(E.EINVAL)
            raise _not_modelled("accept() on a blocking unix listener with nothing queued waits")
        child = sock.accept_queue[0]
        peer = peer_name(child)
        if isinstance(peer, Constraint):
            raise _not_modelled("the connector's autobind name was never observed")

        def take(model, child=child):
            sock.accept_queue.remove(child)
            child.listener = None
        return accepted(m, ACCEPT_OK, child, newfd, flags, addr, addrlen,
                        peer if peer is not None else SockaddrUn(), unix_name_len(peer), take,
                        also=name_rules(peer, True))

    # -- names ---------------------------------------------------------------------
    def getname(self, m, sock, peer: bool):
        if peer:
            if sock.peer_sock is None:
                return GETPEERNAME_ENOTCONN.fail(E.ENOTCONN)
            name = peer_name(sock)
        else:
            name = sock.local
        if name is None:
            return SockaddrUn(), SUN_PATH_OFFSET
        if isinstance(name, Constraint):               # an autobind name not yet observed
            return name, SUN_PATH_OFFSET + 6
        return name, unix_name_len(name)

    def getname_rules(self, m, sock, peer: bool) -> tuple:
        if peer:
            if sock.peer_sock is None:
                return ()
            extra = (GETPEERNAME_CLOSED_PEER,) if sock.peer_sock.state == "closed" else ()
            return name_rules(peer_name(sock), True) + extra
        return name_rules(sock.local, False)

    # -- shutdown ------------------------------------------------------------------
    def shutdown(self, m, sock, how: int):
        if how < L.SHUT_RD or how > L.SHUT_RDWR:
            return SHUTDOWN_HOW.fail(E.EINVAL)
        mode = how + 1

        def apply(model, result):
            sock.shutdown |= mode
            other = sock.peer_sock
            if other is not None and self.connection:
                peer_mode = (SEND_SHUTDOWN if mode & RCV_SHUTDOWN else 0) | \
                            (RCV_SHUTDOWN if mode & SEND_SHUTDOWN else 0)
                other.shutdown |= peer_mode
        return SHUTDOWN_OK.ok(0, apply=apply)

    # -- release -------------------------------------------------------------------
    def release(self, m, sock):
        unix_release_sock(m, sock, embrion=False)


def name_rules(name, peer: bool) -> tuple:
    return (GETNAME_UNNAMED,) if name is None else (GETNAME_NAMED,)


def peer_name(sock: Sock):
    """The peer's name as unix_getname(peer) reads it now (None: unnamed)."""
    other = sock.peer_sock
    return None if other is None else other.local


def _dgram_set_peer(m, sock: Sock, other: Sock | None) -> None:
    """unix_dgram_connect()'s tail: replace the peer; unix_dgram_disconnected() for the old one."""
    old = sock.peer_sock
    sock.peer_sock = other                   # (sock->state is left alone, as the kernel does)
    sock.sk_state = "CLOSE" if other is None else "ESTABLISHED"
    if old is not None and old is not other:
        if sock.recv_queue:
            sock.recv_queue.clear()
            if old.state != "closed" and old.peer_sock is sock:
                old.so_error = E.ECONNRESET
        if old.peer_sock is None:
            old.sk_state = "CLOSE"


def unix_release_sock(m, sock: Sock, embrion: bool) -> None:
    """unix_release_sock(): drop the name, hang up a stream peer (ECONNRESET if data was left
    unread or the socket was never accepted), and release the embryos of a listener."""
    for key, s in list(m.net.unix_abstract.items()):
        if s is sock:
            del m.net.unix_abstract[key]
    for path, s in list(m.net.unix_bsd.items()):
        if s is sock:
            del m.net.unix_bsd[path]              # the node stays in unix_paths
    state = sock.sk_state
    sock.shutdown = SHUTDOWN_MASK
    sock.sk_state = "CLOSE"
    sock.state = "closed"
    skpair, sock.peer_sock = sock.peer_sock, None
    if skpair is not None and sock.type in (L.SOCK_STREAM, L.SOCK_SEQPACKET):
        skpair.shutdown = SHUTDOWN_MASK
        if sock.recv_queue or embrion:
            skpair.so_error = E.ECONNRESET
        # skpair.peer_sock stays: getpeername still reports our name
    if state == "LISTEN":
        for embryo in sock.accept_queue:
            unix_release_sock(m, embryo, embrion=True)
    sock.accept_queue = []


UNIX_STREAM_OPS = UnixOps("unix_stream_ops", connection=True)
UNIX_DGRAM_OPS = UnixOps("unix_dgram_ops", connection=False)
UNIX_SEQPACKET_OPS = UnixOps("unix_seqpacket_ops", connection=True)


def unix_create(m, type: int, protocol: int):
    from .socket import Created
    if protocol and protocol != L.AF_UNIX:
        return UNIX_PROTOCOL.fail(E.EPROTONOSUPPORT)
    if type == L.SOCK_STREAM:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_STREAM_OPS))
    if type == L.SOCK_RAW:
        return Created(UNIX_RAW_IS_DGRAM, Sock(L.AF_UNIX, L.SOCK_DGRAM, 0, UNIX_DGRAM_OPS))
    if type == L.SOCK_DGRAM:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_DGRAM_OPS))
    if type == L.SOCK_SEQPACKET:
        return Created(UNIX_CREATE, Sock(L.AF_UNIX, type, 0, UNIX_SEQPACKET_OPS))
    return UNIX_TYPE.fail(E.ESOCKTNOSUPPORT)
