"""The session profile (ARCHITECTURE.md §1): what this kernel and process are, probed once,
never assumed. It is an input of the model and is printed in every report."""
from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import re
import resource
from dataclasses import asdict, dataclass, field

from . import abi as _abi
from . import decide as _decide
from . import markers as _markers
from . import netns, privilege
from .abi import linux as L
from .abi.version import parse_version  # noqa: F401 - also imported from here
from .child import run_in_child
from .kernel import Kernel, default

FORMAT = 1

# Families whose presence the model needs to know, decided from the kernel's config, kallsyms
# and /proc/net/protocols (harness/decide.py), never by creating one.
PROBED_FAMILIES = (L.AF_UNIX, L.AF_INET, L.AF_INET6, L.AF_NETLINK, L.AF_PACKET,
                   L.AF_DECnet, L.AF_NETBEUI, L.AF_SECURITY, L.AF_ASH, L.AF_ECONET, L.AF_IRDA)

SYSCTLS = (
    "net.core.somaxconn",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.core.rmem_max", "net.core.wmem_max", "net.core.rmem_default", "net.core.wmem_default",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog",
    "net.unix.max_dgram_qlen",
    "net.ipv4.ping_group_range",
    # what gates the descriptor kinds of suite/fdkinds.py (setup, not calls under test)
    "kernel.io_uring_disabled", "kernel.perf_event_paranoid", "kernel.unprivileged_bpf_disabled",
    "vm.unprivileged_userfaultfd",
)


@dataclass(frozen=True)
class Profile:
    target: str
    target_kind: str          # "linux" (must agree with the model) or "sandbox" (findings)
    kernel_release: str
    kernel_version: tuple[int, int, int]
    kernel_build: str
    arch: str
    python: str
    backend: str
    uid: int
    euid: int
    groups: tuple[int, ...]       # egid and supplementary groups (ping_group_range)
    capabilities: tuple[str, ...]
    compat_available: bool
    compat_reason: str
    sysctls: dict
    af_max: int | None
    families: dict
    protocols: tuple[str, ...]    # /proc/net/protocols: the struct proto registered (TCP, MPTCP, ...)
    netns_private: bool
    netns_reason: str
    rlimit_nofile: tuple[int, int]
    hostname: str
    date: str
    format: int = FORMAT
    unix_oob: bool | None = None  # CONFIG_AF_UNIX_OOB: MSG_OOB on unix stream (None: not probed)
    # feature markers read from the kernel itself (harness/abi/markers.py): name ->
    # {"value", "source", "known"}; a rule's markers win over its release range
    markers: dict = field(default_factory=dict)
    # what the profile decided (compat path, AF_MAX, each family) and from which sources
    # (harness/decide.py): name -> {"value", "source", "sources", "disagree"}
    decisions: dict = field(default_factory=dict)
    # how the tests' network namespace was made (harness/netns.py): "netns" (unshare
    # CLONE_NEWNET, privileged), "userns" (user + network namespace, unprivileged) or "host"
    netns_mode: str = ""

    # -- what the model asks -------------------------------------------------------
    def has_cap(self, name: str) -> bool:
        return name in self.capabilities

    def family_available(self, family: int) -> bool | None:
        """True/False where a source says; None where none does or the family is not probed."""
        return self.families.get(L.FAMILY_NAMES.get(family, str(family)))

    def family_basis(self, family: int) -> str:
        """The source the family's presence was decided from ("CONFIG_IPV6=y (/proc/config.gz)")."""
        d = self.decisions.get(f"family {L.FAMILY_NAMES.get(family, family)}") or {}
        return d.get("source") or "the profile (no recorded source)"

    def disagreements(self) -> dict:
        return {n: d["disagree"] for n, d in self.decisions.items() if d.get("disagree")}

    def sysctl_int(self, name: str, default: int | None = None) -> int | None:
        value = self.sysctls.get(name)
        try:
            return int(value)
        except (TypeError, ValueError):
            return default

    def sysctl_ints(self, name: str) -> tuple[int, ...]:
        value = self.sysctls.get(name)
        return tuple(int(v) for v in value.split()) if value else ()

    @property
    def somaxconn(self) -> int:
        return self.sysctl_int("net.core.somaxconn", 4096)

    @property
    def namespace(self) -> str:
        """The network namespace the tests ran in, as the summary says it."""
        if self.netns_mode in netns.MODES:
            return netns.MODES[self.netns_mode]
        if self.netns_private:
            return "private netns"            # recorded before the mode was
        return netns.describe("host", self.netns_reason)

    @property
    def privileged(self) -> bool:
        return "CAP_NET_RAW" in self.capabilities

    # -- presentation ------------------------------------------------------------
    def to_json(self) -> dict:
        d = asdict(self)
        d["kernel_version"] = list(self.kernel_version)
        d["capabilities"] = list(self.capabilities)
        d["rlimit_nofile"] = list(self.rlimit_nofile)
        d["protocols"] = list(self.protocols)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Profile":
        d = dict(d)
        d["kernel_version"] = tuple(d["kernel_version"])
        d["capabilities"] = tuple(d["capabilities"])
        d["rlimit_nofile"] = tuple(d["rlimit_nofile"])
        d["protocols"] = tuple(d.get("protocols", ()))
        d["groups"] = tuple(d.get("groups", ()))
        return cls(**d)

    def summary(self) -> str:
        compat = "compat path ok" if self.compat_available else f"compat path unavailable: {self.compat_reason}"
        priv = "root" if self.euid == 0 else f"uid {self.euid}"
        caps = ",".join(c.replace("CAP_", "").lower() for c in self.capabilities) or "none"
        known = [n for n, r in self.markers.items() if r.get("known")]
        marks = f", markers read {len(known)}/{len(self.markers)}" if self.markers else ""
        if self.disagreements():
            marks += f", sources disagree on {', '.join(self.disagreements())}"
        return (f"sockspec: {self.target} kernel {self.kernel_release}{marks} {self.arch}, {priv} "
                f"(caps: {caps}), backend {self.backend}, {self.namespace}, somaxconn {self.somaxconn}, "
                f"AF_MAX {self.af_max}, {compat}")

    def render(self) -> str:
        rows = [
            ("target", f"{self.target} ({self.target_kind})"),
            ("kernel", f"{self.kernel_release} ({self.kernel_build})"),
            ("  version", ".".join(map(str, self.kernel_version)) + " (what release ranges compare)"),
            ("arch", self.arch),
            ("python", self.python),
            ("backend", self.backend),
            ("uid / euid", f"{self.uid} / {self.euid}"),
            ("capabilities", ", ".join(self.capabilities) or "none"),
            ("compat path", "available" if self.compat_available else "unavailable"),
            ("  why", self.compat_reason),
            ("network namespace", self.namespace),
            ("  why", self.netns_reason),
            ("AF_MAX", str(self.af_max)),
            ("families", ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in self.families.items())),
            ("protocols", " ".join(self.protocols) or "(no /proc/net/protocols)"),
            ("RLIMIT_NOFILE", f"{self.rlimit_nofile[0]} / {self.rlimit_nofile[1]}"),
            ("AF_UNIX MSG_OOB", {True: "yes", False: "no", None: "unknown"}[self.unix_oob]
             + " (CONFIG_AF_UNIX_OOB, else unix_sock.oob_skb, else release >= 5.15)"),
        ]
        for name, d in self.decisions.items():
            rows.append((f"decided {name}", _decide.show(d)))
            rows += [("  from", src) for src in d.get("sources", ())]
        rows += [(name, str(value)) for name, value in self.sysctls.items()]
        rows += [(f"marker {name}", _markers.Reading.from_json(r).show())
                 for name, r in sorted(self.markers.items())]
        rows += [("host", self.hostname), ("date", self.date)]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)




def kernel_version(release: str, build: str, signature: str | None = None) -> tuple[int, int, int]:
    """The upstream version a kernel is built from. Distribution releases hide the stable
    number: Debian's ``6.1.0-50-amd64`` is 6.1.176, which only ``uname -v`` says (``#1 SMP
    PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-...)``); Ubuntu's /proc/version_signature ends with
    it (``Ubuntu 5.15.0-91.101-generic 5.15.131``). Stable backports are keyed on it."""
    v = parse_version(release)
    m = re.search(r"\bDebian (\d+\.\d+\.\d+)", build or "")
    if m:
        d = parse_version(m.group(1))
        if d[:2] == v[:2]:
            return d
    if signature:
        parts = signature.split()
        if parts:
            u = parse_version(parts[-1])
            if u[:2] == v[:2]:
                return u
    return v


def read_proc(path: str) -> str | None:
    """A small /proc file's text (/proc/version_signature is Ubuntu's; None where absent)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def getpid_via_int80(k: Kernel) -> tuple[str, str]:
    """getpid through int $0x80 in a forked child: a call outside the socket layer, so a
    broken socketcall cannot make the profile say "no compat path". Returns (outcome, detail):
    ok | sigsegv | misrouted | unavailable | died. Without IA32 emulation int $0x80 kills the
    caller with SIGSEGV; User-Mode Linux runs int $0x80 numbers as 64-bit ones (20 is writev)."""
    if _abi.compat() is None:
        return "unavailable", f"no 32-bit compat ABI on {_abi.native().name}"
    if not k.backend.has_compat:
        return "unavailable", f"backend {k.backend.name} has no compat entry"

    def probe():
        kc = Kernel(k.backend, via="compat")
        pid = kc.compat_raw(kc.abi.nr("getpid"))
        return [pid.ret, pid.errno, os.getpid()]

    res = run_in_child(probe, timeout=10)
    if not res.ok:
        why = res.describe()
        if res.signal is not None:
            return "sigsegv", f"the probe child {why} (IA32 emulation disabled?)"
        return "died", f"the probe child {why}"
    ret, err, pid = res.value
    if ret != pid:
        shown = f"-1 {errno.errorcode.get(err, err)}" if ret == -1 else str(ret)
        return "misrouted", (f"int $0x80 getpid returned {shown}, not the pid {pid}: syscall "
                             "numbers are not routed as i386 ones")
    return "ok", f"returned the pid {pid}"


def compat_decision(k: Kernel, markers: dict | None = None, cmdline: str | None = None) -> dict:
    outcome, detail = getpid_via_int80(k)
    return _decide.decide_compat(markers or {}, cmdline, outcome, detail)


def probe_compat(k: Kernel, markers: dict | None = None, cmdline: str | None = None) -> tuple[bool, str]:
    """Is the 32-bit int $0x80 path there? Decided by getpid through int $0x80 (never by a
    socketcall, which is what the suite checks), with the config and boot parameter beside it."""
    d = compat_decision(k, markers, cmdline)
    return d["value"], d["source"]


def family_decisions(markers: dict, protocols: tuple[str, ...] | None,
                     version: tuple[int, int, int]) -> dict:
    """For every probed family, the decision and its sources (harness/decide.py); no socket
    call is made."""
    return {L.FAMILY_NAMES[f]: _decide.decide_family(L.FAMILY_NAMES[f], markers, protocols, version)
            for f in PROBED_FAMILIES}


def unix_oob_from(markers: dict, version: tuple[int, int, int]) -> bool:
    """CONFIG_AF_UNIX_OOB, as the kernel says (its config, else the BTF member
    unix_sock.oob_skb that only exists with it), else by release (since 5.15 it defaults to
    UNIX). Never from a MSG_OOB call: that is what the suite checks."""
    for name in ("CONFIG_AF_UNIX_OOB", "unix_sock.oob_skb"):
        r = markers.get(name) or {}
        if r.get("known"):
            return r.get("value") in ("y", True)
    return version >= (5, 15, 0)


def read_protocols() -> tuple[str, ...] | None:
    """The names in /proc/net/protocols (registered struct proto: TCP, UDP-Lite, MPTCP...),
    or None when it cannot be read."""
    try:
        with open("/proc/net/protocols") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    return tuple(sorted(line.split()[0] for line in lines if line.strip()))


def probe_protocols() -> tuple[str, ...]:
    return read_protocols() or ()


def probe(k: Kernel | None = None, target: str = "host", target_kind: str = "linux") -> Profile:
    k = k or default()
    uname = os.uname()
    markers = {name: r.to_json() for name, r in _markers.read_all(uname.release).items()}
    version = kernel_version(uname.release, uname.version, read_proc("/proc/version_signature"))
    caps = privilege.effective_caps(k)
    compat = compat_decision(k, markers, read_proc("/proc/cmdline"))
    protocols = read_protocols()
    families = family_decisions(markers, protocols, version)
    af_max = _decide.decide_af_max(version)
    decisions = {"compat path": compat, "AF_MAX": af_max,
                 **{f"family {name}": d for name, d in families.items()}}
    ns = netns.status()
    if ns["private"]:
        ns_reason = ns["reason"]
    elif ns["reason"] != "not attempted":
        ns_reason = f"not entered: {ns['reason']}"
    else:
        possible, why = netns.can_unshare()
        ns_reason = f"not entered ({why})"
    unknown = netns.unknown_sysctls(SYSCTLS)
    if unknown:
        ns_reason += "; not recorded: " + "; ".join(unknown)
    sysctls = {}
    for name in SYSCTLS:
        value = netns.read_sysctl_or_global(name)
        if value is not None:
            sysctls[name] = " ".join(value.split())
    return Profile(
        target=target,
        target_kind=target_kind,
        kernel_release=uname.release,
        kernel_version=version,
        kernel_build=uname.version,
        arch=_abi.native().name,
        python=platform.python_version(),
        backend=k.backend.name,
        uid=os.getuid(),
        euid=os.geteuid(),
        groups=netns.kernel_groups(),
        capabilities=tuple(privilege.cap_names(caps)),
        compat_available=compat["value"],
        compat_reason=compat["source"],
        sysctls=sysctls,
        af_max=af_max["value"],
        families={name: d["value"] for name, d in families.items()},
        protocols=protocols or (),
        netns_private=ns["private"],
        netns_reason=ns_reason,
        netns_mode=ns["mode"],
        rlimit_nofile=tuple(resource.getrlimit(resource.RLIMIT_NOFILE)),
        hostname=os.uname().nodename,
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        unix_oob=unix_oob_from(markers, version),
        markers=markers,
        decisions=decisions,
    )


def main(args) -> int:
    from .kernel import load_backend
    k = Kernel(load_backend(args.backend))
    if args.netns:
        netns.enter_private(k)
    p = probe(k, target=args.target)
    print(json.dumps(p.to_json(), indent=2) if args.json else p.render())
    return 0


def add_parser(sub) -> None:
    ap = sub.add_parser("profile", help="probe and print the session profile")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--netns", action="store_true",
                    help="probe inside a private network namespace, as the suite does")
    ap.add_argument("--target", default="host", help="label for this target (default: host)")
    ap.set_defaults(func=main)
