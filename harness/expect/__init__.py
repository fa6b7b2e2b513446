"""Known deviations: an expectation file (TOML) that turns matching failures into expected ones.

A file holds ``[[deviation]]`` entries::

    [[deviation]]
    rule = "bind.ephemeral_port"          # a rule the failing check allowed, and/or
    test = "suite/test_bind.py::*"        # a test id or a pattern: * and ? (brackets are literal)
    target = "gvisor"                      # optional fnmatch pattern on the profile's target
    kernel = "4.4.*"                       # optional fnmatch pattern on its kernel release
    reason = "gVisor picks ephemeral ports without Linux's odd/even split"
    link = "https://..."                   # optional
    intermittent = true                    # optional: the deviation shows only in some runs

A failing test all of whose failing checks match an entry that applies (target and kernel) is an
*expected* failure. A failing test that recorded no failing check (an error, a leaked fd) is
expected only through an entry that names its test and no rule. An entry that applies, had
something to match (a test its ``test`` pattern selects ran, a check allowed its ``rule``) and
matched nothing that failed is *stale*: the deviation is gone, or the entry is wrong. An entry
marked ``intermittent`` (a sandbox's timing, a random port that lands on Linux's parity one
time in two) is never stale: when it matched nothing it is listed as unmatched this run.

The plugin loads the file once (``load``); a bad file raises ExpectError, whose message is one
line. Nothing here imports the kernel side.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

ENTRY_KEYS = {"test": str, "rule": str, "target": str, "kernel": str, "reason": str, "link": str,
              "intermittent": bool}
TOP_KEYS = {"deviation"}
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ExpectError(ValueError):
    """A bad expectation file; the message is one line naming the file."""


def default_file(target: str) -> str | None:
    """The expectation file shipped for a target kind (``gvisor``), or None (Linux targets)."""
    path = os.path.join(PACKAGE_DIR, f"{target}.toml")
    return path if target == "gvisor" and os.path.isfile(path) else None


@dataclass(frozen=True)
class Entry:
    index: int                    # 1-based position in the file
    reason: str
    test: str | None = None
    rule: str | None = None
    target: str | None = None
    kernel: str | None = None
    link: str | None = None
    intermittent: bool = False

    @property
    def label(self) -> str:
        what = " ".join(f"{k}={v!r}" for k, v in (("test", self.test), ("rule", self.rule)) if v)
        return f"deviation #{self.index} ({what})"

    def applies(self, target: str, release: str) -> bool:
        return ((self.target is None or fnmatch.fnmatchcase(target, self.target))
                and (self.kernel is None or fnmatch.fnmatchcase(release, self.kernel)))

    def selects_test(self, test_id: str) -> bool:
        """``*`` and ``?`` are wildcards; brackets are literal, as test ids have them."""
        if self.test is None or test_id == self.test:
            return True
        pattern = self.test.replace("[", "[[]").replace("]", "[]]").replace("[[[]]", "[[]")
        return fnmatch.fnmatchcase(test_id, pattern)

    def matches_check(self, check: dict) -> bool:
        """A failing check record of a test this entry selects, allowing its rule."""
        if not self.selects_test(check.get("test_id", "")):
            return False
        return self.rule is None or self.rule in allowed_rules(check)

    def matches_bare_failure(self, test_id: str) -> bool:
        """A failed test without a failing check: only an entry naming its test and no rule."""
        return self.test is not None and self.rule is None and self.selects_test(test_id)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def allowed_rules(check: dict) -> set[str]:
    """The rules a check involves: those of its allowed set, the ones a failing check
    contradicted (its divergence: the rule of the port parity, of SO_ACCEPTCONN...), and the
    further rules of its matched outcome."""
    out = {a["rule"] for a in check.get("allowed") or () if isinstance(a, dict) and a.get("rule")}
    d = check.get("divergence")
    if isinstance(d, dict):
        out.update(n for n in d.get("rules") or () if isinstance(n, str))
    out.update(n for n in check.get("also") or () if isinstance(n, str))
    return out


@dataclass
class Expectations:
    path: str
    entries: list[Entry] = field(default_factory=list)

    def applicable(self, target: str, release: str) -> list[Entry]:
        return [e for e in self.entries if e.applies(target, release)]

    def explain(self, test_id: str, failing_checks: list[dict], target: str,
                release: str) -> list[Entry] | None:
        """The entries that cover every failing check of a failed test, or None when one is
        not covered (the failure is unexpected)."""
        entries = self.applicable(target, release)
        used: dict[int, Entry] = {}
        if not failing_checks:
            hit = [e for e in entries if e.matches_bare_failure(test_id)]
            return hit or None
        for c in failing_checks:
            hit = [e for e in entries if e.matches_check(c)]
            if not hit:
                return None
            for e in hit:
                used.setdefault(e.index, e)
        return [used[i] for i in sorted(used)]

    def verdicts(self, tests: list[dict], checks: list[dict], target: str,
                 release: str) -> dict[str, list[Entry]]:
        """Applicable entries sorted into "matched" (matched a failure of a failed or expected
        test), "stale" (had something to match but matched no failure) and "unexercised"
        (nothing in this run was selected by it)."""
        failed = {t["test_id"] for t in tests if t.get("outcome") in ("failed", "expected")}
        failing = [c for c in checks if c.get("verdict") == "fail" and c.get("test_id") in failed]
        run_tests = {t["test_id"] for t in tests}
        out: dict[str, list[Entry]] = {"matched": [], "stale": [], "unexercised": []}
        for e in self.applicable(target, release):
            if any(e.matches_check(c) for c in failing) or any(
                    e.matches_bare_failure(t) for t in failed):
                out["matched"].append(e)
                continue
            if e.rule is None:
                chance = any(e.selects_test(t) for t in run_tests)
            else:
                chance = any(e.selects_test(c.get("test_id", "")) and e.rule in allowed_rules(c)
                             for c in checks)
            out["stale" if chance and not e.intermittent else "unexercised"].append(e)
        return out

    def to_json(self) -> dict:
        return {"file": self.path, "entries": [e.to_json() for e in self.entries]}


def load(path: str, known_rules=None) -> Expectations:
    """Read and check an expectation file. ExpectError (one line) when it is missing, not
    TOML, or has unknown keys, wrong types, an entry naming neither test nor rule, or (given
    ``known_rules``) a rule the model does not define."""
    try:
        import tomllib
    except ModuleNotFoundError:                        # Python 3.10
        raise ExpectError(f"{path}: reading expectation files needs Python 3.11 (tomllib)") from None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ExpectError(f"{path}: no such expectation file") from None
    except IsADirectoryError:
        raise ExpectError(f"{path}: a directory, not an expectation file") from None
    except OSError as exc:
        raise ExpectError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExpectError(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ExpectError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} (expected [[deviation]] entries)")
    raw = data.get("deviation", [])
    if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
        raise ExpectError(f"{path}: 'deviation' must be an array of tables ([[deviation]])")
    entries = []
    for i, d in enumerate(raw, 1):
        where = f"{path}: deviation #{i}"
        unknown = sorted(set(d) - set(ENTRY_KEYS))
        if unknown:
            raise ExpectError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(map(repr, unknown))} (known: {', '.join(ENTRY_KEYS)})")
        for k, v in d.items():
            if not isinstance(v, ENTRY_KEYS[k]):
                raise ExpectError(f"{where}: {k} must be a {'boolean' if ENTRY_KEYS[k] is bool else 'string'}, "
                                  f"not {type(v).__name__}")
            if isinstance(v, str) and not v.strip():
                raise ExpectError(f"{where}: {k} is empty")
        if "test" not in d and "rule" not in d:
            raise ExpectError(f"{where}: names neither a test nor a rule")
        if "reason" not in d:
            raise ExpectError(f"{where}: has no reason")
        if known_rules is not None and "rule" in d and d["rule"] not in known_rules:
            raise ExpectError(f"{where}: unknown rule {d['rule']!r}")
        entries.append(Entry(index=i, **d))
    return Expectations(path=os.path.abspath(path), entries=entries)
