"""Runs targets in parallel (up to the number of cores), each in its own run directory and
within a time bound, printing progress lines; a target that hangs is killed and reported as
broken while the others carry on."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass

from .base import Cancelled, Context, SetupError, Suite, Target, TargetError

HEARTBEAT_SECONDS = 30
DEFAULT_TIMEOUT = 1200


@dataclass
class Outcome:
    target: str
    target_kind: str           # "linux" or "sandbox"
    description: str
    run_dir: str
    status: str                # "complete", "broken" or "setup-error"
    exit_code: int | None      # the suite's exit code, when it ran to its end
    reason: str
    phase: str | None          # the last phase entered
    elapsed: float
    details: dict | None = None     # what the target resolved to (kernel package, version, suite)

    @property
    def ok(self) -> bool:
        return self.status == "complete"


class Progress:
    """Progress lines: elapsed time since the matrix started, target, phase or notice."""

    def __init__(self, stream=None, width: int = 10):
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.width = width

    def __call__(self, target: str, text: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.started:6.1f}s] {target:<{self.width}} {text}",
                  file=self.stream, flush=True)


def slug(name: str) -> str:
    """A directory name for a target name: ``debian:6.1`` -> ``debian-6.1``."""
    return re.sub(r"[^A-Za-z0-9._+]+", "-", name).strip("-") or "target"


def run_dirs(targets: list[Target], out_dir: str) -> dict[str, str]:
    """Target name -> its run directory, ``<out>/runs/<slug>``, distinct for each target."""
    taken: dict[str, str] = {}
    used: set[str] = set()
    for t in targets:
        base = s = slug(t.short_name())
        n = 2
        while s in used:
            s, n = f"{base}-{n}", n + 1
        used.add(s)
        taken[t.name] = os.path.join(os.path.abspath(out_dir), "runs", s)
    return taken


def suite_state(run_dir: str) -> tuple[int, bool]:
    """(records in results.jsonl, whether it has its closing "end" record)."""
    count, ended = 0, False
    try:
        with open(os.path.join(run_dir, "results.jsonl"), errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue                      # a line cut short by a killed run
                count += 1
                if isinstance(rec, dict) and rec.get("kind") == "end":
                    ended = True
    except OSError:
        pass
    return count, ended


def run_one(target: Target, run_dir: str, suite: Suite, timeout: float, progress,
            cache_dir: str | None = None, options: dict | None = None,
            live: list[Context] | None = None) -> Outcome:
    shutil.rmtree(run_dir, ignore_errors=True)         # no stale results from an earlier run
    os.makedirs(run_dir)
    ctx = Context(target.name, run_dir, suite, cache_dir=cache_dir, report=progress, options=options)
    if live is not None:
        live.append(ctx)
    box: dict = {}

    def body():
        try:
            box["rc"] = target.run(ctx)
        except BaseException as exc:                    # reported as the target's outcome
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=body, name=f"target {target.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        ctx.kill()
        thread.join(10)
        box = {"error": TargetError(f"timed out after {timeout:.0f}s in phase {ctx.phase or 'start'}")}
    elapsed = time.monotonic() - started
    rc, error = box.get("rc"), box.get("error")
    records, ended = suite_state(run_dir)
    if isinstance(error, SetupError):
        status, reason = "setup-error", str(error)
    elif isinstance(error, (TargetError, Cancelled)):
        status, reason = "broken", str(error)
    elif error is not None:
        status, reason = "broken", f"{type(error).__name__}: {error}"
    elif rc not in (0, 1):
        status, reason = "broken", f"the suite exited with {rc} (see console.log)"
    elif not records:
        status, reason = "broken", "the suite wrote no results.jsonl"
    else:
        status, reason = "complete", f"{records} records" + ("" if ended else ", no end record")
    outcome = Outcome(target.name, target.target_kind, target.describe(), run_dir, status,
                      rc if error is None else None, reason, ctx.phase, round(elapsed, 1),
                      target.details() or None)
    with open(os.path.join(run_dir, "target.json"), "w") as f:
        json.dump(asdict(outcome), f, indent=1)
    return outcome


def run_targets(targets: list[Target], out_dir: str, suite: Suite, jobs: int | None = None,
                timeout: float = DEFAULT_TIMEOUT, cache_dir: str | None = None,
                options: dict | None = None, progress=None) -> list[Outcome]:
    """Run every target (at most ``jobs`` at once); outcomes in the order of ``targets``."""
    progress = progress or Progress(width=min(24, max(len(t.name) for t in targets)))
    jobs = max(1, jobs or os.cpu_count() or 1)
    dirs = run_dirs(targets, out_dir)
    slots = threading.Semaphore(jobs)
    outcomes: dict[str, Outcome] = {}
    running: dict[str, float] = {}
    lock = threading.Lock()
    live: list[Context] = []

    def worker(t: Target):
        with slots:
            with lock:
                running[t.name] = time.monotonic()
            o = run_one(t, dirs[t.name], suite, timeout, progress, cache_dir, options, live)
            with lock:
                del running[t.name]
                outcomes[t.name] = o
            progress(t.name, f"{o.status} in {o.elapsed:.1f}s: {o.reason}")

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in targets]
    for th in threads:
        th.start()
    last = time.monotonic()
    try:
        while any(th.is_alive() for th in threads):
            for th in threads:
                th.join(1)
            if time.monotonic() - last >= HEARTBEAT_SECONDS:
                last = time.monotonic()
                with lock:
                    phases = {c.name: c.phase for c in live}
                    for name, since in running.items():
                        progress(name, f"{phases.get(name) or 'starting'}, {last - since:.0f}s so far")
    except KeyboardInterrupt:
        for ctx in live:                    # guests run in sessions of their own: Ctrl-C misses them
            ctx.kill()
        raise
    return [outcomes[t.name] for t in targets]
