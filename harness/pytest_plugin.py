"""pytest glue for sockspec: options, the session profile, fixtures, result recording.

Loaded by the top-level conftest.py (a checkout) and by ``sockspec run`` (an installed copy).
Each process that runs tests (a serial run, or each pytest-xdist worker) enters a private
network namespace of its own when it may, probes its profile, and builds the model from it.
The controller (or the serial process) writes the run's header and end records and the HTML.
"""
from __future__ import annotations

import os
import sys
import signal

import pytest
from _pytest.runner import runtestprotocol

from . import netns, session
from .check import CALL_BOUND
from .kernel import BackendError, Kernel, load_backend
from .model import rules_for
from .model.rules import REGISTRY
from .profile import Profile


# --------------------------------------------------------------------------- options

def pytest_addoption(parser):
    g = parser.getgroup("sockspec", "sockspec conformance suite")
    g.addoption("--backend", default="auto", choices=("auto", "cffi", "ctypes"),
                help="raw syscall backend (default: cffi when installed, else ctypes)")
    g.addoption("--sockspec-run-dir", default=None,
                help="write results.jsonl and report.html here (default: reports/<run-id>); "
                     "give it as --sockspec-run-dir=DIR with -n")
    g.addoption("--sockspec-reports", default="reports",
                help="directory that holds run directories and the 'latest' link (default: reports)")
    g.addoption("--sockspec-target", default="host", help="name of this target in reports")
    g.addoption("--sockspec-target-kind", default="linux", choices=("linux", "sandbox"),
                help="linux targets must agree with the model; sandbox differences are findings")
    g.addoption("--sockspec-no-netns", action="store_true",
                help="stay in the current network namespace (somaxconn tests then skip)")
    g.addoption("--sockspec-timeout", type=float, default=30.0,
                help="time bound per test in seconds (default 30)")
    g.addoption("--sockspec-call-bound", type=float, default=CALL_BOUND,
                help="seconds a checked call the model says answers at once may take before "
                     f"it is interrupted and reported as blocked (default {CALL_BOUND:g}; "
                     "0: only the per-test bound)")
    g.addoption("--sockspec-allow-flaky", action="store_true",
                help="a test whose two attempts differ (flaky) is reported but does not fail the run")
    g.addoption("--sockspec-keep", type=int, default=20, metavar="N",
                help="keep the newest N run directories under --sockspec-reports, deleting older "
                     "ones (default 20; 0 keeps all). Renamed runs and the one 'latest' points "
                     "to are never deleted")
    g.addoption("--sockspec-expect", default=None, metavar="FILE",
                help="an expectation file (TOML, [[deviation]] entries): matching failures are "
                     "expected; an entry that no longer fails is stale and fails the run")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """A bad expectation file or run directory stops the run with one line and exit status 2."""
    try:
        path = config.getoption("sockspec_expect", None)
        if path:
            _load_expect(path)
        if not hasattr(config, "workerinput") and _is_suite_run(config):
            _check_run_dir(config)
    except ValueError as exc:
        print(f"sockspec: error: {exc}", file=sys.stderr)
        return 2
    return None


def _check_run_dir(config) -> None:
    """--sockspec-run-dir must be a directory that holds no earlier run: a reused one is
    refused (its results would be mixed with the new run's), not appended to. It is created
    here; so is the --sockspec-reports directory. OutputError (a ValueError) says why not."""
    from .report.html import OutputError, make_output_dir
    from .report.records import RESULTS
    run_dir = config.getoption("sockspec_run_dir")
    if not run_dir:
        make_output_dir(config.getoption("sockspec_reports"))
        return
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise OutputError(f"--sockspec-run-dir {run_dir}: not a directory")
    results = os.path.join(run_dir, RESULTS)
    if os.path.lexists(results):
        raise OutputError(f"--sockspec-run-dir {run_dir}: already holds a run ({RESULTS}); "
                          f"refusing to mix two runs: give a new or empty directory")
    make_output_dir(run_dir)
    if not os.access(run_dir, os.W_OK):
        raise OutputError(f"--sockspec-run-dir {run_dir}: not writable")


def _load_expect(path: str):
    from .expect import load
    return load(path, known_rules=set(REGISTRY))


def pytest_configure(config):
    config.addinivalue_line("markers", "privileged(reason): checks a privilege-dependent rule")
    config.addinivalue_line("markers", "compat: uses the 32-bit int $0x80 compat path")
    config._sockspec = None
    if not _is_suite_run(config):
        return
    try:
        backend = load_backend(config.getoption("backend"))
    except BackendError as exc:
        raise pytest.UsageError(str(exc))
    kernel = Kernel(backend)
    use_netns = not config.getoption("sockspec_no_netns")
    target = config.getoption("sockspec_target"), config.getoption("sockspec_target_kind")
    if _is_xdist_controller(config):
        # the controller runs no test and stays where it is (its workers start from here);
        # the header's profile is probed as a worker sees it, in a child that enters a namespace;
        # as an ordinary user the workers' user namespace is made here (they have threads)
        if use_netns and netns.prepare_userns_for_workers(kernel):
            use_netns = False          # the workers cannot enter one either: the reason is kept
        try:
            profile = session.probe_in_child(kernel, use_netns, *target)
        except RuntimeError as exc:
            raise pytest.UsageError(str(exc))
    else:
        profile = session.enter(kernel, use_netns, *target)
    env = Env(config, kernel, profile)
    config._sockspec = env
    config.pluginmanager.register(env, "sockspec-env")


def _is_xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def _is_suite_run(config) -> bool:
    """Whether this run collects the conformance suite (not only the project's own tests)."""
    if hasattr(config, "workerinput"):
        return "sockspec_run_dir" in config.workerinput
    paths = [os.path.abspath(str(a).split("::")[0]) for a in config.args] or [os.getcwd()]
    return any(_holds_suite(p) for p in paths)


def _is_suite_dir(path: str) -> bool:
    return os.path.basename(path) == "suite" and os.path.isfile(os.path.join(path, "kinds.py"))


def _holds_suite(path: str) -> bool:
    """path is the suite directory, inside it, or a directory containing it."""
    if os.path.isdir(path) and _is_suite_dir(os.path.join(path, "suite")):
        return True
    while True:
        if _is_suite_dir(path):
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


# --------------------------------------------------------------------------- the session

class Env:
    """Per-process session state: the kernel, the profile, the results writer."""

    def __init__(self, config, kernel: Kernel, profile: Profile):
        from .report.records import ResultsWriter, new_run_dir
        self.config = config
        self.kernel = kernel
        self.profile = profile
        self.worker = getattr(config, "workerinput", None)
        if self.worker is not None:
            self.run_dir = self.worker["sockspec_run_dir"]
        else:
            self.run_dir = config.getoption("sockspec_run_dir")
            if self.run_dir:
                os.makedirs(self.run_dir, exist_ok=True)
            else:
                from .report.records import prune_runs
                reports = config.getoption("sockspec_reports")
                self.run_dir = new_run_dir(reports, profile.target)
                prune_runs(reports, config.getoption("sockspec_keep"), self.run_dir)
        self.writer = ResultsWriter(self.run_dir)
        self.pending: list[dict] = []
        self.rules_seen: set[str] = set()
        self.checks = 0
        self.compat_kernels: dict = {}
        path = config.getoption("sockspec_expect")
        self.expect = _load_expect(path) if path else None     # checked in pytest_cmdline_main
        self.allow_flaky = config.getoption("sockspec_allow_flaky")
        self.attempt = 1
        self.attempt_info: dict[str, dict] = {}
        self.flaky: list[str] = []
        self.rows_skipped: dict[str, list[dict]] = {}      # reason -> row_skip records
        self.expected = 0
        self.stale: list = []
        self.interrupted: str | None = None     # the signal that stopped the run
        self._previous_sigterm = None
        if self.worker is None and _is_main_thread():
            # SIGTERM stops the run as SIGINT does (pytest's KeyboardInterrupt path: the
            # fixtures are torn down, the end record says "interrupted": "SIGTERM")
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        self.taint = None                                  # harness/taint.py: the controller's
        if self.worker is None:
            from .taint import Watch
            self.taint = Watch.start()
            self.taint_report: dict | None = None
            self.writer.write(session.header(self.run_dir, profile, self.expect,
                                             self.taint.start_record()))

    def _on_sigterm(self, signum, frame):
        self.interrupted = self.interrupted or "SIGTERM"
        raise KeyboardInterrupt("SIGTERM")

    def pytest_keyboard_interrupt(self, excinfo):
        self.interrupted = self.interrupted or "SIGINT"

    def pytest_unconfigure(self, config):
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # xdist: hand the run directory to each worker
    def pytest_configure_node(self, node):
        node.workerinput["sockspec_run_dir"] = self.run_dir

    def pytest_report_header(self, config):
        return [self.profile.summary(), f"sockspec results: {self.run_dir}"]

    def record(self, rec: dict) -> None:
        if rec.get("kind") in ("check", "row_skip"):
            rec["attempt"] = self.attempt
        self.pending.append(rec)

    def flush(self) -> None:
        for rec in self.pending:
            self.writer.write(rec)
            if rec["kind"] == "check":
                self.checks += 1
                if rec["verdict"] == "pass" and rec.get("rule"):
                    self.rules_seen.update(rec.get("exercised") or (rec["rule"],))
        self.pending.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """Run the test; a model mismatch is re-run once (fresh fixtures). The checks of both
        attempts are recorded (``attempt`` 1 and 2). Attempts that differ (the first failed,
        the second did not) make the test flaky: it fails unless --sockspec-allow-flaky. A
        failure whose failing checks all match the expectation file is an expected failure."""
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self.attempt = 1
        reports = _fold_teardown_mismatch(runtestprotocol(item, nextitem=nextitem, log=False))
        info: dict = {"attempts": 1}
        if any(r.when == "call" and r.failed and _is_mismatch(r) for r in reports):
            first, first_checks = reports, self._checks_of(item.nodeid, 1)
            self.attempt = 2
            try:
                reports = _fold_teardown_mismatch(runtestprotocol(item, nextitem=nextitem, log=False))
            finally:
                self.attempt = 1
            outcomes = [_outcome(first), _outcome(reports)]
            differ = (outcomes[0] != outcomes[1]
                      or _signature(first_checks) != _signature(self._checks_of(item.nodeid, 2)))
            info = {"attempts": 2, "attempt_outcomes": outcomes, "attempts_differ": differ}
            final = _final_report(reports)
            final.user_properties.append(("sockspec_rerun", True))
            if outcomes[1] != "failed":
                info["flaky"] = True
                text = (f"flaky: attempt 1 failed, attempt 2 {outcomes[1]} "
                        f"(both recorded){'; allowed by --sockspec-allow-flaky' if self.allow_flaky else ''}\n"
                        f"attempt 1:\n{_first_failure(first)}")
                info["flaky_reason"] = text[:2000]
                final.user_properties.append(("sockspec_flaky", True))
                if not self.allow_flaky:
                    final.outcome, final.longrepr = "failed", text
        final = _final_report(reports)
        # a failure, or a flaky test (gVisor's random ephemeral port is at Linux's odd offset
        # one time in two), whose failing checks are all known deviations is expected
        if self.expect is not None and final.when == "call" and (final.failed or info.get("flaky")):
            failing = [r for r in self._checks_of(item.nodeid) if r["verdict"] == "fail"]
            entries = self.expect.explain(item.nodeid, failing, self.profile.target,
                                          self.profile.kernel_release)
            if entries:
                reason = "; ".join(dict.fromkeys(e.reason for e in entries))
                info.update(expected_by=[e.index for e in entries], expected_reason=reason,
                            failure=_first_failure(reports)[:2000])
                final.outcome = "skipped"
                final.wasxfail = f"known deviation: {reason}"       # pytest shows it as xfailed
                # after a known deviation the model and the kernel disagree on what is open:
                # the fd check of the teardown follows from it and is kept in the record
                for r in reports:
                    if r.when == "teardown" and r.failed:
                        info["teardown_failure"] = _first_failure([r])[:2000]
                        r.outcome, r.longrepr = "passed", None
        self.attempt_info[item.nodeid] = info
        for r in reports:
            item.ihook.pytest_runtest_logreport(report=r)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _checks_of(self, test_id: str, attempt: int | None = None) -> list[dict]:
        return [r for r in self.pending if r.get("kind") == "check" and r["test_id"] == test_id
                and (attempt is None or r.get("attempt") == attempt)]

    def pytest_runtest_logreport(self, report):
        if _is_xdist_controller(self.config):
            return                    # the workers record their own tests; xdist echoes them here
        in_suite = report.nodeid.startswith("suite/")       # not the project's own tests
        if in_suite and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")
                         or (report.when == "teardown" and report.failed)):
            outcome = report.outcome
            reason = None
            info = self.attempt_info.get(report.nodeid, {}) if report.when == "call" else {}
            if "expected_by" in info:
                outcome, reason = "expected", info["expected_reason"]
            elif info.get("flaky"):
                reason = info["flaky_reason"]
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            elif report.failed:
                reason = str(getattr(report.longrepr, "reprcrash", None) or report.longrepr)[:2000]
            extra = {k: v for k, v in info.items() if k not in ("expected_reason", "flaky_reason")}
            earlier = next((r for r in self.pending if r.get("kind") == "test"
                            and r["test_id"] == report.nodeid), None)
            if earlier is not None:
                # a teardown failure after the call's record: one test, one record (failed,
                # both reasons); not a second record, which JUnit would count as another test
                earlier["outcome"] = "failed"
                earlier["reason"] = "\n".join(filter(None, (earlier.get("reason"), f"teardown: {reason}")))
                earlier["duration"] = (earlier.get("duration") or 0) + report.duration
            else:
                self.pending.append({"kind": "test", "test_id": report.nodeid, "outcome": outcome,
                                     "duration": report.duration, "reason": reason, **extra})
        if report.when == "teardown":
            self.flush()

    def _bounded(self, phase: str):
        """Bound a test's phase in time: SIGALRM interrupts a blocked syscall (EINTR). A
        checked call has a shorter bound of its own (--sockspec-call-bound, check.bounded),
        which saves this alarm and re-arms it for the time left."""
        import contextlib
        limit = self.config.getoption("sockspec_timeout")

        def expired(signum, frame):
            raise TimeoutError(f"test {phase} exceeded its {limit:g} s bound")

        @contextlib.contextmanager
        def alarm():
            previous = signal.signal(signal.SIGALRM, expired)
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        return alarm()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        """Fixture setup (sockets connected, a peer accepted) is bounded like the call."""
        with self._bounded("setup"):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        """Bound every test in time (see _bounded)."""
        with self._bounded("call"):
            value = yield
        scenario = getattr(item, "funcargs", {}).get("sc")
        if scenario is not None:
            scenario.finish()        # the state divergences the scenario went on past
        return value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        with self._bounded("teardown"):
            return (yield)

    def pytest_sessionfinish(self, session, exitstatus):
        self.flush()
        kinds = sys.modules.get("suite.kinds")      # the suite's AF_UNIX path directory:
        if kinds is not None:                      # xdist workers end without atexit hooks
            kinds.remove_unix_dir()
        if self.worker is not None:
            return
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        from .report.records import load_run
        try:
            run = load_run(self.run_dir)
            for t in run.tests:
                counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
            self.rules_seen = set(run.exercised())
            self.checks = len(run.checks)
            self.flaky = run.flaky
            self.rows_skipped = run.rows_skipped()
            self.expected = len(run.expected)
            if self.expect is not None:
                self.stale = self.expect.verdicts(run.tests, run.checks, self.profile.target,
                                                  self.profile.kernel_release)["stale"]
        except (OSError, ValueError):
            pass
        self.taint_report = self.taint.finish()
        if (self.stale or self.taint_report["failed"]) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            exitstatus = session.exitstatus
        self.writer.write({"kind": "end", "finished": _now(), "counts": counts,
                           "exit_status": int(exitstatus), "checks": self.checks,
                           "flaky": self.flaky, "expected": self.expected,
                           "rows_skipped": {reason: len(rows) for reason, rows in self.rows_skipped.items()},
                           "stale": [e.to_json() for e in self.stale],
                           "taint": self.taint_report,
                           **({"interrupted": self.interrupted} if self.interrupted else {})})
        self.writer.close()
        self.thin, self.distinct = {}, []
        try:
            from .report.html import render_run
            from .report.records import load_run
            run = load_run(self.run_dir)
            self.thin, self.distinct = run.thin_rules(), run.divergences()
            try:
                from .report.diff import write_previous_diff
                write_previous_diff(self.run_dir, run)       # the report links to it
            except Exception:                                 # noqa: BLE001 - a bad old run
                pass
            self.html = render_run(self.run_dir, run)
        except Exception as exc:                      # noqa: BLE001 - the run's verdict stands
            self.html = f"(report not rendered: {exc})"

    def pytest_terminal_summary(self, terminalreporter):
        if self.worker is not None:
            return
        applicable = {r.name for r in rules_for(self.profile.kernel_version, self.profile.markers)}
        seen = self.rules_seen & applicable
        missing = sorted(applicable - seen)
        tr = terminalreporter
        tr.section("sockspec")
        tr.write_line(f"network namespace: {self.profile.namespace}")
        tr.write_line(f"checks: {self.checks}")
        tr.write_line(f"rules exercised: {len(seen)}/{len(applicable)}")
        if missing:
            tr.write_line("never exercised: " + ", ".join(missing))
        thin = {k: v for k, v in getattr(self, "thin", {}).items() if v}
        if thin:
            tr.write_line(f"rules with fewer than 3 checks: {len(thin)} (listed in the report)")
        distinct = getattr(self, "distinct", [])
        if distinct:
            doc = sum(1 for g in distinct if g["documented"])
            tr.write_line(f"distinct divergences: {len(distinct)} ({doc} documented behaviour, "
                          f"{len(distinct) - doc} implementation details)")
            for g in distinct[:10]:
                tr.write_line(f"  {g['checks']:4d} checks, {len(g['tests'])} tests: {g['key']}")
        tr.write_line(f"rows skipped: {sum(len(rows) for rows in self.rows_skipped.values())}")
        for reason, rows in self.rows_skipped.items():
            tests = len({r["test_id"] for r in rows})
            tr.write_line(f"  {len(rows)} in {tests} test{'s' if tests != 1 else ''}: {reason}")
        if self.flaky:
            tr.write_line(f"flaky: {len(self.flaky)} (attempts differ; "
                          + ("allowed by --sockspec-allow-flaky)" if self.allow_flaky else "they fail the run)"))
            for t in self.flaky:
                tr.write_line(f"  {t}")
        if self.expect is not None:
            tr.write_line(f"known deviations: {self.expected} expected failures "
                          f"({len(self.expect.entries)} entries in {self.expect.path})")
            if self.stale:
                tr.write_line(f"stale: {len(self.stale)} entries matched no failure (they fail the run)")
                for e in self.stale:
                    tr.write_line(f"  {e.label}: {e.reason}")
        from .taint import summary_lines
        for line in summary_lines(getattr(self, "taint_report", None) or {}):
            tr.write_line(line, red=line.startswith("FAILED"))
        tr.write_line(f"results: {self.run_dir}/results.jsonl")
        tr.write_line(f"report: {getattr(self, 'html', '')}")


def _outcome(reports) -> str:
    """An attempt's outcome: failed if any phase failed, else the call's (or setup's) outcome."""
    if any(r.failed for r in reports):
        return "failed"
    return _final_report(reports).outcome


def _fold_teardown_mismatch(reports):
    """The end-of-scenario checks (SO_ERROR of every socket left open) run in the fixture's
    teardown: their mismatch is the test's failure, reported on the call (re-run like any
    other mismatch), not an error of the teardown."""
    call = next((r for r in reports if r.when == "call"), None)
    for r in reports:
        if r.when == "teardown" and r.failed and _is_mismatch(r) and call is not None and call.passed:
            call.outcome, call.longrepr = "failed", r.longrepr
            r.outcome, r.longrepr = "passed", None
    return reports


def _final_report(reports):
    """The report that carries a test's outcome: the call's, else the setup's."""
    return next((r for r in reports if r.when == "call"), reports[0])


def _first_failure(reports) -> str:
    r = next((r for r in reports if r.failed), None)
    if r is None:
        return "(no failure)"
    crash = getattr(r.longrepr, "reprcrash", None)
    return str(crash.message if crash is not None else r.longrepr)


def _signature(checks) -> list[tuple]:
    """What two attempts must share to be the same: the syscalls checked and their verdicts
    (not the arguments: ports and inode numbers differ between attempts)."""
    return [(c["syscall"], c["verdict"]) for c in checks]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test whose setup call failed (suite/endpoints.py SetupError: the call and its errno)
    checked nothing it is about: it is reported as an error, not as a failed check."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.typename == "SetupError":
        report.user_properties.append(("sockspec_setup_error", str(call.excinfo.value)))


def pytest_report_teststatus(report, config):
    if report.failed and any(k == "sockspec_setup_error" for k, _ in getattr(report, "user_properties", ())):
        return "error", "E", ("ERROR", {"red": True})
    return None


def _is_mismatch(report) -> bool:
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash is not None and "Mismatch" in (crash.message or "")


def _is_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


_now = session.now


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def sockspec_env(request) -> Env:
    env = request.config._sockspec
    if env is None:
        pytest.skip("not a sockspec suite run")
    return env


@pytest.fixture
def profile(sockspec_env) -> Profile:
    return sockspec_env.profile


@pytest.fixture
def sc(sockspec_env, request):
    """The test's Scenario: every call through it is checked against the model. The fd table
    must be the same after the test as before it (checked with psutil)."""
    env = sockspec_env
    scenario, before = session.scenario(env.kernel, env.profile, env.record, request.node.nodeid,
                                        env.compat_kernels,
                                        call_bound=env.config.getoption("sockspec_call_bound"))
    yield scenario
    # (the end-of-scenario checks ran in the call phase: pytest_runtest_call -> finish())
    scenario.close_all()
    if env.interrupted or request.session.shouldstop:
        return                # a signal stopped the test midway: its descriptors prove nothing
    leaked = session.leaked(before, scenario)
    if leaked:
        pytest.fail(leaked, pytrace=False)
