"""``sockspec explore``: random sequences of socket calls, each checked against the model.

A Hypothesis rule-based state machine whose step makes one of the socket calls in scope
(socket, socketpair, bind, listen, accept4, connect, send/sendto/recv/recvfrom with
MSG_DONTWAIT, shutdown, getsockname, getpeername, close, setsockopt/getsockopt of int options;
the table CALLS), each example making only some of them (swarm testing). Arguments are drawn
from valid and hostile values (bad fds, bad lengths, wrong families, invalid flags); the
model's own state chooses plausible ones (an fd the example opened, an address a socket of the
model is bound to, a listener's address). Every step goes through a ``harness.check.Scenario``,
the object the suite's ``sc`` fixture is, so each call is compared as in the suite: answer,
write-backs, state probes, poll readiness, and SO_ERROR at the end (Scenario.finish()).

A divergence (Mismatch) is shrunk by Hypothesis; the minimal sequence is re-run once (a
different outcome makes it flaky), matched against the expectation file (--expect, as the
suite's --sockspec-expect: a known deviation is counted, not reported) and written to the run
directory: its check records and an ``explore`` record in results.jsonl, a Python reproducer
(repro.py, Scenario.reproducer()) and a standalone C reproducer (repro.c, harness/repro_c.py).

Runs in a private network namespace (harness/netns.py), each example with the process's fd
table as it found it (everything the example opened is closed at its end, and checked). The
search database lives under sockspec's cache directory, so a divergence found once is tried
first the next time.
"""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field

from .abi import linux as L

# socket kinds in scope: (family, type), as suite/kinds.py enumerates them
KINDS = [(L.AF_UNIX, L.SOCK_STREAM), (L.AF_UNIX, L.SOCK_DGRAM), (L.AF_UNIX, L.SOCK_SEQPACKET),
         (L.AF_INET, L.SOCK_STREAM), (L.AF_INET, L.SOCK_DGRAM),
         (L.AF_INET6, L.SOCK_STREAM), (L.AF_INET6, L.SOCK_DGRAM)]
UNIX_TYPES = [L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET]
# mostly nonblocking: a call that could block returns EAGAIN/EINPROGRESS instead
TYPE_FLAGS = [L.SOCK_NONBLOCK, L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, L.SOCK_NONBLOCK,
              L.SOCK_NONBLOCK, L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0, 0,
              0x4000_0000]                          # an invalid flag bit
BAD_FDS = [-1, 0x7FFF_FFFF, 65535]
BACKLOGS = [0, 1, 2, 128, -1, 0x7FFF_FFFF]
SHUT_HOWS = [L.SHUT_RD, L.SHUT_WR, L.SHUT_RDWR, 3, -1]
SEND_FLAGS = [L.MSG_DONTWAIT | L.MSG_NOSIGNAL, L.MSG_DONTWAIT | L.MSG_NOSIGNAL | L.MSG_MORE,
              L.MSG_DONTWAIT | L.MSG_NOSIGNAL | L.MSG_OOB, L.MSG_DONTWAIT]
RECV_FLAGS = [L.MSG_DONTWAIT, L.MSG_DONTWAIT | L.MSG_PEEK, L.MSG_DONTWAIT | L.MSG_TRUNC,
              L.MSG_DONTWAIT | L.MSG_WAITALL, L.MSG_DONTWAIT | L.MSG_OOB]
RECV_SIZES = [0, 1, 7, 64, 4096]
ACCEPT_FLAGS = [L.SOCK_NONBLOCK, L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, L.SOCK_NONBLOCK,
                L.SOCK_CLOEXEC, 1]                                    # 1: invalid
INT_OPTS = [(L.SOL_SOCKET, L.SO_REUSEADDR), (L.SOL_SOCKET, L.SO_KEEPALIVE),
            (L.SOL_SOCKET, L.SO_RCVBUF), (L.SOL_SOCKET, L.SO_SNDBUF),
            (L.SOL_SOCKET, L.SO_REUSEPORT), (L.SOL_SOCKET, L.SO_BROADCAST),
            (L.IPPROTO_TCP, L.TCP_NODELAY), (L.IPPROTO_IPV6, L.IPV6_V6ONLY),
            (L.SOL_SOCKET, 0x7FFF)]                  # an unknown option
READ_OPTS = INT_OPTS + [(L.SOL_SOCKET, L.SO_ERROR), (L.SOL_SOCKET, L.SO_TYPE),
                        (L.SOL_SOCKET, L.SO_ACCEPTCONN)]
OPT_VALUES = [0, 1, -1, 4096, 0x7FFF_FFFF]
OPT_LENS = [None, 0, 2, 8, -1]
GETOPT_LENS = [4, 0, 2, 8, -1]
ADDR_LENS = [None, None, None, 0, 1, 3, -1, 200]
# how an address argument is chosen (see Machine.address)
ADDR_CHOICES = ("fresh", "known", "known", "wildcard", "other-family", "null", "unspec",
                "autobind")
PAYLOADS = [b"x", b"hello", b"", b"\0" * 100]

FD = object()      # an argument drawn from the fds this example opened (Machine.handles)
# the calls a step makes, with the values each argument is drawn from, in the order a shrunk
# example prefers them (the first call, and each list's first value, are where shrinking goes)
CALLS = {
    "socket": dict(kind=KINDS, flags=TYPE_FLAGS, protocol=[0] * 7 + [255]),
    "socketpair": dict(type_=UNIX_TYPES, flags=TYPE_FLAGS,
                       family=[L.AF_UNIX, L.AF_UNIX, L.AF_UNIX, L.AF_INET]),
    "close": dict(fd=FD),
    "bind": dict(fd=FD, choice=ADDR_CHOICES, pick=range(8), addrlen=ADDR_LENS),
    "listen": dict(fd=FD, backlog=BACKLOGS),
    "connect": dict(fd=FD, choice=ADDR_CHOICES, pick=range(8), addrlen=ADDR_LENS),
    "accept4": dict(fd=FD, flags=ACCEPT_FLAGS, addr=[True, True, False]),
    "send": dict(fd=FD, data=PAYLOADS, flags=SEND_FLAGS),
    "sendto": dict(fd=FD, data=PAYLOADS, flags=SEND_FLAGS, choice=ADDR_CHOICES, pick=range(8)),
    "recv": dict(fd=FD, size=RECV_SIZES, flags=RECV_FLAGS),
    "recvfrom": dict(fd=FD, size=RECV_SIZES, flags=RECV_FLAGS, addrlen=[None, 0, 4, -1]),
    "shutdown": dict(fd=FD, how=SHUT_HOWS),
    "getsockname": dict(fd=FD, addrlen=[None, None, 0, 3, -1]),
    "getpeername": dict(fd=FD, addrlen=[None, None, 0, 3, -1]),
    "setsockopt": dict(fd=FD, opt=INT_OPTS, value=OPT_VALUES, optlen=OPT_LENS),
    "getsockopt": dict(fd=FD, opt=READ_OPTS, optlen=GETOPT_LENS),
    # rare: a call on a number no socket has
    "bad_fd": dict(fd=BAD_FDS, call=["listen", "shutdown", "getsockname", "close", "accept4",
                                      "recv"]),
}
# how often each call is drawn: every call three times in the table, bad_fd once
CALL_TABLE = [name for name in CALLS for _ in range(1 if name == "bad_fd" else 3)]
# the calls an example can make before it has an fd
OPENERS = ("socket", "socketpair", "bad_fd")


# examples a batch (one run of the state machine, with a seed of its own from the run's seed):
# the time box is looked at between batches
BATCH = 100


class UsageError(ValueError):
    """A bad explore input (one line, exit status 2)."""


@dataclass
class Found:
    """A divergence: the minimal sequence and what the checker wrote about it."""
    message: str
    steps: list                       # [(rule, kwargs)]
    records: list                     # the check records of the run that diverged
    calls: list                       # repro_c.structured()
    reproducer: str
    flaky: bool = False
    replay: str | None = None
    expected: list = field(default_factory=list)


class Session:
    """One exploration: the kernel, the profile, the counters, the divergence found."""

    def __init__(self, kernel, profile, call_bound: float, expect=None):
        self.kernel = kernel
        self.profile = profile
        self.call_bound = call_bound
        self.expect = expect
        self.examples = self.steps = self.checks = self.gaps = self.expected = 0
        self.last_failure: tuple | None = None
        self.t0 = time.monotonic()
        self.last_progress = 0.0
        self.progress = True
        self.seed = 0
        self.in_flight = 0.2
        self.first_found: float | None = None      # when the first divergence was seen

    def rate(self) -> float:
        return self.checks / max(time.monotonic() - self.t0, 1e-9)

    def show_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.progress or (not force and now - self.last_progress < 0.5):
            return
        self.last_progress = now
        sys.stderr.write(f"\rexplore: {now - self.t0:6.1f} s  examples {self.examples}  "
                         f"steps {self.steps}  checked calls {self.checks}  "
                         f"{self.rate():.0f} calls/s  (not modelled: {self.gaps}, "
                         f"known deviations: {self.expected})   ")
        sys.stderr.flush()


SESSION: Session | None = None


def _make_machine():
    from hypothesis import assume, strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
    from .check import Mismatch, ModelGap
    from . import session
    from .mem import NULL, SockaddrIn, SockaddrIn6, SockaddrUn
    from . import repro_c

    class Machine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            s = SESSION
            self.s = s
            self.records: list[dict] = []
            # a fresh model knowing the fds already open, as the suite's sc fixture makes it
            self.sc, self.before = session.scenario(s.kernel, s.profile, self.records.append,
                                                    f"explore::seed={s.seed}", {},
                                                    call_bound=s.call_bound)
            self.allowed: dict[int, list] = {}
            self.origins: dict[int, dict] = {}
            self.steps: list[tuple[str, dict]] = []
            self.names = 0
            self.handles: list[int] = []       # every fd this example's calls returned
            self.enabled = CALL_TABLE
            s.examples += 1

        # -- running one checked call ----------------------------------------------------
        def _call(self, step: str, kwargs: dict, name: str, *args, origin=None, **kw):
            self.steps.append((step, kwargs))
            s = self.s
            s.steps += 1
            s.show_progress()
            n = len(self.sc.history)
            try:
                r = self.sc.call(name, *args, **kw)
            except ModelGap:
                s.gaps += 1
                self.steps.pop()
                return None
            except Mismatch as exc:
                self._note(n)
                self._diverged(str(exc), n, origin)
                raise
            self._note(n)
            if origin:
                self.origins[n] = origin
            if self.sc.deferred:           # a state divergence: explore stops at the first
                text = self.sc.deferred_text()
                self.sc.deferred = []
                self._diverged(text, n, origin)
                raise Mismatch(text)
            return r

        def _note(self, n: int) -> None:
            """Keep the allowed outcomes of the check of history[n] (for the C reproducer)."""
            if len(self.sc.history) > n and self.records and self.records[-1].get("kind") == "check":
                self.allowed[n] = self.records[-1]["allowed"]
                self.s.checks += 1

        def _diverged(self, message: str, n: int, origin) -> None:
            if origin:
                self.origins[n] = origin
            failing = [r for r in self.records if r.get("verdict") == "fail"]
            s = self.s
            if s.expect is not None and failing:
                entries = s.expect.explain(self.sc.test_id, failing, s.profile.target,
                                           s.profile.kernel_release)
                if entries:
                    s.expected += 1
                    # a known deviation: this example ends here (the model no longer describes
                    # the kernel) and does not count as a divergence
                    self.sc.failed = True
                    assume(False)
            s.first_found = s.first_found or time.monotonic()
            s.last_failure = (message, list(self.steps), list(self.records),
                              self._structured(), self.sc.reproducer())

        def _structured(self) -> list:
            return repro_c.structured(self.sc.history, {n: repro_c.allowed_json(o) for n, o
                                                        in self.sc.allowed_at.items()}, self.origins)

        # -- model-chosen arguments ---------------------------------------------------------
        def family_of(self, fd: int) -> int:
            sock = self.sc.m.sock(fd)
            return sock.family if sock is not None else L.AF_INET

        def known(self) -> list[tuple[int, object]]:
            """(fd, address) of every socket of the model bound to an address it observed."""
            out = []
            for fd, e in sorted(self.sc.m.fds.entries.items()):
                local = getattr(e.obj, "local", None)
                if local is not None and hasattr(local, "encode") and not isinstance(local, (str, bytes)):
                    out.append((fd, local))
            return out

        def address(self, fd: int, choice: str, pick: int):
            """(addr, origin) for an address argument of a call on fd."""
            family = self.family_of(fd)
            if choice == "known":
                known = [(f, a) for f, a in self.known() if getattr(a, "family", None) == family] \
                    or self.known()
                if known:
                    f, a = known[pick % len(known)]
                    return a, {"addr": {"sockname_of": f}}
                choice = "fresh"
            if choice == "other-family":
                family = {L.AF_UNIX: L.AF_INET, L.AF_INET: L.AF_INET6}.get(family, L.AF_UNIX)
                choice = "fresh"
            if choice == "null":
                return NULL, None
            if choice == "unspec":
                return SockaddrIn(0, "0.0.0.0", family=L.AF_UNSPEC), None
            if family == L.AF_UNIX:
                if choice == "autobind":
                    return SockaddrUn(), None
                self.names += 1
                return SockaddrUn(abstract=f"sockspec-x{os.getpid()}-{self.s.examples}-{self.names}".encode()), None
            if choice == "wildcard":
                return (SockaddrIn(0) if family == L.AF_INET else SockaddrIn6(0)), None
            return (SockaddrIn(0, "127.0.0.1") if family == L.AF_INET else SockaddrIn6(0, "::1")), None

        # -- the rules ----------------------------------------------------------------------
        # Two draws a step: which call, and one integer its arguments are read from (digit by
        # digit, Machine.arguments). Hypothesis' cost is per rule and per draw, and one rule per
        # call with a draw per argument made the search cost more than the checked calls it
        # ran (bench/explore_rate.py). Swarm testing (Groce et al., ISSTA 2012), which
        # Hypothesis does over rules, is done over the calls: each example leaves some out.
        @initialize(swarm=st.integers(0, 2**32 - 1))
        def choose_calls(self, swarm):
            """The calls this example makes: swarm 0 (where shrinking goes) leaves none out."""
            if swarm:
                rng = random.Random(swarm)
                left_out = rng.random()
                self.enabled = [c for c in CALL_TABLE if rng.random() >= left_out] or CALL_TABLE

        @rule(call=st.integers(0, len(CALL_TABLE) - 1), args=st.integers(0, 2**32 - 1))
        def step(self, call, args):
            table = self.enabled if self.handles else \
                [c for c in self.enabled if c in OPENERS] or list(OPENERS[:2])
            name = table[call % len(table)]
            getattr(self, name)(**self.arguments(name, args))

        def arguments(self, name: str, code: int) -> dict:
            """The arguments of call ``name``: a digit of ``code`` for each, in its list."""
            kwargs = {}
            for param, values in CALLS[name].items():
                if values is FD:
                    values = self.handles
                code, i = divmod(code, len(values))
                kwargs[param] = values[i]
            return kwargs

        # -- the calls (a step's, and replay()'s) ---------------------------------------------
        def socket(self, kind, flags, protocol):
            r = self._call("socket", dict(kind=kind, flags=flags, protocol=protocol),
                           "socket", kind[0], kind[1] | flags, protocol)
            if r is not None and r.ok:
                self.handles.append(r.ret)

        def socketpair(self, type_, flags, family):
            r = self._call("socketpair", dict(type_=type_, flags=flags, family=family),
                           "socketpair", family, type_ | flags, 0)
            if r is not None and r.ok:
                self.handles.extend(r.out["fds"])

        def bind(self, fd, choice, pick, addrlen):
            addr, origin = self.address(fd, choice, pick)
            self._call("bind", dict(fd=fd, choice=choice, pick=pick, addrlen=addrlen),
                       "bind", fd, addr, addrlen, origin=origin)

        def connect(self, fd, choice, pick, addrlen):
            addr, origin = self.address(fd, choice, pick)
            self._call("connect", dict(fd=fd, choice=choice, pick=pick, addrlen=addrlen),
                       "connect", fd, addr, addrlen, origin=origin)

        def listen(self, fd, backlog):
            self._call("listen", dict(fd=fd, backlog=backlog), "listen", fd, backlog)

        def accept4(self, fd, flags, addr):
            sock = self.sc.m.sock(fd)
            if sock is not None and not sock.nonblock and not sock.accept_queue:
                return                   # it would block: explore keeps every call short
            r = self._call("accept4", dict(fd=fd, flags=flags, addr=addr), "accept4", fd, flags, addr)
            if r is not None and r.ok:
                self.handles.append(r.ret)

        def send(self, fd, data, flags):
            self._call("send", dict(fd=fd, data=data, flags=flags), "send", fd, data, flags)

        def sendto(self, fd, data, flags, choice, pick):
            addr, origin = self.address(fd, choice, pick)
            self._call("sendto", dict(fd=fd, data=data, flags=flags, choice=choice, pick=pick),
                       "sendto", fd, data, flags, addr, origin=origin)

        def recv(self, fd, size, flags):
            self._call("recv", dict(fd=fd, size=size, flags=flags), "recv", fd, size, flags)

        def recvfrom(self, fd, size, flags, addrlen):
            self._call("recvfrom", dict(fd=fd, size=size, flags=flags, addrlen=addrlen),
                       "recvfrom", fd, size, flags, True, addrlen)

        def shutdown(self, fd, how):
            self._call("shutdown", dict(fd=fd, how=how), "shutdown", fd, how)

        def getsockname(self, fd, addrlen):
            self._call("getsockname", dict(fd=fd, addrlen=addrlen), "getsockname", fd, True, addrlen)

        def getpeername(self, fd, addrlen):
            self._call("getpeername", dict(fd=fd, addrlen=addrlen), "getpeername", fd, True, addrlen)

        def setsockopt(self, fd, opt, value, optlen):
            self._call("setsockopt", dict(fd=fd, opt=opt, value=value, optlen=optlen),
                       "setsockopt", fd, opt[0], opt[1], value, optlen)

        def getsockopt(self, fd, opt, optlen):
            self._call("getsockopt", dict(fd=fd, opt=opt, optlen=optlen),
                       "getsockopt", fd, opt[0], opt[1], optlen)

        def close(self, fd):
            if self.sc.m.sock(fd) is None:
                return          # closed already: its number may now be someone else's file
            self._call("close", dict(fd=fd), "close", fd)

        def bad_fd(self, fd, call):
            args = {"listen": (fd, 1), "shutdown": (fd, L.SHUT_RDWR), "getsockname": (fd,),
                    "close": (fd,), "accept4": (fd, L.SOCK_NONBLOCK), "recv": (fd, 8, L.MSG_DONTWAIT)}
            self._call("bad_fd", dict(fd=fd, call=call), call, *args[call])

        # -- the end of an example ------------------------------------------------------------
        def teardown(self):
            from .model import read_fd_table as table
            try:
                if not self.sc.failed:
                    n = len(self.records)
                    try:
                        self.sc.finish()          # SO_ERROR of every socket still open
                    except Mismatch as exc:
                        self._diverged(str(exc), len(self.sc.history) - 1, None)
                        raise
                    finally:
                        self.s.checks += len(self.records) - n
            finally:
                self.sc.close_all()
                leaked = sorted(set(table()) - set(self.before.table))
                for fd in leaked:                 # the kernel's, where the model diverged
                    self.s.kernel.close(fd)
                if leaked and not self.sc.failed:
                    raise AssertionError(f"explore leaked descriptors {leaked} (a harness defect)")

    return Machine


# --------------------------------------------------------------------------- running

def replay(machine_cls, steps) -> tuple[str | None, list]:
    """Run ``steps`` [(rule, kwargs)] once on a fresh machine; (the mismatch text or None, the
    check records)."""
    from hypothesis.errors import UnsatisfiedAssumption
    from .check import Mismatch
    m = machine_cls()
    failure = None
    try:
        for name, kwargs in steps:
            kwargs = dict(kwargs)
            getattr(m, name)(**kwargs)
    except Mismatch as exc:
        failure = str(exc)
    except UnsatisfiedAssumption:
        failure = None
    finally:
        try:
            m.teardown()
        except Mismatch as exc:
            failure = failure or str(exc)
        except AssertionError:
            pass
    return failure, m.records


def explore(session: Session, seed: int, max_examples: int | None, seconds: float | None,
            database_dir: str | None, steps_per_example: int = 20,
            shrink_seconds: float = 30.0) -> tuple[Found | None, int]:
    """Run examples until one diverges, max_examples ran, or the time is up. Returns the
    divergence (shrunk, re-run once) or None, and the number of batches run."""
    import signal
    from hypothesis.internal.conjecture import engine
    global SESSION
    from . import check
    # an inet socket's readiness may take this long to reach the model's (the checker's
    # poll.inet_in_flight allowance): on loopback it is reached within milliseconds, and a
    # divergence would otherwise cost the full second at every step of its shrinking
    check.IN_FLIGHT_BOUND = session.in_flight
    # shrinking a divergence is bounded too (Hypothesis' own bound is 300 s)
    engine.MAX_SHRINKING_SECONDS = shrink_seconds
    SESSION = session
    session.seed = seed
    Machine = _make_machine()
    # the call bound's SIGALRM handler, installed once for every call of the run (check.bounded)
    previous = signal.signal(signal.SIGALRM, check._alarm_fired)
    try:
        return _explore(session, Machine, seed, max_examples, seconds, database_dir,
                        steps_per_example)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _explore(session: Session, Machine, seed: int, max_examples: int | None,
             seconds: float | None, database_dir: str | None, steps_per_example: int):
    import hypothesis.core
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import Flaky
    from hypothesis.stateful import run_state_machine_as_test
    db = DirectoryBasedExampleDatabase(database_dir) if database_dir else None
    batch = 0
    deadline = None if seconds is None else time.monotonic() + seconds
    left = max_examples
    while True:
        size = BATCH if left is None else min(left, BATCH)
        if size <= 0 or (deadline is not None and time.monotonic() >= deadline and batch):
            return None, batch
        # one reproducible seed per batch, derived from the run's seed. Hypothesis draws each
        # test's seed from this Random (hypothesis.core.get_random_for_wrapped_test); its
        # global_force_seed would also turn the example database off
        hypothesis.core.threadlocal._hypothesis_global_random = random.Random(seed * 1_000_003 + batch)
        phases = [Phase.explicit, Phase.generate, Phase.shrink] + ([Phase.reuse] if batch == 0 else [])
        # from Hypothesis' default profile, never the loaded one: with a CI variable in the
        # environment (CI, GITHUB_ACTIONS, ...) Hypothesis loads its "ci" profile, whose
        # derandomize=True ignores the seed above, so every batch would run the same examples
        cfg = settings(settings.get_profile("default"), max_examples=size,
                       stateful_step_count=steps_per_example, deadline=None, derandomize=False,
                       database=db, suppress_health_check=list(HealthCheck), phases=phases,
                       report_multiple_bugs=False, print_blob=False)
        session.last_failure = None
        try:
            run_state_machine_as_test(Machine, settings=cfg)
        except Flaky as exc:
            found = _found(session, Machine, flaky=True, note=str(exc).splitlines()[0])
            if found is not None:
                return found, batch + 1
        except Exception as exc:              # noqa: BLE001 - Mismatch and harness defects
            from .check import Mismatch
            if session.last_failure is None and not isinstance(exc, Mismatch):
                raise
            found = _found(session, Machine)
            if found is not None:
                return found, batch + 1
        finally:
            hypothesis.core.threadlocal._hypothesis_global_random = None
        batch += 1
        if left is not None:
            left -= size


def _found(session: Session, Machine, flaky: bool = False, note: str | None = None) -> Found | None:
    if session.last_failure is None:
        return None
    message, steps, records, calls, reproducer = session.last_failure
    found = Found(message, steps, records, calls, reproducer, flaky=flaky)
    # re-run the minimal sequence once: an outcome that differs makes it flaky
    session.last_failure = None
    again, _ = replay(Machine, steps)
    found.replay = again
    if again is None:
        found.flaky = True
    if note:
        found.replay = (found.replay or "") + f" ({note})"
    return found


# --------------------------------------------------------------------------- the command

def write_found(run_dir: str, found: Found, session: Session, seed: int) -> dict:
    from . import repro_c
    from .report.records import ResultsWriter
    writer = ResultsWriter(run_dir)
    for rec in found.records:
        rec = dict(rec, attempt=1)
        if rec.get("verdict") == "fail":
            rec["calls"] = found.calls
        writer.write(rec)
    summary = {
        "kind": "explore", "test_id": f"explore::seed={seed}", "seed": seed,
        "verdict": "flaky" if found.flaky else "fail",
        "message": found.message[:4000],
        "sequence": [{"rule": name, "args": {k: _jsonable(v) for k, v in kw.items()}}
                     for name, kw in found.steps],
        "calls": found.calls, "reproducer": found.reproducer,
        "replay": found.replay,
    }
    writer.write(summary)
    writer.write({"kind": "test", "test_id": summary["test_id"], "outcome": "failed",
                  "reason": found.message.splitlines()[0][:2000], "duration": None,
                  **({"flaky": True} if found.flaky else {})})
    writer.close()
    with open(os.path.join(run_dir, "repro.py"), "w") as f:
        f.write(found.reproducer + "\n")
    with open(os.path.join(run_dir, "repro.c"), "w") as f:
        f.write(repro_c.emit(found.calls, f"sockspec explore --seed {seed}: "
                             + found.message.splitlines()[0][:200],
                             [f"kernel {session.profile.kernel_release}"]))
    return summary


def _jsonable(v):
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    return repr(v)


def _header(run_dir: str, profile, expect=None) -> None:
    from . import session
    from .report.records import ResultsWriter
    w = ResultsWriter(run_dir)
    w.write(session.header(run_dir, profile, expect, explore=True))
    w.close()


def main(args) -> int:
    from .kernel import Kernel, load_backend
    from .session import enter as enter_session
    if args.time is not None and args.max_examples is not None:
        raise UsageError("give --time or --max-examples, not both")
    if args.time is not None and not args.time > 0:
        raise UsageError(f"--time {args.time:g}: must be a positive number of seconds")
    if args.max_examples is not None and args.max_examples <= 0:
        raise UsageError(f"--max-examples {args.max_examples}: must be positive")
    if not 0 <= args.in_flight <= 10:
        raise UsageError(f"--in-flight {args.in_flight:g}: must be between 0 and 10 seconds")
    if not args.steps > 0:
        raise UsageError(f"--steps {args.steps}: must be positive")
    if not args.shrink_time >= 0:
        raise UsageError(f"--shrink-time {args.shrink_time:g}: must be 0 or more seconds")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be a non-negative integer")
    expect = None
    if args.expect:
        from .expect import load
        from .model.rules import REGISTRY
        expect = load(args.expect, known_rules=set(REGISTRY))
    run_dir = args.run_dir
    if run_dir:
        from .report.records import RESULTS
        if os.path.exists(run_dir) and not os.path.isdir(run_dir):
            raise UsageError(f"--run-dir {run_dir}: not a directory")
        if os.path.lexists(os.path.join(run_dir, RESULTS)):
            raise UsageError(f"--run-dir {run_dir}: already holds a run ({RESULTS})")
    seconds = args.time if args.max_examples is None and args.time is not None else None
    if args.time is None and args.max_examples is None:
        seconds = 60.0
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    kernel = Kernel(load_backend(args.backend if args.backend != "auto" else "auto"))
    profile = enter_session(kernel, not args.no_netns, args.target, "linux")
    session = Session(kernel, profile, args.call_bound, expect)
    session.progress = not args.quiet
    session.in_flight = args.in_flight
    db_dir = None if args.no_database else os.path.join(_cache_root(), "explore-db")
    print(f"sockspec explore: seed {seed} (repeat with --seed {seed}); kernel "
          f"{profile.kernel_release}; {profile.namespace}; "
          + (f"{seconds:g} s" if seconds is not None else f"{args.max_examples} examples")
          + f"; database {db_dir or 'none'}", file=sys.stderr)
    found, batches = explore(session, seed, args.max_examples, seconds, db_dir, args.steps,
                             args.shrink_time)
    session.show_progress(force=True)
    if session.progress:
        sys.stderr.write("\n")
    elapsed = time.monotonic() - session.t0
    summary = (f"examples {session.examples}, steps {session.steps}, checked calls "
               f"{session.checks} in {elapsed:.1f} s ({session.rate():.0f}/s), not modelled "
               f"{session.gaps}, known deviations {session.expected}")
    if found is None:
        print(f"no divergence: {summary}")
        if run_dir:
            os.makedirs(run_dir, exist_ok=True)
            _header(run_dir, profile, expect)
            _end(run_dir, session, 0, None)
        return 0
    if not run_dir:
        from .report.records import new_run_dir
        run_dir = new_run_dir("reports", "explore")
    os.makedirs(run_dir, exist_ok=True)
    _header(run_dir, profile, expect)
    rec = write_found(run_dir, found, session, seed)
    _end(run_dir, session, 1, rec)
    what = "flaky divergence (the re-run differed)" if found.flaky else "divergence"
    first = session.first_found or time.monotonic()
    print(f"{what} after {summary}; first seen at {first - session.t0:.1f} s, shrunk in "
          f"{time.monotonic() - first:.1f} s\nminimal sequence ({len(found.steps)} calls):")
    for name, kw in found.steps:
        print(f"  {name}({', '.join(f'{k}={v!r}' for k, v in kw.items())})")
    print(found.message)
    print(f"written: {run_dir}/results.jsonl, {run_dir}/repro.py, {run_dir}/repro.c")
    return 1


def _end(run_dir: str, session: Session, status: int, found: dict | None) -> None:
    import datetime
    from .report.records import ResultsWriter
    w = ResultsWriter(run_dir)
    w.write({"kind": "end", "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "counts": {"passed": 0 if found else 1, "failed": 1 if found else 0, "skipped": 0},
             "exit_status": status, "checks": session.checks,
             "explore": {"examples": session.examples, "steps": session.steps,
                         "checks": session.checks, "not_modelled": session.gaps,
                         "known_deviations": session.expected}})
    w.close()


def _cache_root() -> str:
    from .targets.base import cache_root
    return cache_root()


def add_parser(sub) -> None:
    from .check import CALL_BOUND
    ap = sub.add_parser("explore", help="random sequences of socket calls, checked against the model",
                        description="Drive random sequences of socket calls (Hypothesis stateful "
                                    "testing) on this kernel and the model; a divergence is shrunk "
                                    "and written with Python and C reproducers.")
    ap.add_argument("--target", default="host",
                    help="name of this target in reports (explore runs on this kernel; "
                         "sockspec matrix --explore runs it in each target)")
    ap.add_argument("--seed", type=int, default=None, help="the run's seed (printed at the start)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--time", type=float, default=None, metavar="SECONDS",
                       help="explore for this long (default 60 s)")
    group.add_argument("--max-examples", type=int, default=None, metavar="N",
                       help="explore N examples (sequences) instead of a time box")
    ap.add_argument("--steps", type=int, default=20, help="calls per example at most (default 20)")
    ap.add_argument("--shrink-time", type=float, default=30.0, metavar="SECONDS",
                    help="how long a divergence may be shrunk (default 30 s)")
    ap.add_argument("--run-dir", default=None, help="write results here (default: reports/<run-id> "
                                                    "when a divergence is found)")
    ap.add_argument("--expect", default=None, metavar="FILE",
                    help="an expectation file (as --sockspec-expect): known deviations are counted")
    ap.add_argument("--call-bound", type=float, default=CALL_BOUND,
                    help=f"seconds one checked call may take (default {CALL_BOUND:g})")
    ap.add_argument("--in-flight", type=float, default=0.2, metavar="SECONDS",
                    help="how long an inet socket's readiness may take to reach the model's "
                         "(default 0.2 s; the suite allows 1 s)")
    ap.add_argument("--no-database", action="store_true",
                    help="do not use (or update) the search database in sockspec's cache")
    ap.add_argument("--no-netns", action="store_true", help="stay in the current network namespace")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    ap.set_defaults(func=main)
