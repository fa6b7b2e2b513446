"""Reading feature markers (harness/abi/markers.py) from the running kernel: its BTF
(/sys/kernel/btf/vmlinux), /proc/kallsyms and its config (/proc/config.gz,
/boot/config-$(uname -r), or $SOCKSPEC_KERNEL_CONFIG, which the QEMU target sets to the config
shipped with a guest kernel).

Every reading records its value and its source; a marker whose source is missing reads as
unknown (value None, source saying why), and the rules that use it fall back on their release
range. Nothing here issues a socket call.
"""
from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass

from . import btf as _btf
from .abi.markers import CATALOGUE, Marker

BTF_PATH = "/sys/kernel/btf/vmlinux"
KALLSYMS_PATH = "/proc/kallsyms"
LSM_PATH = "/sys/kernel/security/lsm"


@dataclass(frozen=True)
class Reading:
    value: object          # True/False (member, enumerator, symbol), int (size), str/None (config)
    source: str            # where it was read, or why it could not be
    known: bool = True

    def to_json(self) -> dict:
        return {"value": self.value, "source": self.source, "known": self.known}

    @classmethod
    def from_json(cls, d: dict) -> "Reading":
        return cls(d.get("value"), d.get("source", ""), bool(d.get("known", True)))

    def show(self) -> str:
        if not self.known:
            return f"unknown ({self.source})"
        if self.value is True:
            v = "yes"
        elif self.value is False:
            v = "no"
        elif self.value is None:
            v = "not set"
        else:
            v = str(self.value)
        return f"{v} ({self.source})"


# --------------------------------------------------------------------------- sources

def parse_config(text: str) -> dict[str, str]:
    """CONFIG_X=value lines; '# CONFIG_X is not set' lines read as 'n'."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[m.group(1)] = value
            continue
        m = re.match(r"^# (CONFIG_\w+) is not set$", line)
        if m:
            out[m.group(1)] = "n"
    return out


def config_candidates(release: str) -> list[str]:
    paths = []
    if os.environ.get("SOCKSPEC_KERNEL_CONFIG"):
        paths.append(os.environ["SOCKSPEC_KERNEL_CONFIG"])
    paths += ["/proc/config.gz", f"/boot/config-{release}", f"/lib/modules/{release}/config",
              f"/usr/lib/modules/{release}/config"]
    return paths


def read_config(release: str) -> tuple[dict[str, str] | None, str]:
    """(options, path) of the first readable config, or (None, why)."""
    tried = []
    for path in config_candidates(release):
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt", errors="replace") as f:
                    text = f.read()
            else:
                with open(path, errors="replace") as f:
                    text = f.read()
        except (OSError, EOFError, gzip.BadGzipFile):
            tried.append(path)
            continue
        options = parse_config(text)
        if options:
            return options, path
        tried.append(path + " (no CONFIG_ lines)")
    return None, "no kernel config: tried " + ", ".join(tried)


def parse_kallsyms(text: str) -> set[str]:
    """Symbol names of /proc/kallsyms lines ("addr type name [module]")."""
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            names.add(parts[2])
    return names


def read_kallsyms(path: str = KALLSYMS_PATH) -> tuple[set[str] | None, str]:
    try:
        with open(path) as f:
            names = parse_kallsyms(f.read())
    except OSError as exc:
        return None, f"{path}: {exc.strerror}"
    if not names:
        return None, f"{path} is empty"
    return names, path


def read_btf(path: str = BTF_PATH) -> tuple[_btf.Btf | None, str]:
    try:
        return _btf.load(path), path
    except OSError as exc:
        return None, f"{path}: {exc.strerror} (a kernel without CONFIG_DEBUG_INFO_BTF?)"
    except _btf.BtfError as exc:
        return None, f"{path}: unreadable BTF ({exc})"


def read_lsm(path: str = LSM_PATH) -> tuple[set[str] | None, str]:
    """The running security modules, from securityfs ("capability,landlock,yama,apparmor")."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        return None, f"{path}: {exc.strerror} (securityfs not mounted?)"
    return {name.strip() for name in text.split(",") if name.strip()}, path


# --------------------------------------------------------------------------- readings

def read_marker(marker: Marker, btf, btf_src: str, syms, syms_src: str, config, config_src: str,
                lsms=None, lsm_src: str = "") -> Reading:
    kind = marker.kind
    if kind.startswith("btf_"):
        if btf is None:
            return Reading(None, btf_src, known=False)
        if kind == "btf_member":
            struct_name, member = marker.what.split(".", 1)
            if not btf.has_struct(struct_name):
                return Reading(None, f"BTF {btf_src} has no struct {struct_name}", known=False)
            return Reading(btf.has_member(struct_name, member), f"BTF {btf_src}")
        if kind == "btf_enum":
            return Reading(btf.has_enumerator(marker.what), f"BTF {btf_src}")
        if kind == "btf_size":
            size = btf.struct_size(marker.what)
            if size is None:
                return Reading(None, f"BTF {btf_src} has no struct {marker.what}", known=False)
            return Reading(size, f"BTF {btf_src}")
    if kind == "kallsyms":
        if syms is None:
            return Reading(None, syms_src, known=False)
        if marker.what in syms:
            return Reading(True, syms_src)
        # a missing symbol proves nothing: it may be inlined, renamed or in an unloaded module
        return Reading(False, f"not in {syms_src}: absence proves nothing", known=False)
    if kind == "config":
        if config is None:
            return Reading(None, config_src, known=False)
        value = config.get(marker.what)
        return Reading(None if value in (None, "n") else value, config_src)
    if kind == "lsm":
        if lsms is not None:
            return Reading(marker.what in lsms, lsm_src)
        option = "CONFIG_SECURITY_" + marker.what.upper()
        if config is not None and config.get(option) in (None, "n"):
            return Reading(False, f"{lsm_src}; {option} is not set in {config_src}")
        return Reading(None, lsm_src, known=False)
    raise ValueError(f"marker {marker.name}: unknown kind {kind}")


def read_all(release: str | None = None, btf_path: str = BTF_PATH,
             kallsyms_path: str = KALLSYMS_PATH, lsm_path: str = LSM_PATH, catalogue: dict[str, Marker] | None = None) -> dict[str, Reading]:
    """Read every marker of the catalogue from this kernel."""
    release = release or os.uname().release
    catalogue = CATALOGUE if catalogue is None else catalogue
    kinds = {m.kind for m in catalogue.values()}
    btf, btf_src = read_btf(btf_path) if any(k.startswith("btf_") for k in kinds) else (None, "")
    syms, syms_src = read_kallsyms(kallsyms_path) if "kallsyms" in kinds else (None, "")
    config, config_src = read_config(release) if kinds & {"config", "lsm"} else (None, "")
    lsms, lsm_src = read_lsm(lsm_path) if "lsm" in kinds else (None, "")
    return {name: read_marker(m, btf, btf_src, syms, syms_src, config, config_src, lsms, lsm_src)
            for name, m in sorted(catalogue.items())}
