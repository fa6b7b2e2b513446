"""Model-only scenarios for socketcall (harness/model/compat.py): the call range, the argument
block, and the decoding of every call into the direct call's model entry."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import NULL, Ptr
from harness.model import Call, NotModelled
from harness.model import compat as C
from harness.model.rules import Rule

from model_profile import Run, fake_result, only, rules_of

FAULT = Ptr(0x1000, "PROT_NONE page", True)
LOW = Ptr(0x20000, "low page")
REACHED: set[str] = set()


def allowed(run, name, *args):
    outcomes = run.allowed(name, *args)
    REACHED.update(rules_of(outcomes))
    return outcomes


@pytest.mark.parametrize("call", [0, -1, 21, 100, -(1 << 31)])
def test_call_out_of_range_is_einval_before_the_block(call):
    run = Run()
    for args in ([1, 1, 0], FAULT, NULL):
        err, _, _, rules = only(allowed(run, "socketcall", call, args))
        assert err == E.EINVAL and C.CALL_INVALID.name in rules
    assert only(allowed(run, "socketcall_tail", call, []))[0] == E.EINVAL


def test_unreadable_block():
    run = Run()
    for block in (FAULT, NULL):
        err, _, _, rules = only(allowed(run, "socketcall", L.SYS_SOCKET, block))
        assert err == E.EFAULT and rules == {C.ARGS_FAULT.name}
    with pytest.raises(NotModelled):
        run.allowed("socketcall", L.SYS_SOCKET, LOW)


@pytest.mark.parametrize("call", range(1, 21))
def test_tail_block_needs_exactly_nas_words(call):
    run = Run()
    words = [L.AF_UNIX, L.SOCK_DGRAM, 0] if call == L.SYS_SOCKET else \
        [L.AF_UNIX, L.SOCK_DGRAM, 0, LOW] if call == L.SYS_SOCKETPAIR else \
        [99] + [0] * (C.NAS[call] - 1)
    short = only(allowed(run, "socketcall_tail", call, words[:-1]))
    assert short[0] == E.EFAULT and C.ARGS_FAULT.name in short[3]
    exact = only(allowed(run, "socketcall_tail", call, words))
    assert exact[0] != E.EFAULT and {C.DISPATCH.name, C.ARGS_EXACT.name} <= exact[3]
    longer = only(allowed(run, "socketcall_tail", call, words + [7]))
    assert C.ARGS_EXACT.name not in longer[3] and longer[0] == exact[0]
    if call not in (L.SYS_SOCKET, L.SYS_SOCKETPAIR):
        assert exact[0] == E.EBADF and "fd.ebadf" in exact[3]


def test_socketcall_with_too_few_words_is_not_modelled():
    with pytest.raises(NotModelled, match="socketcall_tail"):
        Run().allowed("socketcall", L.SYS_BIND, [3])


def test_dispatch_gives_the_direct_outcome_without_outputs():
    run = Run()
    direct = run.allowed("socket", L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)[0]
    via = allowed(run, "socketcall", L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0])[0]
    assert (via.errno, via.ret, via.rule) == (direct.errno, direct.ret, direct.rule)
    assert set(direct.also) < set(via.also) and C.DISPATCH in via.also
    pair = allowed(run, "socketcall", L.SYS_SOCKETPAIR, [L.AF_UNIX, L.SOCK_DGRAM, 0, LOW])[0]
    assert pair.out == {} and pair.errno == 0
    pair.apply(run.m, fake_result(pair))
    assert run.m.sock(3) is not None and run.m.sock(4).peer_sock is run.m.sock(3)


def test_words_are_32_bit():
    run = Run()
    # 0xFFFFFFFF is -1: socket(-1, ...) -> EAFNOSUPPORT, setsockopt optlen -1 -> EINVAL
    assert only(allowed(run, "socketcall", L.SYS_SOCKET, [0xFFFFFFFF, 1, 0]))[0] == E.EAFNOSUPPORT
    fd = run.sock(L.AF_UNIX)
    err, _, _, rules = only(allowed(run, "socketcall", L.SYS_SETSOCKOPT,
                                    [fd, L.SOL_SOCKET, L.SO_REUSEADDR, 0, 0xFFFFFFFF]))
    assert err == E.EINVAL and "setsockopt.optlen_negative" in rules
    assert C.s32(0x80000000) == -(1 << 31) and C.u32(-1) == 0xFFFFFFFF
    assert C.uptr(0).inaccessible and not C.uptr(0x1234).inaccessible and C.uptr(FAULT) is FAULT


def test_version_order_through_socketcall():
    run = Run("6.1")
    err, _, _, rules = only(allowed(run, "socketcall", L.SYS_SETSOCKOPT, [77, 1, 2, 0, -1]))
    assert err == E.EINVAL and "setsockopt.optlen_negative_before_fd" in rules


DECODED = [
    (L.SYS_SOCKET, [2, 1, 0], "socket", (2, 1, 0), {}),
    (L.SYS_BIND, [3, FAULT, 16], "bind", (3, FAULT, 16), {}),
    (L.SYS_CONNECT, [3, 0, 0xFFFFFFFF], "connect", (3, NULL, -1), {}),
    (L.SYS_LISTEN, [3, 0xFFFFFFFF], "listen", (3, -1), {}),
    (L.SYS_ACCEPT, [3, 0, 0], "accept", (3,), {"addr": False, "addrlen": NULL}),
    (L.SYS_ACCEPT4, [3, FAULT, FAULT, 0x800], "accept4", (3, 0x800), {"addr": FAULT, "addrlen": FAULT}),
    (L.SYS_GETSOCKNAME, [3, FAULT, 0], "getsockname", (3,), {"addr": FAULT, "addrlen": NULL}),
    (L.SYS_GETPEERNAME, [3, 0, FAULT], "getpeername", (3,), {"addr": NULL, "addrlen": FAULT}),
    (L.SYS_SOCKETPAIR, [1, 1, 0, FAULT], "socketpair", (1, 1, 0), {"sv": FAULT}),
    (L.SYS_SEND, [3, 0, 5, 0x40], "sendto", (3, NULL, 0x40, None, 0), {"length": 5}),
    (L.SYS_SENDTO, [3, 0, 5, 0, FAULT, 16], "sendto", (3, NULL, 0, FAULT, 16), {"length": 5}),
    (L.SYS_RECV, [3, 0, 5, 0], "recvfrom", (3, 5, 0), {"buf": NULL, "addr": False}),
    (L.SYS_RECVFROM, [3, 0, 5, 0, FAULT, FAULT], "recvfrom", (3, 5, 0),
     {"buf": NULL, "addr": FAULT, "addrlen": FAULT}),
    (L.SYS_SHUTDOWN, [3, 2], "shutdown", (3, 2), {}),
    (L.SYS_SETSOCKOPT, [3, 1, 2, FAULT, 4], "setsockopt", (3, 1, 2), {"value": FAULT, "optlen": 4}),
    (L.SYS_GETSOCKOPT, [3, 1, 2, 0, FAULT], "getsockopt", (3, 1, 2), {"optlen": FAULT, "optval": NULL}),
    (L.SYS_SENDMSG, [3, FAULT, 0], "sendmsg", (3, None, 0), {"msg": FAULT}),
    (L.SYS_RECVMSG, [3, FAULT, 0], "recvmsg", (3, None, 0), {"msg": FAULT}),
    (L.SYS_SENDMMSG, [3, FAULT, 2, 0], "sendmmsg", (3, [], 0), {"vlen": 2, "msgvec": FAULT}),
    (L.SYS_RECVMMSG, [3, FAULT, 2, 0, 0], "recvmmsg", (3, [], 0),
     {"vlen": 2, "timeout": None, "msgvec": FAULT}),
]


@pytest.mark.parametrize("call,words,name,args,kwargs", DECODED,
                         ids=[L.SOCKETCALL_NAMES[d[0]] for d in DECODED])
def test_decode(call, words, name, args, kwargs):
    got = C.decode(call, words)
    assert (got.name, got.args) == (name, args)
    assert {k: (v.addr, v.inaccessible) if isinstance(v, Ptr) else v for k, v in got.kwargs.items()} \
        == {k: (v.addr, v.inaccessible) if isinstance(v, Ptr) else v for k, v in kwargs.items()}
    assert C.decoded(Call("socketcall", (call, words), {}, "socketcall")).name == name


def test_decoded_of_no_call():
    assert C.decoded(Call("socketcall", (0, []))) is None
    assert C.decoded(Call("socketcall", (L.SYS_BIND, FAULT))) is None
    assert C.decoded(Call("socketcall_tail", (L.SYS_BIND, [3]))) is None
    assert C.decoded(Call("bind", (3, FAULT, 16))) is None


def test_data_calls_reach_their_entries():
    """A data call's words reach the modelled entry (EBADF for a closed fd; a buffer at a raw
    readable address is NotModelled once the protocol needs its bytes)."""
    run = Run()
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM)
    err, _, _, rules = only(allowed(run, "socketcall", L.SYS_SEND, [99, 0, 0, 0]))
    assert err == E.EBADF and C.DISPATCH.name in rules
    assert only(allowed(run, "socketcall", L.SYS_RECVMSG, [1, 0, 0]))[0] == E.ENOTSOCK
    with pytest.raises(NotModelled):
        run.allowed("socketcall", L.SYS_SENDTO, [fd, LOW, 4, 0, LOW, 16])


def test_every_rule_is_reached():
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_") or name in ("test_every_rule_is_reached", "test_decode"):
            continue
        marks = getattr(fn, "pytestmark", [])
        params = next((m for m in marks if m.name == "parametrize"), None)
        try:
            if params is None:
                fn()
            else:
                for value in params.args[1]:
                    fn(value)
        except pytest.skip.Exception:
            continue
    defined = {v.name for v in vars(C).values() if isinstance(v, Rule)}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"


# --------------------------------------------------------------------------- succeeding

def _play(run, via, name, *args, **kwargs):
    """One call on the 32-bit path ``via``: its single outcome, applied; its rule names."""
    outcomes = run.m.allowed(Call(name, args, kwargs, via))
    REACHED.update(rules_of(outcomes))
    assert len(outcomes) == 1, outcomes
    o = outcomes[0]
    assert o.errno == 0, f"{name}{args} via {via}: {E.errorcode.get(o.errno)} ({o.rule.name})"
    if o.apply is not None:
        o.apply(run.m, fake_result(o))
    return o, {r.name for r in o.rules}


@pytest.mark.parametrize("via", ["socketcall", "compat"])
def test_each_call_succeeding(via):
    """Each of the 20 calls succeeding through socketcall reaches the rule of its number (the
    direct call's outcome, its effects kept); through the i386 direct syscalls none. The
    msghdr calls name the 32-bit layouts either way; recvmmsg's timeout is an old_timespec32."""
    from harness.mem import SockaddrUn
    run = Run()
    name = SockaddrUn(abstract=b"sockspec-model-socketcall")
    seen = {}

    def play(call, *args, **kwargs):
        o, rules = _play(run, via, call, *args, **kwargs)
        seen[call] = rules
        return o
    stream, dgram = L.SOCK_STREAM, L.SOCK_DGRAM
    lfd = play("socket", L.AF_UNIX, stream, 0).ret.value
    play("bind", lfd, name)
    play("listen", lfd, 4)
    c1 = _play(run, via, "socket", L.AF_UNIX, stream, 0)[0].ret.value
    c2 = _play(run, via, "socket", L.AF_UNIX, stream, 0)[0].ret.value
    play("connect", c1, name)
    _play(run, via, "connect", c2, name)
    a1 = play("accept", lfd).ret.value
    a2 = play("accept4", lfd, L.SOCK_CLOEXEC).ret.value
    assert run.m.sock(a1).peer_sock is run.m.sock(c1) and run.m.sock(a2).peer_sock is run.m.sock(c2)
    play("getsockname", lfd)
    play("getpeername", c1)
    play("shutdown", c1, L.SHUT_WR)
    assert run.m.sock(a1).shutdown & 1            # RCV_SHUTDOWN mirrored on the peer
    play("setsockopt", a2, L.SOL_SOCKET, L.SO_RCVBUF, 3000)
    play("getsockopt", a2, L.SOL_SOCKET, L.SO_RCVBUF)
    p0, p1 = play("socketpair", L.AF_UNIX, dgram, 0).out["fds"].value
    play("send", p0, b"one")
    assert play("recv", p1, 10, L.MSG_DONTWAIT).out["data"].value == b"one"
    play("sendto", p0, b"two", 0)
    play("recvfrom", p1, 10, L.MSG_DONTWAIT, True)
    play("sendmsg", p0, [b"th", b"ree"])
    play("recvmsg", p1, [10], L.MSG_DONTWAIT)
    play("sendmmsg", p0, [[b"4"], [b"5"]])
    play("recvmmsg", p1, [[10], [10]], L.MSG_DONTWAIT, timeout=(5, 0))
    assert set(seen) == set(C.BY_NAME)
    for call, rules in seen.items():
        own = C.CALL_OK[C.BY_NAME[call]].name
        assert (own in rules) == (via == "socketcall"), (call, rules)
        layout = {"sendmsg": C.MSGHDR_32, "recvmsg": C.MSGHDR_32, "sendmmsg": C.MMSGHDR_32,
                  "recvmmsg": C.MMSGHDR_32}.get(call)
        assert layout is None or layout.name in rules, (call, rules)
    assert C.TIMESPEC_32.name in seen["recvmmsg"]
    native = run.allowed("sendmsg", p0, [b"x"])[0]
    assert C.MSGHDR_32 not in native.rules


def test_raw_socketcall_success_names_its_call():
    """A raw socketcall that succeeds names its call number; one that fails does not."""
    run = Run()
    o = allowed(run, "socketcall", L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_DGRAM, 0])[0]
    assert C.SYS_SOCKET_OK in o.rules and C.DISPATCH in o.rules
    bad = allowed(run, "socketcall", L.SYS_BIND, [99, 0, 0])[0]
    assert bad.errno == E.EBADF and C.SYS_BIND_OK not in bad.rules
