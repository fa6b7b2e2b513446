"""Why the model did not allow the kernel's answer: the rules it considered and, for each, the
guard that kept it out of the allowed set (ARCHITECTURE.md §6: a failure names "the rules
considered").

Tooling of the checker, not part of the model, and generic: nothing in harness/model/ is
written for it. On a failing check ``considered()`` re-runs the model's decision
(``Model.allowed``) on a deep copy of the model under a line tracer that only looks at frames
whose code lives in harness/model/, and reads the model's source (``ast``) for

- where each rule is defined (its module-level variable: ``TYPE_FLAGS_INVALID = rule(...)``)
  and the lines that use the variable (also through ``from .socket import X`` in other
  modules);
- the guards around each use: the enclosing ``if``/``elif``/``else``, loop, ``except`` or
  conditional expression, innermost first.

A rule that holds for this kernel and is not in the allowed set then gets one verdict: its
guard was reached and was false ("guard `if flags & ...:` at harness/model/socket.py:236 was
false"), or the code around it was never reached ("an earlier rule answered first"), or the
function holding it was not called. A rule that does not hold for this kernel is listed with
its basis (Rule.basis: the markers read, or the release range).

The rules considered: those of the syscall (and of the direct call a socketcall decodes to),
and every rule used in a model function the decision entered (fd.*, addr.*, the families').
"""
from __future__ import annotations

import ast
import copy
import functools
import os
import sys
from dataclasses import dataclass

from .model import rules as _rules
from .model.call import Call

MODEL_DIR = os.path.dirname(os.path.realpath(_rules.__file__))
ROOT = os.path.dirname(os.path.dirname(MODEL_DIR))
SHOWN = 20                         # lines of the text explanation; the record keeps them all

# verdict kinds, most telling first (the order of the list)
GUARD, REACHED, EARLIER, NOT_CALLED, TABLE, NOT_HELD, UNKNOWN = range(7)


def where(path: str, line: int) -> str:
    return f"{os.path.relpath(path, ROOT)}:{line}"


# --------------------------------------------------------------------------- the source index

@dataclass(frozen=True)
class Guard:
    kind: str              # if, elif, while, for, except, ifexp
    text: str              # the guard as written, condensed: "if flags & ~(...):"
    path: str
    line: int              # the line whose execution shows the guard was evaluated
    branch_line: int       # the first line of the branch that holds the use (0: unknown)
    in_else: bool          # the use is in the else branch: the guard must be false to reach it

    @property
    def where(self) -> str:
        return where(self.path, self.line)


@dataclass(frozen=True)
class Use:
    rule: str
    var: str
    path: str
    line: int
    func: str | None       # the enclosing function's name (None: module level, a table)
    func_key: tuple | None  # (path, first line incl. decorators): the code object's co_firstlineno
    guards: tuple          # Guard, innermost first
    condition: bool        # the use is in a guard's condition (m.holds(RULE)), not an outcome

    @property
    def where(self) -> str:
        return where(self.path, self.line)


@dataclass(frozen=True)
class Definition:
    rule: str
    var: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return where(self.path, self.line)


@dataclass
class Index:
    definitions: dict      # rule name -> Definition
    uses: dict             # rule name -> [Use]


def _condense(text: str, limit: int = 90) -> str:
    text = " ".join(text.replace("\\\n", " ").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _module_rules(tree: ast.Module, path: str) -> dict[str, list[Definition]]:
    """var -> Definitions for the module-level ``VAR = rule("name", ...)`` assignments, and for
    tables (``SIZES = ((232, rule(...)), ...)``): a use of the table is a use of its rules."""
    out: dict[str, list[Definition]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        var = node.targets[0].id
        for call in ast.walk(node.value):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id == "rule" and call.args
                    and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
                out.setdefault(var, []).append(Definition(call.args[0].value, var, path, call.lineno))
    return out


class _Source:
    """A module's text, with the segment of a node (ast.get_source_segment re-splits the whole
    text on every call)."""

    def __init__(self, text: str):
        self.text = text
        self.lines = [line.encode() for line in text.splitlines()]

    def segment(self, node: ast.AST) -> str:
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self.lines[first][node.col_offset:node.end_col_offset].decode()
        parts = [self.lines[first][node.col_offset:]] + self.lines[first + 1:last] \
            + [self.lines[last][:node.end_col_offset]]
        return b"\n".join(parts).decode()

    def line(self, n: int) -> str:
        return self.lines[n - 1].decode()


def _guard(node: ast.AST, child: ast.AST, source: _Source, path: str) -> Guard | None:
    """The guard ``node`` puts around ``child`` (a direct child), or None."""
    text_of = source.segment

    def first_line(stmts) -> int:
        return stmts[0].lineno if stmts else 0

    if isinstance(node, ast.If):
        if child is node.test:
            return None
        line_text = source.line(node.lineno).lstrip()
        kind = "elif" if line_text.startswith("elif") else "if"
        in_else = child in node.orelse
        return Guard(kind, _condense(f"{kind} {text_of(node.test)}:"), path, node.lineno,
                     first_line(node.orelse if in_else else node.body), in_else)
    if isinstance(node, (ast.For, ast.AsyncFor)) and child in node.body:
        return Guard("for", _condense(f"for {text_of(node.target)} in {text_of(node.iter)}:"),
                     path, node.lineno, first_line(node.body), False)
    if isinstance(node, ast.While) and child in node.body:
        return Guard("while", _condense(f"while {text_of(node.test)}:"), path, node.lineno,
                     first_line(node.body), False)
    if isinstance(node, ast.ExceptHandler):
        what = f" {text_of(node.type)}" if node.type is not None else ""
        return Guard("except", _condense(f"except{what}:"), path, node.lineno,
                     first_line(node.body), False)
    if isinstance(node, ast.IfExp) and child is not node.test:
        return Guard("ifexp", _condense(f"… if {text_of(node.test)} else …"), path,
                     node.test.lineno, 0, child is node.orelse)
    return None


def _is_condition(chain: list) -> bool:
    """Is the last node of ``chain`` (root first) inside an if/while/conditional test?"""
    for parent, child in zip(chain, chain[1:]):
        if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and child is parent.test:
            return True
    return False


def _uses(tree: ast.Module, source: _Source, path: str, names: dict, modules: dict) -> list[Use]:
    """Every load of a rule variable in the module: ``names`` maps local names to lists of
    Definitions, ``modules`` local module aliases to their var -> Definitions maps."""
    out: list[Use] = []

    def visit(node: ast.AST, chain: list, func: tuple | None):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            func = (node.name, (path, first))
        elif isinstance(node, ast.Lambda):
            func = ("<lambda>", (path, node.lineno))
        found = ()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found = names.get(node.id, ())
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules):
            found = modules[node.value.id].get(node.attr, ())
        if found:
            full = chain + [node]
            guards = []
            for i in range(len(full) - 2, -1, -1):
                parent, child = full[i], full[i + 1]
                if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    break
                g = _guard(parent, child, source, path)
                if g is not None:
                    guards.append(g)
            for d in found:
                out.append(Use(d.rule, d.var, path, node.lineno, func[0] if func else None,
                               func[1] if func else None, tuple(guards), _is_condition(full)))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, chain + [node], func)

    visit(tree, [], None)
    return out


@functools.lru_cache(maxsize=1)
def index() -> Index:
    """Parse harness/model/*.py once: rule definitions and their uses."""
    sources, trees, defs = {}, {}, {}
    for name in sorted(os.listdir(MODEL_DIR)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(MODEL_DIR, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        sources[name[:-3]] = _Source(text)
        trees[name[:-3]] = tree = ast.parse(text, path)
        defs[name[:-3]] = _module_rules(tree, path)
    definitions = {d.rule: d for mod in defs.values() for ds in mod.values() for d in ds}
    uses: dict[str, list[Use]] = {}
    for mod, tree in trees.items():
        names = dict(defs[mod])
        modules = {}
        for node in ast.walk(tree):                 # imports at any level: module or function
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                for alias in node.names:
                    if node.module in defs and alias.name in defs[node.module]:
                        names[alias.asname or alias.name] = defs[node.module][alias.name]
                    elif node.module is None and alias.name in defs:
                        modules[alias.asname or alias.name] = defs[alias.name]
        path = os.path.join(MODEL_DIR, mod + ".py")
        for u in _uses(tree, sources[mod], path, names, modules):
            uses.setdefault(u.rule, []).append(u)
    return Index(definitions, uses)


# --------------------------------------------------------------------------- the trace

@dataclass
class Trace:
    lines: set             # (path, line) executed in a model frame
    entered: set           # (path, co_firstlineno) of model code objects that ran
    outcomes: tuple | None
    error: str | None = None


def traced_decision(model, call: Call) -> Trace:
    """Run ``model.allowed(call)`` on a deep copy of ``model`` (its profile shared), recording
    the lines executed in harness/model/."""
    twin = copy.deepcopy(model, {id(model.profile): model.profile})
    lines: set = set()
    entered: set = set()
    real: dict[str, str | None] = {}

    def in_model(filename: str) -> str | None:
        if filename not in real:
            path = os.path.realpath(filename)
            real[filename] = path if os.path.dirname(path) == MODEL_DIR else None
        return real[filename]

    def local(frame, event, arg):
        if event == "line":
            lines.add((real[frame.f_code.co_filename], frame.f_lineno))
        return local

    def on_call(frame, event, arg):
        path = in_model(frame.f_code.co_filename)
        if path is None:
            return None                              # not model code: no line events
        entered.add((path, frame.f_code.co_firstlineno))
        return local

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        outcomes, error = twin.allowed(call), None
    except Exception as exc:                         # noqa: BLE001 - reported, not raised
        outcomes, error = None, f"{type(exc).__name__}: {exc}"
    finally:
        sys.settrace(previous)
    return Trace(lines, entered, outcomes, error)


# --------------------------------------------------------------------------- verdicts

def _guard_verdict(g: Guard) -> str:
    if g.kind in ("if", "elif"):
        if g.in_else:
            return f"guard `{g.text}` at {g.where} was true (the rule is in its else branch)"
        return f"guard `{g.text}` at {g.where} was false"
    if g.kind == "for":
        return f"loop `{g.text}` at {g.where} had nothing to iterate"
    if g.kind == "while":
        return f"loop `{g.text}` at {g.where}: its condition was false"
    if g.kind == "except":
        return f"`{g.text}` at {g.where}: no such exception"
    return (f"the conditional expression `{g.text}` at {g.where} "
            f"{'held' if g.in_else else 'was false'}")


def use_verdict(u: Use, trace: Trace) -> tuple[int, str, Guard | None]:
    """(kind, text, the nearest guard) for one use of a rule the decision did not allow."""
    nearest = u.guards[0] if u.guards else None
    if u.func_key is None:
        return TABLE, f"used in a table at {u.where} (read by the code around it)", nearest
    one_line = nearest is not None and nearest.line == u.line
    if (u.path, u.line) in trace.lines and not one_line:
        what = "its condition" if u.condition else "its line"
        return REACHED, f"reached: {what} at {u.where} ran, but no allowed outcome came of it", nearest
    if u.func_key not in trace.entered:
        return NOT_CALLED, f"not reached: {u.func}() was not called", nearest
    for g in u.guards:                               # innermost first
        if (g.path, g.line) not in trace.lines:
            continue                                 # never evaluated: look further out
        if g.kind == "ifexp":
            return GUARD, _guard_verdict(g), nearest
        entered = g.branch_line and g.branch_line != g.line and (g.path, g.branch_line) in trace.lines
        if not entered:
            return GUARD, _guard_verdict(g), nearest
        return (EARLIER, f"not reached: an earlier rule answered first inside `{g.text}` at "
                f"{g.where}, which was entered{_last_before(u, trace)}", nearest)
    return EARLIER, f"not reached: an earlier rule answered first in {u.func}(){_last_before(u, trace)}", nearest


def _last_before(u: Use, trace: Trace) -> str:
    """" (last line run before it: <file:line>)": the last line of the use's function above
    it that ran, as a rule where the function left (the earlier return)."""
    start = u.func_key[1]
    ran = [line for path, line in trace.lines if path == u.path and start <= line < u.line]
    return f" (last line run before it: {where(u.path, max(ran))})" if ran else ""


def considered(model, call: Call, outcomes, answer: str | None = None) -> tuple[list[dict], str | None]:
    """The rules the decision considered and did not allow, each ``{"rule", "result",
    "verdict", "guard", "where", "defined", "uses"}``, most telling first: those whose result
    is ``answer`` (the kernel's errno name, "EINVAL"; they get ``"answer": true``), then by
    verdict and place in the source. And a note when the re-run did not give the same allowed
    set (None when it did)."""
    from .model.compat import decoded
    idx = index()
    trace = traced_decision(model, call)
    note = None
    if trace.error is not None:
        note = f"the re-run of the decision failed: {trace.error}"
    elif _shape(trace.outcomes) != _shape(outcomes):
        note = ("the re-run of the decision gave another allowed set: "
                + "; ".join(f"{o.describe()} [{o.rule.name}]" for o in trace.outcomes))
    allowed = {r.name for o in outcomes for r in o.rules}
    syscalls = {call.name} | ({decoded(call).name} if decoded(call) else set())
    names = {r.name for r in _rules.REGISTRY.values() if r.syscall in syscalls}
    names |= {name for name, us in idx.uses.items()
              if any(u.func_key in trace.entered for u in us)}
    ranked_entries = []
    for name in sorted(names - allowed):
        r = _rules.REGISTRY.get(name)
        if r is None:
            continue
        d = idx.definitions.get(name)
        uses = idx.uses.get(name, [])
        entry = {"rule": name, "result": r.result, "defined": f"{d.var} at {d.where}" if d else None,
                 "uses": [u.where for u in uses]}
        if not model.holds(r):
            kind, at = NOT_HELD, (d.path, d.line) if d else ("", 0)
            entry.update(guard=None, where=d.where if d else None,
                         verdict="does not hold for this kernel: " + r.basis(model.version, model.markers))
        elif not uses:
            kind, at = UNKNOWN, (d.path, d.line) if d else ("", 0)
            entry.update(guard=None, where=d.where if d else None,
                         verdict="no use of it found in harness/model/")
        else:
            ranked = sorted(((use_verdict(u, trace), u) for u in uses),
                            key=lambda vu: (vu[0][0], vu[1].condition, vu[1].path, vu[1].line))
            (kind, text, guard), u = ranked[0]
            at = (u.path, u.line)
            entry.update(verdict=text, where=u.where,
                         guard=f"`{guard.text}` at {guard.where}" if guard else None)
        matches = answer is not None and _errno_of(r.result) == answer
        if matches:
            entry["answer"] = True
        ranked_entries.append(((not matches, kind, at, name), entry))
    return [entry for _, entry in sorted(ranked_entries, key=lambda ke: ke[0])], note


def _errno_of(result: str) -> str | None:
    """The errno name a rule's result text starts with ("EINVAL; ..." -> "EINVAL")."""
    head = result.split()[0].rstrip(";,.") if result.split() else ""
    return head if head.startswith("E") and head[1:].isupper() else None


def _shape(outcomes) -> list:
    return [(o.rule.name, o.describe()) for o in outcomes or ()]


def describe(entries: list[dict], note: str | None = None, shown: int = SHOWN) -> list[str]:
    """The text lines of a failure message: one per rule, capped at ``shown``."""
    lines = [f"{e['rule']} ({e['result']}{', the kernel answered this' if e.get('answer') else ''}): "
             f"{e['verdict']}" for e in entries[:shown]]
    if len(entries) > shown:
        lines.append(f"and {len(entries) - shown} more (all in the check's record, 'considered')")
    if note:
        lines.append(note)
    return lines


def marker_readings(model, rule_names) -> dict[str, str]:
    """name -> "yes (btf)" for every marker the named rules test (``when`` and ``requires``),
    as the model's profile read it: what a kernel-dependent verdict rested on."""
    out = {}
    for name in sorted(rule_names):
        r = _rules.REGISTRY.get(name)
        for test in (r.when + r.requires) if r is not None else ():
            reading = model.markers.get(test.marker.name)
            out[test.marker.name] = _show(reading)
    return dict(sorted(out.items()))


def _show(reading: dict | None) -> str:
    if not reading:
        return "not read"
    if not reading.get("known", False):
        return f"unknown ({reading.get('source', '?')})"
    value = reading.get("value")
    shown = {True: "yes", False: "no", None: "not set"}.get(value, value) \
        if isinstance(value, (bool, type(None))) else value
    return f"{shown} ({reading.get('source', '?')})"
