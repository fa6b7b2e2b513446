"""net/socket.c: the syscall entries, socket creation and the helpers every call shares.

Each entry is named after the kernel function it mirrors and returns the outcomes it allows.
The families' operations (``sock.ops``, struct proto_ops) live in af_inet.py, af_unix.py,
af_packet.py and af_netlink.py.
"""
from __future__ import annotations

import errno as E
import struct
from dataclasses import replace

from ..abi import linux as L
from ..mem import Buffer, Placed, Ptr, encode_sockaddr
from .core import Model, syscall
from ..abi.markers import CONFIG_COMPAT, has
from . import lsm
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
    "fs/file.c alloc_fd() (find_next_fd from files->next_fd); open(2) 'lowest-numbered file descriptor'",
    shows=('answer', 'out.fds'))
CLOEXEC_FLAG = rule(
    "fd.cloexec_flag", "FD_CLOEXEC set",
    "SOCK_CLOEXEC (or accept4's flag) sets FD_CLOEXEC on the new descriptor only.",
    "net/socket.c sock_map_fd() -> get_unused_fd_flags(O_CLOEXEC); socket(2) SOCK_CLOEXEC",
    shows=('FD_CLOEXEC',))
NONBLOCK_FLAG = rule(
    "fd.nonblock_flag", "O_NONBLOCK set",
    "SOCK_NONBLOCK (or accept4's flag) sets O_NONBLOCK on the new open file description.",
    "net/socket.c sock_alloc_file(): O_RDWR | (flags & O_NONBLOCK); socket(2) SOCK_NONBLOCK",
    shows=('O_NONBLOCK',))
EBADF = rule(
    "fd.ebadf", "EBADF",
    "The descriptor is not open (closed, never opened, or negative).",
    "net/socket.c sockfd_lookup_light() -> fdget(); socket calls' ERRORS EBADF")
EBADF_PATH = rule(
    "fd.ebadf_o_path", "EBADF",
    "The descriptor is open but was opened with O_PATH (FMODE_PATH: a path-only file, from "
    "open(O_PATH) or open_tree() without OPEN_TREE_CLONE): fdget() does not return such a file, "
    "so every socket call answers EBADF, before it could tell whether it is a socket.",
    "fs/file.c fdget() -> __fget_light(fd, FMODE_PATH) (fdget_raw() passes 0); net/socket.c "
    "sockfd_lookup_light(); open(2) O_PATH: other file operations fail with the error EBADF")
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
ADDRLEN_OUT_AFTER_COPY = rule(
    "addr.outlen_after_copy", "*addrlen unchanged when the address copy faults",
    "move_addr_to_user() writes the full length to *addrlen last, after the address was "
    "copied: an unwritable address buffer (EFAULT) leaves *addrlen as it was.",
    "net/socket.c move_addr_to_user(): if (copy_to_user(uaddr, kaddr, len)) return -EFAULT; "
    "... return __put_user(klen, ulen); getsockname(2) ERRORS EFAULT",
    until=(6, 18, 0))
ADDRLEN_OUT_BEFORE_COPY = rule(
    "addr.outlen_before_copy", "*addrlen = the full length even when the address copy faults",
    "Since 6.18 move_addr_to_user() writes the full length to *addrlen in the same user access "
    "that read it, before it copies the address: an unwritable address buffer (EFAULT) leaves "
    "*addrlen = the address's length.",
    "net/socket.c move_addr_to_user(): unsafe_get_user(len, ulen); if (len >= 0) "
    "unsafe_put_user(klen, ulen); user_access_end(); ... copy_to_user() -> -EFAULT (commit "
    "1fb0e471611d \"net: remove one stac/clac pair from move_addr_to_user()\", v6.18-rc1)",
    since=(6, 18, 0))
ADDRLEN_OUT_UNWRITABLE_LAST = rule(
    "addr.outlen_unwritable_after_copy", "EFAULT, the address written",
    "*addrlen can be read but not written (a read-only buffer): the length is read, the "
    "address copied out, and only the final write of the length faults, so the call fails "
    "with the address buffer written (a connection accept() took stays consumed).",
    "net/socket.c move_addr_to_user(): get_user(len, ulen); copy_to_user(uaddr, kaddr, len); "
    "return __put_user(klen, ulen) -> -EFAULT; getsockname(2) ERRORS EFAULT",
    until=(6, 18, 0))
ADDRLEN_OUT_UNWRITABLE_FIRST = rule(
    "addr.outlen_unwritable_before_copy", "EFAULT, the address not written",
    "Since 6.18 *addrlen is read and written in one user access before the address is "
    "copied: a read-only *addrlen fails the call before the address buffer is touched.",
    "net/socket.c move_addr_to_user(): unsafe_get_user(len, ulen); if (len >= 0) "
    "unsafe_put_user(klen, ulen, efault_end) -> -EFAULT before copy_to_user() (commit "
    "1fb0e471611d, v6.18-rc1)",
    since=(6, 18, 0))
DATA_ACCESS_FAULT = rule(
    "data.access_ok_fault", "EFAULT",
    "The data buffer of send/sendto/recv/recvfrom lies above TASK_SIZE_MAX (a kernel-half "
    "address, (void *)-1): import_ubuf() refuses it with EFAULT before the descriptor is "
    "looked up, even for length 0 (a PROT_NONE page passes and faults only when copied).",
    "net/socket.c __sys_sendto()/__sys_recvfrom(): import_ubuf(ITER_SOURCE/ITER_DEST, buff, "
    "len, &msg.msg_iter) (5.10: import_single_range()) before sockfd_lookup_light(); "
    "lib/iov_iter.c import_ubuf(): !access_ok(buf, len) -> -EFAULT; send(2) ERRORS EFAULT")
IOV_ACCESS_FAULT = rule(
    "msg.iov_access_ok_fault", "EFAULT",
    "An iov_base above TASK_SIZE_MAX fails access_ok() when the iovec array is imported: "
    "EFAULT after the msghdr, the name and msg_iovlen were checked and before the protocol "
    "runs (a receive on an empty socket answers EFAULT, not EAGAIN).",
    "net/socket.c sendmsg_copy_msghdr()/recvmsg_copy_msghdr() -> import_iovec(); "
    "lib/iov_iter.c __import_iovec(): !access_ok(iov[seg].iov_base, len) -> -EFAULT (6.4+ "
    "one segment: __import_iovec_ubuf() -> import_ubuf()); recvmsg(2) ERRORS EFAULT")
ADDR_OUT_TRUNCATED = rule(
    "addr.out_truncated", "address truncated, *addrlen = full length",
    "A returned address is cut to the buffer size, and *addrlen tells the full length.",
    "net/socket.c move_addr_to_user(): copy min(len, klen), put_user(klen); accept(2), getsockname(2) NOTES",
    shows=('out.addr', 'out.addrlen', 'out.name', 'out.namelen', 'out.messages'))


# --------------------------------------------------------------------------- shared helpers

def readable(ptr) -> bool:
    return not (isinstance(ptr, Ptr) and ptr.inaccessible)


def user_read(ptr: Ptr, n: int, what: str):
    """copy_from_user() of ``n`` bytes at ``ptr``: the bytes, or None when it faults."""
    try:
        return ptr.read(n)
    except LookupError:
        raise NotModelled(f"{what} given as a raw pointer to readable memory") from None


def user_writes(ptr, n: int) -> bool:
    """copy_to_user() of ``n`` bytes to ``ptr`` succeeds (a raw address of unknown extent the
    test vouches for counts as writable)."""
    if not isinstance(ptr, Ptr):
        return True
    return ptr.writes(n) is not False


def sockfd_lookup_light(m: Model, fd: int):
    """fdget() + sock_from_file(): the Sock, or the EBADF / ENOTSOCK outcome."""
    entry = m.fds.get(fd) if isinstance(fd, int) and fd >= 0 else None
    if entry is None:
        return EBADF.fail(E.EBADF)
    if isinstance(entry.obj, Foreign):
        if entry.obj.path_only:
            return EBADF_PATH.fail(E.EBADF)
        if entry.obj.is_socket:
            raise NotModelled(f"fd {fd} is a socket the model did not create")
        return ENOTSOCK.fail(E.ENOTSOCK)
    return entry.obj


def fdget(m: Model, fd: int):
    """fdget(): the open file (Sock or Foreign), or the EBADF outcome (an O_PATH file too)."""
    entry = m.fds.get(fd) if isinstance(fd, int) and fd >= 0 else None
    if entry is not None and isinstance(entry.obj, Foreign) and entry.obj.path_only:
        return EBADF_PATH.fail(E.EBADF)
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
    if addr is None:
        return ADDR_FAULT.fail(E.EFAULT)
    if isinstance(addr, Ptr):                    # copy_from_user(kaddr, uaddr, ulen)
        data = user_read(addr, addrlen, "an input address")
        return ADDR_FAULT.fail(E.EFAULT) if data is None else data
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
    # a family the profile's sources (config, kallsyms, /proc/net/protocols) say is there must
    # be created; one they say is absent is not there, nor one nothing can register. Of an
    # unmodelled family no source knows about, the model cannot say (NotModelled below).
    if available is False or (create is None and available is None and family in _NEVER_REGISTERED):
        return FAMILY_UNAVAILABLE.fail(E.EAFNOSUPPORT)
    if create is None:
        raise NotModelled(f"family {L.FAMILY_NAMES.get(family, family)} is not modelled")
    created = create(m, type, protocol)
    if remapped and isinstance(created, Created):
        created = Created(PACKET_REMAP, created.sock, (created.rule,) + created.also)
    return created


# Families with no implementation in any kernel in scope: nothing registers them.
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
SOCKETPAIR_SV_FIRST = rule(
    "socketpair.sv_before_create", "sv[] holds the two reserved numbers, even on a later error",
    "Both reserved descriptor numbers are written to sv[] before the sockets are created, so a "
    "call that fails afterwards (the family has no socketpair, ...) leaves them there; the "
    "numbers stay free.",
    "net/socket.c __sys_socketpair(): put_user(fd1, &usockvec[0]); put_user(fd2, &usockvec[1]) "
    "before sock_create(); on error put_unused_fd(); socketpair(2)")
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
    if sv is not None and not user_writes(sv, 8):     # put_user(fd1), put_user(fd2)
        return SOCKETPAIR_FAULT.fail(E.EFAULT)
    # both numbers are in usockvec[] now: the array (the wrapper's or the caller's) shows
    # them even if the call fails
    written = {"sv": Exact((fd1, fd2))} if sv is None or isinstance(sv, Buffer) else {}

    def failed(o):
        return replace(o, out={**o.out, **written}, also=o.also + (SOCKETPAIR_SV_FIRST,))
    first = sock_create(m, family, type, protocol)
    if is_error(first):
        return failed(first)
    second = sock_create(m, family, type, protocol)
    if is_error(second):
        return failed(second)
    pair = first.sock.ops.socketpair(m, first.sock, second.sock)
    if pair.errno:                          # the family's outcome: an error, or the pairing
        return failed(pair)
    a, b = first.sock, second.sock
    a.nonblock = b.nonblock = bool(flags & L.SOCK_NONBLOCK)

    def install(model: Model, result, cloexec=bool(flags & L.SOCK_CLOEXEC)):
        pair.apply(model, result)
        model.fds.install(fd1, a, cloexec)
        model.fds.install(fd2, b, cloexec)

    shown = {"fds": Exact((fd1, fd2))} if sv is None or isinstance(sv, Buffer) else {}
    return pair.rule.ok(0, apply=install, also=pair.also + (first.rule,) + fd_flag_rules(flags),
                        **shown, **written)


# --------------------------------------------------------------------------- addresses out

def move_addr_to_user(m: Model, kaddr, klen: int, addr, addrlen) -> Outcome | dict:
    """move_addr_to_user(): the outputs a call returning an address shows (``addr`` decoded
    from the first min(*addrlen, klen) bytes, ``addrlen`` = klen), or the EFAULT/EINVAL
    outcome. ``addr``/``addrlen`` are the wrapper's arguments (True/False/Ptr; int/None/Ptr)."""
    from ..mem import decode_sockaddr
    if addr is False:                      # NULL address: nothing is copied or checked
        return {}
    len_ptr = addrlen if isinstance(addrlen, Ptr) else None
    if len_ptr is not None:                # get_user(len, ulen)
        raw = user_read(len_ptr, 4, "an address length")
        if raw is None:
            return ADDR_OUT_FAULT.fail(E.EFAULT)
        given = struct.unpack("=i", raw)[0]
    else:
        given = L.SOCKADDR_STORAGE_SIZE if addrlen is None else addrlen
    length = min(given, klen)
    len_shown = {} if len_ptr is not None else {"addrlen": given}
    len_writes = len_ptr is None or user_writes(len_ptr, 4)
    before = m.holds(ADDRLEN_OUT_BEFORE_COPY)
    if before and length >= 0 and not len_writes:
        return replace(ADDR_OUT_FAULT.fail(E.EFAULT), also=(ADDRLEN_OUT_UNWRITABLE_FIRST,))
    if length < 0:
        return ADDRLEN_OUT_NEGATIVE.fail(E.EINVAL, **len_shown)
    if length and not (readable(addr) and user_writes(addr, length)):
        # *addrlen is the wrapper's: what the copy's failure left there depends on the order
        if before:
            shown = {} if len_ptr is not None else {"addrlen": klen}
            return replace(ADDR_OUT_FAULT.fail(E.EFAULT, **shown), also=(ADDRLEN_OUT_BEFORE_COPY,))
        return replace(ADDR_OUT_FAULT.fail(E.EFAULT, **len_shown), also=(ADDRLEN_OUT_AFTER_COPY,))
    if not len_writes:                     # the final __put_user(klen, ulen) faults
        written = {"addr_written": length > 0} if addr is True else {}
        return replace(ADDR_OUT_FAULT.fail(E.EFAULT, **written),
                       also=(ADDRLEN_OUT_UNWRITABLE_LAST,))
    out = {} if len_ptr is not None else {"addrlen": klen}
    if addr is True:
        # the wrapper's zeroed buffer (Kernel._addr_out) holds the `length` bytes copied; it
        # decodes min(klen, buffer size) bytes of it (Kernel._addr_result) -- when it owns
        # the length too
        size = max(given, L.SOCKADDR_STORAGE_SIZE) if given > 0 else L.SOCKADDR_STORAGE_SIZE
        if len_ptr is not None:
            size = L.SOCKADDR_STORAGE_SIZE
        copied = encode_sockaddr(kaddr)[:length].ljust(size, b"\0")
        if len_ptr is None:
            out["addr"] = decode_sockaddr(copied[:min(klen, size)])
    return out


def name_outputs(m: Model, kaddr, klen, addr, addrlen) -> tuple[dict, tuple]:
    """(out constraints, extra rules) for a returned address, noting truncation."""
    out = move_addr_to_user(m, kaddr, klen, addr, addrlen)
    if is_error(out):
        return out, ()
    if isinstance(addrlen, Ptr):
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
    refused = lsm.security_socket_bind(m, sock, address, addrlen)
    if refused is not None:
        return refused
    return sock.ops.bind(m, sock, address, addrlen)


LISTEN_CLAMP = rule(
    "listen.backlog_clamp", "backlog = min((unsigned)backlog, somaxconn)",
    "The backlog is clamped to net.core.somaxconn of the socket's namespace; compared as "
    "unsigned, so a negative backlog becomes somaxconn.",
    "net/socket.c __sys_listen(): if ((unsigned int)backlog > somaxconn) backlog = somaxconn; "
    "listen(2) NOTES",
    shows=('listen_backlog',))


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
    out, extra = name_outputs(m, peer_addr, peer_len, addr, addrlen)
    if is_error(out):
        def consume(model, result):
            from .file import release
            take(model)
            release(model, newsock)          # do_accept(): fput(newfile) -> sock_close()
        return Outcome(out.rule, out.errno, out.ret, out.out, consume, out.also)
    def install(model, result, cloexec=bool(flags & L.SOCK_CLOEXEC)):
        newsock.accepted_from = newsock.listener
        take(model)
        newsock.nonblock = bool(flags & L.SOCK_NONBLOCK)   # in the transition: the entry
        model.fds.install(newfd, newsock, cloexec)         # itself leaves the model as it is
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
    refused = lsm.security_socket_connect(m, sock, address, addrlen)
    if refused is not None:
        return refused
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
    out, extra = name_outputs(m, kaddr, klen, addr, addrlen)
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


# =========================================================================== the data calls
#
# __sys_sendto/__sys_recvfrom (send/recv are the same with no address), the msghdr calls and
# the mmsg batches. The family's sock.ops.sendmsg(m, sock, Msg) answers a send with outcomes;
# sock.ops.recvmsg(m, sock, RecvMsg) answers a receive with a Received (the bytes it writes,
# the address it reports, msg_flags) or an error outcome; the entries below turn a Received
# into the outputs of the wrapper that was called.

from dataclasses import dataclass  # noqa: E402

from . import uio  # noqa: E402

MSG_CMSG_COMPAT = 0x80000000
MSG_ERRQUEUE = 0x2000
MSG_BATCH = 0x40000
UIO_MAXIOV = 1024
# what the model follows; anything else in a call's flags is NotModelled
SEND_FLAGS = L.MSG_OOB | L.MSG_DONTWAIT | L.MSG_EOR | L.MSG_NOSIGNAL | MSG_CMSG_COMPAT
RECV_FLAGS = (L.MSG_OOB | L.MSG_PEEK | L.MSG_TRUNC | L.MSG_DONTWAIT | L.MSG_WAITALL
              | L.MSG_CMSG_CLOEXEC | MSG_CMSG_COMPAT | MSG_ERRQUEUE)

CMSG_COMPAT_NATIVE = rule(
    "msg.cmsg_compat_native", "EINVAL",
    "MSG_CMSG_COMPAT (0x80000000) in the flags of a native sendmsg/recvmsg/sendmmsg/recvmmsg "
    "is refused before the descriptor is looked up (only the compat entries set it).",
    "net/socket.c __sys_sendmsg()/__sys_recvmsg()/__sys_sendmmsg(): forbid_cmsg_compat && "
    "(flags & MSG_CMSG_COMPAT) -> -EINVAL; SYSCALL_DEFINE5(recvmmsg); include/linux/socket.h: "
    "MSG_CMSG_COMPAT is 0 without CONFIG_COMPAT, and the bit is then an ordinary unknown flag",
    requires=has(CONFIG_COMPAT))
HDR_FAULT = rule(
    "msg.hdr_fault", "EFAULT",
    "The struct msghdr (or mmsghdr) cannot be read; checked after the descriptor.",
    "net/socket.c copy_msghdr_from_user(): copy_from_user(&msg, umsg, sizeof(*umsg)) -> "
    "-EFAULT; sendmsg(2) ERRORS EFAULT")
CONTROL_FAULT = rule(
    "msg.control_fault", "EFAULT",
    "msg_control cannot be read for msg_controllen bytes: EFAULT after the iovecs were "
    "imported and before the protocol sees the message (whatever the contents would be).",
    "net/socket.c ____sys_sendmsg(): err = -EFAULT; if (copy_from_user(ctl_buf, "
    "msg_sys->msg_control_user, ctl_len)) goto out_freectl; sendmsg(2) ERRORS EFAULT")
HDR_WRITE_FAULT = rule(
    "msg.hdr_write_fault", "EFAULT, the data consumed",
    "A read-only msghdr: the receive runs, then writing msg_namelen (move_addr_to_user) or "
    "msg_flags back faults: EFAULT, and the message is gone.",
    "net/socket.c ____sys_recvmsg(): sock_recvmsg(); move_addr_to_user(&addr, msg_namelen, "
    "uaddr, &msg->msg_namelen); __put_user(msg_flags, COMPAT_FLAGS(msg)) -> -EFAULT")
NAMELEN_NEGATIVE = rule(
    "msg.namelen_negative", "EINVAL",
    "msg_namelen < 0 with a non-NULL msg_name (a NULL msg_name makes the length 0).",
    "net/socket.c __copy_msghdr(): if (!msg->msg_name) kmsg->msg_namelen = 0; if "
    "(kmsg->msg_namelen < 0) return -EINVAL")
NAMELEN_CLAMPED = rule(
    "msg.namelen_clamped", "the call proceeds with msg_namelen = 128",
    "msg_namelen larger than sizeof(struct sockaddr_storage) is cut to 128 (sendto's addrlen "
    "is refused instead).",
    "net/socket.c __copy_msghdr(): if (kmsg->msg_namelen > sizeof(struct sockaddr_storage)) "
    "kmsg->msg_namelen = sizeof(struct sockaddr_storage)")
NAME_NULL = rule(
    "msg.name_null", "msg_namelen is ignored",
    "A NULL msg_name sends without an address (and receives none) whatever msg_namelen says.",
    "net/socket.c __copy_msghdr(): if (!msg->msg_name) kmsg->msg_namelen = 0")
IOVLEN_TOO_BIG = rule(
    "msg.iovlen_too_big", "EMSGSIZE",
    "msg_iovlen > UIO_MAXIOV (1024); checked after the name.",
    "net/socket.c __copy_msghdr(): if (msg->msg_iovlen > UIO_MAXIOV) return -EMSGSIZE; "
    "sendmsg(2) ERRORS EMSGSIZE")
SEND_ZERO_NAME = rule(
    "sendto.zero_length_addr", "the protocol sees an address of length 0",
    "sendto() with a non-NULL address and addrlen 0 passes an empty address to the protocol "
    "(UDP then answers EINVAL), while sendmsg() with msg_namelen 0 passes none.",
    "net/socket.c __sys_sendto(): if (addr) { move_addr_to_kernel(); msg.msg_name = &address; "
    "msg.msg_namelen = addr_len; } vs __copy_msghdr(): msg_name && msg_namelen")
NONBLOCK_FILE = rule(
    "msg.nonblock_file", "the call does not wait",
    "O_NONBLOCK on the file makes every data call behave as with MSG_DONTWAIT.",
    "net/socket.c __sys_sendto()/__sys_recvfrom()/____sys_sendmsg()/____sys_recvmsg(): "
    "if (sock->file->f_flags & O_NONBLOCK) flags |= MSG_DONTWAIT")
RECV_ADDR_AFTER_DATA = rule(
    "recvfrom.addr_error_after_data", "the error, the data consumed",
    "The source address is copied out after the protocol consumed the data: a bad *addrlen "
    "or address buffer fails the call but the data is gone.",
    "net/socket.c __sys_recvfrom(): sock_recvmsg() then move_addr_to_user(); "
    "____sys_recvmsg() likewise")
SIGPIPE_RAISED = rule(
    "send.sigpipe", "SIGPIPE is sent to the caller",
    "A stream send that fails with EPIPE raises SIGPIPE at the caller (pending while blocked; "
    "ignored by CPython otherwise), unless MSG_NOSIGNAL.",
    "net/core/stream.c sk_stream_error(): err == -EPIPE && !(flags & MSG_NOSIGNAL) -> "
    "send_sig(SIGPIPE); net/unix/af_unix.c unix_stream_sendmsg() pipe_err; send(2) EPIPE",
    shows=('SIGPIPE pending',))
NOSIGNAL = rule(
    "send.nosignal", "no SIGPIPE",
    "MSG_NOSIGNAL suppresses the SIGPIPE of a stream send failing with EPIPE.",
    "net/core/stream.c sk_stream_error(); send(2) MSG_NOSIGNAL",
    shows=('SIGPIPE pending',))


@dataclass
class Msg:
    """The kernel's struct msghdr of a send as the protocol sees it."""
    name: bytes | None              # msg_name (kernel copy), None when NULL
    namelen: int
    iter: uio.Iter
    flags: int
    via: str = "native"
    control: bytes | None = None    # the kernel's copy of msg_control (None: NULL), model/scm.py

    @property
    def len(self) -> int:
        return self.iter.count

    @property
    def nonblock(self) -> bool:
        return bool(self.flags & L.MSG_DONTWAIT)


@dataclass
class RecvMsg:
    """A receive: the buffer, whether the caller wants the source address, the flags."""
    iter: uio.Iter
    flags: int
    want_name: bool = True

    @property
    def size(self) -> int:
        return self.iter.count

    @property
    def nonblock(self) -> bool:
        return bool(self.flags & L.MSG_DONTWAIT)

    @property
    def peek(self) -> bool:
        return bool(self.flags & L.MSG_PEEK)


@dataclass
class Received:
    """A protocol's successful receive: the return value, the bytes it wrote to the buffer
    (from its start), the source address (sockaddr, msg_namelen) or None (msg_namelen stays
    0), the msg_flags it set, the transition and the rules; ``control``: the (level, type,
    data) messages it put_cmsg()s, or None where the model does not say (a control buffer is
    then NotModelled)."""
    rule: object
    ret: int
    written: bytes = b""
    name: tuple | None = None
    flags: int = 0
    apply: object = None
    also: tuple = ()
    control: tuple | None = None    # cmsgs the protocol put (the error queue: model/errqueue.py)
    scm: object = None              # unix: the skb's scm.Scm (files, credentials) it hands over
    delivery: object = None         # set by the recvmsg wrapper: scm.Delivery (what it installs)


def signal_outcome(m, rule_, err: int, flags: int, apply=None, also=()):
    """An EPIPE of a stream send: SIGPIPE unless MSG_NOSIGNAL."""
    if flags & L.MSG_NOSIGNAL:
        return Outcome(rule_, err, Exact(-1), {}, apply, tuple(also) + (NOSIGNAL,))

    def raise_sig(model, result):
        if apply is not None:
            apply(model, result)
        model.send_sig(SIGPIPE)
    return Outcome(rule_, err, Exact(-1), {}, raise_sig, tuple(also) + (SIGPIPE_RAISED,))


SIGPIPE = 13


def _with_also(outcomes, extra: tuple):
    from .rules import as_outcomes
    if not extra:
        return outcomes
    return tuple(Outcome(o.rule, o.errno, o.ret, o.out, o.apply, o.also + extra)
                 for o in as_outcomes(outcomes))


def _check_flags(flags: int, allowed: int, what: str):
    extra = (flags & 0xFFFFFFFF) & ~allowed
    if extra:
        raise NotModelled(f"{what} flags {extra:#x}")


def _file_flags(sock, flags: int) -> tuple[int, tuple]:
    if sock.nonblock and not flags & L.MSG_DONTWAIT:
        return flags | L.MSG_DONTWAIT, (NONBLOCK_FILE,)
    return flags | (L.MSG_DONTWAIT if sock.nonblock else 0), ()


def sock_sendmsg(m, sock, msg: Msg, extra=()):
    """sock_sendmsg() -> ops->sendmsg."""
    _check_flags(msg.flags, SEND_FLAGS, "send")
    msg.via = m.via
    if msg.control and sock.family != L.AF_UNIX:
        raise NotModelled("control messages on a socket other than AF_UNIX")
    return _with_also(sock.ops.sendmsg(m, sock, msg), tuple(extra))


def sock_recvmsg(m, sock, rmsg: RecvMsg):
    """sock_recvmsg() -> ops->recvmsg: a Received or an error outcome (MSG_ERRQUEUE is the
    protocol's to answer: errqueue.py)."""
    _check_flags(rmsg.flags, RECV_FLAGS, "recv")
    return sock.ops.recvmsg(m, sock, rmsg)


# --------------------------------------------------------------------------- sendto, send

@syscall("sendto")
def __sys_sendto(m: Model, fd: int, data, flags: int = 0, addr=None, addrlen=None,
                 length: int | None = None):
    it = uio.send_iter(data, length)
    if not it.access_ok():                  # import_ubuf(), before the descriptor
        return DATA_ACCESS_FAULT.fail(E.EFAULT)
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    name, namelen, also = None, 0, ()
    if addr is not None and not (isinstance(addr, Ptr) and addr.addr == 0):
        namelen = addrlen_arg(addr, addrlen)
        address = move_addr_to_kernel(m, addr, namelen)
        if is_error(address):
            return address
        name = address
        if namelen == 0:
            also = (SEND_ZERO_NAME,)
    flags, more = _file_flags(sock, flags & 0xFFFFFFFF)
    return sock_sendmsg(m, sock, Msg(name, namelen, it, flags), also + more)


@syscall("send")
def __sys_send(m: Model, fd: int, data, flags: int = 0, length: int | None = None):
    return __sys_sendto(m, fd, data, flags, None, 0, length)


# --------------------------------------------------------------------------- recvfrom, recv

RECV_TIMEOUT = rule(
    "recv.timeout", "EAGAIN after SO_RCVTIMEO (at once for a zero timeout)",
    "A blocking receive on a socket with a receive timeout waits at most that long: with "
    "nothing arriving it fails with EAGAIN once the timeout expired, as a non-blocking one "
    "would at once; a zero timeout (a negative tv_sec was set) does not wait at all.",
    "include/net/sock.h sock_rcvtimeo(sk, noblock): noblock ? 0 : sk->sk_rcvtimeo; "
    "net/core/datagram.c __skb_wait_for_more_packets(), net/ipv4/tcp.c tcp_recvmsg_locked() "
    "(if (!timeo) -EAGAIN), net/unix/af_unix.c unix_stream_data_wait(); socket(7) SO_RCVTIMEO "
    "'-1 with errno set to EAGAIN or EWOULDBLOCK'")
TIMEOUT_SLACK = 0.5         # seconds a timed-out receive may take beyond its timeout


def _rcvtimeo(sock, flags: int):
    """sock_rcvtimeo(): the flags a blocking receive with a receive timeout answers as (nothing
    arrives while it waits: the model is the only sender), and the timeout (None: none)."""
    from .sock import rcvtimeo
    if flags & L.MSG_DONTWAIT:
        return flags, None
    timeout = rcvtimeo(sock)
    if timeout is None:
        return flags, None
    return flags | L.MSG_DONTWAIT, timeout


def _timed(outcomes, timeout):
    """The outcomes of a receive under a timeout: an EAGAIN comes after it (Outcome.waits)."""
    if timeout is None:
        return outcomes
    from .rules import as_outcomes
    return tuple(Outcome(o.rule, o.errno, o.ret, o.out, o.apply, o.also + (RECV_TIMEOUT,),
                         timeout + TIMEOUT_SLACK) if o.errno == E.EAGAIN else o
                 for o in as_outcomes(outcomes))


def received_outcome(got, rmsg: RecvMsg, outputs):
    """A protocol's answer as the call's outcome: an error outcome as it is, a Received with
    the outputs ``outputs(got)`` computes (a dict, or an error outcome for a failed copy of
    the address, which still applies the protocol's transition)."""
    if isinstance(got, Outcome):
        return got
    out = outputs(got)
    apply, scm_rules = _scm_transition(got)
    if isinstance(out, Outcome):
        return Outcome(out.rule, out.errno, out.ret, out.out, apply,
                       (RECV_ADDR_AFTER_DATA,) + out.also)
    out, extra = out if isinstance(out, tuple) else (out, ())
    return got.rule.ok(got.ret, apply=apply, also=tuple(got.also) + tuple(extra) + scm_rules,
                       **out)


def _scm_transition(got):
    """The protocol's transition, then scm_recv()'s: the descriptors the wrapper installs
    (got.delivery), the files that were not installed dropped (model/scm.py)."""
    from . import scm
    if got.scm is None:
        return got.apply, ()
    delivery = got.delivery or scm.Delivery(rules=(scm.RECV_NO_CONTROL,) if got.scm.fp else ())
    if not got.scm.fp:
        return got.apply, delivery.rules
    base, files, installs = got.apply, got.scm.fp, list(delivery.installs)

    def apply(model, result):
        if base is not None:
            base(model, result)
        for fd, f, cloexec in installs:
            model.fds.install(fd, f, cloexec)
        scm.settle(model, files)
    return apply, delivery.rules


def _name_of(got):
    """(kernel address, msg_namelen) the protocol left: (empty, 0) when it set none."""
    if got.name is None:
        from ..mem import SockaddrRaw
        return SockaddrRaw(b""), 0
    return got.name


@syscall("recvfrom")
def __sys_recvfrom(m: Model, fd: int, size: int, flags: int = 0, addr=False, addrlen=None,
                   buf=None):
    it = uio.recv_iter(size, buf)
    if not it.access_ok():                  # import_ubuf(), before the descriptor
        return DATA_ACCESS_FAULT.fail(E.EFAULT)
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    flags, more = _file_flags(sock, flags & 0xFFFFFFFF)
    flags, timeout = _rcvtimeo(sock, flags)
    if m.via != "native":
        flags |= MSG_CMSG_COMPAT            # __compat_sys_recvfrom()
    rmsg = RecvMsg(it, flags, want_name=addr is not False)
    got = sock_recvmsg(m, sock, rmsg)

    def outputs(got):
        out = {}
        if buf is None:
            out["data"] = it.wrapper_data(got.written, got.ret)
        extra = ()
        if addr is not False:
            kaddr, klen = _name_of(got)
            named = move_addr_to_user(m, kaddr, klen, addr, addrlen)
            if is_error(named):
                return named
            out.update(named)
            given = L.SOCKADDR_STORAGE_SIZE if addrlen is None else addrlen
            if addr is True and isinstance(given, int) and 0 <= given < klen:
                extra = (ADDR_OUT_TRUNCATED,)
        return out, extra
    return _timed(_with_also(received_outcome(got, rmsg, outputs), more), timeout)


@syscall("recv")
def __sys_recv(m: Model, fd: int, size: int, flags: int = 0):
    return __sys_recvfrom(m, fd, size, flags)


# --------------------------------------------------------------------------- msghdr

def _forbid_cmsg_compat(m, flags: int):
    if m.via == "native" and flags & MSG_CMSG_COMPAT and m.holds(CMSG_COMPAT_NATIVE):
        return CMSG_COMPAT_NATIVE.fail(E.EINVAL)
    return None


def copy_msghdr(m, msg, iov, name, namelen, recv: bool, control=b""):
    """copy_msghdr_from_user() / __copy_msghdr() for the wrapper's msghdr: (kernel name,
    namelen, iter, rules) or an error outcome. For a receive the name is the user's buffer
    (True) or None; nothing is copied in."""
    if isinstance(msg, Ptr):
        if msg.inaccessible:
            return HDR_FAULT.fail(E.EFAULT)
        raise NotModelled("a msghdr at a readable address the model cannot see")
    if isinstance(msg, Placed) and msg.short > 0:       # copy_from_user(msg, umsg, sizeof(*umsg))
        return HDR_FAULT.fail(E.EFAULT)
    also = ()
    null_name = name is None or name is False or (isinstance(name, Ptr) and name.addr == 0)
    if recv:
        length = L.SOCKADDR_STORAGE_SIZE if namelen is None else namelen
    elif null_name:
        length = namelen or 0               # the wrapper passes it as given, with NULL
    else:
        length = addrlen_arg(name, namelen)
    if null_name:
        if length:
            also += (NAME_NULL,)
        length = 0
    if length < 0:
        return NAMELEN_NEGATIVE.fail(E.EINVAL)
    if length > L.SOCKADDR_STORAGE_SIZE:
        length = L.SOCKADDR_STORAGE_SIZE
        also += (NAMELEN_CLAMPED,)
    kname = None
    if not null_name and length and not recv:
        kname = move_addr_to_kernel(m, name, length)
        if is_error(kname):
            return kname
    if len(iov) > UIO_MAXIOV:
        return IOVLEN_TOO_BIG.fail(E.EMSGSIZE)
    if control and not isinstance(control, tuple) and m.via != "native":
        raise NotModelled("a compat msg_control (cmsghdr_from_user_compat_to_kern)")
    parts = [uio.recv_part(p) if recv else uio.send_part(p) for p in iov]
    it = uio.Iter(parts)
    if not it.access_ok():                  # import_iovec()
        return IOV_ACCESS_FAULT.fail(E.EFAULT)
    if isinstance(control, tuple):          # ____sys_sendmsg(): copy_from_user(ctl_buf, ...)
        ptr, n = control
        if n and m.via != "native":
            raise NotModelled("a compat msg_control (cmsghdr_from_user_compat_to_kern)")
        if n and ptr.reads(n) is False:
            return CONTROL_FAULT.fail(E.EFAULT)
        if n:
            raise NotModelled("control messages at a raw address")
    return kname, length, it, also


@syscall("sendmsg")
def __sys_sendmsg(m: Model, fd: int, iov, flags: int = 0, name=None, namelen=None,
                  control: bytes = b"", msg=None):
    bad = _forbid_cmsg_compat(m, flags)
    if bad is not None:
        return bad
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    return ___sys_sendmsg(m, sock, iov, flags, name, namelen, control, msg)


def ___sys_sendmsg(m, sock, iov, flags, name, namelen, control, msg, msg_flags: int = 0):
    got = copy_msghdr(m, msg, iov or [], name, namelen, recv=False, control=control)
    if is_error(got):
        return got
    kname, length, it, also = got
    flags = (flags | msg_flags) & 0xFFFFFFFF
    flags, more = _file_flags(sock, flags)
    if m.via != "native":
        flags |= MSG_CMSG_COMPAT
    if isinstance(control, tuple):          # (Ptr, 0): a non-NULL msg_control of length 0
        kcontrol = b"" if control[0].addr != 0 else None
    else:
        kcontrol = bytes(control) if control else None
    return sock_sendmsg(m, sock, Msg(kname, length, it, flags, control=kcontrol), also + more)


def recvmsg_outputs(m, it, got, name, namelen, flags: int = 0, msg=None, sock=None,
                    controllen: int = 0):
    """The wrapper's recvmsg outputs: data, msg_namelen (and the name), msg_controllen (and
    the control messages: the error queue's, model/errqueue.py, or SCM_RIGHTS and
    SCM_CREDENTIALS, model/scm.py), msg_flags; or the error of copying the address out."""
    out = {"data": it.wrapper_data(got.written, got.ret)}
    user_len = L.SOCKADDR_STORAGE_SIZE if namelen is None else namelen
    if isinstance(msg, Placed) and not msg.writable:
        if name is None or name is False:   # __put_user(msg_flags, ...) faults
            return HDR_WRITE_FAULT.fail(E.EFAULT)
        kaddr, klen = _name_of(got)
        # move_addr_to_user() with uaddr_len = &msg->msg_namelen, a read-only int
        held = Ptr(0, "msg_namelen (read-only)", span=4, writable=False,
                   data=struct.pack("=i", user_len))
        failed = move_addr_to_user(m, kaddr, klen, True, held)
        if not is_error(failed):
            raise NotModelled("a read-only msghdr whose msg_namelen write did not fault")
        out = {"name_written": failed.out["addr_written"]} if "addr_written" in failed.out else {}
        return replace(failed, rule=HDR_WRITE_FAULT, out=out, also=(failed.rule,) + failed.also)
    if name is None or name is False:
        out["namelen"] = 0                  # NULL msg_name: msg_namelen is left alone
    else:
        kaddr, klen = _name_of(got)
        named = move_addr_to_user(m, kaddr, klen, True, user_len)
        if is_error(named):
            return named
        out["namelen"] = named["addrlen"]
        if named["addrlen"] > 0:
            out["name"] = named["addr"]
    msg_flags, extra = got.flags, ()
    if got.control is not None:             # put_cmsg() for each message the protocol put
        from .errqueue import CTRUNC, put_cmsgs
        shown, used, truncated = put_cmsgs(m, controllen, got.control)
        out["controllen"] = used
        if used:
            out["cmsgs"] = shown
        if truncated:
            msg_flags, extra = msg_flags | L.MSG_CTRUNC, (CTRUNC,)
    else:
        out["controllen"] = 0
    # ____sys_recvmsg() starts msg_flags from flags & (MSG_CMSG_CLOEXEC | MSG_CMSG_COMPAT)
    out["msg_flags"] = (msg_flags | (flags & L.MSG_CMSG_CLOEXEC)) & ~MSG_CMSG_COMPAT
    if got.scm is not None:                 # scm_recv() after the protocol's copy
        from . import scm
        from ..abi import cmsg
        d = scm.scm_recv(m, sock, got.scm.fp, got.scm.creds, controllen > 0, controllen, flags)
        got.delivery = d
        out["controllen"] = d.used
        if d.ctrunc:
            out["msg_flags"] |= L.MSG_CTRUNC
        if controllen > 0:
            out["control"] = cmsg.decode(d.control)
    elif got.control is None and controllen > 0:
        out["control"] = ()
    return (out, extra) if extra else out


@syscall("recvmsg")
def __sys_recvmsg(m: Model, fd: int, iov, flags: int = 0, name=True, namelen=None,
                  controllen: int = 0, msg=None):
    bad = _forbid_cmsg_compat(m, flags)
    if bad is not None:
        return bad
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    return ___sys_recvmsg(m, sock, iov, flags, name, namelen, controllen, msg)


def ___sys_recvmsg(m, sock, iov, flags, name, namelen, controllen, msg):
    got = copy_msghdr(m, msg, iov or [], name, namelen, recv=True)
    if is_error(got):
        return got
    _, _, it, also = got
    if controllen and not flags & MSG_ERRQUEUE and (m.via != "native" or sock.family != L.AF_UNIX):
        raise NotModelled("a control buffer on receive (other than the error queue's or a native "
                          "unix one)")
    flags &= 0xFFFFFFFF
    if m.via != "native":
        flags |= MSG_CMSG_COMPAT
    flags, more = _file_flags(sock, flags)
    flags, timeout = _rcvtimeo(sock, flags)
    rmsg = RecvMsg(it, flags, want_name=True)
    answer = sock_recvmsg(m, sock, rmsg)
    return _timed(_with_also(received_outcome(
        answer, rmsg, lambda g: recvmsg_outputs(m, it, g, name, namelen, flags, msg, sock,
                                                controllen)), also + more), timeout)


# --------------------------------------------------------------------------- mmsg batches

VLEN_CLAMPED = rule(
    "sendmmsg.vlen_clamped", "at most 1024 messages are sent",
    "vlen above UIO_MAXIOV (1024) is cut to 1024, without an error.",
    "net/socket.c __sys_sendmmsg(): if (vlen > UIO_MAXIOV) vlen = UIO_MAXIOV; sendmmsg(2)")
SENDMMSG_OK = rule(
    "sendmmsg.ok", "the number of messages sent; each msg_len set",
    "Every message is sent as sendmsg() would send it; msg_len holds each one's result.",
    "net/socket.c __sys_sendmmsg(): ___sys_sendmsg() per entry, put_user(err, &entry->msg_len); "
    "sendmmsg(2) RETURN VALUE")
SENDMMSG_PARTIAL = rule(
    "sendmmsg.partial", "the number sent before the failing message; its error is dropped",
    "A message that fails after others were sent ends the batch: the count is returned and the "
    "error is lost (not kept in SO_ERROR).",
    "net/socket.c __sys_sendmmsg(): /* We only return an error if no datagrams were able to be "
    "sent */ if (datagrams != 0) return datagrams; sendmmsg(2) RETURN VALUE")
SENDMMSG_FIRST_ERROR = rule(
    "sendmmsg.first_error", "the first message's error",
    "When the first message fails, sendmmsg() returns its error.",
    "net/socket.c __sys_sendmmsg(): datagrams == 0 -> return err")
MMSG_VLEN_ZERO = rule(
    "mmsg.vlen_zero", "0",
    "vlen 0 reads no message and returns 0 (after the descriptor and, for recvmmsg, the "
    "timeout and a pending error).",
    "net/socket.c __sys_sendmmsg()/do_recvmmsg(): while (datagrams < vlen) never runs")
RECVMMSG_OK = rule(
    "recvmmsg.ok", "the number of messages received; each msg_len set",
    "Messages are received one by one as recvmsg() would; the batch ends at vlen, or when the "
    "next receive would block (EAGAIN, not reported once a message was received).",
    "net/socket.c do_recvmmsg(): ___sys_recvmsg() per entry; 'We may return less entries than "
    "requested (vlen) if the sock is non block'; recvmmsg(2)")
RECVMMSG_ERROR_PARKED = rule(
    "recvmmsg.error_after_some", "the count; the error is kept as the socket error",
    "A receive that fails (not with EAGAIN) after others succeeded ends the batch: the count is "
    "returned and the error is stored in sk_err, for SO_ERROR or the next call.",
    "net/socket.c do_recvmmsg(): if (err != -EAGAIN) WRITE_ONCE(sock->sk->sk_err, -err); "
    "recvmmsg(2) BUGS")
RECVMMSG_FIRST_ERROR = rule(
    "recvmmsg.first_error", "the first receive's error",
    "When the first receive fails, recvmmsg() returns its error.",
    "net/socket.c do_recvmmsg(): if (datagrams == 0) return err")
RECVMMSG_SOCK_ERROR = rule(
    "recvmmsg.sock_error", "the pending socket error, consumed",
    "A pending socket error is reported (and cleared) before any message is read.",
    "net/socket.c do_recvmmsg(): if (!(flags & MSG_ERRQUEUE)) { err = sock_error(sock->sk); if "
    "(err) return err; }")
WAITFORONE = rule(
    "recvmmsg.waitforone", "only the first receive may wait",
    "MSG_WAITFORONE turns on MSG_DONTWAIT after the first message.",
    "net/socket.c do_recvmmsg(): if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT; recvmmsg(2)")
TIMEOUT_INVALID = rule(
    "recvmmsg.timeout_invalid", "EINVAL",
    "A timeout with tv_sec < 0 or tv_nsec outside 0..999999999; checked before the descriptor.",
    "net/socket.c do_recvmmsg(): poll_select_set_timeout() -> !timespec64_valid() -> -EINVAL")
TIMEOUT_FAULT = rule(
    "recvmmsg.timeout_fault", "EFAULT",
    "The timeout cannot be read; checked first of all.",
    "net/socket.c __sys_recvmmsg(): get_timespec64() / get_old_timespec32() -> -EFAULT")
TIMEOUT_WRITE_FAULT = rule(
    "recvmmsg.timeout_write_fault", "EFAULT, the messages consumed",
    "A timeout that can be read but not written (read-only): once messages were received the "
    "remaining time is written back, which faults: the call answers EFAULT and the messages "
    "are gone (each msg_len written).",
    "net/socket.c __sys_recvmmsg(): if (datagrams > 0 && put_timespec64(&timeout_sys, "
    "timeout)) datagrams = -EFAULT (compat: put_old_timespec32()); recvmmsg(2)")
TIMEOUT_ZERO = rule(
    "recvmmsg.timeout_zero", "at most one message",
    "A zero timeout has already expired after the first message: the batch stops there (the "
    "first receive itself is not bounded by the timeout).",
    "net/socket.c do_recvmmsg(): poll_select_set_timeout(0, 0) -> end_time 0; after a datagram "
    "timespec64_sub(end_time, now) < 0 -> break; recvmmsg(2) BUGS")
NSEC_PER_SEC = 1_000_000_000


def _timespec_layout(m):
    """The timespec recvmmsg reads: struct __kernel_timespec natively, old_timespec32 on the
    i386 paths (compat_sys_recvmmsg_time32)."""
    from .. import abi
    return (abi.native() if m.via == "native" else abi.compat()).timespec


def _fake(outcome):
    from ..abi.result import Result
    ret = getattr(outcome.ret, "value", 0)
    return Result(ret if not outcome.errno else -1, outcome.errno, {})


def _single(outcomes, what):
    from .rules import as_outcomes
    outs = as_outcomes(outcomes)
    if len(outs) != 1:
        raise NotModelled(f"{what}: more than one outcome is allowed for a message of the batch")
    return outs[0]


def _batch_apply(sim):
    def adopt(model, result):
        model.adopt_state(sim)
    return adopt


def _rules(outcomes) -> tuple:
    seen = []
    for o in outcomes:
        for r in o.rules:
            if r not in seen:
                seen.append(r)
    return tuple(seen)


def _msgvec(msgvec, n: int, what: str):
    """A raw msgvec pointer: EFAULT at the first entry, or NotModelled."""
    if isinstance(msgvec, Ptr) and msgvec.inaccessible:
        return HDR_FAULT.fail(E.EFAULT)
    raise NotModelled(f"{what} entries at a readable address the model cannot see")


@syscall("sendmmsg")
def __sys_sendmmsg(m: Model, fd: int, msgs, flags: int = 0, vlen=None, msgvec=None):
    import copy
    bad = _forbid_cmsg_compat(m, flags)
    if bad is not None:
        return bad
    n = len(msgs) if vlen is None else vlen & 0xFFFFFFFF
    also = ()
    if n > UIO_MAXIOV:
        n, also = UIO_MAXIOV, (VLEN_CLAMPED,)
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    if n == 0:
        return MMSG_VLEN_ZERO.ok(0, **({"msg_len": [0] * len(msgs)} if msgvec is None else {}))
    if msgvec is not None:
        return _msgvec(msgvec, n, "sendmmsg")
    if n > len(msgs):
        raise NotModelled("vlen beyond the messages given (whatever memory follows them)")
    sim = copy.deepcopy(m)
    sim_sock = sim.sock(fd)
    done, seen, failed = [], [], None
    for i, entry in enumerate(msgs[:n]):
        entry = entry if isinstance(entry, dict) else {"iov": entry}
        o = _single(___sys_sendmsg(sim, sim_sock, entry["iov"], flags, entry.get("name"),
                                   entry.get("namelen"), b"", None,
                                   entry.get("flags", 0) & L.MSG_EOR), "sendmmsg")
        seen.append(o)
        if o.apply is not None:
            o.apply(sim, _fake(o))
        if o.errno:
            failed = o
            break
        done.append(o.ret.value)
        if o.ret.value < uio.Iter([uio.send_part(p) for p in entry["iov"]]).count:
            raise NotModelled("a short send inside sendmmsg")
    rules = _rules(seen)
    if not done:
        return Outcome(SENDMMSG_FIRST_ERROR, failed.errno, Exact(-1), {}, _batch_apply(sim),
                       rules + also)
    rule_ = SENDMMSG_PARTIAL if failed is not None else SENDMMSG_OK
    lens = done + [0] * (len(msgs) - len(done))
    return rule_.ok(len(done), apply=_batch_apply(sim), also=rules + also, msg_len=lens)


@syscall("recvmmsg")
def __sys_recvmmsg(m: Model, fd: int, msgs, flags: int = 0, vlen=None, timeout=None,
                   msgvec=None):
    import copy
    if m.via == "native" and flags & MSG_CMSG_COMPAT and m.holds(CMSG_COMPAT_NATIVE):
        return CMSG_COMPAT_NATIVE.fail(E.EINVAL)
    timeout_ptr = None
    if isinstance(timeout, Ptr):            # get_timespec64() / get_old_timespec32()
        layout = _timespec_layout(m)
        raw = user_read(timeout, layout.size, "a timeout")
        if raw is None:
            return TIMEOUT_FAULT.fail(E.EFAULT)
        timeout_ptr, timeout = timeout, layout.unpack(raw)
    if timeout is not None:
        sec, nsec = timeout
        if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
            return TIMEOUT_INVALID.fail(E.EINVAL)
        if (sec, nsec) != (0, 0) and sec < 1:
            raise NotModelled("a timeout short enough to expire during the call")
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    if sock.so_error and not flags & MSG_ERRQUEUE:
        err = sock.so_error

        def take(model, result):
            sock.take_error()
        return Outcome(RECVMMSG_SOCK_ERROR, err, Exact(-1), {}, take)
    n = len(msgs) if vlen is None else vlen & 0xFFFFFFFF
    if n == 0:
        return MMSG_VLEN_ZERO.ok(0, **({"messages": [], "msg_len": [0] * len(msgs)}
                                       if msgvec is None else {}))
    if msgvec is not None:
        return _msgvec(msgvec, n, "recvmmsg")
    if n > len(msgs):
        raise NotModelled("vlen beyond the messages given (whatever memory follows them)")
    sim = copy.deepcopy(m)
    sim_sock = sim.sock(fd)
    got, seen, failed, extra = [], [], None, ()
    f = flags & 0xFFFFFFFF
    for i, sizes in enumerate(msgs[:n]):
        holder = {}

        def capture(it, g, _flags, holder=holder):
            res = recvmsg_outputs(sim, it, g, True, None, _flags, sock=sim_sock)
            out = res[0] if isinstance(res, tuple) else res
            if not is_error(out):
                holder["msg"] = {"data": out["data"], "msg_len": g.ret,
                                 "msg_flags": out["msg_flags"], "namelen": out["namelen"]}
                if "name" in out:
                    holder["msg"]["name"] = out["name"]
            return res
        o = _single(_recv_one(sim, sim_sock, sizes, f & ~L.MSG_WAITFORONE, capture), "recvmmsg")
        seen.append(o)
        if o.apply is not None:
            o.apply(sim, _fake(o))
        if o.errno:
            failed = o
            break
        got.append(holder["msg"])
        if f & L.MSG_WAITFORONE and not f & L.MSG_DONTWAIT:
            f |= L.MSG_DONTWAIT
            extra = (WAITFORONE,)
        if timeout == (0, 0):
            extra += (TIMEOUT_ZERO,)
            break
        if holder["msg"]["msg_flags"] & L.MSG_OOB:
            raise NotModelled("recvmmsg stopping at out-of-band data")
    rules = _rules(seen) + extra
    # each received entry's msg_len is written (put_user after its receive); the rest keep 0
    lens = [g["msg_len"] for g in got] + [0] * (len(msgs) - len(got))
    if not got:
        return Outcome(RECVMMSG_FIRST_ERROR, failed.errno, Exact(-1), {}, _batch_apply(sim),
                       rules)
    if failed is not None and failed.errno != E.EAGAIN:
        def park(model, result, err=failed.errno):
            model.adopt_state(sim)
            model.sock(fd).so_error = err
        return RECVMMSG_ERROR_PARKED.ok(len(got), apply=park, also=rules, messages=got,
                                        msg_len=lens)
    if timeout_ptr is not None and not user_writes(timeout_ptr, _timespec_layout(m).size):
        # the messages are received (msg_len written); the remaining time cannot be written
        first = got[0]                      # the first entry's msghdr was written back
        shown = {"msg_len": lens, "namelen": first["namelen"], "controllen": 0,
                 "msg_flags": first["msg_flags"]}
        return Outcome(TIMEOUT_WRITE_FAULT, E.EFAULT, Exact(-1),
                       {k: Exact(v) for k, v in shown.items()}, _batch_apply(sim), rules)
    return RECVMMSG_OK.ok(len(got), apply=_batch_apply(sim), also=rules, messages=got, msg_len=lens)


def _recv_one(m, sock, sizes, flags, capture):
    """One entry of a recvmmsg batch: ___sys_recvmsg() with the wrapper's name buffer."""
    got = copy_msghdr(m, None, sizes, True, None, recv=True)
    if is_error(got):
        return got
    _, _, it, also = got
    if m.via != "native":
        flags |= MSG_CMSG_COMPAT
    flags, more = _file_flags(sock, flags)
    if not flags & L.MSG_DONTWAIT and sock.opts.get("SO_RCVTIMEO") is not None:
        raise NotModelled("recvmmsg with SO_RCVTIMEO")
    rmsg = RecvMsg(it, flags, want_name=True)
    answer = sock_recvmsg(m, sock, rmsg)
    return _with_also(received_outcome(answer, rmsg, lambda g: capture(it, g, flags)),
                      also + more)
