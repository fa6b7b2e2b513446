"""``sockspec run``: the conformance suite on this kernel, from wherever sockspec is installed.

It runs pytest on the installed ``suite`` package (the sockspec plugin comes in through its
pytest11 entry point), so it works from any directory (a QEMU guest, a sandbox) and gives the
same result as ``pytest`` in a checkout.
"""
from __future__ import annotations

import os


def pytest_args(args) -> list[str]:
    import importlib.util
    # found, not imported: pytest imports (and rewrites) the suite itself
    suite_dir = os.path.dirname(os.path.abspath(importlib.util.find_spec("suite").origin))
    out = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
           f"--rootdir={os.path.dirname(suite_dir)}", suite_dir]
    # --opt=value, never "--opt value": pytest picks its rootdir from the command line before
    # it knows plugin options, so an existing directory after a space would pass for a test
    # path (pytest-xdist workers, started after the run directory exists, would collect from it)
    if args.run_dir:
        out.append(f"--sockspec-run-dir={os.path.abspath(args.run_dir)}")
    out += [f"--sockspec-target={args.target}", f"--sockspec-target-kind={args.target_kind}"]
    if args.backend and args.backend != "auto":
        out += ["--backend", args.backend]
    return out + list(args.pytest_args)


def main(args) -> int:
    import pytest
    if args.explore is not None and not 0 < args.explore <= 86400:
        raise ValueError(f"--explore {args.explore:g}: must be a number of seconds above 0")
    status = int(pytest.main(pytest_args(args)))
    if args.explore is None:
        return status
    explored = explore(args)
    # a Linux target's divergence fails the run as a failed test does; a sandbox's is a finding
    return status or (explored if args.target_kind == "linux" and explored == 1 else 0)


def explore_args(args) -> list[str]:
    """``sockspec explore`` after the suite, in the same target: seeded, time-boxed, no search
    database (a guest's cache is throw-away), the suite's call bound and expectation file, its
    results in RUN_DIR/explore."""
    import sys
    out = [sys.executable, "-m", "harness.cli"]
    if args.backend and args.backend != "auto":
        out += ["--backend", args.backend]
    out += ["explore", "--time", f"{args.explore:g}", "--seed", str(args.explore_seed),
            "--no-database", "--quiet", "--target", args.target]
    if args.run_dir:
        out += ["--run-dir", os.path.join(os.path.abspath(args.run_dir), "explore")]
    for a in args.pytest_args:
        if a.startswith("--sockspec-call-bound="):
            out += ["--call-bound", a.split("=", 1)[1]]
        if a.startswith("--sockspec-expect="):
            out += ["--expect", a.split("=", 1)[1]]
    return out


def explore(args) -> int:
    import subprocess
    print(f"sockspec run: exploring for {args.explore:g} s (seed {args.explore_seed})", flush=True)
    return subprocess.run(explore_args(args)).returncode


def add_parser(sub) -> None:
    ap = sub.add_parser("run", help="run the conformance suite against this kernel",
                        description="Run the conformance suite; arguments after -- go to pytest.")
    ap.add_argument("--run-dir", help="write results here (default: reports/<run-id>)")
    ap.add_argument("--target", default="host", help="name of this target in reports")
    ap.add_argument("--target-kind", default="linux", choices=("linux", "sandbox"),
                    help="linux targets must agree with the model; a sandbox's differences are findings")
    ap.add_argument("--explore", type=float, default=None, metavar="SECONDS",
                    help="after the suite, run sockspec explore for this long (RUN_DIR/explore)")
    ap.add_argument("--explore-seed", type=int, default=1, metavar="N",
                    help="the seed of that exploration (default 1)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    ap.set_defaults(func=main)
