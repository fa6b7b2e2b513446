"""``sockspec report``: render a run's HTML page, write JUnit XML, merge runs into a matrix.

Exit status: 0; 2 for bad input (a missing run directory, an output path that is not a
regular file or cannot be written: one line on stderr) or when a results file has bad lines
(one line per problem, the first ten, on stderr; the output is still written from the valid
records); for ``show`` and ``junit``, 1 when the run did not complete (interrupted by a
signal, or crashed without its end record: one line says which)."""
from __future__ import annotations

import os
import sys

DEFAULT_RUN = os.path.join("reports", "latest")


SHOWN_PROBLEMS = 10          # bad lines named one by one; the rest are counted


def _report_problems(problems) -> int:
    for p in problems[:SHOWN_PROBLEMS]:
        print(f"sockspec: {p}", file=sys.stderr)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"sockspec: ... and {len(problems) - SHOWN_PROBLEMS} more bad lines", file=sys.stderr)
    return 2 if problems else 0


def _report_run(run) -> int:
    """Exit status for a rendered run: 2 for bad lines, 1 for a run that did not complete
    (interrupted by a signal, or crashed), each said in one line; else 0."""
    code = _report_problems(run.problems)
    if code == 0 and run.status != "complete":
        print(f"sockspec: {run.path}: {run.status_text}", file=sys.stderr)
        code = 1
    return code


def show(args) -> int:
    from .html import render_run
    from .records import load_run
    run = load_run(args.run_dir)
    path = render_run(args.run_dir, run)
    print(os.path.abspath(path))
    return _report_run(run)


def junit(args) -> int:
    from .junit import write_junit
    from .records import load_run
    run = load_run(args.run_dir)
    path = write_junit(run, args.output or os.path.join(args.run_dir, "junit.xml"))
    print(os.path.abspath(path))
    return _report_run(run)


def merge(args) -> int:
    from .merge import merge as merge_runs
    m = merge_runs(args.run_dirs, args.output)
    print(os.path.abspath(m.html_path))
    print(f"{len(m.rows)} rules x {len(m.columns)} targets, {len(m.differing)} differing", file=sys.stderr)
    for key, n in m.linux_failures.items():
        print(f"sockspec: linux target {key}: {n} failing check{'s' if n != 1 else ''}", file=sys.stderr)
    return _report_problems(m.problems)


def expect_draft(args) -> int:
    from harness.expect.draft import draft
    from .records import load_run
    runs = [load_run(d) for d in args.run_dirs or [DEFAULT_RUN]]
    sys.stdout.write(draft(runs[0], args.keep, runs[1:]))
    return _report_problems([p for r in runs for p in r.problems])


def diff(args) -> int:
    from .diff import diff_runs, render, text
    from .records import load_run
    old, new = load_run(args.old), load_run(args.new)
    d = diff_runs(old, new)
    sys.stdout.write(text(d))
    if args.output:
        print(os.path.abspath(render(d, args.output)), file=sys.stderr)
    return _report_problems(old.problems + new.problems)


def add_parser(sub) -> None:
    ap = sub.add_parser("report", help="render run results: HTML page, JUnit XML, cross-target matrix",
                        description=__doc__)
    rsub = ap.add_subparsers(dest="report_command", metavar="ACTION", parser_class=type(ap))
    ap.set_defaults(func=lambda args: (ap.print_help(sys.stderr), 2)[1])

    p = rsub.add_parser("show", help="render RUN_DIR/report.html and print its path")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=DEFAULT_RUN,
                   help=f"a run directory (default: {DEFAULT_RUN})")
    p.set_defaults(func=show)

    p = rsub.add_parser("junit", help="write JUnit XML from RUN_DIR/results.jsonl")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=DEFAULT_RUN,
                   help=f"a run directory (default: {DEFAULT_RUN})")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: RUN_DIR/junit.xml)")
    p.set_defaults(func=junit)

    p = rsub.add_parser("merge", help="merge runs into a rule x target matrix (matrix.json, matrix.html)")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories, one per target")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output directory")
    p.set_defaults(func=merge)

    p = rsub.add_parser("diff", help="what changed between two runs: checks and rules newly failing or "
                                     "passing, appeared or disappeared, kernel and marker differences")
    p.add_argument("old", metavar="OLD", help="the earlier run directory")
    p.add_argument("new", metavar="NEW", help="the later run directory")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the diff as an HTML page")
    p.set_defaults(func=diff)

    p = rsub.add_parser("expect", help="print a draft expectation file (TOML) of RUN_DIR's divergences, "
                                       "one entry per rule contradicted")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="*",
                   help=f"run directories of one target (default: {DEFAULT_RUN}); what fails in "
                        "some of them but not all is marked intermittent")
    p.add_argument("--keep", metavar="FILE", help="an expectation file whose reasons are carried over")
    p.set_defaults(func=expect_draft)
