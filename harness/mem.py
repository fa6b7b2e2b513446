"""User memory for raw syscalls: sockaddr codecs, buffers, the inaccessible page, the low arena.

Every pointer handed to the kernel comes from here, so its size is known and a kernel write
can never run past the end of a Python-owned buffer.
"""
from __future__ import annotations

import ctypes
import ipaddress
import struct
from dataclasses import dataclass

from .abi import linux as L

PAGE_SIZE = 4096


# --------------------------------------------------------------------------- pointers

@dataclass(frozen=True)
class Ptr:
    """A raw user address, passed to the kernel as is (NULL, the fault page, a buffer).
    ``inaccessible`` marks an address whose every access faults (the model reads it)."""
    addr: int
    label: str = ""
    inaccessible: bool = False

    def __repr__(self) -> str:
        return self.label or f"Ptr({self.addr:#x})"


NULL = Ptr(0, "NULL", inaccessible=True)


class Buffer:
    """Memory owned by Python at a fixed address, ``size`` bytes long."""

    def __init__(self, addr: int, size: int, keepalive=None):
        self.addr = addr
        self.size = size
        self._keepalive = keepalive

    @property
    def ptr(self) -> Ptr:
        return Ptr(self.addr)

    def read(self, n: int | None = None, offset: int = 0) -> bytes:
        n = self.size - offset if n is None else n
        if offset < 0 or n < 0 or offset + n > self.size:
            raise ValueError(f"read of {n} bytes at {offset} outside a {self.size}-byte buffer")
        return ctypes.string_at(self.addr + offset, n)

    def write(self, data: bytes, offset: int = 0) -> None:
        data = bytes(data)
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError(f"write of {len(data)} bytes at {offset} outside a {self.size}-byte buffer")
        ctypes.memmove(self.addr + offset, data, len(data))


class HeapAllocator:
    """Buffers anywhere in the address space (the native 64-bit ABI). Every buffer stays
    alive until reset(): the kernel may still use a buffer only a pointer refers to."""

    def __init__(self):
        self._live: list = []

    def alloc(self, size: int, data: bytes = b"") -> Buffer:
        size = _checked_size(size)
        raw = ctypes.create_string_buffer(max(size, 1))
        self._live.append(raw)
        buf = Buffer(ctypes.addressof(raw), size, raw)
        if data:
            buf.write(data)
        return buf

    def reset(self) -> None:
        self._live.clear()


class Arena:
    """A bump allocator in memory below 4 GiB (MAP_32BIT), for int $0x80 compat calls whose
    pointers are 32 bits wide. The last page of the region is PROT_NONE, so ``tail()`` can place
    a block that ends exactly where reading faults."""

    def __init__(self, mapper, pages: int = 64):
        self._mapper = mapper
        self.size = pages * PAGE_SIZE
        self.base = mapper.mmap(self.size + PAGE_SIZE, L.PROT_READ | L.PROT_WRITE,
                                L.MAP_PRIVATE | L.MAP_ANONYMOUS | L.MAP_32BIT)
        if self.base + self.size + PAGE_SIZE > 1 << 32:
            raise OSError("MAP_32BIT mapping landed above 4 GiB")
        mapper.mprotect(self.base + self.size, PAGE_SIZE, L.PROT_NONE)
        self.guard = Ptr(self.base + self.size, "guard page", True)
        self._top = 0

    def alloc(self, size: int, data: bytes = b"") -> Buffer:
        size = _checked_size(size)
        start = (self._top + 15) & ~15
        if start + size > self.size - PAGE_SIZE:   # the page before the guard is tail()'s
            raise MemoryError(f"low arena exhausted ({self.size} bytes)")
        self._top = start + size
        buf = Buffer(self.base + start, size)
        buf.write(b"\0" * size)
        if data:
            buf.write(data)
        return buf

    def tail(self, data: bytes) -> Buffer:
        """A buffer holding ``data`` whose last byte is the last readable byte before the guard."""
        if len(data) > PAGE_SIZE:
            raise ValueError("tail block larger than a page")
        buf = Buffer(self.base + self.size - len(data), len(data))
        buf.write(data)
        return buf

    def reset(self) -> None:
        self._top = 0


def _checked_size(size) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"buffer size must be an int, not {type(size).__name__}")
    if size < 0:
        raise ValueError(f"buffer size must not be negative (got {size})")
    if size > 1 << 26:
        raise ValueError(f"buffer size {size} is unreasonably large")
    return size


# --------------------------------------------------------------------------- sockaddr codecs

@dataclass(frozen=True)
class SockaddrIn:
    port: int = 0
    addr: str = "0.0.0.0"
    family: int = L.AF_INET

    def encode(self) -> bytes:
        return (struct.pack("=H", self.family) + struct.pack("!H", self.port)
                + ipaddress.IPv4Address(self.addr).packed + b"\0" * 8)

    def __str__(self) -> str:
        return f"{self.addr}:{self.port}"


@dataclass(frozen=True)
class SockaddrIn6:
    port: int = 0
    addr: str = "::"
    flowinfo: int = 0
    scope_id: int = 0
    family: int = L.AF_INET6

    def encode(self) -> bytes:
        return (struct.pack("=H", self.family) + struct.pack("!HI", self.port, self.flowinfo)
                + ipaddress.IPv6Address(self.addr).packed + struct.pack("=I", self.scope_id))

    def __str__(self) -> str:
        return f"[{self.addr}]:{self.port}"


@dataclass(frozen=True)
class SockaddrUn:
    """AF_UNIX: ``path`` is a filesystem path, ``abstract`` a name in the abstract namespace
    (encoded with its leading NUL), neither for an unnamed socket (just the family)."""
    path: bytes | None = None
    abstract: bytes | None = None
    family: int = L.AF_UNIX

    def __post_init__(self):
        if self.path is not None and self.abstract is not None:
            raise ValueError("an AF_UNIX address is a path or an abstract name, not both")
        for name in ("path", "abstract"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.encode())
            elif value is not None and not isinstance(value, bytes):
                raise TypeError(f"SockaddrUn.{name} must be bytes or str")
        if self.path is not None and len(self.path) >= L.UNIX_PATH_MAX:
            raise ValueError(f"AF_UNIX path longer than {L.UNIX_PATH_MAX - 1} bytes")
        if self.abstract is not None and len(self.abstract) > L.UNIX_PATH_MAX - 1:
            raise ValueError(f"abstract name longer than {L.UNIX_PATH_MAX - 1} bytes")

    @property
    def kind(self) -> str:
        return "path" if self.path is not None else "abstract" if self.abstract is not None else "unnamed"

    def encode(self) -> bytes:
        head = struct.pack("=H", self.family)
        if self.path is not None:
            return head + self.path + b"\0"
        if self.abstract is not None:
            return head + b"\0" + self.abstract
        return head

    def __str__(self) -> str:
        if self.path is not None:
            return self.path.decode(errors="replace")
        if self.abstract is not None:
            return "@" + self.abstract.decode(errors="replace")
        return "(unnamed)"


@dataclass(frozen=True)
class SockaddrLl:
    protocol: int = 0          # host order; encoded big-endian as the kernel expects
    ifindex: int = 0
    hatype: int = 0
    pkttype: int = 0
    halen: int = 0
    addr: bytes = b""
    family: int = L.AF_PACKET

    def encode(self) -> bytes:
        return (struct.pack("=H", self.family) + struct.pack("!H", self.protocol)
                + struct.pack("=iHBB", self.ifindex, self.hatype, self.pkttype, self.halen)
                + self.addr[:8].ljust(8, b"\0"))

    def __str__(self) -> str:
        return f"ll(proto={self.protocol:#x}, ifindex={self.ifindex})"


@dataclass(frozen=True)
class SockaddrNl:
    pid: int = 0
    groups: int = 0
    family: int = L.AF_NETLINK

    def encode(self) -> bytes:
        return struct.pack("=HHII", self.family, 0, self.pid, self.groups)

    def __str__(self) -> str:
        return f"nl(pid={self.pid}, groups={self.groups:#x})"


@dataclass(frozen=True)
class SockaddrRaw:
    """Any bytes, for families without a codec and for malformed addresses."""
    data: bytes = b""

    @property
    def family(self) -> int:
        return struct.unpack_from("=H", self.data)[0] if len(self.data) >= 2 else -1

    def encode(self) -> bytes:
        return self.data

    def __str__(self) -> str:
        return f"raw({self.data.hex()})"


Sockaddr = SockaddrIn | SockaddrIn6 | SockaddrUn | SockaddrLl | SockaddrNl | SockaddrRaw


def encode_sockaddr(sa) -> bytes:
    if isinstance(sa, (bytes, bytearray)):
        return bytes(sa)
    if not hasattr(sa, "encode") or isinstance(sa, str):
        raise TypeError(f"not a socket address: {sa!r}")
    return sa.encode()


def decode_sockaddr(data: bytes):
    """Decode the first ``addrlen`` bytes the kernel returned (already truncated to addrlen)."""
    data = bytes(data)
    if len(data) < 2:
        return SockaddrRaw(data)
    family = struct.unpack_from("=H", data)[0]
    if family == L.AF_INET and len(data) >= 8:
        port, = struct.unpack_from("!H", data, 2)
        return SockaddrIn(port, str(ipaddress.IPv4Address(data[4:8])))
    if family == L.AF_INET6 and len(data) >= 24:
        port, flowinfo = struct.unpack_from("!HI", data, 2)
        scope = struct.unpack_from("=I", data, 24)[0] if len(data) >= 28 else 0
        return SockaddrIn6(port, str(ipaddress.IPv6Address(data[8:24])), flowinfo, scope)
    if family == L.AF_UNIX:
        rest = data[2:]
        if not rest:
            return SockaddrUn()
        if rest[0] == 0:
            return SockaddrUn(abstract=rest[1:])
        return SockaddrUn(path=rest.split(b"\0", 1)[0])
    if family == L.AF_PACKET and len(data) >= 12:
        protocol, = struct.unpack_from("!H", data, 2)
        ifindex, hatype, pkttype, halen = struct.unpack_from("=iHBB", data, 4)
        return SockaddrLl(protocol, ifindex, hatype, pkttype, halen, data[12:12 + min(halen, 8)])
    if family == L.AF_NETLINK and len(data) >= 12:
        _, _, pid, groups = struct.unpack_from("=HHII", data)
        return SockaddrNl(pid, groups)
    return SockaddrRaw(data)


def loopback(family: int, port: int = 0):
    if family == L.AF_INET:
        return SockaddrIn(port, "127.0.0.1")
    if family == L.AF_INET6:
        return SockaddrIn6(port, "::1")
    raise ValueError(f"no loopback address for family {family}")


def wildcard(family: int, port: int = 0):
    if family == L.AF_INET:
        return SockaddrIn(port, "0.0.0.0")
    if family == L.AF_INET6:
        return SockaddrIn6(port, "::")
    raise ValueError(f"no wildcard address for family {family}")
