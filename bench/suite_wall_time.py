"""Wall time of the whole conformance suite, serial and with pytest-xdist, best of R runs.

    python bench/suite_wall_time.py [--repeat R] [--workers N]

Runs `pytest -q` from the repository (as the README does) and reads the test and check counts
from the run's results. Target (issue 4): under 10 s serial on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_run(extra: list[str]) -> tuple[float, int, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", f"--sockspec-run-dir={run_dir}", *extra],
                              cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tests = checks = 0
        with open(os.path.join(run_dir, "results.jsonl")) as f:
            for line in f:
                kind = json.loads(line)["kind"]
                tests += kind == "test"
                checks += kind == "check"
    return wall, tests, checks, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.repeat < 1 or args.workers < 1:
        print("bench: --repeat and --workers must be positive", file=sys.stderr)
        return 2
    for label, extra in (("serial", []), (f"-n {args.workers}", ["-n", str(args.workers)])):
        runs = [one_run(extra) for _ in range(args.repeat)]
        best = min(runs)
        print(f"{label:8} best {best[0]:6.2f} s of {args.repeat} (all: "
              f"{', '.join(f'{r[0]:.2f}' for r in runs)}); {best[1]} tests, {best[2]} checks, "
              f"exit {best[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
