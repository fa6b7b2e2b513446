"""A target: anything that answers socket syscalls and can run the suite (ARCHITECTURE.md §9).

One small abstraction: a kind parses the names it owns (``Target.parse``), says what it needs on
the host before anything starts (``check``), and runs the suite into a run directory (``run``),
announcing its phases on the way. Kinds register themselves by subclassing ``Target``; adding a
kind is adding one module to this package.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

PHASES = ("download", "unpack", "initramfs", "boot", "suite", "collect")


class TargetError(Exception):
    """A target that could not run its suite; the message says why, in one line."""


class SetupError(TargetError):
    """The host cannot run this target at all (a missing binary, an unknown kernel, a failed
    download): reported as a usage error, exit code 2."""


class Cancelled(TargetError):
    """The scheduler gave up on this target (its time bound passed)."""


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}")
                                       if os.access(p, os.X_OK)), None)
    if not path:
        raise SetupError(f"{name} not found: apt-get install {package}")
    return path


def cache_root() -> str:
    """Where downloaded kernels and built initramfs images are kept between runs."""
    return os.environ.get("SOCKSPEC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sockspec")


GUEST_CALL_BOUND = 10.0


@dataclass
class Suite:
    """The command every target runs, in the target, with the host's interpreter (the contract):
    ``<python> -m harness.cli run --run-dir DIR --target NAME --target-kind KIND -- ARGS``."""
    python: str = sys.executable
    pytest_args: tuple[str, ...] = ()
    backend: str | None = None
    cwd: str = field(default_factory=os.getcwd)
    env: dict = field(default_factory=lambda: dict(os.environ))
    expect: dict = field(default_factory=dict)      # target name -> expectation file (absolute)
    explore: float | None = None                     # sockspec explore after the suite, seconds

    def argv(self, run_dir: str, target: str, target_kind: str) -> list[str]:
        argv = [self.python, "-m", "harness.cli"]
        if self.backend and self.backend != "auto":
            argv += ["--backend", self.backend]
        argv += ["run", "--run-dir", run_dir, "--target", target, "--target-kind", target_kind]
        if self.explore:
            argv += ["--explore", f"{self.explore:g}"]
        extra = list(self.pytest_args)
        if self.expect.get(target):
            extra.append(f"--sockspec-expect={self.expect[target]}")
        if target_kind == "linux" and target != "host" \
                and not any(a.startswith("--sockspec-call-bound") for a in extra):
            # a QEMU guest under TCG runs 15-20 times slower than the host, on cores shared
            # with the other targets: a sendmmsg of 1,025 datagrams or a socket() that loads a
            # module took over 2 s there. A call still waiting after this long is blocked.
            extra.append(f"--sockspec-call-bound={GUEST_CALL_BOUND:g}")
        return argv + (["--", *extra] if extra else [])

    def environment(self) -> dict:
        """The host's environment, with sockspec importable as it is here (a checkout or a
        virtualenv), so the target imports the same code."""
        env = dict(self.env)
        here = package_root()
        path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if here not in path:
            path.insert(0, here)
        env["PYTHONPATH"] = os.pathsep.join(path)
        env["PYTHONDONTWRITEBYTECODE"] = "1"        # a guest's root is read-only or throw-away
        return env

    # variables a guest takes from the host; the rest (display, ssh agent, CI tokens) stay home
    GUEST_ENV = re.compile(r"^(PATH|HOME|LANG|LC_\w+|TZ|PYTHON\w*|VIRTUAL_ENV|PYENV\w*|SOCKSPEC_\w+|"
                           r"CI|GITHUB_ACTIONS|TERM|USER|LOGNAME)$")

    def script(self, run_dir: str, target: str, target_kind: str, extra_env: dict | None = None) -> str:
        """The suite as a shell script for a guest that shares the host's filesystem."""
        env = {k: v for k, v in self.environment().items() if self.GUEST_ENV.match(k)}
        env.update(extra_env or {})
        lines = ["#!/bin/sh", "# written by sockspec matrix: the suite, as the guest runs it",
                 f"cd {shlex.quote(self.cwd)} || exit 125"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        lines.append("export NO_COLOR=1          # the console is a tty; the log should be plain")
        lines.append("exec " + shlex.join(self.argv(run_dir, target, target_kind)))
        return "\n".join(lines) + "\n"


def package_root() -> str:
    """The directory that holds the ``harness`` package (a checkout or site-packages)."""
    import harness
    return os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__)))


class Context:
    """What a target gets to run: its run directory, the suite, the cache, a way to report its
    phase, and processes the scheduler can kill when the target's time is up."""

    def __init__(self, name: str, run_dir: str, suite: Suite, cache_dir: str | None = None,
                 report: Callable[[str, str], None] | None = None, options: dict | None = None):
        self.name = name
        self.run_dir = os.path.abspath(run_dir)
        self.suite = suite
        self.cache_dir = cache_dir or cache_root()
        self.options = options or {}
        self.phase = None
        self.started = time.monotonic()
        self._report = report or (lambda name, text: None)
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def enter(self, phase: str) -> None:
        """Announce a phase (one of PHASES) to the progress display."""
        if self.cancelled.is_set():
            raise Cancelled(f"cancelled in phase {self.phase}")
        self.phase = phase
        self._report(self.name, phase)

    def note(self, text: str) -> None:
        """A one-line notice (a fallback taken, a cache reused)."""
        self._report(self.name, text)

    def path(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        """Start a process in its own session, so that killing it takes its children too."""
        if self.cancelled.is_set():
            raise Cancelled(f"cancelled in phase {self.phase}")
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, start_new_session=True, **kw)
        with self._lock:
            self._procs.append(proc)
        return proc

    def run(self, argv: list[str], timeout: float | None = None, log: str | None = None,
            **kw) -> subprocess.CompletedProcess:
        """Run a process to its end; output goes to ``log`` (appended) or is captured."""
        if log:
            with open(log, "ab") as out:
                proc = self.popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
                return self.wait(proc, argv, timeout)
        proc = self.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            out, err = proc.communicate()
            raise TargetError(f"{os.path.basename(argv[0])} did not finish within {timeout:.0f}s")
        if self.cancelled.is_set():
            raise Cancelled(f"cancelled in phase {self.phase}")
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def wait(self, proc: subprocess.Popen, argv, timeout: float | None = None):
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise TargetError(f"{os.path.basename(argv[0])} did not finish within {timeout:.0f}s")
        if self.cancelled.is_set():
            raise Cancelled(f"cancelled in phase {self.phase}")
        return subprocess.CompletedProcess(argv, proc.returncode)

    def kill(self) -> None:
        """Give up: kill every process this target started (the scheduler's time bound)."""
        self.cancelled.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            kill(proc)


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class Target:
    """One target. Subclasses set ``kind`` (the name prefix) and ``target_kind``: "linux" for a
    Linux kernel, which must agree with the model, or "sandbox" for a Linux-compatible runtime,
    whose differences are findings."""
    kind: ClassVar[str] = ""
    target_kind: ClassVar[str] = "linux"
    registry: ClassVar[dict[str, type["Target"]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.kind:
            Target.registry[cls.kind] = cls

    def __init__(self, name: str):
        self.name = name
        self.cache_dir = cache_root()
        self.options: dict = {}

    @classmethod
    def parse(cls, name: str) -> "Target | None":
        """This kind's target for ``name``, None when the name is not this kind's, a ValueError
        when it is but is malformed."""
        return cls(name) if name == cls.kind else None

    def configure(self, cache_dir: str | None = None, options: dict | None = None) -> None:
        """The command's settings, before ``check``: the cache directory and options such as
        ``debian_mirror``."""
        self.cache_dir = cache_dir or cache_root()
        self.options = dict(options or {})

    def check(self) -> None:
        """Raise SetupError unless the host has what this target needs (fast; no download)."""

    def run(self, ctx: Context) -> int:
        """Run the suite into ``ctx.run_dir``; return its exit code. Raise TargetError when the
        target broke (did not boot, hung, lost its results)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for reports: what this target is."""
        return self.name

    def details(self) -> dict:
        """What the target resolved to (a kernel package, its version and suite), for target.json."""
        return {}

    def short_name(self) -> str:
        """The name of its run directory (before it is made a file name)."""
        return self.name

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"
