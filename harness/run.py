"""``sockspec run``: the conformance suite on this kernel, from wherever sockspec is installed.

It runs pytest on the installed ``suite`` package with the sockspec plugin, so it works from
any directory (a QEMU guest, a sandbox) and gives the same result as ``pytest`` in a checkout.
"""
from __future__ import annotations

import os
import sys


def pytest_args(args) -> list[str]:
    import suite
    out = ["-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
           "--rootdir", os.path.dirname(os.path.dirname(os.path.abspath(suite.__file__))),
           os.path.dirname(os.path.abspath(suite.__file__))]
    if args.run_dir:
        out += ["--sockspec-run-dir", args.run_dir]
    out += ["--sockspec-target", args.target, "--sockspec-target-kind", args.target_kind]
    if args.backend and args.backend != "auto":
        out += ["--backend", args.backend]
    return out + list(args.pytest_args)


def main(args) -> int:
    import pytest
    return int(pytest.main(pytest_args(args)))


def add_parser(sub) -> None:
    ap = sub.add_parser("run", help="run the conformance suite against this kernel",
                        description="Run the conformance suite; arguments after -- go to pytest.")
    ap.add_argument("--run-dir", help="write results here (default: reports/<run-id>)")
    ap.add_argument("--target", default="host", help="name of this target in reports")
    ap.add_argument("--target-kind", default="linux", choices=("linux", "sandbox"),
                    help="linux targets must agree with the model; a sandbox's differences are findings")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    ap.set_defaults(func=main)
