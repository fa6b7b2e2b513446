"""Capabilities: read them, and drop them (in a forked child) for the unprivileged branch.

capable() and ns_capable() in the kernel test the *effective* set, so clearing one bit of the
effective set is enough to take the unprivileged branch of a rule while staying uid 0.
"""
from __future__ import annotations

import struct
from contextlib import contextmanager

from .abi import linux as L
from .kernel import Kernel, default

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

CAP_NAMES = {
    L.CAP_DAC_OVERRIDE: "CAP_DAC_OVERRIDE",
    L.CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH",
    L.CAP_SETGID: "CAP_SETGID",
    L.CAP_SETUID: "CAP_SETUID",
    L.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE",
    L.CAP_NET_BROADCAST: "CAP_NET_BROADCAST",
    L.CAP_NET_ADMIN: "CAP_NET_ADMIN",
    L.CAP_NET_RAW: "CAP_NET_RAW",
    L.CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
}
CAP_NUMBERS = {v: k for k, v in CAP_NAMES.items()}


def _capget(k: Kernel) -> tuple[int, int, int]:
    from .mem import HeapAllocator
    heap = HeapAllocator()
    hdr = heap.alloc(8, struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0))
    data = heap.alloc(24)
    r = k.raw(k.native_abi.nr("capget"), hdr, data)
    if not r.ok:
        raise OSError(r.errno, f"capget failed: {r.errname}")
    e0, p0, i0, e1, p1, i1 = struct.unpack("=6I", data.read(24))
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def _capset(k: Kernel, effective: int, permitted: int, inheritable: int) -> None:
    from .mem import HeapAllocator
    heap = HeapAllocator()
    hdr = heap.alloc(8, struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0))
    m = 0xFFFFFFFF
    data = heap.alloc(24, struct.pack("=6I", effective & m, permitted & m, inheritable & m,
                                      effective >> 32, permitted >> 32, inheritable >> 32))
    r = k.raw(k.native_abi.nr("capset"), hdr, data)
    if not r.ok:
        raise OSError(r.errno, f"capset failed: {r.errname}")


def effective_caps(k: Kernel | None = None) -> int:
    return _capget(k or default())[0]


def has_cap(cap: int, k: Kernel | None = None) -> bool:
    return bool(effective_caps(k) >> cap & 1)


def drop_effective(caps, k: Kernel | None = None) -> None:
    """Clear ``caps`` from the effective set of this process. Call it in a forked child."""
    k = k or default()
    eff, perm, inh = _capget(k)
    for cap in caps:
        eff &= ~(1 << cap)
    _capset(k, eff, perm, inh)


def set_caps(k: Kernel | None = None, effective=(), permitted=()) -> None:
    """Set the effective and permitted sets to exactly these capabilities (inheritable
    cleared). Used after entering a user namespace, which grants every capability there."""
    k = k or default()
    eff = sum(1 << cap for cap in effective)
    perm = sum(1 << cap for cap in permitted)
    _capset(k, eff, perm | eff, 0)


@contextmanager
def raised(cap: int, k: Kernel | None = None):
    """Make ``cap`` (held in the permitted set) effective for the block, then clear it again."""
    k = k or default()
    eff, perm, inh = _capget(k)
    _capset(k, eff | 1 << cap, perm, inh)
    try:
        yield
    finally:
        _capset(k, eff, perm, inh)


def permitted_caps(k: Kernel | None = None) -> int:
    return _capget(k or default())[1]


def drop_to_uid(uid: int, gid: int) -> None:
    """setgroups([]), setresgid(gid), setresuid(uid): with every uid non-zero the kernel
    clears the permitted and effective capability sets (cap_emulate_setxuid(), unless
    SECBIT_KEEP_CAPS). Call it in a forked child."""
    import os
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def cap_names(mask: int) -> list[str]:
    return [name for num, name in sorted(CAP_NAMES.items()) if mask >> num & 1]
