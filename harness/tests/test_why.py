"""A failure names the rules the model considered and the guard that excluded each
(harness/why.py), over a backend that lies about one answer; and what that explanation rests on:
every rule is found in the model's source, and the model's decision leaves the model alone."""
import os
import re
import sys

import pytest

from harness import why
from harness.abi import linux as L
from harness.check import Mismatch, Scenario
from harness.kernel import Kernel, load_backend
from harness.mem import SockaddrUn
from harness.model import Call, Model, read_fd_table
from harness.model.rules import REGISTRY
from harness.profile import probe

from lying_kernel import LyingBackend  # noqa: E402  (harness/tests is on sys.path)

SOCKET_PY = os.path.join(why.MODEL_DIR, "socket.py")


@pytest.fixture(scope="module")
def prof():
    return probe(Kernel(load_backend()))


def scenario(prof, backend):
    records = []
    m = Model(prof)
    m.seed_fds(read_fd_table())
    return Scenario(Kernel(backend), m, records.append, "test_why"), records


def line_of(path: str, text: str) -> int:
    with open(path, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if text in line)


def test_a_lying_kernel_is_explained_with_the_rules_considered(prof):
    """socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) answered EINVAL: the message names the call,
    the answer, the allowed set with rules and citations, the rule whose errno that is with the
    guard that excluded it (file:line), the model state before the call, the release and the
    marker readings."""
    sc, records = scenario(prof, LyingBackend(load_backend(), ["unix-einval"]))
    try:
        inet = sc.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret   # told the truth
        previous = sys.gettrace()
        with pytest.raises(Mismatch) as info:
            sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)
        assert sys.gettrace() is previous                  # the tracer is gone again
    finally:
        sc.close_all()
    text = str(info.value)
    assert text.startswith("socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0)\n  kernel: -1 EINVAL\n")
    unix_create = REGISTRY["socket.unix_create"]
    assert f"[socket.unix_create: {unix_create.citation}]" in text          # allowed, cited
    assert "with: fd.lowest_free, fd.cloexec_flag" in text
    guard = line_of(SOCKET_PY, "if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):")
    assert (f"    socket.type_flags_invalid (EINVAL, the kernel answered this): guard `if flags & "
            f"~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):` at harness/model/socket.py:{guard} was false") in text
    # the rules whose errno the kernel gave come first
    considered = text.split("with what excluded each:\n")[1].splitlines()
    assert all("the kernel answered this" in line for line in considered[:2]), considered[:3]
    # a rule of another family's path: its function was never called
    assert "socket.packet_eperm (EPERM): not reached: packet_create() was not called" in text
    assert re.search(rf"model state before the call:\n    fd {inet}: AF_INET SOCK_STREAM, "
                     r"unconnected/CLOSE \(cloexec\)", text), text
    assert f"kernel: {prof.kernel_release}; kernel-dependent rules of socket" in text
    assert "reproducer:" in text

    rec = records[-1]
    assert rec["verdict"] == "fail" and rec["basis"]["release"] == prof.kernel_release
    assert isinstance(rec["basis"]["markers"], dict)
    flags = next(e for e in rec["considered"] if e["rule"] == "socket.type_flags_invalid")
    assert flags["guard"] == (f"`if flags & ~(L.SOCK_CLOEXEC | L.SOCK_NONBLOCK):` at "
                              f"harness/model/socket.py:{guard}")
    assert flags["where"] == f"harness/model/socket.py:{guard + 1}"
    assert flags["defined"] == (f"TYPE_FLAGS_INVALID at harness/model/socket.py:"
                                f"{line_of(SOCKET_PY, 'TYPE_FLAGS_INVALID = rule(')}")
    assert flags["verdict"].endswith("was false") and flags["answer"] is True
    assert all(e["rule"] not in ("socket.unix_create", "fd.lowest_free") for e in rec["considered"])


def test_the_list_is_capped_and_says_how_many_more():
    entries = [{"rule": f"r.{i}", "result": "EINVAL", "verdict": "v"} for i in range(25)]
    lines = why.describe(entries)
    assert len(lines) == why.SHOWN + 1 and lines[-1].startswith("and 5 more")


def test_a_rule_that_does_not_hold_is_listed_with_its_basis(prof):
    """A kernel-dependent rule of the call that does not hold here comes with Rule.basis."""
    m = Model(prof)
    m.seed_fds(read_fd_table())
    c = Call("getsockopt", (10**6, L.SOL_TCP, L.TCP_INFO))
    entries, note = why.considered(m, c, m.allowed(c))
    assert note is None
    absent = [e for e in entries if e["verdict"].startswith("does not hold for this kernel: ")]
    assert absent, entries                       # only one tcp_info size holds on any kernel
    for e in absent:
        assert REGISTRY[e["rule"]].basis(m.version, m.markers) in e["verdict"]


def test_every_rule_is_found_in_the_model_source():
    """why.py can place every registered rule: its definition and at least one use."""
    idx = why.index()
    assert set(REGISTRY) <= set(idx.definitions), sorted(set(REGISTRY) - set(idx.definitions))
    # the end-of-scenario SO_ERROR check is made by the checker (Scenario.end_checks), not by
    # a decision of the model: it has no use in the model's source
    checker_only = {"getsockopt.so_error_at_end"}
    assert set(REGISTRY) - checker_only <= set(idx.uses), sorted(set(REGISTRY) - checker_only - set(idx.uses))


def _dump(obj, seen=None) -> str:
    """The model's state as text (the profile and the families' ops left out), for equality."""
    seen = {} if seen is None else seen
    if isinstance(obj, (int, str, bytes, float, bool, type(None))):
        return repr(obj)
    if id(obj) in seen:
        return f"<{seen[id(obj)]}>"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_dump(x, seen) for x in obj) + "]"
    if isinstance(obj, (set, frozenset)):
        return "{" + ",".join(sorted(_dump(x, seen) for x in obj)) + "}"
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_dump(k, seen)}:{_dump(v, seen)}" for k, v in obj.items()) + "}"
    if not hasattr(obj, "__dict__"):
        return repr(obj)
    seen[id(obj)] = f"#{len(seen)}"
    return type(obj).__name__ + "(" + ",".join(
        f"{k}={_dump(v, seen)}" for k, v in vars(obj).items() if k not in ("profile", "ops", "via")) + ")"


def test_the_decision_leaves_the_model_alone(prof):
    """Model.allowed() only reads the state (why.py re-runs it on the model as it was before a
    wrong answer): accept4 with SOCK_NONBLOCK on a queued connection once set the queued
    socket's O_NONBLOCK while deciding."""
    sc, _ = scenario(prof, load_backend())
    try:
        addr = SockaddrUn(abstract=f"sockspec-why-{os.getpid()}".encode())
        lfd = sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        sc.bind(lfd, addr)
        sc.listen(lfd, 4)
        cfd = sc.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        sc.connect(cfd, addr)
        for call in (Call("accept4", (lfd, L.SOCK_NONBLOCK | L.SOCK_CLOEXEC)),
                     Call("accept", (lfd,)), Call("send", (cfd, b"x")),
                     Call("close", (cfd,)), Call("listen", (lfd, 1))):
            before = _dump(sc.m)
            sc.m.allowed(call)
            assert _dump(sc.m) == before, call
    finally:
        sc.close_all()


# -- rows of a table that are not checked: recorded with a reason and counted --------------

def test_skip_row_is_recorded(prof):
    sc, records = scenario(prof, load_backend())
    sc.skip_row("set-level-999-packet", "creating packet-raw needs CAP_NET_RAW")
    assert records == [{"kind": "row_skip", "test_id": "test_why", "row": "set-level-999-packet",
                        "reason": "creating packet-raw needs CAP_NET_RAW"}]


def test_skipped_rows_are_counted_by_reason_in_the_summary_and_the_report(tmp_path):
    """End to end: outside a private namespace (--sockspec-no-netns) the private rows of
    test_bind_inet_errors_private_netns are each recorded as skipped, with the reason, and the
    summary, the end record and the HTML report count them."""
    import json
    import subprocess
    run = tmp_path / "run"
    repo = os.path.dirname(os.path.dirname(why.MODEL_DIR))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--sockspec-no-netns",
         f"--sockspec-run-dir={run}",
         "suite/test_bind.py::test_bind_inet_errors_private_netns[inet-stream]"],
        cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
    reason = ("binding addresses other than loopback needs the private network namespace "
              "(only loopback is known there)")
    import suite.test_bind as tb
    from suite.endpoints import rows_for
    labels = [r[0] for r in rows_for(tb.INET4_ROWS, private=True)]
    assert labels
    assert f"rows skipped: {len(labels)}\n  {len(labels)} in 1 test: {reason}" in out.stdout
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    skips = [r for r in records if r["kind"] == "row_skip"]
    assert [r["row"] for r in skips] == labels and {r["reason"] for r in skips} == {reason}
    assert records[-1]["rows_skipped"] == {reason: len(labels)}
    html = (run / "report.html").read_text()
    assert f'id="count-rows-skipped">{len(labels)}<' in html
    section = re.search(r'<section[^>]*id="rows-skipped".*?</section>', html, re.S).group(0)
    assert reason in section and all(label in section for label in labels)


def test_rows_skipped_counts_the_last_attempt_of_each_test(tmp_path):
    from harness.report.records import load_run
    import json
    rows = [{"kind": "row_skip", "test_id": t, "row": r, "reason": why_, "attempt": a}
            for t, r, why_, a in (("t1", "a", "no cap", 1), ("t1", "a", "no cap", 2),
                                  ("t2", "b", "no cap", 1), ("t2", "c", "no netns", 1))]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    grouped = load_run(tmp_path).rows_skipped()
    assert list(grouped) == ["no cap", "no netns"]
    assert [(r["test_id"], r["attempt"]) for r in grouped["no cap"]] == [("t1", 2), ("t2", 1)]


def test_a_failure_carries_the_marker_readings_of_its_rules(prof):
    """listen's kernel-dependent rule listen.tcp_unhashed names a marker: a failing listen
    names what the profile read for it (in the record's basis and in the message)."""
    sc, _ = scenario(prof, load_backend())
    try:
        fd = sc.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        c = Call("listen", (fd, 5))
        outcomes = sc.m.allowed(c)
        detail = sc.failure_detail(c, outcomes, None)
        reading = detail["basis"]["markers"]["inet_connection_sock.unhashed_state"]
        assert reading == why._show(prof.markers.get("inet_connection_sock.unhashed_state"))
        text = sc.explain(c, outcomes, {"result": "-1 EPERM"}, ["a made-up mismatch"],
                          ("before the call", sc.model_state()))
        assert f"markers read: inet_connection_sock.unhashed_state = {reading}" in text
    finally:
        sc.close_all()
