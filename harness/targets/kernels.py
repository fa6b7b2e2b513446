"""Guest kernels by name: a Debian kernel package (``debian:6.1``, ``debian:sid``), found in
sockspec's own apt state (aptstate.py: the bullseye ... experimental suites of the host's Debian
mirror), fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into the cache (never
installed), or a kernel the user built (``path:VMLINUZ[:MODULES_DIR]``).

Debian packages its kernels in two ways:

- up to trixie (5.10, 6.1, 6.12): ``linux-image-<abi>-amd64-unsigned`` holds the image at
  ``/boot/vmlinuz-<release>`` and the modules under ``/lib/modules/<release>`` (trixie:
  ``/usr/lib/modules/<release>``);
- from 7.x in sid and experimental: ``linux-image-<abi>-amd64`` is a package of dependencies on
  ``linux-binary-<abi>-amd64`` (the image, ``/usr/lib/modules/<release>/vmlinuz``; its unsigned
  twin ``linux-binary-unsigned-<abi>-amd64`` has ``vmlinuz.unsigned``), ``linux-modules-<abi>-amd64``
  (``/usr/lib/modules/<release>/kernel``) and ``linux-base-<abi>-amd64`` (``modules.builtin``,
  ``config``, ``System.map``).

A name resolves to the newest matching version over all suites (``debian:6.12`` -> trixie's
6.12.117 rather than bookworm's 6.12.95), or, for a suite name (``debian:sid``,
``debian:experimental``), to the newest kernel in that suite. The unsigned package is taken
where both exist; the dependencies that pin the image's exact version (``linux-*-<abi> (= V)``)
are downloaded with it, the unsigned image in place of the signed one.
"""
from __future__ import annotations

import fcntl
import glob
import os
import re
from dataclasses import dataclass, field

from . import aptstate, kmod
from .base import Context, SetupError

KVERSION = r"\d+\.\d+(?:\.\d+)?(?:-\d+(?:\.deb\d+\.\d+)?)?(?:\+deb\d+(?:\.\d+)*)?"
# linux-image-6.1.0-56-amd64-unsigned, linux-image-6.12.117+deb13-amd64-unsigned,
# linux-image-7.2.13+deb14-amd64 (sid's dependency package), linux-image-7.3-amd64 (an rc); the
# cloud and rt flavours have another word before -amd64 and do not match
DEBIAN_PACKAGE = re.compile(r"^linux-image-(?P<version>" + KVERSION + r")-(?P<arch>amd64|arm64)"
                            r"(?P<unsigned>-unsigned)?$")
BINARY_UNSIGNED = re.compile(r"^linux-binary-unsigned-(?P<version>" + KVERSION + r")-(?P<arch>amd64|arm64)$")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Kernel:
    vmlinuz: str
    modules_dir: str | None        # /lib/modules/<release> of this kernel, if it has modules
    label: str                     # the package, or the path, for reports
    layout: str = ""               # where the image and modules were: "boot, lib/modules", "usr/lib/modules"
    config: str | None = None      # the kernel's config file, for the guest's feature markers


@dataclass(frozen=True)
class DebianKernel:
    """What ``debian:<wanted>`` resolved to."""
    wanted: str
    package: str                   # the image package (or the package of its dependencies)
    version: str                   # its Debian version
    suite: str                     # the suite(s) it was found in, comma-separated
    packages: tuple[str, ...] = field(default=())    # name=version of every .deb to download

    def describe(self) -> str:
        return f"{self.package} {self.version} from {self.suite}"


def version_key(version: str) -> tuple[int, ...]:
    """``6.1.0-56`` -> (6, 1, 0, 56); ``6.12.117+deb12`` -> (6, 12, 117, 12)."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


# -- Debian version order (dpkg's verrevcmp) ------------------------------------------------

def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit() or not c:
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) else "")
            bc = _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """<0, 0, >0 as ``dpkg --compare-versions`` orders Debian versions (``7.3~rc7-1`` < ``7.3-1``)."""
    def split(v):
        epoch, sep, rest = v.partition(":")
        if not sep:
            epoch, rest = "0", v
        upstream, sep, revision = rest.rpartition("-")
        if not sep:
            upstream, revision = rest, ""
        return int(epoch or 0), upstream, revision
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


class DebVersion(str):
    """A Debian version that sorts as dpkg does."""
    def __lt__(self, other):
        return compare_versions(self, other) < 0

    def __gt__(self, other):
        return compare_versions(self, other) > 0


# -- choosing a package from apt-cache output --------------------------------------------------

def suite_of(wanted: str) -> str | None:
    """The suite a name stands for (``sid``, ``unstable`` -> sid, ``experimental``), else None."""
    name = aptstate.SUITE_ALIASES.get(wanted, wanted)
    return name if name in aptstate.SUITES else None


def matches(wanted: str, version: str) -> bool:
    """``6.1`` matches 6.1.0-56 but not 6.12.117; ``6.12.117`` matches 6.12.117+deb13."""
    return version == wanted or re.match(re.escape(wanted) + r"[.\-+]", version) is not None


def image_names(search_output: str, arch: str = "amd64", wanted: str | None = None) -> list[str]:
    """Image (and unsigned binary) package names in ``apt-cache search --names-only`` output,
    of ``arch``, matching ``wanted`` when it is a version."""
    out = []
    for line in search_output.splitlines():
        name = line.split(" - ", 1)[0].strip()
        m = DEBIAN_PACKAGE.match(name) or BINARY_UNSIGNED.match(name)
        if not m or m.group("arch") != arch:
            continue
        if wanted and not suite_of(wanted) and not matches(wanted, m.group("version")):
            continue
        out.append(name)
    return out


def parse_madison(text: str) -> list[tuple[str, str, str]]:
    """``apt-cache madison`` lines -> (package, version, suite)."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[2].endswith("Packages"):
            continue
        words = parts[2].split()
        if len(words) < 2:
            continue
        out.append((parts[0], parts[1], words[1].split("/")[0]))
    return out


def choose(wanted: str, entries: list[tuple[str, str, str]], arch: str = "amd64",
           suite_order=aptstate.SUITES) -> DebianKernel | None:
    """The newest image package for ``wanted`` among madison ``entries``: the kernel version in
    its name first, then the Debian version; the unsigned package where both exist. None when
    nothing matches."""
    suite = suite_of(wanted)
    best = None
    for package, version, in_suite in entries:
        m = DEBIAN_PACKAGE.match(package)
        if not m or m.group("arch") != arch:
            continue
        if suite and in_suite != suite:
            continue
        if not suite and not matches(wanted, m.group("version")):
            continue
        key = (version_key(m.group("version")), DebVersion(version), bool(m.group("unsigned")))
        if best is None or key > best[0]:
            best = (key, package, version)
    if best is None:
        return None
    _, package, version = best
    suites = [s for p, v, s in entries if p == package and v == version]
    suites.sort(key=lambda s: suite_order.index(s) if s in suite_order else len(suite_order))
    return DebianKernel(wanted, package, version, ", ".join(dict.fromkeys(suites)), (f"{package}={version}",))


def exact_dependencies(show_output: str) -> list[tuple[str, str]]:
    """The ``linux-*`` packages the first stanza of ``apt-cache show`` output depends on at an
    exact version (``linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1)``): the parts of a kernel
    packaged apart from its ``linux-image-*`` package. Alternatives (``a | b``) are not followed."""
    depends = ""
    lines = show_output.split("\n\n", 1)[0].splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Depends:", "Pre-Depends:")):
            value = line.partition(":")[2]
            for cont in lines[i + 1:]:
                if not cont.startswith((" ", "\t")):
                    break
                value += cont
            depends += "," + value
    out = []
    for item in depends.split(","):
        item = item.strip()
        if not item or "|" in item:
            continue
        m = re.match(r"^(linux-[a-z0-9.+\-]+)(?::\S+)?\s*\(\s*=\s*([^)\s]+)\s*\)$", item)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def unsigned_twin(name: str) -> str:
    """``linux-binary-7.2.13+deb14-amd64`` -> ``linux-binary-unsigned-7.2.13+deb14-amd64``."""
    return re.sub(r"^linux-binary-", "linux-binary-unsigned-", name) if not name.startswith(
        "linux-binary-unsigned-") else name


def resolve_debian(wanted: str, apt: aptstate.PrivateApt) -> DebianKernel:
    """Resolve ``debian:<wanted>`` in sockspec's apt state (updated first if stale): the image
    package and every package to download with it."""
    arch = apt.arch
    apt.ensure_updated()
    names = image_names(apt.cache("search", "--names-only",
                                  rf"^linux-(image|binary-unsigned)-[0-9].*-{arch}(-unsigned)?$"),
                        arch, wanted)
    entries = parse_madison(apt.cache("madison", *names)) if names else []
    chosen = choose(wanted, entries, arch, apt.suites)
    if chosen is None:
        suite = suite_of(wanted)
        what = (f"no Debian kernel linux-image-*-{arch} in {suite}" if suite else
                f"no Debian kernel linux-image-{wanted}*-{arch} in any of {', '.join(apt.suites)}")
        raise SetupError(f"{what} (mirror {apt.mirror})")
    known = {(p, v) for p, v, _ in entries}
    packages = [(chosen.package, chosen.version)]
    todo = [(chosen.package, chosen.version)]
    while todo:
        name, version = todo.pop(0)
        for dep, dep_version in exact_dependencies(apt.cache("show", f"{name}={version}")):
            if (unsigned_twin(dep), dep_version) in known:
                dep = unsigned_twin(dep)          # the image without the Secure Boot signature
            if (dep, dep_version) not in packages:
                packages.append((dep, dep_version))
                todo.append((dep, dep_version))
    return DebianKernel(wanted, chosen.package, chosen.version, chosen.suite,
                        tuple(f"{p}={v}" for p, v in packages))


def debian_arch() -> str:
    arch = DEBIAN_ARCH.get(os.uname().machine)
    if not arch:
        raise SetupError(f"Debian kernels for {os.uname().machine} are not supported")
    return arch


def cache_name(kernel: DebianKernel) -> str:
    return re.sub(r"[^A-Za-z0-9.+~_-]", "_", f"{kernel.package}_{kernel.version}")


def fetch_debian(kernel: DebianKernel, ctx: Context, apt: aptstate.PrivateApt) -> Kernel:
    """Download and unpack the kernel's packages into ``<cache>/kernels/<package>_<version>``
    unless they are there."""
    root = os.path.join(ctx.cache_dir, "kernels")
    os.makedirs(root, exist_ok=True)
    name = cache_name(kernel)
    dest = os.path.join(root, name)
    with open(os.path.join(root, name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another target or sockspec run may fetch it too
        if not os.path.exists(os.path.join(dest, ".complete")):
            ctx.enter("download")
            apt.unpack(list(kernel.packages or (f"{kernel.package}={kernel.version}",)), dest, ctx,
                       finish=depmod_all)
        else:
            ctx.note(f"cached {kernel.package} {kernel.version}")
    return unpacked(dest, kernel.package)


def depmod_all(tree: str) -> None:
    """The packages have no modules.dep: depmod runs when they are installed."""
    for modules_dir in module_dirs(tree):
        kmod.depmod(modules_dir)


def module_dirs(tree: str) -> list[str]:
    """``lib/modules/<release>`` and ``usr/lib/modules/<release>`` directories of an unpacked tree."""
    return sorted(d for pattern in ("lib/modules/*", "usr/lib/modules/*")
                  for d in glob.glob(os.path.join(tree, pattern)) if os.path.isdir(d)
                  and not os.path.islink(d))


def unpacked(dest: str, label: str) -> Kernel:
    """The image and modules directory of an unpacked kernel, in any layout Debian used:
    ``boot, lib/modules`` (5.10, 6.1: ``boot/vmlinuz-<release>``, ``lib/modules/<release>``),
    ``boot, usr/lib/modules`` (trixie's 6.12), ``usr/lib/modules`` (sid's 7.x:
    ``usr/lib/modules/<release>/vmlinuz`` or ``vmlinuz.unsigned`` beside the modules)."""
    dirs = module_dirs(dest)
    images = sorted(glob.glob(os.path.join(dest, "boot", "vmlinuz-*")), key=lambda p: version_key(os.path.basename(p)))
    if images:
        vmlinuz, layout = images[-1], "boot"
        release = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    else:
        found = [(os.path.join(d, n), os.path.basename(d)) for d in dirs
                 for n in ("vmlinuz", "vmlinuz.unsigned") if os.path.isfile(os.path.join(d, n))]
        if not found:
            raise SetupError(f"{label}: no boot/vmlinuz-* nor (usr/)lib/modules/*/vmlinuz in {dest}")
        (vmlinuz, release), layout = max(found, key=lambda f: version_key(f[1])), "usr/lib/modules"
    same = [d for d in dirs if os.path.basename(d) == release]
    modules = same[0] if same else (dirs[-1] if dirs else None)
    if layout == "boot" and modules:                 # trixie: /boot with /usr/lib/modules
        layout = "boot, " + os.path.dirname(os.path.relpath(modules, dest))
    return Kernel(vmlinuz, modules, label, layout, config_of(dest, release, modules))


def config_of(dest: str, release: str, modules: str | None) -> str | None:
    """The kernel's config as packaged: boot/config-<release> (up to trixie) or
    usr/lib/modules/<release>/config (sid's linux-base)."""
    for path in (os.path.join(dest, "boot", f"config-{release}"),
                 os.path.join(modules, "config") if modules else ""):
        if path and os.path.isfile(path):
            return path
    return None


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
    config = os.path.join(modules_dir, "config") if modules_dir else None
    return Kernel(os.path.abspath(vmlinuz), modules_dir, vmlinuz,
                  config=config if config and os.path.isfile(config) else None)
