"""The guest's initramfs: busybox-static, the init script and the few modules the guest needs to
reach the host's root filesystem (virtio-pci, 9p, overlayfs), in an uncompressed newc cpio.

Uncompressed because under TCG the guest would spend longer inflating it than the host spends
reading a few MB; written here rather than with cpio(1) so that /dev/console, which the kernel
opens before it runs /init, can be a device node without needing root on the host.
"""
from __future__ import annotations

import glob
import hashlib
import os
import stat
from importlib import resources

from . import kmod

# What the init script needs: the PCI transport, 9p over virtio, and overlayfs. Anything built
# into a given kernel is skipped (modules.builtin); everything they depend on comes along.
GUEST_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def init_script() -> str:
    return resources.files("harness.targets").joinpath("guest_init.sh").read_text()


def modprobe_script() -> str:
    return resources.files("harness.targets").joinpath("guest_modprobe.sh").read_text()


def find_busybox() -> str:
    """A statically linked busybox (busybox-static): the guest has no libc of its own."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path) and is_static(path):
            return path
    raise LookupError("no statically linked busybox found: apt-get install busybox-static")


def is_static(path: str) -> bool:
    """An ELF file with no program interpreter (PT_INTERP) is statically linked."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


class Cpio:
    """A newc ("070701") archive writer: directories, files, symlinks and device nodes."""

    def __init__(self, path: str):
        self._f = open(path, "wb")
        self._ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)):
        name_b = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
        self._ino += 1
        self._f.write(b"070701" + b"".join(b"%08X" % v for v in fields) + name_b)
        self._pad()
        self._f.write(data)
        self._pad()

    def _pad(self):
        self._f.write(b"\0" * (-self._f.tell() % 4))

    def dir(self, name: str, mode: int = 0o755):
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)
        self._f.close()


def contents_key(modules_dir: str | None, modules: list[str]) -> str:
    """Changes when the init script, busybox or the module list would change the archive."""
    h = hashlib.sha256(init_script().encode() + modprobe_script().encode())
    h.update(os.path.realpath(find_busybox()).encode())
    h.update(str(os.stat(find_busybox()).st_mtime_ns).encode())
    h.update(repr((modules_dir, modules)).encode())
    return h.hexdigest()[:12]


def modules_for(modules_dir: str | None) -> list[str]:
    """Module paths, in load order, that the guest loads before mounting the host root."""
    if not modules_dir:
        return []                      # a kernel built with what the guest needs built in
    return kmod.load_order(modules_dir, list(GUEST_MODULES))


def build(out_dir: str, modules_dir: str | None) -> str:
    """Write (or reuse) ``out_dir/initramfs-<kernel>-<contents>.cpio`` and return its path."""
    modules = modules_for(modules_dir)
    kernel_key = hashlib.sha256(repr(modules_dir).encode()).hexdigest()[:8]
    path = os.path.join(out_dir, f"initramfs-{kernel_key}-{contents_key(modules_dir, modules)}.cpio")
    if os.path.exists(path):
        return path
    for old in glob.glob(os.path.join(out_dir, f"initramfs-{kernel_key}-*.cpio")):
        os.remove(old)                   # this kernel's image from an older init script
    tmp = path + f".{os.getpid()}.tmp"
    archive = Cpio(tmp)
    for d in ("bin", "dev", "proc", "sys", "mnt", "mnt/host", "mnt/rw", "mnt/root", "mnt/results",
              "modules", "etc", "tmp"):
        archive.dir(d)
    archive.chardev("dev/console", 5, 1)
    archive.chardev("dev/null", 1, 3, 0o666)
    with open(find_busybox(), "rb") as f:
        archive.file("bin/busybox", f.read(), 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", init_script().encode(), 0o755)
    archive.file("bin/sockspec-modprobe", modprobe_script().encode(), 0o755)
    names = []
    for rel in modules:
        name = kmod.module_name(rel) + ".ko"
        archive.file(f"modules/{name}", kmod.read_module(os.path.join(modules_dir, rel)))
        names.append(name)
    archive.file("etc/modules", "".join(n + "\n" for n in names).encode())
    archive.close()
    os.replace(tmp, path)
    return path
