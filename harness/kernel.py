"""Raw socket-layer syscalls.

Two backends share one interface, ``raw(nr, *args) -> (ret, errno)`` and
``compat(nr, *args) -> (ret, errno)``: the compiled cffi module ``_sockspec_raw`` (built at
install time) and a ctypes fallback for machines without a compiler. In both, errno is captured
right after the call. A failing syscall never raises.

``Kernel`` puts typed wrappers on top: arguments go to the kernel exactly as given (no
rewriting: ``listen(fd, -1)`` passes -1), buffers come from ``harness.mem`` so the kernel can
never write past Python-owned memory, and outputs come back decoded in ``Result.out``.
The same wrappers issue calls in three ways: the native ABI, the i386 ABI through
``int $0x80`` (``via="compat"``), and i386 ``socketcall`` (``via="socketcall"``).
"""
from __future__ import annotations

import array
import ctypes
import errno as _errno
import functools
import struct
from typing import Any

from . import abi as _abi
from . import mem
from .abi import cmsg
from .abi import linux as L
from .mem import NULL, Buffer, Ptr

BACKENDS = ("cffi", "ctypes")
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 64) - 1
_SIGNED_MAX = (1 << 63) - 1
_ZEROS = (0,) * 6


class BackendError(RuntimeError):
    """The requested backend cannot be used here."""


# =========================================================================== results
# Result, errname and errnum live in harness/abi/result.py: the model uses them too and must
# not import this module.
from .abi.result import Result, errname, errnum  # noqa: E402,F401


# =========================================================================== backends

class CffiBackend:
    name = "cffi"

    def __init__(self):
        try:
            import _sockspec_raw
        except ImportError as exc:
            raise BackendError(f"compiled backend _sockspec_raw is not installed ({exc}); "
                               "reinstall with a C compiler present, or use --backend ctypes") from None
        self._lib = _sockspec_raw.lib
        self._err = _sockspec_raw.ffi.new("int *")
        self.has_compat = bool(self._lib.sockspec_has_compat())
        call = self._lib.sockspec_raw

        # a closure, not a method: this is the hot path of every check
        def raw(nr: int, a0=0, a1=0, a2=0, a3=0, a4=0, a5=0) -> tuple[int, int]:
            ret = call(nr, a0, a1, a2, a3, a4, a5)
            if -4096 < ret < 0:              # the kernel's -errno
                return -1, -ret
            return ret, 0
        self.raw = raw
        batch = getattr(self._lib, "sockspec_batch", None)
        if batch is None:               # an older build: Kernel.observe() goes call by call
            return
        ffi = _sockspec_raw.ffi

        def prepare_batch(calls: list[tuple[int, list[int]]]):
            """[(nr, words)] as run_batch() takes them: 7 longs per call, and room for the
            answers."""
            flat = array.array("l")
            for nr, words in calls:
                flat.append(nr)
                flat.extend(words)
                flat.extend(_ZEROS[:6 - len(words)])
            rets = array.array("l", bytes(8 * len(calls)))
            return len(calls), ffi.from_buffer("long[]", flat), rets, ffi.from_buffer("long[]", rets), flat

        def run_batch(prepared) -> list[tuple[int, int]]:
            """The calls, in order, in one trip: [(ret, errno)] as raw() gives them."""
            n, calls, rets, c_rets, _ = prepared
            batch(n, calls, c_rets)
            return [(-1, -ret) if -4096 < ret < 0 else (ret, 0) for ret in rets]
        self.prepare_batch, self.run_batch = prepare_batch, run_batch

    def compat(self, nr: int, a0=0, a1=0, a2=0, a3=0, a4=0, a5=0) -> tuple[int, int]:
        ret = self._lib.sockspec_compat(nr, a0, a1, a2, a3, a4, a5, self._err)
        return ret, self._err[0]


# x86_64 machine code for long compat(long nr, long a0, ..., long a5): the SysV arguments
# (rdi, rsi, rdx, rcx, r8, r9, [rsp+8]) move to the i386 ones (eax, ebx, ecx, edx, esi, edi,
# ebp), then int $0x80 and cdqe. Assembled from:
#   push rbx; push rbp; mov rax,rdi; mov rbx,rsi; mov r10,rdx; mov rdx,rcx; mov rcx,r10;
#   mov rsi,r8; mov rdi,r9; mov rbp,[rsp+24]; int 0x80; cdqe; pop rbp; pop rbx; ret
_COMPAT_TRAMPOLINE_X86_64 = bytes.fromhex(
    "53554889f84889f34989d24889ca4c89d14c89c64c89cf488b6c2418cd8048985d5bc3")


class CtypesBackend:
    name = "ctypes"

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [ctypes.c_long] * 7
        self.has_compat = _abi.native().name == "x86_64"
        self._compat_fn = None

    def raw(self, nr: int, a0=0, a1=0, a2=0, a3=0, a4=0, a5=0) -> tuple[int, int]:
        ctypes.set_errno(0)
        ret = self._syscall(nr, a0, a1, a2, a3, a4, a5)
        return ret, (ctypes.get_errno() if ret == -1 else 0)

    def compat(self, nr: int, a0=0, a1=0, a2=0, a3=0, a4=0, a5=0) -> tuple[int, int]:
        if not self.has_compat:
            return -1, _errno.ENOSYS
        if self._compat_fn is None:
            self._compat_fn = self._load_trampoline()
        ret = self._compat_fn(nr, a0, a1, a2, a3, a4, a5)
        if -4096 < ret < 0:
            return -1, -ret
        return ret, 0

    def _load_trampoline(self):
        code = _COMPAT_TRAMPOLINE_X86_64
        nr = _abi.native()
        size = mem.PAGE_SIZE
        addr, err = self.raw(nr.nr("mmap"), 0, size, L.PROT_READ | L.PROT_WRITE,
                             L.MAP_PRIVATE | L.MAP_ANONYMOUS, -1, 0)
        if err:
            raise OSError(err, "mmap for the compat trampoline failed")
        ctypes.memmove(addr, code, len(code))
        _, err = self.raw(nr.nr("mprotect"), addr, size, L.PROT_READ | 4)  # PROT_EXEC
        if err:
            raise OSError(err, "mprotect(PROT_EXEC) for the compat trampoline failed")
        proto = ctypes.CFUNCTYPE(ctypes.c_long, *([ctypes.c_long] * 7))
        return proto(addr)


def load_backend(name: str | None = None):
    """``cffi``, ``ctypes``, or None/``auto`` for cffi when it is installed, else ctypes."""
    if name in (None, "auto"):
        try:
            return CffiBackend()
        except BackendError:
            return CtypesBackend()
    if name == "cffi":
        return CffiBackend()
    if name == "ctypes":
        return CtypesBackend()
    raise ValueError(f"unknown backend {name!r} (choose from: auto, {', '.join(BACKENDS)})")


# =========================================================================== argument checks

def _int(name: str, value, lo: int = _LONG_MIN, hi: int = _LONG_MAX) -> int:
    if type(value) is int and lo <= value <= hi:        # the common case, checked first
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} does not fit the C argument")
    return value


def _c_int(name: str, value) -> int:
    return _int(name, value, -(1 << 31), (1 << 32) - 1)


def _family(value) -> int:
    """An address family as a number or a name ("AF_INET")."""
    if isinstance(value, str):
        number = getattr(L, value, None) if value.startswith("AF_") else None
        if not isinstance(number, int):
            raise ValueError(f"unknown address family name {value!r}")
        return number
    return _c_int("family", value)


def _type(value) -> int:
    """A socket type as a number or names joined by | ("SOCK_STREAM|SOCK_NONBLOCK")."""
    if isinstance(value, str):
        number = 0
        for part in value.split("|"):
            part = part.strip()
            bits = getattr(L, part, None) if part.startswith("SOCK_") else None
            if not isinstance(bits, int) or part in ("SOCK_MAX", "SOCK_TYPE_MASK"):
                raise ValueError(f"unknown socket type name {part!r}")
            number |= bits
        return number
    return _c_int("type", value)


def _user_buffer(name: str, value, need: int):
    """An output buffer the caller supplies: a mem.Buffer at least ``need`` bytes long, or a
    Ptr -- a raw address the caller vouches for (NULL, a PROT_NONE page, memory it owns)."""
    if isinstance(value, Buffer):
        if value.size < need:
            raise ValueError(f"{name} buffer of {value.size} bytes is smaller than the {need} "
                             "bytes the kernel may write")
        return value
    if isinstance(value, Ptr):
        return value
    raise TypeError(f"{name} must be None, a mem.Buffer or a Ptr, not {type(value).__name__}")


def _bytes(name: str, value) -> bytes:
    if isinstance(value, str) or not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _list(name: str, value) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list, not {type(value).__name__}")
    return list(value)


# =========================================================================== the wrappers

def _scratch(method):
    """A public wrapper: the previous call's buffers are released when an outermost wrapper
    starts, and every buffer of this call stays alive until then (the kernel may read or
    write them, and outputs are decoded after the call)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._depth == 0:
            self._alloc.reset()
        self._depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._depth -= 1
    return wrapper


class Kernel:
    """Typed wrappers over one backend and one way of issuing socket calls.

    ``via``: ``"native"`` (the running ABI), ``"compat"`` (i386 direct socket syscalls through
    int $0x80) or ``"socketcall"`` (i386 socketcall through int $0x80). Calls that are not
    socket calls (close, dup, fcntl, fstat, readlink, mmap) always use the native ABI: the fd
    table is shared, so the answer is the same.
    """

    VIAS = ("native", "compat", "socketcall")

    def __init__(self, backend=None, via: str = "native", arena: mem.Arena | None = None):
        if via not in self.VIAS:
            raise ValueError(f"unknown call path {via!r} (choose from: {', '.join(self.VIAS)})")
        self.backend = backend if backend is not None else load_backend()
        self.native_abi = _abi.native()
        self.via = via
        if via == "native":
            self.abi = self.native_abi
            self._alloc = mem.HeapAllocator()
        else:
            compat = _abi.compat()
            if compat is None or not self.backend.has_compat:
                raise BackendError(f"no 32-bit compat path on {self.native_abi.name}")
            self.abi = compat
            self._alloc = arena if arena is not None else mem.Arena(Kernel(self.backend))
        self._fault: Ptr | None = None
        self._guards: mem.GuardPool | None = None
        self._depth = 0
        self._observe_plans: dict[tuple, tuple] = {}
        self._poll_plans: dict[tuple, tuple] = {}

    # ------------------------------------------------------------------ issuing

    def raw(self, nr: int, *args) -> Result:
        """A native syscall by number; arguments are ints or Ptr."""
        if type(nr) is not int or not 0 <= nr <= 4095:
            _int("nr", nr, 0, 4095)
        ret, err = self.backend.raw(nr, *self._words(args))
        return Result(ret, err)

    def compat_raw(self, nr: int, *args) -> Result:
        """An i386 syscall by number through int $0x80 (x86_64 only)."""
        ret, err = self.backend.compat(_int("nr", nr, 0, 4095), *self._words(args))
        return Result(ret, err)

    def _words(self, args) -> list[int]:
        if len(args) > 6:
            raise TypeError(f"a syscall takes at most 6 arguments ({len(args)} given)")
        words = []
        for a in args:                  # the hot path of every call: ints first, no names
            if type(a) is not int:
                if isinstance(a, (Ptr, Buffer)):
                    a = a.addr
                if type(a) is not int:
                    break
            if a > _SIGNED_MAX:
                if a > _LONG_MAX:
                    break
                a -= 1 << 64                                     # a C long: (void *)-1 is -1
            elif a < _LONG_MIN:
                break
            words.append(a)
        else:
            return words
        i = len(words)                  # the argument that did not fit: its error names it
        a = args[i].addr if isinstance(args[i], (Ptr, Buffer)) else args[i]
        _int(f"argument {i}", a)
        raise AssertionError("unreachable")

    def _native(self, name: str, *args) -> Result:
        return self.raw(self.native_abi.nr(name), *args)

    def _socket_call(self, name: str, sys_call: int, *args) -> Result:
        """Issue a socket call the way this Kernel was built for."""
        if self.via == "native":
            return self._native(name, *args)
        if self.via == "compat":
            return self.compat_raw(self.abi.nr(name), *args)
        return self.socketcall(sys_call, list(args))

    @_scratch
    def socketcall(self, call: int, args) -> Result:
        """i386 socketcall(call, args) through int $0x80. ``args`` is a list of words (ints or
        Ptr, packed as a 32-bit array in low memory) or a Ptr to pass as the block itself."""
        if self.via == "native":
            raise BackendError("socketcall needs a Kernel built with via='socketcall' or 'compat'")
        call = _c_int("call", call)
        if isinstance(args, Ptr):
            block = args
        else:
            args = _list("args", args)
            if len(args) > 6:
                raise TypeError(f"socketcall takes at most 6 argument words ({len(args)} given)")
            words = [w & 0xFFFFFFFF for w in self._words(args)]
            block = self._alloc.alloc(4 * len(words), struct.pack(f"={len(words)}I", *words))
        return self.compat_raw(self.abi.nr("socketcall"), call, block)

    @_scratch
    def socketcall_tail(self, call: int, words) -> Result:
        """socketcall with its block placed so that its last byte is the last readable one
        before a PROT_NONE page: the kernel may read exactly len(words) words."""
        words = [w & 0xFFFFFFFF for w in self._words(_list("words", words))]
        block = self._alloc.tail(struct.pack(f"={len(words)}I", *words))
        return self.compat_raw(self.abi.nr("socketcall"), _c_int("call", call), block)

    def reset(self) -> None:
        """Free the scratch buffers of previous calls (the compat arena)."""
        self._alloc.reset()

    # ------------------------------------------------------------------ memory helpers

    def fault_page(self) -> Ptr:
        """An address that faults on access (a PROT_NONE page, below 4 GiB where possible)."""
        if self._fault is None:
            flags = L.MAP_PRIVATE | L.MAP_ANONYMOUS
            if self.native_abi.name == "x86_64":
                flags |= L.MAP_32BIT
            self._fault = Ptr(self.mmap(mem.PAGE_SIZE, L.PROT_NONE, flags), "PROT_NONE page", True)
        return self._fault

    def guard(self, data: bytes = b"", span: int | None = None, writable: bool = True,
              label: str = "") -> Ptr:
        """A guard buffer (mem.GuardPool): ``span`` bytes (default len(data)) of ``data`` whose
        next byte is on a PROT_NONE page; read-only (PROT_READ) unless ``writable``."""
        if self._guards is None:
            self._guards = mem.GuardPool(self, low=self.native_abi.name == "x86_64")
        return self._guards.take(data, span, writable, label)

    def bad_pointer(self, kind: str) -> Ptr:
        """A pointer of the catalogue (mem.BAD_KINDS) as this call path can pass it: on the
        32-bit paths the addresses failing access_ok() do not exist, the unmapped top page
        of the 32-bit space stands in (see mem)."""
        if kind == "prot_none":
            return self.fault_page()
        if kind not in mem.BAD_KINDS:
            raise ValueError(f"unknown pointer kind {kind!r} (choose from: {', '.join(mem.BAD_KINDS)})")
        if self.via != "native":
            return mem.COMPAT_TOP
        return mem.KERNEL_HALF if kind == "kernel_half" else mem.MINUS_ONE

    def mmap(self, length: int, prot: int, flags: int) -> int:
        r = self._native("mmap", 0, length, prot, flags, -1, 0)
        if not r.ok:
            raise OSError(r.errno, f"mmap failed: {r.errname}")
        return r.ret

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        r = self._native("mprotect", addr, length, prot)
        if not r.ok:
            raise OSError(r.errno, f"mprotect failed: {r.errname}")

    def _in(self, data: bytes) -> Buffer:
        return self._alloc.alloc(len(data), data)

    def _sockaddr_arg(self, addr, addrlen) -> tuple[Any, int]:
        """(pointer, length) for an input address: a sockaddr, raw bytes, a Ptr, or None."""
        if addr is None:
            return NULL, _c_int("addrlen", 0 if addrlen is None else addrlen)
        if isinstance(addr, Ptr):
            return addr, _c_int("addrlen", L.SOCKADDR_STORAGE_SIZE if addrlen is None else addrlen)
        data = mem.encode_sockaddr(addr)
        length = len(data) if addrlen is None else _c_int("addrlen", addrlen)
        # the kernel copies min(addrlen, 128) bytes: make sure they are ours
        buf = self._alloc.alloc(max(len(data), min(max(length, 0), L.SOCKADDR_STORAGE_SIZE)), data)
        return buf, length

    def _addr_out(self, addr, addrlen) -> tuple[Any, Any, Buffer | None, Buffer | None]:
        """(addr ptr, addrlen ptr, addr buffer, len buffer) for an output address.

        ``addr``: True (a buffer as large as addrlen, at least sockaddr_storage), False (NULL
        for both), or a Ptr. ``addrlen``: the value *addrlen holds on entry, or a Ptr for the
        length pointer itself."""
        if addr is False:
            return NULL, NULL, None, None
        if isinstance(addrlen, Ptr):
            lenptr, lenbuf = addrlen, None
            value = L.SOCKADDR_STORAGE_SIZE
        else:
            value = L.SOCKADDR_STORAGE_SIZE if addrlen is None else _c_int("addrlen", addrlen)
            lenbuf = self._alloc.alloc(4, struct.pack("=i", value))
            lenptr = lenbuf
        if isinstance(addr, Ptr):
            return addr, lenptr, None, lenbuf
        if addr is not True:
            raise TypeError("addr must be True, False or a Ptr")
        abuf = self._alloc.alloc(max(value, L.SOCKADDR_STORAGE_SIZE) if value > 0 else L.SOCKADDR_STORAGE_SIZE)
        return abuf, lenptr, abuf, lenbuf

    @staticmethod
    def _addr_result(r: Result, abuf, lenbuf, out: dict) -> Result:
        """The write-backs of a call returning an address, on every return (an error too):
        out["addrlen"] (*addrlen after the call) when the wrapper owns the length, and
        out["addr_written"] (the address buffer differs from the zeroes _addr_out put there)
        when it owns the buffer; on success, out["addr"] decoded."""
        if lenbuf is not None:
            n = struct.unpack("=i", lenbuf.read(4))[0]
            out["addrlen"] = n
            if r.ok and abuf is not None and n >= 0:
                out["addr"] = mem.decode_sockaddr(abuf.read(min(n, abuf.size)))
        if abuf is not None:
            out["addr_written"] = _written(abuf)
        return Result(r.ret, r.errno, out)

    # ------------------------------------------------------------------ socket calls

    @_scratch
    def socket(self, family: int | str, type: int | str, protocol: int = 0) -> Result:
        return self._socket_call("socket", L.SYS_SOCKET, _family(family), _type(type),
                                 _c_int("protocol", protocol))

    @_scratch
    def socketpair(self, family: int | str, type: int | str, protocol: int = 0,
                   sv: Ptr | Buffer | None = None) -> Result:
        buf = None
        if sv is None:
            buf = self._alloc.alloc(8, struct.pack("=ii", -1, -1))
            sv = buf
        else:
            sv = _user_buffer("sv", sv, 8)
        r = self._socket_call("socketpair", L.SYS_SOCKETPAIR, _family(family), _type(type),
                              _c_int("protocol", protocol), sv)
        out = {}
        if r.ok and isinstance(sv, Buffer):
            out["fds"] = struct.unpack("=ii", sv.read(8))
        if isinstance(sv, Buffer):     # the wrapper's (-1, -1) or the caller's array, success or not
            out["sv"] = struct.unpack("=ii", sv.read(8))
        return Result(r.ret, r.errno, out)

    @_scratch
    def bind(self, fd: int, addr, addrlen: int | None = None) -> Result:
        ptr, length = self._sockaddr_arg(addr, addrlen)
        return self._socket_call("bind", L.SYS_BIND, _c_int("fd", fd), ptr, length)

    @_scratch
    def connect(self, fd: int, addr, addrlen: int | None = None) -> Result:
        ptr, length = self._sockaddr_arg(addr, addrlen)
        return self._socket_call("connect", L.SYS_CONNECT, _c_int("fd", fd), ptr, length)

    @_scratch
    def listen(self, fd: int, backlog: int) -> Result:
        return self._socket_call("listen", L.SYS_LISTEN, _c_int("fd", fd), _c_int("backlog", backlog))

    @_scratch
    def accept(self, fd: int, addr=True, addrlen=None) -> Result:
        aptr, lptr, abuf, lbuf = self._addr_out(addr, addrlen)
        if self.via == "compat":      # i386 has no direct accept: accept4(..., 0) is its twin
            r = self.compat_raw(self.abi.nr("accept4"), _c_int("fd", fd), aptr, lptr, 0)
        else:
            r = self._socket_call("accept", L.SYS_ACCEPT, _c_int("fd", fd), aptr, lptr)
        return self._addr_result(r, abuf, lbuf, {})

    @_scratch
    def accept4(self, fd: int, flags: int, addr=True, addrlen=None) -> Result:
        aptr, lptr, abuf, lbuf = self._addr_out(addr, addrlen)
        r = self._socket_call("accept4", L.SYS_ACCEPT4, _c_int("fd", fd), aptr, lptr,
                              _c_int("flags", flags))
        return self._addr_result(r, abuf, lbuf, {})

    @_scratch
    def getsockname(self, fd: int, addr=True, addrlen=None) -> Result:
        aptr, lptr, abuf, lbuf = self._addr_out(addr, addrlen)
        r = self._socket_call("getsockname", L.SYS_GETSOCKNAME, _c_int("fd", fd), aptr, lptr)
        return self._addr_result(r, abuf, lbuf, {})

    @_scratch
    def getpeername(self, fd: int, addr=True, addrlen=None) -> Result:
        aptr, lptr, abuf, lbuf = self._addr_out(addr, addrlen)
        r = self._socket_call("getpeername", L.SYS_GETPEERNAME, _c_int("fd", fd), aptr, lptr)
        return self._addr_result(r, abuf, lbuf, {})

    @_scratch
    def shutdown(self, fd: int, how: int) -> Result:
        return self._socket_call("shutdown", L.SYS_SHUTDOWN, _c_int("fd", fd), _c_int("how", how))

    def _data_in(self, data, length):
        if isinstance(data, Ptr):
            return data, _int("length", 0 if length is None else length, 0)
        data = _bytes("data", data)
        if length is None:
            length = len(data)
        length = _int("length", length, 0)
        if length > len(data):
            raise ValueError(f"length {length} is larger than the {len(data)} bytes given")
        return self._in(data), length

    @_scratch
    def sendto(self, fd: int, data, flags: int = 0, addr=None, addrlen: int | None = None,
               length: int | None = None) -> Result:
        buf, n = self._data_in(data, length)
        aptr, alen = self._sockaddr_arg(addr, addrlen)
        return self._socket_call("sendto", L.SYS_SENDTO, _c_int("fd", fd), buf, n,
                                 _c_int("flags", flags), aptr, alen)

    @_scratch
    def send(self, fd: int, data, flags: int = 0, length: int | None = None) -> Result:
        """send(2): socketcall has its own SYS_SEND; elsewhere it is sendto with no address."""
        if self.via != "socketcall":
            return self.sendto(fd, data, flags, None, 0, length)
        buf, n = self._data_in(data, length)
        return self.socketcall(L.SYS_SEND, [_c_int("fd", fd), buf, n, _c_int("flags", flags)])

    @_scratch
    def recvfrom(self, fd: int, size: int, flags: int = 0, addr=False, addrlen=None,
                 buf: Ptr | None = None) -> Result:
        size = _int("size", size, 0)
        data = None
        if buf is None:
            data = self._alloc.alloc(size)
            buf = data
        else:
            buf = _user_buffer("buf", buf, size)
        aptr, lptr, abuf, lbuf = self._addr_out(addr, addrlen)
        r = self._socket_call("recvfrom", L.SYS_RECVFROM, _c_int("fd", fd), buf, size,
                              _c_int("flags", flags), aptr, lptr)
        out = {}
        if r.ok and data is not None:
            out["data"] = data.read(min(r.ret, size))
        return self._addr_result(r, abuf, lbuf, out)

    @_scratch
    def recv(self, fd: int, size: int, flags: int = 0) -> Result:
        if self.via != "socketcall":
            return self.recvfrom(fd, size, flags)
        size = _int("size", size, 0)
        data = self._alloc.alloc(size)
        r = self.socketcall(L.SYS_RECV, [_c_int("fd", fd), data, size, _c_int("flags", flags)])
        return Result(r.ret, r.errno, {"data": data.read(min(r.ret, size))} if r.ok else {})

    # msghdr builders -----------------------------------------------------

    def _msghdr(self, iov, name=None, namelen=None, control=b"", flags=0, recv=False):
        """Build a struct msghdr in user memory. For sends ``iov`` holds bytes, for receives
        sizes. Returns (msghdr buffer, iov buffers, name buffer)."""
        iov = _list("iov", iov)
        bufs = []
        for i, part in enumerate(iov):
            if isinstance(part, tuple):          # (Ptr, length): a raw iovec, e.g. a faulting one
                ptr, n = part
                if not isinstance(ptr, Ptr):
                    raise TypeError(f"iov[{i}]: a (Ptr, length) pair expected")
                bufs.append(_RawIov(ptr.addr, _int(f"iov[{i}] length", n, 0)))
            elif recv:
                bufs.append(self._alloc.alloc(_int(f"iov[{i}] size", part, 0)))
            elif isinstance(part, Ptr):
                bufs.append(part)
            else:
                bufs.append(self._in(_bytes(f"iov[{i}]", part)))
        layout = self.abi.iovec
        iovarr = self._alloc.alloc(layout.size * max(len(bufs), 1))
        for i, b in enumerate(bufs):
            size = b.size if isinstance(b, (Buffer, _RawIov)) else 0
            iovarr.write(layout.pack(b.addr, size), i * layout.size)
        if recv:
            nbuf = None
            if name is False or name is None:
                nptr, nlen = NULL, 0
            else:
                nlen = L.SOCKADDR_STORAGE_SIZE if namelen is None else _c_int("namelen", namelen)
                nbuf = self._alloc.alloc(max(nlen, L.SOCKADDR_STORAGE_SIZE))
                nptr = nbuf
        else:
            nptr, nlen = self._sockaddr_arg(name, namelen)
            nbuf = None
        if not recv and isinstance(control, tuple):     # (Ptr, length): msg_control as given
            cbuf, clen = control[0], _int("controllen", control[1], 0)
        elif recv:
            control = _int("controllen", control, 0)
            cbuf = self._alloc.alloc(control) if control else None
            clen = control
        else:
            control = _bytes("control", control)
            cbuf = self._in(control) if control else None
            clen = len(control)
        hdr = self._alloc.alloc(self.abi.msghdr.size,
                                self.abi.msghdr.pack(nptr.addr, nlen, iovarr.addr if bufs else 0,
                                                     len(bufs), cbuf.addr if cbuf else 0, clen,
                                                     _c_int("msg_flags", flags) & 0xFFFFFFFF))
        return hdr, bufs, nbuf

    def _msghdr_out(self, hdr: Buffer, bufs, nbuf, r: Result) -> dict:
        """A receive's msghdr write-backs, on every return (an error too): msg_namelen,
        msg_controllen, msg_flags, and name_written (the name buffer differs from the zeroes
        _msghdr put there); on success also the data and the decoded name."""
        (_, namelen, _, _, control, controllen, flags) = self.abi.msghdr.unpack(
            hdr.read(self.abi.msghdr.size))[:7]
        out = {"namelen": namelen, "controllen": controllen, "msg_flags": flags}
        if r.ok:
            out = {"data": _read_back(bufs, r.ret), **out}
            if control and controllen > 0:          # what put_cmsg() wrote, decoded two ways:
                from .abi.errqueue import cmsgs     # headers and all (the error queue's)
                out["cmsgs"] = cmsgs(Buffer(control, controllen).read(), self.abi)
            if control:                 # by value: fds, credentials (harness/abi/cmsg.py)
                out["control"] = cmsg.decode(Buffer(control, controllen).read(), self.abi.pointer_size)
            if nbuf is not None and namelen > 0:
                out["name"] = mem.decode_sockaddr(nbuf.read(min(namelen, nbuf.size)))
        if nbuf is not None:
            out["name_written"] = _written(nbuf)
        return out

    def _place(self, hdr: Buffer, placed: mem.Placed) -> tuple[Ptr, Buffer | None]:
        """The msghdr ``hdr`` copied into a guard buffer as ``placed`` says: (pointer, a view
        of the whole header to read back, None when part of it lies on the guard page)."""
        ptr = self.guard(hdr.read(), hdr.size - placed.short, placed.writable, repr(placed))
        return ptr, (Buffer(ptr.addr, hdr.size) if placed.short == 0 else None)

    @_scratch
    def sendmsg(self, fd: int, iov, flags: int = 0, name=None, namelen: int | None = None,
                control=b"", msg: Ptr | mem.Placed | None = None) -> Result:
        """``control``: bytes, or (Ptr, length) for msg_control/msg_controllen as given.
        ``msg``: a Ptr passed as the msghdr, or a mem.Placed for the wrapper's msghdr at a
        guard page."""
        if msg is None or isinstance(msg, mem.Placed):
            placed = msg
            msg, _, _ = self._msghdr(iov, name, namelen, control)
            if placed is not None:
                msg, _ = self._place(msg, placed)
        return self._socket_call("sendmsg", L.SYS_SENDMSG, _c_int("fd", fd), msg,
                                 _c_int("flags", flags))

    @_scratch
    def recvmsg(self, fd: int, iov, flags: int = 0, name=True, namelen: int | None = None,
                controllen: int = 0, msg: Ptr | mem.Placed | None = None) -> Result:
        if isinstance(msg, Ptr):
            r = self._socket_call("recvmsg", L.SYS_RECVMSG, _c_int("fd", fd), msg, _c_int("flags", flags))
            return r
        hdr, bufs, nbuf = self._msghdr(iov, name, namelen, controllen, recv=True)
        ptr = hdr
        if isinstance(msg, mem.Placed):
            ptr, hdr = self._place(hdr, msg)
        r = self._socket_call("recvmsg", L.SYS_RECVMSG, _c_int("fd", fd), ptr, _c_int("flags", flags))
        if hdr is None:
            return Result(r.ret, r.errno, {"data": _read_back(bufs, r.ret)} if r.ok else {})
        return Result(r.ret, r.errno, self._msghdr_out(hdr, bufs, nbuf, r))

    @_scratch
    def sendmmsg(self, fd: int, msgs, flags: int = 0, vlen: int | None = None,
                 msgvec: Ptr | None = None) -> Result:
        """``msgs``: a list of messages, each a list of iov byte strings or a dict with iov,
        name, namelen, flags (its msghdr's msg_flags). Returns out["msg_len"]: each message's
        msg_len after the call."""
        msgs = _list("msgs", msgs)
        layout = self.abi.mmsghdr
        vec = None
        if msgvec is None:
            vec = self._alloc.alloc(layout.size * max(len(msgs), 1))
            for i, m in enumerate(msgs):
                m = m if isinstance(m, dict) else {"iov": m}
                hdr, _, _ = self._msghdr(m["iov"], m.get("name"), m.get("namelen"),
                                         flags=m.get("flags", 0))
                vec.write(hdr.read() + b"\0" * (layout.size - hdr.size), i * layout.size)
            msgvec = vec
        n = len(msgs) if vlen is None else _c_int("vlen", vlen)
        r = self._socket_call("sendmmsg", L.SYS_SENDMMSG, _c_int("fd", fd), msgvec, n,
                              _c_int("flags", flags))
        out = {}
        if vec is not None:
            out["msg_len"] = [layout.unpack(vec.read(layout.size, i * layout.size))[-1]
                              for i in range(len(msgs))]
        return Result(r.ret, r.errno, out)

    @_scratch
    def recvmmsg(self, fd: int, msgs, flags: int = 0, vlen: int | None = None,
                 timeout: tuple[int, int] | Ptr | None = None, msgvec: Ptr | None = None) -> Result:
        """``msgs``: a list of messages, each a list of iov sizes. ``timeout``: (sec, nsec),
        a Ptr, or None. Returns out["messages"]: per received message, data/msg_len/flags/name;
        and on every return (an error too) the write-backs: out["msg_len"], each entry's
        msg_len, and the first entry's msghdr namelen/controllen/msg_flags."""
        msgs = _list("msgs", msgs)
        layout = self.abi.mmsghdr
        parts = []
        vec = None
        if msgvec is None:
            vec = self._alloc.alloc(layout.size * max(len(msgs), 1))
            for i, sizes in enumerate(msgs):
                hdr, bufs, nbuf = self._msghdr(sizes, True, None, 0, recv=True)
                vec.write(hdr.read() + b"\0" * (layout.size - hdr.size), i * layout.size)
                parts.append((bufs, nbuf))
            msgvec = vec
        if timeout is None:
            tptr = NULL
        elif isinstance(timeout, Ptr):
            tptr = timeout
        else:
            sec, nsec = timeout
            tptr = self._alloc.alloc(self.abi.timespec.size, self.abi.timespec.pack(
                _int("timeout sec", sec), _int("timeout nsec", nsec)))
        n = len(msgs) if vlen is None else _c_int("vlen", vlen)
        r = self._socket_call("recvmmsg", L.SYS_RECVMMSG, _c_int("fd", fd), msgvec, n,
                              _c_int("flags", flags), tptr)
        out = {}
        if r.ok and vec is not None:
            received = []
            for i in range(min(r.ret, len(msgs))):
                fields = layout.unpack(vec.read(layout.size, i * layout.size))
                msg_len, namelen, flags_out = fields[-1], fields[1], fields[6]
                bufs, nbuf = parts[i]
                m = {"data": _read_back(bufs, msg_len), "msg_len": msg_len, "msg_flags": flags_out, "namelen": namelen}
                if nbuf is not None and namelen > 0:
                    m["name"] = mem.decode_sockaddr(nbuf.read(min(namelen, nbuf.size)))
                received.append(m)
            out["messages"] = received
        if vec is not None:
            entries = [layout.unpack(vec.read(layout.size, i * layout.size)) for i in range(len(msgs))]
            out["msg_len"] = [fields[-1] for fields in entries]
            if entries:
                out.update(namelen=entries[0][1], controllen=entries[0][5], msg_flags=entries[0][6])
        return Result(r.ret, r.errno, out)

    @_scratch
    def setsockopt(self, fd: int, level: int, name: int, value=0, optlen: int | None = None) -> Result:
        """``value``: an int (passed as a 4-byte int), bytes, a Ptr, or None (NULL)."""
        if value is None:
            ptr, n = NULL, 0
        elif isinstance(value, Ptr):
            ptr, n = value, 4
        elif isinstance(value, int) and not isinstance(value, bool):
            ptr, n = self._in(struct.pack("=i", _c_int("value", value))), 4
        else:
            data = _bytes("value", value)
            ptr, n = self._in(data), len(data)
        if optlen is not None:
            optlen = _c_int("optlen", optlen)
            if isinstance(ptr, Buffer) and optlen > ptr.size:
                ptr = self._in(ptr.read().ljust(optlen, b"\0"))
            n = optlen
        return self._socket_call("setsockopt", L.SYS_SETSOCKOPT, _c_int("fd", fd),
                                 _c_int("level", level), _c_int("name", name), ptr, n)

    @_scratch
    def getsockopt(self, fd: int, level: int, name: int, optlen=4, optval: Ptr | None = None) -> Result:
        """``optlen``: the value *optlen holds on entry, or a Ptr for the length pointer.
        Returns out["optlen"], out["value"] (the bytes) and out["int"] when 4 bytes came back;
        on every return (an error too) out["optlen"] when the wrapper owns the length, and
        out["optval_written"] (its value buffer differs from the zeroes it held) when it owns
        the buffer."""
        if isinstance(optlen, Ptr):
            lptr, lbuf, size = optlen, None, 4
        else:
            size = _c_int("optlen", optlen)
            lbuf = self._alloc.alloc(4, struct.pack("=i", size))
            lptr = lbuf
        vbuf = None
        if optval is None:
            vbuf = self._alloc.alloc(max(size, 4))
            optval = vbuf
        else:
            optval = _user_buffer("optval", optval, max(size, 0))
        r = self._socket_call("getsockopt", L.SYS_GETSOCKOPT, _c_int("fd", fd),
                              _c_int("level", level), _c_int("name", name), optval, lptr)
        return self._getsockopt_result(r, vbuf, lbuf)

    @staticmethod
    def _getsockopt_result(r: Result, vbuf, lbuf) -> Result:
        out = {}
        if lbuf is not None:
            n = struct.unpack("=i", lbuf.read(4))[0]
            out["optlen"] = n
            if r.ok and vbuf is not None and 0 <= n:
                value = vbuf.read(min(n, vbuf.size))
                out["value"] = value
                if len(value) == 4:
                    out["int"] = struct.unpack("=i", value)[0]
        if vbuf is not None:
            out["optval_written"] = _written(vbuf)
        return Result(r.ret, r.errno, out)

    # ------------------------------------------------------------------ fd calls (native)

    def close(self, fd: int) -> Result:
        return self._native("close", _c_int("fd", fd))

    def dup(self, fd: int) -> Result:
        return self._native("dup", _c_int("fd", fd))

    def dup2(self, oldfd: int, newfd: int) -> Result:
        oldfd, newfd = _c_int("oldfd", oldfd), _c_int("newfd", newfd)
        if "dup2" in self.native_abi.syscalls:
            return self._native("dup2", oldfd, newfd)
        if oldfd == newfd:   # dup3 refuses oldfd == newfd; dup2 checks oldfd and returns it
            r = self.fcntl(oldfd, L.F_GETFD)
            return r if not r.ok else Result(newfd)
        return self._native("dup3", oldfd, newfd, 0)

    def fcntl(self, fd: int, cmd: int, arg: int = 0) -> Result:
        return self._native("fcntl", _c_int("fd", fd), _c_int("cmd", cmd), _int("arg", arg))

    def poll(self, fd: int, events: int, timeout_ms: int = 0) -> Result:
        """ppoll(2) on one descriptor with a bounded timeout: out["revents"]. Infrastructure
        (waiting for loopback delivery), not a call under test."""
        heap = mem.HeapAllocator()
        pfd = heap.alloc(8, struct.pack("=ihh", _c_int("fd", fd), events, 0))
        ts = heap.alloc(16, struct.pack("=qq", timeout_ms // 1000, (timeout_ms % 1000) * 1_000_000))
        r = self._native("ppoll", pfd, 1, ts, 0, 8)
        if not r.ok:
            return r
        return Result(r.ret, 0, {"revents": struct.unpack("=ihh", pfd.read(8))[2]})

    def poll_all(self, fds: list[int], events: int, timeout_ms: int = 0) -> Result:
        """One ppoll(2) over several descriptors, the same ``events`` for each:
        out["revents"] = {fd: revents}. Infrastructure (the checker's readiness comparison
        after each call), not a call under test."""
        if not fds:
            return Result(0, 0, {"revents": {}})
        # the pollfd table and timespec of this set of fds, kept: the checker polls the same
        # sockets after call after call
        key = (tuple(fds), events, timeout_ms)
        plan = self._poll_plans.get(key)
        if plan is None:
            if len(self._poll_plans) >= 256:
                self._poll_plans.clear()
            table = b"".join(struct.pack("=ihh", _c_int("fd", fd), events, 0) for fd in fds)
            table += struct.pack("=qq", timeout_ms // 1000, (timeout_ms % 1000) * 1_000_000)
            plan = self._poll_plans[key] = (mem.HeapAllocator().alloc(len(table)), table,
                                            struct.Struct("=" + "ihh" * len(fds)))
        block, table, layout = plan
        block.write(table)                       # revents cleared; ppoll rewrites the timespec
        n = len(fds)
        r = self._native("ppoll", block, n, block.addr + 8 * n, 0, 8)
        if not r.ok:
            return r
        seen = layout.unpack(block.read(8 * n))[2::3]
        return Result(r.ret, 0, {"revents": {fd: ev & 0xFFFF for fd, ev in zip(fds, seen)}})

    def ioctl_int(self, fd: int, request: int) -> Result:
        """ioctl(fd, request, &int) for requests that return an int (FIONREAD, SIOCOUTQ):
        out["value"]. Infrastructure, not a call under test."""
        buf = mem.HeapAllocator().alloc(4)
        r = self._native("ioctl", _c_int("fd", fd), _int("request", request), buf)
        if not r.ok:
            return r
        return Result(r.ret, 0, {"value": struct.unpack("=i", buf.read(4))[0]})

    def fstat(self, fd: int) -> Result:
        """out: st_mode and st_ino."""
        buf = mem.HeapAllocator().alloc(256)
        return self._fstat_result(self._native("fstat", _c_int("fd", fd), buf), buf)

    def _fstat_result(self, r: Result, buf: Buffer) -> Result:
        if not r.ok:
            return r
        if self.native_abi.name == "x86_64":       # st_dev, st_ino, st_nlink (8 each), st_mode
            ino, mode = struct.unpack_from("=8xQ8xI", buf.read(28))
        else:                                       # asm-generic: st_dev, st_ino (8), st_mode (4)
            ino, mode = struct.unpack_from("=8xQI", buf.read(20))
        return Result(r.ret, 0, {"st_ino": ino, "st_mode": mode})

    def readlink(self, path: str | bytes, size: int = 256) -> Result:
        """out: target (str)."""
        if isinstance(path, str):
            path = path.encode()
        path = _bytes("path", path)
        if b"\0" in path:
            raise ValueError("path contains a NUL byte")
        heap = mem.HeapAllocator()
        p, buf = heap.alloc(len(path) + 1, path + b"\0"), heap.alloc(_int("size", size, 1))
        return self._readlink_result(self._native(*self._readlink_args(p, buf, size)), buf)

    def _readlink_args(self, path, buf, size: int) -> tuple:
        if "readlink" in self.native_abi.syscalls:
            return "readlink", path, buf, size
        return "readlinkat", -100, path, buf, size                # AT_FDCWD

    @staticmethod
    def _readlink_result(r: Result, buf: Buffer) -> Result:
        if not r.ok:
            return r
        return Result(r.ret, 0, {"target": buf.read(r.ret).decode(errors="replace")})

    # ------------------------------------------------------------------ observing, in one trip

    def observe(self, fd: int, wanted: list[tuple]) -> list[Result]:
        """The checker's state probe: infrastructure calls on one fd, issued natively, in
        order, in one trip through the backend (the wrappers' own overhead is most of what a
        probe costs), each answered exactly as its wrapper answers it. ``wanted`` items:
        ("fcntl", cmd), ("getsockopt", level, name, optlen), ("fstat",), ("readlink_fd",)
        (/proc/self/fd/<fd>), ("getsockname",), ("getpeername",)."""
        key = (fd, tuple(wanted))
        plan = self._observe_plans.get(key)
        if plan is None:
            if len(self._observe_plans) >= 256:
                self._observe_plans.clear()
            plan = self._observe_plans[key] = self._observe_plan(fd, wanted)
        block, template, after, batched, calls, decoders = plan
        if template:
            ctypes.memmove(block.addr, template, len(template))   # lengths set, buffers zeroed
        answers = (self.backend.run_batch(calls) if batched
                   else [self.backend.raw(nr, *words) for nr, words in calls])
        after.data = ctypes.string_at(block.addr, len(template))  # what the calls left there
        return [decode(Result(ret, err)) for decode, (ret, err) in zip(decoders, answers)]

    def _observe_plan(self, fd: int, wanted: list[tuple]) -> tuple:
        """observe()'s memory (one block, kept with the plan), its initial contents, the
        syscalls and, per call, its wrapper's decoding of the answer (reading the copy of the
        block observe() takes after the calls)."""
        fd = _c_int("fd", fd)
        template = bytearray()
        after = _After()

        def place(data: bytes) -> int:              # 8-aligned, in the one block of memory
            offset = len(template)
            template.extend(data)
            template.extend(bytes(-len(template) % 8))
            return offset

        def view(offset: int, size: int) -> _AfterView:
            return _AfterView(after, offset, size)

        steps = []              # (syscall name and args: an int or ("@", offset), decoder)
        for item in wanted:
            kind = item[0]
            if kind == "fcntl":
                steps.append((("fcntl", fd, _c_int("cmd", item[1]), 0), _as_is))
            elif kind == "getsockopt":
                level, name, size = (_c_int("level", item[1]), _c_int("name", item[2]),
                                     _c_int("optlen", item[3]))
                v = max(size, 4)
                n, b = place(struct.pack("=i", size)), place(bytes(v))
                steps.append((("getsockopt", fd, level, name, ("@", b), ("@", n)),
                              functools.partial(self._getsockopt_result, vbuf=view(b, v),
                                                lbuf=view(n, 4))))
            elif kind == "fstat":
                b = place(bytes(256))
                steps.append((("fstat", fd, ("@", b)),
                              functools.partial(self._fstat_result, buf=view(b, 256))))
            elif kind == "readlink_fd":
                p, b = place(f"/proc/self/fd/{fd}".encode() + b"\0"), place(bytes(256))
                steps.append((self._readlink_args(("@", p), ("@", b), 256),
                              functools.partial(self._readlink_result, buf=view(b, 256))))
            elif kind in ("getsockname", "getpeername"):
                size = L.SOCKADDR_STORAGE_SIZE
                n, a = place(struct.pack("=i", size)), place(bytes(size))
                steps.append(((kind, fd, ("@", a), ("@", n)),
                              lambda r, abuf=view(a, size), lbuf=view(n, 4):
                              self._addr_result(r, abuf, lbuf, {})))
            else:
                raise ValueError(f"observe: unknown call {item!r}")
        block = mem.HeapAllocator().alloc(len(template))

        def word(arg):
            return block.addr + arg[1] if isinstance(arg, tuple) else arg

        calls = [(self.native_abi.nr(c[0]), self._words([word(a) for a in c[1:]])) for c, _ in steps]
        # a backend without batches (ctypes, an older build, a test's stand-in that only has
        # raw()): observe() issues the calls one at a time
        batched = hasattr(self.backend, "prepare_batch")
        if batched:
            calls = self.backend.prepare_batch(calls)
        return block, bytes(template), after, batched, calls, [d for _, d in steps]

    def getpid(self) -> int:
        return self._native("getpid").ret

    def getuid(self) -> int:
        return self._native("getuid").ret


class _RawIov:
    """An iovec given as (Ptr, length): the kernel sees the address and length as they are;
    nothing is read back from it."""

    def __init__(self, addr: int, size: int):
        self.addr, self.size = addr, size


def _as_is(r: Result) -> Result:
    return r


class _After:
    """observe()'s block as the calls left it: one copy, read by the decoders' views."""
    data = b""


class _AfterView:
    """A Buffer's read() over a part of observe()'s copy of its block."""
    __slots__ = ("after", "offset", "size")

    def __init__(self, after: _After, offset: int, size: int):
        self.after, self.offset, self.size = after, offset, size

    def read(self, n: int | None = None, offset: int = 0) -> bytes:
        n = self.size - offset if n is None else n
        if offset < 0 or n < 0 or offset + n > self.size:
            raise ValueError(f"read of {n} bytes at {offset} outside a {self.size}-byte buffer")
        start = self.offset + offset
        return self.after.data[start:start + n]


def _written(buf: Buffer) -> bool:
    """Did the call write to this output buffer? The wrappers allocate output buffers zeroed
    (both allocators zero-fill), so any non-zero byte was written by the kernel."""
    return buf.read() != bytes(buf.size)


def _read_back(bufs, total: int) -> bytes:
    """The first ``total`` bytes a receive put in its iovecs, from the wrapper's own buffers
    (a raw iovec's share is skipped)."""
    data, left = b"", max(total, 0)
    for b in bufs:
        take = min(left, b.size)
        if isinstance(b, Buffer):
            data += b.read(take)
        left -= take
    return data


_default: Kernel | None = None


def default() -> Kernel:
    """The process-wide native Kernel on the automatically chosen backend."""
    global _default
    if _default is None:
        _default = Kernel()
    return _default
