"""The session work a checked run does, whoever drives it (the pytest plugin, ``sockspec
explore``): entering the private network namespace and probing the profile there, the header
record of a run, and each scenario's fresh model with the fd table it starts from and the check
that the table is the same at its end. Forked children are Scenario.in_child (harness/check.py,
harness/child.py); records go through harness/report/records.py's ResultsWriter.

No pytest here: harness/pytest_plugin.py keeps the pytest glue (options, hooks, fixtures,
re-runs, the terminal summary) and calls these.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Callable

from . import netns
from .check import CALL_BOUND, Scenario
from .kernel import Kernel
from .model import Model, read_fd_table
from .profile import Profile, probe


def enter(kernel: Kernel, use_netns: bool, target: str = "host", kind: str = "linux") -> Profile:
    """Enter a private network namespace when ``use_netns`` (and this process may: the
    profile says which mode, or why none), then probe this process's profile there."""
    if use_netns:
        netns.enter_private(kernel)
    return probe(kernel, target, kind)


def probe_in_child(kernel: Kernel, use_netns: bool, target: str, kind: str) -> Profile:
    """The profile as a process that entered a namespace sees it, probed in a forked child
    (the pytest-xdist controller stays where it is). RuntimeError says why it failed."""
    from .child import run_in_child

    def child():
        return enter(kernel, use_netns, target, kind).to_json()
    res = run_in_child(child, timeout=60)
    if not res.ok:
        raise RuntimeError(f"probing the profile failed: {res.describe()}")
    return Profile.from_json(res.value)


def header(run_dir: str, profile: Profile, expect=None, taint: dict | None = None,
           **extra) -> dict:
    """The header record of a run (records.py): the profile and every rule with whether it
    applies to this kernel and why."""
    from .model.rules import REGISTRY
    rec = {
        "kind": "header", "format": 1,
        "run_id": os.path.basename(os.path.normpath(run_dir)),
        "started": now(), "profile": profile.to_json(),
        "rules": [dict(r.to_json(), applies=r.holds(profile.kernel_version, profile.markers),
                       basis=r.basis(profile.kernel_version, profile.markers))
                  for r in REGISTRY.values()],
        **({"expect": expect.to_json()} if expect else {}),
        **({"taint": taint} if taint is not None else {}),
        **extra,
    }
    return rec


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class FdSnapshot:
    """The process's fd table when a scenario started."""
    table: dict
    count: int


def snapshot() -> FdSnapshot:
    import psutil
    return FdSnapshot(read_fd_table(), psutil.Process().num_fds())


def scenario(kernel: Kernel, profile: Profile, record: Callable[[dict], None], test_id: str,
             compat: dict | None = None, call_bound: float = CALL_BOUND) -> tuple[Scenario, FdSnapshot]:
    """A fresh Scenario: a new model of this profile that knows the fds already open, and the
    fd table it starts from (for ``leaked``)."""
    before = snapshot()
    model = Model(profile)
    model.seed_fds(before.table)
    sc = Scenario(kernel, model, record, test_id, "root" if profile.euid == 0 else "user",
                  compat, call_bound=call_bound)
    return sc, before


def leaked(before: FdSnapshot, sc: Scenario) -> str | None:
    """After sc.close_all(): why the fd table is not as the scenario found it, or None."""
    import psutil
    after = psutil.Process().num_fds()
    if after == before.count:
        return None
    new = sorted(set(read_fd_table()) - set(sc.m.fds.entries))
    return f"the test leaked descriptors: {before.count} open before, {after} after (new: {new})"
