"""The HTML pages in a real browser (headless Chromium): the figures a reader sees, and the
filter hiding and showing rows. Two ways in, both stdlib only: ``--dump-dom`` of a page opened
with a ``#filter=...`` fragment, and the DevTools protocol over ``--remote-debugging-pipe`` to
type into the filter box as a person would. Skipped when chromium is not installed."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report.html import render_run
from harness.report.merge import merge

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package: chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
         "--disable-extensions", "--disable-dev-shm-usage"]
TIMEOUT = 60


import report_sample as S  # noqa: E402  (harness/tests is on sys.path, like model_profile)


class _Dom(HTMLParser):
    """Elements with an id (attributes and text) and the rows the filter acts on (attributes),
    from Chromium's serialized DOM (well-formed: every element is closed)."""
    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "source"}

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.rows: list[dict] = []
        self._stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-row" in a:
            self.rows.append(dict(a, tag=tag))
        if "id" in a:
            self.by_id[a["id"]] = dict(a, text="")
        if tag not in self.VOID:
            self._stack.append((tag, a.get("id")))

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, ident in self._stack:
            if ident:
                self.by_id[ident]["text"] += data


def dump_dom(url: str, tmp_path) -> _Dom:
    # the virtual time budget lets the page's asynchronous work (inflating the embedded
    # checks) finish before the DOM is dumped
    p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=10000", "--dump-dom", url],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0 and "</html>" in p.stdout, p.stderr[-2000:]
    dom = _Dom()
    dom.feed(p.stdout)
    return dom


def shown(dom: _Dom, cls: str) -> tuple[int, int]:
    rows = [r for r in dom.rows if cls in r.get("class", "").split()]
    return sum("hidden" not in r for r in rows), len(rows)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A run with known content, and a two-target matrix with one differing rule."""
    base = tmp_path_factory.mktemp("pages")
    recs = S.standard_records()
    recs[1:1] = [S.check(f"suite/test_listen.py::test_many[{i}]", "listen", f"listen({i}, 128)", "pass",
                         allowed=[("listen.backlog_clamp", "0")]) for i in range(10, 40)]
    run = S.write_run(base / "run", recs)
    report = render_run(run)
    other = S.write_run(base / "other", S.standard_records(target="runsc", kind="sandbox", release="4.4.0",
                                                           bad_type_verdict="pass"))
    m = merge([run, other], base / "matrix")
    return {"report": Path(report).as_uri(), "matrix": Path(m.html_path).as_uri()}


def test_report_figures_and_the_filter_from_a_fragment(pages, tmp_path):
    dom = dump_dom(pages["report"] + "#filter=test_many[2", tmp_path)   # listen(20..29, 128)
    figures = {k: dom.by_id[k]["text"].strip() for k in
               ("count-passed", "count-failed", "count-skipped", "count-checks", "coverage")}
    assert figures == {"count-passed": "3", "count-failed": "1", "count-skipped": "2",
                       "count-checks": "35", "coverage": "3/6"}
    assert shown(dom, "check") == (10, 35)
    assert dom.by_id["shown"]["text"] == "10 of 39 rows shown"   # 35 checks, 1 failure, its distinct divergence, 2 skips
    assert "hidden" in dom.by_id["syscall-socket"] and "hidden" not in dom.by_id["syscall-listen"]
    assert "hidden" in dom.by_id["failures"] and "hidden" in dom.by_id["skipped"]


def test_matrix_only_differing_rows(pages, tmp_path):
    dom = dump_dom(pages["matrix"] + "#differing=1", tmp_path)
    visible = [r["data-rule"] for r in dom.rows if "rule-row" in r.get("class", "") and "hidden" not in r]
    assert visible == ["socket.type_invalid"]
    assert shown(dom, "rule-row") == (1, 6)
    assert dom.by_id["n-differing"]["text"] == "1"


# -- typing into the page, over the DevTools protocol ---------------------------------------

class DevTools:
    """A minimal CDP client over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out,
    NUL-terminated JSON)."""

    def __init__(self, user_data_dir):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # chromium wants the pipe on fds 3 and 4; a tiny exec trampoline puts it there
        # (sh cannot: dash only redirects single-digit descriptors)
        trampoline = ("import os, sys\n"
                      "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
                      "os.dup2(r, 3); os.dup2(w, 4)\n"
                      "[os.close(fd) for fd in (r, w) if fd > 4]\n"
                      "os.execv(sys.argv[3], sys.argv[3:])\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", trampoline, str(to_chrome_r), str(from_chrome_w),
             CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session = None

    def send(self, method, params=None, session=True, timeout=TIMEOUT):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    assert "error" not in reply, reply
                    return reply["result"]
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self._from_chrome], [], [], left)[0], f"{method}: no reply"
            chunk = os.read(self._from_chrome, 1 << 16)
            assert chunk, f"{method}: chromium closed the pipe"
            self._buf += chunk

    def open(self, url):
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        ready = ("document.readyState === 'complete' && location.href.split('#')[0] === %s"
                 " && document.documentElement.getAttribute('data-ready') === '1'" % json.dumps(url.split("#")[0]))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:        # until the page, not about:blank, has run its script
            r = self.send("Runtime.evaluate", {"expression": ready, "returnByValue": True})
            if r["result"].get("value") is True:
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} did not load")

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=10)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


TYPE = """new Promise(function (ok) {
  var box = document.getElementById('filter');
  box.value = %s;
  box.dispatchEvent(new Event('input', {bubbles: true}));
  setTimeout(function () { ok(STATE()); }, 400);       /* past the input debounce */
})"""
STATE = """(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.check'));
  return {checks: rows.length, visible: rows.filter(function (r) { return !r.hidden; }).length,
          visibleCalls: rows.filter(function (r) { return !r.hidden; })
                            .map(function (r) { return r.querySelector('td.call').textContent; }),
          shown: document.getElementById('shown').textContent,
          socketHidden: document.getElementById('syscall-socket').hidden,
          hash: location.hash,
          passed: document.getElementById('count-passed').textContent,
          coverage: document.getElementById('coverage').textContent};
})"""


@pytest.fixture
def devtools(tmp_path):
    d = DevTools(tmp_path / "profile")
    yield d
    d.close()


def test_typing_in_the_filter_box_hides_and_shows_rows(pages, devtools):
    devtools.open(pages["report"])
    devtools.eval("window.STATE = " + STATE)
    state = devtools.eval("STATE()")
    assert (state["checks"], state["visible"], state["passed"], state["coverage"]) == (35, 35, "3", "3/6")

    state = devtools.eval(TYPE % json.dumps("AF_INET 99"))
    assert state["visibleCalls"] == ["socket(AF_INET, 99, 0)"]
    assert state["shown"] == "3 of 39 rows shown"     # the check, its failure block and its divergence
    assert state["socketHidden"] is False and "filter=AF_INET+99" in state["hash"]

    state = devtools.eval(TYPE % json.dumps("listen(3"))
    assert sorted(state["visibleCalls"]) == sorted(
        ["listen(3, 5)", "listen(3, -1)"] + [f"listen({i}, 128)" for i in range(30, 40)])
    assert state["socketHidden"] is True

    state = devtools.eval(TYPE % json.dumps(""))                      # cleared: everything back
    assert state["visible"] == 35 and state["shown"] == "39 of 39 rows shown"
    assert state["socketHidden"] is False

    state = devtools.eval("document.querySelector('input[name=failures]').click(); STATE()")
    assert state["visibleCalls"] == ["socket(AF_INET, 99, 0)"] and "failures=1" in state["hash"]


def test_a_large_run_builds_passing_rows_on_demand(tmp_path, devtools):
    """Above AUTOEXPAND passing checks the page starts with the failures only; a section's
    button builds its passing rows from the compressed data, and a filter builds them all."""
    from harness.report.html import AUTOEXPAND
    recs = [S.header()]
    n = AUTOEXPAND + 10
    for i in range(n):
        recs.append(S.check(f"suite/test_s{i % 2}.py::t[{i}]", f"s{i % 2}", f"s{i % 2}({i})",
                            "fail" if i == 7 else "pass", allowed=[("socket.create", "3")], observed="3"))
    page = Path(render_run(S.write_run(tmp_path / "big", recs))).as_uri()
    devtools.open(page)
    count = "document.querySelectorAll('tr.check').length"
    assert devtools.eval(count) == 1                                   # the failure only
    devtools.eval("document.querySelector('button[data-expand=\"s0\"]').click()")
    devtools.eval("new Promise(function (ok) { setTimeout(ok, 300); })")
    assert devtools.eval(count) == 1 + n // 2 - 0                      # s0: its passing checks built
    row = devtools.eval("document.querySelector('tbody[data-lazy=\"s0\"] tr').textContent")
    assert "s0(0)" in row and "socket.create" in row and "suite/test_s0.py::t[0]" in row
    devtools.eval("window.STATE = " + STATE.replace("syscall-socket", "syscall-s0"))
    state = devtools.eval(TYPE % json.dumps(f"s1({n - 1})"))            # filtering builds the rest
    assert state["visibleCalls"] == [f"s1({n - 1})"] and state["checks"] == n


def test_diff_page_opens_and_the_report_links_to_it(tmp_path):
    """The diff page renders in the browser; a run's report links to the diff against the run
    before it."""
    from harness.report.diff import write_previous_diff
    old = S.write_run(tmp_path / "20261122-023000-host-ab12", S.standard_records())
    new = S.write_run(tmp_path / "20261122-033000-host-cd34",
                      S.standard_records(run_id="20261122-033000-host-cd34", bad_type_verdict="pass"))
    page = write_previous_diff(new)
    dom = dump_dom(Path(page).as_uri(), tmp_path)
    assert "newly-passing" in dom.by_id and "socket(AF_INET, 99, 0)" in dom.by_id["newly-passing"]["text"]
    report = dump_dom(Path(render_run(new)).as_uri(), tmp_path)
    assert "previous-diff" in report.by_id
    del old


def test_the_completion_state_is_at_the_top(tmp_path):
    """A run without an end record (killed) says so at the top of the page, in the browser."""
    d = S.write_run(tmp_path / "r", S.standard_records(with_end=False))
    dom = dump_dom(Path(render_run(d)).as_uri(), tmp_path)
    assert "incomplete" in dom.by_id and "crashed" in dom.by_id["incomplete"]["text"]
