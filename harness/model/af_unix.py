"""net/unix/af_unix.c: unix_create(), unix_socketpair() and the unix proto_ops
(unix_stream_ops, unix_dgram_ops, unix_seqpacket_ops): bind (filesystem, abstract, autobind),
listen, connect (stream/seqpacket and datagram), accept, getname, shutdown and release.

What the model keeps: a socket's name (``Sock.local``: a SockaddrUn, None when unnamed), its peer
(``Sock.peer_sock``), the listener's queue of embryos (``Sock.accept_queue``: connected sockets
that accept() will hand out) and the namespace's name tables (``Net.unix_abstract``,
``Net.unix_bsd``, and ``Net.unix_paths`` for filesystem nodes, which outlive their socket).
Filesystem paths are walked by vfs.py: the nodes and credentials the test declared get the
kernel's checks (search and write permission, ENOTDIR, symlinks, ELOOP, read-only mounts);
undeclared directories exist and may be searched unless declared absent in ``Net.missing_dirs``.
A node is keyed by its path with the symlinks of its directories resolved.
"""
from __future__ import annotations

import errno as E
import re
import struct

from ..abi import linux as L
from ..abi.markers import CONFIG_AF_UNIX_OOB, has, lacks
from ..mem import SockaddrUn
from . import vfs
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
    "net/unix/af_unix.c unix_create(): case SOCK_RAW: sock->type = SOCK_DGRAM",
    shows=('SO_TYPE',), documented=True)
UNIX_CREATE = rule(
    "socket.unix_create", "fd",
    "An AF_UNIX socket; SO_PROTOCOL reads 0 whatever protocol (0 or PF_UNIX) was given.",
    "net/unix/af_unix.c unix_create() -> unix_create1(): sk_protocol is not set; unix(7)",
    shows=('answer', 'SO_DOMAIN', 'SO_PROTOCOL'))
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
    "A directory on the path does not exist (or a symlink on it leads nowhere).",
    "net/unix/af_unix.c unix_bind_bsd() -> kern_path_create() -> -ENOENT; unix(7) ERRORS ENOENT")
BIND_PATH_SEARCH = rule(
    "bind.unix_path_search", "EACCES",
    "Search (execute) permission is denied on a directory of the path prefix, the parent of "
    "the new node included; CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE grant it on any directory.",
    "fs/namei.c kern_path_create() -> filename_parentat() -> link_path_walk() -> may_lookup() "
    "-> inode_permission(MAY_EXEC) -> generic_permission(); bind(2) ERRORS EACCES, "
    "path_resolution(7) Step 2")
BIND_PATH_NO_WRITE = rule(
    "bind.unix_path_no_write", "EACCES",
    "No write (and search) permission on the directory the node is made in; "
    "CAP_DAC_OVERRIDE grants it. Checked after EEXIST and EROFS.",
    "net/unix/af_unix.c unix_bind_bsd() -> vfs_mknod() -> may_create() -> inode_permission(dir, "
    "MAY_WRITE | MAY_EXEC); bind(2) ERRORS EACCES")
BIND_PATH_ENOTDIR = rule(
    "bind.unix_path_enotdir", "ENOTDIR",
    "A component of the path prefix is not a directory.",
    "fs/namei.c link_path_walk(): !d_can_lookup() -> -ENOTDIR; bind(2) ERRORS ENOTDIR")
BIND_PATH_ELOOP = rule(
    "bind.unix_path_eloop", "ELOOP",
    "More than 40 symbolic links are met resolving the path prefix (a loop); the last component "
    "is not followed (a symlink there, even a looping one, is EADDRINUSE).",
    "fs/namei.c pick_link(): nd->total_link_count++ >= MAXSYMLINKS (40) -> -ELOOP; "
    "filename_create() does not follow the last component; bind(2) ERRORS ELOOP")
BIND_PATH_NAMETOOLONG = rule(
    "bind.unix_path_nametoolong", "ENAMETOOLONG",
    "A component longer than NAME_MAX (255) is looked up. sun_path holds at most 108 bytes "
    "(unix_mkname_bsd() ends it at addr_len <= 110), so neither NAME_MAX nor PATH_MAX (4096) "
    "can be exceeded by the address itself: only the body of a symlink on the path can bring "
    "such a component (bind(2)'s \"addr is too long\" is EINVAL: bind.unix_addrlen).",
    "fs/ext4/namei.c ext4_lookup(), fs/libfs.c simple_lookup() (tmpfs): d_name.len > NAME_MAX "
    "-> -ENAMETOOLONG; net/unix/af_unix.c unix_validate_addr(); bind(2) ERRORS ENAMETOOLONG, "
    "path_resolution(7) Length limit")
BIND_PATH_EROFS = rule(
    "bind.unix_path_erofs", "EROFS",
    "The directory is on a read-only mount (a read-only bind mount will do). Reported after "
    "EEXIST (an existing name is EADDRINUSE) and before the write permission check.",
    "fs/namei.c filename_create(): err2 = mnt_want_write() is returned only after the "
    "d_is_positive() -> -EEXIST check; bind(2) ERRORS EROFS")
BIND_PATH_REBIND = rule(
    "bind.unix_path_rebind", "EINVAL",
    "The socket already has a name: the node just created is unlinked again.",
    "net/unix/af_unix.c unix_bind_bsd(): if (u->addr) goto out_unlock -> vfs_unlink, -EINVAL "
    "(since c0c3b8d380a8, v5.14); unix(7) ERRORS EINVAL", since=(5, 14, 0))
BIND_PATH_REBIND_LEAVES_NODE = rule(
    "bind.unix_path_rebind_leaves_node", "EINVAL; the node stays",
    "Before 5.14 the node made for a socket that already has a name is not unlinked: the path "
    "stays taken (EADDRINUSE for the next bind), owned by no socket.",
    "net/unix/af_unix.c unix_bind() (5.10): unix_mknod(), then 'if (u->addr) goto out_up' with "
    "no unlink; fixed by c0c3b8d380a8 'unix_bind_bsd(): unlink if we fail after successful "
    "mknod' (Al Viro, net-next June 2021, v5.14); LTP bind03 expects either", until=(5, 14, 0))
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
    "net/unix/af_unix.c unix_listen(): sk_max_ack_backlog = backlog; sk_state = TCP_LISTEN", documented=True)

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
CONNECT_SEARCH = rule(
    "connect.unix_search", "EACCES",
    "Search permission is denied on a directory of the path (CAP_DAC_READ_SEARCH or "
    "CAP_DAC_OVERRIDE grant it).",
    "net/unix/af_unix.c unix_find_bsd() -> kern_path(LOOKUP_FOLLOW) -> link_path_walk() -> "
    "may_lookup(); connect(2) ERRORS EACCES (search permission on a directory of the path)")
CONNECT_NO_WRITE = rule(
    "connect.unix_no_write", "EACCES",
    "No write permission on the node the path names (a socket or any other file); "
    "CAP_DAC_OVERRIDE grants it. Checked before whether the node is a socket.",
    "net/unix/af_unix.c unix_find_bsd(): path_permission(&path, MAY_WRITE) (5.10: "
    "unix_find_other(): inode_permission(inode, MAY_WRITE)); connect(2) ERRORS EACCES")
CONNECT_NOT_SOCKET = rule(
    "connect.unix_not_socket", "ECONNREFUSED",
    "The node the path names is not a socket (a regular file, a directory).",
    "net/unix/af_unix.c unix_find_bsd(): !S_ISSOCK(inode->i_mode) -> -ECONNREFUSED")
CONNECT_ENOTDIR = rule(
    "connect.unix_enotdir", "ENOTDIR",
    "A component of the path prefix is not a directory.",
    "fs/namei.c link_path_walk(): !d_can_lookup() -> -ENOTDIR; path_resolution(7) Step 2 "
    "(connect(2) does not list it; unix(7) refers to the filesystem's errors)")
CONNECT_ELOOP = rule(
    "connect.unix_eloop", "ELOOP",
    "More than 40 symbolic links are met resolving the path; the last component is followed.",
    "net/unix/af_unix.c unix_find_bsd(): kern_path(LOOKUP_FOLLOW); fs/namei.c pick_link(): "
    "total_link_count++ >= MAXSYMLINKS (40) -> -ELOOP; path_resolution(7) Symbolic links")
CONNECT_NAMETOOLONG = rule(
    "connect.unix_nametoolong", "ENAMETOOLONG",
    "A component longer than NAME_MAX (255) is looked up; within the 108 bytes of sun_path "
    "only a symlink's body can bring one.",
    "fs/ext4/namei.c ext4_lookup(), fs/libfs.c simple_lookup(): d_name.len > NAME_MAX -> "
    "-ENAMETOOLONG; path_resolution(7) Length limit")
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
    "&& !u->addr -> unix_autobind(); unix(7) SO_PASSCRED",
    shows=('sockname',))
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
    "unix(7) Address format: unnamed",
    shows=('answer', 'sockname', 'peername', 'out.addr', 'out.name', 'out.messages'))
GETNAME_NAMED = rule(
    "getsockname.unix_named", "the bound name with its length",
    "A named socket reports the unix_address it was given (path + NUL, abstract bytes, or the "
    "autobind name); an accepted socket carries its listener's name.",
    "net/unix/af_unix.c unix_getname(): memcpy(sunaddr, addr->name, addr->len)",
    shows=('answer', 'sockname', 'peername', 'out.addr', 'out.name', 'out.messages'), documented=True)
GETPEERNAME_ENOTCONN = rule(
    "getpeername.unix_enotconn", "ENOTCONN",
    "getpeername() on a socket without a peer (a datagram socket never connected, a listener, "
    "an unconnected stream socket).",
    "net/unix/af_unix.c unix_getname(): peer && !unix_peer_get(sk) -> -ENOTCONN")
GETPEERNAME_CLOSED_PEER = rule(
    "getpeername.unix_closed_peer", "the closed peer's name",
    "The peer pointer survives the peer's close: getpeername still reports its name.",
    "net/unix/af_unix.c unix_release_sock(): unix_peer(sk) = NULL only for the closing socket",
    shows=('answer', 'peername', 'out.addr'))
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


def _register(m, sock: Sock, name, node_path: bytes | None = None, node=None) -> None:
    """Name the socket; a filesystem name also makes its node (at ``node_path``: the path with
    the symlinks of its directories resolved)."""
    sock.local = name
    sock.bound = True
    if isinstance(name, SockaddrUn) and name.path is not None:
        node_path = node_path or name.path
        m.net.unix_paths.add(node_path)
        m.net.unix_bsd[node_path] = sock
        if node is not None:
            m.vfs.declare(node_path, node)
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


_BIND_WALK = {"search": BIND_PATH_SEARCH, "enoent": BIND_PATH_ENOENT,
              "enotdir": BIND_PATH_ENOTDIR, "eloop": BIND_PATH_ELOOP,
              "nametoolong": BIND_PATH_NAMETOOLONG}
_CONNECT_WALK = {"search": CONNECT_SEARCH, "enoent": CONNECT_ENOENT,
                 "enotdir": CONNECT_ENOTDIR, "eloop": CONNECT_ELOOP,
                 "nametoolong": CONNECT_NAMETOOLONG}


def find_other(m, sock: Sock, data: bytes, addrlen: int):
    """unix_find_other(): the socket at the address, or the ENOENT/ECONNREFUSED/EPROTOTYPE
    outcome."""
    if data[SUN_PATH_OFFSET:SUN_PATH_OFFSET + 1] != b"\0":
        try:
            path = vfs.walk(m, bsd_path(data, addrlen), create=False)
        except vfs.WalkError as err:
            return _CONNECT_WALK[err.kind].fail(err.errno)
        node = m.vfs.nodes.get(path)
        if node is not None:
            if not vfs.generic_permission(m, node, vfs.MAY_WRITE):
                return CONNECT_NO_WRITE.fail(E.EACCES)
            if node.kind != "sock":
                return CONNECT_NOT_SOCKET.fail(E.ECONNREFUSED)
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
            from .sock import current_ucred
            a.peer_sock, b.peer_sock = b, a
            a.peercred = b.peercred = current_ucred(model)     # init_peercred() on both
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
            given = bsd_path(addr, addrlen)
            try:
                parent, last = vfs.walk(m, given, create=True)
            except vfs.WalkError as err:
                return _BIND_WALK[err.kind].fail(err.errno)
            path = vfs.join(parent, last)
            if vfs.exists(m, path):
                return BIND_PATH_EXISTS.fail(E.EADDRINUSE)
            pnode = m.vfs.nodes.get(parent)
            if pnode is not None and pnode.readonly:
                return BIND_PATH_EROFS.fail(E.EROFS)
            if pnode is not None and not vfs.generic_permission(m, pnode, vfs.MAY_WRITE | vfs.MAY_EXEC):
                return BIND_PATH_NO_WRITE.fail(E.EACCES)
            node = vfs.new_node(m, parent, "sock", 0o777)   # sock_alloc(): S_IRWXUGO

            def make_node(model, path=path, node=node):
                model.net.unix_paths.add(path)
                if node is not None:
                    model.vfs.declare(path, node)
            if sock.bound:
                if m.holds(BIND_PATH_REBIND_LEAVES_NODE):
                    return Outcome(BIND_PATH_REBIND_LEAVES_NODE, E.EINVAL, Exact(-1), {},
                                   lambda model, r: make_node(model))
                return BIND_PATH_REBIND.fail(E.EINVAL)
            name = SockaddrUn(path=given)
            return BIND_PATH.ok(0, apply=lambda model, r: _register(model, sock, name, path, node))
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

    # -- data ----------------------------------------------------------------------
    def sendmsg(self, m, sock, msg):
        if sock.type == L.SOCK_STREAM:
            return unix_stream_sendmsg(m, sock, msg)
        if sock.type == L.SOCK_SEQPACKET:
            return unix_seqpacket_sendmsg(m, sock, msg)
        return unix_dgram_sendmsg(m, sock, msg)

    def recvmsg(self, m, sock, rmsg):
        from . import errqueue
        answer = self._recvmsg(m, sock, rmsg)
        if rmsg.flags & errqueue.MSG_ERRQUEUE:
            return errqueue.unix_ignores(answer)
        return answer

    def _recvmsg(self, m, sock, rmsg):
        if sock.type == L.SOCK_STREAM:
            return unix_stream_recvmsg(m, sock, rmsg)
        if sock.type == L.SOCK_SEQPACKET and sock.sk_state != "ESTABLISHED":
            return _err(RECV_SEQ_ENOTCONN, E.ENOTCONN)
        return unix_dgram_recvmsg(m, sock, rmsg)

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

    def release_rules(self, sock, m=None) -> tuple:
        if m is not None and self.connection and sock.peer_sock is not None \
                and _head_skipped(m, sock):
            return (RESET_SKIPS_EMPTY_HEAD,)
        return ()


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
            purge(m, sock.recv_queue)
            sock.recv_queue.clear()
            if old.state != "closed" and old.peer_sock is sock:
                old.so_error = E.ECONNRESET
                old.err_unprobed = True
        if old.peer_sock is None:
            old.sk_state = "CLOSE"


RESET_SKIPS_EMPTY_HEAD = rule(
    "close.unix_reset_skips_empty_head", "the peer is hung up without ECONNRESET",
    "Closing a connected stream or seqpacket socket sets ECONNRESET on its peer when its receive "
    "queue still holds something (or it was never accepted). Where this rule holds, an skb with "
    "nothing left to read at the head of the queue -- the emptied skb of an out-of-band byte "
    "already read, a zero-length seqpacket message -- does not count: only an skb behind it "
    "does. Before, any queued skb reset the peer (and always where CONFIG_AF_UNIX_OOB is not "
    "built: the test is under #if IS_ENABLED(CONFIG_AF_UNIX_OOB)).",
    "net/unix/af_unix.c unix_release_sock(): skb = skb_peek(&sk->sk_receive_queue); if (skb && "
    "!unix_skb_len(skb)) skb = skb_peek_next(skb, ...); if (skb || embrion) skpair->sk_err = "
    "ECONNRESET; 'af_unix: Don't set -ECONNRESET for consumed OOB skb.' (Kuniyuki Iwashima, net "
    "pull for v6.16-rc4, June 2025); in stable 6.1.143 (Debian's 6.1 changelog) and 6.12.36 "
    "(linux-6.12.y push of 2025-07-03: dbef50be6793); no BTF or kallsyms trace, so the release "
    "decides; observed on 6.18.44",
    since=(6, 16, 0), backports=((6, 1, 143), (6, 12, 36)),
    shows=("answer", "SO_ERROR"), requires=has(CONFIG_AF_UNIX_OOB), requires_since=(5, 15, 0))


def _head_skipped(m, sock: Sock) -> bool:
    """unix_release_sock() of a kernel with RESET_SKIPS_EMPTY_HEAD: the head skb of the queue
    has nothing left to read (unix_skb_len() == 0) and is not counted."""
    return bool(sock.recv_queue) and sock.recv_queue[0].left == 0 and m.holds(RESET_SKIPS_EMPTY_HEAD)


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
        left = sock.recv_queue[1:] if _head_skipped(m, sock) else sock.recv_queue
        if left or embrion:
            skpair.so_error = E.ECONNRESET
            skpair.err_unprobed = True          # left for the peer's next call
        # skpair.peer_sock stays: getpeername still reports our name
    if state == "LISTEN":
        for embryo in sock.accept_queue:
            unix_release_sock(m, embryo, embrion=True)
    sock.accept_queue = []
    purge(m, sock.recv_queue)                     # skb_queue_purge(): in-flight files go


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


# =========================================================================== the data path
#
# unix_stream_sendmsg(), unix_dgram_sendmsg(), unix_seqpacket_sendmsg() and their receive
# sides. A send puts an Skb on the peer's Sock.recv_queue within the call (AF_UNIX has no
# network in between); a stream receive walks that queue as unix_stream_read_generic() does,
# skb by skb (UNIXCB(skb).consumed is Skb.consumed), including the out-of-band byte of
# CONFIG_AF_UNIX_OOB (Sock.oob_skb) whose handling changed in 6.10 (manage_oob()).
#
# Control messages (SCM_RIGHTS, SCM_CREDENTIALS) are parsed and delivered by scm.py; the skb
# carries them (Skb.fp, Skb.creds).
#
# Not modelled: SO_PEEK_OFF, a send the
# sender's buffer could block (large or many unread skbs), a kernel without
# CONFIG_AF_UNIX_OOB (the profile says whether it has it), recv of 0 bytes with an out-of-band
# byte or a consumed one at the head, consecutive consumed out-of-band skbs (their handling
# changed after 6.12).

from .rules import Exact  # noqa: E402
from . import scm as _scm  # noqa: E402
from .scm import Scm, check_files, purge, scm_send, skb_creds  # noqa: E402
from .state import Skb  # noqa: E402

UNIX_SKB_OVERHEAD = 1024            # a margin for the truesize of a small skb
STREAM_MODELLED = 32768             # unread bytes a stream receiver may hold in the model

SEND_STREAM = rule(
    "send.unix_stream", "the length; the bytes reach the peer",
    "A connected unix stream socket queues the bytes at its peer (a byte stream: separate "
    "sends may be read as one).",
    "net/unix/af_unix.c unix_stream_sendmsg(): skb_queue_tail(&other->sk_receive_queue); unix(7)")
SEND_STREAM_ADDR = rule(
    "send.unix_stream_addr", "EISCONN when connected, else EOPNOTSUPP",
    "A unix stream send with a destination address.",
    "net/unix/af_unix.c unix_stream_sendmsg(): if (msg->msg_namelen) err = sk_state == "
    "TCP_ESTABLISHED ? -EISCONN : -EOPNOTSUPP")
SEND_STREAM_ENOTCONN = rule(
    "send.unix_stream_enotconn", "ENOTCONN (no SIGPIPE)",
    "A unix stream socket without a peer.",
    "net/unix/af_unix.c unix_stream_sendmsg(): other = unix_peer(sk); if (!other) -> -ENOTCONN")
SEND_STREAM_PIPE = rule(
    "send.unix_stream_pipe", "EPIPE (and SIGPIPE)",
    "The sending side is shut down: by shutdown(SHUT_WR), by the peer's shutdown(SHUT_RD) "
    "(mirrored), or because the peer was closed.",
    "net/unix/af_unix.c unix_stream_sendmsg(): sk_shutdown & SEND_SHUTDOWN -> pipe_err: "
    "send_sig(SIGPIPE) unless MSG_NOSIGNAL; unix_release_sock(): skpair->sk_shutdown = "
    "SHUTDOWN_MASK")
SEND_SK_ERR = rule(
    "send.unix_sk_err", "the pending error, consumed",
    "A pending socket error (ECONNRESET from a peer closed with unread data) is reported by a "
    "send that still may send, before anything is queued.",
    "net/core/sock.c sock_alloc_send_pskb(): err = sock_error(sk); net/unix/af_unix.c "
    "unix_seqpacket_sendmsg(): sock_error() first")
SEND_FAULT = rule(
    "send.unix_fault", "EFAULT",
    "The data cannot be read: nothing is queued (checked after the size, before the "
    "destination is looked up).",
    "net/unix/af_unix.c unix_dgram_sendmsg()/unix_stream_sendmsg(): "
    "skb_copy_datagram_from_iter() -> -EFAULT")
# the rules of unix MSG_OOB hold only where it is built: CONFIG_AF_UNIX_OOB, else since 5.15
_OOB = dict(requires=has(CONFIG_AF_UNIX_OOB), requires_since=(5, 15, 0))
SEND_OOB = rule(
    "send.unix_stream_oob", "the length; the last byte is out of band",
    "With CONFIG_AF_UNIX_OOB, MSG_OOB sends all but the last byte as data and the last byte in "
    "an skb of its own that becomes the peer's out-of-band byte (replacing an unread one, "
    "which stays as ordinary data).",
    "net/unix/af_unix.c unix_stream_sendmsg(): if (len) len--; queue_oob(): "
    "WRITE_ONCE(ousk->oob_skb, skb); unix(7)", **_OOB)
# MSG_OOB on unix stream sockets exists since 5.15 (314001f0bf92 'af_unix: Add OOB support'),
# where CONFIG_AF_UNIX_OOB is built (it defaults to UNIX); the config marker decides.
_NO_OOB_CITE = ("before 314001f0bf92 'af_unix: Add OOB support' (v5.15), or without "
                "CONFIG_AF_UNIX_OOB since")
SEND_OOB_UNSUPPORTED = rule(
    "send.unix_stream_oob_unsupported", "EOPNOTSUPP",
    "A kernel without unix MSG_OOB refuses a MSG_OOB send on a stream socket.",
    "net/unix/af_unix.c unix_stream_sendmsg(): err = -EOPNOTSUPP; if (msg->msg_flags & MSG_OOB) "
    "goto out_err; " + _NO_OOB_CITE, until=(5, 15, 0), when=lacks(CONFIG_AF_UNIX_OOB))
RECV_OOB_UNSUPPORTED = rule(
    "recv.unix_stream_oob_unsupported", "EOPNOTSUPP",
    "A kernel without unix MSG_OOB refuses a MSG_OOB receive on a stream socket.",
    "net/unix/af_unix.c unix_stream_read_generic(): if (unlikely(flags & MSG_OOB)) { err = "
    "-EOPNOTSUPP; goto out; }; " + _NO_OOB_CITE, until=(5, 15, 0), when=lacks(CONFIG_AF_UNIX_OOB))
SEND_OOB_EMPTY = rule(
    "send.unix_stream_oob_empty", "EOPNOTSUPP",
    "A zero-length MSG_OOB send on a unix stream socket (there is no last byte).",
    "net/unix/af_unix.c unix_stream_sendmsg(): MSG_OOB: if (len) len--; else goto out_err "
    "(-EOPNOTSUPP)", **_OOB)
SEND_DGRAM_OOB = rule(
    "send.unix_dgram_oob", "EOPNOTSUPP",
    "MSG_OOB on a unix datagram or seqpacket send (checked after seqpacket's ENOTCONN).",
    "net/unix/af_unix.c unix_dgram_sendmsg(): if (msg->msg_flags & MSG_OOB) -> -EOPNOTSUPP")
SEND_DGRAM = rule(
    "send.unix_dgram", "the length; one datagram at the receiver",
    "A unix datagram (or seqpacket record) is queued whole at the receiver: its connected "
    "peer, or the socket bound to the address given.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): skb_queue_tail(&other->sk_receive_queue); unix(7)")
SEND_DGRAM_ENOTCONN = rule(
    "send.unix_dgram_enotconn", "ENOTCONN",
    "A unix datagram send without an address from a socket with no peer (never connected, "
    "or disconnected after its peer was closed); until 6.14 checked first, before the size, "
    "the socket error and the copy of the data.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): other = unix_peer_get(sk); if (!other) -> "
    "-ENOTCONN, before sock_alloc_send_pskb() and skb_copy_datagram_from_iter()",
    until=(6, 14, 0))
SEND_DGRAM_ENOTCONN_LATE = rule(
    "send.unix_dgram_enotconn_after_copy", "ENOTCONN",
    "Since 6.14 a unix datagram send without an address looks the peer up only after the "
    "skb was allocated and the data copied: EMSGSIZE, a pending socket error, EPIPE and "
    "EFAULT (an unreadable buffer) win over ENOTCONN.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): skb_copy_datagram_from_iter(); ... else { other "
    "= unix_peer_get(sk); if (!other) { err = -ENOTCONN; goto out_free; } } (commit "
    "f4dd63165b08 \"af_unix: Move !sunaddr case in unix_dgram_sendmsg().\", v6.14-rc1)",
    since=(6, 14, 0))
SEND_DGRAM_ADDR = rule(
    "send.unix_dgram_addr", "EINVAL",
    "The destination address is malformed (length <= 2 or > 110, sun_family not AF_UNIX).",
    "net/unix/af_unix.c unix_dgram_sendmsg() -> unix_validate_addr()")
SEND_DGRAM_LOOKUP = rule(
    "send.unix_dgram_lookup", "as connect(): EACCES, ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, "
    "ECONNREFUSED, EPROTOTYPE",
    "The destination is looked up as connect() looks it up, after the data was copied.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): unix_find_other()")
SEND_DGRAM_EPERM = rule(
    "send.unix_dgram_eperm", "EPERM",
    "The destination is connected to another socket.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): !unix_may_send(sk, other) -> -EPERM")
SEND_DGRAM_REFUSED = rule(
    "send.unix_dgram_peer_closed", "ECONNREFUSED, then the socket is disconnected",
    "The connected peer was closed: the send fails with ECONNREFUSED and drops the "
    "association (a later send answers ENOTCONN); the socket's own queue is flushed.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): sock_flag(other, SOCK_DEAD) && unix_peer(sk) == "
    "other -> unix_peer(sk) = NULL, unix_dgram_disconnected(), -ECONNREFUSED")
SEND_DGRAM_PIPE = rule(
    "send.unix_dgram_pipe", "EPIPE (no SIGPIPE)",
    "The sender shut down its sending side, or the receiver its receiving side; a seqpacket "
    "socket whose peer was closed too. No signal is raised.",
    "net/core/sock.c sock_alloc_send_pskb(): SEND_SHUTDOWN -> -EPIPE; net/unix/af_unix.c "
    "unix_dgram_sendmsg(): other->sk_shutdown & RCV_SHUTDOWN -> -EPIPE")
SEND_DGRAM_EMSGSIZE = rule(
    "send.unix_dgram_emsgsize", "EMSGSIZE",
    "A datagram (or record) longer than the send buffer less 32 bytes.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): if (len > READ_ONCE(sk->sk_sndbuf) - 32) -> "
    "-EMSGSIZE; unix(7)")
SEND_DGRAM_EAGAIN = rule(
    "send.unix_dgram_queue_full", "EAGAIN",
    "The receiver, not connected back to the sender, already holds more than "
    "net.unix.max_dgram_qlen datagrams (so it takes max_dgram_qlen + 1) and the send may not "
    "wait.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): unix_peer(other) != sk && "
    "unix_recvq_full_lockless(other) (skb_queue_len > sk_max_ack_backlog = max_dgram_qlen), "
    "!timeo -> -EAGAIN")
SEND_DGRAM_ADDR_CONNECTED = rule(
    "send.unix_dgram_addr_on_connected", "the datagram goes to the socket named",
    "A connected unix datagram socket that is given an address sends that datagram to the "
    "socket bound there (if that one may receive from it), not to its peer; the connection "
    "stays.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): if (msg->msg_namelen) { unix_validate_addr(); "
    "other = unix_find_other() } else other = unix_peer_get(sk); unix(7)")
SEND_PASSCRED = rule(
    "send.unix_passcred_autobind", "the socket is autobound first",
    "An unnamed datagram socket with SO_PASSCRED (or SO_PASSPIDFD) is autobound when it sends, "
    "so the receiver sees an address.",
    "net/unix/af_unix.c unix_dgram_sendmsg(): SOCK_PASSCRED && !u->addr -> unix_autobind()",
    shows=('sockname',))
SEND_SEQ_ENOTCONN = rule(
    "send.unix_seqpacket_enotconn", "ENOTCONN",
    "A seqpacket socket that is not connected (an address does not help: "
    "send.unix_seqpacket_addr_ignored).",
    "net/unix/af_unix.c unix_seqpacket_sendmsg(): sk_state != TCP_ESTABLISHED -> -ENOTCONN")

SEND_SEQ_ADDR_IGNORED = rule(
    "send.unix_seqpacket_addr_ignored", "the record goes to the peer",
    "A destination address given to a connected seqpacket socket is dropped before the "
    "datagram path sees it: the record goes to the peer whatever the address names (no "
    "EISCONN, unlike a stream socket).",
    "net/unix/af_unix.c unix_seqpacket_sendmsg(): if (msg->msg_namelen) msg->msg_namelen = 0; "
    "return unix_dgram_sendmsg()")

RECV_STREAM = rule(
    "recv.unix_stream", "the bytes queued, up to the buffer; the sender's name",
    "A unix stream receive copies across the queued skbs up to the buffer size (MSG_TRUNC "
    "has no effect); the address is the sending socket's name (none for an unnamed sender: "
    "msg_namelen 0; the accepted socket's is its listener's).",
    "net/unix/af_unix.c unix_stream_read_generic(), unix_copy_addr(msg, skb->sk); unix(7)")
RECV_STREAM_EINVAL = rule(
    "recv.unix_stream_not_connected", "EINVAL",
    "A unix stream socket that is not connected (never connected, or listening).",
    "net/unix/af_unix.c unix_stream_read_generic(): sk_state != TCP_ESTABLISHED -> -EINVAL")
RECV_EAGAIN = rule(
    "recv.unix_eagain", "EAGAIN",
    "Nothing queued and the call may not wait.",
    "net/unix/af_unix.c unix_stream_read_generic(): !timeo -> -EAGAIN; "
    "__unix_dgram_recvmsg() -> __skb_try_recv_datagram() -EAGAIN; recv(2) ERRORS EAGAIN")
RECV_EOF = rule(
    "recv.unix_eof", "0",
    "Nothing queued after the peer closed or the receive side was shut down: 0 (a datagram "
    "socket only when the call would wait; a seqpacket socket also without waiting).",
    "net/unix/af_unix.c unix_stream_read_generic(): sk_shutdown & RCV_SHUTDOWN -> 0; "
    "__unix_dgram_recvmsg(): SOCK_SEQPACKET && -EAGAIN && RCV_SHUTDOWN -> 0; "
    "net/core/datagram.c __skb_wait_for_more_packets(): RCV_SHUTDOWN -> out_noerr", documented=True)
RECV_SK_ERR = rule(
    "recv.unix_sk_err", "the pending error (ECONNRESET), consumed",
    "A pending error (the peer was closed with data it had not read) is reported once the "
    "queued data was read (a datagram receive reports it first).",
    "net/unix/af_unix.c unix_stream_read_generic(): err = sock_error(sk) when no skb; "
    "unix_release_sock(): skpair->sk_err = ECONNRESET")
RECV_SK_ERR_UNREPORTED = rule(
    "recv.unix_sk_err_unreported", "what was copied; the pending error consumed, not reported",
    "A stream read that copied something and wants more (MSG_WAITALL) finds nothing more "
    "queued and an error pending: sock_error() clears the error, and the call returns what it "
    "copied, so the error is never reported (found by sockspec explore). MSG_PEEK leaves the "
    "loop at the last skb, before that test, so a peek leaves the error pending.",
    "net/unix/af_unix.c unix_stream_read_generic(): if (copied >= target) goto unlock; err = "
    "sock_error(sk); if (err) goto unlock; ... return copied ? : err (MSG_PEEK: skb_peek_next() "
    "NULL -> break); include/net/sock.h sock_error(): xchg(&sk->sk_err, 0)")
RECV_DGRAM = rule(
    "recv.unix_dgram", "one datagram or record; the sender's name",
    "A unix datagram (or seqpacket) receive takes one skb whole: a short buffer gets its start "
    "and msg_flags MSG_TRUNC, the rest is lost; the address is the sender's name (msg_namelen "
    "0 when it has none); MSG_EOR is never set.",
    "net/unix/af_unix.c __unix_dgram_recvmsg(): if (size < skb->len - skip) msg->msg_flags |= "
    "MSG_TRUNC; unix_copy_addr(); unix(7)")
RECV_DGRAM_OOB = rule(
    "recv.unix_dgram_oob", "EOPNOTSUPP",
    "recv(MSG_OOB) on a unix datagram or seqpacket socket.",
    "net/unix/af_unix.c __unix_dgram_recvmsg(): if (flags & MSG_OOB) -> -EOPNOTSUPP")
RECV_SEQ_ENOTCONN = rule(
    "recv.unix_seqpacket_enotconn", "ENOTCONN",
    "A seqpacket socket that is not connected.",
    "net/unix/af_unix.c unix_seqpacket_recvmsg(): sk_state != TCP_ESTABLISHED -> -ENOTCONN")
RECV_OOB = rule(
    "recv.unix_oob", "1, the out-of-band byte; msg_flags MSG_OOB",
    "recv(MSG_OOB) takes the out-of-band byte (MSG_PEEK leaves it); with a zero-length buffer "
    "it still returns 1 and the byte is gone.",
    "net/unix/af_unix.c unix_stream_recv_urg(): u->oob_skb = NULL, UNIXCB(oob_skb).consumed "
    "+= 1, msg_flags |= MSG_OOB, return 1", **_OOB)
RECV_OOB_NONE = rule(
    "recv.unix_oob_einval", "EINVAL",
    "recv(MSG_OOB) with no out-of-band byte pending (none sent, already read or dropped), or "
    "with SO_OOBINLINE.",
    "net/unix/af_unix.c unix_stream_recv_urg(): SOCK_URGINLINE || !u->oob_skb -> -EINVAL", **_OOB)
RECV_OOB_MARK = rule(
    "recv.unix_oob_mark", "the read stops at the out-of-band byte, or drops it",
    "An ordinary read stops before the out-of-band byte once it copied something; a read "
    "that starts at it drops it and goes on (MSG_PEEK skips it); with SO_OOBINLINE it is read "
    "as data.",
    "net/unix/af_unix.c manage_oob(): skb == u->oob_skb: copied -> NULL; !MSG_PEEK -> unlink "
    "(SKB_DROP_REASON_UNIX_SKIP_OOB); MSG_PEEK -> skb_peek_next()", **_OOB)
_OOB_610 = ("net/unix/af_unix.c manage_oob(skb, &last, sk, flags, copied) of Debian 6.12.117 "
            "(Kuniyuki Iwashima's MSG_OOB fixes, June 2024, merged for v6.10: 'af_unix: Stop "
            "recv(MSG_PEEK) at consumed OOB skb.', 'af_unix: Don't stop recv(MSG_DONTWAIT) if "
            "consumed OOB skb is at the head.'); observed on 6.18.44")
_OOB_61 = ("net/unix/af_unix.c manage_oob(skb, sk, flags, copied) of Debian 6.1.192 (the 5.15 "
           "logic: if (!unix_skb_len(skb) && !(flags & MSG_PEEK)) { skb_unlink(); skb = NULL; "
           "})")
OOB_HEAD_EAGAIN = rule(
    "recv.unix_oob_consumed_head_stops", "EAGAIN (non-blocking) with data queued behind",
    "Before 6.10 an ordinary read that finds the skb of an out-of-band byte already read at "
    "the head of the queue unlinks it and answers as if nothing were queued; the next read "
    "gets the data.", _OOB_61, until=(6, 10, 0), **_OOB)
OOB_HEAD_SKIPPED = rule(
    "recv.unix_oob_consumed_head_skipped", "the data queued behind",
    "Since 6.10 a read skips (and unlinks) the emptied skb of an out-of-band byte at the head "
    "and returns the data behind it.", _OOB_610, since=(6, 10, 0), **_OOB)
OOB_PEEK_PAST = rule(
    "recv.unix_oob_peek_past_consumed", "MSG_PEEK reads on past the read out-of-band byte",
    "Before 6.10 MSG_PEEK does not stop at the emptied skb of an out-of-band byte already "
    "read: it returns the data before and after it as one.", _OOB_61, until=(6, 10, 0), **_OOB)
OOB_PEEK_STOPS = rule(
    "recv.unix_oob_stops_at_consumed", "the read stops at the read out-of-band byte",
    "Since 6.10 a read (MSG_PEEK too) that copied something stops at the emptied skb of an "
    "out-of-band byte already read, as it stops at a pending one.", _OOB_610, since=(6, 10, 0), **_OOB)


def _sndbuf(m, sock) -> int:
    if "SO_SNDBUF" in sock.opts:
        return sock.opts["SO_SNDBUF"]
    return m.sysctl_int("net.core.wmem_default", 212992)


def unix_charges(m) -> dict[int, tuple[int, int]]:
    """id(sender) -> (at least, at most) what its skbs unread at receivers charge to its send
    buffer (their truesize: the data, up to twice it plus overhead), for every sender at once."""
    charges: dict[int, tuple[int, int]] = {}
    socks = m.fds.socks()
    for s in socks + [e for other in socks for e in other.accept_queue]:
        for skb in s.recv_queue:
            if skb.sender is not None:
                low, high = charges.get(id(skb.sender), (0, 0))
                charges[id(skb.sender)] = (low + len(skb.data),
                                           high + 2 * len(skb.data) + UNIX_SKB_OVERHEAD)
    return charges


def _outstanding(m, sock) -> int:
    """About what the sender's skbs still charge to its send buffer (at most)."""
    return unix_charges(m).get(id(sock), (0, 0))[1]


def _room(m, sock, length: int) -> None:
    """sock_alloc_send_pskb() allocates while sk_wmem_alloc < sk_sndbuf (whatever the new skb's
    size) and waits otherwise: nothing outstanding is always room; else the model needs a clear
    margin."""
    out = _outstanding(m, sock)
    if out and 2 * out >= _sndbuf(m, sock):
        raise _not_modelled("a unix send the sender's buffer may block")


def _err(rule_, err, apply=None, also=()):
    from .rules import Outcome
    return Outcome(rule_, err, Exact(-1), {}, apply, tuple(also))


def _take_error(sock):
    def take(model, result, sock=sock):
        sock.take_error()
    return take


def unix_oob(m) -> bool:
    """Does this kernel have unix stream MSG_OOB (CONFIG_AF_UNIX_OOB, since 5.15)?"""
    return not m.holds(SEND_OOB_UNSUPPORTED)


def unix_stream_sendmsg(m, sock, msg):
    from .socket import signal_outcome
    scm = scm_send(m, sock, msg.control)          # first of all, before the flags
    if isinstance(scm, Outcome):
        return scm
    n = msg.len
    oob = bool(msg.flags & L.MSG_OOB)
    if oob:
        if not unix_oob(m):
            return _err(SEND_OOB_UNSUPPORTED, E.EOPNOTSUPP)
        if n == 0:
            return _err(SEND_OOB_EMPTY, E.EOPNOTSUPP)
    if msg.namelen:
        return _err(SEND_STREAM_ADDR, E.EISCONN if sock.sk_state == "ESTABLISHED" else E.EOPNOTSUPP)
    other = sock.peer_sock
    if other is None:
        return _err(SEND_STREAM_ENOTCONN, E.ENOTCONN)
    if sock.shutdown & SEND_SHUTDOWN:
        return signal_outcome(m, SEND_STREAM_PIPE, E.EPIPE, msg.flags)
    data_len = n - 1 if oob else n
    if data_len or oob:
        if sock.so_error:                         # sock_alloc_send_pskb()
            return _err(SEND_SK_ERR, sock.so_error, _take_error(sock))
        if msg.iter.faults():
            if data_len and not msg.iter.faults(data_len):
                raise _not_modelled("a fault in the out-of-band byte only")
            return _err(SEND_FAULT, E.EFAULT)
        if other.state == "closed" or other.shutdown & RCV_SHUTDOWN:
            return signal_outcome(m, SEND_STREAM_PIPE, E.EPIPE, msg.flags)
        _room(m, sock, n)
        unread = sum(s.left for s in other.recv_queue)
        if unread + n > STREAM_MODELLED:
            raise _not_modelled("a unix stream send the sender's buffer may block")
    data = msg.iter.read()
    check_files(scm, other)
    creds, cred_rules = skb_creds(m, scm, sock, other)

    def deliver(model, result, other=other, data=data, oob=oob):
        fp = scm.fp                               # only the first skb carries the files
        if data_len:
            other.recv_queue.append(Skb(data[:data_len], sender=sock, fp=fp, creds=creds))
            fp = ()
        if oob:
            skb = Skb(data[data_len:], sender=sock, fp=fp, creds=creds)
            other.recv_queue.append(skb)
            other.oob_skb = skb
    return (SEND_OOB if oob else SEND_STREAM).ok(n, apply=deliver,
                                                  also=scm.rules + (cred_rules if n else ()))


def unix_seqpacket_sendmsg(m, sock, msg):
    if sock.so_error:
        return _err(SEND_SK_ERR, sock.so_error, _take_error(sock))
    if sock.sk_state != "ESTABLISHED":
        return _err(SEND_SEQ_ENOTCONN, E.ENOTCONN)
    if msg.namelen:
        from .socket import _with_also
        msg.namelen, msg.name = 0, None
        return _with_also(unix_dgram_sendmsg(m, sock, msg), (SEND_SEQ_ADDR_IGNORED,))
    return unix_dgram_sendmsg(m, sock, msg)


def unix_dgram_sendmsg(m, sock, msg):
    scm = scm_send(m, sock, msg.control)          # first of all, before the flags
    if isinstance(scm, Outcome):
        return scm
    if msg.flags & L.MSG_OOB:
        return _err(SEND_DGRAM_OOB, E.EOPNOTSUPP)
    other, name = None, None
    connected_also = ()
    if msg.namelen:
        name = msg.name
        bad = validate_addr(name, msg.namelen, SEND_DGRAM_ADDR, SEND_DGRAM_ADDR)
        if bad is not None:
            return bad
        if sock.peer_sock is not None and sock.type == L.SOCK_DGRAM:
            connected_also = (SEND_DGRAM_ADDR_CONNECTED,)
    else:
        other = sock.peer_sock
        if other is None and not m.holds(SEND_DGRAM_ENOTCONN_LATE):
            return _err(SEND_DGRAM_ENOTCONN, E.ENOTCONN)
    also, bind = (), None
    if _passcred_autobind(m, sock):
        bind, also = _autobind_apply(sock), (SEND_PASSCRED,)
    out = _dgram_send(m, sock, msg, other, name, scm)
    if connected_also:
        from .socket import _with_also
        out = _with_also(out, connected_also)
    if bind is None:
        return out
    outs = []
    for o in (out if isinstance(out, tuple) else (out,)):
        def apply(model, result, o=o):
            bind(model, result)
            if o.apply is not None:
                o.apply(model, result)
        outs.append(Outcome(o.rule, o.errno, o.ret, o.out, apply, o.also + also))
    return tuple(outs)


def _dgram_send(m, sock, msg, other, name, scm):
    from .socket import is_error
    n = msg.len
    if n > _sndbuf(m, sock) - 32:
        return _err(SEND_DGRAM_EMSGSIZE, E.EMSGSIZE)
    if sock.so_error:
        return _err(SEND_SK_ERR, sock.so_error, _take_error(sock))
    if sock.shutdown & SEND_SHUTDOWN:
        return _err(SEND_DGRAM_PIPE, E.EPIPE)
    _room(m, sock, n)
    if msg.iter.faults():
        return _err(SEND_FAULT, E.EFAULT)
    if other is None and not msg.namelen:   # since 6.14: the peer after the copy
        return _err(SEND_DGRAM_ENOTCONN_LATE, E.ENOTCONN)
    if other is None:
        found = find_other(m, sock, name, msg.namelen)
        if is_error(found):
            return Outcome(SEND_DGRAM_LOOKUP, found.errno, Exact(-1), {}, None, (found.rule,))
        other = found
    if other.peer_sock is not None and other.peer_sock is not sock:
        return _err(SEND_DGRAM_EPERM, E.EPERM)
    if other.state == "closed":
        if sock.type == L.SOCK_SEQPACKET:
            return _err(SEND_DGRAM_PIPE, E.EPIPE)
        if sock.peer_sock is other:
            def disconnect(model, result, other=other):
                sock.peer_sock = None
                sock.sk_state = "CLOSE"
                purge(model, sock.recv_queue)
                sock.recv_queue.clear()          # unix_dgram_disconnected(): the peer is dead
            return _err(SEND_DGRAM_REFUSED, E.ECONNREFUSED, disconnect)
        raise _not_modelled("a datagram to a closed socket found by name")
    if other.shutdown & RCV_SHUTDOWN:
        return _err(SEND_DGRAM_PIPE, E.EPIPE)
    qlen = m.sysctl_int("net.unix.max_dgram_qlen", 10)
    if other is not sock and other.peer_sock is not sock and len(other.recv_queue) > qlen:
        if msg.nonblock:
            return _err(SEND_DGRAM_EAGAIN, E.EAGAIN)
        raise _not_modelled("a blocking send to a full datagram queue waits")
    data = msg.iter.read()
    check_files(scm, other)
    creds, cred_rules = skb_creds(m, scm, sock, other)

    def deliver(model, result, other=other, data=data):
        other.recv_queue.append(Skb(data, sender=sock, fp=scm.fp, creds=creds))
    return SEND_DGRAM.ok(n, apply=deliver, also=scm.rules + cred_rules)


# --------------------------------------------------------------------------- receive

def _sender_name(skb):
    """unix_copy_addr(msg, skb->sk): the sender's name now, or None (msg_namelen stays 0)."""
    sender = skb.sender
    if sender is None or sender.local is None:
        return None
    if isinstance(sender.local, Constraint):
        raise _not_modelled("the sender's autobind name was never observed")
    return sender.local, unix_name_len(sender.local)


RECV_UNNAMED = rule(
    "recv.unix_sender_unnamed", "msg_namelen 0 (the address buffer untouched)",
    "Data from a socket without a name (a socketpair end, a connecting socket) comes with no "
    "address at all: msg_namelen / *addrlen 0, not the sizeof(sa_family_t) getsockname "
    "reports for such a socket.",
    "net/unix/af_unix.c unix_copy_addr(): if (addr) { msg->msg_namelen = addr->len; ... }; "
    "net/socket.c ____sys_recvmsg(): msg_sys->msg_namelen = 0",
    shows=('out.namelen', 'out.name', 'out.addrlen', 'out.addr', 'out.messages'))


def _name_rules(name, rmsg) -> tuple:
    return (RECV_UNNAMED,) if name is None and rmsg.want_name else ()


def unix_dgram_recvmsg(m, sock, rmsg):
    """__unix_dgram_recvmsg() (unix_seqpacket_recvmsg() checks the state first)."""
    from .socket import Received
    from .udp import RECV_FAULT, RECV_PEEK, RECV_TRUNC
    seq = sock.type == L.SOCK_SEQPACKET
    if rmsg.flags & L.MSG_OOB:
        return _err(RECV_DGRAM_OOB, E.EOPNOTSUPP)
    if sock.so_error:
        return _err(RECV_SK_ERR, sock.so_error, _take_error(sock))
    if not sock.recv_queue:
        if rmsg.nonblock:
            if seq and sock.shutdown & RCV_SHUTDOWN:
                return Received(RECV_EOF, 0)
            return _err(RECV_EAGAIN, E.EAGAIN)
        if sock.shutdown & RCV_SHUTDOWN:
            return Received(RECV_EOF, 0)
        if seq and sock.sk_state not in ("ESTABLISHED", "LISTEN"):
            return _err(RECV_SEQ_ENOTCONN, E.ENOTCONN)
        raise _not_modelled("a blocking unix datagram receive on an empty queue waits")
    skb = sock.recv_queue[0]
    peek = rmsg.peek

    def take(model, result, sock=sock, skb=skb):
        if not peek:
            sock.recv_queue.remove(skb)

    def take_free(model, result, sock=sock, skb=skb):
        take(model, result)
        if not peek:                              # skb_free_datagram(): its files go
            purge(model, [skb])
    size = min(rmsg.size, len(skb.data))
    flags = L.MSG_TRUNC if size < len(skb.data) else 0
    also = (RECV_PEEK,) if peek else ()
    name = _sender_name(skb)
    if rmsg.iter.write_faults(size):
        return _err(RECV_FAULT, E.EFAULT, take_free, also)
    ret = size
    if rmsg.flags & L.MSG_TRUNC:
        ret, also = len(skb.data), also + (RECV_TRUNC,)
    if peek and skb.fp:
        also += (_scm.RECV_PEEK_DUPS,)
    return Received(RECV_DGRAM, ret, skb.data[:size], name, flags, take,
                    also + _name_rules(name, rmsg), scm=Scm(skb.fp, skb.creds))


def unix_stream_recv_urg(m, sock, rmsg):
    """unix_stream_recv_urg()."""
    from .socket import Received
    from .tcp import RECV_FAULT, RECV_PEEK
    if not unix_oob(m):
        return _err(RECV_OOB_UNSUPPORTED, E.EOPNOTSUPP)
    oob = sock.oob_skb
    if sock.opts.get("SO_OOBINLINE") or oob is None:
        return _err(RECV_OOB_NONE, E.EINVAL)
    peek = rmsg.peek

    def take(model, result, sock=sock, oob=oob):
        if peek:
            return
        sock.oob_skb = None
        i = sock.recv_queue.index(oob)
        if i > 0 and sock.recv_queue[i - 1].left == 0:
            del sock.recv_queue[i - 1]             # read_skb: an emptied skb before it
        oob.consumed += 1
    if rmsg.size and rmsg.iter.write_faults(1):
        return _err(RECV_FAULT, E.EFAULT, take)
    written = oob.data[oob.consumed:oob.consumed + 1] if rmsg.size else b""
    return Received(RECV_OOB, 1, written, None, L.MSG_OOB, take, (RECV_PEEK,) if peek else ())


class _Read:
    """unix_stream_read_generic() on a scratch copy of the receive queue."""

    def __init__(self, m, sock, rmsg):
        self.m, self.sock, self.rmsg = m, sock, rmsg
        self.q = list(sock.recv_queue)
        self.used = {id(s): s.consumed for s in self.q}
        self.oob = sock.oob_skb
        self.inline = bool(sock.opts.get("SO_OOBINLINE"))
        self.peek = rmsg.peek
        self.rules: list = []
        self.new = m.holds(OOB_HEAD_SKIPPED)
        self.fp: tuple = ()                 # the files of scm (detached, or dup'd by a peek)
        self.detached: list = []            # skbs whose files this read took
        self.creds = None                   # with SO_PASSCRED: the first skb's credentials
        self.check_creds = False
        self.passcred = bool(sock.opts.get("SO_PASSCRED"))

    def slen(self, skb) -> int:
        return len(skb.data) - self.used[id(skb)]

    def next(self, skb):
        i = self.q.index(skb)
        return self.q[i + 1] if i + 1 < len(self.q) else None

    def head(self):
        return self.q[0] if self.q else None

    def note(self, r):
        if r not in self.rules:
            self.rules.append(r)

    def manage_oob(self, skb, copied: int):
        return self._manage_610(skb, copied) if self.new else self._manage_61(skb, copied)

    def _manage_610(self, skb, copied):
        if self.slen(skb) and skb is not self.oob:
            return skb
        if not self.slen(skb):
            if copied and (self.oob is None or skb is self.oob):
                self.note(OOB_PEEK_STOPS)
                return None
            self.note(OOB_HEAD_SKIPPED)
            nxt = self.next(skb)
            if not self.peek:
                self.q.remove(skb)
            skb = nxt
            if skb is None:
                return None
        if skb is not self.oob:
            return skb
        return self._at_oob(skb, copied)

    def _manage_61(self, skb, copied):
        if not self.slen(skb) and not self.peek:
            self.q.remove(skb)
            self.note(OOB_HEAD_EAGAIN)
            return None
        if not self.slen(skb):
            self.note(OOB_PEEK_PAST)
        if skb is self.oob:
            return self._at_oob(skb, copied)
        return skb

    def _at_oob(self, skb, copied):
        if copied:
            self.note(RECV_OOB_MARK)
            return None
        self.note(RECV_OOB_MARK)
        if not self.peek:
            self.oob = None
            if not self.inline:
                self.q.remove(skb)
                return self.head()
        elif not self.inline:
            return self.next(skb)
        return skb

    def run(self):
        """(copied, written, name, error) of the read, following unix_stream_read_generic():
        the do { } while (size) loop, manage_oob() at the 'again' label, the skip over
        emptied skbs, and MSG_PEEK's goto again with the next skb."""
        rmsg, sock = self.rmsg, self.sock
        size = rmsg.size
        if size == 0 and (self.oob is not None or any(not self.slen(s) for s in self.q)):
            raise _not_modelled("a zero-length unix stream receive at out-of-band data")
        if any(not self.slen(a) and not self.slen(b) for a, b in zip(self.q, self.q[1:])):
            raise _not_modelled("consecutive consumed out-of-band skbs")
        oob_involved = self.oob is not None or any(not self.slen(s) for s in self.q)
        target = size if rmsg.flags & L.MSG_WAITALL else min(1, size)
        target = target or 1
        copied, written, name = 0, b"", None
        again = None
        while True:
            skb = self.head() if again is None else again
            again = None
            if skb is not None and oob_involved:          # again:
                skb = self.manage_oob(skb, copied)
                if skb is None and (copied or (self.new and not rmsg.size)):
                    return copied, written, name, 0
            while skb is not None and self.slen(skb) == 0:  # while (skip >= unix_skb_len(skb))
                skb = self.next(skb)
            if skb is None:
                if copied >= target:
                    return copied, written, name, 0
                if sock.so_error:              # err = sock_error(sk): consumed either way
                    self.note(RECV_SK_ERR_UNREPORTED if copied else RECV_SK_ERR)
                    return copied, written, name, sock.so_error
                if sock.shutdown & RCV_SHUTDOWN:
                    return copied, written, name, 0
                if rmsg.nonblock:
                    return copied, written, name, E.EAGAIN
                raise _not_modelled("a blocking unix stream receive waits for data")
            if self.check_creds:                          # never glue different writers
                if skb.creds != self.creds:
                    self.note(_scm.STREAM_SCM_STOPS)
                    return copied, written, name, 0
            elif self.passcred:
                self.creds, self.check_creds = skb.creds, True
            got = _sender_name(skb)                       # unix_copy_addr() for each skb
            if got is not None:
                name = got
            chunk = min(self.slen(skb), size)
            if rmsg.iter.write_faults(chunk, copied):
                return copied, written, name, (E.EFAULT if not copied else 0)
            start = self.used[id(skb)]
            written += skb.data[start:start + chunk]
            copied += chunk
            size -= chunk
            if not self.peek:
                self.used[id(skb)] += chunk
                if skb.fp and skb not in self.detached:   # unix_detach_fds()
                    self.fp = skb.fp
                    self.detached.append(skb)
                if self.slen(skb):
                    return copied, written, name, 0
                self.q.remove(skb)
                if self.fp:                               # if (scm.fp) break
                    self.note(_scm.STREAM_SCM_STOPS)
                    return copied, written, name, 0
                if not size:
                    return copied, written, name, 0
            else:
                if skb.fp:                                # unix_peek_fds(); break
                    self.fp = skb.fp
                    self.note(_scm.RECV_PEEK_DUPS)
                    self.note(_scm.STREAM_SCM_STOPS)
                    return copied, written, name, 0
                again = self.next(skb)                    # skb_peek_next(); goto again
                if again is None:
                    return copied, written, name, 0

    def commit(self, sock):
        """The transition: the queue, the consumed counts and the out-of-band pointer."""
        q, used, oob, detached = self.q, dict(self.used), self.oob, list(self.detached)

        def apply(model, result):
            for skb in detached:
                skb.fp = ()
            for skb in q:
                skb.consumed = used[id(skb)]
            sock.recv_queue = list(q)
            sock.oob_skb = oob
        return apply


def unix_stream_recvmsg(m, sock, rmsg):
    """unix_stream_recvmsg() -> unix_stream_read_generic()."""
    from .socket import Received
    from .tcp import RECV_FAULT, RECV_PEEK, RECV_WAITALL, RECV_ZERO
    if sock.sk_state != "ESTABLISHED":
        return _err(RECV_STREAM_EINVAL, E.EINVAL)
    if rmsg.flags & L.MSG_OOB:
        return unix_stream_recv_urg(m, sock, rmsg)
    read = _Read(m, sock, rmsg)
    copied, written, name, err = read.run()
    also = tuple(read.rules)
    if rmsg.peek:
        also += (RECV_PEEK,)
    if rmsg.size == 0:
        also += (RECV_ZERO,)
    if rmsg.flags & L.MSG_WAITALL:
        also += (RECV_WAITALL,)
    apply = read.commit(sock)
    if RECV_SK_ERR in read.rules or RECV_SK_ERR_UNREPORTED in read.rules:
        committed = apply                       # the read reached sock_error(): consumed

        def apply(model, result):
            committed(model, result)
            sock.take_error()
    # where the kernels differ, the version's rule answers (the generic one comes along)
    ranged = [r for r in read.rules if r.since or r.until]
    if not copied and err:
        if err == E.EFAULT:
            return _err(RECV_FAULT, err, None, also)
        if err == E.EAGAIN:
            if ranged:
                return _err(ranged[0], err, apply,
                            (RECV_EAGAIN,) + tuple(r for r in also if r is not ranged[0]))
            return _err(RECV_EAGAIN, err, apply, also)
        return _err(RECV_SK_ERR, err, apply, also)
    rule_ = RECV_STREAM if copied or (rmsg.size == 0 and read.q) else RECV_EOF
    if ranged and copied:
        rule_, also = ranged[0], (rule_,) + tuple(r for r in also if r is not ranged[0])
    return Received(rule_, copied, written, name, 0, apply,
                    also + (_name_rules(name, rmsg) if copied else ()),
                    scm=Scm(read.fp, read.creds))
