"""The private network namespace each test process works in, and its sysctls.

Per-namespace sysctls (net.core.somaxconn, net.ipv4.ip_local_port_range,
net.ipv4.ip_unprivileged_port_start, ...) are only ever written after this process entered a
namespace of its own: ``write_sysctl`` refuses otherwise, so a host sysctl cannot be changed.

Two ways in (``enter_private``), and the mode is recorded in the profile:

- ``netns`` -- "private netns (root)": unshare(CLONE_NEWNET), for a process that holds
  CAP_SYS_ADMIN. The namespace is owned by the initial user namespace, so capable() and
  ns_capable(net->user_ns) agree and the process keeps its capabilities.
- ``userns`` -- "user+net namespace (unprivileged)": an ordinary user, where unprivileged
  user namespaces are allowed, does unshare(CLONE_NEWUSER | CLONE_NEWNET) and maps its uid and
  gid to themselves (setgroups denied first: user_namespaces(7)), so getuid() and the file
  system see the same ids as before. unshare gave it every capability in the new user
  namespace; after bringing lo up it drops them all from the effective set, so the process
  is as unprivileged as before for the socket calls under test (capable() in the initial
  namespace and ns_capable(net->user_ns) both fail) and the profile still says "no
  capabilities". CAP_NET_ADMIN alone stays in the permitted set: ``write_sysctl`` raises it
  into the effective set around the write, because net_ctl_permissions()
  (net/sysctl_net.c) gives the file's owner mode to everyone only for a holder of
  CAP_NET_ADMIN over the namespace (the files are owned by root, whom the map leaves out).
"""
from __future__ import annotations

import os
import struct

from .kernel import Kernel, default
from .mem import HeapAllocator

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

MODES = {"netns": "private netns (root)", "userns": "user+net namespace (unprivileged)"}

_state = {"private": False, "mode": "host", "reason": "not attempted"}
# Sysctls read before leaving the initial namespace. Some net.* sysctls are global, not per
# namespace (net.core.rmem_max and friends on 6.1): a new namespace has no file for them, yet
# the initial namespace's value is the one the kernel applies there.
_outside: dict[str, str] = {}
# The groups as the kernel holds them (struct group_info keeps kgids): read before entering a
# user namespace, where getgroups() shows the unmapped ones as the overflow gid.
_outside_groups: tuple[int, ...] = ()

# Sysctls that belong to each network namespace in every kernel the suite knows (5.10 on).
# Where one has no file in the namespace it is hidden, not global: before 6.2 net/core's were
# not exported to a namespace owned by another user namespace than the initial one
# (sysctl_core_net_init(): "Don't export any sysctls to unprivileged users", removed by
# "sysctl: expose all net/core sysctls inside netns"). The namespace then uses its own
# value (the one a new namespace starts with), never the initial namespace's.
PER_NAMESPACE = frozenset({
    "net.core.somaxconn",
    "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ping_group_range",
    "net.unix.max_dgram_qlen",
})
# Sysctls whose values are group ids of the reader's user namespace: ipv4_ping_group_range()
# shows a gid the namespace does not map as the overflow gid (from_kgid_munged()).
GID_VALUED = frozenset({"net.ipv4.ping_group_range"})

USERNS_KNOBS = (
    ("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"),
    ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
     "kernel.apparmor_restrict_unprivileged_userns"),
)


def is_private() -> bool:
    return _state["private"]


def status() -> dict:
    return dict(_state)


def mode() -> str:
    """"netns", "userns" or "host"."""
    return _state["mode"]


def describe(mode: str, reason: str) -> str:
    """The mode as the summary says it: "private netns (root)", "user+net namespace
    (unprivileged)", or "host namespace: <why>"."""
    return MODES.get(mode) or f"host namespace: {reason}"


def read_proc(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def userns_knobs(read=read_proc) -> dict[str, str]:
    """The settings that allow or restrict unprivileged user namespaces, where present:
    Debian's and Ubuntu's kernel.unprivileged_userns_clone, user.max_user_namespaces, and
    Ubuntu's AppArmor restriction (unshare works, but the new namespace gets no capabilities
    unless a profile allows it)."""
    found = {}
    for path, name in USERNS_KNOBS:
        value = read(path)
        if value is not None:
            found[name] = value
    return found


def in_initial_userns(read=read_proc) -> bool:
    """Whether this process is in the initial user namespace (its uid_map maps every id to
    itself; a kernel without user namespaces has no uid_map)."""
    id_map = read("/proc/self/uid_map")
    return id_map is None or id_map.split() == ["0", "0", "4294967295"]


def plan(has_sys_admin: bool, initial_userns: bool = True, read=read_proc,
         held: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str]:
    """Which ways in to try, in order, and why none is left when the tuple is empty.

    "netns": unshare(CLONE_NEWNET) in the initial user namespace, capabilities kept.
    "netns-in-userns": unshare(CLONE_NEWNET) in the non-initial user namespace this process
    is in already (made by the xdist controller, or a container's), capabilities dropped.
    "userns": unshare(CLONE_NEWUSER | CLONE_NEWNET), capabilities dropped.
    A holder of CAP_SYS_ADMIN unshares the network namespace alone; anyone else needs a user
    namespace first, unless a setting switches unprivileged ones off, or unless it holds
    capabilities the privilege-dependent checks use (``held``, e.g. root in a container
    without CAP_SYS_ADMIN): a user namespace would take them away over the initial one."""
    if has_sys_admin:
        return ("netns" if initial_userns else "netns-in-userns", "userns"), ""
    if held:
        return (), (f"no user namespace: it would drop {', '.join(held)}, which the "
                    "privilege-dependent checks use, and CAP_SYS_ADMIN is missing for "
                    "unshare(CLONE_NEWNET)")
    knobs = userns_knobs(read)
    for name in ("kernel.unprivileged_userns_clone", "user.max_user_namespaces"):
        if knobs.get(name) == "0":
            return (), f"unprivileged user namespaces are off ({name} = 0)"
    return ("userns",), ""


def enter_private(k: Kernel | None = None, modes: tuple[str, ...] | None = None) -> bool:
    """Enter a private network namespace (plan() chooses how, unless ``modes`` says) and
    bring loopback up. Returns whether it worked; the mode and the reason are kept for the
    profile."""
    global _outside_groups
    if _state["private"]:
        return True
    k = k or default()
    from . import privilege
    from .abi import linux as L
    from .profile import SYSCTLS
    for name in SYSCTLS:
        value = read_sysctl(name)
        if value is not None:
            _outside[name] = value
    _outside_groups = _groups_now()
    if modes is None:
        modes, why = plan(privilege.has_cap(L.CAP_SYS_ADMIN, k), in_initial_userns(),
                          held=_held(k))
    else:
        why = "no mode asked for"
    failures = []
    for m in modes:
        enter = {"netns": _enter_netns, "netns-in-userns": _enter_netns_in_userns,
                 "userns": _enter_userns}[m]
        # a user namespace half made (ids unmapped, lo down: AppArmor's restriction lets
        # unshare succeed and refuses the rest) would break every test: rehearse it first
        err = _rehearse(enter, k) if m != "netns" else None
        if err is None:
            err = enter(k)
        if err is None:
            return True
        failures.append(err)
        if _state["mode"] != "host":
            break          # unshare succeeded, a later step did not: no second try from here
    _state.update(private=False, mode="host", reason="; ".join(failures) or why)
    return False


def _rehearse(enter, k: Kernel) -> str | None:
    """Run ``enter`` in a forked child: its error, or None when it got all the way."""
    from .child import run_in_child
    res = run_in_child(lambda: enter(k), timeout=10)
    return res.value if res.ok else f"entering in a child: {res.describe()}"


# Set by the xdist controller (prepare_userns_for_workers) for the workers it starts in its
# user namespace: their groups as the kernel holds them, which getgroups() there cannot show.
GROUPS_ENV = "SOCKSPEC_KERNEL_GROUPS"


def _held(k: Kernel) -> tuple[str, ...]:
    """The capabilities the suite's privilege matrix uses that this process holds."""
    from . import privilege
    return tuple(privilege.cap_names(privilege.effective_caps(k)))


def _groups_now() -> tuple[int, ...]:
    if not in_initial_userns() and os.environ.get(GROUPS_ENV):
        return tuple(int(g) for g in os.environ[GROUPS_ENV].split(","))
    return tuple(sorted({os.getegid(), *os.getgroups()}))


def _enter_netns(k: Kernel) -> str | None:
    r = k.raw(k.native_abi.nr("unshare"), CLONE_NEWNET)
    if not r.ok:
        return f"unshare(CLONE_NEWNET) failed: {r.errname}"
    _state["mode"] = "netns"
    err = _loopback_up(k)
    if err:
        return f"entered a namespace but could not bring lo up: {err}"
    _state.update(private=True, mode="netns",
                  reason=f"{MODES['netns']}: unshare(CLONE_NEWNET), lo up")
    return None


def _enter_netns_in_userns(k: Kernel) -> str | None:
    r = k.raw(k.native_abi.nr("unshare"), CLONE_NEWNET)
    if not r.ok:
        return f"unshare(CLONE_NEWNET) in this user namespace failed: {r.errname}"
    _state["mode"] = "userns"
    err = _loopback_up(k)
    if err:
        return f"entered a network namespace but could not bring lo up: {err}"
    _drop_caps(k)
    who = "the xdist controller's" if os.environ.get(GROUPS_ENV) else "a non-initial"
    _state.update(private=True, mode="userns", reason=(
        f"{MODES['userns']}: unshare(CLONE_NEWNET) in {who} user namespace "
        f"(uid_map: {' '.join((read_proc('/proc/self/uid_map') or '').split())}), lo up, "
        + _DROPPED))
    return None


_DROPPED = ("every capability dropped from the effective set (CAP_NET_ADMIN stays permitted, "
            "raised only to write net.* sysctls)")


def _drop_caps(k: Kernel) -> None:
    from . import privilege
    from .abi import linux as L
    privilege.set_caps(k, effective=(), permitted=(L.CAP_NET_ADMIN,))


def _new_userns(k: Kernel, flags: int) -> str | None:
    """unshare(CLONE_NEWUSER | flags) and map this uid and gid to themselves."""
    uid, gid = os.geteuid(), os.getegid()
    names = "|".join(n for n, f in (("CLONE_NEWUSER", CLONE_NEWUSER), ("CLONE_NEWNET", CLONE_NEWNET))
                     if flags & f or f == CLONE_NEWUSER)
    r = k.raw(k.native_abi.nr("unshare"), CLONE_NEWUSER | flags)
    if not r.ok:
        why = f"unshare({names}) failed: {r.errname}"
        if r.errname == "EINVAL" and _threads() > 1:
            why += f" (this process has {_threads()} threads; a user namespace takes one)"
        knobs = userns_knobs()
        return why + (f" ({', '.join(f'{n} = {v}' for n, v in knobs.items())})" if knobs else "")
    _state["mode"] = "userns"
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    except OSError as exc:
        return f"entered a user namespace but could not map uid {uid}/gid {gid}: {exc.strerror}"
    return None


def _enter_userns(k: Kernel) -> str | None:
    err = _new_userns(k, CLONE_NEWNET)
    if err:
        return err
    err = _loopback_up(k)
    if err:
        restricted = userns_knobs().get("kernel.apparmor_restrict_unprivileged_userns") == "1"
        return (f"entered a user+net namespace but could not bring lo up: {err}"
                + (" (kernel.apparmor_restrict_unprivileged_userns = 1)" if restricted else ""))
    _drop_caps(k)
    uid, gid = os.geteuid(), os.getegid()
    _state.update(private=True, mode="userns", reason=(
        f"{MODES['userns']}: unshare(CLONE_NEWUSER|CLONE_NEWNET), uid {uid} and gid {gid} "
        f"mapped to themselves, lo up, {_DROPPED}"))
    return None


PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2


def prepare_userns_for_workers(k: Kernel | None = None) -> str | None:
    """For an unprivileged xdist controller: the workers it starts are multithreaded (execnet)
    and unshare(CLONE_NEWUSER) refuses a multithreaded caller, so the controller, still
    single-threaded, makes the user namespace (ids mapped to themselves) and hands
    CAP_SYS_ADMIN and CAP_NET_ADMIN to the workers as ambient capabilities, which survive
    their execve. Each worker then unshares a network namespace of its own in it and drops
    them (plan(): "netns-in-userns"). The controller runs no test. Returns why it could not,
    kept as the reason (the workers, with threads, cannot make one either); None when done or
    when there is nothing to do (a holder of CAP_SYS_ADMIN, user namespaces switched off)."""
    from . import privilege
    from .abi import linux as L
    k = k or default()
    if privilege.has_cap(L.CAP_SYS_ADMIN, k):
        return None
    modes, why = plan(False, held=_held(k))
    if not modes:
        return None                    # the workers find the same reason themselves
    groups = _groups_now()
    err = _rehearse(lambda k: _new_userns(k, 0), k) or _new_userns(k, 0)
    if err:
        _state.update(mode="host", reason=f"the xdist controller could not make a user "
                                          f"namespace for its workers: {err}")
        return err
    _state["mode"] = "host"        # the controller's network namespace is still the initial one
    caps = (L.CAP_SYS_ADMIN, L.CAP_NET_ADMIN)
    mask = sum(1 << c for c in caps)
    privilege._capset(k, mask, mask, mask)      # ambient needs permitted and inheritable
    for cap in caps:
        r = k.raw(k.native_abi.nr("prctl"), PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)
        if not r.ok:
            _state["reason"] = ("the xdist controller could not hand capabilities to its "
                                f"workers: prctl(PR_CAP_AMBIENT_RAISE) failed: {r.errname}")
            return _state["reason"]
    os.environ[GROUPS_ENV] = ",".join(map(str, groups))
    return None


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


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
    file in a new namespace, the value read before leaving the initial one. None where the
    value cannot be known: a per-namespace sysctl hidden from this namespace, or group ids
    this user namespace does not map (``unknown_sysctls`` says why)."""
    value = read_sysctl(name)
    if value is None:
        return None if name in PER_NAMESPACE else _outside.get(name)
    if name in GID_VALUED and _unmapped_gid_in(value):
        return None
    return value


def unknown_sysctls(names) -> list[str]:
    """Why each of ``names`` that ``read_sysctl_or_global`` cannot give has no value."""
    out = []
    for name in names:
        value = read_sysctl(name)
        if value is None and name in PER_NAMESPACE:
            out.append(f"{name} is per namespace but has no file in this one (not exported "
                       "to a namespace owned by a non-initial user namespace before 6.2)")
        elif value is not None and name in GID_VALUED and _unmapped_gid_in(value):
            out.append(f"{name} reads {' '.join(value.split())}: gids this user namespace "
                       "does not map show as the overflow gid (a new namespace starts "
                       "with 1 0, inet_init_net())")
    return out


def _unmapped_gid_in(value: str) -> bool:
    """Whether a gid list read here contains the overflow gid while this user namespace maps
    no such gid: then the kernel's value is not what the file shows."""
    if _state["mode"] != "userns":
        return False
    overflow = read_proc("/proc/sys/kernel/overflowgid")
    if overflow is None or overflow not in value.split():
        return False
    return not _maps(read_proc("/proc/self/gid_map") or "", int(overflow))


def _maps(id_map: str, inside: int) -> bool:
    """Does the id map (/proc/PID/uid_map format: inside outside count) map ``inside``?"""
    for line in id_map.splitlines():
        parts = line.split()
        if len(parts) == 3 and int(parts[0]) <= inside < int(parts[0]) + int(parts[2]):
            return True
    return False


def kernel_groups() -> tuple[int, ...]:
    """This process's egid and supplementary groups as the kernel compares them (kgids, the
    initial namespace's numbers): in a user namespace, the ones read before entering it."""
    if _state["mode"] == "userns":
        return _outside_groups
    return _groups_now()


def why_not_writable(name: str) -> str | None:
    """Why ``write_sysctl(name)`` cannot work here, or None."""
    if not _state["private"]:
        return f"changing {name} needs a private network namespace ({_state['reason']})"
    if read_sysctl(name) is None:
        return (f"{name} has no file in this namespace ({describe(_state['mode'], '')}; "
                "net.core sysctls are not exported to a namespace owned by a non-initial user "
                "namespace before 6.2)")
    return None


def write_sysctl(name: str, value) -> None:
    """Write a per-namespace sysctl. Refuses outside a private namespace. In a user
    namespace CAP_NET_ADMIN is effective for the write only (net_ctl_permissions())."""
    if not _state["private"]:
        raise PermissionError(f"refusing to write {name}: not in a private network namespace")
    if not name.startswith("net."):
        raise PermissionError(f"refusing to write {name}: only per-netns net.* sysctls are written")
    if isinstance(value, (tuple, list)):
        value = "\t".join(str(v) for v in value)
    if _state["mode"] == "userns":
        from . import privilege
        from .abi import linux as L
        with privilege.raised(L.CAP_NET_ADMIN):
            _write(_path(name), str(value))
    else:
        _write(_path(name), str(value))


def can_unshare() -> tuple[bool, str]:
    """Whether a private network namespace could be entered, and how (tried in a child)."""
    from .child import run_in_child

    def probe():
        entered = enter_private(Kernel(default().backend))
        return entered, describe(_state["mode"], _state["reason"])

    res = run_in_child(probe, timeout=10)
    if not res.ok:
        return False, f"probe child {res.describe()}"
    entered, how = res.value
    return entered, (f"{how} would work" if entered else how)
