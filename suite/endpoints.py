"""Building blocks of the connection tests: a socket of a kind, bound, listening, a connected
pair, every step a checked call. Addresses come from the model once the checker has observed
them (an ephemeral port is learned from the getsockname probe after the call)."""
from __future__ import annotations

import errno as E
import os
from contextlib import contextmanager

import pytest

from harness.abi import linux as L
from harness.check import Mismatch, ModelGap
from harness.mem import SockaddrIn, SockaddrIn6, SockaddrRaw, SockaddrUn
from harness.model.rules import Constraint

from .kinds import Kind, unique, unix_dir

INT_MAX = 0x7FFFFFFF
INT_MIN = -0x80000000


class SetupError(Exception):
    """A call that builds a test's sockets failed: the test cannot check what it is about.
    Reported as a pytest error (harness/pytest_plugin.py) naming the call and its errno."""


def setup_ok(sc, result, allow: tuple[int, ...] = ()):
    """``result`` (of the scenario's last call) must be a success, or one of the errnos in
    ``allow``; otherwise the test errors with the call and its answer."""
    if result.ok or result.errno in allow:
        return result
    call = sc.history[-1][0] if sc.history else "?"
    raise SetupError(f"setup call {call} failed: {result}")


def needs_family(sc, family: int) -> None:
    """Skip when the profile's sources (the kernel config, never a socket call) say the family
    is absent; a family they say exists must then be created."""
    profile = sc.m.profile
    if profile.family_available(family) is False:
        pytest.skip(f"{L.FAMILY_NAMES.get(family, family)} is absent: {profile.family_basis(family)}")


def open_sock(sc, kind: Kind, flags: int = L.SOCK_CLOEXEC, protocol: int = 0) -> int:
    needs_family(sc, kind.family)
    return setup_ok(sc, sc.socket(kind.family, kind.type | flags, protocol)).ret


def local(sc, fd: int):
    """The address the model holds for fd (concrete once a probe observed it)."""
    addr = sc.m.sock(fd).local
    assert addr is not None and not isinstance(addr, Constraint), f"fd {fd}: no observed address"
    return addr


def loopback(kind: Kind, port: int = 0):
    return SockaddrIn(port, "127.0.0.1") if kind.family == L.AF_INET else SockaddrIn6(port, "::1")


def bound(sc, kind: Kind, flags: int = L.SOCK_CLOEXEC) -> tuple[int, object]:
    """A socket bound to a fresh address of its kind (inet: loopback, ephemeral port)."""
    fd = open_sock(sc, kind, flags)
    setup_ok(sc, sc.bind(fd, kind.address()))
    return fd, local(sc, fd)


def listener(sc, kind: Kind, backlog: int = 16, nonblock: bool = True) -> tuple[int, object]:
    fd, addr = bound(sc, kind, L.SOCK_CLOEXEC | (L.SOCK_NONBLOCK if nonblock else 0))
    setup_ok(sc, sc.listen(fd, backlog))
    return fd, addr


def connected(sc, kind: Kind, nonblock_client: bool = False) -> tuple[int, int, int]:
    """(client, accepted, listener) for a connection-oriented kind."""
    lfd, addr = listener(sc, kind)
    cfd = open_sock(sc, kind, L.SOCK_CLOEXEC | (L.SOCK_NONBLOCK if nonblock_client else 0))
    setup_ok(sc, sc.connect(cfd, addr), allow=(E.EINPROGRESS,) if nonblock_client else ())
    afd = setup_ok(sc, sc.accept4(lfd, L.SOCK_CLOEXEC)).ret
    return cfd, afd, lfd


def dgram_pair(sc, kind: Kind) -> tuple[int, int]:
    """Two bound datagram sockets, each connected to the other."""
    a, a_addr = bound(sc, kind)
    b, b_addr = bound(sc, kind)
    setup_ok(sc, sc.connect(a, b_addr))
    setup_ok(sc, sc.connect(b, a_addr))
    return a, b


def unspec(length: int = 2) -> SockaddrRaw:
    """An AF_UNSPEC address (connect: dissolve the association)."""
    return SockaddrRaw(b"\0" * max(length, 2))


def missing_dir(sc) -> str:
    """A directory that does not exist, declared to the model."""
    path = os.path.join(unix_dir(), unique("nodir"))
    sc.m.net.missing_dirs.add(path)
    return path


def unix_path(name: str | None = None) -> SockaddrUn:
    return SockaddrUn(path=os.path.join(unix_dir(), name or unique()))


def needs_private_netns(profile, what: str, sc=None, rows=()) -> None:
    """Skip unless this process is in the private network namespace. ``rows``: the labels of
    the table rows the test would check there, each recorded as a skipped row (sc.skip_row)."""
    if not profile.netns_private:
        reason = f"{what} needs the private network namespace (only loopback is known there)"
        for label in rows:
            sc.skip_row(label, reason)
        pytest.skip(reason)


def rows_for(table, private: bool) -> list:
    """The rows of ``table`` (their last field: needs the private namespace) that a test and
    its _private_netns twin split: each row is checked by exactly one of the two, and where
    there is no private namespace the twin records its rows as skipped (needs_private_netns)."""
    return [r for r in table if r[-1] == private]


def ids_of(rows) -> list[str]:
    return [r[0] for r in rows]


@contextmanager
def row(label: str):
    """One row of a table run inside one test: a failure names the row."""
    try:
        yield
    except (Mismatch, ModelGap) as exc:
        raise type(exc)(f"[row {label}] {exc}") from None
