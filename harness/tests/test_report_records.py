"""results.jsonl: the writer (append, unbuffered, several processes), the reader's problems,
run directories. Records are built by hand; no kernel behaviour is involved."""
from __future__ import annotations

import json
import os
import re
import signal

import pytest

from harness.report import records
from harness.report.records import Problem, ResultsWriter, load_run, new_run_dir, read_results


import report_sample as S  # noqa: E402  (harness/tests is on sys.path, like model_profile)


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return status


# -- writer ---------------------------------------------------------------------------------

def test_writer_round_trip_one_line_per_record(tmp_path):
    recs = S.standard_records()
    with ResultsWriter(tmp_path) as w:
        for r in recs:
            w.write(r)
    data = (tmp_path / "results.jsonl").read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == len(recs)
    got, problems = read_results(tmp_path)
    assert problems == []
    assert got == recs


def test_writer_appends_to_an_existing_file(tmp_path):
    recs = S.standard_records()
    with ResultsWriter(tmp_path) as w:
        w.write(recs[0])
    with ResultsWriter(tmp_path) as w:              # a second process opening the same run
        w.write(recs[1])
    got, problems = read_results(tmp_path / "results.jsonl")
    assert problems == [] and got == recs[:2]


def test_writer_record_is_on_disk_before_close(tmp_path):
    w = ResultsWriter(tmp_path)
    w.write(S.header())
    got, _ = read_results(tmp_path)                 # no flush, no close: nothing is buffered
    assert [r["kind"] for r in got] == ["header"]
    w.close()


def test_killed_writer_keeps_every_record(tmp_path):
    pid = os.fork()
    if pid == 0:                                    # child: write, then die without cleanup
        try:
            w = ResultsWriter(tmp_path)
            for r in S.standard_records(with_end=False):
                w.write(r)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    status = _wait(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    run = load_run(tmp_path)
    assert run.problems == [] and run.status == "crashed" and not run.complete
    assert len(run.checks) == 5 and len(run.tests) == 6


def test_concurrent_writers_never_interleave(tmp_path):
    """Like pytest-xdist workers: several processes, one writer each, one file."""
    procs, per_proc = 4, 250
    r_go, w_go = os.pipe()
    pids = []
    for p in range(procs):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(w_go)
                os.read(r_go, 1)                    # start together
                w = ResultsWriter(tmp_path)
                for i in range(per_proc):
                    # sizes from ~100 bytes to ~24 KiB, well past PIPE_BUF and a page
                    blob = f"p{p}i{i}-" * (1 + (i * 397) % 3000)
                    w.write(S.check(f"suite/test_x.py::t[{p}-{i}]", "listen", f"listen({p}, {i})", "fail",
                                    allowed=[("listen.backlog_clamp", "0")], reproducer=blob))
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(r_go)
    os.close(w_go)                                  # EOF releases every child at once
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in map(_wait, pids))
    got, problems = read_results(tmp_path)
    assert problems == []
    assert len(got) == procs * per_proc
    for p in range(procs):                          # each writer's records whole and in order
        mine = [r for r in got if r["call"].startswith(f"listen({p}, ")]
        assert [r["call"] for r in mine] == [f"listen({p}, {i})" for i in range(per_proc)]
        assert all(r["reproducer"].startswith(f"p{p}i") for r in mine)


def test_writer_refuses_an_invalid_record(tmp_path):
    with ResultsWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="missing required field.*verdict"):
            bad = S.check("t", "listen", "listen(3, 1)", "pass", allowed=[("a", "0")])
            del bad["verdict"]
            w.write(bad)
    assert (tmp_path / "results.jsonl").read_bytes() == b""


# -- reader ---------------------------------------------------------------------------------

def test_reader_reports_each_problem_with_file_and_line_and_keeps_valid_records(tmp_path):
    h = S.header()
    c = S.check("suite/test_listen.py::t", "listen", "listen(3, 1)", "pass", allowed=[("listen.backlog_clamp", "0")])
    missing = dict(c)
    del missing["syscall"]
    del missing["call"]
    lines = [
        json.dumps(h),                                          # 1
        json.dumps(c),                                          # 2
        "{not json",                                            # 3
        json.dumps(missing),                                    # 4
        json.dumps({"kind": "frobnicate", "x": 1}),             # 5
        "",                                                     # 6 (blank: ignored)
        json.dumps(dict(h, format=2)),                          # 7
        json.dumps([1, 2]),                                     # 8
        json.dumps(dict(c, verdict="maybe")),                   # 9
        json.dumps(S.test("suite/test_listen.py::t", "passed")),  # 10
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n" + '{"kind": "check", "test_id": "suite/te')  # 11: cut
    got, problems = read_results(path)
    assert [r["kind"] for r in got] == ["header", "check", "test"]
    by_line = {p.line: p for p in problems}
    assert sorted(by_line) == [3, 4, 5, 7, 8, 9, 11]
    assert all(p.path == str(path) for p in problems)
    assert "not valid JSON" in by_line[3].message
    assert "missing required fields: syscall, call" in by_line[4].message
    assert "unknown kind 'frobnicate'" in by_line[5].message
    assert "unknown format version 2" in by_line[7].message
    assert "not a JSON object" in by_line[8].message
    assert "verdict" in by_line[9].message and "'maybe'" in by_line[9].message
    assert "truncated last line" in by_line[11].message and by_line[11].truncated
    assert not any(p.truncated for p in problems if p.line != 11)
    assert str(by_line[4]) == f"{path}:4: {by_line[4].message}"


def test_reader_second_header_is_a_problem(tmp_path):
    S.write_run(tmp_path, [S.header(), S.header(run_id="other")])
    got, problems = read_results(tmp_path)
    assert [r["run_id"] for r in got] == ["20261122-023000-host-ab12"]
    assert [(p.line, "second header" in p.message) for p in problems] == [(2, True)]


def test_reader_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("record, why", [
    ({"kind": "header", "format": True, "run_id": "r", "started": "s", "profile": {}, "rules": []}, "format has type bool"),
    ({"kind": "header", "format": 1, "run_id": "r", "started": "s", "profile": {}, "rules": [{"x": 1}]}, "rules[0] has no name"),
    ({"kind": "test", "test_id": "t", "outcome": "xfailed"}, "outcome is 'xfailed'"),
    ({"kind": "end", "finished": "f", "counts": []}, "counts has type list"),
    ({"kind": "check", "test_id": "t", "syscall": "s", "call": "c", "rule": 3, "allowed": [],
      "observation": {}, "verdict": "pass"}, "rule has type int"),
    ({"test_id": "t"}, "unknown kind None"),
])
def test_invalid_says_why(record, why):
    assert why in records.invalid(record)


def test_invalid_accepts_extra_fields():
    assert records.invalid(dict(S.test("t", "passed"), worker="gw1")) is None


# -- runs -----------------------------------------------------------------------------------

def test_load_run_status(tmp_path):
    S.write_run(tmp_path / "complete", S.standard_records())
    S.write_run(tmp_path / "interrupted", S.standard_records(with_end=False), tail='{"kind": "te')
    S.write_run(tmp_path / "broken", S.standard_records()[1:])               # no header
    S.write_run(tmp_path / "bad-line", S.standard_records()[:2] + ["oops"])   # a bad line
    assert load_run(tmp_path / "complete").status == "complete"
    run = load_run(tmp_path / "interrupted")
    assert run.status == "crashed" and len(run.problems) == 1 and run.problems[0].truncated
    assert load_run(tmp_path / "broken").status == "broken"
    assert load_run(tmp_path / "bad-line").status == "broken"
    run = load_run(tmp_path / "complete")
    assert run.exercised() == {"socket.create": 1, "listen.backlog_clamp": 2, "listen.not_bound_dgram": 1}
    assert run.failing_rules() == {"socket.type_invalid"}


def test_load_run_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no results.jsonl"):
        load_run(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        load_run(tmp_path / "file")


def test_new_run_dir_and_latest_link(tmp_path):
    base = tmp_path / "reports"
    first = new_run_dir(base, target="host")
    name = os.path.basename(first)
    assert re.fullmatch(r"\d{8}-\d{6}-host-[0-9a-f]{4}", name), name
    assert os.path.isdir(first)
    assert os.readlink(base / "latest") == name                     # relative link
    second = new_run_dir(base, target="qemu 5.10/x86")
    assert re.fullmatch(r"\d{8}-\d{6}-qemu-5.10-x86-[0-9a-f]{4}", os.path.basename(second))
    assert os.path.realpath(base / "latest") == os.path.realpath(second)
    assert sorted(os.listdir(base)) == sorted([name, os.path.basename(second), "latest"])  # no temp left


def test_new_run_dir_survives_a_real_latest_directory(tmp_path):
    (tmp_path / "latest").mkdir()
    path = new_run_dir(tmp_path)
    assert os.path.isdir(path) and (tmp_path / "latest").is_dir() and not (tmp_path / "latest").is_symlink()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".latest-")]


def test_problem_str():
    assert str(Problem("r/results.jsonl", 7, "bad")) == "r/results.jsonl:7: bad"


def test_exercised_counts_also_rules_and_coverage_counts_applicable_rules(tmp_path):
    recs = S.standard_records()
    recs[0]["rules"][5]["applies"] = False                      # bind.never_seen: not this kernel
    recs[1]["also"] = ["bind.in_use"]                           # socket.create also exercised bind.in_use
    recs.insert(2, S.check("suite/test_x.py::t", "bind", "bind(3, ...)", "fail",
                           allowed=[("bind.in_use", "-EADDRINUSE")], also=["socket.type_invalid"]))
    run = load_run(S.write_run(tmp_path, recs))
    assert run.exercised()["bind.in_use"] == 1
    assert "socket.type_invalid" not in run.exercised()        # a failing check exercises nothing
    assert "bind.never_seen" not in run.applicable_rules() and len(run.applicable_rules()) == 5


def test_divergences_are_grouped_by_the_rules_contradicted_and_thin_rules_listed(tmp_path):
    """Failing checks with the same divergence key are one distinct difference; an older
    record without ``divergence`` is grouped by its allowed rules; a check counts a rule only
    through ``exercised`` when the record has it."""
    port = {"kind": "state", "rules": ["bind.tcp_ephemeral_odd"], "documented": False,
            "key": "state sockname: bind.tcp_ephemeral_odd"}
    recs = [S.header(rules=[S.rule("bind.ok", "bind", "0", "c"),
                            S.rule("bind.tcp_ephemeral_odd", "bind", "odd", "c"),
                            S.rule("fd.cloexec_flag", "fd", "set", "c")]),
            S.check("t1", "bind", "bind(3, 0)", "fail", allowed=[("bind.ok", "0")], divergence=port),
            S.check("t2", "bind", "bind(4, 0)", "fail", allowed=[("bind.ok", "0")], divergence=port),
            S.check("t3", "socket", "socket(1, 99, 0)", "fail", allowed=[("socket.type_invalid", "-1 EINVAL")]),
            S.check("t4", "bind", "bind(3, 0)", "pass", allowed=[("bind.ok", "0")],
                    also=["fd.cloexec_flag"], exercised=["bind.ok"]),
            S.test("t1", "failed"), S.test("t2", "failed"), S.test("t3", "failed"), S.test("t4", "passed"),
            S.end(1, 3, 0)]
    S.write_run(tmp_path, recs)
    run = load_run(tmp_path)
    groups = run.divergences()
    assert [(g["key"], g["checks"], g["tests"]) for g in groups] == [
        ("state sockname: bind.tcp_ephemeral_odd", 2, ["t1", "t2"]),
        ("answer: socket.type_invalid", 1, ["t3"])]
    assert groups[0]["documented"] is False and groups[1]["documented"] is None
    assert run.failing_rules() == {"bind.tcp_ephemeral_odd", "socket.type_invalid"}
    assert run.exercised() == {"bind.ok": 1}            # fd.cloexec_flag's effect was not compared
    assert run.thin_rules() == {"bind.ok": 1, "bind.tcp_ephemeral_odd": 0, "fd.cloexec_flag": 0}

    from harness.report.merge import matrix
    col = matrix([run]).columns[0]
    assert col.divergent_rules == ["bind.tcp_ephemeral_odd", "socket.type_invalid"]
    assert col.distinct_text == ("2 distinct divergences in 2 rules (0 of documented behaviour, "
                                 "2 implementation details)")


def test_expect_draft_has_one_entry_per_contradicted_rule_and_loads(tmp_path):
    from harness.expect import load
    from harness.expect.draft import draft
    port = {"kind": "state", "rules": ["bind.tcp_ephemeral_odd"], "documented": False,
            "key": "state sockname: bind.tcp_ephemeral_odd"}
    recs = [S.header(),
            S.check("t1", "bind", "bind(3, 0)", "fail", allowed=[("bind.ok", "0")], divergence=port),
            S.check("t2", "bind", "bind(4, 0)", "fail", allowed=[("bind.ok", "0")], divergence=port),
            S.test("t1", "failed"), S.test("t2", "failed"), S.test("t3", "failed", "ModelGap: no rule"),
            S.end(0, 3, 0)]
    S.write_run(tmp_path / "run", recs)
    keep = tmp_path / "keep.toml"
    keep.write_text('[[deviation]]\nrule = "bind.tcp_ephemeral_odd"\nreason = "no parity split"\n'
                    'link = "https://example.org/1"\n')
    text = draft(load_run(tmp_path / "run"), str(keep))
    (tmp_path / "draft.toml").write_text(text)
    entries = load(str(tmp_path / "draft.toml")).entries
    assert [(e.rule, e.test, e.reason, e.link) for e in entries] == [
        ("bind.tcp_ephemeral_odd", None, "no parity split", "https://example.org/1"),
        (None, "t3", "observed: ModelGap: no rule", None)]
    assert "# 2 checks in 2 tests; implementation detail" in text


def test_prune_runs_keeps_the_newest_renamed_and_latest(tmp_path):
    from harness.report.records import prune_runs
    names = [f"20261201-0000{i:02d}-host-ab{i:02d}" for i in range(25)]
    for n in names:
        (tmp_path / n).mkdir()
    (tmp_path / "my-good-run").mkdir()                       # renamed by the user: never deleted
    os.symlink(names[3], tmp_path / "latest")                # pointed back at an old run
    deleted = prune_runs(tmp_path, keep=20, current=str(tmp_path / names[-1]))
    assert sorted(os.path.basename(p) for p in deleted) == [names[i] for i in (0, 1, 2, 4)]
    left = sorted(os.listdir(tmp_path))
    assert "my-good-run" in left and names[3] in left and names[5] in left
    assert prune_runs(tmp_path, keep=0) == []                # 0 keeps all
    assert prune_runs(tmp_path / "missing", keep=1) == []


def test_expect_draft_over_several_runs_marks_intermittent_entries(tmp_path):
    from harness.expect import load
    from harness.expect.draft import draft
    port = {"kind": "state", "rules": ["bind.tcp_ephemeral_odd"], "documented": False,
            "key": "state sockname: bind.tcp_ephemeral_odd"}
    acc = {"kind": "state", "rules": ["getsockopt.so_acceptconn"], "documented": True,
           "key": "state SO_ACCEPTCONN: getsockopt.so_acceptconn"}
    one = [S.header(), S.check("t1", "bind", "bind(3, 0)", "fail", allowed=[("bind.ok", "0")], divergence=port),
           S.check("t2", "listen", "listen(3, 1)", "fail", allowed=[("listen.ok", "0")], divergence=acc),
           S.test("t1", "failed"), S.test("t2", "failed"), S.end(0, 2, 0)]
    two = [S.header(), S.check("t1", "bind", "bind(3, 0)", "pass", allowed=[("bind.ok", "0")]),
           S.check("t2", "listen", "listen(3, 1)", "fail", allowed=[("listen.ok", "0")], divergence=acc),
           S.test("t1", "passed"), S.test("t2", "failed"), S.end(1, 1, 0)]
    text = draft(load_run(S.write_run(tmp_path / "a", one)), None, [load_run(S.write_run(tmp_path / "b", two))])
    (tmp_path / "d.toml").write_text(text)
    entries = {e.rule: e.intermittent for e in load(str(tmp_path / "d.toml")).entries}
    assert entries == {"bind.tcp_ephemeral_odd": True, "getsockopt.so_acceptconn": False}
