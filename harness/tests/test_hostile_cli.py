"""Bad and unusual inputs to the CLI and the pytest plugin, as a new user would give them: each
gets one line on stderr and exit status 2 (bad input), never a traceback; a run's record says
how it ended (complete / interrupted (SIGNAL) / crashed). The results files are the corpus in
data/bad_inputs/; the runs put faults in with session_faults.py."""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.expect.draft import draft
from harness.report.html import environment, report_context
from harness.report.junit import junit_tree
from harness.report.merge import matrix
from harness.report.records import MAX_DEPTH, invalid, load_run

import report_sample as S  # noqa: E402  (harness/tests is on sys.path)

ROOT = str(Path(__file__).resolve().parents[2])
CORPUS = Path(__file__).parent / "data" / "bad_inputs"


def sockspec(capsys, *argv) -> tuple[int, list[str]]:
    """Run the CLI in this process: its exit status and its stderr lines."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def run_dir_of(tmp_path, corpus_file: str) -> str:
    d = tmp_path / corpus_file.split(".")[0]
    d.mkdir()
    shutil.copy(CORPUS / corpus_file, d / "results.jsonl")
    return str(d)


# --------------------------------------------------------------------------- hostile JSONL

# corpus file -> (first bad line, what its one line says, how many problem lines)
HOSTILE = {
    "deep_nesting.jsonl": (2, f"JSON nested more than {MAX_DEPTH} levels deep", 1),
    "deep_within_python.jsonl": (3, f"JSON nested more than {MAX_DEPTH} levels deep", 1),
    "wrong_types.jsonl": (3, "check record: attempt has type str", 5),
    "wrong_type_header.jsonl": (1, "header record: profile.capabilities has type str, not a list", 1),
    "binary.jsonl": (1, "binary data, not UTF-8 JSON lines: this is not a results file", 1),
    "empty.jsonl": (1, "empty results file: no records", 1),
    "blank_lines.jsonl": (1, "empty results file: no records", 1),
    "csv.jsonl": (1, "not valid JSON", 11),               # 10 named, then "... and 15 more"
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["show", "junit", "merge"])
def test_hostile_results_file_is_one_clear_line_per_problem_and_exit_2(tmp_path, capsys, name, command):
    line, message, lines = HOSTILE[name]
    d = run_dir_of(tmp_path, name)
    argv = {"show": ["report", "show", d], "junit": ["report", "junit", d],
            "merge": ["report", "merge", d, "-o", str(tmp_path / "m")]}[command]
    code, err = sockspec(capsys, *argv)
    assert code == 2, err
    if command == "merge":                     # merge adds its summary line first
        err = [e for e in err if e.startswith("sockspec: ")]
    assert len(err) == lines, err
    assert err[0].startswith(f"sockspec: {d}/results.jsonl:{line}: ") and message in err[0], err
    if name == "csv.jsonl":
        assert err[-1] == "sockspec: ... and 15 more bad lines"


def test_wrong_types_name_each_bad_line(tmp_path):
    run = load_run(run_dir_of(tmp_path, "wrong_types.jsonl"))
    assert [(p.line, p.message) for p in run.problems] == [
        (3, "check record: attempt has type str"),
        (4, "check record: allowed[0].rule has type int"),
        (5, "check record: also[0] has type int"),
        (6, "test record: duration has type str"),
        (7, "end record: counts.passed has type str"),
    ]
    assert len(run.checks) == 1 and run.status == "broken"


VALUES = [None, 1, 1.5, "x", [], {}, True, [1], [None], ["x"], [{}], {"a": 1}]


def _paths(obj, prefix=()):
    """Every field of a record, nested ones too (the first two items of a list)."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj[:2]) if isinstance(obj, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _rich_records() -> list[dict]:
    """A run using every optional field the readers know."""
    recs = S.standard_records()
    recs[0]["expect"] = {"file": "x.toml", "entries": [{"index": 1, "rule": "socket.type_invalid", "reason": "r"}]}
    recs[1].update(also=["bind.in_use"], exercised=["socket.create"], attempt=1)
    recs[5]["divergence"] = {"kind": "answer", "rules": ["socket.type_invalid"], "key": "answer: x",
                             "documented": True}
    recs[9].update(attempts=2, attempt_outcomes=["failed", "failed"], flaky=False)
    recs[6]["expected_by"] = [1]
    recs[-1].update(checks=5, flaky=[], expected=0, interrupted=None,
                    stale=[{"index": 1, "rule": "socket.type_invalid", "reason": "r"}])
    return recs


def test_a_record_the_schema_accepts_never_breaks_a_reader(tmp_path):
    """Every field of every kind of record, set to a value of each JSON type: the record is
    refused as a bad line, or every reader (HTML, JUnit, matrix, expectation draft) copes."""
    base = _rich_records()
    assert [invalid(r) for r in base] == [None] * len(base)
    report = environment().get_template("report.html.j2")
    matrix_page = environment().get_template("matrix.html.j2")
    d = S.write_run(tmp_path / "run", base)
    accepted = refused = 0
    for i, rec in enumerate(base):
        for path in list(_paths(rec)):
            if path == ("kind",):
                continue
            for value in VALUES:
                mutated = copy.deepcopy(rec)
                _set(mutated, path, value)
                if invalid(mutated) is not None:
                    refused += 1
                    continue
                accepted += 1
                run = load_run(d)                          # a fresh Run, then the mutation in it
                records = base[:i] + [mutated] + base[i + 1:]
                run.header, run.end = records[0], records[-1]
                run.checks = [r for r in records if r["kind"] == "check"]
                run.tests = [r for r in records if r["kind"] == "test"]
                try:
                    report.render(**report_context(run))
                    junit_tree(run)
                    draft(run, None)
                    matrix_page.render(m=matrix([run]))
                except Exception as exc:                   # noqa: BLE001 - name the case
                    pytest.fail(f"record {i} {'.'.join(map(str, path))} = {value!r}: "
                                f"{type(exc).__name__}: {exc}")
    assert accepted > 300 and refused > 1000            # both sides of the schema were tried


# --------------------------------------------------------------------------- output paths

def _junit(capsys, tmp_path, out) -> tuple[int, list[str]]:
    d = S.write_run(tmp_path / "good", S.standard_records())
    return sockspec(capsys, "report", "junit", d, "-o", str(out))


def test_output_onto_a_device_is_refused_and_the_device_kept(tmp_path, capsys):
    # a device node of our own like /dev/full (1, 7): a sockspec that replaced it would not
    # take the machine's /dev/full with it
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD (run as root)")
    code, err = _junit(capsys, tmp_path, full)
    assert code == 2 and err == [f"sockspec: error: {full}: is a character device; only a regular file is replaced"]
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_output_onto_a_directory_fifo_or_socket_is_refused(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "sock"))
    s.close()
    for name, what in (("dir", "a directory"), ("fifo", "a FIFO"), ("sock", "a socket")):
        code, err = _junit(capsys, tmp_path, tmp_path / name)
        assert code == 2 and err == [f"sockspec: error: {tmp_path / name}: is {what}; only a regular file is replaced"]
        shutil.rmtree(tmp_path / "good")
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)


def test_output_replaces_a_regular_file(tmp_path, capsys):
    (tmp_path / "old.xml").write_text("old")
    code, err = _junit(capsys, tmp_path, tmp_path / "old.xml")
    assert code == 0 and err == [] and (tmp_path / "old.xml").read_text().startswith("<?xml")


def test_output_where_a_file_is_a_directory_or_unwritable_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, err = _junit(capsys, tmp_path, tmp_path / "afile" / "x.xml")
    assert code == 2 and err == [f"sockspec: error: {tmp_path / 'afile'}: exists and is not a directory"]
    d = S.write_run(tmp_path / "run", S.standard_records())
    code, err = sockspec(capsys, "report", "merge", d, "-o", str(tmp_path / "afile"))
    assert code == 2 and err == [f"sockspec: error: {tmp_path / 'afile'}: exists and is not a directory"]
    code, err = sockspec(capsys, "report", "junit", d, "-o", "/proc/sockspec-junit.xml")   # read-only
    assert code == 2 and err == ["sockspec: error: /proc/sockspec-junit.xml: cannot write in /proc: "
                                 "No such file or directory"]
    (tmp_path / "run" / "report.html").mkdir()              # report show's output is a directory
    code, err = sockspec(capsys, "report", "show", d)
    assert code == 2 and err == [f"sockspec: error: {d}/report.html: is a directory; only a regular file is replaced"]


def test_matrix_output_that_is_a_file_is_refused_before_any_target_runs(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, err = sockspec(capsys, "matrix", "--target", "host", "-o", str(tmp_path / "afile"))
    assert code == 2 and err == [f"sockspec: error: {tmp_path / 'afile'}: exists and is not a directory"]


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "0", "soon"])
def test_matrix_timeout_must_be_a_finite_number_above_zero(capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["matrix", "--target", "host", f"--timeout={value}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"sockspec: error: argument --timeout: '{value}' ")


# --------------------------------------------------------------------------- runs

def _pytest(tmp_path, *args, env=None, timeout=300, popen=False):
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "harness.tests.session_faults", "-o", "addopts=", *args]
    env = dict(os.environ, **(env or {}))
    if popen:
        # the run starts with SIGINT at its default even when these tests run in a background
        # job (a non-interactive shell's `cmd &` ignores SIGINT, the child inherits the ignore
        # and Python then installs no KeyboardInterrupt handler: the SIGINT sent would do nothing)
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in open(os.path.join(run_dir, "results.jsonl"))]


def test_run_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = _pytest(tmp_path, f"--sockspec-run-dir={tmp_path / 'afile'}", "suite/test_socket.py")
    assert r.returncode == 2 and "INTERNALERROR" not in r.stdout + r.stderr
    assert r.stderr.splitlines() == [f"sockspec: error: --sockspec-run-dir {tmp_path / 'afile'}: not a directory"]
    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--run-dir", str(tmp_path / "afile")],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "INTERNALERROR" not in r.stdout + r.stderr
    assert r.stderr.splitlines() == [f"sockspec: error: --sockspec-run-dir {tmp_path / 'afile'}: not a directory"]


def test_a_reused_run_dir_is_refused_and_left_as_it_was(tmp_path):
    d = S.write_run(tmp_path / "old", S.standard_records())
    before = Path(d, "results.jsonl").read_bytes()
    r = _pytest(tmp_path, f"--sockspec-run-dir={d}", "suite/test_socket.py")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"sockspec: error: --sockspec-run-dir {d}: already holds a run "
                                     f"(results.jsonl); refusing to mix two runs: give a new or empty directory"]
    assert Path(d, "results.jsonl").read_bytes() == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_recorded_as_interrupted_and_shown(tmp_path, capsys, sig):
    stall, run_dir = tmp_path / "stalled", tmp_path / "run"
    p = _pytest(tmp_path, f"--sockspec-run-dir={run_dir}", "suite/test_socket.py",
                env={"SOCKSPEC_FAULT_STALL": str(stall)}, popen=True)
    try:
        deadline = time.monotonic() + 120
        while not stall.exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stall.exists(), "the run never reached its third test"
        p.send_signal(sig)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    name = signal.Signals(sig).name
    assert p.returncode == 2, out[-2000:]
    assert "Traceback" not in out and "leaked descriptors" not in out, out[-3000:]
    end = _records(run_dir)[-1]
    assert end["kind"] == "end" and end["interrupted"] == name and end["exit_status"] == 2
    run = load_run(run_dir)
    assert run.status == f"interrupted ({name})"
    code, err = sockspec(capsys, "report", "show", str(run_dir))
    assert code == 1 and err == [f"sockspec: {run_dir}: interrupted ({name}): a signal stopped the run; "
                                 f"the tests after its last record did not run"]
    html = (run_dir / "report.html").read_text()
    banner = html.index('id="incomplete"')
    assert banner < html.index('id="profile"') and f"interrupted ({name})" in html[banner:banner + 300]


def test_a_killed_run_is_crashed_and_says_so(tmp_path, capsys):
    stall, run_dir = tmp_path / "stalled", tmp_path / "run"
    p = _pytest(tmp_path, f"--sockspec-run-dir={run_dir}", "suite/test_socket.py",
                env={"SOCKSPEC_FAULT_STALL": str(stall)}, popen=True)
    deadline = time.monotonic() + 120
    while not stall.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.kill()
    p.communicate(timeout=60)
    assert stall.exists()
    assert load_run(run_dir).status == "crashed"
    code, err = sockspec(capsys, "report", "show", str(run_dir))
    assert code == 1 and err == [f"sockspec: {run_dir}: crashed: the run has no end record (it was killed, "
                                 f"e.g. by SIGKILL, or its process died); the tests after its last record did not run"]
    code, err = sockspec(capsys, "report", "junit", str(run_dir))
    assert code == 1 and len(err) == 1 and "crashed" in err[0]
    assert 'id="incomplete"' in (run_dir / "report.html").read_text()


def test_a_complete_run_ends_complete(tmp_path, capsys):
    d = S.write_run(tmp_path / "run", S.standard_records())
    code, err = sockspec(capsys, "report", "show", d)
    assert code == 0 and err == [] and load_run(d).status == "complete"
    assert 'id="incomplete"' not in Path(d, "report.html").read_text()


def test_a_teardown_failure_is_one_test_record_and_one_junit_case(tmp_path, capsys):
    run_dir = tmp_path / "run"
    r = _pytest(tmp_path, f"--sockspec-run-dir={run_dir}", "suite/test_socket.py", "-k", "inet-stream",
                env={"SOCKSPEC_FAULT_TEARDOWN": "2"})
    assert r.returncode == 1, r.stdout[-2000:]
    tests = [t for t in _records(run_dir) if t["kind"] == "test"]
    ids = [t["test_id"] for t in tests]
    assert len(ids) == len(set(ids)) > 2
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert len(failed) == 2 and all("teardown: " in t["reason"] and "injected teardown failure" in t["reason"]
                                    for t in failed)
    code, _ = sockspec(capsys, "report", "junit", str(run_dir))
    cases = (run_dir / "junit.xml").read_text().count("<testcase ")
    assert code == 0 and cases == len(ids)


def test_a_blocking_fixture_setup_is_bounded_by_the_per_test_timeout(tmp_path):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    r = _pytest(tmp_path, f"--sockspec-run-dir={run_dir}", "--sockspec-timeout=1",
                "suite/test_socket.py", "-k", "inet-stream", env={"SOCKSPEC_FAULT_SETUP_BLOCK": "1"},
                timeout=120)
    assert time.monotonic() - started < 60
    assert r.returncode == 1 and "test setup exceeded its 1 s bound" in r.stdout, r.stdout[-2000:]
    tests = [t for t in _records(run_dir) if t["kind"] == "test"]
    assert tests[0]["outcome"] == "failed" and "setup exceeded its 1 s bound" in tests[0]["reason"]
    assert len(tests) > 2 and all(t["outcome"] == "passed" for t in tests[1:])
    assert _records(run_dir)[-1]["kind"] == "end"


def test_the_unix_path_directory_is_removed_after_a_failing_run(tmp_path):
    run_dir, where = tmp_path / "run", tmp_path / "unix_dir"
    r = _pytest(tmp_path, f"--sockspec-run-dir={run_dir}", "suite/test_bind.py", "-k", "unix-path",
                env={"SOCKSPEC_FAULT_UNIX_DIR": str(where), "SOCKSPEC_FAULT_TEARDOWN": "1"})
    assert r.returncode == 1, r.stdout[-2000:]
    used = where.read_text()
    assert used.startswith("/tmp/sockspec-") and not os.path.exists(used)
