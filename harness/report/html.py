"""The HTML report of one run: a self-contained page (inline CSS and JS, no fetches) rendered
from ``results.jsonl``, readable from file://."""
from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections import Counter, defaultdict

import jinja2

from .records import Run, load_run

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_TEST_FILE = re.compile(r"(?:^|/)test_([A-Za-z0-9_]+?)\.py(?:::|$)")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["value"] = show_value
    from .links import link_citation
    env.filters["cite"] = link_citation          # {{ citation|cite(kernel_version) }}
    return env


def show_value(value) -> str:
    """A record value as short text: strings as they are, the rest as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def show_observation(obs) -> str:
    if isinstance(obs, dict):
        parts = [show_value(obs.get("result"))] if "result" in obs else []
        state = obs.get("state")
        if isinstance(state, dict) and state:
            parts.append(" ".join(f"{k}={show_value(v)}" for k, v in state.items()))
        rest = {k: v for k, v in obs.items() if k not in ("result", "state")}
        if rest:
            parts.append(show_value(rest))
        return "; ".join(parts) or "{}"
    return show_value(obs)


def show_allowed(allowed) -> list[str]:
    out = []
    for a in allowed:
        if isinstance(a, dict):
            out.append(f"{a.get('rule') or '?'}: {show_value(a.get('result'))}")
        else:
            out.append(show_value(a))
    return out


def syscall_of_test(test_id: str, check_syscalls: Counter | None = None) -> str:
    """The syscall a test is about: the commonest among its checks, else from the file name
    ``suite/test_<syscall>.py``, else "other"."""
    if check_syscalls:
        return check_syscalls.most_common(1)[0][0]
    m = _TEST_FILE.search(test_id)
    return m.group(1) if m else "other"


class OutputError(ValueError):
    """An output path that cannot be written: one line for the user (exit status 2)."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def check_output_file(path: str) -> None:
    """Refuse, with one line, an output file that is not a regular file (writing a temporary
    file and renaming it over /dev/full, a directory or a FIFO would replace it) or whose
    directory does not exist."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:                 # ENOTDIR: a file where a directory is expected
        raise OutputError(f"{path}: cannot write here: {exc.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise OutputError(f"{path}: is {what}; only a regular file is replaced")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise OutputError(f"{path}: {'no such directory' if not os.path.exists(parent) else 'not a directory'}: {parent}")


def make_output_dir(path: str) -> None:
    """Create an output directory (and its parents); one line when it cannot be."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path}: exists and is not a directory") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the directory: {exc.strerror}") from None


def check_output_dir(path: str) -> None:
    """Refuse, with one line and before anything runs, an output directory that could not be
    made: a file there or above it, or a nearest existing directory that is not writable."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise OutputError(f"{path}: exists and is not a directory")
        above = path
    else:
        above = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(above):
            above = os.path.dirname(above)
        if not os.path.isdir(above):
            raise OutputError(f"{path}: cannot create the directory: {above} is not a directory")
    if not os.access(above, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {above}: permission denied")


def write_atomically(path: str, text: str) -> None:
    """A reader (a browser reloading the page) sees the old file or the new, never half.
    Only a regular file is replaced; an unwritable path is an OutputError (one line)."""
    check_output_file(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {os.path.dirname(path) or '.'}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def profile_rows(p: dict) -> list[tuple[str, str]]:
    def get(key, default="?"):
        v = p.get(key)
        return default if v is None else v

    euid = p.get("euid")
    privilege = "root" if euid == 0 else (f"uid {p.get('uid', '?')} / euid {euid}" if euid is not None else "?")
    caps = p.get("capabilities")
    compat = p.get("compat_available")
    netns = p.get("netns_private")
    sysctls = p.get("sysctls") or {}
    rows = [
        ("target", f"{get('target')} ({get('target_kind')})"),
        ("kernel", f"{get('kernel_release')}" + (f" ({p['kernel_build']})" if p.get("kernel_build") else "")),
        ("arch", get("arch")),
        ("privileges", privilege),
        ("capabilities", ", ".join(caps) if caps else ("none" if caps is not None else "?")),
        ("backend", get("backend")),
        ("network namespace", ("private" if netns else "host") + (f" — {p['netns_reason']}" if p.get("netns_reason") else "")
         if netns is not None else "?"),
        ("compat path", ("available" if compat else "unavailable") + (f" — {p['compat_reason']}" if p.get("compat_reason") else "")
         if compat is not None else "?"),
        ("somaxconn", sysctls.get("net.core.somaxconn", "?")),
        ("AF_MAX", get("af_max")),
        ("python", get("python")),
        ("host", get("hostname")),
        ("date", get("date")),
    ]
    for name, r in sorted((p.get("markers") or {}).items()):
        if isinstance(r, dict):
            rows.append((f"marker {name}", _marker_text(r)))
    return [(k, str(v)) for k, v in rows]


def _marker_text(r: dict) -> str:
    if not r.get("known"):
        return f"unknown ({r.get('source', '?')})"
    value = r.get("value")
    shown = {True: "yes", False: "no", None: "not set"}.get(value, value) \
        if isinstance(value, (bool, type(None))) else value
    return f"{shown} ({r.get('source', '?')})"


def report_context(run: Run) -> dict:
    rules = {r["name"]: r for r in run.rules}
    checks_by_test: dict[str, Counter] = defaultdict(Counter)
    for c in run.checks:
        checks_by_test[c["test_id"]][c["syscall"]] += 1

    test_status = {}
    for t in run.tests:
        status = "flaky" if t.get("flaky") and t["outcome"] != "expected" else t["outcome"]
        if test_status.get(t["test_id"]) not in ("failed", "flaky"):   # a teardown failure wins
            test_status[t["test_id"]] = status
    rows, failures = [], []
    for i, c in enumerate(run.checks):
        allowed = [a for a in c["allowed"]]
        rule = c["rule"]
        citation = (rules.get(rule) or {}).get("citation") if rule else None
        if rule and not citation:
            citation = next((a.get("citation") for a in allowed if isinstance(a, dict) and a.get("rule") == rule), None)
        row = {
            "n": i, "test_id": c["test_id"], "syscall": c["syscall"], "call": c["call"],
            "via": c.get("via"), "privilege": c.get("privilege"), "rule": rule,
            "also": [a for a in (c.get("also") or []) if isinstance(a, str)] if rule else [],
            "citation": citation, "allowed": show_allowed(allowed),
            "allowed_citations": sorted({a["citation"] for a in allowed
                                         if isinstance(a, dict) and a.get("citation")}),
            "observation": show_observation(c["observation"]), "verdict": c["verdict"],
            "duration": c.get("duration"), "message": c.get("message"),
            "reproducer": c.get("reproducer"),
            "basis": c.get("basis") if isinstance(c.get("basis"), dict) else None,
            "considered": [e for e in c.get("considered") or () if isinstance(e, dict)]
            if isinstance(c.get("considered"), list) else [],
            "considered_note": c.get("considered_note"),
            "attempt": c.get("attempt") or 1,
            "test_status": test_status.get(c["test_id"]),
        }
        rows.append(row)
        if c["verdict"] == "fail" and row["test_status"] not in ("expected", "flaky"):
            failures.append(row)

    sections: dict[str, list] = defaultdict(list)
    for row in rows:
        sections[row["syscall"]].append(row)
    for name in sections:                              # failures first, then in run order
        sections[name].sort(key=lambda r: (r["verdict"] != "fail", r["n"]))
    # the failing rows are HTML; the passing ones travel compressed (checks_blob) and the page
    # builds their rows when the reader opens a section or filters
    lazy = {name: [_lazy_row(r) for r in rs if r["verdict"] != "fail"] for name, rs in sections.items()}

    tests = Counter(t["outcome"] for t in run.tests)
    failing_tests = {r["test_id"] for r in failures}
    failed_tests_without_check = [t for t in run.tests
                                  if t["outcome"] == "failed" and t["test_id"] not in failing_tests]
    skipped = [dict(t, syscall=syscall_of_test(t["test_id"], checks_by_test.get(t["test_id"])))
               for t in run.tests if t["outcome"] == "skipped"]

    chart = defaultdict(lambda: {"pass": 0, "fail": 0, "skip": 0})
    for row in rows:
        chart[row["syscall"]][row["verdict"]] += 1
    for t in skipped:
        chart[t["syscall"]]["skip"] += 1
    chart_rows = [dict(name=name, **v, total=sum(v.values())) for name, v in sorted(chart.items())]
    widest = max((r["total"] for r in chart_rows), default=0) or 1
    for r in chart_rows:
        x = 0.0
        r["bars"] = []
        for part in ("pass", "fail", "skip"):
            w = 480.0 * r[part] / widest
            if r[part]:
                r["bars"].append({"part": part, "x": round(x, 2), "w": round(max(w, 1.0), 2), "n": r[part]})
            x += w

    entries = {e.get("index"): e for e in ((run.expect or {}).get("entries") or [])
               if isinstance(e, dict)}
    failing_by_test: dict[str, list] = defaultdict(list)
    for row in rows:
        if row["verdict"] == "fail":
            failing_by_test[row["test_id"]].append(row)
    expected = [dict(t, checks=failing_by_test.get(t["test_id"], []),
                     entries=[entries[i] for i in t.get("expected_by") or () if i in entries])
                for t in run.tests if t["outcome"] == "expected"]
    flaky = [dict(t, checks=failing_by_test.get(t["test_id"], [])) for t in run.tests
             if t.get("flaky") and t["outcome"] != "expected"]

    exercised = run.exercised()
    applicable = run.applicable_rules()
    never = sorted(name for name in applicable if name not in exercised)
    inapplicable = sorted(set(rules) - set(applicable))
    unknown_matched = sorted(name for name in exercised if name not in rules)

    return {
        "run": run,
        "run_id": run.run_id,
        "status": run.status,
        "started": (run.header or {}).get("started"),
        "finished": (run.end or {}).get("finished"),
        "exit_status": (run.end or {}).get("exit_status"),
        "taint": (run.end or {}).get("taint") or None,
        "taint_start": (run.header or {}).get("taint") or None,
        "end_counts": (run.end or {}).get("counts"),
        "profile": profile_rows(run.profile),
        "problems": [str(p) for p in run.problems],
        "counts": {"tests": len(run.tests), "passed": tests["passed"], "failed": tests["failed"],
                   "skipped": tests["skipped"], "expected": tests["expected"],
                   "flaky": len(run.flaky), "checks": len(rows),
                   "rows_skipped": sum(len(v) for v in run.rows_skipped().values()),
                   "checks_passed": len(rows) - len(failures), "checks_failed": len(failures)},
        "coverage": {"exercised": len(applicable) - len(never), "defined": len(applicable),
                     "never": never, "inapplicable": inapplicable,
                     "unknown_matched": unknown_matched},
        "failures": failures,
        "distinct": run.divergences(),
        "per_rule": [(name, exercised.get(name, 0), (rules.get(name) or {}).get("citation"))
                     for name in sorted(applicable, key=lambda n: (exercised.get(n, 0), n))],
        "kernel_version": run.profile.get("kernel_version") or run.profile.get("kernel_release"),
        "previous_diff": os.path.isfile(os.path.join(run.path, "diff-previous.html")),
        "thin": run.thin_rules(),
        "expected": expected,
        "flaky": flaky,
        "stale": run.stale,
        "expect_file": (run.expect or {}).get("file"),
        "expect_entries": len(entries),
        "failed_tests": failed_tests_without_check,
        "skipped": skipped,
        "rows_skipped": list(run.rows_skipped().items()),
        "sections": [(name, rs, [r for r in rs if r["verdict"] == "fail"], len(lazy[name]))
                     for name, rs in sorted(sections.items())],
        "checks_blob": _compress(lazy),
        "autoexpand": sum(len(v) for v in lazy.values()) <= AUTOEXPAND,
        "chart": chart_rows,
        "chart_height": 24 * len(chart_rows) + 8,
    }


# A run with at most this many passing checks shows them at once; a larger one (a full run
# has ~9,000) builds a section's rows when the reader opens it or filters.
AUTOEXPAND = 3000


def _lazy_row(r: dict) -> list:
    """A passing check as the page's script needs it (the cells of its table row)."""
    return [r["call"], r["rule"], r["also"], r["allowed"], r["observation"], r["test_id"],
            show_value(r["via"]) + (f" / {r['privilege']}" if r["privilege"] else ""), r["attempt"]]


def _compress(data) -> str:
    """JSON, gzip (the page inflates it with DecompressionStream), base64."""
    import base64
    import gzip
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(gzip.compress(raw, 9, mtime=0)).decode("ascii")


def render_run(run_dir: str | os.PathLike, run: Run | None = None) -> str:
    """Render ``run_dir/report.html`` from ``run_dir/results.jsonl``; return its path.
    Problems in the results file are shown on the page; call ``load_run`` first to see them."""
    run_dir = os.fspath(run_dir)
    run = run or load_run(run_dir)
    html = environment().get_template("report.html.j2").render(**report_context(run))
    path = os.path.join(run_dir, "report.html")
    write_atomically(path, html)
    return path
