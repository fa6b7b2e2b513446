"""Run a function in a forked child with a time bound and bring back its result.

Used wherever a test must not disturb this process: probes that may kill the caller (int $0x80
on a kernel without IA32 emulation), dropped capabilities, a lowered RLIMIT_NOFILE.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ChildResult:
    value: Any = None          # what fn returned, when it returned
    error: str | None = None   # an exception in the child, as text
    signal: int | None = None  # the signal that killed the child
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.signal is None and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return "timed out"
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        return self.error or "ok"


def run_in_child(fn: Callable[[], Any], timeout: float = 10.0) -> ChildResult:
    """fork; the child runs fn() and sends back its pickled result; the parent waits at most
    ``timeout`` seconds, then kills it. Never raises for what happens in the child."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: never returns into pytest
        status = 0
        try:
            os.close(rfd)
            import faulthandler
            faulthandler.disable()     # a child killed by a signal is an answer, not a crash
            try:
                payload = pickle.dumps(("ok", fn()))
            except BaseException as exc:           # noqa: BLE001 - everything goes back as text
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:                      # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    chunks, deadline, timed_out = [], time.monotonic() + timeout, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return ChildResult(timed_out=True)
    if os.WIFSIGNALED(status):
        return ChildResult(signal=os.WTERMSIG(status))
    if not chunks:
        return ChildResult(error=f"child exited with status {os.WEXITSTATUS(status)} and no result")
    kind, value = pickle.loads(b"".join(chunks))
    return ChildResult(value=value) if kind == "ok" else ChildResult(error=value)
