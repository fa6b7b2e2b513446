"""A call: the syscall name and the arguments exactly as given to ``harness.kernel.Kernel``."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..abi import linux as L
from .. import mem
from ..mem import Placed, Ptr

# Arguments printed symbolically in messages and reproducers.
_FAMILY_ARGS = {"socket": 0, "socketpair": 0}
_TYPE_ARGS = {"socket": 1, "socketpair": 1}


def _fmt_type(t: int) -> str:
    if not isinstance(t, int) or t < 0:
        return repr(t)
    base = L.TYPE_NAMES.get(t & L.SOCK_TYPE_MASK)
    flags = t & ~L.SOCK_TYPE_MASK
    parts = [base or str(t & L.SOCK_TYPE_MASK)]
    if flags & L.SOCK_NONBLOCK:
        parts.append("SOCK_NONBLOCK")
        flags &= ~L.SOCK_NONBLOCK
    if flags & L.SOCK_CLOEXEC:
        parts.append("SOCK_CLOEXEC")
        flags &= ~L.SOCK_CLOEXEC
    if flags:
        parts.append(hex(flags))
    return "|".join(parts) if base else repr(t)


def fmt_arg(call: str, index: int, value) -> str:
    if _FAMILY_ARGS.get(call) == index and isinstance(value, int):
        return L.FAMILY_NAMES.get(value, str(value))
    if _TYPE_ARGS.get(call) == index and isinstance(value, int):
        return _fmt_type(value)
    if isinstance(value, Ptr):
        return value.label or hex(value.addr)
    if isinstance(value, (bytes, bytearray)) and len(value) > 24:
        return repr(bytes(value[:24])) + f"...({len(value)} bytes)"
    return str(value) if hasattr(value, "encode") and not isinstance(value, (str, bytes)) else repr(value)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    via: str = "native"

    def __str__(self) -> str:
        parts = [fmt_arg(self.name, i, a) for i, a in enumerate(self.args)]
        parts += [f"{k}={fmt_arg(self.name, -1, v)}" for k, v in self.kwargs.items()]
        prefix = "" if self.via == "native" else f"[{self.via}] "
        return f"{prefix}{self.name}({', '.join(parts)})"

    def python(self, kernel_var: str = "k") -> str:
        """The call as Python source against a harness.kernel.Kernel named ``kernel_var``."""
        parts = [_py(a) for a in self.args] + [f"{k}={_py(v)}" for k, v in self.kwargs.items()]
        return f"{kernel_var}.{self.name}({', '.join(parts)})"


def _py(value) -> str:
    if isinstance(value, Ptr):
        for name in ("KERNEL_HALF", "MINUS_ONE", "COMPAT_TOP"):
            if value == getattr(mem, name):
                return f"mem.{name}"
        if value.span is not None:          # a guard buffer: the same bytes at a new one
            return (f"k.guard({value.data!r}, span={value.span}"
                    f"{'' if value.writable else ', writable=False'})")
        if value.inaccessible and value.addr:
            return "k.fault_page()"
        if value.addr == 0:
            return "mem.NULL"
        return f"mem.Ptr({value.addr:#x})"
    if isinstance(value, Placed):
        return f"mem.{value!r}"
    return repr(value)
