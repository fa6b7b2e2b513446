"""Rules and outcomes: the vocabulary of the model.

Every outcome the model allows is produced by a named rule (``listen.backlog_clamp``). A rule
carries its result, a one-sentence description, where it is defined (kernel function and file,
man page and section) and the kernel versions it holds for. A difference between kernels is a
rule with a version range, never an ``if`` in a test.

Where distribution kernels carry the change as a backport, the rule also names feature markers
(harness/abi/markers.py: a BTF struct member, an enumerator, a kallsyms symbol, a config option)
read from the kernel itself. When the profile could read every marker a rule names, the markers
decide; only when one is unknown (no BTF, no config) does the release range decide.
"""
from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field
from typing import Any, Callable

from ..abi.markers import MarkerTest

Version = tuple[int, int, int]


# --------------------------------------------------------------------------- value constraints

class Constraint:
    """A set of values the model allows where the kernel is free to choose."""

    def __contains__(self, value) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Exact(Constraint):
    value: Any

    def __contains__(self, value) -> bool:
        return value == self.value

    def __str__(self) -> str:
        return repr(self.value) if isinstance(self.value, (bytes, str)) else str(self.value)


@dataclass(frozen=True)
class Range(Constraint):
    lo: int
    hi: int          # inclusive

    def __contains__(self, value) -> bool:
        return isinstance(value, int) and self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class OneOf(Constraint):
    values: tuple

    def __contains__(self, value) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return " or ".join(str(v) for v in self.values)


@dataclass(frozen=True)
class Anything(Constraint):
    what: str = "any value"

    def __contains__(self, value) -> bool:
        return True

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class Predicate(Constraint):
    test: Callable[[Any], bool]
    what: str

    def __contains__(self, value) -> bool:
        try:
            return bool(self.test(value))
        except Exception:                           # noqa: BLE001 - a bad value is not allowed
            return False

    def __str__(self) -> str:
        return self.what


def constraint(value) -> Constraint:
    return value if isinstance(value, Constraint) else Exact(value)


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    name: str
    syscall: str
    result: str
    description: str
    citation: str
    since: Version | None = None       # first kernel it holds for
    until: Version | None = None       # first kernel it no longer holds for
    when: tuple[MarkerTest, ...] = ()  # markers that identify the kernels it holds for
    backports: tuple[Version, ...] = ()  # stable releases that carry it before ``since``
    # a feature the rule needs at all (a config option): markers, else release >= requires_since.
    # Unlike ``when`` it does not override the range: both must hold.
    requires: tuple[MarkerTest, ...] = ()
    requires_since: Version | None = None
    # with the markers unknown and no requires_since: is the feature taken as there?
    requires_default: bool = True
    # where a check sees the rule's effect: "answer" (the return value or errno), "out.KEY"
    # (a write-back the outcome constrains), or a state observable (harness/model/observe.py:
    # "sockname", "FD_CLOEXEC", "listen_backlog", "SIGPIPE pending", ...). A rule counts as
    # exercised by a check only where the check compared one of them.
    shows: tuple[str, ...] = ("answer",)
    # documented behaviour (man page, POSIX) or a Linux implementation detail; None: decided
    # by the citation and the man page's ERRORS list (harness/model/manpages.py)
    documented: bool | None = None

    def holds_for(self, version: Version) -> bool:
        """By the release range alone (``sockspec rules --kernel R``): [since, until), or a
        stable series at or after the release that took the change as a backport."""
        if any(version[:2] == b[:2] and version >= b for b in self.backports):
            return self.until is None or version < self.until
        return ((self.since is None or version >= self.since)
                and (self.until is None or version < self.until))

    def marker_verdict(self, markers: dict | None) -> bool | None:
        """What the markers say (None where the rule names none or one is unknown)."""
        if not self.when or not markers:
            return None
        for test in self.when:
            reading = markers.get(test.marker.name)
            if reading is None or not reading.get("known", False):
                return None
        return all(test.holds(markers[test.marker.name]["value"]) for test in self.when)

    def feature_present(self, version: Version, markers: dict | None = None) -> bool:
        """Is the feature the rule needs there (``requires``)? By the markers where all are
        known, else by release."""
        if not self.requires:
            return True
        readings = [(markers or {}).get(t.marker.name) for t in self.requires]
        if all(r is not None and r.get("known", False) for r in readings):
            return all(t.holds(r["value"]) for t, r in zip(self.requires, readings))
        if self.requires_since is None:
            return self.requires_default
        return version >= self.requires_since

    def holds(self, version: Version, markers: dict | None = None) -> bool:
        """Does the rule hold for this kernel? Its markers win over its release range; a
        required feature must be there too."""
        if not self.feature_present(version, markers):
            return False
        verdict = self.marker_verdict(markers)
        return self.holds_for(version) if verdict is None else verdict

    @property
    def is_documented(self) -> bool:
        """Documented behaviour (the man page or POSIX says so) rather than a Linux
        implementation detail: explicit, else a man page in the citation, else an errno the
        syscall's man page lists under ERRORS."""
        if self.documented is not None:
            return self.documented
        from .manpages import documents
        return documents(self.syscall, self.result, self.citation)

    @property
    def conditional(self) -> bool:
        return bool(self.when) or self.since is not None or self.until is not None \
            or bool(self.backports) or bool(self.requires)

    def basis(self, version: Version, markers: dict | None = None) -> str:
        """Why the rule holds or not for this kernel: the markers read, or the release range."""
        if not self.conditional:
            return "every kernel"
        if not self.feature_present(version, markers):
            got = "; ".join(f"{t.marker.name}: {_show_reading(markers[t.marker.name])}"
                            for t in self.requires if (markers or {}).get(t.marker.name, {}).get("known"))
            if got:
                why = "read " + got
            elif self.requires_since is None:
                why = "unknown, taken as absent"
            else:
                why = f"unknown; release {_fmt_version(version)} before {_fmt_version(self.requires_since)}"
            return f"does not hold: needs {', '.join(str(t) for t in self.requires)} ({why})"
        verdict = self.marker_verdict(markers)
        holds = self.holds(version, markers)
        if verdict is not None:
            read = "; ".join(f"{t.marker.name}: {_show_reading(markers[t.marker.name])}"
                             for t in self.when)
            return (f"{'holds' if holds else 'does not hold'} by marker (needs "
                    f"{', '.join(str(t) for t in self.when)}; read {read})")
        span = _fmt_range(self.since, self.until)
        if self.backports:
            span += "; stable " + ", ".join(_fmt_version(b) for b in self.backports)
        why = f"{'holds' if holds else 'does not hold'} by release {_fmt_version(version)} ({span})"
        if self.when:
            unknown = [t.marker.name for t in self.when
                       if not (markers or {}).get(t.marker.name, {}).get("known", False)]
            why += f"; marker {', '.join(unknown)} unknown"
        return why

    def fail(self, err: int, **out) -> "Outcome":
        """The call fails with ``err`` under this rule."""
        return Outcome(self, err, Exact(-1), {k: constraint(v) for k, v in out.items()})

    def ok(self, ret=0, apply: Callable | None = None, also: tuple = (), **out) -> "Outcome":
        """The call succeeds under this rule; ``apply(model, result)`` is the transition;
        ``also`` names further rules the same outcome shows (the fd number, a flag)."""
        return Outcome(self, 0, constraint(ret), {k: constraint(v) for k, v in out.items()},
                       apply, tuple(also))

    def to_json(self) -> dict:
        return {"name": self.name, "syscall": self.syscall, "result": self.result,
                "description": self.description, "citation": self.citation,
                "since": _fmt_version(self.since), "until": _fmt_version(self.until),
                "markers": [str(t) for t in self.when],
                "backports": [_fmt_version(b) for b in self.backports],
                "requires": [str(t) for t in self.requires],
                "shows": list(self.shows), "documented": self.is_documented}


def _fmt_version(v: Version | None) -> str | None:
    return None if v is None else ".".join(str(x) for x in v)


def _fmt_range(since: Version | None, until: Version | None) -> str:
    if since and until:
        return f"since {_fmt_version(since)}, until {_fmt_version(until)}"
    if since:
        return f"since {_fmt_version(since)}"
    if until:
        return f"until {_fmt_version(until)}"
    return "every release"


def _show_reading(d: dict) -> str:
    value = d.get("value")
    shown = {True: "yes", False: "no", None: "not set"}.get(value, value) \
        if isinstance(value, (bool, type(None))) else value
    return f"{shown} ({d.get('source', '?')})"


REGISTRY: dict[str, Rule] = {}


def rule(name: str, result: str, description: str, citation: str, *,
         since: Version | None = None, until: Version | None = None,
         when: tuple[MarkerTest, ...] | MarkerTest = (),
         backports: tuple[Version, ...] = (),
         requires: tuple[MarkerTest, ...] | MarkerTest = (), requires_since: Version | None = None,
         requires_default: bool = True,
         shows: tuple[str, ...] | str = ("answer",), documented: bool | None = None) -> Rule:
    """Define and register a rule. The syscall is the part of the name before the dot."""
    if name in REGISTRY:
        raise ValueError(f"rule {name} defined twice")
    if isinstance(when, MarkerTest):
        when = (when,)
    if isinstance(requires, MarkerTest):
        requires = (requires,)
    if isinstance(shows, str):
        shows = (shows,)
    r = Rule(name, name.split(".", 1)[0], result, description, citation, since, until, tuple(when),
             tuple(backports), tuple(requires), requires_since, requires_default, tuple(shows),
             documented)
    REGISTRY[name] = r
    return r


def rules_for(version: Version, markers: dict | None = None) -> list[Rule]:
    return [r for r in REGISTRY.values() if r.holds(version, markers)]


# --------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class Outcome:
    """One allowed result of a call: errno (0 for success), the return value, constraints on
    the call's outputs (``Result.out``), and the state transition applied when it is observed.

    ``waits``: None for an answer that comes at once; else the longest (in seconds) the call
    may wait before giving it (a timeout the caller set). The checker bounds every call by
    its CALL_BOUND plus the longest wait of its allowed outcomes; a call still waiting then is
    reported as blocked."""
    rule: Rule
    errno: int
    ret: Constraint
    out: dict = field(default_factory=dict)
    apply: Callable | None = field(default=None, compare=False)
    also: tuple = ()
    waits: float | None = None

    @property
    def rules(self) -> tuple:
        return (self.rule,) + self.also

    def matches(self, result) -> bool:
        if result.errno != self.errno:
            return False
        if self.errno == 0 and result.ret not in self.ret:
            return False
        for key, allowed in self.out.items():
            if result.out.get(key, _MISSING) not in allowed:
                return False
        return True

    def describe(self) -> str:
        if self.errno:
            head = f"-1 {_errno.errorcode.get(self.errno, self.errno)}"
            if self.errno == _errno.EOPNOTSUPP:
                head = "-1 EOPNOTSUPP"
        else:
            head = str(self.ret)
        extra = ", ".join(f"{k}={v}" for k, v in self.out.items())
        return f"{head} ({extra})" if extra else head

    def to_json(self) -> dict:
        d = {"rule": self.rule.name, "result": self.describe(), "citation": self.rule.citation}
        if self.waits is not None:
            d["waits"] = self.waits
        if self.also:
            d["also"] = [r.name for r in self.also]
        return d


_MISSING = object()


def as_outcomes(value) -> tuple[Outcome, ...]:
    if isinstance(value, Outcome):
        return (value,)
    out = tuple(value)
    if not out or not all(isinstance(o, Outcome) for o in out):
        raise TypeError(f"the model returned {value!r}, not outcomes")
    return out
