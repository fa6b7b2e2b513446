"""net/compat.c: compat_sys_socketcall(), the i386 multiplexer (socketcall(2)).

On x86_64 socketcall exists only on the 32-bit compat path. It checks the call number, copies
nas[call] 32-bit words from the argument block, and runs the very function the direct syscall
runs (__sys_socket, __sys_bind, ...). So the model decodes the words into the direct call's
arguments and asks the same model entry: a socketcall agrees with the direct call by
construction, and a suite test checks that the kernel agrees too.

Two entries: ``socketcall(call, words)`` (Kernel.socketcall: the block holds the words, and
what follows it in memory is readable) and ``socketcall_tail(call, words)``
(Kernel.socketcall_tail: the block ends right before a PROT_NONE page, so a call that needs
more words than given faults).

A raw socketcall returns no decoded outputs (no fds array, no address): the direct call's
outcomes are kept with their return value, errno and state transition, without output
constraints.
"""
from __future__ import annotations

import errno as E
from dataclasses import replace

from ..abi import linux as L
from ..mem import Buffer, Ptr
from .call import Call
from .core import ENTRIES, syscall
from .rules import Outcome, as_outcomes, rule
from .socket import NotModelled

SYS_MIN, SYS_MAX = L.SYS_SOCKET, L.SYS_SENDMMSG
WORD = 4                                   # sizeof(u32): nas[] is AL(n) = n * sizeof(u32)

CALL_INVALID = rule(
    "socketcall.call_invalid", "EINVAL",
    "call < SYS_SOCKET (1) or > SYS_SENDMMSG (20); checked before the argument block is read.",
    "net/compat.c COMPAT_SYSCALL_DEFINE2(socketcall): if (call < SYS_SOCKET || call > "
    "SYS_SENDMMSG) return -EINVAL; socketcall(2)")
ARGS_FAULT = rule(
    "socketcall.args_fault", "EFAULT",
    "The argument block cannot be read in full: nas[call] bytes are copied at once, so one "
    "word missing before an unmapped page (or an unmapped block) faults.",
    "net/compat.c compat_sys_socketcall(): copy_from_user(a, args, nas[call]) -> -EFAULT")
DISPATCH = rule(
    "socketcall.dispatch", "the direct syscall's outcome",
    "A valid call runs the same kernel function as the direct syscall with the words as its "
    "arguments (32-bit values: ints sign-extended, pointers through compat_ptr()).",
    "net/compat.c compat_sys_socketcall(): switch (call) { case SYS_SOCKET: __sys_socket(a0, "
    "a1, a[2]) ... }; socketcall(2)")
ARGS_EXACT = rule(
    "socketcall.args_exact", "the call proceeds",
    "The kernel reads exactly nas[call] words: a block of that size ending at a PROT_NONE page "
    "is enough (nas = 3,3,3,2,3,3,3,4,4,4,6,6,2,5,5,3,3,4,5,4 words for calls 1..20).",
    "net/compat.c nas[21] = { AL(0), AL(3), AL(3), AL(3), AL(2), AL(3), AL(3), AL(3), AL(4), "
    "AL(4), AL(4), AL(6), AL(6), AL(2), AL(5), AL(5), AL(3), AL(3), AL(4), AL(5), AL(4) }")

NAS = L.SOCKETCALL_NARGS                   # in words

# What each call runs: compat_sys_socketcall()'s switch (net/compat.c; the same on every
# supported release: the set/getsockopt cases call __sys_setsockopt/__sys_getsockopt since
# compat_sys_{get,set}sockopt went in 5.9). A call through socketcall that succeeds reaches the
# rule of its call number, so the rule coverage shows each of the 20 succeeding with the
# direct call's effects.
SYS_SOCKET_OK = rule(
    "socketcall.socket", "the direct socket()'s success, its effects",
    "SYS_SOCKET (1) succeeds as the direct socket() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SOCKET: __sys_socket(a0, a1, a[2]); "
    "socketcall(2)")
SYS_BIND_OK = rule(
    "socketcall.bind", "the direct bind()'s success, its effects",
    "SYS_BIND (2) succeeds as the direct bind() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_BIND: __sys_bind(a0, compat_ptr(a1), a[2]); "
    "socketcall(2)")
SYS_CONNECT_OK = rule(
    "socketcall.connect", "the direct connect()'s success, its effects",
    "SYS_CONNECT (3) succeeds as the direct connect() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_CONNECT: __sys_connect(a0, compat_ptr(a1), "
    "a[2]); socketcall(2)")
SYS_LISTEN_OK = rule(
    "socketcall.listen", "the direct listen()'s success, its effects",
    "SYS_LISTEN (4) succeeds as the direct listen() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_LISTEN: __sys_listen(a0, a1); socketcall(2)")
SYS_ACCEPT_OK = rule(
    "socketcall.accept", "the direct accept()'s success, its effects",
    "SYS_ACCEPT (5) succeeds as the direct accept() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_ACCEPT: __sys_accept4(a0, compat_ptr(a1), "
    "compat_ptr(a[2]), 0); socketcall(2)")
SYS_GETSOCKNAME_OK = rule(
    "socketcall.getsockname", "the direct getsockname()'s success, its effects",
    "SYS_GETSOCKNAME (6) succeeds as the direct getsockname() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_GETSOCKNAME: __sys_getsockname(a0, "
    "compat_ptr(a1), compat_ptr(a[2])); socketcall(2)")
SYS_GETPEERNAME_OK = rule(
    "socketcall.getpeername", "the direct getpeername()'s success, its effects",
    "SYS_GETPEERNAME (7) succeeds as the direct getpeername() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_GETPEERNAME: __sys_getpeername(a0, "
    "compat_ptr(a1), compat_ptr(a[2])); socketcall(2)")
SYS_SOCKETPAIR_OK = rule(
    "socketcall.socketpair", "the direct socketpair()'s success, its effects",
    "SYS_SOCKETPAIR (8) succeeds as the direct socketpair() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SOCKETPAIR: __sys_socketpair(a0, a1, a[2], "
    "compat_ptr(a[3])); socketcall(2)")
SYS_SEND_OK = rule(
    "socketcall.send", "the direct send()'s success, its effects",
    "SYS_SEND (9) succeeds as the direct send() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SEND: __sys_sendto(a0, compat_ptr(a1), a[2], "
    "a[3], NULL, 0); socketcall(2)")
SYS_RECV_OK = rule(
    "socketcall.recv", "the direct recv()'s success, its effects",
    "SYS_RECV (10) succeeds as the direct recv() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_RECV: __compat_sys_recvfrom(a0, "
    "compat_ptr(a1), a[2], a[3], NULL, NULL); socketcall(2)")
SYS_SENDTO_OK = rule(
    "socketcall.sendto", "the direct sendto()'s success, its effects",
    "SYS_SENDTO (11) succeeds as the direct sendto() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SENDTO: __sys_sendto(a0, compat_ptr(a1), "
    "a[2], a[3], compat_ptr(a[4]), a[5]); socketcall(2)")
SYS_RECVFROM_OK = rule(
    "socketcall.recvfrom", "the direct recvfrom()'s success, its effects",
    "SYS_RECVFROM (12) succeeds as the direct recvfrom() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_RECVFROM: __compat_sys_recvfrom(a0, "
    "compat_ptr(a1), a[2], a[3], compat_ptr(a[4]), compat_ptr(a[5])); socketcall(2)")
SYS_SHUTDOWN_OK = rule(
    "socketcall.shutdown", "the direct shutdown()'s success, its effects",
    "SYS_SHUTDOWN (13) succeeds as the direct shutdown() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SHUTDOWN: __sys_shutdown(a0, a1); "
    "socketcall(2)")
SYS_SETSOCKOPT_OK = rule(
    "socketcall.setsockopt", "the direct setsockopt()'s success, its effects",
    "SYS_SETSOCKOPT (14) succeeds as the direct setsockopt() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SETSOCKOPT: __sys_setsockopt(a0, a1, a[2], "
    "compat_ptr(a[3]), a[4]); socketcall(2)")
SYS_GETSOCKOPT_OK = rule(
    "socketcall.getsockopt", "the direct getsockopt()'s success, its effects",
    "SYS_GETSOCKOPT (15) succeeds as the direct getsockopt() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_GETSOCKOPT: __sys_getsockopt(a0, a1, a[2], "
    "compat_ptr(a[3]), compat_ptr(a[4])); socketcall(2)")
SYS_SENDMSG_OK = rule(
    "socketcall.sendmsg", "the direct sendmsg()'s success, its effects",
    "SYS_SENDMSG (16) succeeds as the direct sendmsg() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SENDMSG: __compat_sys_sendmsg(a0, "
    "compat_ptr(a1), a[2]); socketcall(2)")
SYS_RECVMSG_OK = rule(
    "socketcall.recvmsg", "the direct recvmsg()'s success, its effects",
    "SYS_RECVMSG (17) succeeds as the direct recvmsg() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_RECVMSG: __compat_sys_recvmsg(a0, "
    "compat_ptr(a1), a[2]); socketcall(2)")
SYS_ACCEPT4_OK = rule(
    "socketcall.accept4", "the direct accept4()'s success, its effects",
    "SYS_ACCEPT4 (18) succeeds as the direct accept4() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_ACCEPT4: __sys_accept4(a0, compat_ptr(a1), "
    "compat_ptr(a[2]), a[3]); socketcall(2)")
SYS_RECVMMSG_OK = rule(
    "socketcall.recvmmsg", "the direct recvmmsg()'s success, its effects",
    "SYS_RECVMMSG (19) succeeds as the direct recvmmsg() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_RECVMMSG: __sys_recvmmsg(a0, compat_ptr(a1), "
    "a[2], a[3] | MSG_CMSG_COMPAT, NULL, compat_ptr(a[4])); socketcall(2)")
SYS_SENDMMSG_OK = rule(
    "socketcall.sendmmsg", "the direct sendmmsg()'s success, its effects",
    "SYS_SENDMMSG (20) succeeds as the direct sendmmsg() would: the same return "
    "value (fd numbers included), write-backs and state.",
    "net/compat.c compat_sys_socketcall(): case SYS_SENDMMSG: __compat_sys_sendmmsg(a0, "
    "compat_ptr(a1), a[2], a[3]); socketcall(2)")
CALL_OK = {
    L.SYS_SOCKET: SYS_SOCKET_OK,
    L.SYS_BIND: SYS_BIND_OK,
    L.SYS_CONNECT: SYS_CONNECT_OK,
    L.SYS_LISTEN: SYS_LISTEN_OK,
    L.SYS_ACCEPT: SYS_ACCEPT_OK,
    L.SYS_GETSOCKNAME: SYS_GETSOCKNAME_OK,
    L.SYS_GETPEERNAME: SYS_GETPEERNAME_OK,
    L.SYS_SOCKETPAIR: SYS_SOCKETPAIR_OK,
    L.SYS_SEND: SYS_SEND_OK,
    L.SYS_RECV: SYS_RECV_OK,
    L.SYS_SENDTO: SYS_SENDTO_OK,
    L.SYS_RECVFROM: SYS_RECVFROM_OK,
    L.SYS_SHUTDOWN: SYS_SHUTDOWN_OK,
    L.SYS_SETSOCKOPT: SYS_SETSOCKOPT_OK,
    L.SYS_GETSOCKOPT: SYS_GETSOCKOPT_OK,
    L.SYS_SENDMSG: SYS_SENDMSG_OK,
    L.SYS_RECVMSG: SYS_RECVMSG_OK,
    L.SYS_ACCEPT4: SYS_ACCEPT4_OK,
    L.SYS_RECVMMSG: SYS_RECVMMSG_OK,
    L.SYS_SENDMMSG: SYS_SENDMMSG_OK,
}
BY_NAME = {name: nr for nr, name in L.SOCKETCALL_NAMES.items() if SYS_MIN <= nr <= SYS_MAX}

# Where the 32-bit entries differ from the native ones: the structures they read and write.
# The outcome is the native call's; the rule says which layout carried it.
MSGHDR_32 = rule(
    "compat.msghdr", "the native outcome, through struct compat_msghdr",
    "sendmsg/recvmsg on a 32-bit path read a struct compat_msghdr (28 bytes: 32-bit pointers "
    "and sizes) and compat_iovec entries, and write msg_namelen, msg_controllen and msg_flags "
    "back into it; the entry sets MSG_CMSG_COMPAT in the flags itself (the caller may give it "
    "too: it is not refused there).",
    "net/compat.c __compat_sys_sendmsg()/__compat_sys_recvmsg(): __sys_sendmsg(fd, (struct "
    "user_msghdr __user *)msg, flags | MSG_CMSG_COMPAT, false); net/socket.c "
    "copy_msghdr_from_user(): MSG_CMSG_COMPAT -> get_compat_msghdr(); ____sys_recvmsg(): "
    "__put_user() into struct compat_msghdr; include/net/compat.h struct compat_msghdr",
    shows=("answer", "out.msg_flags", "out.namelen"))
MMSGHDR_32 = rule(
    "compat.mmsghdr", "the native outcome, through struct compat_mmsghdr",
    "sendmmsg/recvmmsg on a 32-bit path walk an array of struct compat_mmsghdr (32 bytes: a "
    "compat_msghdr and msg_len at offset 28), writing each entry's msg_len there.",
    "net/socket.c __sys_sendmmsg(): compat_entry = (struct compat_mmsghdr __user *)mmsg; "
    "MSG_CMSG_COMPAT -> ___sys_sendmsg(sock, (struct user_msghdr __user *)compat_entry, ...), "
    "__put_user(err, &compat_entry->msg_len), ++compat_entry; do_recvmmsg() likewise; "
    "include/net/compat.h struct compat_mmsghdr",
    shows=("answer", "out.msg_len"))
TIMESPEC_32 = rule(
    "compat.recvmmsg_time32", "the native outcome, the timeout an old_timespec32",
    "recvmmsg's timeout on the i386 paths (syscall 337 compat_sys_recvmmsg_time32, and "
    "socketcall SYS_RECVMMSG) is a struct old_timespec32 (two 32-bit fields, 8 bytes), read "
    "and written back in that layout.",
    "net/compat.c COMPAT_SYSCALL_DEFINE5(recvmmsg_time32) and compat_sys_socketcall() "
    "SYS_RECVMMSG: __sys_recvmmsg(..., NULL, compat_ptr(a[4])); net/socket.c __sys_recvmmsg(): "
    "get_old_timespec32() / put_old_timespec32(); arch/x86/entry/syscalls/syscall_32.tbl: 337 "
    "recvmmsg compat_sys_recvmmsg_time32; recvmmsg(2)")


# --------------------------------------------------------------------------- words

def s32(word) -> int:
    """A word as the int the kernel function takes."""
    v = _value(word) & 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def u32(word) -> int:
    return _value(word) & 0xFFFFFFFF


def uptr(word) -> Ptr:
    """compat_ptr(word): NULL, the Ptr given, or a readable address the model cannot see."""
    if isinstance(word, Ptr):
        return word
    if isinstance(word, Buffer):
        return Ptr(word.addr, f"buffer@{word.addr:#x}")
    if _value(word) == 0:
        return Ptr(0, "NULL", True)
    return Ptr(u32(word))


def _value(word) -> int:
    return word.addr if isinstance(word, (Ptr, Buffer)) else int(word)


def _null(word) -> bool:
    return not isinstance(word, Buffer) and _value(word) == 0


def decode(call: int, w: list) -> Call:
    """The direct call compat_sys_socketcall() makes, in the model entries' argument form
    (the keyword arguments of harness.kernel.Kernel's wrappers)."""
    if call == L.SYS_SOCKET:
        return Call("socket", (s32(w[0]), s32(w[1]), s32(w[2])))
    if call in (L.SYS_BIND, L.SYS_CONNECT):
        return Call("bind" if call == L.SYS_BIND else "connect", (s32(w[0]), uptr(w[1]), s32(w[2])))
    if call == L.SYS_LISTEN:
        return Call("listen", (s32(w[0]), s32(w[1])))
    if call in (L.SYS_ACCEPT, L.SYS_ACCEPT4):
        addr = False if _null(w[1]) else uptr(w[1])
        kw = {"addr": addr, "addrlen": uptr(w[2])}
        if call == L.SYS_ACCEPT:
            return Call("accept", (s32(w[0]),), kw)
        return Call("accept4", (s32(w[0]), s32(w[3])), kw)
    if call in (L.SYS_GETSOCKNAME, L.SYS_GETPEERNAME):
        name = "getsockname" if call == L.SYS_GETSOCKNAME else "getpeername"
        return Call(name, (s32(w[0]),), {"addr": uptr(w[1]), "addrlen": uptr(w[2])})
    if call == L.SYS_SOCKETPAIR:
        return Call("socketpair", (s32(w[0]), s32(w[1]), s32(w[2])), {"sv": uptr(w[3])})
    if call in (L.SYS_SEND, L.SYS_SENDTO):
        addr, alen = (None, 0) if call == L.SYS_SEND else \
            (None if _null(w[4]) else uptr(w[4]), s32(w[5]))
        return Call("sendto", (s32(w[0]), uptr(w[1]), u32(w[3]), addr, alen), {"length": u32(w[2])})
    if call in (L.SYS_RECV, L.SYS_RECVFROM):
        kw = {"buf": uptr(w[1])}
        if call == L.SYS_RECVFROM and not _null(w[4]):
            kw.update(addr=uptr(w[4]), addrlen=uptr(w[5]))
        else:
            kw["addr"] = False
        return Call("recvfrom", (s32(w[0]), u32(w[2]), u32(w[3])), kw)
    if call == L.SYS_SHUTDOWN:
        return Call("shutdown", (s32(w[0]), s32(w[1])))
    if call == L.SYS_SETSOCKOPT:
        return Call("setsockopt", (s32(w[0]), s32(w[1]), s32(w[2])),
                    {"value": uptr(w[3]), "optlen": s32(w[4])})
    if call == L.SYS_GETSOCKOPT:
        return Call("getsockopt", (s32(w[0]), s32(w[1]), s32(w[2])),
                    {"optlen": uptr(w[4]), "optval": uptr(w[3])})
    if call in (L.SYS_SENDMSG, L.SYS_RECVMSG):
        name = "sendmsg" if call == L.SYS_SENDMSG else "recvmsg"
        return Call(name, (s32(w[0]), None, u32(w[2])), {"msg": uptr(w[1])})
    if call == L.SYS_SENDMMSG:
        return Call("sendmmsg", (s32(w[0]), [], u32(w[3])), {"vlen": u32(w[2]), "msgvec": uptr(w[1])})
    if call == L.SYS_RECVMMSG:
        timeout = None if _null(w[4]) else uptr(w[4])
        return Call("recvmmsg", (s32(w[0]), [], u32(w[3])),
                    {"vlen": u32(w[2]), "timeout": timeout, "msgvec": uptr(w[1])})
    raise ValueError(f"socketcall {call}")


def decoded(c: Call) -> Call | None:
    """The direct call a checked socketcall/socketcall_tail Call stands for (None when the
    call number or the words do not make one): for the checker's touched fds."""
    if c.name not in ("socketcall", "socketcall_tail") or len(c.args) < 2:
        return None
    call, words = c.args[0], c.args[1]
    if not isinstance(call, int) or not SYS_MIN <= call <= SYS_MAX or isinstance(words, Ptr):
        return None
    words = list(words)
    if len(words) < NAS[call]:
        return None
    return decode(call, words[:NAS[call]])


# --------------------------------------------------------------------------- the entries

def dispatch(m, call: int, words: list, also: tuple):
    inner = decode(call, words)
    entry = ENTRIES.get(inner.name)
    if entry is None:
        raise NotModelled(f"the model has no entry for {inner.name}")
    outcomes = as_outcomes(entry(m, *inner.args, **inner.kwargs))
    outcomes = _on_success(outcomes, path_rules(inner, call))
    return tuple(Outcome(o.rule, o.errno, o.ret, {}, o.apply, o.also + also) for o in outcomes)


def _check_call(call):
    if not isinstance(call, int) or isinstance(call, bool):
        raise TypeError("the socketcall number must be an int")
    if call < SYS_MIN or call > SYS_MAX:
        return CALL_INVALID.fail(E.EINVAL)
    return None


@syscall("socketcall")
def compat_sys_socketcall(m, call: int, args):
    """socketcall(call, args): ``args`` is the list of words Kernel.socketcall packs into a
    block (readable memory follows it), or a Ptr passed as the block itself."""
    bad = _check_call(call)
    if bad is not None:
        return bad
    if isinstance(args, (Ptr, Buffer)):
        if isinstance(args, Ptr) and args.inaccessible:
            return ARGS_FAULT.fail(E.EFAULT)
        raise NotModelled("a socketcall block at a raw readable address")
    words = list(args)
    if len(words) < NAS[call]:
        raise NotModelled(f"socketcall {call} with {len(words)} of its {NAS[call]} words: the "
                          "rest is whatever follows the block (use socketcall_tail)")
    return dispatch(m, call, words[:NAS[call]], (DISPATCH,))


@syscall("socketcall_tail")
def compat_sys_socketcall_tail(m, call: int, words):
    """socketcall(call, block) with the block's last byte right before a PROT_NONE page."""
    bad = _check_call(call)
    if bad is not None:
        return bad
    words = list(words)
    if len(words) * WORD < NAS[call] * WORD:
        return ARGS_FAULT.fail(E.EFAULT)
    extra = (ARGS_EXACT,) if len(words) == NAS[call] else ()
    return dispatch(m, call, words[:NAS[call]], (DISPATCH,) + extra)


# --------------------------------------------------------------------------- the 32-bit paths

def on_compat_path(call: Call, outcomes) -> tuple:
    """The rules a typed call on a 32-bit path (Call.via "compat" or "socketcall") adds to its
    successful outcomes (Model.allowed calls this for every call not made natively; a raw
    socketcall gets them in dispatch())."""
    if call.name in ("socketcall", "socketcall_tail"):
        return outcomes
    nr = BY_NAME.get(call.name) if call.via == "socketcall" else None
    return _on_success(outcomes, path_rules(call, nr))


def path_rules(inner: Call, nr: int | None) -> tuple:
    """The socketcall number's rule (when the call went through socketcall) and the 32-bit
    structures that carried the direct call ``inner``."""
    extra = (CALL_OK[nr],) if nr is not None else ()
    if inner.name in ("sendmsg", "recvmsg"):
        extra += (MSGHDR_32,)
    elif inner.name in ("sendmmsg", "recvmmsg"):
        extra += (MMSGHDR_32,)
        timeout = inner.kwargs.get("timeout", inner.args[4] if len(inner.args) > 4 else None)
        if inner.name == "recvmmsg" and timeout is not None:
            extra += (TIMESPEC_32,)
    return extra


def _on_success(outcomes, extra: tuple) -> tuple:
    if not extra:
        return tuple(outcomes)
    return tuple(o if o.errno else replace(o, also=o.also + extra) for o in outcomes)
