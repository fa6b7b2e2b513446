"""Targets for ``sockspec matrix`` (ARCHITECTURE.md §9): the host kernel, another Linux kernel
booted under QEMU with the host's root filesystem, and Linux-compatible sandboxes (gVisor,
User-Mode Linux). Each kind is one module defining one ``Target`` subclass.
"""
from __future__ import annotations

import importlib

from .base import Context, SetupError, Suite, Target, TargetError

# the modules defining a kind; each registers its Target subclass on import
KIND_MODULES = ("host", "qemu", "gvisor", "uml")

for _name in KIND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def parse(name: str) -> Target:
    """The target for a name on the command line; ValueError (exit 2) when no kind knows it."""
    for cls in Target.registry.values():
        target = cls.parse(name)
        if target is not None:
            return target
    raise ValueError(f"unknown target {name!r}: expected one of {', '.join(examples())}")


def examples() -> list[str]:
    return ["host", "debian:6.1", "debian:6.12", "path:VMLINUZ[:MODULES_DIR]", "gvisor", "uml"]


__all__ = ["Context", "SetupError", "Suite", "Target", "TargetError", "parse", "examples"]
