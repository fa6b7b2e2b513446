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
