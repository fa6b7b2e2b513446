"""The call bound: a checked call the model says answers at once is interrupted by SIGALRM
after CALL_BOUND seconds and reported as blocked; the run goes on, the fd table is as it was,
and an alarm already set (the plugin's per-test bound) keeps its deadline.

The blocking call is a recv on an empty, blocking unix socketpair, which waits on every
kernel; the model is made to say it answers at once."""
import ctypes
import errno as E
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.abi import linux as L
from harness.check import CALL_BOUND, Mismatch, Scenario, bounded
from harness.kernel import Kernel, load_backend
from harness.model import Model, read_fd_table
from harness.model.rules import Rule
from harness.profile import probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# not registered: it must not join the model's rule set
AT_ONCE = Rule("test.recv_at_once", "test", "EAGAIN",
               "A deliberately wrong rule: a blocking recv on an empty queue answers at once.",
               "nowhere")


@pytest.fixture(scope="module")
def prof():
    return probe(Kernel(load_backend()))


def make_scenario(prof, backend=None, **kw):
    records = []
    m = Model(prof)
    m.seed_fds(read_fd_table())
    return Scenario(Kernel(load_backend(backend)), m, records.append, "test_call_bound", **kw), records


def recv_answers_at_once(sc, monkeypatch, waits=None):
    """The model says recv() answers EAGAIN at once (waits=None) or within ``waits`` s."""
    real = sc.m.allowed

    def allowed(call):
        if call.name == "recv":
            o = AT_ONCE.fail(E.EAGAIN)
            return (o if waits is None else type(o)(o.rule, o.errno, o.ret, waits=waits),)
        return real(call)
    monkeypatch.setattr(sc.m, "allowed", allowed)


def empty_pair(sc):
    return sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).out["fds"]


@pytest.fixture
def alarm_restored():
    """Whatever a test does, SIGALRM's handler and timer are as they were afterwards."""
    handler = signal.getsignal(signal.SIGALRM)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)


class _Sigaction(ctypes.Structure):
    """glibc's struct sigaction (x86_64, aarch64): handler, 1024-bit mask, flags, restorer."""
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


_SA_RESTART = 0x10000000


def sigalrm_flags() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    act = _Sigaction()
    assert libc.sigaction(signal.SIGALRM, None, ctypes.byref(act)) == 0
    return act.flags


def test_the_handler_has_no_sa_restart(alarm_restored):
    """Checked without blocking: with SA_RESTART a blocked call would never come back."""
    flags, blocked = bounded(sigalrm_flags, 5.0)
    assert not blocked and not flags & _SA_RESTART
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("backend,bound", [("cffi", CALL_BOUND), ("ctypes", 0.5)])
def test_blocked_call_fails_within_the_bound(prof, monkeypatch, alarm_restored, backend, bound):
    fds_before = read_fd_table()
    sc, records = make_scenario(prof, backend, call_bound=bound)
    a, b = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch)
    t0 = time.monotonic()
    with pytest.raises(Mismatch) as info:
        sc.recv(a, 10)
    took = time.monotonic() - t0
    # the upper limit only tells 'came back' from 'hung': a loaded machine stretches it
    assert bound * 0.9 <= took < bound + 10.0
    text = str(info.value)
    assert f"kernel: blocked (no answer within {bound:g} s)" in text
    assert "model allows: -1 EAGAIN" in text and "test.recv_at_once" in text
    assert "only answers that do not wait" in text
    rec = records[-1]
    assert rec["verdict"] == "fail" and rec["rule"] is None
    assert rec["observation"]["blocked"] is True
    assert rec["observation"]["result"] == f"blocked (no answer within {bound:g} s)"
    # the raw entry returned normally with the kernel's EINTR: no SA_RESTART, nothing raised
    assert rec["observation"]["interrupted"] == "-1 EINTR"
    # the run goes on: the scenario still works, its model state untouched by the blocked call
    assert sc.m.sock(a) is not None and sc.m.sock(b) is not None
    sc.send(b, b"x")
    sc.close_all()
    assert read_fd_table() == fds_before
    assert signal.getsignal(signal.SIGALRM) is not None
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_call_bound_is_configurable(prof, monkeypatch, alarm_restored):
    sc, records = make_scenario(prof, call_bound=0.3)
    a, _ = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch)
    t0 = time.monotonic()
    with pytest.raises(Mismatch, match=r"blocked \(no answer within 0.3 s\)"):
        sc.recv(a, 10)
    assert time.monotonic() - t0 < 1.5
    sc.close_all()


def test_an_outcome_that_waits_keeps_its_own_bound(prof, monkeypatch, alarm_restored):
    """An outcome that may wait (a timeout the caller set) adds its wait to the bound."""
    sc, records = make_scenario(prof, call_bound=0.3)
    a, _ = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch, waits=0.6)
    t0 = time.monotonic()
    with pytest.raises(Mismatch, match=r"blocked \(no answer within 0.9 s\)") as info:
        sc.recv(a, 10)
    assert 0.8 <= time.monotonic() - t0 < 2.5
    assert "answers that wait at most 0.6 s" in str(info.value)
    assert records[-1]["allowed"][0]["waits"] == 0.6
    sc.close_all()


def test_immediate_calls_are_unchanged(prof, alarm_restored):
    sc, records = make_scenario(prof)
    a, b = empty_pair(sc)
    sc.recv(a, 10, L.MSG_DONTWAIT)
    sc.send(b, b"hi")
    sc.recv(a, 10)
    assert [r["verdict"] for r in records] == ["pass"] * 4
    assert not any(r["observation"].get("blocked") for r in records)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    sc.close_all()


def test_the_per_test_alarm_keeps_its_deadline(prof, monkeypatch, alarm_restored):
    """An alarm set before the call (the plugin's per-test bound) is re-armed for its time
    left, with its own handler, after a call that blocked and after one that did not."""
    def outer(signum, frame):
        raise TimeoutError("the per-test bound")
    signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 20.0)
    sc, _ = make_scenario(prof, call_bound=0.3)
    a, _ = empty_pair(sc)
    left_after_pair = signal.getitimer(signal.ITIMER_REAL)[0]
    assert 19.0 < left_after_pair <= 20.0
    recv_answers_at_once(sc, monkeypatch)
    with pytest.raises(Mismatch, match="blocked"):
        sc.recv(a, 10)
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert left_after_pair - 1.5 < left < left_after_pair - 0.25
    assert signal.getsignal(signal.SIGALRM) is outer
    sc.close_all()


def test_a_nearer_per_test_alarm_wins(prof, monkeypatch, alarm_restored):
    """When the per-test bound runs out first, its handler runs (the test times out as it
    did before the call bound existed)."""
    def outer(signum, frame):
        raise TimeoutError("the per-test bound")
    signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    sc, _ = make_scenario(prof)
    a, _ = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="the per-test bound"):
        sc.recv(a, 10)
    assert time.monotonic() - t0 < 1.5
    sc.close_all()


def test_bounded_outside_a_scenario(alarm_restored):
    k = Kernel(load_backend())
    a, b = k.socketpair(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).out["fds"]
    try:
        result, blocked = bounded(lambda: k.recv(a, 10), 0.2)
        assert blocked and result.errno == E.EINTR
        result, blocked = bounded(lambda: k.recv(a, 10, L.MSG_DONTWAIT), 0.2)
        assert not blocked and result.errno == E.EAGAIN
    finally:
        k.close(a)
        k.close(b)


def test_bounded_with_its_handler_installed_once(alarm_restored):
    """explore installs the bound's handler for the whole run: bounded() then leaves it in
    place, and a blocking call is still interrupted and reported."""
    from harness.check import _alarm_fired
    k = Kernel(load_backend())
    a, b = k.socketpair(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).out["fds"]
    signal.signal(signal.SIGALRM, _alarm_fired)
    try:
        result, blocked = bounded(lambda: k.recv(a, 10), 0.2)
        assert blocked and result.errno == E.EINTR
        assert signal.getsignal(signal.SIGALRM) is _alarm_fired
        result, blocked = bounded(lambda: k.recv(a, 10, L.MSG_DONTWAIT), 0.2)
        assert not blocked and result.errno == E.EAGAIN
        assert signal.setitimer(signal.ITIMER_REAL, 0) == (0.0, 0.0)     # nothing left armed
    finally:
        k.close(a)
        k.close(b)


def test_a_child_scenario_has_the_bound(prof, monkeypatch, alarm_restored):
    sc, records = make_scenario(prof, call_bound=0.3)
    a, _ = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch)      # the child's model is a copy of this one

    def body(child):
        child.recv(a, 10)
    t0 = time.monotonic()
    with pytest.raises(Mismatch, match=r"in a child[\s\S]*blocked \(no answer within 0.3 s\)"):
        sc.in_child(body)
    assert time.monotonic() - t0 < 5
    assert records[-1]["observation"]["blocked"] is True
    sc.close_all()


def test_the_reproducer_of_a_blocked_call_ends(prof, monkeypatch, alarm_restored):
    sc, records = make_scenario(prof, call_bound=0.3)
    a, _ = empty_pair(sc)
    recv_answers_at_once(sc, monkeypatch)
    with pytest.raises(Mismatch):
        sc.recv(a, 10)
    script = records[-1]["reproducer"]
    assert "signal.setitimer(signal.ITIMER_REAL, 0.3)" in script
    sc.close_all()
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "-1 EINTR" in done.stdout
