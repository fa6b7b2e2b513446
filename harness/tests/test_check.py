"""The checker: a right model passes and records the rule; a wrong one fails with the call,
both sides, the rules and a reproducer that runs on its own."""
import os
import subprocess
import sys
import textwrap

import re

import pytest

from harness.abi import linux as L
from harness.check import Mismatch, ModelGap, Scenario
from harness.kernel import Kernel, load_backend
from harness.model import Model, read_fd_table
from harness.model import af_unix
from harness.model.rules import Rule
from harness.profile import probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def prof():
    return probe(Kernel(load_backend()))


@pytest.fixture
def scenario(prof):
    records = []
    m = Model(prof)
    m.seed_fds(read_fd_table())
    sc = Scenario(Kernel(load_backend()), m, records.append, "test_check")
    yield sc, records
    sc.close_all()


def test_right_model_passes_and_records_the_rule(scenario):
    sc, records = scenario
    fd = sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
    sc.close(fd)
    first = records[0]
    assert first["verdict"] == "pass" and first["rule"] == "socket.unix_create"
    assert "fd.lowest_free" in first["also"] and "fd.cloexec_flag" in first["also"]
    assert first["observation"]["state"][f"{fd}.SO_DOMAIN"] == str(L.AF_UNIX)
    assert records[1]["rule"] == "close.ok"


# not registered: it must not join the model's rule set
WRONG = Rule("test.wrong_unix_create", "test", "EINVAL", "A deliberately wrong rule.", "nowhere")


def test_wrong_answer_is_explained(scenario, monkeypatch):
    sc, records = scenario
    monkeypatch.setattr(af_unix, "unix_create", lambda m, t, p: WRONG.fail(22))
    with pytest.raises(Mismatch) as info:
        sc.socket(L.AF_UNIX, L.SOCK_STREAM, 0)
    text = str(info.value)
    assert "socket(AF_UNIX, SOCK_STREAM, 0)" in text
    assert "kernel: " in text and "model allows: -1 EINVAL" in text
    assert "test.wrong_unix_create" in text and "reproducer:" in text
    assert "model state before the call:" in text and "kernel-dependent rules of socket" in text
    rec = records[-1]
    assert rec["basis"]["release"] == sc.m.profile.kernel_release
    assert rec["verdict"] == "fail" and rec["rule"] is None and rec["reproducer"]
    sc.close_all()
    # the model never saw the fd: close it the way the reproducer's reader would
    fd = int(rec["observation"]["result"])
    sc.k.close(fd)


def test_wrong_state_is_explained(scenario, monkeypatch):
    sc, records = scenario
    real = af_unix.unix_create

    def stream_is_seqpacket(m, t, p):
        made = real(m, t, p)
        made.sock.type = L.SOCK_SEQPACKET
        return made
    monkeypatch.setattr(af_unix, "unix_create", stream_is_seqpacket)
    # a state divergence does not stop the scenario: the test fails at its end
    fd = sc.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret
    sc.getsockname(fd)                            # goes on, and is checked
    assert records[-1]["verdict"] == "pass" and records[-1]["rule"] == "getsockname.ok"
    with pytest.raises(Mismatch, match=r"SO_TYPE: kernel 1, model 5") as info:
        sc.finish()
    assert re.search(r"model state after socket\.unix_create:\n    fd \d+: AF_UNIX SOCK_SEQPACKET, unconnected/CLOSE",
                     str(info.value)), str(info.value)
    failing = [r for r in records if r["verdict"] == "fail"]
    assert len(failing) == 1          # the same difference on the same socket is not counted twice
    div = failing[0]["divergence"]
    assert div["kind"] == "state" and div["rules"] == ["getsockopt.so_type"]
    assert div["key"] == "state SO_TYPE: getsockopt.so_type" and div["documented"] is True
    sc.finish()                       # reported once


def test_answer_divergence_after_state_divergence_carries_both(scenario, monkeypatch):
    sc, records = scenario
    real = af_unix.unix_create

    def stream_is_seqpacket(m, t, p):
        made = real(m, t, p)
        made.sock.type = L.SOCK_SEQPACKET
        return made
    monkeypatch.setattr(af_unix, "unix_create", stream_is_seqpacket)
    fd = sc.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret
    monkeypatch.setattr(af_unix, "unix_create", lambda m, t, p: WRONG.fail(22))
    with pytest.raises(Mismatch) as info:
        sc.socket(L.AF_UNIX, L.SOCK_STREAM, 0)
    text = str(info.value)
    assert "earlier divergence 1 of this test" in text and "SO_TYPE: kernel 1, model 5" in text
    assert "test.wrong_unix_create" in text
    rec = records[-1]
    assert rec["divergence"] == {"kind": "answer", "rules": ["test.wrong_unix_create"],
                                 "key": "answer: test.wrong_unix_create", "documented": False}
    sc.k.close(int(rec["observation"]["result"]))
    del fd


def test_resync_adopts_the_port_the_kernel_chose(scenario, monkeypatch):
    """A target that picks another ephemeral port than the model allows: one failing check,
    then the model follows the kernel's port, so later checks of the name pass."""
    from harness.model import observe
    from harness.model.rules import Predicate
    sc, records = scenario
    fd = sc.socket(L.AF_INET, L.SOCK_DGRAM, 0).ret
    real = observe._name_expect

    def never_this_port(m, sock, peer):
        e = real(m, sock, peer)
        if e is not None and not peer and sock.local is not None and not isinstance(sock.local, tuple):
            e.value = observe.Name(Predicate(lambda a: False, "no port at all"), e.value.addrlen)
        return e
    monkeypatch.setattr(observe, "_name_expect", never_this_port)
    from harness.mem import SockaddrIn
    sc.bind(fd, SockaddrIn(0, "127.0.0.1"))
    monkeypatch.setattr(observe, "_name_expect", real)
    assert records[-1]["verdict"] == "fail"
    assert records[-1]["divergence"]["kind"] == "state"
    assert "bind.inet_ephemeral_port" in records[-1]["divergence"]["rules"]
    sc.getsockname(fd)
    assert records[-1]["verdict"] == "pass", records[-1]
    with pytest.raises(Mismatch, match="sockname"):
        sc.finish()


def test_also_rules_count_only_where_their_effect_was_compared(scenario):
    from harness.check import exercised_rules
    from harness.model.rules import REGISTRY, Exact, Outcome
    main, cloexec = REGISTRY["socket.unix_create"], REGISTRY["fd.cloexec_flag"]
    o = Outcome(main, 0, Exact(3), {}, None, (cloexec, REGISTRY["fd.lowest_free"]))
    assert exercised_rules(o, {"answer"}) == ["socket.unix_create", "fd.lowest_free"]
    assert exercised_rules(o, {"answer", "FD_CLOEXEC"}) == \
        ["socket.unix_create", "fd.cloexec_flag", "fd.lowest_free"]
    sc, records = scenario
    fd = sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
    assert "fd.cloexec_flag" in records[-1]["exercised"]
    sc.close(fd)


def test_reproducer_runs_standalone(scenario):
    sc, _ = scenario
    a = sc.socket(L.AF_UNIX, L.SOCK_DGRAM, 0).ret
    sc.listen(a, -1)
    script = sc.reproducer()
    assert "k.listen(fd0, -1)" in script
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "socket(AF_UNIX, SOCK_DGRAM, 0) -> " in out.stdout
    assert "listen(" in out.stdout and "EOPNOTSUPP" in out.stdout


def test_unmodelled_call_is_a_model_gap(scenario):
    sc, _ = scenario
    with pytest.raises(ModelGap, match="no rule"):
        sc.readlink("/etc/hostname")


def test_child_records_come_back(scenario):
    sc, records = scenario

    def body(s):
        fd = s.socket(L.AF_UNIX, L.SOCK_DGRAM, 0).ret
        s.close(fd)
    sc.in_child(body)
    assert [r["rule"] for r in records[-2:]] == ["socket.unix_create", "close.ok"]


def test_child_mismatch_fails_the_parent(scenario, monkeypatch):
    sc, _ = scenario
    monkeypatch.setattr(af_unix, "unix_create", lambda m, t, p: WRONG.fail(22))
    with pytest.raises(Mismatch, match="in a child"):
        sc.in_child(lambda s: s.socket(L.AF_UNIX, L.SOCK_STREAM, 0))


def test_a_wrong_rule_fails_the_right_suite_test(tmp_path):
    """End to end: patch one rule, run the suite's test for it, read pytest's explanation."""
    plugin = tmp_path / "wrong_rule.py"
    plugin.write_text(textwrap.dedent("""
        from harness.model import af_unix
        from harness.abi import linux as L
        real = af_unix.unix_create
        def raw_stays_raw(m, type_, protocol):
            made = real(m, type_, protocol)
            if type_ == L.SOCK_RAW and hasattr(made, "sock"):
                made.sock.type = L.SOCK_RAW
            return made
        af_unix.unix_create = raw_stays_raw
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "wrong_rule", "--sockspec-run-dir", str(tmp_path / "run"),
         "suite/test_socket.py::test_socket[unix-raw-is-dgram]",
         "suite/test_socket.py::test_socket[unix-stream-0]"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed, 1 passed" in out.stdout
    assert "socket(AF_UNIX, SOCK_RAW, 0)" in out.stdout
    assert "SO_TYPE: kernel 2, model 3" in out.stdout
    assert "socket.unix_raw_is_dgram" in out.stdout and "reproducer" in out.stdout
