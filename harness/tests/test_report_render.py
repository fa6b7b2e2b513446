"""The HTML report, JUnit XML, the cross-target merge and ``sockspec report``, from hand-built
records (no kernel behaviour involved)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import harness.cli
from harness.report.html import render_run, syscall_of_test
from harness.report.junit import write_junit
from harness.report.merge import FAIL, NOT_EXERCISED, PASS, merge
from harness.report.records import load_run

REPO = Path(__file__).resolve().parents[2]


import report_sample as S  # noqa: E402  (harness/tests is on sys.path, like model_profile)


def _by_id(html: str, ident: str) -> str:
    m = re.search(rf'id="{re.escape(ident)}"[^>]*>(.*?)<', html, re.S)
    assert m, f"no element #{ident}"
    return m.group(1).strip()


def _section(html: str, ident: str) -> str:
    m = re.search(rf'<section[^>]*id="{re.escape(ident)}".*?</section>', html, re.S)
    assert m, f"no section #{ident}"
    return m.group(0)


def main(argv) -> int:
    """The real ``sockspec`` entry with only this subcommand loaded, so the report tests do
    not depend on the state of the other subcommands' modules."""
    saved = harness.cli.SUBCOMMANDS
    harness.cli.SUBCOMMANDS = ("harness.report.cli",)
    try:
        return harness.cli.main(argv)
    finally:
        harness.cli.SUBCOMMANDS = saved


@pytest.fixture
def run_dir(tmp_path):
    return S.write_run(tmp_path / "run", S.standard_records())


# -- HTML -----------------------------------------------------------------------------------

def test_report_summary_and_coverage(run_dir):
    html = Path(render_run(run_dir)).read_text()
    assert _by_id(html, "count-passed") == "3"
    assert _by_id(html, "count-failed") == "1"
    assert _by_id(html, "count-skipped") == "2"
    assert _by_id(html, "count-checks") == "5"
    assert _by_id(html, "count-checks-failed") == "1"
    assert _by_id(html, "coverage-line") == "rules exercised: 3/6"
    never = re.findall(r'class="rule-never">([^<]+)<', html)
    assert never == ["bind.in_use", "bind.never_seen", "socket.type_invalid"]


def test_report_profile_header(run_dir):
    html = Path(render_run(run_dir)).read_text()
    profile = re.search(r'<table class="kv" id="profile">.*?</table>', html, re.S).group(0)
    for text in ("host (linux)", "6.1.0-test", "x86_64", "<td>root</td>", "CAP_NET_ADMIN, CAP_NET_RAW",
                 "cffi", "private", "unshare(CLONE_NEWNET)", "available", "int $0x80 reaches i386 socketcall",
                 "2026-11-22T02:30:00+00:00", "<td>4096</td>", "20261122-023000-host-ab12"):
        assert text in profile, text
    assert _by_id(html, "status").startswith("complete")


def test_report_failures_first_with_reproducer_and_citations(run_dir):
    html = Path(render_run(run_dir)).read_text()
    assert html.index('id="failures"') < html.index('id="syscall-listen"') < html.index('id="syscall-socket"')
    failures = _section(html, "failures")
    assert "socket(AF_INET, 99, 0) returned -ESOCKTNOSUPPORT, allowed: -EINVAL" in failures
    assert "# reproduce socket(AF_INET, 99, 0)" in failures and '<pre>import os' in failures
    assert "socket.type_invalid: -EINVAL" in failures                 # the allowed set
    assert "6.1.0-test<br>socket.changed: does not hold by marker" in failures   # the basis
    assert "x.y = no (BTF)" in failures                                  # the markers read
    considered = re.search(r'<details class="considered".*?</details>', failures, re.S).group(0)
    assert "socket.type_flags_invalid" in considered                    # the rules considered
    assert ("guard `if flags &amp; ~(SOCK_CLOEXEC | SOCK_NONBLOCK):` at harness/model/socket.py:240 "
            "was false") in considered and "harness/model/socket.py:241" in considered
    socket = _section(html, "syscall-socket")
    rows = re.findall(r'<tr class="check v-(\w+)"', socket)
    assert rows == ["fail"]                           # failing rows are HTML, failures first
    assert [c[0] for c in _lazy_checks(html)["socket"]] == ["socket(AF_INET, SOCK_STREAM, 0)"]
    assert 'data-lazy="socket" data-count="1"' in socket and "show the 1 passing check" in socket
    listen = _section(html, "syscall-listen")
    assert [c[1] for c in _lazy_checks(html)["listen"]].count("listen.backlog_clamp") == 2   # per check
    assert "SOCK_ACCEPTCONN" not in listen
    # the citation is written once, in the rule table, linked to the source at the run's version
    # and to the man page
    rule_row = re.search(r'<tr id="rule-listen.backlog_clamp".*?</tr>', html, re.S).group(0)
    assert ('<a href="https://elixir.bootlin.com/linux/v6.1/source/net/socket.c" rel="noreferrer" '
            'target="_blank">net/socket.c</a>') in rule_row
    assert 'href="https://elixir.bootlin.com/linux/v6.1/A/ident/__sys_listen"' in rule_row
    assert 'href="https://man7.org/linux/man-pages/man2/listen.2.html"' in rule_row


def test_report_coverage_uses_also_and_leaves_out_inapplicable_rules(tmp_path):
    recs = S.standard_records()
    recs[0]["rules"][5]["applies"] = False                      # bind.never_seen
    recs[1]["also"] = ["bind.in_use"]
    html = Path(render_run(S.write_run(tmp_path / "r", recs))).read_text()
    assert _by_id(html, "coverage-line") == "rules exercised: 4/5"
    assert re.findall(r'class="rule-never">([^<]+)<', html) == ["socket.type_invalid"]
    assert "bind.never_seen" in re.search(r'id="inapplicable">.*?</p>', html, re.S).group(0)
    assert _lazy_checks(html)["socket"][0][2] == ["bind.in_use"]          # shown as "also"


def test_report_chart_counts_skips_by_file_name_and_by_checks(tmp_path):
    recs = S.standard_records(with_end=False)
    # a skipped test with a check of another syscall maps to that syscall, not its file name
    recs += [S.check("suite/test_misc.py::t_acc", "accept", "accept(3, NULL, NULL)", "pass",
                     allowed=[("socket.create", "4")], observed="4"),
             S.test("suite/test_misc.py::t_acc", "skipped", "skipped after its first check")]
    html = Path(render_run(S.write_run(tmp_path / "r", recs))).read_text()
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    groups = dict(re.findall(r'data-syscall="(\w+)">(.*?)</g>', chart, re.S))
    assert sorted(groups) == ["accept", "bind", "listen", "sendmsg", "socket"]

    def parts(name):
        return re.findall(r'<rect class="(\w+)"', groups[name])
    assert parts("bind") == ["skip"] and parts("sendmsg") == ["skip"]
    assert parts("listen") == ["pass"] and parts("socket") == ["pass", "fail"]
    assert parts("accept") == ["pass", "skip"]
    assert "<tspan class=\"pass\">3</tspan>" in groups["listen"]


def test_report_escapes_record_text(tmp_path):
    recs = S.standard_records()
    recs.insert(1, S.check("suite/test_x.py::t", "listen", "<img src=x onerror=alert(1)>", "fail",
                           allowed=[("listen.backlog_clamp", "</pre><script>alert(2)</script>")]))
    html = Path(render_run(S.write_run(tmp_path / "r", recs))).read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(2)" not in html
    assert html.count("<script>") == 2                  # ours, inline: the lazy rows and the filter


def test_report_is_self_contained(run_dir):
    html = Path(render_run(run_dir)).read_text()
    # nothing is fetched: no src= at all, and href= only on links a reader clicks (in-page
    # anchors, and citations opening the kernel source or a man page in a new tab)
    assert not re.findall(r"<[a-z]+[^>]*\ssrc=", html)
    external = re.findall(r'<([a-z]+)[^>]*\shref="(?!#)([^"]*)"', html)
    assert external and all(tag == "a" and re.match(r"https://(elixir\.bootlin\.com|man7\.org)/", url)
                            for tag, url in external), external
    without_links = re.sub(r'<a href="https://[^"]*"', "<a", html.replace('xmlns="http://www.w3.org/2000/svg"', ""))
    for fetch in ("http://", "https://", "<link", "@import", "url(", "fetch(", "XMLHttpRequest"):
        assert fetch not in without_links, fetch


def test_report_interrupted_and_problems(tmp_path):
    d = S.write_run(tmp_path / "r", S.standard_records(with_end=False), tail='{"kind": "che')
    html = Path(render_run(d)).read_text()
    assert 'id="incomplete"' in html and "crashed: the run has no end record" in html
    problems = re.search(r'id="problems">.*?</div>', html, re.S).group(0)
    assert "results.jsonl:13: truncated last line" in problems
    assert _by_id(html, "count-checks") == "5"


def test_report_without_header_still_renders(tmp_path):
    d = S.write_run(tmp_path / "r", S.standard_records()[1:])
    html = Path(render_run(d)).read_text()
    assert "No header record" in html and _by_id(html, "count-passed") == "3"


def test_report_empty_run(tmp_path):
    html = Path(render_run(S.write_run(tmp_path / "r", [S.header()]))).read_text()
    assert 'id="empty"' in html and _by_id(html, "coverage-line") == "rules exercised: 0/6"


def test_report_5000_checks_passes_compressed(tmp_path):
    recs = [S.header()]
    for i in range(5000):
        recs.append(S.check(f"suite/test_s{i % 20}.py::t[{i}]", f"s{i % 20}", f"s{i % 20}({i})",
                            "fail" if i % 250 == 0 else "pass",
                            allowed=[("socket.create", "3"), ("bind.in_use", "-EADDRINUSE")], observed="3"))
    d = S.write_run(tmp_path / "r", recs)
    html = Path(render_run(d)).read_text()
    assert html.count('<tr class="check v-') == 20            # the failures; the passes travel compressed
    assert sum(len(v) for v in _lazy_checks(html).values()) == 4980
    assert 'data-autoexpand="0"' in html                     # above AUTOEXPAND: built on demand
    assert _by_id(html, "count-checks-failed") == "20"


def _lazy_checks(html: str) -> dict:
    """The passing checks embedded in the page: base64 of gzip of JSON, by syscall."""
    import base64
    import gzip
    import json
    blob = re.search(r'<script type="application/octet-stream" id="checks-data"[^>]*>([^<]*)</script>', html).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))


@pytest.mark.parametrize("test_id, checks, syscall", [
    ("suite/test_listen.py::test_backlog[x]", None, "listen"),
    ("suite/test_accept4.py::TestX::test_y", None, "accept4"),
    ("suite/test_listen.py::t", {"socket": 1, "bind": 3}, "bind"),
    ("weird::id", None, "other"),
])
def test_syscall_of_test(test_id, checks, syscall):
    from collections import Counter
    assert syscall_of_test(test_id, Counter(checks) if checks else None) == syscall


# -- JUnit ----------------------------------------------------------------------------------

def test_junit_from_records(run_dir, tmp_path):
    path = write_junit(load_run(run_dir), tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "6", "failures": "1", "errors": "0", "skipped": "2"}
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    bad = cases[("suite.test_socket", "test_bad_type[type=99]")]
    failure = bad.find("failure")
    assert failure.get("message") == "socket(AF_INET, 99, 0) returned -ESOCKTNOSUPPORT, allowed: -EINVAL"
    assert "# reproduce socket(AF_INET, 99, 0)" in failure.text
    assert cases[("suite.test_bind", "test_privileged_port[inet-stream]")].find("skipped").get("message") \
        == "needs CAP_NET_BIND_SERVICE dropped"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["kernel_release"] == "6.1.0-test" and props["status"] == "complete"


def test_junit_interrupted_test_is_an_error(tmp_path):
    recs = [S.header(), S.check("suite/test_listen.py::t_cut", "listen", "listen(3, 1)", "pass",
                                allowed=[("listen.backlog_clamp", "0")]),
            S.check("suite/test_listen.py::t_cut", "listen", "listen(3, \x01)", "fail", allowed=[])]
    path = write_junit(load_run(S.write_run(tmp_path / "r", recs)), tmp_path / "j.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("errors") == "1" and suite.get("tests") == "1"
    assert suite.find("testcase/error").get("type") == "interrupted"


# -- merge ----------------------------------------------------------------------------------

def test_merge_highlights_exactly_the_differing_row(tmp_path):
    a = S.write_run(tmp_path / "a", S.standard_records())
    b = S.write_run(tmp_path / "b", S.standard_records(target="runsc", kind="sandbox", release="4.4.0",
                                                       bad_type_verdict="pass"))
    m = merge([a, b], tmp_path / "out")
    assert [r.rule for r in m.differing] == ["socket.type_invalid"]
    assert m.differing[0].cells == {"host 6.1.0-test": FAIL, "runsc 4.4.0": PASS}

    data = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert [r["rule"] for r in data["rows"] if r["differs"]] == ["socket.type_invalid"]
    assert len(data["rows"]) == 6
    cells = {r["rule"]: r["cells"] for r in data["rows"]}
    assert cells["listen.backlog_clamp"] == {"host 6.1.0-test": PASS, "runsc 4.4.0": PASS}
    assert cells["bind.in_use"] == {"host 6.1.0-test": NOT_EXERCISED, "runsc 4.4.0": NOT_EXERCISED}

    html = (tmp_path / "out" / "matrix.html").read_text()
    differing = re.findall(r'<tr class="rule-row differs" data-row data-rule="([^"]+)" data-differs>', html)
    assert differing == ["socket.type_invalid"]
    assert html.count("data-differs>") == 1 and html.count('class="rule-row') == 6
    assert _by_id(html, "n-differing") == "1"


def test_merge_linux_failures_sandbox_conformance_and_divergences(tmp_path):
    host = S.write_run(tmp_path / "host", S.standard_records())
    sandbox = S.write_run(tmp_path / "sb", S.standard_records(target="runsc", kind="sandbox", release="4.4.0"))
    clean = S.write_run(tmp_path / "q", S.standard_records(target="qemu", release="5.10.0", bad_type_verdict="pass"))
    m = merge([host, sandbox, clean], tmp_path / "out")
    assert m.failing_linux_targets == ["host 6.1.0-test"]              # the sandbox's failure is a finding
    assert m.linux_failures == {"host 6.1.0-test": 1}
    sb = m.columns[1]
    assert (sb.target_kind, sb.checks_agreeing, sb.checks_run) == ("sandbox", 4, 5)
    assert sb.divergences[0]["rules"] == ["socket.type_invalid"]
    html = (tmp_path / "out" / "matrix.html").read_text()
    assert "80.0% (4/5)" in html and "Divergences of runsc 4.4.0" in html
    assert "Failures on host 6.1.0-test" in html and 'id="linux-failing"' in html
    data = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert data["summary"]["failing_linux_targets"] == ["host 6.1.0-test"]
    assert data["columns"][1]["conformance"] == 0.8


def test_merge_marks_rules_outside_a_kernels_range(tmp_path):
    old = S.standard_records(target="qemu", release="4.19.0")
    old[0]["rules"][4]["applies"] = False                       # bind.in_use: not on 4.19
    m = merge([S.write_run(tmp_path / "a", S.standard_records()), S.write_run(tmp_path / "b", old)],
              tmp_path / "out")
    row = next(r for r in m.rows if r.rule == "bind.in_use")
    assert row.cells == {"host 6.1.0-test": NOT_EXERCISED, "qemu 4.19.0": NOT_EXERCISED}
    assert row.inapplicable == ["qemu 4.19.0"] and not row.differs
    assert "(n/a)" in (tmp_path / "out" / "matrix.html").read_text()


def test_merge_records_complete_or_broken_and_unions_rules(tmp_path):
    extra = S.rule("shutdown.not_connected", "shutdown", "-ENOTCONN", "net/socket.c __sys_shutdown()")
    recs_b = S.standard_records(target="uml", release="6.6.0", with_end=False)
    recs_b[0]["rules"].append(extra)
    recs_b.append(S.check("suite/test_x.py::t", "bind", "bind(3, ...)", "pass",
                          allowed=[("bind.unlisted_rule", "0")]))
    a = S.write_run(tmp_path / "a", S.standard_records())
    b = S.write_run(tmp_path / "b", recs_b, tail="{\"kind\"")
    c = S.write_run(tmp_path / "c", ["garbage"] + S.standard_records())    # a bad line
    d = S.write_run(tmp_path / "d", S.standard_records())                 # same target as a
    m = merge([a, b, c, d], tmp_path / "out")
    data = json.loads((tmp_path / "out" / "matrix.json").read_text())
    status = [(col["key"], col["complete"], col["status"]) for col in data["columns"]]
    assert status == [("host 6.1.0-test", True, "complete"), ("uml 6.6.0", False, "crashed"),
                      ("host 6.1.0-test (20261122-023000-host-ab12)", True, "broken"),
                      ("host 6.1.0-test (20261122-023000-host-ab12) #2", True, "complete")]
    rows = {r["rule"]: r for r in data["rows"]}
    assert rows["shutdown.not_connected"]["cells"]["host 6.1.0-test"] == NOT_EXERCISED
    assert rows["bind.unlisted_rule"]["listed"] is False
    assert rows["bind.unlisted_rule"]["cells"]["uml 6.6.0"] == PASS
    assert len(m.problems) == 2 and set(m.incomplete) == {"uml 6.6.0", "host 6.1.0-test (20261122-023000-host-ab12)"}


# -- CLI ------------------------------------------------------------------------------------

def test_cli_show(run_dir, capsys):
    assert main(["report", "show", run_dir]) == 0
    out = capsys.readouterr().out.strip()
    assert out == os.path.abspath(os.path.join(run_dir, "report.html")) and os.path.isfile(out)


def test_cli_show_missing_dir_is_one_line_exit_2(tmp_path):
    code = ("import sys, harness.cli as c; c.SUBCOMMANDS = ('harness.report.cli',); "
            "sys.exit(c.main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "report", "show", str(tmp_path / "nope")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"sockspec: error: {tmp_path / 'nope'}: no such run directory"]
    assert p.stdout == ""


def test_cli_show_bad_lines_exit_2_but_renders(tmp_path, capsys):
    recs = S.standard_records()
    d = S.write_run(tmp_path / "r", recs[:3] + [{"kind": "check"}] + recs[3:], tail="{\"ki")
    assert main(["report", "show", d]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    path = os.path.join(d, "results.jsonl")
    assert len(err) == 2
    assert err[0].startswith(f"sockspec: {path}:4: check record missing required fields")
    assert err[1].startswith(f"sockspec: {path}:15: truncated last line")
    html = (tmp_path / "r" / "report.html").read_text()
    assert _by_id(html, "count-checks") == "5"


def test_cli_merge(tmp_path, capsys):
    a = S.write_run(tmp_path / "a", S.standard_records())
    b = S.write_run(tmp_path / "b", S.standard_records(target="runsc", kind="sandbox", bad_type_verdict="pass"))
    assert main(["report", "merge", a, b, "-o", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "matrix.json").is_file() and (tmp_path / "m" / "matrix.html").is_file()
    assert "linux target host 6.1.0-test: 1 failing check" in capsys.readouterr().err


def test_cli_merge_bad_input(tmp_path, capsys):
    a = S.write_run(tmp_path / "a", S.standard_records())
    assert main(["report", "merge", a, str(tmp_path / "nope"), "-o", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == f"sockspec: error: {tmp_path / 'nope'}: no such run directory"
    assert not (tmp_path / "m").exists()
    b = S.write_run(tmp_path / "b", S.standard_records(), tail="{")
    assert main(["report", "merge", a, b, "-o", str(tmp_path / "m")]) == 2
    assert f"{os.path.join(b, 'results.jsonl')}:14: truncated last line" in capsys.readouterr().err
    assert (tmp_path / "m" / "matrix.html").is_file()


def test_cli_junit_and_usage(run_dir, tmp_path, capsys):
    assert main(["report", "junit", run_dir, "-o", str(tmp_path / "j.xml")]) == 0
    assert ET.parse(tmp_path / "j.xml").getroot().tag == "testsuites"
    assert main(["report"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["report", "merge", run_dir])                  # -o is required
    assert exc.value.code == 2
