"""net/socket.c: the syscall entries, socket creation and the helpers every call shares.

Each entry is named after the kernel function it mirrors and returns the outcomes it allows.
The families' operations (``sock.ops``, struct proto_ops) live in af_inet.py, af_unix.py,
af_packet.py and af_netlink.py.
"""
from __future__ import annotations

import errno as E

from ..abi import linux as L
from ..mem import Ptr, encode_sockaddr
from .core import Model, syscall
from .rules import Exact, Outcome, rule
from .state import Foreign, Sock

# --------------------------------------------------------------------------- rules

TYPE_FLAGS_INVALID = rule(
    "socket.type_flags_invalid", "EINVAL",
    "type carries flag bits other than SOCK_CLOEXEC and SOCK_NONBLOCK.",
    "net/socket.c __sys_socket(): flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK); socket(2) ERRORS EINVAL")
FAMILY_OUT_OF_RANGE = rule(
    "socket.family_out_of_range", "EAFNOSUPPORT",
    "family < 0 or family >= NPROTO (AF_MAX, from the profile).",
    "net/socket.c __sock_create(): family < 0 || family >= NPROTO; socket(2) ERRORS EAFNOSUPPORT")
TYPE_OUT_OF_RANGE = rule(
    "socket.type_out_of_range", "EINVAL",
    "The type (without flags) is negative or >= SOCK_MAX; checked after the family range.",
    "net/socket.c __sock_create(): type < 0 || type >= SOCK_MAX; socket(2) ERRORS EINVAL")
PACKET_REMAP = rule(
    "socket.packet_remap", "fd (an AF_PACKET socket)",
    "(AF_INET, SOCK_PACKET) is created as (PF_PACKET, SOCK_PACKET): SO_DOMAIN reads AF_PACKET.",
    "net/socket.c __sock_create(): family == PF_INET && type == SOCK_PACKET -> PF_PACKET; packet(7)")
FAMILY_UNAVAILABLE = rule(
    "socket.family_unavailable", "EAFNOSUPPORT",
    "No protocol family is registered under this number (after request_module).",
    "net/socket.c __sock_create(): net_families[family] == NULL; socket(2) ERRORS EAFNOSUPPORT")
EMFILE = rule(
    "fd.emfile", "EMFILE",
    "No free descriptor below RLIMIT_NOFILE.",
    "fs/file.c alloc_fd() via get_unused_fd_flags(); socket(2), accept(2) ERRORS EMFILE")
LOWEST_FREE = rule(
    "fd.lowest_free", "the lowest free fd",
    "A new descriptor is the lowest-numbered one not open in the process.",
    "fs/file.c alloc_fd() (find_next_fd from files->next_fd); open(2) 'lowest-numbered file descriptor'")
CLOEXEC_FLAG = rule(
    "fd.cloexec_flag", "FD_CLOEXEC set",
    "SOCK_CLOEXEC (or accept4's flag) sets FD_CLOEXEC on the new descriptor only.",
    "net/socket.c sock_map_fd() -> get_unused_fd_flags(O_CLOEXEC); socket(2) SOCK_CLOEXEC")
NONBLOCK_FLAG = rule(
    "fd.nonblock_flag", "O_NONBLOCK set",
    "SOCK_NONBLOCK (or accept4's flag) sets O_NONBLOCK on the new open file description.",
    "net/socket.c sock_alloc_file(): O_RDWR | (flags & O_NONBLOCK); socket(2) SOCK_NONBLOCK")
EBADF = rule(
    "fd.ebadf", "EBADF",
    "The descriptor is not open (closed, never opened, or negative).",
    "net/socket.c sockfd_lookup_light() -> fdget(); socket calls' ERRORS EBADF")
ENOTSOCK = rule(
    "fd.enotsock", "ENOTSOCK",
    "The descriptor is open but does not refer to a socket.",
    "net/socket.c sock_from_file(); socket calls' ERRORS ENOTSOCK")
ADDRLEN_INVALID = rule(
    "addr.len_invalid", "EINVAL",
    "An input address length is negative or larger than sizeof(struct sockaddr_storage) (128).",
    "net/socket.c move_addr_to_kernel(): ulen < 0 || ulen > sizeof(struct sockaddr_storage)")
ADDR_FAULT = rule(
    "addr.fault", "EFAULT",
    "An input address cannot be read (NULL with a non-zero length, an unmapped page).",
    "net/socket.c move_addr_to_kernel(): copy_from_user() fails; bind(2)/connect(2) ERRORS EFAULT")
ADDRLEN_OUT_NEGATIVE = rule(
    "addr.outlen_negative", "EINVAL",
    "*addrlen is negative on entry to a call that returns an address.",
    "net/socket.c move_addr_to_user(): len < 0 -> -EINVAL; accept(2)/getsockname(2) ERRORS EINVAL")
ADDR_OUT_FAULT = rule(
    "addr.out_fault", "EFAULT",
    "The address or length pointer of a call that returns an address cannot be accessed.",
    "net/socket.c move_addr_to_user(): get_user()/copy_to_user() fail; getsockname(2) ERRORS EFAULT")
ADDR_OUT_TRUNCATED = rule(
    "addr.out_truncated", "address truncated, *addrlen = full length",
    "A returned address is cut to the buffer size, and *addrlen tells the full length.",
    "net/socket.c move_addr_to_user(): copy min(len, klen), put_user(klen); accept(2), getsockname(2) NOTES")


# --------------------------------------------------------------------------- shared helpers

def readable(ptr) -> bool:
    return not (isinstance(ptr, Ptr) and ptr.inaccessible)


def sockfd_lookup_light(m: Model, fd: int):
    """fdget() + sock_from_file(): the Sock, or the EBADF / ENOTSOCK outcome."""
    entry = m.fds.get(fd) if isinstance(fd, int) and fd >= 0 else None
    if entry is None:
        return EBADF.fail(E.EBADF)
    if isinstance(entry.obj, Foreign):
        if entry.obj.is_socket:
            raise NotModelled(f"fd {fd} is a socket the model did not create")
        return ENOTSOCK.fail(E.ENOTSOCK)
    return entry.obj


def fdget(m: Model, fd: int):
    """fdget(): the open file (Sock or Foreign), or the EBADF outcome."""
    entry = m.fds.get(fd) if isinstance(fd, int) and fd >= 0 else None
    return EBADF.fail(E.EBADF) if entry is None else entry.obj


def sock_from_file(m: Model, obj):
    if isinstance(obj, Foreign):
        if obj.is_socket:
            raise NotModelled("a socket the model did not create")
        return ENOTSOCK.fail(E.ENOTSOCK)
    return obj


def move_addr_to_kernel(m: Model, addr, addrlen: int):
    """The bytes the kernel copies in (addrlen of them), or the EINVAL/EFAULT outcome."""
    if addrlen < 0 or addrlen > L.SOCKADDR_STORAGE_SIZE:
        return ADDRLEN_INVALID.fail(E.EINVAL)
    if addrlen == 0:
        return b""
    if addr is None or not readable(addr):
        return ADDR_FAULT.fail(E.EFAULT)
    if isinstance(addr, Ptr):
        raise NotModelled("an input address given as a raw pointer to readable memory")
    data = encode_sockaddr(addr)
    return data[:addrlen].ljust(addrlen, b"\0")


def addrlen_arg(addr, addrlen):
    """The length the wrapper passes for an input address (see Kernel._sockaddr_arg)."""
    if addrlen is not None:
        return addrlen
    if addr is None:
        return 0
    if isinstance(addr, Ptr):
        return L.SOCKADDR_STORAGE_SIZE
    return len(encode_sockaddr(addr))


def is_error(value) -> bool:
    return isinstance(value, Outcome)


class NotModelled(Exception):
    """The model has no rule for this call yet: a test error, never a kernel failure."""


# --------------------------------------------------------------------------- socket()

def new_fd(m: Model, start: int = 0):
    """get_unused_fd_flags(): the fd a new file gets, or the EMFILE outcome."""
    fd = m.fds.lowest_free(start)
    if fd >= m.fds.rlimit:
        return EMFILE.fail(E.EMFILE)
    return fd


def fd_flag_rules(flags: int) -> tuple:
    rules = (LOWEST_FREE,)
    if flags & L.SOCK_CLOEXEC:
        rules += (CLOEXEC_FLAG,)
    if flags & L.SOCK_NONBLOCK:
        rules += (NONBLOCK_FLAG,)
    return rules


def sock_map_fd(m: Model, created, flags: int) -> Outcome:
    """sock_map_fd(): install the new socket at the lowest free fd with the O_* flags.
    ``created`` is the family's success outcome, whose apply is replaced by the install."""
    fd = new_fd(m)
    if is_error(fd):
        return fd
    sock: Sock = created.sock
    sock.nonblock = bool(flags & L.SOCK_NONBLOCK)

    def install(model: Model, result, sock=sock, cloexec=bool(flags & L.SOCK_CLOEXEC)):
        model.fds.install(result.ret, sock, cloexec)

    return created.rule.ok(fd, apply=install, also=created.also + fd_flag_rules(flags))


class Created:
    """What a family's create() returns on success: the new socket and the rule that made it."""

    def __init__(self, rule, sock: Sock, also: tuple = ()):
        self.rule, self.sock, self.also = rule, sock, tuple(also)


def families():
    from . import af_inet, af_netlink, af_packet, af_unix
    return {
        L.AF_UNIX: af_unix.unix_create,
        L.AF_INET: af_inet.inet_create,
        L.AF_INET6: af_inet.inet6_create,
        L.AF_PACKET: af_packet.packet_create,
        L.AF_NETLINK: af_netlink.netlink_create,
    }


def __sock_create(m: Model, family: int, type: int, protocol: int):
    """__sock_create(): range checks, the SOCK_PACKET remap, the family lookup, then the
    family's create(). Returns Created or an error outcome."""
    af_max = m.profile.af_max if m.profile.af_max is not None else 46
    if family < 0 or family >= af_max:
        return FAMILY_OUT_OF_RANGE.fail(E.EAFNOSUPPORT)
    if type < 0 or type >= L.SOCK_MAX:
        return TYPE_OUT_OF_RANGE.fail(E.EINVAL)
    remapped = family == L.AF_INET and type == L.SOCK_PACKET
    if remapped:
        family = L.AF_PACKET
    create = families().get(family)
    available = m.profile.family_available(family)
    if available is False or (create is None and available is None and family in _NEVER_REGISTERED):
        return FAMILY_UNAVAILABLE.fail(E.EAFNOSUPPORT)
    if create is None:
        raise NotModelled(f"family {L.FAMILY_NAMES.get(family, family)} is not modelled")
    created = create(m, type, protocol)
    if remapped and isinstance(created, Created):
        created = Created(PACKET_REMAP, created.sock, (created.rule,) + created.also)
    return created


# Families with no implementation in these kernels: nothing registers them.
_NEVER_REGISTERED = {L.AF_UNSPEC, L.AF_NETBEUI, L.AF_SECURITY, L.AF_ASH, L.AF_WANPIPE}


def sock_create(m: Model, family: int, type: int, protocol: int):
    return __sock_create(m, family, type, protocol)


@syscall("socket")
def __sys_socket(m: Model, family: int, type: int, protocol: int = 0):
    flags = type & ~L.SOCK_TYPE_MASK
    if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):
        return TYPE_FLAGS_INVALID.fail(E.EINVAL)
    type &= L.SOCK_TYPE_MASK
    created = sock_create(m, family, type, protocol)
    if is_error(created):
        return created
    return sock_map_fd(m, created, flags)


# --------------------------------------------------------------------------- socketpair()

SOCKETPAIR_FAULT = rule(
    "socketpair.fault", "EFAULT",
    "The result array cannot be written; checked before the sockets are created, so even a "
    "family without socketpair answers EFAULT, and no descriptor is installed.",
    "net/socket.c __sys_socketpair(): put_user(fd1/fd2, usockvec) before sock_create(); "
    "socketpair(2) ERRORS EFAULT")
SOCKETPAIR_UNSUPPORTED = rule(
    "socketpair.unsupported", "EOPNOTSUPP",
    "The family's proto_ops has no socketpair (sock_no_socketpair): everything but AF_UNIX.",
    "net/core/sock.c sock_no_socketpair(); socketpair(2) ERRORS EOPNOTSUPP")
SOCKETPAIR_TYPE_FLAGS = rule(
    "socketpair.type_flags_invalid", "EINVAL",
    "type carries flag bits other than SOCK_CLOEXEC and SOCK_NONBLOCK.",
    "net/socket.c __sys_socketpair(): flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK); socketpair(2) ERRORS")


@syscall("socketpair")
def __sys_socketpair(m: Model, family: int, type: int, protocol: int = 0, sv=None):
    flags = type & ~L.SOCK_TYPE_MASK
    if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):
        return SOCKETPAIR_TYPE_FLAGS.fail(E.EINVAL)
    type &= L.SOCK_TYPE_MASK
    # reserve both descriptors first, so installing them cannot fail later
    fd1 = new_fd(m)
    if is_error(fd1):
        return fd1
    fd2 = m.fds.lowest_free(fd1 + 1)
    if fd2 >= m.fds.rlimit:
        return EMFILE.fail(E.EMFILE)
    if sv is not None and not readable(sv):
        return SOCKETPAIR_FAULT.fail(E.EFAULT)
    first = sock_create(m, family, type, protocol)
    if is_error(first):
        return first
    second = sock_create(m, family, type, protocol)
    if is_error(second):
        return second
    pair = first.sock.ops.socketpair(m, first.sock, second.sock)
    if pair.errno:                          # the family's outcome: an error, or the pairing
        return pair
    a, b = first.sock, second.sock
    a.nonblock = b.nonblock = bool(flags & L.SOCK_NONBLOCK)

    def install(model: Model, result, cloexec=bool(flags & L.SOCK_CLOEXEC)):
        pair.apply(model, result)
        model.fds.install(fd1, a, cloexec)
        model.fds.install(fd2, b, cloexec)

    return pair.rule.ok(0, apply=install, also=pair.also + (first.rule,) + fd_flag_rules(flags),
                        fds=Exact((fd1, fd2)))


# --------------------------------------------------------------------------- addresses out

def move_addr_to_user(kaddr, klen: int, addr, addrlen) -> Outcome | dict:
    """move_addr_to_user(): the outputs a call returning an address shows (``addr`` decoded
    from the first min(*addrlen, klen) bytes, ``addrlen`` = klen), or the EFAULT/EINVAL
    outcome. ``addr``/``addrlen`` are the wrapper's arguments (True/False/Ptr; int/None/Ptr)."""
    from ..mem import decode_sockaddr
    if addr is False:                      # NULL address: nothing is copied or checked
        return {}
    if isinstance(addrlen, Ptr):
        if not readable(addrlen):
            return ADDR_OUT_FAULT.fail(E.EFAULT)
        raise NotModelled("an address length given as a raw pointer to readable memory")
    given = L.SOCKADDR_STORAGE_SIZE if addrlen is None else addrlen
    length = min(given, klen)
    if length < 0:
        return ADDRLEN_OUT_NEGATIVE.fail(E.EINVAL, addrlen=addrlen)
    if length and not readable(addr):
        return ADDR_OUT_FAULT.fail(E.EFAULT)
    out = {"addrlen": klen}
    if addr is True:
        # the wrapper's zeroed buffer (Kernel._addr_out) holds the `length` bytes copied; it
        # decodes min(klen, buffer size) bytes of it (Kernel._addr_result)
        size = max(given, L.SOCKADDR_STORAGE_SIZE) if given > 0 else L.SOCKADDR_STORAGE_SIZE
        copied = encode_sockaddr(kaddr)[:length].ljust(size, b"\0")
        out["addr"] = decode_sockaddr(copied[:min(klen, size)])
    return out


def name_outputs(kaddr, klen, addr, addrlen) -> tuple[dict, tuple]:
    """(out constraints, extra rules) for a returned address, noting truncation."""
    out = move_addr_to_user(kaddr, klen, addr, addrlen)
    if is_error(out):
        return out, ()
    length = L.SOCKADDR_STORAGE_SIZE if addrlen is None else addrlen
    return out, ((ADDR_OUT_TRUNCATED,) if addr is True and 0 <= length < klen else ())


# --------------------------------------------------------------------------- bind, listen

@syscall("bind")
def __sys_bind(m: Model, fd: int, addr, addrlen: int | None = None):
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    addrlen = addrlen_arg(addr, addrlen)
    address = move_addr_to_kernel(m, addr, addrlen)
    if is_error(address):
        return address
    return sock.ops.bind(m, sock, address, addrlen)


LISTEN_CLAMP = rule(
    "listen.backlog_clamp", "backlog = min((unsigned)backlog, somaxconn)",
    "The backlog is clamped to net.core.somaxconn of the socket's namespace; compared as "
    "unsigned, so a negative backlog becomes somaxconn.",
    "net/socket.c __sys_listen(): if ((unsigned int)backlog > somaxconn) backlog = somaxconn; "
    "listen(2) NOTES")


def clamp_backlog(m: Model, backlog: int) -> tuple[int, tuple]:
    """__sys_listen()'s clamp: the backlog the family sees, and the rule if it clamped."""
    somaxconn = m.net.somaxconn
    if (backlog & 0xFFFFFFFF) > somaxconn:
        return somaxconn, (LISTEN_CLAMP,)
    return backlog, ()


@syscall("listen")
def __sys_listen(m: Model, fd: int, backlog: int):
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    backlog, clamped = clamp_backlog(m, backlog)
    outcomes = sock.ops.listen(m, sock, backlog)
    if not clamped:
        return outcomes
    from .rules import as_outcomes
    return tuple(o if o.errno else Outcome(o.rule, o.errno, o.ret, o.out, o.apply, o.also + clamped)
                 for o in as_outcomes(outcomes))


# --------------------------------------------------------------------------- accept

ACCEPT4_FLAGS = rule(
    "accept4.flags_invalid", "EINVAL",
    "accept4() flags other than SOCK_CLOEXEC and SOCK_NONBLOCK; checked after the fd lookup "
    "(EBADF first) and before ENOTSOCK and EMFILE.",
    "net/socket.c __sys_accept4(): fdget() -> EBADF, then __sys_accept4_file(): flags & "
    "~(SOCK_CLOEXEC | SOCK_NONBLOCK); accept(2) ERRORS EINVAL")


@syscall("accept4")
def __sys_accept4(m: Model, fd: int, flags: int, addr=True, addrlen=None):
    file = fdget(m, fd)
    if is_error(file):
        return file
    if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):
        return ACCEPT4_FLAGS.fail(E.EINVAL)
    newfd = new_fd(m)                 # __sys_accept4_file(): the fd is reserved first
    if is_error(newfd):
        return newfd
    sock = sock_from_file(m, file)
    if is_error(sock):
        return sock
    return sock.ops.accept(m, sock, newfd, flags, addr, addrlen)


@syscall("accept")
def __sys_accept(m: Model, fd: int, addr=True, addrlen=None):
    return __sys_accept4(m, fd, 0, addr, addrlen)


def accepted(m: Model, rule_, newsock: Sock, newfd: int, flags: int, addr, addrlen,
             peer_addr, peer_len, take: callable, also: tuple = ()):
    """do_accept()'s tail once the family dequeued a connection: copy the peer's address out
    (an error here still consumes the connection: ``take`` runs either way) and install the
    new fd with accept4's flags. File flags are not inherited from the listener."""
    out, extra = name_outputs(peer_addr, peer_len, addr, addrlen)
    if is_error(out):
        def consume(model, result):
            take(model)
        return Outcome(out.rule, out.errno, out.ret, out.out, consume, ())
    newsock.nonblock = bool(flags & L.SOCK_NONBLOCK)

    def install(model, result, cloexec=bool(flags & L.SOCK_CLOEXEC)):
        take(model)
        model.fds.install(newfd, newsock, cloexec)
    return rule_.ok(newfd, apply=install, also=also + extra + fd_flag_rules(flags), **out)


# --------------------------------------------------------------------------- connect

@syscall("connect")
def __sys_connect(m: Model, fd: int, addr, addrlen: int | None = None):
    file = fdget(m, fd)
    if is_error(file):
        return file
    addrlen = addrlen_arg(addr, addrlen)
    address = move_addr_to_kernel(m, addr, addrlen)     # before sock_from_file: EINVAL/EFAULT
    if is_error(address):                                # win over ENOTSOCK
        return address
    sock = sock_from_file(m, file)
    if is_error(sock):
        return sock
    return sock.ops.connect(m, sock, address, addrlen, L.O_NONBLOCK if sock.nonblock else 0)


# --------------------------------------------------------------------------- names

GETNAME = rule(
    "getsockname.ok", "0, the local address",
    "getsockname() returns the address the socket is bound to (the family's unbound form "
    "when it is not bound).",
    "net/socket.c __sys_getsockname() -> ops->getname(sock, addr, 0); getsockname(2)")
GETPEERNAME = rule(
    "getpeername.ok", "0, the peer's address",
    "getpeername() returns the address of the connected peer.",
    "net/socket.c __sys_getpeername() -> ops->getname(sock, addr, 1); getpeername(2)")


def _getname(m: Model, rule_, fd, addr, addrlen, peer: bool):
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    got = sock.ops.getname(m, sock, peer)
    if is_error(got):
        return got
    kaddr, klen = got
    out, extra = name_outputs(kaddr, klen, addr, addrlen)
    if is_error(out):
        return out
    family_rules = getattr(sock.ops, "getname_rules", None)   # which of the family's rules named it
    if family_rules is not None:
        extra = tuple(family_rules(m, sock, peer)) + extra
    return rule_.ok(0, also=extra, **out)


@syscall("getsockname")
def __sys_getsockname(m: Model, fd: int, addr=True, addrlen=None):
    return _getname(m, GETNAME, fd, addr, addrlen, peer=False)


@syscall("getpeername")
def __sys_getpeername(m: Model, fd: int, addr=True, addrlen=None):
    return _getname(m, GETPEERNAME, fd, addr, addrlen, peer=True)


# --------------------------------------------------------------------------- shutdown

@syscall("shutdown")
def __sys_shutdown(m: Model, fd: int, how: int):
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    return sock.ops.shutdown(m, sock, how)


# --------------------------------------------------------------------------- socket options

@syscall("setsockopt")
def __sys_setsockopt(m: Model, fd: int, level: int, name: int, value=0, optlen: int | None = None):
    from . import sock as core_sock
    return core_sock.sys_setsockopt(m, fd, level, name, value, optlen)


@syscall("getsockopt")
def __sys_getsockopt(m: Model, fd: int, level: int, name: int, optlen=4, optval=None):
    from . import sock as core_sock
    return core_sock.sys_getsockopt(m, fd, level, name, optlen, optval)
