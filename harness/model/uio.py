"""User memory of the data calls (include/linux/uio.h, lib/iov_iter.c): the buffers a send
reads and a recv writes, as the wrappers of harness.kernel.Kernel describe them.

A send's data is bytes (readable, known), a Ptr (NULL or the PROT_NONE page: every access
faults; any other address: readable, contents unknown to the model) or (Ptr, length). A
recv's buffer is a size (a buffer the wrapper allocates and reads back) or (Ptr, length).
import_ubuf()/import_iovec() only check access_ok() (the address range lies in user space),
which these pointers pass: a fault shows when the protocol copies.
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
    ``data`` its contents when the model knows them (a send's bytes)."""
    length: int
    ok: bool = True
    data: bytes | None = None
    wrapper_buffer: bool = True     # recv: the wrapper reads this part back into out["data"]


def send_part(value, length: int | None = None) -> Part:
    if isinstance(value, tuple):
        ptr, n = value
        return send_part(ptr, n)
    if isinstance(value, Ptr):
        n = 0 if length is None else length
        return Part(n, ok=not value.inaccessible, data=None)
    data = bytes(value)
    n = len(data) if length is None else length
    return Part(n, True, data[:n])


def recv_part(value) -> Part:
    if isinstance(value, tuple):
        ptr, n = value
        return Part(n, ok=not ptr.inaccessible, wrapper_buffer=False)
    return Part(value, True)


class Iter:
    """The iov_iter of one call: its parts and their total length (msg_data_left())."""

    def __init__(self, parts):
        self.parts = list(parts)

    @property
    def count(self) -> int:
        return sum(p.length for p in self.parts)

    # -- sending ----------------------------------------------------------------
    def faults(self, n: int | None = None) -> bool:
        """copy_from_iter() of the first n bytes (all by default) faults."""
        n = self.count if n is None else n
        for p in self.parts:
            if n <= 0:
                return False
            if p.length and not p.ok:
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
            if p.length and not p.ok and lo < skip + n and hi > skip:
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
    return Iter([Part(size, ok=not buf.inaccessible, wrapper_buffer=False)])
