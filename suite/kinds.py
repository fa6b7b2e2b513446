"""Socket kinds as data (after gVisor's SocketKind): a kind says how to create a socket and
what address it binds to, so a generic test body is written once and runs over many kinds.
Ids read like ``inet6-stream`` or ``unix-abstract-seqpacket``."""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrIn6, SockaddrUn

_names = itertools.count()
_tmpdir: str | None = None


def unix_dir() -> str:
    """A short per-process directory for AF_UNIX paths (sun_path holds 107 bytes), removed
    with its socket files when the process that made it exits (also after a failure)."""
    global _tmpdir
    if _tmpdir is None or not os.path.isdir(_tmpdir):
        _tmpdir = tempfile.mkdtemp(prefix="sockspec-", dir="/tmp")
        os.chmod(_tmpdir, 0o711)        # searchable by the unprivileged uid of test_unix_paths
        atexit.register(_remove, _tmpdir, os.getpid())
    return _tmpdir


def _remove(path: str, owner: int) -> None:
    if os.getpid() == owner:            # not in a forked child that inherited the hook
        shutil.rmtree(path, ignore_errors=True)


def remove_unix_dir() -> None:
    """Remove this process's directory now (the plugin calls it at the end of the session)."""
    global _tmpdir
    if _tmpdir is not None:
        shutil.rmtree(_tmpdir, ignore_errors=True)
        _tmpdir = None


def unique(prefix: str = "s") -> str:
    return f"{prefix}{os.getpid()}-{next(_names)}"


@dataclass(frozen=True)
class Kind:
    addressing: str          # inet, inet6, unix-path, unix-abstract
    type: int

    @property
    def family(self) -> int:
        return {"inet": L.AF_INET, "inet6": L.AF_INET6}.get(self.addressing, L.AF_UNIX)

    @property
    def id(self) -> str:
        return f"{self.addressing}-{L.TYPE_NAMES[self.type][5:].lower()}"

    @property
    def is_inet(self) -> bool:
        return self.family in (L.AF_INET, L.AF_INET6)

    @property
    def connection_oriented(self) -> bool:
        return self.type in (L.SOCK_STREAM, L.SOCK_SEQPACKET)

    def address(self, port: int = 0):
        """A fresh address to bind: loopback with ``port`` (0: ephemeral) for inet, a new
        path or abstract name for unix."""
        if self.addressing == "inet":
            return SockaddrIn(port, "127.0.0.1")
        if self.addressing == "inet6":
            return SockaddrIn6(port, "::1")
        if self.addressing == "unix-path":
            return SockaddrUn(path=os.path.join(unix_dir(), unique()))
        return SockaddrUn(abstract=unique("sockspec-").encode())

    def __str__(self) -> str:
        return self.id


STREAM, DGRAM, SEQPACKET = L.SOCK_STREAM, L.SOCK_DGRAM, L.SOCK_SEQPACKET

ALL = [Kind(a, t) for a in ("inet", "inet6") for t in (STREAM, DGRAM)] + \
      [Kind(a, t) for a in ("unix-path", "unix-abstract") for t in (STREAM, DGRAM, SEQPACKET)]
CONNECTION_ORIENTED = [k for k in ALL if k.connection_oriented]
DATAGRAM = [k for k in ALL if k.type == DGRAM]
INET = [k for k in ALL if k.is_inet]
UNIX = [k for k in ALL if not k.is_inet]
# one per family and type, for creation tests where the address does not matter
CREATABLE = [k for k in ALL if k.addressing != "unix-abstract"]


def ids(kinds) -> list[str]:
    return [k.id for k in kinds]
