"""socketcall(2) on the i386 compat path (net/compat.c compat_sys_socketcall): the call range,
the argument block (exactly nas[call] words are read), and every valid call giving the same
answer as the direct syscall -- through raw socketcall words, and through the typed wrappers
over both 32-bit paths (socketcall, and the i386 direct socket syscalls). Each of the 20 calls
succeeds in some program of test_same_as_direct, its return value (fd numbers included) and
write-backs equal to the native run's; the model names the call (socketcall.<call>) and the
32-bit structures (compat.msghdr, compat.mmsghdr, compat.recvmmsg_time32)."""
from __future__ import annotations

import os
import struct

import pytest

from harness.abi import linux as L
from harness.mem import NULL, Buffer, Ptr, SockaddrIn, SockaddrUn
from harness.model.compat import NAS

pytestmark = pytest.mark.compat

CLOSED = 32767                   # an fd number no test holds


@pytest.fixture(autouse=True)
def compat_path(profile):
    if not profile.compat_available:
        pytest.skip(f"no 32-bit compat path: {profile.compat_reason}")


_low: Buffer | None = None


def low_page(sc) -> Buffer:
    """A page of ordinary memory below 4 GiB that 32-bit pointers can reach."""
    global _low
    if _low is None:
        addr = sc.k.mmap(4096, L.PROT_READ | L.PROT_WRITE,
                         L.MAP_PRIVATE | L.MAP_ANONYMOUS | L.MAP_32BIT)
        _low = Buffer(addr, 4096)
    return _low


# --------------------------------------------------------------------------- dispatch

DISPATCH_ERRORS = [
    ("call-0", 0, []),
    ("call-0-fault-block", 0, "fault"),
    ("call-negative", -1, [1, 1, 0]),
    ("call-int-min", -(1 << 31), [1, 1, 0]),
    ("call-21", 21, [0, 0, 0, 0]),
    ("call-21-null-block", 21, NULL),
    ("call-100", 100, []),
    ("call-socket-null-block", L.SYS_SOCKET, NULL),
    ("call-socket-fault-block", L.SYS_SOCKET, "fault"),
    ("call-sendmmsg-fault-block", L.SYS_SENDMMSG, "fault"),
]


@pytest.mark.parametrize("call,args", [r[1:] for r in DISPATCH_ERRORS],
                         ids=[r[0] for r in DISPATCH_ERRORS])
def test_dispatch_errors(sc, call, args):
    """The call number is checked first (EINVAL), then the block is read (EFAULT)."""
    sc.socketcall(call, sc.fault() if args == "fault" else args, via="socketcall")


def boundary_words(sc, call: int) -> list:
    """nas[call] words for a call whose answer shows it ran (no EFAULT): the fd calls get a
    closed fd (EBADF), socket and socketpair make sockets."""
    n = NAS[call]
    if call == L.SYS_SOCKET:
        return [L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0]
    if call == L.SYS_SOCKETPAIR:
        return [L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0, Ptr(low_page(sc).addr, "low page")]
    return [CLOSED] + [0] * (n - 1)


def close_made(sc, call, result):
    if not result.ok:
        return                              # cleanup only: nothing was made to close
    if call == L.SYS_SOCKET:
        sc.close(result.ret)
    elif call == L.SYS_SOCKETPAIR:
        for fd in struct.unpack("=ii", low_page(sc).read(8)):
            sc.close(fd)


@pytest.mark.parametrize("call", range(1, 21), ids=[f"SYS_{L.SOCKETCALL_NAMES[c].upper()}"
                                                    for c in range(1, 21)])
def test_block_size_is_nas(sc, call):
    """A block of exactly nas[call] words ending at a PROT_NONE page is enough; one word less
    faults. The words given run the direct call (EBADF on a closed fd, or a new socket)."""
    words = boundary_words(sc, call)
    assert len(words) == NAS[call], "the test builds one word per argument"
    r = sc.call("socketcall_tail", call, words, via="socketcall")     # the model: the direct call
    close_made(sc, call, r)
    sc.call("socketcall_tail", call, words[:-1], via="socketcall")    # the model: EFAULT


RAW_CALLS = [
    # (id, call, words): raw words decoded by the kernel exactly as by the direct call
    ("socket-unix-protocol-5", L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_STREAM, 5]),
    ("socket-inet-type-flags", L.SYS_SOCKET, [L.AF_INET, L.SOCK_STREAM | 0x100, 0]),
    ("socket-family-negative-word", L.SYS_SOCKET, [0xFFFFFFFF, L.SOCK_STREAM, 0]),
    ("socketpair-inet", L.SYS_SOCKETPAIR, [L.AF_INET, L.SOCK_DGRAM, 0, "low"]),
    ("socketpair-sv-fault", L.SYS_SOCKETPAIR, [L.AF_UNIX, L.SOCK_DGRAM, 0, "fault"]),
    ("bind-addrlen-negative", L.SYS_BIND, ["unix", "fault", 0xFFFFFFFF]),
    ("bind-addr-fault", L.SYS_BIND, ["unix", "fault", 16]),
    ("connect-addrlen-129", L.SYS_CONNECT, ["unix", 0, 129]),
    ("listen-netlink", L.SYS_LISTEN, ["netlink", 5]),
    ("accept-netlink", L.SYS_ACCEPT, ["netlink", 0, 0]),
    ("accept4-bad-flags", L.SYS_ACCEPT4, ["netlink", 0, 0, 0x1]),
    ("getsockname-closed", L.SYS_GETSOCKNAME, [CLOSED, "fault", "fault"]),
    ("shutdown-netlink", L.SYS_SHUTDOWN, ["netlink", L.SHUT_RDWR]),
    ("setsockopt-optlen-short", L.SYS_SETSOCKOPT, ["unix", L.SOL_SOCKET, L.SO_REUSEADDR, "fault", 2]),
    ("setsockopt-optlen-negative", L.SYS_SETSOCKOPT, ["unix", L.SOL_SOCKET, L.SO_REUSEADDR, 0, -1]),
    ("setsockopt-fault", L.SYS_SETSOCKOPT, ["unix", L.SOL_SOCKET, L.SO_KEEPALIVE, "fault", 4]),
    ("getsockopt-optlen-null", L.SYS_GETSOCKOPT, ["unix", L.SOL_SOCKET, L.SO_TYPE, 0, 0]),
    ("getsockopt-level-999", L.SYS_GETSOCKOPT, ["inet", 999, 1, 0, "fault"]),
    ("send-closed", L.SYS_SEND, [CLOSED, 0, 0, 0]),
    ("recv-closed", L.SYS_RECV, [CLOSED, 0, 0, 0]),
    ("sendto-closed", L.SYS_SENDTO, [CLOSED, 0, 0, 0, 0, 0]),
    ("recvfrom-closed", L.SYS_RECVFROM, [CLOSED, 0, 0, 0, 0, 0]),
    ("sendmsg-closed", L.SYS_SENDMSG, [CLOSED, 0, 0]),
    ("recvmsg-closed", L.SYS_RECVMSG, [CLOSED, 0, 0]),
    ("sendmmsg-closed", L.SYS_SENDMMSG, [CLOSED, 0, 0, 0]),
    ("recvmmsg-closed", L.SYS_RECVMMSG, [CLOSED, 0, 0, 0, 0]),
    ("send-dev-null", L.SYS_SEND, ["devnull", 0, 0, 0]),
    ("recvmsg-dev-null", L.SYS_RECVMSG, ["devnull", 0, 0]),
]
MAKERS = {"unix": (L.AF_UNIX, L.SOCK_DGRAM, 0), "inet": (L.AF_INET, L.SOCK_STREAM, 0),
          "netlink": (L.AF_NETLINK, L.SOCK_RAW, L.NETLINK_ROUTE)}


@pytest.mark.parametrize("call,words", [r[1:] for r in RAW_CALLS], ids=[r[0] for r in RAW_CALLS])
def test_raw_words(sc, call, words):
    """Raw words: ints are the kernel's 32-bit values (0xFFFFFFFF is -1), pointers NULL, the
    fault page or a low page; the model decodes them into the direct call."""
    made, devnull = [], None
    resolved = []
    for w in words:
        if w in MAKERS:
            fd = sc.socket(MAKERS[w][0], MAKERS[w][1] | L.SOCK_CLOEXEC, MAKERS[w][2]).ret
            made.append(fd)
            w = fd
        elif w == "devnull":
            devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            sc.m.adopt(devnull, "/dev/null", cloexec=True)
            w = devnull
        elif w == "fault":
            w = sc.fault()
        elif w == "low":
            w = Ptr(low_page(sc).addr, "low page")
        resolved.append(w)
    r = sc.socketcall(call, resolved, via="socketcall")
    close_made(sc, call, r)
    for fd in made:
        sc.close(fd)
    if devnull is not None:
        sc.close(devnull)


# --------------------------------------------------------------------------- typed calls

def prog_socket(s, via):
    r = s.socket(L.AF_INET6, L.SOCK_STREAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0, via=via)
    s.close(r.ret)
    return [r]


def prog_socket_error(s, via):
    return [s.socket(L.AF_PACKET if not s.m.capable("CAP_NET_RAW") else 255, L.SOCK_RAW, 0, via=via)]


def prog_socketpair(s, via):
    r = s.socketpair(L.AF_UNIX, L.SOCK_SEQPACKET | L.SOCK_CLOEXEC, 0, via=via)
    for fd in r.out["fds"]:
        s.close(fd)
    return [r, s.socketpair(L.AF_INET, L.SOCK_STREAM, 0, via=via)]


def _with(s, maker, body):
    fd = s.socket(maker[0], maker[1] | L.SOCK_CLOEXEC, maker[2]).ret
    try:
        return body(fd)
    finally:
        s.close(fd)


def prog_bind(s, via):
    return _with(s, MAKERS["unix"], lambda fd: [
        s.bind(fd, SockaddrUn(abstract=b"x"), 129, via=via),
        s.bind(fd, s.fault(), 16, via=via),
        s.bind(CLOSED, SockaddrIn(0, "127.0.0.1"), via=via)])


def prog_connect(s, via):
    return _with(s, MAKERS["inet"], lambda fd: [
        s.connect(fd, SockaddrIn(1, "127.0.0.1"), -1, via=via),
        s.connect(fd, s.fault(), 16, via=via)])


def prog_listen_accept_shutdown(s, via):
    return _with(s, MAKERS["netlink"], lambda fd: [
        s.listen(fd, 5, via=via),
        s.accept(fd, via=via),
        s.accept4(fd, L.SOCK_NONBLOCK, via=via),
        s.accept4(fd, 0x1, via=via),
        s.shutdown(fd, L.SHUT_WR, via=via)])


def prog_connection(s, via):
    """The connection calls succeeding: a unix stream listener bound to an abstract name,
    two clients connected, one accepted with accept() and one with accept4(), the names read
    on every end, a half shut: the fds made, the addresses written back, the EOF the
    shutdown causes at the peer."""
    name = SockaddrUn(abstract=f"sockspec-socketcall-conn-{os.getpid()}".encode())
    stream = L.SOCK_STREAM | L.SOCK_CLOEXEC
    lfd = s.socket(L.AF_UNIX, stream, 0, via=via)
    results = [lfd, s.bind(lfd.ret, name, via=via), s.listen(lfd.ret, 4, via=via)]
    c1, c2 = s.socket(L.AF_UNIX, stream, 0, via=via), s.socket(L.AF_UNIX, stream, 0, via=via)
    results += [c1, c2, s.connect(c1.ret, name, via=via), s.connect(c2.ret, name, via=via)]
    a1 = s.accept(lfd.ret, via=via)
    a2 = s.accept4(lfd.ret, L.SOCK_CLOEXEC | L.SOCK_NONBLOCK, via=via)
    results += [a1, a2,
                s.getsockname(lfd.ret, via=via), s.getsockname(a2.ret, via=via),
                s.getsockname(c1.ret, via=via),
                s.getpeername(c1.ret, via=via), s.getpeername(a1.ret, via=via),
                s.shutdown(c1.ret, L.SHUT_WR, via=via),
                s.recv(a1.ret, 10, DW, via=via),
                s.shutdown(a2.ret, L.SHUT_RDWR, via=via),
                s.recv(c2.ret, 10, DW, via=via)]
    return _closing(s, (a2.ret, a1.ret, c2.ret, c1.ret, lfd.ret), results)


def prog_names(s, via):
    return [s.getsockname(CLOSED, via=via), s.getpeername(-1, via=via)]


def prog_sockopts(s, via):
    def body(fd):
        return [
            s.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUF, 3000, via=via),
            s.getsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUF, via=via),
            s.getsockopt(fd, L.SOL_SOCKET, L.SO_TYPE, 2, via=via),
            s.setsockopt(fd, L.SOL_SOCKET, L.SO_KEEPALIVE, 1, -1, via=via),
            s.getsockopt(fd, L.SOL_SOCKET, L.SO_KEEPALIVE, -1, via=via),
            s.getsockopt(fd, L.SOL_TCP, L.TCP_INFO, 512, via=via),
            s.getsockopt(fd, L.SOL_TCP, L.TCP_MAXSEG, via=via),
            s.setsockopt(fd, 999, 1, 1, via=via),
            s.getsockopt(fd, 999, 1, via=via),
        ]
    return _with(s, MAKERS["inet"], body)


DW = L.MSG_DONTWAIT


def _pair(s, type_):
    return s.socketpair(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).out["fds"]


def _closing(s, fds, results):
    for fd in fds:
        s.close(fd)
    return results


def prog_send_recv(s, via):
    a, b = _pair(s, L.SOCK_STREAM)
    return _closing(s, (a, b), [
        s.send(a, b"hello", via=via),
        s.send(a, b"world", L.MSG_NOSIGNAL, via=via),
        s.recv(b, 3, via=via),
        s.recv(b, 4, DW | L.MSG_PEEK, via=via),
        s.recv(b, 100, DW, via=via),
        s.recv(b, 100, DW, via=via),
        s.send(a, b"", L.MSG_OOB, via=via),
        s.send(a, s.fault(), 0, length=2, via=via)])


def prog_sendto_recvfrom(s, via):
    name = SockaddrUn(abstract=f"sockspec-socketcall-{os.getpid()}".encode())
    r = s.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    s.bind(r, name)
    w = s.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    return _closing(s, (r, w), [
        s.sendto(w, b"datagram", 0, name, via=via),
        s.sendto(w, b"two", 0, name, via=via),
        s.recvfrom(r, 4, DW, True, via=via),
        s.recvfrom(r, 0, DW | L.MSG_TRUNC, True, 2, via=via),
        s.recvfrom(r, 10, DW, True, via=via),
        s.sendto(w, b"x", 0, SockaddrUn(abstract=b"sockspec-nobody-here"), via=via),
        s.sendto(w, b"x", 0, name, 129, via=via),
        s.recvfrom(r, 10, DW, True, -1, via=via)])


def prog_msg(s, via):
    a, b = _pair(s, L.SOCK_SEQPACKET)
    return _closing(s, (a, b), [
        s.sendmsg(a, [b"sca", b"", b"tter"], via=via),
        s.sendmsg(a, [b"record"], L.MSG_EOR, via=via),
        s.recvmsg(b, [2, 3, 10], DW, via=via),
        s.recvmsg(b, [3], DW, via=via),
        s.recvmsg(b, [3], DW, via=via),
        s.sendmsg(a, [b"x"], 0, SockaddrUn(abstract=b"ignored"), -1, via=via),
        s.sendmsg(a, [b""] * 1025, via=via),
        s.recvmsg(b, [4], DW, True, -1, via=via),
        s.sendmsg(a, None, 0, msg=s.fault(), via=via)])


def prog_mmsg(s, via):
    a, b = _pair(s, L.SOCK_DGRAM)
    return _closing(s, (a, b), [
        s.sendmmsg(a, [[b"m0"], [b"m", b"1"], [b""]], via=via),
        s.sendmmsg(a, [[b"x"]], vlen=0, via=via),
        s.recvmmsg(b, [[10], [1]], DW, via=via),
        s.recvmmsg(b, [[10], [10]], DW, timeout=(5, 0), via=via),
        s.recvmmsg(b, [[10]], DW, via=via),
        s.recvmmsg(b, [[10]], DW, timeout=(0, 1_000_000_000), via=via),
        s.sendmmsg(a, [[b"w1"], [b"w2"]], via=via),
        s.recvmmsg(b, [[10], [10], [10]], L.MSG_WAITFORONE, via=via)])


PROGRAMS = {
    "socket": prog_socket, "socket-error": prog_socket_error, "socketpair": prog_socketpair,
    "bind": prog_bind, "connect": prog_connect,
    "listen-accept-shutdown": prog_listen_accept_shutdown, "connection": prog_connection,
    "names": prog_names,
    "sockopts": prog_sockopts, "send-recv": prog_send_recv,
    "sendto-recvfrom": prog_sendto_recvfrom, "sendmsg-recvmsg": prog_msg,
    "sendmmsg-recvmmsg": prog_mmsg,
}


def shape(results) -> list:
    """What must agree between the paths: errno, and for a success the return value (the fd
    numbers too: each program closes what it made, so both paths get the same lowest free
    numbers) and the outputs. TCP_INFO's timers and rates differ between the two runs: a long
    value is compared by its length."""
    out = []
    for r in results:
        if not r.ok:
            out.append(r.errname)           # an error is compared by its name; no outputs
            continue
        fields = {k: len(v) if isinstance(v, bytes) and len(v) > 16 else v
                  for k, v in r.out.items()}
        out.append(("ok", r.ret, fields))
    return out


@pytest.mark.parametrize("via", ["socketcall", "compat"])
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_same_as_direct(sc, program, via):
    """The same program natively and through a 32-bit path: each call checked against the
    model, and the answers equal."""
    direct = shape(PROGRAMS[program](sc, "native"))
    other = shape(PROGRAMS[program](sc, via))
    assert other == direct, f"{via}: {other} != native: {direct}"


@pytest.mark.parametrize("via", ["socketcall", "compat"])
def test_cmsg_compat_flag_is_the_compat_paths_own(sc, via):
    """The 32-bit entries set MSG_CMSG_COMPAT themselves: given in the flags it is accepted
    there, while a native call refuses it with EINVAL."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).out["fds"]
    sc.sendmsg(a, [b"x"], 0x80000000, via=via)
    sc.recvmsg(b, [4], 0x80000000 | DW, via=via)
    sc.sendmsg(a, [b"x"], 0x80000000)
    sc.close(a)
    sc.close(b)
