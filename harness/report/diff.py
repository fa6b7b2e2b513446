"""``sockspec report diff OLD NEW``: what changed between two runs.

A check is identified by its test, its syscall, the path and privilege it ran with, and its
position among the test's checks of that syscall (the third ``bind`` of a test): the call text
itself carries ephemeral ports, temporary paths and pids that differ from run to run. The last
attempt of each test is compared. Categories:

- checks: newly failing (passed in OLD), newly passing (failed in OLD), appeared (only in NEW),
  disappeared (only in OLD);
- rules: newly failing, newly passing (exercised and not failing), appeared and disappeared
  (in one header's rule list only), and rules whose applicability to the kernel changed;
- the profile: every field that differs (kernel release and version, sysctls, families,
  capabilities), and each feature marker whose reading differs.

Text goes to stdout; ``-o FILE.html`` also writes a self-contained HTML page. The plugin
writes ``diff-previous.html`` into each run directory against the run before it in the same
reports directory, and the run's report links to it.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from .records import Run, load_run

_VOLATILE = {"date", "hostname", "markers", "decisions"}      # compared separately or not at all


def check_keys(run: Run) -> dict[tuple, dict]:
    seen: Counter = Counter()
    out = {}
    for c in run.last_attempts():
        base = (c["test_id"], c["syscall"], c.get("via") or "native", c.get("privilege") or "?")
        seen[base] += 1
        out[base + (seen[base],)] = c
    return out


def rule_states(run: Run) -> dict[str, str]:
    failing = run.failing_rules()
    exercised = run.exercised()
    names = {r["name"] for r in run.rules} | set(exercised) | failing
    return {n: "fail" if n in failing else "pass" if n in exercised else "not exercised" for n in names}


@dataclass
class Diff:
    old: str
    new: str
    newly_failing: list = field(default_factory=list)
    newly_passing: list = field(default_factory=list)
    appeared: list = field(default_factory=list)
    disappeared: list = field(default_factory=list)
    rules_newly_failing: list = field(default_factory=list)
    rules_newly_passing: list = field(default_factory=list)
    rules_appeared: list = field(default_factory=list)
    rules_disappeared: list = field(default_factory=list)
    rules_applicability: list = field(default_factory=list)   # (rule, old, new)
    profile: list = field(default_factory=list)                # (field, old, new)
    markers: list = field(default_factory=list)                # (marker, old, new)
    counts: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any((self.newly_failing, self.newly_passing, self.appeared, self.disappeared,
                        self.rules_newly_failing, self.rules_newly_passing, self.rules_appeared,
                        self.rules_disappeared, self.rules_applicability, self.profile, self.markers))


def _show(c: dict) -> dict:
    return {"test_id": c["test_id"], "call": c["call"], "via": c.get("via"),
            "verdict": c["verdict"], "rule": c.get("rule"), "message": c.get("message")}


def diff_runs(old: Run, new: Run) -> Diff:
    d = Diff(old=old.path, new=new.path)
    a, b = check_keys(old), check_keys(new)
    for key, c in b.items():
        if key not in a:
            d.appeared.append(_show(c))
        elif a[key]["verdict"] == "pass" and c["verdict"] == "fail":
            d.newly_failing.append(_show(c))
        elif a[key]["verdict"] == "fail" and c["verdict"] == "pass":
            d.newly_passing.append(_show(c))
    d.disappeared = [_show(c) for key, c in a.items() if key not in b]
    ra, rb = rule_states(old), rule_states(new)
    listed_a = {r["name"]: r for r in old.rules}
    listed_b = {r["name"]: r for r in new.rules}
    for name in sorted(set(ra) | set(rb)):
        sa, sb = ra.get(name), rb.get(name)
        if sb == "fail" and sa != "fail" and sa is not None:
            d.rules_newly_failing.append(name)
        elif sb == "pass" and sa == "fail":
            d.rules_newly_passing.append(name)
    d.rules_appeared = sorted(set(listed_b) - set(listed_a))
    d.rules_disappeared = sorted(set(listed_a) - set(listed_b))
    for name in sorted(set(listed_a) & set(listed_b)):
        x, y = listed_a[name].get("applies", True), listed_b[name].get("applies", True)
        if x != y:
            d.rules_applicability.append((name, "holds" if x else "does not hold",
                                          "holds" if y else "does not hold"))
    pa, pb = old.profile, new.profile
    for k in sorted((set(pa) | set(pb)) - _VOLATILE):
        if pa.get(k) != pb.get(k):
            d.profile.append((k, pa.get(k), pb.get(k)))
    ma, mb = pa.get("markers") or {}, pb.get("markers") or {}
    for k in sorted(set(ma) | set(mb)):
        va = (ma.get(k) or {}).get("value") if (ma.get(k) or {}).get("known") else "unknown"
        vb = (mb.get(k) or {}).get("value") if (mb.get(k) or {}).get("known") else "unknown"
        if va != vb:
            d.markers.append((k, va, vb))
    d.counts = {"old_checks": len(a), "new_checks": len(b),
                "old_failing": sum(1 for c in a.values() if c["verdict"] == "fail"),
                "new_failing": sum(1 for c in b.values() if c["verdict"] == "fail")}
    return d


def text(d: Diff) -> str:
    lines = [f"old: {d.old}", f"new: {d.new}",
             f"checks: {d.counts['old_checks']} -> {d.counts['new_checks']}; failing "
             f"{d.counts['old_failing']} -> {d.counts['new_failing']}"]
    if d.empty:
        return "\n".join(lines + ["no differences"]) + "\n"
    for title, items in (("newly failing checks", d.newly_failing), ("newly passing checks", d.newly_passing),
                         ("checks that appeared", d.appeared), ("checks that disappeared", d.disappeared)):
        if items:
            lines.append(f"{title}: {len(items)}")
            lines += [f"  {c['test_id']}: {c['call']} [{c['verdict']}]" for c in items[:50]]
            if len(items) > 50:
                lines.append(f"  ... and {len(items) - 50} more")
    for title, items in (("rules newly failing", d.rules_newly_failing), ("rules newly passing", d.rules_newly_passing),
                         ("rules that appeared", d.rules_appeared), ("rules that disappeared", d.rules_disappeared)):
        if items:
            lines.append(f"{title}: {len(items)}: {', '.join(items)}")
    for name, x, y in d.rules_applicability:
        lines.append(f"rule {name}: {x} -> {y} for the kernel")
    for k, x, y in d.profile:
        lines.append(f"profile {k}: {x} -> {y}")
    for k, x, y in d.markers:
        lines.append(f"marker {k}: {x} -> {y}")
    return "\n".join(lines) + "\n"


def render(d: Diff, path: str) -> str:
    from .html import environment, write_atomically
    write_atomically(path, environment().get_template("diff.html.j2").render(d=d))
    return path


def previous_run(run_dir: str) -> str | None:
    """The run directory before ``run_dir`` in the same reports directory (by run id, which
    starts with the UTC time), or None."""
    base, name = os.path.split(os.path.normpath(os.path.abspath(run_dir)))
    try:
        names = sorted(n for n in os.listdir(base)
                       if n < name and _is_run_id(n) and os.path.isfile(os.path.join(base, n, "results.jsonl")))
    except OSError:
        return None
    return os.path.join(base, names[-1]) if names else None


def _is_run_id(name: str) -> bool:
    import re
    return re.fullmatch(r"\d{8}-\d{6}-[A-Za-z0-9_.-]+-[0-9a-f]{4}", name) is not None


def write_previous_diff(run_dir: str, new: Run | None = None) -> str | None:
    """Write run_dir/diff-previous.html against the previous run; its path, or None."""
    prev = previous_run(run_dir)
    if prev is None:
        return None
    d = diff_runs(load_run(prev), new or load_run(run_dir))
    return render(d, os.path.join(run_dir, "diff-previous.html"))
