"""Run results as JSON lines (ARCHITECTURE.md §8): the one place that writes and reads them.

A run lives in ``reports/<run-id>/`` (run id ``20261122-023000-host-ab12``: UTC start, target,
four random hex digits); ``reports/latest`` is a symlink to the newest. Its results are
``results.jsonl``, one JSON object per line, appended as the run goes so that a killed run
keeps every record it wrote. Every record has a ``kind``:

``header`` -- once, first, by the pytest controller::

    {"kind": "header", "format": 1, "run_id": "20261122-023000-host-ab12",
     "started": "<iso8601>", "profile": {...Profile.to_json()...},
     "rules": [{"name": "listen.backlog_clamp", "syscall": "listen",
                "result": "0 (backlog = min(backlog, somaxconn))", "description": "...",
                "citation": "net/socket.c __sys_listen(); listen(2) NOTES",
                "since": null, "until": null}, ...]}

``check`` -- one per check (call on the kernel compared with the model's allowed set)::

    {"kind": "check", "test_id": "suite/test_listen.py::test_backlog[inet6-stream-backlog=-1]",
     "syscall": "listen", "call": "listen(3, -1)", "via": "native", "privilege": "root",
     "rule": "listen.backlog_clamp",
     "allowed": [{"rule": "listen.backlog_clamp", "result": "0", "citation": "..."}],
     "observation": {"result": "0", "state": {"SO_ACCEPTCONN": 1}},
     "verdict": "pass", "duration": 1.2e-05, "message": null, "reproducer": null}

  ``verdict`` is "pass" or "fail". ``rule`` is the allowed outcome's rule that matched (on
  pass) or null (on fail); on fail ``message`` explains and ``reproducer`` is a
  self-contained Python script.

  ``attempt`` is 1, or 2 for the checks of the re-run of a test whose first attempt
  mismatched: both attempts are kept.

``test`` -- one per pytest test::

    {"kind": "test", "test_id": "...", "outcome": "passed|failed|skipped|expected",
     "duration": 0.01, "reason": null, "attempts": 1}

  ``expected``: it failed, and every failing check matched a known deviation of the run's
  expectation file (``expected_by``: the entries' 1-based indices; ``reason``: theirs).
  A re-run test has ``"attempts": 2``, ``attempt_outcomes`` (e.g. ["failed", "passed"]) and
  ``attempts_differ``; ``"flaky": true`` when the first attempt failed and the second did not.
  A flaky test's outcome is "failed", or "passed" under --sockspec-allow-flaky, or "expected"
  when every failing check of its failed attempt is a known deviation.

``row_skip`` -- a row of a test's table that was not checked, and why (Scenario.skip_row)::

    {"kind": "row_skip", "test_id": "...", "row": "set-level-999-packet",
     "reason": "creating packet-raw needs CAP_NET_RAW (run as root)", "attempt": 1}

  A test's rows are checked or skipped with a reason, never dropped: the summary counts them.

``explore`` -- a divergence ``sockspec explore`` found (harness/explore.py), after the check
records of its minimal sequence::

    {"kind": "explore", "test_id": "explore::seed=1", "seed": 1, "verdict": "fail" | "flaky",
     "sequence": [{"rule": "socket", "args": {...}}, ...], "calls": [...], "message": "...",
     "reproducer": "...", "replay": null}

``end`` -- last, by the controller; a run without it was interrupted::

    {"kind": "end", "finished": "<iso8601>",
     "counts": {"passed": 3, "failed": 0, "skipped": 1}, "exit_status": 0}

Fields beyond the required ones (``REQUIRED`` below) are kept; these optional ones are used:

- a header rule's ``"applies": false`` says the rule's kernel range (since/until) excludes this
  kernel: it is left out of the coverage figure of that run;
- a check's ``"also": ["fd.lowest_free", ...]`` names further rules the matched outcome
  carries (an allowed entry may carry the same list); ``"exercised"``: the matched rule and
  those ``also`` rules whose effect the check compared (Rule.shows: the answer, a write-back,
  or a state observable such as the socket name or FD_CLOEXEC);
- a failing check's ``"divergence"``: ``{"kind": "answer" | "state" | "blocked", "rules":
  [...], "key": "...", "documented": bool}`` -- the rules whose prediction the kernel
  contradicted, whether any is documented behaviour (a man page) rather than a Linux
  implementation detail, and the key that groups identical differences (``Run.divergences``);
- a failing check's ``"calls"``: the scenario's calls so far as structured data (name,
  arguments, the kernel's answer, the allowed outcomes where checked: harness/repro_c.py),
  from which ``sockspec repro`` writes a standalone C reproducer;
- the end record's ``"rows_skipped"``: {reason: count} over the row_skip records (of each
  test's last attempt);
- the end record's ``"checks"``: the controller's count of check records; ``"flaky"`` (test
  ids), ``"expected"`` (count) and ``"stale"`` (expectation entries that applied, had something
  to match and matched no failure);
- the end record's ``"interrupted": "SIGINT"`` (or "SIGTERM"): a signal stopped the run
  (``Run.status``: complete / interrupted (SIGNAL) / crashed, with no end record / broken);
- the header's ``"expect"``: the expectation file and its entries;
- the header's ``"taint"``: ``{"tainted_before", "taint", "kmsg"}`` -- the kernel's taint mask
  at the start and whether /dev/kmsg is read ("unreadable: why" where not); the end record's
  ``"taint"``: both masks, ``new_bits``/``new_flags``, the kernel report ``lines`` (WARNING,
  BUG, KASAN, UBSAN ...) logged during the run, ``failed`` and its ``text`` (harness/taint.py):
  a new taint bit or a report line fails the run.

A rule is *exercised* by a check whose verdict is "pass" and that lists it in ``exercised``
(older records: its ``rule`` or ``also``), in the last attempt of a test that passed and was
not flaky (``counted_checks``). Coverage of a run is exercised / applicable rules; rules with
fewer than 3 such checks are listed (``Run.thin_rules``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field

FORMAT = 1
RESULTS = "results.jsonl"

# kind -> {field: check of its value}; a missing field or a failed check is a problem
_STR = (str,)
_OPT_STR = (str, type(None))
REQUIRED = {
    "header": {"format": (int,), "run_id": _STR, "started": _STR, "profile": (dict,),
               "rules": (list,)},
    "check": {"test_id": _STR, "syscall": _STR, "call": _STR, "rule": _OPT_STR,
              "allowed": (list,), "observation": (dict, str), "verdict": ("pass", "fail")},
    "test": {"test_id": _STR, "outcome": ("passed", "failed", "skipped", "expected")},
    "row_skip": {"test_id": _STR, "row": _STR, "reason": _STR},
    "end": {"finished": _STR, "counts": (dict,)},
    "explore": {"test_id": _STR, "seed": (int,), "verdict": ("fail", "flaky"), "sequence": (list,)},
}
KINDS = tuple(REQUIRED)


class Opt:
    """An optional value in a SCHEMA entry: null, or what ``spec`` says."""

    def __init__(self, spec):
        self.spec = spec


class Req:
    """A field an object of a SCHEMA entry must have (others are checked only when present)."""

    def __init__(self, spec):
        self.spec = spec


_INT = (int,)                     # bool is not an int here (see _bad)
_NUM = (int, float)
_STRS = [_STR]                    # a list of strings
_OPT_NUM = (int, float, type(None))
# an entry of an expectation file, as the header's "expect" and the end's "stale" carry it
_ENTRY = {"index": Req(_INT), "reason": Req(_STR), "rule": _OPT_STR, "test": _OPT_STR,
          "target": _OPT_STR, "kernel": _OPT_STR, "link": _OPT_STR}
# kind -> {field: spec} for the fields beyond REQUIRED that the report, JUnit, matrix and
# expectation readers use: each is checked when present. A spec is a tuple of types, a list
# [item spec] (a list whose items match), a dict {field: spec} (an object whose listed fields,
# when present, match; others are kept) or Opt(spec). Everything the readers index, join or
# iterate is described here, so a wrong type is a bad line, never a TypeError in a reader.
SCHEMA = {
    "header": {
        "profile": {"target": _OPT_STR, "target_kind": _OPT_STR, "kernel_release": _OPT_STR,
                    "kernel_build": _OPT_STR, "capabilities": Opt([_STR]),
                    "sysctls": Opt({}), "markers": Opt({}), "euid": Opt(_INT), "uid": Opt(_INT)},
        "rules": [{"name": _STR, "syscall": _OPT_STR, "result": _OPT_STR, "description": _OPT_STR,
                   "citation": _OPT_STR, "since": _OPT_STR, "until": _OPT_STR,
                   "applies": (bool,)}],
        "expect": Opt({"file": _OPT_STR, "entries": [_ENTRY]}),
    },
    "check": {
        "via": _OPT_STR, "privilege": _OPT_STR, "attempt": Opt(_INT), "duration": _OPT_NUM,
        "message": _OPT_STR, "reproducer": _OPT_STR,
        "basis": Opt({"release": Req(_OPT_STR), "kernel": Req(_OPT_STR), "rules": Opt({}),
                      "markers": Opt({})}),
        "considered": Opt([{"rule": _OPT_STR, "result": _OPT_STR, "verdict": _OPT_STR,
                            "where": _OPT_STR, "guard": _OPT_STR}]),
        "considered_note": _OPT_STR,
        "allowed": [Opt((dict, str))],
        "also": Opt(_STRS), "exercised": Opt(_STRS),
        "divergence": Opt({"kind": _OPT_STR, "rules": _STRS, "key": _OPT_STR,
                           "documented": Opt((bool,))}),
        "calls": Opt([{"name": Req(_STR), "args": Opt({}), "result": Opt({}),
                       "allowed": Opt([{}])}]),
    },
    "test": {
        "duration": _OPT_NUM, "reason": _OPT_STR, "attempts": Opt(_INT),
        "attempt_outcomes": Opt(_STRS), "flaky": Opt((bool,)), "expected_by": Opt([_INT]),
    },
    "end": {
        "counts": {}, "exit_status": Opt(_INT), "checks": Opt(_INT), "flaky": Opt(_STRS),
        "expected": Opt(_INT), "stale": Opt([_ENTRY]), "interrupted": _OPT_STR,
        "rows_skipped": Opt({}),
    },
    "row_skip": {},
    "explore": {"message": _OPT_STR, "reproducer": _OPT_STR, "replay": _OPT_STR,
                "sequence": [{"rule": Req(_STR), "args": Opt({})}],
                "calls": Opt([{"name": Req(_STR), "args": Opt({}), "result": Opt({}),
                               "allowed": Opt([{}])}])},
}
_ALLOWED_ENTRY = {"rule": _OPT_STR, "result": (str, int, float, type(None), dict, list),
                  "citation": _OPT_STR}
_COUNT = _INT                     # each value of the end record's counts
MAX_DEPTH = 64                    # deeper JSON is refused before it is parsed (RecursionError)


def _bad(value, spec, where: str) -> str | None:
    """Why ``value`` does not match ``spec`` (see SCHEMA), naming where; or None."""
    if isinstance(spec, (Opt, Req)):
        return None if value is None and isinstance(spec, Opt) else _bad(value, spec.spec, where)
    if isinstance(spec, tuple):
        if isinstance(value, bool) and bool not in spec or not isinstance(value, spec):
            return f"{where} has type {_type(value)}"
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} has type {_type(value)}, not a list"
        for i, item in enumerate(value):
            why = _bad(item, spec[0], f"{where}[{i}]")
            if why:
                return why
        return None
    if not isinstance(value, dict):
        return f"{where} has type {_type(value)}, not an object"
    for name, sub in spec.items():
        if name not in value and isinstance(sub, Req):
            return f"{where} has no {name}"
        if name in value:
            why = _bad(value[name], sub, f"{where}.{name}" if where else name)
            if why:
                return why
    return None


def _type(value) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True)
class Problem:
    """Something wrong in a results file, at a line (1-based); the rest of the file is used."""
    path: str
    line: int
    message: str
    truncated: bool = False       # the last line was cut short: what a killed run leaves

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def invalid(record) -> str | None:
    """Why ``record`` is not a valid record of the current format, or None."""
    if not isinstance(record, dict):
        return f"not a JSON object: {type(record).__name__}"
    kind = record.get("kind")
    if kind not in REQUIRED:
        return f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
    missing = [name for name in REQUIRED[kind] if name not in record]
    if missing:
        return f"{kind} record missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
    for name, allowed in REQUIRED[kind].items():
        value = record[name]
        if isinstance(allowed[0], str):
            if value not in allowed:
                return f"{kind} record: {name} is {value!r}, not one of {', '.join(allowed)}"
        elif not isinstance(value, allowed) or isinstance(value, bool) and bool not in allowed:
            return f"{kind} record: {name} has type {type(value).__name__}"
    if kind == "header":
        if record["format"] != FORMAT:
            return f"unknown format version {record['format']} (this sockspec reads format {FORMAT})"
        bad = [i for i, r in enumerate(record["rules"]) if not (isinstance(r, dict) and isinstance(r.get("name"), str))]
        if bad:
            return f"header record: rules[{bad[0]}] has no name"
    why = _bad(record, SCHEMA[kind], "")
    if why is None and kind == "check":
        why = next(filter(None, (_bad(a, _ALLOWED_ENTRY, f"allowed[{i}]")
                                 for i, a in enumerate(record["allowed"]) if isinstance(a, dict))), None)
    if why is None and kind == "end":
        why = next((f"counts.{k} has type {_type(v)}" for k, v in record["counts"].items()
                    if _bad(v, _COUNT, "count")), None)
    return f"{kind} record: {why}" if why else None


class ResultsWriter:
    """Appends records to ``run_dir/results.jsonl``.

    Each record is one line written with a single ``os.write`` on an O_APPEND descriptor: the
    kernel appends it whole at the end of the file, so pytest-xdist workers (separate
    processes, each with its own writer) can share the file, and nothing sits in a user-space
    buffer when a run is killed.
    """

    def __init__(self, run_dir: str | os.PathLike):
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(os.fspath(run_dir), RESULTS)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, record: dict) -> None:
        why = invalid(record)
        if why:
            raise ValueError(f"refusing to write an invalid record: {why}")
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
                + "\n").encode("utf-8", "backslashreplace")
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        done = os.write(self._fd, data)
        while done < len(data):        # only on a full disk or a signal; keep what we can
            done += os.write(self._fd, data[done:])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def new_run_id(target: str = "host", now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target).strip("-.") or "target"
    return f"{now:%Y%m%d-%H%M%S}-{safe}-{secrets.token_hex(2)}"


def new_run_dir(base: str | os.PathLike = "reports", target: str = "host") -> str:
    """Create ``base/<run-id>/`` and point ``base/latest`` at it; return the run directory."""
    base = os.fspath(base)
    os.makedirs(base, exist_ok=True)
    while True:
        run_id = new_run_id(target)
        path = os.path.join(base, run_id)
        try:
            os.mkdir(path)
            break
        except FileExistsError:
            continue
    tmp = os.path.join(base, f".latest-{secrets.token_hex(4)}")
    try:
        os.symlink(run_id, tmp)                     # relative: the tree can be moved
        os.replace(tmp, os.path.join(base, "latest"))  # atomic: readers see old or new
    except OSError:                                 # e.g. "latest" is a real directory
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return path


RUN_ID = re.compile(r"\d{8}-\d{6}-[A-Za-z0-9_.-]+-[0-9a-f]{4}")
DEFAULT_KEEP = 20


def prune_runs(base: str | os.PathLike, keep: int = DEFAULT_KEEP, current: str | None = None) -> list[str]:
    """Delete the oldest run directories of ``base`` so that the newest ``keep`` remain (0
    keeps all); return the deleted paths. Only directories named by ``new_run_id`` are
    candidates: a run the user renamed is never deleted, nor the one ``base/latest`` points
    to (the user may have pointed it at an older run), nor ``current``."""
    import shutil
    if keep <= 0:
        return []
    base = os.fspath(base)
    try:
        names = sorted(n for n in os.listdir(base)
                       if RUN_ID.fullmatch(n) and os.path.isdir(os.path.join(base, n))
                       and not os.path.islink(os.path.join(base, n)))
    except OSError:
        return []
    protected = set()
    try:
        protected.add(os.path.basename(os.path.normpath(os.readlink(os.path.join(base, "latest")))))
    except OSError:
        pass
    if current:
        protected.add(os.path.basename(os.path.normpath(current)))
    deleted = []
    for name in names[:-keep]:
        if name in protected:
            continue
        path = os.path.join(base, name)
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted


def results_path(path: str | os.PathLike) -> str:
    """The results file of a run directory (or the file itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return os.path.join(path, RESULTS)
    return path


def read_results(path: str | os.PathLike) -> tuple[list[dict], list[Problem]]:
    """Read a results file (or a run directory): the valid records in order, and the problems
    (bad JSON, a truncated last line, a missing field, an unknown kind or format version),
    each naming the file and line. Raises FileNotFoundError if there is no file."""
    path = results_path(path)
    with open(path, "rb") as f:
        data = f.read()
    records, problems = [], []
    lines = data.split(b"\n")
    last = len(lines) - 1                             # "" after a final newline
    seen_header = False
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        lineno = i + 1
        if b"\0" in raw or i != last and not _is_utf8(raw):
            # a binary file (an executable, an archive) given by mistake: one problem, not one
            # per "line"; a killed run can cut only its last line, mid-character at worst
            problems.append(Problem(path, lineno, "binary data, not UTF-8 JSON lines: this is not "
                                                  "a results file (reading stopped here)"))
            break
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == last:
                problems.append(Problem(path, lineno, "truncated last line (the run was killed while writing it?)",
                                        truncated=True))
            else:
                problems.append(Problem(path, lineno, f"not valid JSON: {exc}"))
            continue
        except RecursionError:
            problems.append(Problem(path, lineno, f"JSON nested more than {MAX_DEPTH} levels deep"))
            continue
        if (raw.count(b"[") + raw.count(b"{") > MAX_DEPTH      # cheap test first
                and _depth(record) > MAX_DEPTH):
            problems.append(Problem(path, lineno, f"JSON nested more than {MAX_DEPTH} levels deep"))
            continue
        why = invalid(record)
        if why is None and record["kind"] == "header":
            if seen_header:
                why = "a second header record; ignored"
            seen_header = True
        if why:
            problems.append(Problem(path, lineno, why))
            continue
        records.append(record)
    return records, problems


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _depth(value) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar: 0), without
    recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v if isinstance(x, (list, dict)))
    return deepest


@dataclass
class Run:
    """One run's records, sorted by kind."""
    path: str
    header: dict | None = None
    checks: list[dict] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)
    row_skips: list[dict] = field(default_factory=list)
    explores: list[dict] = field(default_factory=list)
    end: dict | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def profile(self) -> dict:
        return (self.header or {}).get("profile") or {}

    @property
    def rules(self) -> list[dict]:
        return (self.header or {}).get("rules") or []

    @property
    def run_id(self) -> str:
        return (self.header or {}).get("run_id") or os.path.basename(os.path.normpath(self.path))

    @property
    def complete(self) -> bool:
        """The controller wrote its end record: the run was not interrupted."""
        return self.end is not None

    @property
    def status(self) -> str:
        """How the run ended: "complete" (its end record), "interrupted (SIGINT)" (an end
        record written after a signal stopped the tests: SIGINT, SIGTERM), "crashed" (no end
        record: killed by SIGKILL, or the process died, maybe mid-line) or "broken" (no
        header, or bad lines other than a truncated last one)."""
        if self.header is None or any(not p.truncated for p in self.problems):
            return "broken"
        if self.end is None:
            return "crashed"
        signal = self.end.get("interrupted")
        return f"interrupted ({signal})" if signal else "complete"

    @property
    def status_text(self) -> str:
        """The status as a sentence for a reader (the report's banner, ``report show``)."""
        status = self.status
        if status == "crashed":
            return ("crashed: the run has no end record (it was killed, e.g. by SIGKILL, or its "
                    "process died); the tests after its last record did not run")
        if status.startswith("interrupted"):
            return (f"{status}: a signal stopped the run; the tests after its last record did "
                    f"not run")
        if status == "broken":
            return "broken: the results file has bad lines or no header"
        return status

    def exercised(self) -> Counter:
        """Rule name -> number of passing checks that matched it (as ``rule`` or in ``also``),
        counting only the checks ``counted_checks`` keeps."""
        seen: Counter = Counter()
        for c in counted_checks(self.checks, self.tests):
            if c["verdict"] == "pass" and c["rule"]:
                names = c.get("exercised")
                if not isinstance(names, list):          # a record from before "exercised"
                    names = [c["rule"]] + [n for n in (c.get("also") or []) if isinstance(n, str)]
                seen.update(set(n for n in names if isinstance(n, str)))
        return seen

    def thin_rules(self, least: int = 3) -> dict[str, int]:
        """Rules that hold for this kernel and were exercised by fewer than ``least`` checks
        (0 for never): rule -> number of checks."""
        seen = self.exercised()
        return {name: seen.get(name, 0) for name in self.applicable_rules()
                if seen.get(name, 0) < least}

    def divergences(self) -> list[dict]:
        """The failing checks of each test's last attempt grouped by what they disagree with
        (the check's ``divergence`` key: the rules whose prediction the kernel contradicted):
        one entry per distinct difference, with how many checks and tests show it."""
        expected_tests = {t["test_id"] for t in self.expected}
        groups: dict[str, dict] = {}
        for c in self.last_attempts():
            if c["verdict"] != "fail":
                continue
            d = c.get("divergence") if isinstance(c.get("divergence"), dict) else None
            if d is None:                        # a record from before "divergence"
                names = [a.get("rule") for a in c["allowed"] if isinstance(a, dict) and a.get("rule")]
                d = {"kind": "answer", "rules": names, "key": "answer: " + " | ".join(names),
                     "documented": None}
            g = groups.setdefault(str(d.get("key")), {
                "key": str(d.get("key")), "kind": d.get("kind"), "rules": list(d.get("rules") or []),
                "documented": d.get("documented"), "checks": 0, "tests": [], "expected": True,
                "example": {"call": c["call"], "message": c.get("message"), "test_id": c["test_id"]}})
            g["checks"] += 1
            if c["test_id"] not in g["tests"]:
                g["tests"].append(c["test_id"])
            g["expected"] = g["expected"] and c["test_id"] in expected_tests
        return sorted(groups.values(), key=lambda g: (-g["checks"], g["key"]))

    def applicable_rules(self) -> list[str]:
        """The header's rules that hold for this kernel (all, unless marked ``applies: false``)."""
        return [r["name"] for r in self.rules if r.get("applies", True) is not False]

    def last_attempts(self) -> list[dict]:
        """The checks of each test's last attempt (a re-run test's first attempt left out)."""
        return last_attempts(self.checks)

    @property
    def flaky(self) -> list[str]:
        """Flaky tests, but not those whose failing checks were all known deviations."""
        return [t["test_id"] for t in self.tests if t.get("flaky") and t["outcome"] != "expected"]

    @property
    def expected(self) -> list[dict]:
        return [t for t in self.tests if t["outcome"] == "expected"]

    @property
    def expect(self) -> dict | None:
        return (self.header or {}).get("expect")

    @property
    def stale(self) -> list[dict]:
        return list((self.end or {}).get("stale") or [])

    def rows_skipped(self) -> dict[str, list[dict]]:
        """reason -> the row_skip records of each test's last attempt with that reason, the
        most frequent reason first."""
        last: dict[str, int] = {}
        for r in self.row_skips:
            last[r["test_id"]] = max(last.get(r["test_id"], 0), r.get("attempt") or 1)
        grouped: dict[str, list[dict]] = {}
        for r in self.row_skips:
            if (r.get("attempt") or 1) == last[r["test_id"]]:
                grouped.setdefault(r["reason"], []).append(r)
        return dict(sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def failing_rules(self) -> set[str]:
        """Rules a failing check contradicted (its divergence's rules; for an older record,
        the rules of its allowed set)."""
        out = set()
        for c in self.checks:
            if c["verdict"] != "fail":
                continue
            d = c.get("divergence")
            if isinstance(d, dict) and isinstance(d.get("rules"), list):
                out.update(n for n in d["rules"] if isinstance(n, str))
            else:
                out.update(a["rule"] for a in c["allowed"] if isinstance(a, dict) and a.get("rule"))
        return out


def last_attempts(checks: list[dict]) -> list[dict]:
    """The checks of each test's last attempt; records without ``attempt`` count as attempt 1."""
    last: dict[str, int] = {}
    for c in checks:
        a = c.get("attempt") or 1
        if a > last.get(c["test_id"], 0):
            last[c["test_id"]] = a
    return [c for c in checks if (c.get("attempt") or 1) == last[c["test_id"]]]


def counted_checks(checks: list[dict], tests: list[dict]) -> list[dict]:
    """The checks coverage may count: those of the last attempt of a test that passed and was
    not flaky (not of a test that failed, was an expected failure, or skipped after some checks;
    a check of a test with no test record, as an interrupted run leaves, counts)."""
    bad = {t["test_id"] for t in tests if t["outcome"] != "passed" or t.get("flaky")}
    return [c for c in last_attempts(checks) if c["test_id"] not in bad]


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read ``run_dir/results.jsonl`` into a Run; problems are kept in ``Run.problems``."""
    run_dir = os.fspath(run_dir)
    if not os.path.exists(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    if not os.path.isdir(run_dir):
        raise NotADirectoryError(f"{run_dir}: not a run directory")
    path = os.path.join(run_dir, RESULTS)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir}: no {RESULTS} in this directory")
    records, problems = read_results(path)
    if not records and not problems:
        problems.append(Problem(path, 1, "empty results file: no records (the run wrote nothing)"))
    run = Run(path=run_dir, problems=problems)
    for r in records:
        kind = r["kind"]
        if kind == "header":
            run.header = r
        elif kind == "check":
            run.checks.append(r)
        elif kind == "test":
            run.tests.append(r)
        elif kind == "row_skip":
            run.row_skips.append(r)
        elif kind == "explore":
            run.explores.append(r)
        else:
            run.end = r
    return run
