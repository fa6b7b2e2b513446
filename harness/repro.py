"""``sockspec repro TEST_ID|RUN_DIR``: a standalone C reproducer for a failing check.

The failing check records carry the scenario's calls as data (``calls``, harness/repro_c.py);
this writes them as a C program (raw ``syscall()``, no sockspec needed) that prints each call's
answer next to the outcomes the model allowed and exits 1 on the divergence. A run directory
gives its first failing check (an ``explore`` divergence's record first); a test id is looked
up in --run-dir (default: reports/latest).
"""
from __future__ import annotations

import os
import sys


class ReproError(ValueError):
    """A bad repro input: one line, exit status 2 (the cli catches ValueError)."""


def find(target: str, run_dir: str | None) -> tuple[dict, str]:
    """(the failing record with ``calls``, a title)."""
    from .report.records import load_run
    if os.path.isdir(target):
        run = load_run(target)
        for rec in run.explores:
            if rec.get("calls"):
                return rec, f"{rec['test_id']} ({target})"
        test_id = None
    else:
        run = load_run(run_dir or os.path.join("reports", "latest"))
        test_id = target
    failing = [c for c in run.checks if c.get("verdict") == "fail"
               and (test_id is None or c.get("test_id") == test_id)]
    if not failing:
        where = run.path
        raise ReproError(f"{test_id or target}: no failing check in {where}"
                         + ("" if test_id is None or any(c.get("test_id") == test_id for c in run.checks)
                            else " (no check of that test id there)"))
    with_calls = [c for c in failing if c.get("calls")]
    if not with_calls:
        raise ReproError(f"{test_id or target}: its failing checks carry no calls (a run of an "
                         "older sockspec): re-run the test")
    rec = with_calls[0]
    return rec, f"{rec['test_id']}: {rec.get('call', '')}"


def main(args) -> int:
    from . import repro_c
    rec, title = find(args.target, args.run_dir)
    notes = []
    kind = (rec.get("divergence") or {}).get("kind")
    if kind in ("state", "blocked"):
        notes.append(f"the divergence is in the {kind} ({(rec.get('divergence') or {}).get('key')}): "
                     "this program compares answers only, so it may exit 0; the message says more")
    if rec.get("message"):
        notes.append("sockspec said: " + rec["message"].splitlines()[0][:300])
    text = repro_c.emit(rec["calls"], title, notes)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = args.output or "repro.c"
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out} ({len(rec['calls'])} calls): cc {out} -o repro && ./repro")
    return 0


def add_parser(sub) -> None:
    ap = sub.add_parser("repro", help="write a standalone C reproducer for a failing check",
                        description=__doc__.split("\n\n")[0])
    ap.add_argument("target", metavar="TEST_ID|RUN_DIR",
                    help="a run directory (its first failing check) or a test id")
    ap.add_argument("--run-dir", default=None,
                    help="where to look a test id up (default: reports/latest)")
    ap.add_argument("-o", "--output", default=None, help="the C file to write (default repro.c; - for stdout)")
    ap.set_defaults(func=main)
