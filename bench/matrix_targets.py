"""Wall time of the five-kernel matrix per target, as a ratio to the host column of the same run.

    python bench/matrix_targets.py                 # warm: kernels and initramfs from the cache
    python bench/matrix_targets.py --cold          # a fresh cache: resolve, download, unpack too
    python bench/matrix_targets.py --target gvisor # extra targets after the five Linux ones

Runs ``sockspec matrix`` once with debian:5.10, debian:6.1, debian:6.12, debian:sid and host
(targets run two at a time on a 2-core machine, so a target's time includes sharing the
machine) and prints one row per target from the matrix's targets.json: its status, failures,
elapsed seconds and elapsed / host elapsed. Run by hand; never a timed test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

LINUX = ["debian:5.10", "debian:6.1", "debian:6.12", "debian:sid", "host"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="use a fresh, empty cache directory")
    ap.add_argument("--target", action="append", default=[], help="extra targets")
    ap.add_argument("-o", "--out", default="reports/bench-matrix-targets")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "harness.cli", "matrix", "-o", args.out]
    for t in LINUX + args.target:
        cmd += ["--target", t]
    cold_dir = None
    if args.cold:
        cold_dir = tempfile.mkdtemp(prefix="sockspec-cold-")
        cmd += ["--cache-dir", cold_dir]
    started = time.monotonic()
    try:
        status = subprocess.run(cmd).returncode
    finally:
        if cold_dir:
            shutil.rmtree(cold_dir, ignore_errors=True)
    wall = time.monotonic() - started
    with open(os.path.join(args.out, "targets.json")) as f:
        targets = json.load(f)
    host = next((t["elapsed"] for t in targets if t["target"] == "host"), None)
    print(f"\nmatrix wall time {wall:.1f} s (exit {status}), {'cold' if args.cold else 'warm'} cache, "
          f"{os.cpu_count()} cores, host kernel {platform.release()}")
    print(f"{'target':14} {'status':9} {'exit':>4} {'elapsed':>9} {'x host':>7}  description")
    for t in targets:
        ratio = f"{t['elapsed'] / host:.1f}" if host else "-"
        print(f"{t['target']:14} {t['status']:9} {str(t['exit_code']):>4} {t['elapsed']:>8.1f}s "
              f"{ratio:>7}  {t['description']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
