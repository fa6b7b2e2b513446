"""Checked cases per second of LTP's socket-area syscall tests and of sockspec, on one kernel in one run.

    python bench/ltp_side_by_side.py --ltp-dir DIR [--work DIR] [--skip-build] [--timeout S]
                                     [--no-race] [--json FILE]

DIR is a checkout of the Linux Test Project (git clone --depth 1 https://github.com/linux-test-project/ltp).
The script builds LTP's library and the socket-area directories under testcases/kernel/syscalls
(`make autotools`, `./configure` unless already configured, `make -C lib`, `make -C <dir>`, all -j2,
logs in the work directory), runs every test binary they build (as root, one at a time, each with a
timeout), reads LTP's result lines, then runs sockspec's suite (`pytest -q`, as bench/suite_wall_time.py
does) and prints both rates and their ratio.

Checked cases: LTP's passed + failed results (new library: the "Summary:" block; old library: TPASS and
TFAIL lines), TBROK counted apart, TCONF as skipped; sockspec's `check` records. LTP's fixed-duration race
tests (source uses tst_fzsync or sets a runtime in tst_test) run until their time is up whatever they
check, so they are listed separately and left out of LTP's rate.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GET_LTP = "git clone --depth 1 https://github.com/linux-test-project/ltp"
SYSCALLS = os.path.join("testcases", "kernel", "syscalls")
DIRS = ("socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "send", "sendto",
        "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "getsockname", "getpeername",
        "getsockopt", "setsockopt", "shutdown", "socketcall")


class BenchError(Exception):
    """A one-line reason to stop (exit status 2)."""


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    broken: int = 0
    skipped: int = 0
    warnings: int = 0
    style: str = "none"  # "new" (Summary block), "old" (TPASS lines) or "none" (nothing parsed)

    @property
    def checked(self) -> int:
        return self.passed + self.failed


@dataclass
class TestRun:
    dir: str
    name: str
    race: bool
    wall: float
    returncode: int | None  # None: killed at the timeout
    counts: Counts = field(default_factory=Counts)
    log: str = ""


# --- parsers -------------------------------------------------------------------------------------

_SUMMARY_KEYS = ("passed", "failed", "broken", "skipped", "warnings")
_OLD_LINE = re.compile(r"^\S+\s+\d+\s+T(PASS|FAIL|BROK|CONF|WARN)\s+:", re.M)
_OLD_KEY = {"PASS": "passed", "FAIL": "failed", "BROK": "broken", "CONF": "skipped", "WARN": "warnings"}


def parse_new_summary(text: str) -> Counts | None:
    """The last "Summary:" block the new test library prints at exit, or None."""
    at = text.rfind("\nSummary:")
    if at < 0 and not text.startswith("Summary:"):
        return None
    found = {}
    for line in text[at + 1:].splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2 and parts[0] in _SUMMARY_KEYS and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
        elif found:
            break
    if set(found) != set(_SUMMARY_KEYS):
        return None
    return Counts(**found, style="new")


def parse_old_results(text: str) -> Counts | None:
    """Counts of the old library's `name  N  TPASS  :  ...` lines, or None when there are none."""
    c = Counts(style="old")
    seen = False
    for m in _OLD_LINE.finditer(text):
        key = _OLD_KEY[m.group(1)]
        setattr(c, key, getattr(c, key) + 1)
        seen = True
    return c if seen else None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_results(text: str) -> Counts:
    text = _ANSI.sub("", text)  # LTP colours its result words when LTP_COLORIZE_OUTPUT asks for it
    return parse_new_summary(text) or parse_old_results(text) or Counts()


_RACE = re.compile(r"\btst_fzsync|\.(?:max_|min_)?runtime\s*=|\bmax_runtime\b")
# Old-library race reproducers that loop for a fixed time of their own (no runtime field to find).
FIXED_DURATION = {"sendmsg02": "unix_release() race reproducer, loops 15 s (-t)"}


def is_race_source(source: str, name: str = "") -> bool:
    """A fixed-duration test: uses the fuzzy-sync race library, sets a runtime in tst_test, or is a
    known old-library reproducer that loops for a set time."""
    return name in FIXED_DURATION or bool(_RACE.search(source))


# --- LTP checkout, build, run --------------------------------------------------------------------

def check_ltp_dir(ltp_dir: str | None) -> str:
    if not ltp_dir:
        raise BenchError(f"no LTP checkout given (--ltp-dir DIR); get one with: {GET_LTP}")
    d = os.path.abspath(ltp_dir)
    if not (os.path.isdir(os.path.join(d, SYSCALLS)) and os.path.isfile(os.path.join(d, "include", "tst_test.h"))):
        raise BenchError(f"{ltp_dir} is not an LTP checkout (no {SYSCALLS} or include/tst_test.h); "
                         f"get one with: {GET_LTP}")
    return d


def _run_logged(cmd: list[str], cwd: str, log: str) -> int:
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL).returncode
        except OSError as e:
            f.write(f"{e}\n")
            return 127


def build(ltp: str, work: str, dirs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Builds lib/ and the socket dirs; returns (built dirs, failed dirs). Raises BenchError."""
    logs = os.path.join(work, "build")
    os.makedirs(logs, exist_ok=True)
    steps = []
    if not os.path.isfile(os.path.join(ltp, "include", "mk", "config.mk")):
        steps += [("make autotools", ["make", "autotools"]), ("./configure", ["./configure"])]
    steps.append(("make -C lib", ["make", "-j2", "-C", "lib"]))
    for i, (label, cmd) in enumerate(steps):
        log = os.path.join(logs, f"{i}-{cmd[-1].strip('./')}.log")
        print(f"build: {label}", file=sys.stderr, flush=True)
        if _run_logged(cmd, ltp, log) != 0:
            raise BenchError(f"LTP build step `{label}` failed in {ltp}; log: {log}")
    built, failed = [], []
    for d in dirs:
        log = os.path.join(logs, f"dir-{d}.log")
        if not os.path.isdir(os.path.join(ltp, SYSCALLS, d)):
            failed.append(d)
            continue
        ok = _run_logged(["make", "-j2", "-C", os.path.join(SYSCALLS, d)], ltp, log) == 0
        (built if ok else failed).append(d)
        if not ok:
            print(f"build: {d} failed, skipped; log: {log}", file=sys.stderr)
    return built, failed


def test_binaries(directory: str) -> list[str]:
    """LTP test programs in a test dir: executable ELF files built from a same-name .c file."""
    names = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if (name == "Makefile" or "." in name or not os.path.isfile(path) or not os.access(path, os.X_OK)
                or not os.path.isfile(path + ".c")):
            continue
        with open(path, "rb") as f:
            if f.read(4) == b"\x7fELF":
                names.append(name)
    return names


def run_test(ltp: str, d: str, name: str, work: str, timeout: float) -> TestRun:
    directory = os.path.join(ltp, SYSCALLS, d)
    with open(os.path.join(directory, name + ".c"), errors="replace") as f:
        race = is_race_source(f.read(), name)
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, LTPROOT=ltp, TMPDIR=tmp, PATH=directory + os.pathsep + os.environ.get("PATH", ""))
    log = os.path.join(work, "logs", f"{name}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w+") as f:
        proc = subprocess.Popen([os.path.join(directory, name)], cwd=directory, env=env, stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        wall = time.perf_counter() - t0
        f.seek(0)
        counts = parse_results(f.read())
    if rc is None or (counts.style == "none" and rc != 0):
        counts.broken += 1  # killed at the timeout, or crashed before reporting anything
    return TestRun(d, name, race, wall, rc, counts, log)


def run_sockspec() -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", f"--sockspec-run-dir={run_dir}"],
                              cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        checks = 0
        try:
            with open(os.path.join(run_dir, "results.jsonl")) as f:
                checks = sum(json.loads(line)["kind"] == "check" for line in f)
        except OSError:
            raise BenchError(f"sockspec's suite wrote no results (pytest exit {proc.returncode}): "
                             f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:]}") from None
    return checks, wall, proc.returncode


# --- report --------------------------------------------------------------------------------------

def _status(r: TestRun) -> str:
    c = r.counts
    if r.returncode is None:
        return "timeout"
    parts = [f"{n} {k}" for k, n in (("failed", c.failed), ("broken", c.broken), ("TCONF", c.skipped)) if n]
    return ", ".join(parts)


def report(runs: list[TestRun], failed_dirs: list[str], sockspec: tuple[int, float, int] | None,
           race_skipped: list[str]) -> dict:
    print(f"{'LTP dir':12} {'bins':>4} {'cases':>5} {'brok':>4} {'conf':>4} {'time s':>7}")
    dirs = [d for d in DIRS if any(r.dir == d for r in runs)]
    for d in dirs:
        rs = [r for r in runs if r.dir == d and not r.race]
        if not rs:
            continue
        print(f"{d:12} {len(rs):4} {sum(r.counts.checked for r in rs):5} {sum(r.counts.broken for r in rs):4} "
              f"{sum(r.counts.skipped for r in rs):4} {sum(r.wall for r in rs):7.2f}")
    plain = [r for r in runs if not r.race]
    races = [r for r in runs if r.race]
    cases = sum(r.counts.checked for r in plain)
    wall = sum(r.wall for r in plain)
    print(f"{'total':12} {len(plain):4} {cases:5} {sum(r.counts.broken for r in plain):4} "
          f"{sum(r.counts.skipped for r in plain):4} {wall:7.2f}")
    for d in failed_dirs:
        print(f"{d:12} build failed, not run")
    if races or race_skipped:
        print("fixed-duration race tests (not in LTP's rate):")
    for r in races:
        print(f"  {r.name:14} {r.wall:7.1f} s  {r.counts.checked} cases  {_status(r) or 'passed'}")
    for name in race_skipped:
        print(f"  {name:14} not run (--no-race)")
    bad = [(r.name, _status(r)) for r in runs if _status(r)]
    if bad:
        print("not passed: " + "; ".join(f"{n} ({s})" for n, s in bad))
    rate = cases / wall if wall else 0.0
    race_note = ", ".join(f"{r.name} {r.wall:.0f} s" for r in races) or "none run"
    print(f"LTP: {cases} checked cases in {wall:.2f} s = {rate:.1f} cases/s "
          f"(race tests listed separately: {race_note})")
    out = {"ltp": {"cases": cases, "seconds": round(wall, 3), "rate": round(rate, 2), "binaries": len(plain),
                   "build_failed": failed_dirs,
                   "tests": [dict(asdict(r), checked=r.counts.checked) for r in runs],
                   "race_tests": [{"name": r.name, "seconds": round(r.wall, 1), "cases": r.counts.checked}
                                  for r in races] + [{"name": n, "seconds": None, "cases": None}
                                                     for n in race_skipped]}}
    if sockspec is not None:
        checks, swall, src = sockspec
        srate = checks / swall if swall else 0.0
        print(f"sockspec: {checks} checks in {swall:.2f} s = {srate:.1f} checks/s"
              + (f" (pytest exit {src})" if src else ""))
        ratio = srate / rate if rate else float("inf")
        print(f"ratio sockspec/LTP: {ratio:.1f}\u00d7")
        out["sockspec"] = {"checks": checks, "seconds": round(swall, 3), "rate": round(srate, 2),
                           "pytest_exit": src}
        out["ratio"] = round(ratio, 2) if rate else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ltp-dir", help=f"an LTP source checkout ({GET_LTP})")
    ap.add_argument("--work", help="directory for build logs, test logs and TMPDIR (default: a new temp dir)")
    ap.add_argument("--skip-build", action="store_true", help="run what is already built")
    ap.add_argument("--timeout", type=float, default=400.0, help="seconds per LTP test binary (default 400)")
    ap.add_argument("--no-race", action="store_true", help="list the fixed-duration race tests but do not run them")
    ap.add_argument("--no-sockspec", action="store_true", help="measure LTP only")
    ap.add_argument("--json", metavar="FILE", help="write the figures there")
    args = ap.parse_args(argv)
    try:
        ltp = check_ltp_dir(args.ltp_dir)
        if args.timeout <= 0:
            raise BenchError("--timeout must be positive")
        if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
            raise BenchError(f"cannot write {args.json}: no such directory")
        try:
            work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="ltp-bench-")
            os.makedirs(work, exist_ok=True)
        except OSError as e:
            raise BenchError(f"cannot use work dir {args.work}: {e.strerror}") from None
        print(f"work dir: {work}", file=sys.stderr)
        if args.skip_build:
            built = [d for d in DIRS if os.path.isdir(os.path.join(ltp, SYSCALLS, d))]
            failed: list[str] = []
        else:
            built, failed = build(ltp, work, DIRS)
        plain, races = [], []
        for d in built:
            for name in test_binaries(os.path.join(ltp, SYSCALLS, d)):
                with open(os.path.join(ltp, SYSCALLS, d, name + ".c"), errors="replace") as f:
                    (races if is_race_source(f.read(), name) else plain).append((d, name))
        if not plain and not races:
            raise BenchError(f"no LTP test binaries found under {os.path.join(ltp, SYSCALLS)} "
                             f"(build them, or drop --skip-build)")
        # The rated tests and sockspec first, then the long race tests, which load the machine.
        runs = []
        for d, name in plain:
            print(f"run: {d}/{name}", file=sys.stderr, flush=True)
            runs.append(run_test(ltp, d, name, work, args.timeout))
        sockspec = None
        if not args.no_sockspec:
            print("run: sockspec (pytest -q)", file=sys.stderr, flush=True)
            sockspec = run_sockspec()
        race_skipped = [name for _, name in races] if args.no_race else []
        for d, name in [] if args.no_race else races:
            print(f"run: {d}/{name} (fixed-duration)", file=sys.stderr, flush=True)
            runs.append(run_test(ltp, d, name, work, args.timeout))
        out = report(runs, failed, sockspec, race_skipped)
        if args.json:
            try:
                with open(args.json, "w") as f:
                    json.dump(out, f, indent=1)
            except OSError as e:
                raise BenchError(f"cannot write {args.json}: {e.strerror}") from None
    except BenchError as e:
        print(f"ltp_side_by_side: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
