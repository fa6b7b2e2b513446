"""sockspec report diff OLD NEW: checks and rules newly failing/passing, appeared/disappeared,
and profile/marker differences; the plugin's diff against the previous run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import report_sample as S

from harness.report.diff import diff_runs, previous_run, text, write_previous_diff
from harness.report.records import load_run


def _runs(tmp_path):
    old = S.standard_records(run_id="20261122-023000-host-ab12")             # socket type check fails
    new = S.standard_records(run_id="20261122-033000-host-cd34", bad_type_verdict="pass",
                             release="6.12.0-test")
    new[0]["profile"]["markers"] = {"CONFIG_AF_UNIX_OOB": {"value": "y", "known": True, "source": "cfg"}}
    new[0]["rules"].append(S.rule("bind.brand_new", "bind", "0", "net/socket.c __sys_bind()"))
    new.insert(1, S.check(S.T_LISTEN, "listen", "listen(3, 7)", "fail",
                          allowed=[("listen.backlog_clamp", "0")], observed="-EINVAL"))
    # the same check, numbered differently: not a difference
    new[2]["call"] = "socket(AF_INET, SOCK_STREAM, 0)"
    return (S.write_run(tmp_path / "20261122-023000-host-ab12", old),
            S.write_run(tmp_path / "20261122-033000-host-cd34", new))


def test_diff_categories(tmp_path):
    a, b = _runs(tmp_path)
    d = diff_runs(load_run(a), load_run(b))
    assert [c["call"] for c in d.newly_passing] == ["socket(AF_INET, 99, 0)"]
    # by position: the test's first listen now fails, its second is new
    assert [c["call"] for c in d.newly_failing] == ["listen(3, 7)"]
    assert [c["call"] for c in d.appeared] == ["listen(3, -1)"]
    assert d.disappeared == []
    assert d.rules_newly_passing == ["socket.type_invalid"]
    assert d.rules_newly_failing == ["listen.backlog_clamp"]
    assert d.rules_appeared == ["bind.brand_new"]
    assert ("kernel_release", "6.1.0-test", "6.12.0-test") in d.profile
    assert d.markers == [("CONFIG_AF_UNIX_OOB", "unknown", "y")]
    out = text(d)
    assert "newly passing checks: 1" in out and "rules newly failing: 1: listen.backlog_clamp" in out
    assert "marker CONFIG_AF_UNIX_OOB: unknown -> y" in out


def test_diff_cli_text_html_and_bad_input(tmp_path):
    a, b = _runs(tmp_path)
    html = tmp_path / "d.html"
    r = subprocess.run([sys.executable, "-m", "harness.cli", "report", "diff", a, b, "-o", str(html)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "rules that appeared: 1: bind.brand_new" in r.stdout
    page = html.read_text()
    assert 'id="newly-passing"' in page and "6.12.0-test" in page
    r = subprocess.run([sys.executable, "-m", "harness.cli", "report", "diff", a, str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_previous_run_and_its_diff_page(tmp_path):
    a, b = _runs(tmp_path)
    (tmp_path / "my-renamed-run").mkdir()                     # not a run id: never "previous"
    assert previous_run(b) == os.path.abspath(a) and previous_run(a) is None
    path = write_previous_diff(b)
    assert path and Path(path).name == "diff-previous.html"
    from harness.report.html import render_run
    assert 'href="diff-previous.html"' in Path(render_run(b)).read_text()
