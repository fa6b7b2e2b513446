"""The checker (ARCHITECTURE.md §6): run a call on the kernel and on the model, compare the
answer and then the state a user can observe, record the check, explain a mismatch.

A ``Scenario`` is one test's syscall program: every call made through it is checked.
"""
from __future__ import annotations

import copy
import os
import signal
from dataclasses import replace
import struct
import threading
import time
from typing import Callable

from .abi import linux as L
from .kernel import Kernel, Result, errname
from .mem import Ptr
from .model import Call, Model, NotModelled
from .model import poll, writeback
from .model.compat import decoded
from .model.observe import expectations, process_expectations
from .model.state import Sock
from .model.rules import Outcome

# Positions of fd arguments, so reproducers can name descriptors instead of numbers.
FD_ARGS = {name: (0,) for name in (
    "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "shutdown",
    "sendto", "send", "recvfrom", "recv", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "setsockopt", "getsockopt", "close", "dup", "fcntl", "fstat", "poll", "ioctl_int")}
FD_ARGS["dup2"] = (0, 1)
NEW_FD_CALLS = {"socket", "accept", "accept4", "dup", "dup2"}

_TCP_INFO_SIZE = 104
_FIONREAD = 0x541B                  # include/uapi/asm-generic/ioctls.h (x86, arm64)
_SIOCOUTQ = 0x5411                  # TIOCOUTQ: bytes not yet acknowledged
_POLLIN, _POLLERR, _POLLHUP = 0x1, 0x8, 0x10

# A call the model says answers at once (every allowed outcome is an error or a success that
# does not wait: the model raises NotModelled for the waits it does not model) gets this long
# before SIGALRM interrupts it; an outcome that waits a bounded time (Outcome.waits) adds its
# own bound. Configurable per run with --sockspec-call-bound (0: no bound of its own).
CALL_BOUND = 2.0
# How long an inet socket's readiness may take to reach the model's (poll.inet_in_flight).
IN_FLIGHT_BOUND = 1.0
SANDBOX_IN_FLIGHT_BOUND = 0.2


class Mismatch(AssertionError):
    """The kernel's answer or state is outside what the model allows."""


class ModelGap(AssertionError):
    """A test made a call the model cannot answer yet: a defect of the test or model."""


# --------------------------------------------------------------------------- probing

_SOCKET_INTS = ("SO_DOMAIN", "SO_TYPE", "SO_PROTOCOL", "SO_ACCEPTCONN")


def probe(k: Kernel, fd: int, names: set[str]) -> dict:
    """Observe, on the kernel, the names the model has expectations for (the calls in one
    trip: Kernel.observe)."""
    obs = {}
    wanted = {"F_GETFD": ("fcntl", L.F_GETFD)}
    if not names <= {"open"}:
        wanted["F_GETFL"] = ("fcntl", L.F_GETFL)
        for opt in _SOCKET_INTS:
            if opt in names:
                wanted[opt] = ("getsockopt", L.SOL_SOCKET, getattr(L, opt), 4)
        if "procfs" in names or "inode" in names:
            wanted["fstat"], wanted["readlink"] = ("fstat",), ("readlink_fd",)
        for name in ("sockname", "peername"):
            if name in names:
                wanted[name] = ("get" + name,)
        if "listen_backlog" in names or "accept_queue" in names:
            wanted["TCP_INFO"] = ("getsockopt", L.SOL_TCP, L.TCP_INFO, _TCP_INFO_SIZE)
        if "IPV6_V6ONLY" in names:
            wanted["IPV6_V6ONLY"] = ("getsockopt", L.IPPROTO_IPV6, L.IPV6_V6ONLY, 4)
        if "SO_ERROR" in names:
            wanted["SO_ERROR"] = ("getsockopt", L.SOL_SOCKET, L.SO_ERROR, 4)
    seen = dict(zip(wanted, k.observe(fd, list(wanted.values()))))
    flags = seen["F_GETFD"]
    obs["open"] = flags.ok
    if not flags.ok or names <= {"open"}:
        return obs
    obs["FD_CLOEXEC"] = bool(flags.ret & L.FD_CLOEXEC)
    obs["O_NONBLOCK"] = bool(seen["F_GETFL"].ret & L.O_NONBLOCK)
    for opt in _SOCKET_INTS:
        if opt in names:
            r = seen[opt]
            obs[opt] = r.out.get("int") if r.ok else errname(r.errno)
    if "fstat" in seen:
        st, link = seen["fstat"], seen["readlink"]
        ino = st.out.get("st_ino")
        obs["inode"] = ino
        obs["procfs"] = (st.ok and link.ok and (st.out["st_mode"] & L.S_IFMT) == L.S_IFSOCK
                         and link.out["target"] == f"socket:[{ino}]")
        if not obs["procfs"]:
            obs["procfs_detail"] = f"link {link.out.get('target', link)!s}, fstat {st.out or st}"
    for name in ("sockname", "peername"):
        if name in names:
            r = seen[name]
            obs[name] = (r.out.get("addr"), r.out.get("addrlen")) if r.ok else errname(r.errno)
    if "TCP_INFO" in seen:
        r = seen["TCP_INFO"]
        if r.ok and len(r.out.get("value", b"")) >= 32:
            unacked, sacked = struct.unpack_from("=II", r.out["value"], 24)
            obs["listen_backlog"] = sacked
            obs["accept_queue"] = unacked          # a listener's tcpi_unacked: sk_ack_backlog
        else:
            obs["listen_backlog"] = obs["accept_queue"] = \
                errname(r.errno) if not r.ok else "short TCP_INFO"
    if "IPV6_V6ONLY" in names:
        r = seen["IPV6_V6ONLY"]
        obs["IPV6_V6ONLY"] = r.out.get("int") if r.ok else errname(r.errno)
    if "SO_ERROR" in names:
        r = seen["SO_ERROR"]
        obs["SO_ERROR"] = r.out.get("int") if r.ok else errname(r.errno)
    return obs


def touched_fds(call: Call, result: Result) -> list[int]:
    call = decoded(call) or call          # a socketcall touches what its direct call does
    fds = []
    for i in FD_ARGS.get(call.name, ()):
        if i < len(call.args) and isinstance(call.args[i], int):
            fds.append(call.args[i])
    if result.ok and call.name in NEW_FD_CALLS:
        fds.append(result.ret)
    if result.ok and call.name == "socketpair":
        fds.extend(result.out.get("fds", ()))
    if result.ok and "control" in result.out:          # descriptors received by SCM_RIGHTS
        from .abi.cmsg import received_fds
        fds.extend(received_fds(result.out["control"]))
    return [fd for fd in dict.fromkeys(fds) if 0 <= fd < 1 << 20]


def fmt_value(v) -> str:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], int):    # (address, addrlen)
        return f"{v[0]} (addrlen {v[1]})"
    return str(v)


# --------------------------------------------------------------------------- the call bound

try:            # the handler as it is, without signal.getsignal()'s conversion to an enum
    from _signal import getsignal as _getsignal
except ImportError:         # not CPython
    _getsignal = signal.getsignal
_FIRED: list[int] = []          # the SIGALRMs bounded()'s handler saw during the call


def _alarm_fired(signum, frame) -> None:
    _FIRED.append(signum)


def bounded(fn: Callable[[], Result], bound: float) -> tuple[Result, bool]:
    """Run ``fn()`` (one raw syscall) with a one-shot SIGALRM ``bound`` seconds away; returns
    its value and whether the bound expired before it returned (the call blocked).

    The handler is installed without SA_RESTART and does nothing, so a blocked syscall
    returns -EINTR through the backend's ordinary return path; nothing is raised. An alarm
    already set (pytest_plugin's per-test bound) is saved and re-armed for what is left of it;
    when it is the nearer deadline and expires during the call, its handler runs here, as it
    would have without this bound. Off the main thread (no signal handlers there), or with
    ``bound <= 0``, fn() runs unbounded."""
    if bound <= 0 or threading.current_thread() is not threading.main_thread():
        return fn(), False
    previous = _getsignal(signal.SIGALRM)
    if previous is None:                 # installed outside Python: leave it alone
        return fn(), False
    fired = _FIRED
    fired.clear()
    # Python installs its handlers without SA_RESTART (PyOS_setsig: SA_ONSTACK only), so the
    # syscall gets EINTR; siginterrupt(2) would only say so again, at two more syscalls a call.
    # A caller that makes call after call (explore) installs _alarm_fired once, for all of them
    ours = previous is _alarm_fired
    if not ours:
        signal.signal(signal.SIGALRM, _alarm_fired)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, bound)
    outer_first = 0 < outer <= bound
    if outer_first:
        signal.setitimer(signal.ITIMER_REAL, outer)
    t0 = time.monotonic()
    try:
        value = fn()
    finally:
        left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        # an armed timer reports at least 1 us left (get_itimer), so 0 means it expired
        expired = left == 0.0 or bool(fired)
        for _ in range(100):         # the handler runs at the interpreter's next check
            if fired or not expired:
                break
        if not ours:
            signal.signal(signal.SIGALRM, previous)
        if outer_first and expired:
            # the per-test bound ran out during the call: its handler decides, as before
            if callable(previous):
                previous(signal.SIGALRM, None)
            else:
                signal.raise_signal(signal.SIGALRM)
        elif outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - t0), 1e-6))
    return value, expired


def blocked_text(bound: float) -> str:
    return f"blocked (no answer within {bound:g} s)"


# --------------------------------------------------------------------------- the scenario

class Scenario:
    """One test's syscall program on the kernel and the model side by side.

    ``sc.socket(AF_INET, SOCK_STREAM)`` issues the raw syscall, compares the answer with the
    model's allowed set and the observable state with the model's, records the check and
    returns the kernel's Result. A mismatch raises Mismatch with the full explanation.
    """

    def __init__(self, kernel: Kernel, model: Model, record: Callable[[dict], None] | None = None,
                 test_id: str = "", privilege: str = "root", compat: dict | None = None,
                 call_bound: float = CALL_BOUND):
        self.k = kernel
        self.m = model
        self._record = record or (lambda rec: None)
        self.test_id = test_id
        self.privilege = privilege
        self._compat = compat if compat is not None else {}
        self.call_bound = call_bound
        self.history: list[tuple[Call, Result]] = []
        self.blocked: dict[int, float] = {}     # history index of a call that blocked: its bound
        self.checks = 0
        self.failed = False             # a check failed: the end-of-scenario check is skipped
        self.rules_seen: set[str] = set()
        self.deferred: list[str] = []           # state divergences the scenario went on past
        self.divergent: set[tuple] = set()      # (socket, observable, model, kernel) reported
        self.diverged_names: list[str] = []     # observables of the current check that differed
        self.diverged_rules: dict[str, list] = {}   # observable -> the rules that predicted it
        self._failure: tuple | None = None      # (Call, failure_detail) of the last failure
        self.allowed_at: dict[int, tuple] = {}  # history index -> allowed outcomes (repro_c)

    # -- the call paths ------------------------------------------------------------
    def kernel_for(self, via: str) -> Kernel:
        if via == "native":
            return self.k
        if via not in self._compat:
            self._compat[via] = Kernel(self.k.backend, via=via)
        return self._compat[via]

    def fault(self) -> Ptr:
        """An inaccessible address (PROT_NONE page, below 4 GiB so compat calls can use it)."""
        return self.k.fault_page()

    def call(self, name: str, /, *args, via: str = "native", **kwargs) -> Result:
        c = Call(name, args, kwargs, via)
        try:
            outcomes = self.m.allowed(c)
        except NotModelled as exc:
            raise ModelGap(f"{c}: the model has no rule for this ({exc})") from None
        kern = self.kernel_for(via)
        waits = max((o.waits or 0.0 for o in outcomes), default=0.0)
        bound = self.call_bound + waits if self.call_bound > 0 else 0.0
        state_rules: list = []
        t0 = time.perf_counter()
        result, blocked = bounded(lambda: getattr(kern, name)(*args, **kwargs), bound)
        duration = time.perf_counter() - t0
        self.history.append((c, result))
        matched = None if blocked else next((o for o in outcomes if o.matches(result)), None)
        problems, observation = [], {"result": str(result)}
        compared: set[str] = set()          # what this check compared: "answer", "out.K", states
        self.diverged_names, self.diverged_rules = [], {}
        if result.out:
            observation["out"] = {k: fmt_value(v) for k, v in result.out.items()}
        if blocked:
            # no answer, so no state to compare: the model's state stays as it was
            self.blocked[len(self.history) - 1] = bound
            observation = {"result": blocked_text(bound), "blocked": True,
                           "interrupted": _fmt_result(result)}
            allowed = (f"answers that wait at most {waits:g} s" if waits
                       else "only answers that do not wait")
            problems.append(f"the kernel gave no answer within {bound:g} s (SIGALRM interrupted "
                            f"the call: {_fmt_result(result)}); the model allows {allowed}")
        elif matched is None:
            problems.append(f"the kernel answered {_fmt_result(result)}, which the model does not allow")
            problems += contradicted(self.m.profile, c, result)
        else:
            if matched.apply is not None:
                matched.apply(self.m, result)
            if matched.errno:                    # what the error left in the caller's memory
                wb_problems, wb_rules = writeback.compare(c, matched, result)
                problems += wb_problems
                matched = replace(matched, also=matched.also + wb_rules)
            state, state_problems = self._compare_state(self.observed_fds(touched_fds(c, result)), compared)
            state_problems += self._compare_process(state, compared)
            ready_problems, state_rules = self._compare_readiness(state)
            observation["state"] = state
            problems += state_problems + ready_problems
            compared |= {"answer"} | {f"out.{k}" for k in matched.out}
        self._emit(c, outcomes, matched, observation, problems, duration, compared, state_rules)
        if problems:
            # the model's state: as before the call when no outcome matched (none was
            # applied), else as the matched outcome left it
            when = "before the call" if matched is None else f"after {matched.rule.name}"
            text = self.explain(c, outcomes, observation, problems, (when, self.model_state()))
            if matched is not None:
                # the answer was allowed and the outcome applied: only what the kernel shows
                # afterwards differs, and the model was resynchronised to what it showed. The
                # scenario goes on, so what follows still counts; the test fails at its end.
                self.deferred.append(text)
                return result
            raise Mismatch(self.deferred_text() + text)
        return result

    def deferred_text(self) -> str:
        """The state divergences seen earlier in this scenario, for the failure that ends it."""
        if not self.deferred:
            return ""
        return "".join(f"(earlier divergence {i + 1} of this test)\n{t}\n\n"
                       for i, t in enumerate(self.deferred))

    def finish(self) -> None:
        """End of the test body (the plugin calls it in the call phase, so a failure here is
        the test's and is re-run like any mismatch): the SO_ERROR of every socket left open,
        then a failure naming the state divergences the scenario went on past."""
        self.end_checks()                 # skipped when a check failed
        if self.deferred:
            texts, self.deferred = self.deferred, []
            raise Mismatch(f"{len(texts)} state divergence(s); the scenario went on after each "
                           f"with the model resynchronised:\n\n" + "\n\n".join(texts))

    def observed_fds(self, touched: list[int]) -> list[int]:
        """The fds whose state is compared after a call: those it touched, then the open fds of
        their peers and of the sockets accepted from a touched listener (a call on one end
        changes the other: data, shutdown, a reset)."""
        out = list(touched)
        related = []
        for fd in touched:
            entry = self.m.fds.get(fd)
            if entry is None or not isinstance(entry.obj, Sock):
                continue
            sock = entry.obj
            if sock.peer_sock is not None:
                related.append(sock.peer_sock)
            if sock.listening or sock.backlog is not None:
                related += [s for s in self.m.fds.socks() if s.accepted_from is sock]
        for other in related:
            out += [fd for fd in sorted(self.m.fds.fds_of(other)) if fd not in out]
        return out

    def _compare_readiness(self, state: dict) -> tuple[list[str], list]:
        """poll() readiness of every socket of the scenario (one ppoll, zero timeout) against
        harness/model/poll.py; an inet socket may take a bounded while to get there
        (poll.inet_in_flight). Returns the problems and the rules that made the predictions."""
        socks = sorted((fd, e.obj) for fd, e in self.m.fds.entries.items() if isinstance(e.obj, Sock))
        if not socks:
            return [], []
        fds = [fd for fd, _ in socks]
        r = self.k.poll_all(fds, poll.REQUESTED)
        if not r.ok:
            return [f"ppoll over fds {fds} failed: {_fmt_result(r)}"], []
        seen = dict(r.out["revents"])
        predicted = dict(zip(fds, poll.readiness_all(self.m, [sock for _, sock in socks])))
        reported = set()            # differences already reported for this socket
        if self.divergent:
            reported = {(id(sock), "poll", str(predicted[fd]), poll.bits(seen[fd]))
                        for fd, sock in socks if predicted[fd] is not None} & self.divergent
        late = [fd for fd, sock in socks if predicted[fd] is not None
                and seen[fd] not in predicted[fd] and predicted[fd].settles is not None
                and (id(sock), "poll", str(predicted[fd]), poll.bits(seen[fd])) not in reported]
        waited = 0.0
        # a difference already reported for this socket is not waited for again; a sandbox,
        # whose differences are findings (and many), gets a shorter allowance
        bound = IN_FLIGHT_BOUND if getattr(self.m.profile, "target_kind", "linux") == "linux" \
            else SANDBOX_IN_FLIGHT_BOUND
        if late:
            t0 = time.monotonic()
            while late and time.monotonic() - t0 < bound:
                time.sleep(0.002)
                again = self.k.poll_all(late, poll.REQUESTED)
                if again.ok:
                    seen.update(again.out["revents"])
                late = [fd for fd in late if seen[fd] not in predicted[fd]]
            waited = time.monotonic() - t0
        problems, rules = [], []
        for fd, sock in socks:
            expect, got = predicted[fd], seen[fd]
            if expect is None:
                state[f"{fd}.poll"] = f"{poll.bits(got)} (not modelled for {sock.describe()})"
                continue
            state[f"{fd}.poll"] = poll.bits(got)
            if got in expect:
                rules += [r for r in expect.rules + expect.open_by if r not in rules]
                continue
            again = (id(sock), "poll", str(expect), poll.bits(got))
            if again in self.divergent:
                # the same readiness difference on the same socket: already a failing check
                state[f"{fd}.poll"] += " (as in an earlier divergence)"
                continue
            self.divergent.add(again)
            self.diverged_names.append("poll")
            self.diverged_rules.setdefault("poll", []).extend(r.name for r in expect.rules)
            if expect.settles is not None:
                state[f"{fd}.poll"] += f" (still, after {waited:.1f} s)"
            problems.append(f"fd {fd} poll: kernel {poll.bits(got)}, model {expect} "
                            f"[{', '.join(r.name for r in expect.rules)}]")
        if waited and not problems:
            state["poll.settled_after"] = f"{waited * 1000:.0f} ms ({poll.INET_IN_FLIGHT.name})"
        return problems, rules

    def end_checks(self) -> None:
        """At the end of the scenario, before closing: SO_ERROR of every socket still open,
        compared with the model's pending error (one check each). Skipped after a failed
        check: the model no longer describes the kernel."""
        from .model.observe import SO_ERROR_AT_END, so_error_at_end
        if self.failed:
            return
        failures = []
        for fd, sock, expect in so_error_at_end(self.m):
            c = Call("getsockopt", (fd, L.SOL_SOCKET, L.SO_ERROR))
            t0 = time.perf_counter()
            r = self.k.getsockopt(fd, L.SOL_SOCKET, L.SO_ERROR)
            duration = time.perf_counter() - t0
            self.history.append((c, r))
            observed = r.out.get("int") if r.ok else errname(r.errno)
            sock.take_error()
            ok = expect.admits(observed)
            message = None if ok else (f"fd {fd} SO_ERROR at the end of the scenario: kernel "
                                       f"{observed}, model {expect.value}")
            self.checks += 1
            if ok:
                self.rules_seen.add(SO_ERROR_AT_END.name)
            else:
                self.failed = True
                failures.append(message)
            self._record({
                "kind": "check", "test_id": self.test_id, "syscall": "getsockopt",
                "call": f"{c} (end of scenario)", "via": "native", "privilege": self.privilege,
                "rule": SO_ERROR_AT_END.name if ok else None, "also": [],
                "allowed": [{"rule": SO_ERROR_AT_END.name, "result": str(expect.value),
                             "citation": SO_ERROR_AT_END.citation}],
                "observation": {"result": _fmt_result(r), "state": {f"{fd}.SO_ERROR": observed}},
                "verdict": "pass" if ok else "fail", "duration": duration, "message": message,
                "reproducer": None if ok else self.reproducer(),
                **({} if ok else {"calls": self.structured_calls()}),
            })
        if failures:
            raise Mismatch("\n".join(failures + ["  model state at the end:",
                                                  *("    " + line for line in self.model_state()),
                                                  "  reproducer:",
                                                  *("    " + line for line in self.reproducer().splitlines())]))

    def _compare_state(self, fds: list[int], compared: set[str] | None = None) -> tuple[dict, list[str]]:
        state, problems = {}, []
        compared = set() if compared is None else compared
        for fd in fds:
            expects = expectations(self.m, fd)
            seen = probe(self.k, fd, {e.name for e in expects})
            for e in expects:
                observed = seen.get(e.name, "(not probed)")
                state[f"{fd}.{e.name}"] = fmt_value(observed)
                if e.admits(observed):
                    compared.add(e.name)
                    if e.learn is not None:
                        e.learn(observed)
                    continue
                inode = self._inode_of(fd)
                again = (inode, e.name, str(e.value), fmt_value(observed))
                if again in self.divergent:
                    # the same difference on the same socket, already a failing check of this
                    # test: noted, not counted again
                    state[f"{fd}.{e.name}"] += " (as in an earlier divergence)"
                    continue
                self.divergent.add(again)
                detail = seen.get("procfs_detail", "") if e.name == "procfs" else ""
                problems.append(f"fd {fd} {e.name}: kernel {fmt_value(observed)}, model "
                                f"{e.value}{' (' + detail + ')' if detail else ''}")
                self.diverged_names.append(e.name)
                if e.resync is not None:
                    e.resync(observed)
        return state, problems

    def _inode_of(self, fd: int):
        entry = self.m.fds.get(fd)
        return id(entry.obj) if entry is not None else ("closed", fd)

    def _compare_process(self, state: dict, compared: set[str] | None = None) -> list[str]:
        """The process-wide observables (signals pending) the model has expectations for."""
        expects = process_expectations(self.m)
        if not expects:
            return []
        import signal
        pending = {int(s) for s in signal.sigpending()}
        problems = []
        for e, sig in zip(expects, sorted(self.m.sig_blocked)):
            observed = sig in pending
            state[e.name] = observed
            if not e.admits(observed):
                problems.append(f"{e.name}: kernel {observed}, model {e.value}")
                self.diverged_names.append(e.name)
            elif compared is not None:
                compared.add(e.name)
        return problems

    # -- rows of a table that are not checked ---------------------------------------------
    def skip_row(self, row: str, reason: str) -> None:
        """Record that a row of this test's table is not checked, and why (a row_skip record;
        the session summary counts them by reason). A row is checked or skipped this way,
        never dropped in silence."""
        self._record({"kind": "row_skip", "test_id": self.test_id, "row": row, "reason": reason})

    # -- what the test sets up and waits for (not calls under test) -----------------------
    def block_signals(self, *signos: int) -> None:
        """Block signals in this (forked) process, so a raised one stays pending where the
        checker sees it; the model follows the mask. Use in sc.in_child bodies."""
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signos))
        self.m.sig_blocked |= set(signos)

    def wait(self, fd: int, events: int = 0x1, timeout: float = 2.0, nbytes: int = 1) -> int:
        """Wait, bounded, until fd is ready for ``events`` (POLLIN by default; with POLLIN,
        until at least ``nbytes`` are queued): loopback delivery is fast but not promised
        before the sending call returns. Not checked against the model; recorded for the
        reproducer. Returns revents; fails the test if the bound expires."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            r = self.k.poll(fd, events, min(left, 50))
            revents = r.out.get("revents", 0) if r.ok else 0
            if revents & (events | _POLLERR | _POLLHUP):
                if nbytes <= 1 or not events & _POLLIN or revents & (_POLLERR | _POLLHUP):
                    break
                q = self.k.ioctl_int(fd, _FIONREAD)
                if q.ok and q.out["value"] >= nbytes:
                    break
                time.sleep(0.001)
            if time.monotonic() >= deadline:
                raise Mismatch(f"fd {fd} not ready for events {events:#x} ({nbytes} bytes) "
                               f"within {timeout:g} s: the data the model expects never came")
        self.history.append((Call("poll", (fd, events, int(timeout * 1000))), r))
        return revents

    def wait_sent(self, fd: int, timeout: float = 2.0) -> None:
        """Wait, bounded, until a TCP socket's peer acknowledged everything sent (SIOCOUTQ 0):
        the bytes are then in the peer's receive queue. Infrastructure, like wait()."""
        deadline = time.monotonic() + timeout
        while True:
            q = self.k.ioctl_int(fd, _SIOCOUTQ)
            if q.ok and q.out["value"] == 0:
                self.history.append((Call("ioctl_int", (fd, _SIOCOUTQ)), q))
                return
            if time.monotonic() >= deadline:
                raise Mismatch(f"fd {fd}: sent data not acknowledged within {timeout:g} s")
            time.sleep(0.001)

    def _emit(self, c: Call, outcomes, matched: Outcome | None, observation, problems, duration,
              compared: set[str] = frozenset(), state_rules=()):
        """Record the check. ``also``: the further rules the matched outcome carries, then the
        rules of the state compared (poll readiness) when the check passed; ``exercised``: those
        whose effect the check compared."""
        self.checks += 1
        if problems:
            self.failed = True
        if self.history and self.history[-1][0] is c:
            self.allowed_at[len(self.history) - 1] = outcomes     # as data only on a failure
        also, exercised = [], []
        if matched is not None and not problems:
            also = [r.name for r in matched.also]
            also += [r.name for r in state_rules if r.name not in also]
            exercised = exercised_rules(matched, compared)
            exercised += [r.name for r in state_rules if r.name not in exercised]
        self.rules_seen.update(exercised)
        rec = {
            "kind": "check",
            "test_id": self.test_id,
            "syscall": c.name if c.name != "socketcall" else "socketcall",
            "call": str(c),
            "via": c.via,
            "privilege": self.privilege,
            "rule": matched.rule.name if (matched is not None and not problems) else None,
            "also": also,
            "exercised": exercised,
            "allowed": [o.to_json() for o in outcomes],
            "observation": observation,
            "verdict": "fail" if problems else "pass",
            "duration": duration,
            "message": "; ".join(problems) if problems else None,
            "reproducer": self.reproducer() if problems else None,
        }
        if problems:
            rec["calls"] = self.structured_calls()
            rec.update(self.failure_detail(c, outcomes, matched and matched.rule.name))
            rec["divergence"] = divergence(outcomes, matched, self.diverged_names,
                                           bool(self.blocked.get(len(self.history) - 1)),
                                           self.diverged_rules)
        self._record(rec)

    def basis(self, c: Call) -> dict:
        """What the verdict rested on: the kernel release and, for every rule of this syscall
        that depends on the kernel, whether it held and why (markers read, or the range)."""
        from .model.rules import REGISTRY
        name = (decoded(c) or c).name
        version = self.m.version
        markers = self.m.markers
        return {"kernel": ".".join(map(str, version)),
                "release": getattr(self.m.profile, "kernel_release", None),
                "rules": {r.name: r.basis(version, markers) for r in REGISTRY.values()
                          if r.conditional and r.syscall == name}}

    def failure_detail(self, c: Call, outcomes, applied: str | None) -> dict:
        """What a failing check's record carries beyond the message: the basis (release, the
        kernel-dependent rules, the marker readings they and the allowed rules used) and the
        rules the model considered and did not allow, with the guard that excluded each
        (harness/why.py). Those are traced on a copy of the model as it was before the call,
        so only when no outcome was applied (``applied``: the rule of the one that was)."""
        from . import why
        if self._failure is not None and self._failure[0] is c:
            return self._failure[1]
        basis = self.basis(c)
        if applied is None:             # a wrong answer, or none: the model is as before the call
            last = len(self.history) - 1          # the kernel's errno, unless the call blocked
            answer = self.history[last][1] if last >= 0 and self.history[last][0] is c \
                and last not in self.blocked else None
            err = answer.errname if answer is not None and not answer.ok else None
            considered, note = why.considered(self.m, c, outcomes, err)
        else:
            considered, note = [], (f"rules considered: not traced, the answer matched {applied} "
                                    "and its transition changed the model")
        names = set(basis["rules"]) | {r.name for o in outcomes for r in o.rules} \
            | {e["rule"] for e in considered}
        basis["markers"] = why.marker_readings(self.m, names)
        detail = {"basis": basis, "considered": considered,
                  **({"considered_note": note} if note else {})}
        self._failure = (c, detail)
        return detail

    def explain(self, c: Call, outcomes, observation, problems, state=None) -> str:
        from . import why
        lines = [f"{c}", f"  kernel: {observation['result']}"]
        for o in outcomes:
            lines.append(f"  model allows: {o.describe()}  [{o.rule.name}: {o.rule.citation}]")
            if o.also:
                lines.append(f"    with: {', '.join(r.name for r in o.also)}")
        lines += [f"  mismatch: {p}" for p in problems]
        applied = None if state is None or state[0] == "before the call" \
            else state[0].removeprefix("after ")
        detail = self.failure_detail(c, outcomes, applied)
        basis = detail["basis"]
        lines.append(f"  kernel: {basis['release'] or basis['kernel']}; kernel-dependent rules of "
                     f"{(c.name)}: {len(basis['rules']) or 'none'}")
        lines += [f"    {name}: {reason}" for name, reason in sorted(basis["rules"].items())]
        if basis["markers"]:
            lines.append("  markers read: " + "; ".join(f"{name} = {reading}"
                                                      for name, reading in basis["markers"].items()))
        considered = detail["considered"]
        if considered:
            lines.append(f"  rules considered and not allowed ({len(considered)}), with what "
                         "excluded each:")
        lines += [f"    {line}" for line in why.describe(considered, detail.get("considered_note"))]
        if state is not None:
            when, table = state
            lines.append(f"  model state {when}:")
            lines += [f"    {line}" for line in table] or ["    (no sockets)"]
        lines += ["  reproducer:", *("    " + line for line in self.reproducer().splitlines())]
        return "\n".join(lines)

    def model_state(self) -> list[str]:
        """The model's sockets by fd (other files are counted, not listed)."""
        entries = self.m.fds.entries
        lines = [f"fd {fd}: {e.obj.describe()}{' (cloexec)' if e.cloexec else ''}"
                 for fd, e in sorted(entries.items()) if isinstance(e.obj, Sock)]
        others = len(entries) - len(lines)
        return lines + [f"and {others} other open files"] if others else lines

    def structured_calls(self) -> list[dict]:
        """This scenario's calls so far as data (a failing check record's ``calls``), from
        which harness/repro_c.py writes a standalone C reproducer."""
        from .repro_c import allowed_json, structured
        return structured(self.history, {n: allowed_json(o) for n, o in self.allowed_at.items()})

    def reproducer(self) -> str:
        """A self-contained script replaying this scenario's calls so far."""
        names: dict[int, str] = {}
        out = ["from harness.kernel import Kernel, load_backend",
               "from harness import mem",
               "from harness.mem import *",
               "from harness.abi.linux import *",
               f"k = Kernel(load_backend({self.k.backend.name!r}))"]
        vias = {c.via for c, _ in self.history if c.via != "native"}
        for via in sorted(vias):
            out.append(f"k_{via} = Kernel(k.backend, via={via!r})")
        for n, (c, r) in enumerate(self.history):
            if n in self.blocked:
                out.append("import signal; signal.signal(signal.SIGALRM, lambda *a: None); "
                           f"signal.setitimer(signal.ITIMER_REAL, {self.blocked[n]:g})"
                           "  # the next call blocked: let SIGALRM end it")
            args = list(c.args)
            for i in FD_ARGS.get(c.name, ()):
                if i < len(args) and args[i] in names:
                    args[i] = _Raw(names[args[i]])
            shown = Call(c.name, tuple(args), c.kwargs).python("k" if c.via == "native" else f"k_{c.via}")
            if r.ok and c.name in NEW_FD_CALLS:
                var = f"fd{len(names)}"
                names[r.ret] = var
                out.append(f"r = {shown}; {var} = r.ret; print({str(c)!r}, '->', r)")
            elif r.ok and c.name == "socketpair" and "fds" in r.out:
                a, b = f"fd{len(names)}", f"fd{len(names) + 1}"
                names[r.out["fds"][0]], names[r.out["fds"][1]] = a, b
                out.append(f"r = {shown}; {a}, {b} = r.out['fds']; print({str(c)!r}, '->', r, r.out)")
            else:
                out.append(f"r = {shown}; print({str(c)!r}, '->', r, dict(r.out))")
        return "\n".join(out)

    # -- children: dropped capabilities, limits -----------------------------------------
    def in_child(self, body: Callable[["Scenario"], None], drop: tuple[str, ...] = (),
                 rlimit_nofile: int | None = None, timeout: float = 20.0,
                 uid: int | None = None, prepare: Callable[[], None] | None = None) -> None:
        """Run ``body(child_scenario)`` in a forked child that dropped the capabilities
        ``drop`` (names like "CAP_NET_RAW") and/or lowered RLIMIT_NOFILE, and/or became
        ``uid`` (gid the same number, no supplementary groups: every capability goes).
        ``prepare()`` runs in the child first, still privileged. Its checks are recorded
        here; a mismatch in the child fails the caller."""
        from .child import run_in_child
        from .privilege import CAP_NUMBERS, drop_effective, drop_to_uid
        records: list[dict] = []
        model = copy.deepcopy(self.m)
        model.caps -= set(drop)
        label = ("dropped " + ",".join(c.replace("CAP_", "") for c in drop)) if drop else self.privilege
        if uid is not None:
            from .model.vfs import Cred
            model.caps = set()
            model.vfs.cred = Cred(uid, uid, (), _umask())
            label = f"uid {uid}, no capabilities"
        if rlimit_nofile is not None:
            model.fds.rlimit = rlimit_nofile

        def child():
            import resource
            from .model import read_fd_table
            for fd, what in read_fd_table().items():     # run_in_child's result pipe
                if model.fds.get(fd) is None:
                    model.adopt(fd, what)
            if prepare is not None:
                prepare()
            if drop:
                drop_effective([CAP_NUMBERS[c] for c in drop], self.k)
            if uid is not None:
                drop_to_uid(uid, uid)
            if rlimit_nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (rlimit_nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            from .model.scm import Task
            model.task = Task.current()                 # the child's own pid (and ids)
            sub = Scenario(self.k, model, records.append, self.test_id, label,
                           call_bound=self.call_bound)
            try:
                body(sub)
                sub.finish()
                return records, None, sub.rules_seen
            except AssertionError as exc:
                return records, str(exc), sub.rules_seen

        res = run_in_child(child, timeout=timeout)
        if not res.ok:
            raise Mismatch(f"the {label} child did not finish: {res.describe()}")
        child_records, failure, rules_seen = res.value
        for rec in child_records:
            self._record(rec)
        self.checks += sum(rec.get("kind") == "check" for rec in child_records)
        self.rules_seen |= rules_seen
        if failure:
            self.failed = True
            raise Mismatch(f"in a child with {label}:\n{failure}")

    # -- the namespace ------------------------------------------------------------------
    _SYSCTL_FIELDS = {"net.core.somaxconn": "somaxconn",
                      "net.ipv4.ip_local_port_range": "port_range",
                      "net.ipv4.ip_unprivileged_port_start": "unprivileged_port_start"}

    def set_sysctl(self, name: str, value) -> None:
        """Set a per-namespace sysctl in the kernel and the model; restored at cleanup.
        Skips the test unless this process is in a private network namespace."""
        import pytest
        from . import netns
        why = netns.why_not_writable(name)
        if why:
            pytest.skip(why)
        if name not in self._SYSCTL_FIELDS:
            raise ValueError(f"the model does not follow sysctl {name}")
        if not hasattr(self, "_sysctls_saved"):
            self._sysctls_saved = {}
        self._sysctls_saved.setdefault(name, netns.read_sysctl(name))
        netns.write_sysctl(name, value)
        setattr(self.m.net, self._SYSCTL_FIELDS[name], tuple(value) if isinstance(value, (list, tuple)) else int(value))

    def adopt(self, fd: int, what: str) -> None:
        """Tell the model about an fd the test opened outside the checked calls."""
        self.m.adopt(fd, what)

    def adopt_cred(self) -> None:
        """Tell the model this process's filesystem credentials (model/vfs.py)."""
        from .model.vfs import Cred
        self.m.vfs.cred = Cred(os.geteuid(), os.getegid(), tuple(os.getgroups()), _umask())

    def adopt_path(self, path: str, listed: bool = False) -> None:
        """Tell the model the node at ``path`` that the test made outside the checked calls:
        its kind, mode and owner (lstat), a symlink's body, whether its mount is read-only;
        ``listed``: a directory whose every entry the test declares (model/vfs.py)."""
        import stat
        from .model.vfs import Node
        st = os.lstat(path)
        kinds = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFSOCK: "sock",
                 stat.S_IFLNK: "symlink"}
        kind = kinds.get(stat.S_IFMT(st.st_mode), "other")
        target = os.fsencode(os.readlink(path)) if kind == "symlink" else None
        readonly = kind != "symlink" and bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        self.m.vfs.declare(os.fsencode(path), Node(kind, stat.S_IMODE(st.st_mode), st.st_uid,
                                                   st.st_gid, target, readonly, listed))

    # -- cleanup ------------------------------------------------------------------------
    def created_fds(self) -> list[int]:
        return [fd for fd, e in self.m.fds.entries.items() if isinstance(e.obj, Sock)]

    def close_all(self) -> None:
        """Close, unchecked, every descriptor the scenario still holds."""
        for fd in self.created_fds():
            self.k.close(fd)
            self.m.fds.remove(fd)
        from . import netns
        for name, value in getattr(self, "_sysctls_saved", {}).items():
            netns.write_sysctl(name, value)


# A state observable and the rule that defines it, for a divergence no rule of the matched
# outcome shows (the listener's SO_ACCEPTCONN after an unrelated call).
OBSERVABLE_RULES = {
    "FD_CLOEXEC": "fd.cloexec_flag", "O_NONBLOCK": "fd.nonblock_flag",
    "SO_DOMAIN": "getsockopt.so_domain", "SO_TYPE": "getsockopt.so_type",
    "SO_PROTOCOL": "getsockopt.so_protocol", "SO_ACCEPTCONN": "getsockopt.so_acceptconn",
    "SO_ERROR": "getsockopt.so_error", "procfs": "procfs.fd_link", "inode": "procfs.fd_link",
    "listen_backlog": "listen.backlog_clamp", "accept_queue": "listen.inet_acceptq_capacity",
    "open": "fd.lowest_free", "SIGPIPE pending": "send.sigpipe",
    "IPV6_V6ONLY": "bind.inet6_sets_v6only",      # an accepted socket inherits the listener's
}


def exercised_rules(matched: Outcome, compared: set[str]) -> list[str]:
    """The rules of a passing check whose effect it compared: the matched rule (its answer),
    and each ``also`` rule one of whose observables (Rule.shows) was compared."""
    out = [matched.rule.name]
    for r in matched.also:
        if set(r.shows) & compared and r.name not in out:
            out.append(r.name)
    return out


def divergence(outcomes, matched: Outcome | None, diverged: list[str], blocked: bool,
               predicted_by: dict | None = None) -> dict:
    """What a failing check disagrees with, for grouping: ``kind`` answer (no allowed outcome
    matched), blocked, or state (the answer matched, an observable differs); ``rules``: the
    rules whose prediction the kernel contradicted (all allowed ones for an answer; for a state,
    the matched outcome's rules that show the observable, else the rule that defines it);
    ``documented``: whether any of them is documented behaviour (man page) rather than a
    Linux implementation detail; ``key``: one line naming the difference."""
    from .model.rules import REGISTRY
    if matched is None:
        names = list(dict.fromkeys(o.rule.name for o in outcomes))
        kind = "blocked" if blocked else "answer"
        key = f"{kind}: {' | '.join(names)}"
    else:
        kind, names = "state", []
        for obs in dict.fromkeys(diverged):
            showing = [r.name for r in matched.rules if obs in r.shows]
            names += (showing or list(dict.fromkeys((predicted_by or {}).get(obs) or ()))
                      or [OBSERVABLE_RULES.get(obs, f"{matched.rule.name}")])
        names = list(dict.fromkeys(names))
        key = f"state {', '.join(dict.fromkeys(diverged))}: {' | '.join(names)}"
    documented = any(REGISTRY[n].is_documented for n in names if n in REGISTRY)
    return {"kind": kind, "rules": names, "key": key, "documented": documented}


def contradicted(profile, c: Call, result: Result) -> list[str]:
    """Where the kernel's answer denies a feature the profile's sources say exists, both
    facts: "CONFIG_IPV6=y (/proc/config.gz) but socket(AF_INET6, ...) answered EAFNOSUPPORT".
    The profile never changes its mind from a socket call's answer: this is a failure."""
    import errno as _errno
    out = []
    inner = decoded(c) or c
    if result.errno == _errno.EAFNOSUPPORT and inner.name in ("socket", "socketpair") and inner.args:
        family = inner.args[0]
        if isinstance(family, int) and profile.family_available(family) is True:
            out.append(f"{profile.family_basis(family)} but {c} answered EAFNOSUPPORT")
    if c.via != "native" and result.errno == _errno.ENOSYS and profile.compat_available:
        d = (getattr(profile, "decisions", {}) or {}).get("compat path") or {}
        facts = "; ".join(d.get("sources") or [profile.compat_reason])
        out.append(f"the compat path works ({facts}) but {c} via {c.via} answered ENOSYS")
    return out


class _Raw:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _fmt_result(r: Result) -> str:
    if r.out:
        return f"{r} {{{', '.join(f'{k}: {fmt_value(v)}' for k, v in r.out.items())}}}"
    return str(r)


def _add_call_methods():
    doc = "Issue {0}() on the kernel and the model and check it (see Scenario.call)."
    for name in ("socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
                 "getsockname", "getpeername", "shutdown", "sendto", "send", "recvfrom", "recv",
                 "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "setsockopt", "getsockopt",
                 "close", "dup", "dup2", "fcntl", "fstat", "readlink", "socketcall"):
        def method(self, *args, _name=name, **kwargs):
            return self.call(_name, *args, **kwargs)
        method.__name__ = name
        method.__doc__ = doc.format(name)
        setattr(Scenario, name, method)


_add_call_methods()


def _umask() -> int:
    """This process's umask: read without changing it (/proc/self/status, since 4.7), else
    (gVisor's status has no Umask line) set and put back at once with umask(2), a call
    outside the socket layer."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
