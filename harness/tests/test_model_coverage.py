"""Every rule of the model is reached by at least one model-only scenario: each test_model_*
module's scenarios run here again with the model's answers recorded."""
from __future__ import annotations

import importlib
import inspect
import os

from harness.model import REGISTRY, Model, writeback

HERE = os.path.dirname(os.path.abspath(__file__))


def _run_module_scenarios(module) -> None:
    for name, fn in sorted(vars(module).items()):
        if not name.startswith("test_") or name.startswith("test_every") or not callable(fn):
            continue
        params = next((m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"), None)
        sig = inspect.signature(fn).parameters
        defaults = {"version": "6.18"} if "version" in sig else {}
        if params is None:
            if all(p == "version" for p in sig):
                fn(**defaults)
            continue
        argnames = [a.strip() for a in params.args[0].split(",")]
        for values in params.args[1]:
            values = getattr(values, "values", values)       # pytest.param
            values = values if len(argnames) > 1 else (values,)
            fn(**{**defaults, **dict(zip(argnames, values))})


def test_every_rule_is_reached_by_a_model_only_scenario(monkeypatch):
    reached: set[str] = set()
    real = Model.allowed

    def recording(self, call):
        outcomes = real(self, call)
        reached.update(r.name for o in outcomes for r in o.rules)
        return outcomes
    monkeypatch.setattr(Model, "allowed", recording)
    real_expected = writeback.expected

    def recording_expected(call, outcome):          # the write-backs of error returns
        found = real_expected(call, outcome)
        reached.update(r.name for _, _, r in found)
        return found
    monkeypatch.setattr(writeback, "expected", recording_expected)
    # what the checker compares besides the answer: poll readiness, SO_ERROR at the end
    from harness.model import observe, poll
    real_readiness, real_end = poll.readiness, observe.so_error_at_end

    def readiness(m, sock):
        got = real_readiness(m, sock)
        if got is not None:
            reached.update(r.name for r in got.all_rules)
        return got

    def at_end(m):
        reached.add(observe.SO_ERROR_AT_END.name)
        return real_end(m)
    monkeypatch.setattr(poll, "readiness", readiness)
    monkeypatch.setattr(observe, "so_error_at_end", at_end)
    for fname in sorted(os.listdir(HERE)):
        if fname.startswith("test_model_") and fname.endswith(".py") and fname != "test_model_coverage.py":
            _run_module_scenarios(importlib.import_module(fname[:-3]))
    missing = sorted(set(REGISTRY) - reached)
    assert not missing, f"rules no model-only scenario reaches: {missing}"
