"""Kernel modules of a guest kernel, read on the host without kmod.

Debian's kernel packages ship no ``modules.dep`` (depmod runs at install time, and we never
install them), and the host need not have kmod. The ``.modinfo`` section of each module holds
what depmod reads (``depends=``, ``alias=``), so this module writes the same ``modules.dep``
and ``modules.alias`` depmod would, and resolves a module's dependencies from them.
"""
from __future__ import annotations

import fnmatch
import gzip
import lzma
import os
import shutil
import struct
import subprocess

SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")

# modules.alias without device ids (pci:, usb:, acpi*: ...): what a socket call can request
# (net-pf-*, tcp-ulp-*, crypto-*), short enough for the guest's shell modprobe to scan
GUEST_ALIASES = "modules.alias.sockspec"


def module_name(path: str) -> str:
    """``kernel/fs/9p/9p.ko.xz`` -> ``9p``; dashes and underscores are the same to the kernel."""
    base = os.path.basename(path)
    for suffix in SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def read_module(path: str) -> bytes:
    """The uncompressed ELF object of a module file (``.ko``, ``.ko.xz``, ``.ko.gz``, ``.ko.zst``)."""
    if path.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".gz"):
        with gzip.open(path) as f:
            return f.read()
    if path.endswith(".zst"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise LookupError(f"{path} is zstd-compressed and zstd is not installed (apt-get install zstd)")
        return subprocess.run([zstd, "-dcq", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def modinfo(elf: bytes) -> list[tuple[str, str]]:
    """The ``key=value`` strings of the ``.modinfo`` section of a 64-bit little-endian ELF module."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i):
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        if elf[stroff + name: elf.index(b"\0", stroff + name)] == b".modinfo":
            out = []
            for item in elf[offset: offset + size].split(b"\0"):
                key, sep, value = item.decode("utf-8", "replace").partition("=")
                if sep:
                    out.append((key, value))
            return out
    return []


def find_modules(modules_dir: str) -> dict[str, str]:
    """Module name -> path relative to ``modules_dir`` (``/lib/modules/<release>``)."""
    found = {}
    for root, _dirs, files in os.walk(modules_dir):
        for f in files:
            if f.endswith(SUFFIXES):
                rel = os.path.relpath(os.path.join(root, f), modules_dir)
                found.setdefault(module_name(f), rel)
    return found


def depmod(modules_dir: str) -> None:
    """Write ``modules.dep`` and ``modules.alias`` in ``modules_dir`` as depmod would
    (modules.dep lists every dependency, the direct ones first, deepest last), and
    GUEST_ALIASES."""
    paths = find_modules(modules_dir)
    direct: dict[str, list[str]] = {}
    aliases: list[tuple[str, str]] = []
    for name, rel in sorted(paths.items()):
        info = modinfo(read_module(os.path.join(modules_dir, rel)))
        deps = []
        for key, value in info:
            if key == "depends" and value:
                deps += [d.replace("-", "_") for d in value.split(",") if d]
            elif key == "alias":
                aliases.append((value, name))
        direct[name] = deps
    lines = []
    for name in sorted(paths):
        lines.append(f"{paths[name]}: " + " ".join(paths[d] for d in closure(direct, name) if d in paths))
    _write(os.path.join(modules_dir, "modules.dep"), "".join(line.rstrip() + "\n" for line in lines))
    _write(os.path.join(modules_dir, "modules.alias"),
           "".join(f"alias {a} {m}\n" for a, m in aliases))
    _write(os.path.join(modules_dir, GUEST_ALIASES),
           "".join(f"alias {a} {m}\n" for a, m in aliases if ":" not in a))


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def closure(direct: dict[str, list[str]], name: str) -> list[str]:
    """All dependencies of ``name`` (not itself), each listed before the ones it needs."""
    order: list[str] = []

    def visit(n, seen):
        for d in direct.get(n, []):
            if d in seen:
                continue
            seen.add(d)
            visit(d, seen)
            order.append(d)

    visit(name, {name})
    # post-order puts the deepest first; modules.dep lists them last
    return list(reversed(order))


def read_dep(modules_dir: str) -> dict[str, list[str]]:
    """``modules.dep`` as module path -> [dependency paths], written by depmod() if missing (a
    kmod-made one is kept: the guest's modprobe falls back to modules.alias then)."""
    dep_file = os.path.join(modules_dir, "modules.dep")
    if not os.path.exists(dep_file):
        try:
            depmod(modules_dir)
        except OSError as exc:
            raise LookupError(f"{modules_dir} has no modules.dep and it cannot be written "
                              f"({exc.strerror}): run depmod for this kernel") from None
    out = {}
    with open(dep_file) as f:
        for line in f:
            mod, _, deps = line.partition(":")
            out[mod.strip()] = deps.split()
    return out


def builtin(modules_dir: str) -> set[str]:
    """Names of the modules compiled into the kernel (``modules.builtin``)."""
    path = os.path.join(modules_dir, "modules.builtin")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {module_name(line.strip()) for line in f if line.strip()}


def load_order(modules_dir: str, wanted: list[str]) -> list[str]:
    """Module paths (relative to ``modules_dir``) to insmod, in order, so that ``wanted`` are
    loaded; built-in modules are skipped, an unknown module is a LookupError."""
    dep = read_dep(modules_dir)
    by_name = {module_name(p): p for p in dep}
    inbuilt = builtin(modules_dir)
    order: list[str] = []
    for want in wanted:
        name = want.replace("-", "_")
        if name in inbuilt:
            continue
        if name not in by_name:
            raise LookupError(f"module {want} is neither built in nor in {modules_dir}")
        path = by_name[name]
        for p in dep[path][::-1] + [path]:          # deepest dependency first
            if p not in order:
                order.append(p)
    return order


def resolve_alias(modules_dir: str, alias: str) -> str | None:
    """The module a ``modules.alias`` pattern maps ``alias`` to (as modprobe does), or None."""
    path = os.path.join(modules_dir, "modules.alias")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias" and fnmatch.fnmatchcase(alias, parts[1]):
                return parts[2]
    return None
