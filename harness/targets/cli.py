"""``sockspec matrix``: run the suite on several targets and merge the results into a
target x rule matrix.

Exit codes: 0 when every run completed and every Linux target agrees with the model; 1 when a
Linux target disagrees (failing checks, or its suite failed) or a run broke (timed out, did not
boot, lost its results), or a target with an expectation file (gvisor's is shipped) has failures
it does not list, flaky tests or stale entries; a sandbox's other failures are findings. 2 for what
stops a target before it runs (an unknown target name, a missing QEMU/runsc/UML binary, a
kernel that cannot be downloaded).
"""
from __future__ import annotations

import json
import os
import sys

from . import parse
from .base import SetupError, Suite, cache_root
from .scheduler import DEFAULT_TIMEOUT, Progress, run_targets


def main(args) -> int:
    if not args.target:
        raise ValueError("no target: give at least one --target (e.g. --target host --target debian:6.1)")
    names = list(dict.fromkeys(args.target))            # a name given twice runs once
    targets = [parse(n) for n in names]
    options = {"accel": args.accel, "memory": args.memory, "cpus": args.cpus,
               "debian_mirror": getattr(args, "debian_mirror", None)}
    problems = []
    for t in targets:
        t.configure(cache_dir=args.cache_dir or cache_root(), options=options)
        try:
            t.check()
        except SetupError as exc:
            problems.append(f"{t.name}: {exc}")
    if problems:
        for p in problems:
            print(f"sockspec: error: {p}", file=sys.stderr)
        return 2
    from harness.report.html import check_output_dir
    check_output_dir(args.out)         # a file there, or no permission: one line, exit 2

    expect = expectations(names, getattr(args, "expect", None) or [],
                          default=not getattr(args, "no_default_expect", False))
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    suite = Suite(pytest_args=tuple(pytest_args), backend=getattr(args, "backend", None),
                  expect=expect, explore=getattr(args, "explore", None))
    progress = Progress(width=min(24, max(len(t.name) for t in targets)))
    for t in targets:
        progress(t.name, f"{t.target_kind}: {t.describe()}"
                 + (f"; known deviations from {expect[t.name]}" if t.name in expect else ""))
    outcomes = run_targets(targets, args.out, suite, jobs=args.jobs, timeout=args.timeout,
                           cache_dir=args.cache_dir, options=options, progress=progress)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "targets.json"), "w") as f:
        json.dump([o.__dict__ for o in outcomes], f, indent=1)
    print(summary(outcomes, progress.started), file=sys.stderr)
    for o in outcomes:
        if not o.ok and os.path.exists(os.path.join(o.run_dir, "console.log")):
            print(f"sockspec: {o.target}: {o.status}; its console: {os.path.join(o.run_dir, 'console.log')}",
                  file=sys.stderr)

    code = 0
    if any(o.status == "setup-error" for o in outcomes):
        code = 2
    elif any(not o.ok for o in outcomes):
        code = 1
    for o in outcomes:
        if o.ok and o.target_kind == "linux" and o.exit_code:
            # failing tests on Linux disagree with the model even where no check recorded it
            print(f"sockspec: {o.target}: the suite failed (exit {o.exit_code}) on a Linux target; "
                  f"see {os.path.join(o.run_dir, 'console.log')}", file=sys.stderr)
            code = code or 1
    merged = [o.run_dir for o in outcomes if os.path.exists(os.path.join(o.run_dir, "results.jsonl"))]
    if merged and merge_runs(merged, args.out) and code == 0:
        code = 1
    return code


def expectations(names: list[str], given: list[str], default: bool = True) -> dict[str, str]:
    """Target name -> expectation file: each ``--expect TARGET=FILE``, and the file shipped for
    a sandbox (gvisor) unless ``--no-default-expect``. Linux targets get none by default. A bad
    file, or a TARGET that is not run, is a ValueError (one line, exit 2)."""
    from harness.expect import default_file, load
    from harness.model.rules import REGISTRY
    out: dict[str, str] = {}
    if default:
        for name in names:
            path = default_file(name)
            if path:
                out[name] = path
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--expect {item!r}: expected TARGET=FILE")
        if name not in names:
            raise ValueError(f"--expect {item!r}: {name!r} is not one of the targets "
                             f"({', '.join(names)})")
        out[name] = os.path.abspath(path)
    for path in dict.fromkeys(out.values()):
        load(path, known_rules=set(REGISTRY))        # ExpectError is a ValueError
    return out


def merge_runs(run_dirs: list[str], out_dir: str) -> bool:
    """Merge the runs into out_dir/matrix.{html,json}; True when the matrix says a Linux target
    disagrees with the model or a run is incomplete."""
    from harness.report.merge import merge
    matrix = merge(run_dirs, out_dir)
    for name, failed in matrix.linux_failures.items():
        print(f"sockspec: {name}: {failed} failing checks on a Linux target", file=sys.stderr)
    for name in matrix.incomplete:
        print(f"sockspec: {name}: the run is incomplete", file=sys.stderr)
    for c in matrix.columns:
        print(f"sockspec: {c.key}: rules exercised {c.coverage} "
              f"({len(c.rules_missing)} never exercised)", file=sys.stderr)
        print(f"sockspec: {c.key}: {c.deviations_text}; conformance {c.conformance_text}",
              file=sys.stderr)
        if c.taint:
            print(f"sockspec: {c.key}: kernel taint {c.taint.get('tainted_before')} -> "
                  f"{c.taint.get('tainted_after')}, log {c.taint.get('kmsg')}"
                  + (f"; FAILED: {c.taint.get('text')}" if c.taint_failed else ""), file=sys.stderr)
        if c.distinct:
            print(f"sockspec: {c.key}: {c.distinct_text}", file=sys.stderr)
            for g in c.distinct[:10]:
                print(f"    {g['checks']:4d} checks, {len(g['tests'])} tests: {g['key']}"
                      f"{'' if g['documented'] else ' (implementation detail)'}"
                      f"{' [known]' if g['expected'] else ''}", file=sys.stderr)
            if len(c.distinct) > 10:
                print(f"    ... and {len(c.distinct) - 10} more (matrix.html)", file=sys.stderr)
    for name, missing in matrix.uncovered_linux.items():
        print(f"sockspec: {name}: rules that hold for this kernel but no check exercised: "
              f"{', '.join(missing)}", file=sys.stderr)
    for name in matrix.unmet_expectations:
        print(f"sockspec: {name}: its expectation file does not hold (unexpected failures, "
              f"flaky tests or stale entries)", file=sys.stderr)
    print(f"sockspec: matrix written to {matrix.html_path}", file=sys.stderr)
    return bool(matrix.failing_linux_targets or matrix.incomplete or matrix.uncovered_linux
                or matrix.unmet_expectations or any(c.taint_failed for c in matrix.columns))


def summary(outcomes, started: float) -> str:
    import time
    rows = [("target", "kind", "status", "exit", "time", "detail")]
    for o in outcomes:
        rows.append((o.target, o.target_kind, o.status, "-" if o.exit_code is None else str(o.exit_code),
                     f"{o.elapsed:.0f}s", o.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    lines.append(f"wall time {time.monotonic() - started:.0f}s")
    return "\n".join(lines)


def positive(kind):
    """An argparse type: a finite number above zero (``--timeout nan`` or ``-5`` is refused
    with one line and exit status 2, like any bad argument)."""
    import argparse
    import math

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if isinstance(value, float) and not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
        return value
    parse.__name__ = kind.__name__
    return parse


def add_parser(sub) -> None:
    ap = sub.add_parser(
        "matrix", help="run the suite on several targets and merge a target x rule matrix",
        description="Run the conformance suite on each target (the host, Debian kernels under "
                    "QEMU, gVisor, User-Mode Linux) and merge the results. Arguments after -- go "
                    "to pytest in every target.",
        epilog="targets: host | debian:VERSION (the newest linux-image-VERSION*-amd64 of bullseye "
               "... experimental) | debian:SUITE (sid, experimental, trixie, ...: its newest kernel) | "
               "path:VMLINUZ[:MODULES_DIR] | gvisor | uml")
    ap.add_argument("--target", action="append", default=[], metavar="NAME",
                    help="a target to run (repeat for several)")
    ap.add_argument("-o", "--out", default=os.path.join("reports", "matrix"),
                    help="output directory: runs/<target>/, matrix.html, matrix.json (default: reports/matrix)")
    ap.add_argument("--jobs", "-j", type=positive(int), default=os.cpu_count() or 1,
                    help="targets run at once (default: the number of cores)")
    ap.add_argument("--timeout", type=positive(float), default=DEFAULT_TIMEOUT,
                    help=f"seconds a target may take, download and boot included, before it is "
                         f"killed and reported broken (default: {DEFAULT_TIMEOUT})")
    ap.add_argument("--cache-dir", default=None,
                    help=f"downloaded kernels and initramfs images (default: {cache_root()})")
    ap.add_argument("--debian-mirror", default=None, metavar="URL",
                    help="the Debian mirror debian:* kernels come from (default: the one in the "
                         "host's apt sources)")
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                    help="QEMU accelerator; auto tries KVM with a short bound and falls back to TCG")
    ap.add_argument("--memory", type=positive(int), default=2048, help="guest memory in MiB (default: 2048)")
    ap.add_argument("--cpus", type=positive(int), default=1, help="guest CPUs (default: 1)")
    ap.add_argument("--expect", action="append", default=[], metavar="TARGET=FILE",
                    help="known deviations of a target (TOML, see --sockspec-expect); repeat for "
                         "several. gvisor uses harness/expect/gvisor.toml unless given another")
    ap.add_argument("--no-default-expect", action="store_true",
                    help="no shipped expectation file for gvisor: all its differences are unexpected")
    ap.add_argument("--explore", type=positive(float), default=None, metavar="SECONDS",
                    help="in each target, run sockspec explore for this long after its suite "
                         "(seed 1; results in the target's run directory under explore/)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    ap.set_defaults(func=main)
