"""Write-backs on error returns: what a failing call leaves in the caller's output memory.

A call that returns an address, an option value, a msghdr or an mmsghdr vector writes lengths
and flags back through the caller's pointers. The kernel does those writes only once the call
has succeeded (or, where it writes first and fails later, the outcome names the value it
wrote: ``socketpair.sv_before_create``, ``getsockopt.tcp_fault``, ``addr.outlen_before_copy``).
So for every other error, each write-back the wrapper can read (Kernel records them in
Result.out on every return) must still hold what the wrapper put there before the call: the
*addrlen given (or SOCKADDR_STORAGE_SIZE), a zeroed address buffer, the *optlen given and a
zeroed value buffer, the msghdr's msg_namelen/msg_controllen/msg_flags as built, msg_len 0,
socketpair's (-1, -1).

``unchanged(call)`` computes those values from the call's arguments (the arguments of
harness.kernel.Kernel's wrappers), with the rule that says the kernel leaves them;
``expected(call, outcome)`` leaves out what the outcome itself names (compared when it
matched); ``compare(call, outcome, result)`` is what the checker runs after an error outcome
matched. A pointer the test passed itself (a Ptr: a fault page, NULL) has nothing the wrapper
can read back: it has no write-back here.
"""
from __future__ import annotations

import functools
import inspect

from ..abi import linux as L
from ..mem import Ptr
from .call import Call
from .core import ENTRIES
from .rules import Outcome, Rule, rule

_ADDR_DESC = ("An error leaves *addrlen as given and the address buffer unwritten: the address "
              "is copied out (move_addr_to_user) only after the call succeeded.")

ACCEPT = rule(
    "accept.no_writeback_on_error", "*addrlen and the address buffer unchanged", _ADDR_DESC,
    "net/socket.c do_accept() (5.10: __sys_accept4_file()): move_addr_to_user(&address, len, "
    "upeer_sockaddr, upeer_addrlen) only after ops->accept() returned 0 and getname() worked; "
    "an fd, flag or EMFILE error returns before; accept(2)")
ACCEPT4 = rule(
    "accept4.no_writeback_on_error", "*addrlen and the address buffer unchanged", _ADDR_DESC,
    "net/socket.c __sys_accept4() -> do_accept(): move_addr_to_user() only after "
    "ops->accept() returned 0; accept4(2)")
GETSOCKNAME = rule(
    "getsockname.no_writeback_on_error", "*addrlen and the address buffer unchanged", _ADDR_DESC,
    "net/socket.c __sys_getsockname(): sockfd_lookup_light() / ops->getname() < 0 -> return "
    "before move_addr_to_user(&address, err, usockaddr, usockaddr_len); getsockname(2)")
GETPEERNAME = rule(
    "getpeername.no_writeback_on_error", "*addrlen and the address buffer unchanged", _ADDR_DESC,
    "net/socket.c __sys_getpeername(): ops->getname(sock, &address, 1) < 0 (ENOTCONN) -> "
    "return before move_addr_to_user(); getpeername(2)")
RECVFROM = rule(
    "recvfrom.no_writeback_on_error", "*addrlen and the address buffer unchanged", _ADDR_DESC,
    "net/socket.c __sys_recvfrom(): if (err >= 0 && addr != NULL) move_addr_to_user(): a "
    "failed sock_recvmsg() copies no source address; recvfrom(2)")
GETSOCKOPT = rule(
    "getsockopt.no_writeback_on_error", "*optlen and the value buffer unchanged",
    "An error leaves *optlen as given and the value buffer unwritten: sk_getsockopt() copies "
    "the value and then *optlen only once the value is known (do_tcp_getsockopt() writes "
    "*optlen first: getsockopt.tcp_fault).",
    "net/core/sock.c sk_getsockopt() (5.10: sock_getsockopt()): copy_to_sockptr(optval, &v, "
    "len) then lenout: copy_to_sockptr(optlen, &len); every error returns before; net/socket.c "
    "__sys_getsockopt() / do_sock_getsockopt(); getsockopt(2)")
RECVMSG = rule(
    "recvmsg.no_writeback_on_error", "msg_namelen, msg_controllen, msg_flags and the name unchanged",
    "An error leaves the msghdr as the caller built it: msg_namelen (move_addr_to_user), "
    "msg_flags and msg_controllen are written only after sock_recvmsg() succeeded.",
    "net/socket.c ____sys_recvmsg(): err = sock_recvmsg(); if (err < 0) goto out; before "
    "move_addr_to_user(&addr, msg_namelen, uaddr, uaddr_len), __put_user(msg_flags, "
    "COMPAT_FLAGS(msg)), __put_user(..., &msg->msg_controllen); recvmsg(2)")
RECVMMSG = rule(
    "recvmmsg.no_writeback_on_error", "every msg_len and the first msghdr unchanged",
    "An error return (no message received) leaves every entry's msg_len at what the caller "
    "put there and the first entry's msghdr as built: msg_len is written per entry only after "
    "its receive succeeded.",
    "net/socket.c do_recvmmsg(): err = ___sys_recvmsg(); if (err < 0) break; err = "
    "put_user(err, &entry->msg_len); datagrams == 0 -> return err; recvmmsg(2)")
SENDMMSG = rule(
    "sendmmsg.no_writeback_on_error", "every msg_len unchanged",
    "An error return (no message sent) leaves every entry's msg_len at what the caller put "
    "there: msg_len is written per entry only after its send succeeded.",
    "net/socket.c __sys_sendmmsg(): err = ___sys_sendmsg(); if (err < 0) break; err = "
    "put_user(err, &entry->msg_len); datagrams == 0 -> return err; sendmmsg(2)")
SOCKETPAIR = rule(
    "socketpair.no_writeback_on_error", "sv[] unchanged",
    "A type-flag error or EMFILE returns before the reserved numbers are written to sv[] "
    "(what fails after that leaves them: socketpair.sv_before_create).",
    "net/socket.c __sys_socketpair(): flags check -> -EINVAL, get_unused_fd_flags() -> "
    "-EMFILE, both before put_user(fd1, &usockvec[0]); socketpair(2)")

_ADDR_RULES = {"accept": ACCEPT, "accept4": ACCEPT4, "getsockname": GETSOCKNAME,
               "getpeername": GETPEERNAME, "recvfrom": RECVFROM}


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


@functools.lru_cache(maxsize=None)
def _signature(entry) -> inspect.Signature:
    return inspect.signature(entry)


def _arguments(call: Call) -> dict | None:
    """The call's arguments by name, defaults filled in, from the model entry's signature
    (which has the names and defaults of the Kernel wrapper)."""
    entry = ENTRIES.get(call.name)
    if entry is None:
        return None
    try:
        bound = _signature(entry).bind(None, *call.args, **call.kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return dict(bound.arguments)


def unchanged(call: Call) -> tuple[dict, Rule | None]:
    """({out key: the value before the call}, the rule saying an error leaves it) for every
    write-back of ``call`` the Kernel wrapper can read back."""
    a = _arguments(call)
    if a is None:
        return {}, None
    name = call.name
    out: dict = {}
    if name in _ADDR_RULES:
        addr, addrlen = a["addr"], a["addrlen"]
        if addr is False:                   # NULL address and length: nothing to write to
            return {}, None
        if not isinstance(addrlen, Ptr):
            out["addrlen"] = L.SOCKADDR_STORAGE_SIZE if addrlen is None else _s32(addrlen)
        if addr is True:
            out["addr_written"] = False
        return out, _ADDR_RULES[name]
    if name == "getsockopt":
        if not isinstance(a["optlen"], Ptr):
            out["optlen"] = _s32(a["optlen"])
        if a["optval"] is None:
            out["optval_written"] = False
        return out, GETSOCKOPT
    if name == "recvmsg":
        if a["msg"] is not None:            # the test's own msghdr
            return {}, None
        named = a["name"] is not False and a["name"] is not None
        namelen = a["namelen"]
        out["namelen"] = (L.SOCKADDR_STORAGE_SIZE if namelen is None else _s32(namelen)) if named else 0
        out["controllen"] = a["controllen"]
        out["msg_flags"] = 0
        if named:
            out["name_written"] = False
        return out, RECVMSG
    if name == "recvmmsg":
        if a["msgvec"] is not None:
            return {}, None
        out["msg_len"] = [0] * len(a["msgs"])
        if a["msgs"]:                       # each entry's msghdr: a name buffer, no control
            out.update(namelen=L.SOCKADDR_STORAGE_SIZE, controllen=0, msg_flags=0)
        return out, RECVMMSG
    if name == "sendmmsg":
        if a["msgvec"] is not None:
            return {}, None
        return {"msg_len": [0] * len(a["msgs"])}, SENDMMSG
    if name == "socketpair":
        if a["sv"] is None:                 # the wrapper's array, (-1, -1); a caller's holds
            return {"sv": (-1, -1)}, SOCKETPAIR    # what the test put there: not known here
        return {}, None
    return {}, None


def expected(call: Call, outcome: Outcome) -> list[tuple[str, object, Rule]]:
    """(key, value, rule) for each write-back an error ``outcome`` of ``call`` leaves as it
    was, leaving out the keys the outcome names itself."""
    if not outcome.errno:
        return []
    values, rule_ = unchanged(call)
    return [(key, value, rule_) for key, value in values.items() if key not in outcome.out]


def compare(call: Call, outcome: Outcome, result) -> tuple[list[str], tuple[Rule, ...]]:
    """After ``outcome`` (an error) matched ``result``: (problems, rules checked). A
    write-back missing from result.out (a pointer the test passed) is not observable."""
    problems, rules = [], []
    for key, value, rule_ in expected(call, outcome):
        if key not in result.out:
            continue
        if rule_ not in rules:
            rules.append(rule_)
        seen = result.out[key]
        if seen != value:
            problems.append(f"write-back {key} after {outcome.describe()}: kernel {seen}, model "
                            f"{value} (unchanged) [{rule_.name}: {rule_.citation}]")
    return problems, tuple(rules)
