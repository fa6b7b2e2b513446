"""What a call answered, shared by the kernel side (harness/kernel.py issues the call) and the
model (harness/model/, which must not import the kernel side)."""
from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Result:
    """What the kernel answered: the return value, errno (0 on success) and decoded outputs."""
    ret: int
    errno: int = 0
    out: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errno == 0

    @property
    def errname(self) -> str:
        return errname(self.errno)

    def __str__(self) -> str:
        if self.errno:
            return f"-1 {self.errname}"
        return str(self.ret)


# Where two names share a number, the one the socket man pages use.
_PREFERRED_NAMES = {_errno.EOPNOTSUPP: "EOPNOTSUPP", _errno.EAGAIN: "EAGAIN"}


def errname(err: int) -> str:
    if err == 0:
        return "OK"
    return _PREFERRED_NAMES.get(err) or _errno.errorcode.get(err, f"E{err}")


def errnum(name: str) -> int:
    """The errno value for a name like ``"EINVAL"``."""
    value = getattr(_errno, name, None)
    if not isinstance(value, int) or not name.startswith("E"):
        raise ValueError(f"unknown errno name {name!r}")
    return value
