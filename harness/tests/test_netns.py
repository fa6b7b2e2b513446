"""How the suite's network namespace is made (harness/netns.py): the mode decision from the
settings in /proc (fake readers), and entering each mode in a forked child, where an ordinary
user's user+net namespace must leave it exactly as unprivileged as before for the socket calls
while per-namespace sysctls can be written."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading

import pytest

from harness import netns, privilege
from harness.abi import linux as L
from harness.child import run_in_child
from harness.kernel import Kernel, load_backend
from model_profile import profile as hand_profile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER = 4242                  # an ordinary uid/gid the forked children become (root only)


def reader(files: dict):
    return lambda path: files.get(path)


CLONE = "/proc/sys/kernel/unprivileged_userns_clone"
MAX = "/proc/sys/user/max_user_namespaces"
APPARMOR = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"


# --------------------------------------------------------------------------- the decision

def test_a_holder_of_cap_sys_admin_unshares_the_network_namespace_alone():
    assert netns.plan(True, True, reader({}))[0] == ("netns", "userns")


def test_cap_sys_admin_in_a_non_initial_user_namespace_drops_capabilities_after():
    """The xdist workers (ambient caps from the controller) and a container's root: their
    capabilities do not reach the initial namespace, so the mode is the unprivileged one."""
    assert netns.plan(True, False, reader({}))[0] == ("netns-in-userns", "userns")


def test_an_ordinary_user_needs_a_user_namespace():
    assert netns.plan(False, True, reader({MAX: "96369"})) == (("userns",), "")


def test_capabilities_the_checks_use_are_not_given_up_for_a_user_namespace():
    """Root in a container without CAP_SYS_ADMIN keeps CAP_NET_RAW and its privileged checks
    in the host namespace rather than trade them for a namespace of its own."""
    modes, why = netns.plan(False, True, reader({}), held=("CAP_NET_RAW",))
    assert modes == () and "CAP_NET_RAW" in why


@pytest.mark.parametrize("path,name", [(CLONE, "kernel.unprivileged_userns_clone"),
                                       (MAX, "user.max_user_namespaces")])
def test_a_setting_that_switches_user_namespaces_off_is_named(path, name):
    modes, why = netns.plan(False, True, reader({path: "0", APPARMOR: "0"}))
    assert modes == () and f"{name} = 0" in why


def test_apparmor_restriction_is_tried_and_read():
    """Ubuntu's restriction lets unshare succeed (the namespace then has no capabilities): the
    attempt is made and the setting is there to name when a later step fails."""
    files = {CLONE: "1", MAX: "1000", APPARMOR: "1"}
    assert netns.plan(False, True, reader(files))[0] == ("userns",)
    assert netns.userns_knobs(reader(files)) == {
        "kernel.unprivileged_userns_clone": "1", "user.max_user_namespaces": "1000",
        "kernel.apparmor_restrict_unprivileged_userns": "1"}


@pytest.mark.parametrize("uid_map,initial", [("         0          0 4294967295\n", True),
                                             ("      1003       1003          1\n", False),
                                             ("         0       1003          1\n", False),
                                             (None, True)])
def test_initial_user_namespace_from_uid_map(uid_map, initial):
    assert netns.in_initial_userns(reader({"/proc/self/uid_map": uid_map})) is initial


def test_the_summary_names_the_mode():
    assert netns.describe("netns", "x") == "private netns (root)"
    assert netns.describe("userns", "x") == "user+net namespace (unprivileged)"
    assert netns.describe("host", "unshare failed") == "host namespace: unshare failed"
    p = hand_profile()
    user = dataclasses.replace(p, netns_mode="userns", capabilities=())
    assert "user+net namespace (unprivileged)" in user.summary()
    host = dataclasses.replace(p, netns_private=False, netns_mode="host", netns_reason="no")
    assert "host namespace: no" in host.summary() and host.namespace in host.render()
    old = dataclasses.replace(p, netns_mode="")           # a profile recorded before modes
    assert old.namespace == "private netns"


# --------------------------------------------------------------------------- sysctls

@pytest.fixture
def state(monkeypatch):
    monkeypatch.setattr(netns, "_state", dict(netns._state))
    monkeypatch.setattr(netns, "_outside", {})
    return netns._state


def test_a_hidden_per_namespace_sysctl_never_takes_the_initial_namespace_value(state, monkeypatch):
    """Before 6.2 net.core.somaxconn has no file in a namespace owned by a user namespace:
    the host's value would be a lie; a global sysctl (rmem_max on 6.1) is the host's."""
    state.update(private=True, mode="userns")
    netns._outside.update({"net.core.somaxconn": "512", "net.core.rmem_max": "999"})
    monkeypatch.setattr(netns, "read_sysctl", lambda name: None)
    assert netns.read_sysctl_or_global("net.core.somaxconn") is None
    assert netns.read_sysctl_or_global("net.core.rmem_max") == "999"
    assert "no file in this one" in netns.unknown_sysctls(["net.core.somaxconn"])[0]
    why = netns.why_not_writable("net.core.somaxconn")
    assert why and "no file in this namespace" in why


def test_unmapped_gids_are_not_recorded(state, monkeypatch):
    """ping_group_range 1 0 reads as 65534 65534 where gids 0 and 1 are not mapped; the
    kernel compares the real ids, so the value shown is not recorded."""
    files = {"/proc/sys/kernel/overflowgid": "65534", "/proc/self/gid_map": "1003 1003 1"}
    monkeypatch.setattr(netns, "read_proc", lambda path: files.get(path))
    monkeypatch.setattr(netns, "read_sysctl", lambda name: "65534\t65534")
    state.update(private=True, mode="userns")
    assert netns.read_sysctl_or_global("net.ipv4.ping_group_range") is None
    assert "overflow gid" in netns.unknown_sysctls(["net.ipv4.ping_group_range"])[0]
    monkeypatch.setattr(netns, "read_sysctl", lambda name: "1003 1003")
    assert netns.read_sysctl_or_global("net.ipv4.ping_group_range") == "1003 1003"
    state.update(mode="netns")                 # the initial user namespace maps every gid
    monkeypatch.setattr(netns, "read_sysctl", lambda name: "65534\t65534")
    assert netns.read_sysctl_or_global("net.ipv4.ping_group_range") == "65534\t65534"


def test_writing_needs_a_private_namespace(state):
    state.update(private=False, mode="host", reason="unshare(CLONE_NEWNET) failed: EPERM")
    assert "EPERM" in netns.why_not_writable("net.core.somaxconn")
    with pytest.raises(PermissionError):
        netns.write_sysctl("net.core.somaxconn", 1)


# --------------------------------------------------------------------------- entering, in children

def _become_ordinary_user(k: Kernel) -> None:
    """As root: become uid/gid USER with no capabilities. setresuid() made the process
    non-dumpable, which would leave /proc/self/uid_map owned by root: make it dumpable."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(USER, USER, USER)
    os.setresuid(USER, USER, USER)
    k.raw(k.native_abi.nr("prctl"), 4, 1, 0, 0, 0)          # PR_SET_DUMPABLE


def _bind_port(k: Kernel, port: int) -> str:
    from harness.mem import loopback
    fd = k.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
    try:
        return k.bind(fd, loopback(L.AF_INET, port)).errname
    finally:
        k.close(fd)


def _userns_allowed() -> None:
    modes, why = netns.plan(False)
    if not modes:
        pytest.skip(f"this kernel does not allow the mode under test: {why}")


def test_an_ordinary_user_enters_a_user_and_network_namespace_and_stays_unprivileged():
    _userns_allowed()
    backend = load_backend()

    def child():
        k = Kernel(backend)
        _become_ordinary_user(k)
        uid = os.geteuid()
        entered = netns.enter_private(k)
        out = {"entered": entered, "status": netns.status(), "uid": os.geteuid(),
               "want_uid": uid, "uid_map": open("/proc/self/uid_map").read().split()}
        if not entered:
            return out
        eff, perm, _ = privilege._capget(k)
        out["eff"], out["perm"] = eff, perm
        out["bind80"] = _bind_port(k, 80)                       # EACCES: no capability
        netns.write_sysctl("net.ipv4.ip_unprivileged_port_start", 0)
        out["bind80_after"] = _bind_port(k, 80)                 # this namespace's port 80
        out["eff_after_write"] = privilege._capget(k)[0]
        out["lo_flags"] = open("/sys/class/net/lo/flags").read().strip()
        return out

    res = run_in_child(child, timeout=20)
    assert res.ok, res.describe()
    out = res.value
    assert out["entered"], out["status"]["reason"]
    assert out["status"]["mode"] == "userns"
    assert out["status"]["reason"].startswith("user+net namespace (unprivileged)")
    assert out["uid"] == out["want_uid"] != 0
    assert out["uid_map"] == [str(out["uid"]), str(out["uid"]), "1"]
    assert out["eff"] == 0 and out["perm"] == 1 << L.CAP_NET_ADMIN
    assert out["bind80"] == "EACCES" and out["bind80_after"] == "OK"
    assert out["eff_after_write"] == 0
    assert int(out["lo_flags"], 16) & netns.IFF_UP


def test_the_profile_in_a_user_namespace_says_so():
    _userns_allowed()
    backend = load_backend()

    def child():
        from harness.profile import probe
        k = Kernel(backend)
        _become_ordinary_user(k)
        groups = netns._groups_now()
        netns.enter_private(k)
        return probe(k).to_json(), list(groups)

    res = run_in_child(child, timeout=60)
    assert res.ok, res.describe()
    p, groups = res.value
    assert p["netns_private"] and p["netns_mode"] == "userns"
    assert p["capabilities"] == [] and p["euid"] != 0
    assert p["groups"] == groups                    # the kernel's ids, not the overflow gid
    assert "user+net namespace (unprivileged)" in p["netns_reason"]


def test_a_threaded_process_cannot_make_a_user_namespace_and_says_why():
    _userns_allowed()
    backend = load_backend()

    def child():
        k = Kernel(backend)
        _become_ordinary_user(k)
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, daemon=True)
        t.start()
        try:
            return netns.enter_private(k), netns.status()
        finally:
            stop.set()

    res = run_in_child(child, timeout=20)
    assert res.ok, res.describe()
    entered, status = res.value
    assert not entered and status["mode"] == "host"
    assert "EINVAL" in status["reason"] and "threads" in status["reason"]


def test_workers_of_an_unprivileged_controller_enter_its_user_namespace():
    """The xdist path: the controller makes the user namespace while single-threaded and
    hands CAP_SYS_ADMIN/CAP_NET_ADMIN as ambient capabilities to the processes it execs; a
    multithreaded worker unshares a network namespace in it and drops them."""
    _userns_allowed()
    backend = load_backend()
    script = (
        "import json, threading\n"
        "from harness import netns, privilege\n"
        "from harness.kernel import Kernel, load_backend\n"
        "k = Kernel(load_backend('ctypes'))\n"
        "threading.Thread(target=lambda: None).start()\n"
        "before = privilege._capget(k)\n"
        "entered = netns.enter_private(k)\n"
        "after = privilege._capget(k)\n"
        "print(json.dumps([entered, netns.status(), before[:2], after[:2],"
        " list(netns.kernel_groups())]))\n")

    def child():
        k = Kernel(backend)
        _become_ordinary_user(k)
        # the venv's interpreter may live where the ordinary user cannot go (pyenv under /root)
        python = next((p for p in (sys.executable, "/usr/bin/python3")
                       if os.access(p, os.X_OK)), None)
        if python is None:
            return "skip", None, None
        groups = netns._groups_now()
        why = netns.prepare_userns_for_workers(k)
        if why:
            return why, None, None
        run = subprocess.run([python, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, timeout=30, env=dict(os.environ, PYTHONPATH=ROOT))
        return None, run.stdout + run.stderr, list(groups)

    res = run_in_child(child, timeout=60)
    assert res.ok, res.describe()
    why, output, groups = res.value
    if why == "skip":
        pytest.skip(f"no Python interpreter uid {USER} may execute")
    assert why is None, why
    entered, status, before, after, kernel_groups = json.loads(output.strip().splitlines()[-1])
    both = 1 << L.CAP_SYS_ADMIN | 1 << L.CAP_NET_ADMIN
    assert before == [both, both]                    # the ambient set survived execve
    assert entered and status["mode"] == "userns", status["reason"]
    assert "xdist controller's user namespace" in status["reason"]
    assert after == [0, 1 << L.CAP_NET_ADMIN]
    assert kernel_groups == groups


def test_root_keeps_the_plain_network_namespace():
    if not privilege.has_cap(L.CAP_SYS_ADMIN) or not netns.in_initial_userns():
        pytest.skip("needs CAP_SYS_ADMIN in the initial user namespace (run as root)")
    backend = load_backend()

    def child():
        k = Kernel(backend)
        entered = netns.enter_private(k)
        return entered, netns.status(), privilege._capget(k)[0]

    res = run_in_child(child, timeout=20)
    assert res.ok, res.describe()
    entered, status, eff = res.value
    assert entered and status["mode"] == "netns"
    assert status["reason"].startswith("private netns (root)")
    assert eff >> L.CAP_NET_RAW & 1                  # root's capabilities are kept


def test_a_controller_that_cannot_make_the_user_namespace_keeps_the_reason():
    """The header's profile must not claim a namespace the workers cannot have."""
    _userns_allowed()
    backend = load_backend()

    def child():
        k = Kernel(backend)
        _become_ordinary_user(k)
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
        try:
            return netns.prepare_userns_for_workers(k), netns.status()
        finally:
            stop.set()

    res = run_in_child(child, timeout=20)
    assert res.ok, res.describe()
    why, status = res.value
    assert why and "EINVAL" in why
    assert status["mode"] == "host" and not status["private"]
    assert status["reason"].startswith("the xdist controller could not make a user namespace")


def test_a_half_made_user_namespace_is_never_entered():
    """Where unshare succeeds and bringing lo up does not (AppArmor's restriction), the
    attempt in a child fails and this process stays where it was, with the reason."""
    _userns_allowed()
    backend = load_backend()

    def child():
        k = Kernel(backend)
        _become_ordinary_user(k)
        netns._loopback_up = lambda k: "SIOCSIFFLAGS: EPERM"
        before = os.readlink("/proc/self/ns/user"), os.readlink("/proc/self/ns/net")
        entered = netns.enter_private(k, modes=("userns",))
        after = os.readlink("/proc/self/ns/user"), os.readlink("/proc/self/ns/net")
        return entered, netns.status(), before == after

    res = run_in_child(child, timeout=20)
    assert res.ok, res.describe()
    entered, status, stayed = res.value
    assert not entered and stayed and status["mode"] == "host"
    assert "could not bring lo up: SIOCSIFFLAGS: EPERM" in status["reason"]
