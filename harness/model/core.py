"""The model: given the profile, the state and a call, the set of allowed outcomes.

``Model.allowed(call)`` dispatches to the syscall entry registered for ``call.name``
(``@syscall("listen")`` on the function that mirrors ``__sys_listen``). Entries are pure: they
read the state and return outcomes; the checker applies the transition of the outcome the
kernel's answer matched (``Outcome.apply``).
"""
from __future__ import annotations

import os
from typing import Callable

from .call import Call
from .rules import Outcome, Rule, as_outcomes
from .state import FdTable, Foreign, Net, Sock
from .vfs import Vfs

ENTRIES: dict[str, Callable] = {}


def syscall(name: str):
    """Register the model's entry for a syscall (the function named after the kernel's)."""
    def register(fn):
        if name in ENTRIES:
            raise ValueError(f"two model entries for {name}")
        ENTRIES[name] = fn
        return fn
    return register


class Model:
    def __init__(self, profile, fds: FdTable | None = None, net: Net | None = None,
                 caps=None):
        self.profile = profile
        self.version = tuple(profile.kernel_version)
        self.caps = set(profile.capabilities if caps is None else caps)
        self.fds = fds if fds is not None else FdTable(rlimit=profile.rlimit_nofile[0])
        self.net = net if net is not None else Net(
            somaxconn=profile.somaxconn,
            port_range=tuple(profile.sysctl_ints("net.ipv4.ip_local_port_range") or (32768, 60999)),
            unprivileged_port_start=profile.sysctl_int("net.ipv4.ip_unprivileged_port_start", 1024),
        )
        self.vfs = Vfs()                # the nodes and credentials the test declared (vfs.py)
        self.via = "native"             # the call path of the call being answered (Call.via)
        # the process's signal state, as far as the socket calls change it: the mask the test
        # set (Scenario.block_signals) and what became pending. CPython ignores SIGPIPE, so an
        # unblocked SIGPIPE is discarded.
        self.sig_blocked: set[int] = set()
        self.sig_pending: set[int] = set()
        # the caller's pid and ids, read from the process (not from the calls under test):
        # SCM_CREDENTIALS checks and stamps them (model/scm.py)
        from .scm import Task
        self.task = Task.current()

    # -- what rules ask ---------------------------------------------------------------
    def capable(self, cap: str) -> bool:
        """capable()/ns_capable(): the effective set. A private namespace made as root is owned
        by the initial user namespace, so the two agree; in the unprivileged user+net
        namespace (profile.netns_mode "userns") the effective set is empty, so both fail."""
        return cap in self.caps

    def holds(self, rule: Rule) -> bool:
        """Does ``rule`` hold for this kernel: by its markers where the profile read them,
        else by the release range."""
        return rule.holds(self.version, self.markers)

    @property
    def markers(self) -> dict:
        return getattr(self.profile, "markers", None) or {}

    def sysctl_int(self, name: str, default: int | None = None) -> int | None:
        return self.profile.sysctl_int(name, default)

    def send_sig(self, signo: int) -> None:
        """send_sig() to the calling process: pending if blocked (a blocked signal is never
        ignored), else discarded (the model runs under CPython, which ignores SIGPIPE)."""
        if signo in self.sig_blocked:
            self.sig_pending.add(signo)

    def adopt_state(self, other: "Model") -> None:
        """Take over the state of a copy of this model that simulated a batch of calls
        (sendmmsg, recvmmsg)."""
        for key, value in vars(other).items():
            if key != "profile":
                setattr(self, key, value)

    # -- the relation --------------------------------------------------------------------
    def allowed(self, call: Call) -> tuple[Outcome, ...]:
        try:
            entry = ENTRIES[call.name]
        except KeyError:
            raise LookupError(f"the model has no entry for {call.name}") from None
        self.via = call.via
        outcomes = as_outcomes(entry(self, *call.args, **call.kwargs))
        if call.via != "native":
            from .compat import on_compat_path
            outcomes = on_compat_path(call, outcomes)
        return outcomes

    # -- fd table --------------------------------------------------------------------------
    def sock(self, fd: int) -> Sock | None:
        e = self.fds.get(fd)
        return e.obj if e is not None and isinstance(e.obj, Sock) else None

    def adopt(self, fd: int, what: str, cloexec: bool = False, path_only: bool = False,
              kind: str = "") -> None:
        """Tell the model about an fd opened outside the checked calls (a file, a pipe);
        ``path_only``: it was opened with O_PATH (FMODE_PATH)."""
        self.fds.install(fd, Foreign(what, path_only=path_only, kind=kind), cloexec)

    def seed_fds(self, entries: dict[int, str], cloexec: dict[int, bool] | None = None) -> None:
        """Seed the fd table from /proc/self/fd (fd -> link target)."""
        cloexec = cloexec or {}
        self.fds.entries = {}
        for fd, what in entries.items():
            self.fds.install(fd, Foreign(what), cloexec.get(fd, False))


def read_fd_table() -> dict[int, str]:
    """fd -> link target for every open fd of this process (the listing's own fd excluded)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue                      # the listing's own fd, closed by now
    return out
