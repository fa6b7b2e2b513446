"""What the profile decides about the kernel, and from what (ARCHITECTURE.md §1): which address
families exist, AF_MAX, whether the 32-bit compat path works.

Every decision rests on sources the suite does not check: the kernel config, kallsyms, BTF,
/proc/net/protocols, the boot command line, the uapi header's history, and for the compat path
a 32-bit call outside the socket layer (getpid through int $0x80). None issues a socket call:
a probe that asked socket() whether a family exists would turn a kernel whose family creation
is broken into "family absent", and the checks would then agree with it.

A decision is a dict (it travels in the profile's JSON)::

    {"value": True/False/None/int, "source": "CONFIG_IPV6=y (/proc/config.gz)",
     "sources": ["every fact read, each with where it was read"],
     "disagree": "what the sources disagree on" or None}

Pure functions of what was read, so the project's own tests can feed them any kernel.
"""
from __future__ import annotations

# --------------------------------------------------------------------------- families

# family name -> (config marker, kallsyms marker of its create(), /proc/net/protocols names)
FAMILY_SOURCES = {
    "AF_UNIX": ("CONFIG_UNIX", "kallsyms.unix_create", ("UNIX",)),
    "AF_INET": ("CONFIG_INET", "kallsyms.inet_create", ("TCP", "UDP")),
    "AF_INET6": ("CONFIG_IPV6", "kallsyms.inet6_create", ("TCPv6", "UDPv6")),
    "AF_NETLINK": ("CONFIG_NET", "kallsyms.netlink_create", ("NETLINK",)),
    "AF_PACKET": ("CONFIG_PACKET", "kallsyms.packet_create", ("PACKET",)),
    "AF_DECnet": ("CONFIG_DECNET", "kallsyms.dn_create", ("NSP",)),
}

# Numbers include/linux/socket.h reserves for families mainline never implemented or removed
# long before the kernels in scope: nothing can register them.
NEVER_IMPLEMENTED = {
    "AF_NETBEUI": "reserved in include/linux/socket.h, never implemented in mainline",
    "AF_SECURITY": "a pseudo family in include/linux/socket.h, never registered",
    "AF_ASH": "reserved in include/linux/socket.h, never implemented in mainline",
    "AF_ECONET": "net/econet was removed in 3.5",
    "AF_IRDA": "net/irda was removed in 4.17",
}
# Families removed from mainline: on a release from then on, absent without asking anyone.
REMOVED_IN = {"AF_DECnet": ((6, 1, 0), "net/decnet was removed in 6.1")}


def _reading(markers: dict, name: str) -> dict:
    return markers.get(name) or {"known": False, "value": None, "source": "not read"}


def decide_family(name: str, markers: dict, protocols: tuple[str, ...] | None,
                  version: tuple[int, int, int]) -> dict:
    """Is family ``name`` there? The kernel config decides (=y or =m: present, as socket()
    autoloads a module; unset: absent); without a config, a create() symbol in kallsyms or a
    protocol in /proc/net/protocols says present, and nothing says absent (value None: the
    model then expects the family to work). Sources that disagree are recorded."""
    if name in NEVER_IMPLEMENTED:
        why = NEVER_IMPLEMENTED[name]
        return {"value": False, "source": why, "sources": [why], "disagree": None}
    config_name, sym_name, proto_names = FAMILY_SOURCES.get(name, (None, None, ()))
    sources, present, absent = [], [], []
    cfg = _reading(markers, config_name) if config_name else None
    if cfg is not None:
        if cfg.get("known"):
            value = cfg.get("value")
            fact = f"{config_name}={value} ({cfg['source']})" if value else \
                f"{config_name} not set ({cfg['source']})"
            (present if value in ("y", "m") else absent).append(fact)
            sources.append(fact + (": a module, loaded by the first socket() of the family"
                                   if value == "m" else ""))
        else:
            sources.append(f"{config_name} unknown ({cfg.get('source')})")
    if sym_name:
        sym = _reading(markers, sym_name)
        what = sym_name.split(".", 1)[1]
        if sym.get("known") and sym.get("value") is True:
            fact = f"{what} in {sym['source']}"
            present.append(fact)
            sources.append(fact)
        else:
            sources.append(f"{what} not in kallsyms (absence proves nothing)")
    if protocols is None:
        sources.append("/proc/net/protocols unreadable")
    elif proto_names:
        listed = [p for p in proto_names if p in protocols]
        if listed:
            fact = f"/proc/net/protocols lists {' '.join(listed)}"
            present.append(fact)
            sources.append(fact)
        else:
            sources.append(f"/proc/net/protocols lists no {'/'.join(proto_names)} "
                           "(not registered yet: a module loads on the first socket())")
    removed = REMOVED_IN.get(name)
    if removed and version >= removed[0]:
        absent.append(removed[1])
        sources.append(removed[1])

    disagree = None
    cfg_value = cfg.get("value") if (cfg is not None and cfg.get("known")) else "unknown"
    if present and absent:
        disagree = f"{'; '.join(present)} but {'; '.join(absent)}"
    elif cfg_value == "y" and protocols is not None and proto_names and \
            not any(p in protocols for p in proto_names):
        disagree = (f"{config_name}=y (built in) but /proc/net/protocols lists no "
                    f"{'/'.join(proto_names)}")
    if present:
        # the running kernel's own runtime evidence wins over a config file that may belong
        # to another build; the config wins over nothing
        value, source = True, present[0]
    elif absent:
        value, source = False, absent[0]
    else:
        value, source = None, "no source says (the model expects the family to work)"
    return {"value": value, "source": source, "sources": sources, "disagree": disagree}


# --------------------------------------------------------------------------- AF_MAX

# include/linux/socket.h: AF_MAX is one past the newest family, by the release that added it.
# Checked against torvalds/linux include/linux/socket.h (AF_SMC 43, AF_MAX 44 in 4.11) and
# glibc's bits/socket.h (PF_MAX 46, AF_MCTP 45).
AF_MAX_HISTORY = (
    ((5, 15, 0), 46, "AF_MCTP=45 added in 5.15"),
    ((4, 18, 0), 45, "AF_XDP=44 added in 4.18"),
    ((4, 11, 0), 44, "AF_SMC=43 added in 4.11"),
    ((4, 7, 0), 43, "AF_QIPCRTR=42 added in 4.7"),
    ((4, 6, 0), 42, "AF_KCM=41 added in 4.6"),
    ((3, 9, 0), 41, "AF_VSOCK=40 added in 3.9"),
)


def decide_af_max(version: tuple[int, int, int]) -> dict:
    for since, value, why in AF_MAX_HISTORY:
        if version >= since:
            source = (f"include/linux/socket.h of {'.'.join(map(str, version))}: AF_MAX {value} "
                      f"({why})")
            return {"value": value, "source": source, "sources": [source], "disagree": None}
    source = f"release {'.'.join(map(str, version))} predates the table of include/linux/socket.h"
    return {"value": None, "source": source, "sources": [source], "disagree": None}


# --------------------------------------------------------------------------- compat path

def parse_ia32_cmdline(cmdline: str | None) -> bool | None:
    """The ``ia32_emulation=`` boot parameter (arch/x86/entry/common.c, kstrtobool), or None."""
    if not cmdline:
        return None
    value = None
    for word in cmdline.split():
        if word == "--":
            break                         # the rest goes to init
        if word.startswith("ia32_emulation="):
            v = word.split("=", 1)[1].lower()
            if v[:1] in ("1", "y", "t") or v in ("on",):
                value = True
            elif v[:1] in ("0", "n", "f") or v in ("off",):
                value = False
    return value


def decide_compat(markers: dict, cmdline: str | None, getpid: str, getpid_detail: str) -> dict:
    """Does int $0x80 reach the i386 syscall table? ``getpid`` is the outcome of getpid through
    int $0x80 in a forked child: "ok" (returned the child's pid), "sigsegv" (no IA32
    emulation: the fault kills the caller), "misrouted" (another answer: User-Mode Linux runs
    the numbers as 64-bit ones), "unavailable" (no compat ABI or backend entry), "died". The
    getpid answer decides, as it is the path itself; config and boot parameter are recorded
    beside it and a disagreement is noted."""
    sources, says = [], None
    cfg = _reading(markers, "CONFIG_IA32_EMULATION")
    off_default = _reading(markers, "CONFIG_IA32_EMULATION_DEFAULT_DISABLED")
    boot = parse_ia32_cmdline(cmdline)
    if cfg.get("known"):
        if cfg.get("value") in ("y", "m"):
            says = True
            sources.append(f"CONFIG_IA32_EMULATION={cfg['value']} ({cfg['source']})")
            if off_default.get("known") and off_default.get("value") == "y":
                says = False
                sources.append(f"CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y ({off_default['source']})")
        else:
            says = False
            sources.append(f"CONFIG_IA32_EMULATION not set ({cfg['source']})")
    else:
        sources.append(f"CONFIG_IA32_EMULATION unknown ({cfg.get('source')})")
    if boot is not None:
        sources.append(f"/proc/cmdline ia32_emulation={'1' if boot else '0'}")
        built = cfg.get("value") in ("y", "m") if cfg.get("known") else None
        if built is not False:        # the parameter switches a built emulation on or off
            says = boot
    sym = _reading(markers, "kallsyms.__ia32_compat_sys_socketcall")
    if sym.get("known") and sym.get("value") is True:
        sources.append(f"__ia32_compat_sys_socketcall in {sym['source']}")
    sources.append(f"int $0x80 getpid: {getpid_detail}")
    value = getpid == "ok"
    if getpid == "ok":
        source = "int $0x80 getpid returned the caller's pid (outside the socket layer)"
    else:
        source = getpid_detail
    disagree = None
    if getpid in ("ok", "sigsegv") and says is not None and says != value:
        decided = [s for s in sources if s.startswith(("CONFIG_", "/proc/cmdline"))]
        disagree = (f"{'; '.join(decided)} {'say' if len(decided) > 1 else 'says'} the IA32 "
                    f"emulation is {'on' if says else 'off'} but int $0x80 getpid {getpid_detail}")
    return {"value": value, "source": source, "sources": sources, "disagree": disagree}


def show(decision: dict) -> str:
    v = decision.get("value")
    text = {True: "yes", False: "no", None: "unknown"}.get(v, str(v)) if not isinstance(v, int) \
        or isinstance(v, bool) else str(v)
    out = f"{text} ({decision.get('source')})"
    if decision.get("disagree"):
        out += f"; SOURCES DISAGREE: {decision['disagree']}"
    return out
