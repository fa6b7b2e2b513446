"""Several runs merged into a rule x target matrix (ARCHITECTURE.md §8, §9).

Rows are rules (the union of the headers' rule lists, plus any rule a check matched that no
header lists); columns are targets (profile target + kernel release). A cell is:

- "fail" if a failing check of that run lists the rule in its allowed set;
- else "expected" if such a check is in a test its expectation file lists (a known deviation);
- else "pass" if the rule was exercised (a passing check matched it);
- else "not exercised".

Linux targets must agree with the model, so ``Matrix.failing_linux_targets`` names the Linux
columns with failing checks; a sandbox's failing checks are its divergences (findings), and
its conformance figure is checks agreeing / checks run (the last attempt of each test). With an
expectation file, a column reads "N known deviations, M unexpected"; ``unmet_expectations``
names the columns with unexpected failing tests or stale entries.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from .html import environment, make_output_dir, show_observation, write_atomically
from .records import Problem, Run, load_run

PASS, FAIL, EXPECTED, NOT_EXERCISED = "pass", "fail", "expected", "not exercised"
MATRIX_FORMAT = 1


@dataclass
class Column:
    key: str                      # unique column name: "<target> <kernel release>"
    target: str
    target_kind: str              # "linux" or "sandbox" (or "?" when the header is missing)
    kernel_release: str
    run_id: str
    run_dir: str
    complete: bool                # the run has its end record
    status: str                   # complete | interrupted (SIGNAL) | crashed | broken
    exit_status: int | None
    problems: list[str]
    checks_run: int
    checks_agreeing: int
    tests: dict
    divergences: list[dict]       # the failing checks, with the rules they allowed
    rules_applicable: int = 0     # rules that hold for this kernel (markers, else release)
    rules_exercised: int = 0      # of those, rules a passing check matched
    rules_missing: list = field(default_factory=list)   # applicable, never exercised
    expect_file: str | None = None                      # the run's expectation file
    tests_expected: int = 0       # expected failures (known deviations)
    tests_unexpected: int = 0     # failed tests (a flaky one included, unless allowed)
    flaky: list = field(default_factory=list)
    stale: list = field(default_factory=list)           # stale expectation entries
    expected_checks: int = 0      # failing checks in expected failures
    distinct: list = field(default_factory=list)        # Run.divergences(): grouped by rule
    thin_rules: dict = field(default_factory=dict)      # applicable rules with < 3 checks
    taint: dict | None = None     # the end record's kernel taint / log report (harness/taint.py)

    @property
    def taint_failed(self) -> bool:
        return bool(self.taint and self.taint.get("failed"))

    @property
    def divergent_rules(self) -> list[str]:
        return sorted({r for g in self.distinct for r in g["rules"]})

    @property
    def distinct_text(self) -> str:
        """'N distinct divergences in R rules (D of documented behaviour, I implementation
        details)', over all failing checks (known deviations included)."""
        if not self.distinct:
            return "no divergences"
        doc = sum(1 for g in self.distinct if g["documented"])
        return (f"{len(self.distinct)} distinct divergence{'s' if len(self.distinct) != 1 else ''} "
                f"in {len(self.divergent_rules)} rules ({doc} of documented behaviour, "
                f"{len(self.distinct) - doc} implementation details)")

    @property
    def conformance(self) -> float | None:
        return self.checks_agreeing / self.checks_run if self.checks_run else None

    @property
    def failed_checks(self) -> int:
        """Failing checks that no expectation covers."""
        return self.checks_run - self.checks_agreeing - self.expected_checks

    @property
    def conformance_text(self) -> str:
        if self.conformance is None:
            return "— (no checks)"
        return f"{100 * self.conformance:.1f}% ({self.checks_agreeing}/{self.checks_run} checks agree with the model)"

    @property
    def deviations_text(self) -> str:
        if self.expect_file is None:
            return f"{self.tests_unexpected} failing tests (no expectation file)"
        text = f"{self.tests_expected} known deviations, {self.tests_unexpected} unexpected"
        if self.flaky:
            text += f" ({len(self.flaky)} flaky)"
        return text + f", {len(self.stale)} stale"

    @property
    def expectations_met(self) -> bool | None:
        if self.expect_file is None:
            return None
        return not self.tests_unexpected and not self.stale and self.status == "complete"

    @property
    def coverage(self) -> str:
        return f"{self.rules_exercised}/{self.rules_applicable}"

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["conformance"] = self.conformance
        d["failed_checks"] = self.failed_checks
        d["coverage"] = self.coverage
        d["deviations"] = self.deviations_text
        d["expectations_met"] = self.expectations_met
        d["divergent_rules"] = self.divergent_rules
        d["distinct_text"] = self.distinct_text
        return d


@dataclass
class Row:
    rule: str
    syscall: str
    citation: str | None
    description: str | None
    since: str | None
    until: str | None
    listed: bool                  # in some header's rule list (else only matched by a check)
    cells: dict[str, str]         # column key -> pass | fail | not exercised
    inapplicable: list[str] = field(default_factory=list)   # columns whose kernel the rule's range excludes

    @property
    def differs(self) -> bool:
        return len(set(self.cells.values())) > 1

    def to_json(self) -> dict:
        return dict(self.__dict__, differs=self.differs)


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[Row]
    problems: list[Problem] = field(default_factory=list)
    json_path: str | None = None
    html_path: str | None = None

    @property
    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.differs]

    @property
    def linux_failures(self) -> dict[str, int]:
        """Linux column key -> number of failing checks, for the Linux columns that have any."""
        return {c.key: c.failed_checks for c in self.columns
                if c.target_kind == "linux" and c.failed_checks}

    @property
    def failing_linux_targets(self) -> list[str]:
        return list(self.linux_failures)

    @property
    def uncovered_linux(self) -> dict[str, list[str]]:
        """Linux column key -> rules that hold for its kernel but no check exercised, for the
        complete Linux columns that have any (100 % per column is the bar)."""
        return {c.key: c.rules_missing for c in self.columns
                if c.target_kind == "linux" and c.status == "complete" and c.rules_missing}

    @property
    def unmet_expectations(self) -> list[str]:
        """Columns with an expectation file that does not hold (unexpected failing tests,
        stale entries)."""
        return [c.key for c in self.columns if c.expectations_met is False]

    @property
    def incomplete(self) -> list[str]:
        """Columns whose run was interrupted or broken."""
        return [c.key for c in self.columns if c.status != "complete"]

    def to_json(self) -> dict:
        return {
            "format": MATRIX_FORMAT,
            "columns": [c.to_json() for c in self.columns],
            "rows": [r.to_json() for r in self.rows],
            "summary": {"rules": len(self.rows), "differing": len(self.differing),
                        "failing_linux_targets": self.failing_linux_targets,
                        "uncovered_linux": self.uncovered_linux,
                        "unmet_expectations": self.unmet_expectations,
                        "incomplete": self.incomplete},
            "problems": [str(p) for p in self.problems],
        }


def _column(run: Run, taken: set[str]) -> Column:
    p = run.profile
    target = str(p.get("target") or os.path.basename(os.path.normpath(run.path)))
    release = str(p.get("kernel_release") or "?")
    key = f"{target} {release}"
    if key in taken:
        key = f"{key} ({run.run_id})"
    n = 2
    while key in taken:
        key, n = f"{target} {release} ({run.run_id}) #{n}", n + 1
    taken.add(key)
    checks = run.last_attempts()
    failing = [c for c in checks if c["verdict"] == "fail"]
    expected_tests = {t["test_id"]: t for t in run.expected}
    applicable = set(run.applicable_rules())
    exercised = set(run.exercised()) & applicable
    return Column(
        key=key, target=target, target_kind=str(p.get("target_kind") or "?"), kernel_release=release,
        run_id=run.run_id, run_dir=os.path.abspath(run.path), complete=run.complete,
        status=run.status, exit_status=(run.end or {}).get("exit_status"),
        taint=(run.end or {}).get("taint") or None,
        problems=[str(x) for x in run.problems], checks_run=len(checks),
        checks_agreeing=len(checks) - len(failing),
        tests=dict(Counter(t["outcome"] for t in run.tests)),
        divergences=[{"test_id": c["test_id"], "syscall": c["syscall"], "call": c["call"],
                      "rules": [a.get("rule") for a in c["allowed"] if isinstance(a, dict)],
                      "observation": show_observation(c["observation"]),
                      "message": c.get("message"),
                      "expected": (expected_tests[c["test_id"]].get("reason")
                                   if c["test_id"] in expected_tests else None)}
                     for c in failing],
        rules_applicable=len(applicable), rules_exercised=len(exercised),
        rules_missing=sorted(applicable - exercised),
        expect_file=(run.expect or {}).get("file"),
        tests_expected=len(expected_tests),
        tests_unexpected=sum(1 for t in run.tests if t["outcome"] == "failed"),
        flaky=run.flaky, stale=run.stale,
        expected_checks=sum(1 for c in failing if c["test_id"] in expected_tests),
        distinct=run.divergences(), thin_rules=run.thin_rules(),
    )


def _failing_rules(run: Run) -> tuple[set[str], set[str]]:
    """Rules allowed by a failing check of a test's last attempt: (unexpected, expected)."""
    expected_tests = {t["test_id"] for t in run.expected}
    out: tuple[set[str], set[str]] = (set(), set())
    for c in run.last_attempts():
        if c["verdict"] == "fail":
            d = c.get("divergence")
            if isinstance(d, dict) and isinstance(d.get("rules"), list):
                names = [n for n in d["rules"] if isinstance(n, str)]
            else:
                names = [a["rule"] for a in c["allowed"] if isinstance(a, dict) and a.get("rule")]
            out[c["test_id"] in expected_tests].update(names)
    return out


def matrix(runs: list[Run]) -> Matrix:
    """The rule x target matrix of already-loaded runs (nothing written)."""
    taken: set[str] = set()
    columns = [_column(run, taken) for run in runs]
    info: dict[str, dict] = {}
    for run in runs:
        for r in run.rules:
            info.setdefault(r["name"], dict(r, listed=True))   # first header's wording wins
    for run in runs:                                     # matched rules no header lists
        for c in run.checks:
            for name in [c["rule"]] + [a.get("rule") for a in c["allowed"] if isinstance(a, dict)]:
                if name and name not in info:
                    info[name] = {"name": name, "syscall": c["syscall"], "listed": False}
    per_run = [(col.key, _failing_rules(run), run.exercised(),
                {r["name"] for r in run.rules} - set(run.applicable_rules()))
               for col, run in zip(columns, runs)]
    rows = []
    for name, r in info.items():
        cells = {key: FAIL if name in failing[0] else EXPECTED if name in failing[1]
                 else PASS if name in exercised else NOT_EXERCISED
                 for key, failing, exercised, _ in per_run}
        rows.append(Row(rule=name, syscall=str(r.get("syscall") or name.split(".")[0]),
                        citation=r.get("citation"), description=r.get("description"),
                        since=r.get("since"), until=r.get("until"), listed=r["listed"], cells=cells,
                        inapplicable=[key for key, _, _, out in per_run if name in out]))
    rows.sort(key=lambda r: (r.syscall, r.rule))
    problems = [p for run in runs for p in run.problems]
    return Matrix(columns=columns, rows=rows, problems=problems)


def merge(run_dirs, out_dir) -> Matrix:
    """Load the runs, write ``out_dir/matrix.json`` and ``out_dir/matrix.html``; return the
    Matrix. A missing run directory raises FileNotFoundError before anything is written; bad
    lines in a results file are in ``Matrix.problems`` and the rest is merged."""
    runs = [load_run(d) for d in run_dirs]
    m = matrix(runs)
    out_dir = os.fspath(out_dir)
    make_output_dir(out_dir)
    m.json_path = os.path.join(out_dir, "matrix.json")
    m.html_path = os.path.join(out_dir, "matrix.html")
    write_atomically(m.json_path, json.dumps(m.to_json(), indent=1, ensure_ascii=False) + "\n")
    write_atomically(m.html_path, environment().get_template("matrix.html.j2").render(m=m))
    return m
