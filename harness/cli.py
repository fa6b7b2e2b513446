"""The ``sockspec`` command: profile, rules, run, report, matrix."""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand modules; each has add_parser(subparsers) setting func(args) -> exit code
SUBCOMMANDS = ("harness.profile", "harness.model.cli", "harness.run",
               "harness.report.cli", "harness.targets.cli", "harness.explore",
               "harness.repro")


class UsageError(Exception):
    """A bad input from the user: one clear line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"sockspec: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="sockspec", description=__doc__)
    ap.add_argument("--backend", default="auto", choices=("auto", "cffi", "ctypes"),
                    help="raw syscall backend (default: cffi when installed, else ctypes)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # --backend is accepted after the subcommand too (sockspec run --backend ctypes)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", default=argparse.SUPPRESS, choices=("auto", "cffi", "ctypes"),
                        help="raw syscall backend (default: cffi when installed, else ctypes)")
    plain_add = sub.add_parser
    sub.add_parser = lambda *a, **kw: plain_add(*a, parents=[common, *kw.pop("parents", [])], **kw)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue                                   # not built yet
        module.add_parser(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, LookupError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"sockspec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                  # sockspec rules | head
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
