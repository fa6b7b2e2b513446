"""Model-only scenarios for the write-backs of error returns (harness/model/writeback.py): the
values an error leaves, computed from the call's arguments, and the outcomes whose error the
kernel reports after it wrote (their values are the outcome's own)."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.abi.result import Result
from harness.mem import Ptr, SockaddrIn
from harness.model import Call, writeback as WB
from harness.model import socket as SK

from model_profile import Run

FAULT = Ptr(0x1000, "PROT_NONE page", True)
CLOSED = 50                    # never opened in a Run: every call below fails with EBADF

# (id, syscall, args, kwargs, the write-backs an error leaves, rule)
ROWS = [
    ("accept-defaults", "accept", (CLOSED,), {}, {"addrlen": 128, "addr_written": False}, WB.ACCEPT),
    ("accept4-addrlen-20", "accept4", (CLOSED, 0, True, 20), {}, {"addrlen": 20, "addr_written": False},
     WB.ACCEPT4),
    ("accept4-addr-null", "accept4", (CLOSED, 0, False, None), {}, {}, None),
    ("getsockname-addrlen-ptr", "getsockname", (CLOSED,), {"addr": True, "addrlen": FAULT},
     {"addr_written": False}, WB.GETSOCKNAME),
    ("getpeername-addr-ptr", "getpeername", (CLOSED,), {"addr": FAULT, "addrlen": 16}, {"addrlen": 16},
     WB.GETPEERNAME),
    ("recvfrom-no-addr", "recvfrom", (CLOSED, 10), {}, {}, None),
    ("recvfrom-addr", "recvfrom", (CLOSED, 10, 0, True), {}, {"addrlen": 128, "addr_written": False},
     WB.RECVFROM),
    ("getsockopt", "getsockopt", (CLOSED, L.SOL_SOCKET, L.SO_TYPE), {},
     {"optlen": 4, "optval_written": False}, WB.GETSOCKOPT),
    ("getsockopt-optlen-unsigned", "getsockopt", (CLOSED, L.SOL_SOCKET, L.SO_TYPE, 0xFFFFFFFF), {},
     {"optlen": -1, "optval_written": False}, WB.GETSOCKOPT),
    ("getsockopt-optlen-ptr", "getsockopt", (CLOSED, L.SOL_SOCKET, L.SO_TYPE), {"optlen": FAULT},
     {"optval_written": False}, WB.GETSOCKOPT),
    ("getsockopt-optval-ptr", "getsockopt", (CLOSED, L.SOL_SOCKET, L.SO_TYPE), {"optlen": 8, "optval": FAULT},
     {"optlen": 8}, WB.GETSOCKOPT),
    ("recvmsg", "recvmsg", (CLOSED, [10]), {},
     {"namelen": 128, "controllen": 0, "msg_flags": 0, "name_written": False}, WB.RECVMSG),
    ("recvmsg-namelen-8", "recvmsg", (CLOSED, [10]), {"namelen": 8},
     {"namelen": 8, "controllen": 0, "msg_flags": 0, "name_written": False}, WB.RECVMSG),
    ("recvmsg-no-name", "recvmsg", (CLOSED, [10], 0, False), {},
     {"namelen": 0, "controllen": 0, "msg_flags": 0}, WB.RECVMSG),
    ("recvmsg-own-msghdr", "recvmsg", (CLOSED, None), {"msg": FAULT}, {}, None),
    ("recvmmsg", "recvmmsg", (CLOSED, [[10], [4, 4]]), {},
     {"msg_len": [0, 0], "namelen": 128, "controllen": 0, "msg_flags": 0}, WB.RECVMMSG),
    ("recvmmsg-own-vector", "recvmmsg", (CLOSED, []), {"vlen": 2, "msgvec": FAULT}, {}, None),
    ("sendmmsg", "sendmmsg", (CLOSED, [[b"a"], [b"b"], [b"c"]]), {}, {"msg_len": [0, 0, 0]}, WB.SENDMMSG),
    ("socketpair-flags", "socketpair", (L.AF_UNIX, L.SOCK_STREAM | 0x100, 0), {}, {"sv": (-1, -1)},
     WB.SOCKETPAIR),
    ("socketpair-sv-ptr", "socketpair", (L.AF_UNIX, L.SOCK_STREAM | 0x100, 0), {"sv": FAULT}, {}, None),
    ("socketcall", "socketcall", (L.SYS_GETSOCKNAME, [CLOSED, 0, 0]), {}, {}, None),
]


@pytest.mark.parametrize("label, name, args, kwargs, values, rule_", ROWS, ids=[r[0] for r in ROWS])
def test_an_error_leaves_what_the_wrapper_put_there(label, name, args, kwargs, values, rule_):
    run = Run()
    via = "socketcall" if name == "socketcall" else "native"
    call = Call(name, args, kwargs, via)
    (o,) = run.m.allowed(call)
    assert o.errno and not o.out, o            # an early error that names no output
    assert WB.unchanged(call) == (values, rule_)
    assert WB.expected(call, o) == [(k, v, rule_) for k, v in values.items()]


def test_a_success_has_no_error_write_backs():
    run = Run()
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM, 0)
    call = Call("getsockname", (fd,))
    (o,) = run.m.allowed(call)
    assert o.errno == 0 and WB.expected(call, o) == []


def test_what_the_outcome_names_is_left_to_it():
    """socketpair() of a family without socketpair fails after sv[] was written: the outcome
    names sv = the reserved numbers (socketpair.sv_before_create), not (-1, -1)."""
    run = Run()
    call = Call("socketpair", (L.AF_INET, L.SOCK_STREAM, 0))
    (o,) = run.m.allowed(call)
    assert o.errno == E.EOPNOTSUPP and SK.SOCKETPAIR_SV_FIRST in o.also
    assert o.out["sv"].value == (3, 4)
    assert WB.expected(call, o) == []


@pytest.mark.parametrize("version, addrlen, rule_", [
    ("5.10", 100, SK.ADDRLEN_OUT_AFTER_COPY), ("6.12", 100, SK.ADDRLEN_OUT_AFTER_COPY),
    ("6.18", 16, SK.ADDRLEN_OUT_BEFORE_COPY)])
def test_an_unwritable_address_and_the_length_written(version, addrlen, rule_):
    """move_addr_to_user() faulting on the address: *addrlen as given until 6.18, the full
    length (16 for AF_INET) since; write-backs the outcome names (nothing is left to writeback)."""
    run = Run(version)
    fd = run.sock(L.AF_INET, L.SOCK_DGRAM, 0)
    run.play("bind", fd, SockaddrIn(0, "127.0.0.1"))
    call = Call("getsockname", (fd, FAULT, 100))
    (o,) = run.m.allowed(call)
    assert (o.errno, o.rule) == (E.EFAULT, SK.ADDR_OUT_FAULT) and rule_ in o.also
    assert o.out["addrlen"].value == addrlen
    assert WB.expected(call, o) == []               # no buffer of the wrapper's to check


def test_compare_names_the_rule_and_both_values():
    run = Run()
    call = Call("getsockname", (CLOSED,))
    (o,) = run.m.allowed(call)
    honest = Result(-1, E.EBADF, {"addrlen": 128, "addr_written": False})
    assert WB.compare(call, o, honest) == ([], (WB.GETSOCKNAME,))
    lying = Result(-1, E.EBADF, {"addrlen": 99, "addr_written": True})
    problems, rules = WB.compare(call, o, lying)
    assert rules == (WB.GETSOCKNAME,) and len(problems) == 2
    assert "write-back addrlen after -1 EBADF: kernel 99, model 128 (unchanged)" in problems[0]
    assert "getsockname.no_writeback_on_error" in problems[0]
    assert "write-back addr_written" in problems[1] and "kernel True, model False" in problems[1]
    # a write-back the wrapper could not read (the test's own pointer) is not compared
    assert WB.compare(call, o, Result(-1, E.EBADF, {})) == ([], ())
