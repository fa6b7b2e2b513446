"""Honest re-runs and known deviations, end to end through the plugin (pytest in a subprocess on
two suite tests) with a Kernel that lies: on the first attempt only (flaky), or always.

The lie is socket(AF_UNIX, SOCK_STREAM, 0) answering -1 EPROTONOSUPPORT in the test
``test_socket[unix-stream-0]``, where the model allows only success (rule socket.unix_create);
nothing depends on what this kernel does."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from harness.expect import ExpectError, load
from harness.report.records import counted_checks, load_run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIAR = "suite/test_socket.py::test_socket[unix-stream-0]"
HONEST = "suite/test_socket.py::test_socket[unix-dgram-0]"

LYING_PLUGIN = """
import errno, collections
from harness.kernel import Kernel
from harness.abi.result import Result

MODE = {mode!r}           # "first": lie on the first attempt only; "always"
attempts = collections.Counter()
current = [None]

def pytest_runtest_setup(item):
    attempts[item.nodeid] += 1
    current[0] = item.nodeid

real = Kernel.socket

def socket(self, family, type, protocol=0):
    if (current[0] == {liar!r} and (MODE == "always" or attempts[current[0]] == 1)
            and (family, type, protocol) == (1, 1, 0)):
        return Result(-1, errno.EPROTONOSUPPORT)
    return real(self, family, type, protocol)

Kernel.socket = socket
"""


def run_suite(tmp_path, mode=None, *args, tests=(LIAR, HONEST)):
    plugins = []
    if mode:
        (tmp_path / "lying_kernel.py").write_text(LYING_PLUGIN.format(mode=mode, liar=LIAR))
        plugins = ["-p", "lying_kernel"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]))
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfx", *plugins, f"--sockspec-run-dir={run_dir}",
         *args, *tests], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    records = []
    if (run_dir / "results.jsonl").exists():
        records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return out, records


def by_test(records):
    return {r["test_id"]: r for r in records if r["kind"] == "test"}


def test_a_kernel_that_lies_once_is_flaky_and_fails_the_run(tmp_path):
    out, records = run_suite(tmp_path, "first")
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed, 1 passed" in out.stdout
    assert "flaky: 1" in out.stdout and LIAR in out.stdout.split("flaky: 1")[1]
    t = by_test(records)[LIAR]
    assert t["outcome"] == "failed" and t["flaky"] is True and t["attempts"] == 2
    assert t["attempts_differ"] is True and t["attempt_outcomes"] == ["failed", "passed"]
    checks = [r for r in records if r["kind"] == "check" and r["test_id"] == LIAR]
    # both attempts are recorded: the first attempt's failing check is not erased
    assert {c["attempt"] for c in checks} == {1, 2}
    assert [c["verdict"] for c in checks if c["attempt"] == 1] == ["fail"]
    assert all(c["verdict"] == "pass" for c in checks if c["attempt"] == 2)
    assert by_test(records)[HONEST]["attempts"] == 1 and "flaky" not in by_test(records)[HONEST]
    end = records[-1]
    assert end["kind"] == "end" and end["flaky"] == [LIAR] and end["exit_status"] == 1
    # the HTML shows it
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="flaky"' in html and LIAR in html
    # coverage: no check of the flaky test counts (socket.unix_create comes from the honest one)
    run = load_run(tmp_path / "run")
    counted = {c["test_id"] for c in counted_checks(run.checks, run.tests)}
    assert LIAR not in counted and HONEST in counted


def test_allow_flaky_reports_but_passes(tmp_path):
    out, records = run_suite(tmp_path, "first", "--sockspec-allow-flaky")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "2 passed" in out.stdout and "flaky: 1" in out.stdout
    t = by_test(records)[LIAR]
    assert t["outcome"] == "passed" and t["flaky"] is True
    assert records[-1]["flaky"] == [LIAR]


def test_a_kernel_that_lies_twice_fails_as_before(tmp_path):
    out, records = run_suite(tmp_path, "always", "--sockspec-allow-flaky")
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed, 1 passed" in out.stdout and "flaky:" not in out.stdout
    t = by_test(records)[LIAR]
    assert t["outcome"] == "failed" and not t.get("flaky") and t["attempts"] == 2
    assert t["attempt_outcomes"] == ["failed", "failed"]


def write(tmp_path, text, name="expect.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_known_deviation_is_an_expected_failure(tmp_path):
    expect = write(tmp_path, """
        [[deviation]]
        rule = "socket.unix_create"
        reason = "this fake kernel refuses unix stream sockets"
        link = "https://example.org/bug/1"

        [[deviation]]
        rule = "socket.unix_create"
        target = "some-sandbox"
        reason = "does not apply here: not stale"
    """)
    out, records = run_suite(tmp_path, "always", f"--sockspec-expect={expect}")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "1 passed, 1 xfailed" in out.stdout
    assert "known deviation: this fake kernel refuses unix stream sockets" in out.stdout
    t = by_test(records)[LIAR]
    assert t["outcome"] == "expected" and t["expected_by"] == [1]
    assert t["reason"] == "this fake kernel refuses unix stream sockets"
    assert records[0]["expect"]["entries"][0]["link"] == "https://example.org/bug/1"
    assert records[-1]["stale"] == [] and records[-1]["expected"] == 1
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="expected"' in html and "this fake kernel refuses unix stream sockets" in html


def test_an_entry_that_no_longer_fails_is_stale(tmp_path):
    expect = write(tmp_path, f"""
        [[deviation]]
        test = "{HONEST}"
        reason = "it used to fail"

        [[deviation]]
        test = "suite/test_bind.py::*"
        reason = "not run here: neither matched nor stale"
    """)
    out, records = run_suite(tmp_path, None, f"--sockspec-expect={expect}")
    assert out.returncode == 1, out.stdout[-3000:]
    assert "2 passed" in out.stdout
    assert "stale: 1" in out.stdout and "it used to fail" in out.stdout
    assert [e["index"] for e in records[-1]["stale"]] == [1]
    assert records[-1]["exit_status"] == 1
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'id="stale"' in html and "it used to fail" in html


def test_a_failure_an_entry_does_not_cover_stays_a_failure(tmp_path):
    expect = write(tmp_path, """
        [[deviation]]
        rule = "listen.inet"
        reason = "another rule"
    """)
    out, records = run_suite(tmp_path, "always", f"--sockspec-expect={expect}")
    assert out.returncode == 1
    assert by_test(records)[LIAR]["outcome"] == "failed"


@pytest.mark.parametrize("text,message", [
    (None, "no such expectation file"),
    ("[[deviation]\nrule = 1", "not valid TOML"),
    ('[[deviation]]\nrule = "socket.unix_create"\nreason = "r"\nbug = "x"', "unknown key 'bug'"),
    ('[[deviation]]\nrule = 3\nreason = "r"', "rule must be a string, not int"),
    ('[[deviation]]\nreason = "r"', "names neither a test nor a rule"),
    ('[[deviation]]\nrule = "socket.unix_create"', "has no reason"),
    ('[[deviation]]\nrule = "socket.no_such_rule"\nreason = "r"', "unknown rule 'socket.no_such_rule'"),
    ('deviations = []', "unknown key 'deviations'"),
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, text, message):
    path = str(tmp_path / "missing.toml") if text is None else write(tmp_path, text)
    out, _ = run_suite(tmp_path, None, f"--sockspec-expect={path}", tests=(HONEST,))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and path in lines[0], out.stderr


def failing(test_id, *rules, verdict="fail"):
    return {"test_id": test_id, "verdict": verdict, "allowed": [{"rule": r} for r in rules]}


def test_matching(tmp_path):
    exp = load(write(tmp_path, """
        [[deviation]]
        rule = "bind.inet"
        reason = "ports"
        [[deviation]]
        test = "suite/test_listen.py::*"
        rule = "listen.inet"
        target = "gvisor"
        reason = "backlog"
        [[deviation]]
        test = "suite/test_x.py::test_error"
        reason = "an error without a check"
        [[deviation]]
        rule = "listen.unix"
        kernel = "4.4.*"
        reason = "old"
    """))
    a = "suite/test_bind.py::test_a"
    assert [e.index for e in exp.explain(a, [failing(a, "bind.inet", "x")], "host", "6.1")] == [1]
    assert exp.explain(a, [failing(a, "bind.inet"), failing(a, "other")], "host", "6.1") is None
    b = "suite/test_listen.py::test_b"
    assert exp.explain(b, [failing(b, "listen.inet")], "host", "6.1") is None
    assert [e.index for e in exp.explain(b, [failing(b, "listen.inet")], "gvisor", "4.4.0")] == [2]
    assert exp.explain("suite/test_x.py::test_error", [], "host", "6.1")[0].index == 3
    assert exp.explain(a, [], "host", "6.1") is None            # a rule entry needs a check
    assert exp.explain(b, [failing(b, "listen.unix")], "gvisor", "4.4.0")[0].index == 4
    assert exp.explain(b, [failing(b, "listen.unix")], "gvisor", "6.1") is None

    # brackets in a pattern are literal: test ids have them
    exp2 = load(write(tmp_path, '[[deviation]]\ntest = "suite/t.py::test_socket[inet*-ping]"\nreason = "r"', "b.toml"))
    assert exp2.entries[0].selects_test("suite/t.py::test_socket[inet6-dgram-ping]")
    assert not exp2.entries[0].selects_test("suite/t.py::test_socket[i]")

    tests = [{"test_id": a, "outcome": "expected"}, {"test_id": b, "outcome": "passed"}]
    checks = [failing(a, "bind.inet"), failing(b, "listen.inet", verdict="pass")]
    v = exp.verdicts(tests, checks, "gvisor", "4.4.0")
    assert [e.index for e in v["matched"]] == [1]
    assert [e.index for e in v["stale"]] == [2]                  # checked, passed
    assert [e.index for e in v["unexercised"]] == [3, 4]         # nothing selected them
    assert [e.index for e in exp.verdicts(tests, checks, "host", "6.1")["stale"]] == []
def test_a_flaky_known_deviation_is_expected(tmp_path):
    """A test that fails once at a known deviation (gVisor's random ephemeral port lands at
    Linux's odd offset one time in two) is expected, not flaky."""
    expect = write(tmp_path, """
        [[deviation]]
        rule = "socket.unix_create"
        reason = "known"
    """)
    out, records = run_suite(tmp_path, "first", f"--sockspec-expect={expect}")
    assert out.returncode == 0, out.stdout[-3000:]
    t = by_test(records)[LIAR]
    assert t["outcome"] == "expected" and t["flaky"] is True
    assert records[-1]["flaky"] == [] and "flaky:" not in out.stdout


def test_matrix_expect_option(tmp_path):
    from harness.targets.base import Suite
    from harness.targets.cli import expectations
    from harness.expect import default_file
    good = write(tmp_path, '[[deviation]]\nrule = "listen.inet"\nreason = "r"')
    assert expectations(["host", "gvisor"], []) == {"gvisor": default_file("gvisor")}
    assert expectations(["host", "gvisor"], [], default=False) == {}
    assert expectations(["host", "gvisor"], [f"host={good}"]) == {"host": good, "gvisor": default_file("gvisor")}
    with pytest.raises(ValueError, match="not one of the targets"):
        expectations(["host"], [f"uml={good}"])
    with pytest.raises(ValueError, match="TARGET=FILE"):
        expectations(["host"], [good])
    with pytest.raises(ExpectError, match="no such expectation file"):
        expectations(["host"], [f"host={tmp_path / 'nope.toml'}"])
    suite = Suite(pytest_args=("-x",), expect={"gvisor": good})
    assert suite.argv("/r", "gvisor", "sandbox")[-3:] == ["--", "-x", f"--sockspec-expect={good}"]
    assert "--sockspec-expect" not in " ".join(suite.argv("/r", "host", "linux"))


def test_matrix_bad_expect_file_exits_2(tmp_path, capsys):
    from harness import cli
    bad = write(tmp_path, "[[deviation]]\nrule = 3\nreason = 'r'")
    assert cli.main(["matrix", "--target", "host", "--expect", f"host={bad}", "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rule must be a string" in err[0]


def test_the_shipped_gvisor_file_loads():
    from harness.expect import default_file
    from harness.model.rules import REGISTRY
    path = default_file("gvisor")
    assert path and load(path, known_rules=set(REGISTRY)).entries
    assert default_file("host") is None and default_file("debian:6.1") is None
    with pytest.raises(ExpectError):
        load(os.path.join(REPO, "README.md"))


def test_matrix_column_reads_known_deviations(tmp_path):
    from harness.report.merge import EXPECTED, FAIL, matrix
    from harness.report.records import Run

    def chk(test_id, rule, verdict, attempt=1):
        return {"kind": "check", "test_id": test_id, "syscall": rule.split(".")[0], "call": "c()",
                "rule": rule if verdict == "pass" else None, "allowed": [{"rule": rule}],
                "observation": {"result": "0"}, "verdict": verdict, "attempt": attempt}
    header = {"run_id": "r", "profile": {"target": "gvisor", "target_kind": "sandbox",
                                         "kernel_release": "4.4.0"},
              "rules": [{"name": n} for n in ("bind.inet", "listen.inet", "listen.unix")],
              "expect": {"file": "/x/gvisor.toml", "entries": [{"index": 1, "rule": "bind.inet", "reason": "ports"}]}}
    checks = [chk("t1", "bind.inet", "fail"), chk("t1", "bind.inet", "fail", 2),
              chk("t2", "listen.inet", "pass"), chk("t3", "listen.unix", "fail", 1),
              chk("t3", "listen.unix", "pass", 2)]
    tests = [{"test_id": "t1", "outcome": "expected", "reason": "ports", "expected_by": [1]},
             {"test_id": "t2", "outcome": "passed"},
             {"test_id": "t3", "outcome": "failed", "flaky": True}]
    run = Run(path=str(tmp_path), header=header, checks=checks, tests=tests,
              end={"stale": [], "flaky": ["t3"]})
    m = matrix([run])
    c = m.columns[0]
    assert c.deviations_text == "1 known deviations, 1 unexpected (1 flaky), 0 stale"
    assert (c.checks_agreeing, c.checks_run) == (2, 3)      # the last attempt of each test
    assert c.failed_checks == 0 and c.expected_checks == 1
    assert m.unmet_expectations == [c.key]
    cells = {r.rule: r.cells[c.key] for r in m.rows}
    assert cells["bind.inet"] == EXPECTED and cells["listen.inet"] == "pass"
    assert cells["listen.unix"] == "not exercised"           # a flaky test's checks do not count
    tests[2] = {"test_id": "t3", "outcome": "passed"}
    assert matrix([run]).unmet_expectations == []
    assert FAIL not in cells.values()


def test_junit_counts_an_expected_failure_as_skipped(tmp_path):
    from harness.report.junit import junit_tree
    from harness.report.records import Run
    chk = {"kind": "check", "test_id": "t1", "syscall": "bind", "call": "bind()", "rule": None,
           "allowed": [{"rule": "bind.inet"}], "observation": {}, "verdict": "fail", "attempt": 1}
    passed = dict(chk, test_id="t2", attempt=2, verdict="pass", rule="bind.inet")
    run = Run(path=str(tmp_path), header={"profile": {}}, checks=[chk, dict(chk, test_id="t2"), passed],
              tests=[{"test_id": "t1", "outcome": "expected", "reason": "ports"},
                     {"test_id": "t2", "outcome": "passed", "flaky": True}])
    suite = junit_tree(run).getroot()[0]
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"
    assert "(known deviation): ports" in suite.find("testcase/skipped").get("message")


def test_an_intermittent_entry_is_never_stale(tmp_path):
    from harness.expect import load
    f = tmp_path / "e.toml"
    f.write_text('[[deviation]]\nrule = "bind.inet"\nreason = "sometimes"\nintermittent = true\n'
                 '[[deviation]]\nrule = "listen.inet"\nreason = "always"\n')
    ex = load(str(f))
    checks = [{"test_id": "t", "verdict": "pass", "allowed": [{"rule": "bind.inet"}, {"rule": "listen.inet"}]}]
    v = ex.verdicts([{"test_id": "t", "outcome": "passed"}], checks, "gvisor", "4.4.0")
    assert [e.rule for e in v["stale"]] == ["listen.inet"]
    assert [e.rule for e in v["unexercised"]] == ["bind.inet"]
    f.write_text('[[deviation]]\nrule = "bind.inet"\nreason = "x"\nintermittent = "yes"\n')
    import pytest
    from harness.expect import ExpectError
    with pytest.raises(ExpectError, match="intermittent must be a boolean"):
        load(str(f))
