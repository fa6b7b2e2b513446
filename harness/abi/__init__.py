"""Per-architecture syscall tables and struct layouts.

``native()`` is the ABI of the running interpreter; ``compat()`` is the 32-bit ABI reached
through ``int $0x80`` on x86_64 (None elsewhere).
"""
from __future__ import annotations

import platform
import struct
from dataclasses import dataclass
from types import MappingProxyType

from . import aarch64, i386, x86_64


@dataclass(frozen=True)
class Abi:
    name: str
    pointer_size: int
    has_socketcall: bool
    syscalls: MappingProxyType

    def nr(self, call: str) -> int:
        try:
            return self.syscalls[call]
        except KeyError:
            raise LookupError(f"{call!r} is not a syscall on {self.name}") from None

    # C struct layouts that differ between LP64 and ILP32 (include/linux/socket.h,
    # include/uapi/linux/uio.h, include/linux/compat.h).
    @property
    def ulong(self) -> str:
        return "Q" if self.pointer_size == 8 else "I"

    @property
    def iovec(self) -> struct.Struct:          # {void *iov_base; size_t iov_len}
        return struct.Struct("=" + self.ulong * 2)

    @property
    def msghdr(self) -> struct.Struct:
        # {name; int namelen; iov; size_t iovlen; control; size_t controllen; unsigned flags}
        if self.pointer_size == 8:
            return struct.Struct("=Qi4xQQQQI4x")
        return struct.Struct("=IiIIIII")

    @property
    def mmsghdr(self) -> struct.Struct:        # {struct msghdr msg_hdr; unsigned msg_len}
        if self.pointer_size == 8:
            return struct.Struct("=Qi4xQQQQI4xI4x")
        return struct.Struct("=IiIIIIII")

    @property
    def timespec(self) -> struct.Struct:       # old (time_t-sized) timespec
        return struct.Struct("=" + ("qq" if self.pointer_size == 8 else "ii"))


def _abi(module) -> Abi:
    return Abi(module.NAME, module.POINTER_SIZE, module.HAS_SOCKETCALL,
               MappingProxyType(dict(module.SYSCALLS)))


ABIS = {m.NAME: _abi(m) for m in (x86_64, i386, aarch64)}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64", "i686": "i386", "i586": "i386"}


def get(name: str) -> Abi:
    name = _MACHINE_ALIASES.get(name, name)
    try:
        return ABIS[name]
    except KeyError:
        raise LookupError(f"unsupported architecture {name!r} (known: {', '.join(ABIS)})") from None


def native() -> Abi:
    return get(platform.machine())


def compat() -> Abi | None:
    """The i386 ABI on x86_64 hosts, reached through int $0x80; None elsewhere."""
    return ABIS["i386"] if native().name == "x86_64" else None
