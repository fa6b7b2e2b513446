"""User memory for raw syscalls: sockaddr codecs, buffers, the inaccessible page, the low arena.

Every pointer handed to the kernel comes from here, so its size is known and a kernel write
can never run past the end of a Python-owned buffer.
"""
from __future__ import annotations

import ctypes
import functools
import ipaddress
import struct
from dataclasses import dataclass

from .abi import linux as L

PAGE_SIZE = 4096


# --------------------------------------------------------------------------- pointers

@dataclass(frozen=True)
class Ptr:
    """A raw user address, passed to the kernel as is (NULL, the fault page, a buffer).

    What the model may know of the memory there:
    ``inaccessible``: every access faults (NULL, a PROT_NONE page, an address that fails
    access_ok); ``user``: False for an address that fails access_ok() (above TASK_SIZE_MAX:
    the kernel half, (void *)-1), which the kernel refuses before it touches memory where it
    checks the range up front (import_ubuf(), import_iovec()); ``span``: a guard buffer, whose
    ``span`` bytes from ``addr`` are accessible and whose next byte lies on a PROT_NONE page
    (None: no known extent); ``writable``: False for a read-only (PROT_READ) buffer;
    ``data``: the ``span`` bytes the buffer holds, when the test put them there."""
    addr: int
    label: str = ""
    inaccessible: bool = False
    span: int | None = None
    writable: bool = True
    user: bool = True
    data: bytes | None = None

    def __repr__(self) -> str:
        return self.label or f"Ptr({self.addr:#x})"

    def reads(self, n: int) -> bool | None:
        """Does a kernel copy of ``n`` bytes from here succeed? None: the model cannot tell
        (a readable address of unknown extent). A copy of 0 bytes never faults
        (copy_from_user() with n == 0 copies nothing, whatever access_ok() says)."""
        if n <= 0:
            return True
        if self.inaccessible:
            return False
        if self.span is None:
            return None
        return n <= self.span

    def writes(self, n: int) -> bool | None:
        """Does a kernel copy of ``n`` bytes to here succeed? None: the model cannot tell."""
        if n <= 0:
            return True
        if self.inaccessible or (self.span is not None and not self.writable):
            return False
        if self.span is None:
            return None
        return n <= self.span

    def read(self, n: int) -> bytes | None:
        """The ``n`` bytes a copy_from_user() gets, None when it faults; LookupError when the
        model cannot know them (see NotModelled at the callers)."""
        ok = self.reads(n)
        if ok is False:
            return None
        if n <= 0:
            return b""
        if ok is None or self.data is None:
            raise LookupError(f"the contents of {self!r}")
        return self.data[:n]


NULL = Ptr(0, "NULL", inaccessible=True)

# --------------------------------------------------------------------------- bad pointers
#
# The catalogue of pointers every call's pointer arguments are checked with (LTP's
# tst_get_bad_addr() maps a PROT_NONE page; its guarded buffers end at one):
#   "prot_none"   a PROT_NONE page: passes access_ok(), faults when copied (Kernel.fault_page);
#   "kernel_half" 0xffff800000000000: fails access_ok() (above TASK_SIZE_MAX on x86_64: 5.10
#                 __chk_range_not_ok() against user_addr_max(), 6.1 asm-generic __access_ok()
#                 against TASK_SIZE_MAX, 6.4+ valid_user_address()), for any length;
#   "minus_one"   (void *)-1: fails access_ok() likewise (and wraps around);
#   "guard"       a buffer whose last byte is the last before a PROT_NONE page
#                 (Kernel.guard(), the span exact or one byte short);
#   "read_only"   a PROT_READ buffer: the kernel may read it, a write faults.
# A write-only buffer cannot be made on x86 (PROT_WRITE implies PROT_READ: the page tables
# have no write-only mode), so "the kernel must not read it" is not checkable there.
# On the 32-bit compat paths (int $0x80, socketcall) a pointer is 32 bits, zero-extended by
# compat_ptr(): no 32-bit address lies above TASK_SIZE_MAX, so nothing fails access_ok()
# (x86_64 checks TASK_SIZE_MAX, not the IA32 TASK_SIZE, and this task is 64-bit anyway).
# There the top page 0xfffff000 (unmapped) stands in: it passes access_ok() and faults.

@dataclass(frozen=True)
class Placed:
    """Where a wrapper puts a structure it builds itself (a msghdr): in a guard buffer that
    ends exactly at a PROT_NONE page, ``short`` bytes cut off its end (they would lie on the
    guard page: a read of the whole structure faults), read-only unless ``writable``."""
    short: int = 0
    writable: bool = True


KERNEL_HALF = Ptr(0xFFFF_8000_0000_0000, "kernel-half address", inaccessible=True, user=False)
MINUS_ONE = Ptr(0xFFFF_FFFF_FFFF_FFFF, "(void *)-1", inaccessible=True, user=False)
COMPAT_TOP = Ptr(0xFFFF_F000, "0xfffff000 (unmapped, passes access_ok)", inaccessible=True)

BAD_KINDS = ("prot_none", "kernel_half", "minus_one")


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


class GuardPool:
    """Guard buffers: ``take(data, span, writable)`` places ``span`` bytes so that the last is
    the last accessible byte before a PROT_NONE page (one page of data, then the guard). The
    pages are mapped below 4 GiB where the platform can (MAP_32BIT), so the compat paths can
    pass them, and reused round-robin: a buffer stays valid for the next ``SLOTS - 1`` takes."""

    SLOTS = 16

    def __init__(self, mapper, low: bool):
        self._mapper = mapper
        self._low = low
        self._slots: list[int] = []
        self._next = 0

    def _slot(self) -> int:
        if len(self._slots) < self.SLOTS:
            flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS | (L.MAP_32BIT if self._low else 0)
            base = self._mapper.mmap(2 * PAGE_SIZE, L.PROT_READ | L.PROT_WRITE, flags)
            self._mapper.mprotect(base + PAGE_SIZE, PAGE_SIZE, L.PROT_NONE)
            self._slots.append(base)
            return base
        base = self._slots[self._next]
        self._next = (self._next + 1) % self.SLOTS
        self._mapper.mprotect(base, PAGE_SIZE, L.PROT_READ | L.PROT_WRITE)
        return base

    def take(self, data: bytes = b"", span: int | None = None, writable: bool = True,
             label: str = "") -> Ptr:
        data = bytes(data)
        span = len(data) if span is None else span
        if not 0 <= span <= PAGE_SIZE:
            raise ValueError(f"a guard buffer holds 0..{PAGE_SIZE} bytes, not {span}")
        base = self._slot()
        ctypes.memset(base, 0, PAGE_SIZE)
        kept = data[:span].ljust(span, b"\0")
        addr = base + PAGE_SIZE - span
        ctypes.memmove(addr, kept, span)
        if not writable:
            self._mapper.mprotect(base, PAGE_SIZE, L.PROT_READ)
        kind = "guard" if writable else "read-only guard"
        return Ptr(addr, label or f"{kind} buffer of {span} bytes", span=span, writable=writable,
                   data=kept)


def _checked_size(size) -> int:
    if type(size) is int and 0 <= size <= 1 << 26:      # the common case, checked first
        return size
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
    return _decode_sockaddr(bytes(data))


@functools.lru_cache(maxsize=4096)      # the addresses are frozen: one object serves each bytes
def _decode_sockaddr(data: bytes):
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
