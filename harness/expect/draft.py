"""Draft an expectation file from a run: one ``[[deviation]]`` per rule the run's failing checks
contradicted (``Run.divergences``), and one per failed test that recorded no failing check.

``sockspec report expect RUN_DIR [--keep FILE]`` prints the draft. Reasons of entries of the
kept file that name the same rule or test are carried over; a new entry's reason is what the
run observed (the example check's message), to be reworded by whoever reviews the difference.
Nothing is decided for the reader: the draft is a starting point, and every entry in it is
still checked (an entry that stops matching becomes stale).
"""
from __future__ import annotations

import json

from . import load


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)        # a TOML basic string is JSON-compatible


def draft(run, keep_path: str | None = None, others=()) -> str:
    """``others``: more runs of the same target; a rule or test that fails in some of the runs
    but not all is marked ``intermittent`` (never stale)."""
    runs = [run, *others]
    target = str(run.profile.get("target") or "?")
    release = str(run.profile.get("kernel_release") or "?")
    kept = {}
    if keep_path:
        for e in load(keep_path).entries:
            kept.setdefault((e.rule, e.test), e)
    by_rule: dict[str, dict] = {}
    seen_in: dict[str, int] = {}
    for r in runs:
        for name in {n for g in r.divergences() for n in g["rules"]}:
            seen_in[name] = seen_in.get(name, 0) + 1
    bare_in: dict[str, int] = {}
    for r in runs:
        failing = {c["test_id"] for c in r.last_attempts() if c["verdict"] == "fail"}
        for t in r.tests:
            if t["outcome"] in ("failed", "expected") and t["test_id"] not in failing:
                bare_in[t["test_id"]] = bare_in.get(t["test_id"], 0) + 1
    for g in [g for r in runs for g in r.divergences()]:
        for name in g["rules"]:
            slot = by_rule.setdefault(name, {"checks": 0, "tests": set(), "example": g["example"],
                                             "documented": g["documented"]})
            slot["checks"] += g["checks"]
            slot["tests"].update(g["tests"])
    bare = sorted(bare_in)
    lines = [f"# Known deviations of {target} ({release}), drafted by `sockspec report expect` from",
             f"# {run.path} ({len(by_rule)} rules, {len(bare)} tests without a failing check).",
             ""]
    for name, slot in sorted(by_rule.items()):
        old = kept.get((name, None))
        reason = old.reason if old else f"observed: {slot['example']['message'] or slot['example']['call']}"
        kind = "documented behaviour" if slot["documented"] else "implementation detail"
        lines += [f"# {slot['checks']} checks in {len(slot['tests'])} tests; {kind}; e.g. {slot['example']['call']}",
                  "[[deviation]]", f"rule = {_quote(name)}", f"target = {_quote(target)}",
                  f"reason = {_quote(reason)}"]
        if old and old.link:
            lines.append(f"link = {_quote(old.link)}")
        if seen_in.get(name, 0) < len(runs):
            lines.append(f"intermittent = true   # in {seen_in.get(name, 0)} of {len(runs)} runs")
        lines.append("")
    reasons = {t["test_id"]: t.get("reason") for r in runs for t in r.tests if t.get("reason")}
    for test_id in bare:
        old = kept.get((None, test_id))
        reason = old.reason if old else f"observed: {(reasons.get(test_id) or 'the test failed').splitlines()[0][:300]}"
        lines += ["[[deviation]]", f"test = {_quote(test_id)}", f"target = {_quote(target)}",
                  f"reason = {_quote(reason)}"]
        if bare_in[test_id] < len(runs):
            lines.append(f"intermittent = true   # in {bare_in[test_id]} of {len(runs)} runs")
        lines.append("")
    return "\n".join(lines)
