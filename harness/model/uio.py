"""User memory of the data calls (include/linux/uio.h, lib/iov_iter.c): the buffers a send
reads and a recv writes, as the wrappers of harness.kernel.Kernel describe them.

A send's data is bytes (readable, known), a Ptr (NULL or the PROT_NONE page: every access
faults; any other address: readable, contents unknown to the model) or (Ptr, length). A
recv's buffer is a size (a buffer the wrapper allocates and reads back) or (Ptr, length).
import_ubuf()/import_iovec() only check access_ok() (the address range lies in user space):
an address above TASK_SIZE_MAX (mem.KERNEL_HALF, mem.MINUS_ONE) fails there, before anything is
copied (``Iter.access_ok``); any other fault shows when the protocol copies. A guard buffer
(a Ptr with a ``span``) lets exactly ``span`` bytes through: the copy of one more faults.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..mem import Ptr


def _not_modelled(why: str):
    from .socket import NotModelled
    return NotModelled(why)


@dataclass(frozen=True)
class Part:
    """One iovec: ``length`` bytes at a place that is readable/writable (``ok``), with
    ``data`` its contents when the model knows them (a send's bytes). ``reach``: the bytes
    accessible from its start (a guard buffer; None: all of them); ``user``: its address
    passes access_ok(); ``writable``: False for a read-only buffer."""
    length: int
    ok: bool = True
    data: bytes | None = None
    wrapper_buffer: bool = True     # recv: the wrapper reads this part back into out["data"]
    reach: int | None = None
    user: bool = True
    writable: bool = True

    def accessible(self, write: bool = False) -> int:
        """How many bytes from the start a copy may touch without a fault."""
        if not self.ok or (write and not self.writable):
            return 0
        return self.length if self.reach is None else min(self.reach, self.length)


def _ptr_part(ptr: Ptr, n: int, **kw) -> Part:
    return Part(n, ok=not ptr.inaccessible, reach=ptr.span, user=ptr.user,
                writable=ptr.writable, **kw)


def send_part(value, length: int | None = None) -> Part:
    if isinstance(value, tuple):
        ptr, n = value
        return send_part(ptr, n)
    if isinstance(value, Ptr):
        n = 0 if length is None else length
        return _ptr_part(value, n, data=value.data)
    data = bytes(value)
    n = len(data) if length is None else length
    return Part(n, True, data[:n])


def recv_part(value) -> Part:
    if isinstance(value, tuple):
        ptr, n = value
        return _ptr_part(ptr, n, wrapper_buffer=False)
    return Part(value, True)


class Iter:
    """The iov_iter of one call: its parts and their total length (msg_data_left())."""

    def __init__(self, parts):
        self.parts = list(parts)

    @property
    def count(self) -> int:
        return sum(p.length for p in self.parts)

    def access_ok(self) -> bool:
        """import_ubuf()/import_iovec(): every segment's address passes access_ok() (whatever
        its length: a kernel-half address fails even for 0 bytes)."""
        return all(p.user for p in self.parts)

    # -- sending ----------------------------------------------------------------
    def faults(self, n: int | None = None) -> bool:
        """copy_from_iter() of the first n bytes (all by default) faults."""
        n = self.count if n is None else n
        for p in self.parts:
            if n <= 0:
                return False
            if min(p.length, n) > p.accessible():
                return True
            n -= p.length
        return False

    def read(self, n: int | None = None) -> bytes:
        """The first n bytes (all by default); the caller checked faults() first."""
        n = self.count if n is None else n
        out = b""
        for p in self.parts:
            if len(out) >= n:
                break
            take = min(p.length, n - len(out))
            if take and p.data is None:
                raise _not_modelled("data at a readable address the model cannot see")
            out += (p.data or b"")[:take]
        return out

    # -- receiving ---------------------------------------------------------------
    def write_faults(self, n: int, skip: int = 0) -> bool:
        """copy_to_iter() of n bytes after the first ``skip`` bytes of the buffer faults."""
        pos = 0
        for p in self.parts:
            lo, hi = pos, pos + p.length
            pos = hi
            start, end = max(lo, skip) - lo, min(hi, skip + n) - lo
            if end > start and end > p.accessible(write=True):
                return True
        return False

    def wrapper_data(self, written: bytes, ret: int) -> bytes:
        """What the wrapper reads back: ``ret`` bytes (at most the buffer) across its own
        buffers, which start zeroed and hold ``written`` at their front."""
        out, pos, left = b"", 0, max(ret, 0)
        for p in self.parts:
            take = min(left, p.length)
            if p.wrapper_buffer:
                out += written[pos:pos + take].ljust(take, b"\0")
            pos += p.length
            left -= take
        return out


def send_iter(data, length=None) -> Iter:
    return Iter([send_part(data, length)])


def recv_iter(size: int, buf=None) -> Iter:
    if buf is None:
        return Iter([Part(size, True)])
    return Iter([_ptr_part(buf, size, wrapper_buffer=False)])
