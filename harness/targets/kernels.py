"""Guest kernels by name: a Debian kernel package (``debian:6.1``), fetched with
``apt-get download`` and unpacked with ``dpkg -x`` into the cache (never installed), or a kernel
the user built (``path:VMLINUZ[:MODULES_DIR]``)."""
from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from . import kmod
from .base import Context, SetupError, require_tool

# linux-image-6.1.0-56-amd64-unsigned, linux-image-6.12.117+deb12-amd64-unsigned; the cloud
# and rt flavours have another word before -amd64 and do not match
DEBIAN_PACKAGE = re.compile(r"^linux-image-(?P<version>\d+\.\d+(?:\.\d+)?(?:-\d+)?(?:\+deb\d+)?)"
                            r"-(?P<arch>amd64|arm64)-unsigned$")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Kernel:
    vmlinuz: str
    modules_dir: str | None        # /lib/modules/<release> of this kernel, if it has modules
    label: str                     # the package, or the path, for reports


def version_key(version: str) -> tuple[int, ...]:
    """``6.1.0-56`` -> (6, 1, 0, 56); ``6.12.117+deb12`` -> (6, 12, 117, 12)."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def debian_package(wanted: str, search_output: str, arch: str = "amd64") -> str:
    """The newest package in ``apt-cache search --names-only`` output whose version starts with
    ``wanted`` (``6.1`` matches 6.1.0-56 but not 6.12.117)."""
    found = []
    for line in search_output.splitlines():
        name = line.split(" - ", 1)[0].strip()
        m = DEBIAN_PACKAGE.match(name)
        if not m or m.group("arch") != arch:
            continue
        version = m.group("version")
        if version == wanted or re.match(re.escape(wanted) + r"[.\-+]", version):
            found.append((version_key(version), name))
    if not found:
        raise SetupError(f"no Debian kernel package linux-image-{wanted}*-{arch}-unsigned is known to "
                         "apt (run apt-get update; is a Debian archive configured?)")
    return max(found)[1]


def resolve_debian(wanted: str) -> str:
    """Ask apt (the local package lists, no network) for the package of ``debian:<wanted>``."""
    apt_cache = require_tool("apt-cache", "apt")
    arch = DEBIAN_ARCH.get(os.uname().machine)
    if not arch:
        raise SetupError(f"Debian kernels for {os.uname().machine} are not supported")
    pattern = r"^linux-image-" + re.escape(wanted) + r"[-.+].*-unsigned$"
    done = subprocess.run([apt_cache, "search", "--names-only", pattern],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupError(f"apt-cache search failed: {done.stderr.strip()}")
    return debian_package(wanted, done.stdout, arch)


def fetch_debian(package: str, ctx: Context) -> Kernel:
    """Download and unpack ``package`` into ``<cache>/kernels/<package>`` unless it is there."""
    root = os.path.join(ctx.cache_dir, "kernels")
    os.makedirs(root, exist_ok=True)
    dest = os.path.join(root, package)
    with open(os.path.join(root, package + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another target or sockspec run may fetch it too
        if not os.path.exists(os.path.join(dest, ".complete")):
            ctx.enter("download")
            work = os.path.join(root, package + ".partial")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            got = ctx.run([require_tool("apt-get", "apt"), "-q", "-o", "APT::Sandbox::User=root",
                           "download", package], cwd=work)
            debs = glob.glob(os.path.join(work, "*.deb"))
            if got.returncode != 0 or not debs:
                raise SetupError(f"apt-get download {package} failed: "
                                 f"{(got.stderr or got.stdout).decode(errors='replace').strip()[-300:]}")
            ctx.enter("unpack")
            tree = os.path.join(work, "tree")
            done = ctx.run([require_tool("dpkg", "dpkg"), "-x", debs[0], tree])
            if done.returncode != 0:
                raise SetupError(f"dpkg -x {os.path.basename(debs[0])} failed: "
                                 f"{done.stderr.decode(errors='replace').strip()[-300:]}")
            for modules_dir in glob.glob(os.path.join(tree, "lib/modules/*")):
                kmod.depmod(modules_dir)          # the package has no modules.dep: depmod runs at install
            shutil.rmtree(dest, ignore_errors=True)
            os.rename(tree, dest)
            shutil.rmtree(work, ignore_errors=True)
            open(os.path.join(dest, ".complete"), "w").close()
        else:
            ctx.note(f"cached {package}")
    return unpacked(dest, package)


def unpacked(dest: str, label: str) -> Kernel:
    images = sorted(glob.glob(os.path.join(dest, "boot", "vmlinuz-*")))
    modules = sorted(glob.glob(os.path.join(dest, "lib", "modules", "*")))
    if not images:
        raise SetupError(f"{label}: no boot/vmlinuz-* in {dest}")
    return Kernel(images[-1], modules[-1] if modules else None, label)


def user_kernel(vmlinuz: str, modules_dir: str | None) -> Kernel:
    """A kernel the user built. MODULES_DIR is ``/lib/modules/<release>``, or an
    INSTALL_MOD_PATH holding ``lib/modules/<release>``; without it, what the guest needs must
    be built in."""
    if not os.path.isfile(vmlinuz):
        raise SetupError(f"path: kernel image {vmlinuz} does not exist")
    if modules_dir:
        if not os.path.isdir(modules_dir):
            raise SetupError(f"path: modules directory {modules_dir} does not exist")
        nested = glob.glob(os.path.join(modules_dir, "lib", "modules", "*"))
        if len(nested) == 1:
            modules_dir = nested[0]
        modules_dir = os.path.abspath(modules_dir)
    return Kernel(os.path.abspath(vmlinuz), modules_dir, vmlinuz)
