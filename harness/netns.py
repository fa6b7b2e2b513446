"""The private network namespace each test process works in, and its sysctls.

Per-namespace sysctls (net.core.somaxconn, net.ipv4.ip_local_port_range,
net.ipv4.ip_unprivileged_port_start, ...) are only ever written after this process entered a
namespace of its own: ``write_sysctl`` refuses otherwise, so a host sysctl cannot be changed.
"""
from __future__ import annotations

import struct

from .kernel import Kernel, default
from .mem import HeapAllocator

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_state = {"private": False, "reason": "not attempted"}
# Sysctls read before leaving the initial namespace. Some net.* sysctls are global, not per
# namespace (net.core.rmem_max and friends on 6.1): a new namespace has no file for them, yet
# the initial namespace's value is the one the kernel applies there.
_outside: dict[str, str] = {}


def is_private() -> bool:
    return _state["private"]


def status() -> dict:
    return dict(_state)


def enter_private(k: Kernel | None = None) -> bool:
    """unshare(CLONE_NEWNET) and bring loopback up. Returns whether it worked; the reason is
    kept for the profile."""
    if _state["private"]:
        return True
    k = k or default()
    from .profile import SYSCTLS
    for name in SYSCTLS:
        value = read_sysctl(name)
        if value is not None:
            _outside[name] = value
    r = k.raw(k.native_abi.nr("unshare"), CLONE_NEWNET)
    if not r.ok:
        _state.update(private=False, reason=f"unshare(CLONE_NEWNET) failed: {r.errname}")
        return False
    err = _loopback_up(k)
    if err:
        _state.update(private=False, reason=f"entered a namespace but could not bring lo up: {err}")
        return False
    _state.update(private=True, reason="unshare(CLONE_NEWNET), lo up")
    return True


def _loopback_up(k: Kernel) -> str | None:
    from .abi import linux as L
    r = k.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0)
    if not r.ok:
        return f"socket: {r.errname}"
    fd = r.ret
    try:
        ifreq = HeapAllocator().alloc(40, b"lo".ljust(16, b"\0"))
        got = k.raw(k.native_abi.nr("ioctl"), fd, SIOCGIFFLAGS, ifreq)
        if not got.ok:
            return f"SIOCGIFFLAGS: {got.errname}"
        flags = struct.unpack_from("=H", ifreq.read(2, 16))[0] | IFF_UP
        ifreq.write(struct.pack("=H", flags), 16)
        put = k.raw(k.native_abi.nr("ioctl"), fd, SIOCSIFFLAGS, ifreq)
        return None if put.ok else f"SIOCSIFFLAGS: {put.errname}"
    finally:
        k.close(fd)


def _path(name: str) -> str:
    if not name or ".." in name or name.startswith("/"):
        raise ValueError(f"bad sysctl name {name!r}")
    return "/proc/sys/" + name.replace(".", "/")


def read_sysctl(name: str) -> str | None:
    try:
        with open(_path(name)) as f:
            return f.read().strip()
    except OSError:
        return None


def read_sysctl_or_global(name: str) -> str | None:
    """A sysctl as it applies here: this namespace's file, or, where a global sysctl has no
    file in a new namespace, the value read before leaving the initial one."""
    value = read_sysctl(name)
    return value if value is not None else _outside.get(name)


def write_sysctl(name: str, value) -> None:
    """Write a per-namespace sysctl. Refuses outside a private namespace."""
    if not _state["private"]:
        raise PermissionError(f"refusing to write {name}: not in a private network namespace")
    if not name.startswith("net."):
        raise PermissionError(f"refusing to write {name}: only per-netns net.* sysctls are written")
    if isinstance(value, (tuple, list)):
        value = "\t".join(str(v) for v in value)
    with open(_path(name), "w") as f:
        f.write(str(value))


def can_unshare() -> tuple[bool, str]:
    """Whether a private network namespace could be entered (probed in a child)."""
    from .child import run_in_child

    def probe():
        k = Kernel(default().backend)
        r = k.raw(k.native_abi.nr("unshare"), CLONE_NEWNET)
        return r.errname

    res = run_in_child(probe, timeout=10)
    if not res.ok:
        return False, f"probe child {res.describe()}"
    return (res.value == "OK"), ("unshare(CLONE_NEWNET) works" if res.value == "OK"
                                 else f"unshare(CLONE_NEWNET) failed: {res.value}")
