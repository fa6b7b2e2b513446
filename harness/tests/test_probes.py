"""No probe adopts the behaviour under test (issue 12, item 1): the profile decides families,
AF_MAX and the compat path from the kernel's config, kallsyms, /proc/net/protocols, the boot
command line and int $0x80 getpid, and a kernel that lies in its socket calls turns the run red
with both facts named, instead of making the profile say "absent" and the tests skip."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from harness import decide
from harness.abi import linux as L
from harness.check import Mismatch, Scenario
from harness.kernel import Kernel, load_backend
from harness.model import Model
from harness.profile import probe, probe_compat

from lying_kernel import LyingBackend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cfg(value, source="/boot/config-test"):
    return {"value": value, "source": source, "known": True}


UNKNOWN = {"value": None, "source": "no kernel config", "known": False}


def sym(present=True):
    return {"value": True, "source": "/proc/kallsyms", "known": True} if present else \
        {"value": False, "source": "not in /proc/kallsyms: absence proves nothing", "known": False}


# --------------------------------------------------------------------------- families

def test_family_config_y_decides_and_names_its_source():
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": cfg("y")}, ("TCP", "TCPv6", "UDPv6"), (6, 1, 0))
    assert d["value"] is True and d["source"] == "CONFIG_IPV6=y (/boot/config-test)"
    assert d["disagree"] is None


def test_family_module_not_loaded_yet_is_present():
    """=m: socket() autoloads it, so /proc/net/protocols not listing it yet is no disagreement."""
    d = decide.decide_family("AF_PACKET", {"CONFIG_PACKET": cfg("m"), "kallsyms.packet_create": sym(False)},
                             ("TCP", "UDP"), (6, 1, 0))
    assert d["value"] is True and d["disagree"] is None
    assert any("module" in s for s in d["sources"])


def test_family_built_in_but_not_registered_is_a_recorded_disagreement():
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": cfg("y")}, ("TCP", "UDP"), (6, 1, 0))
    assert d["value"] is True
    assert "CONFIG_IPV6=y" in d["disagree"] and "/proc/net/protocols" in d["disagree"]


def test_family_config_unset_but_registered_keeps_the_runtime_evidence():
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": cfg(None)}, ("TCPv6", "UDPv6"), (6, 1, 0))
    assert d["value"] is True and "not set" in d["disagree"]


def test_family_absent_only_by_config():
    """Without a config nothing says absent: the model then expects the family to work."""
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": UNKNOWN, "kallsyms.inet6_create": sym(False)},
                             ("TCP", "UDP"), (6, 1, 0))
    assert d["value"] is None
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": cfg(None)}, ("TCP", "UDP"), (6, 1, 0))
    assert d["value"] is False and "CONFIG_IPV6 not set" in d["source"]
    d = decide.decide_family("AF_INET6", {"CONFIG_IPV6": UNKNOWN, "kallsyms.inet6_create": sym()}, None, (6, 1, 0))
    assert d["value"] is True and "inet6_create" in d["source"]


def test_removed_and_never_implemented_families():
    assert decide.decide_family("AF_NETBEUI", {}, (), (5, 10, 0))["value"] is False
    assert decide.decide_family("AF_DECnet", {"CONFIG_DECNET": UNKNOWN}, (), (6, 12, 0))["value"] is False
    assert decide.decide_family("AF_DECnet", {"CONFIG_DECNET": UNKNOWN}, (), (5, 10, 0))["value"] is None


# --------------------------------------------------------------------------- AF_MAX

@pytest.mark.parametrize("version,af_max", [((5, 10, 223), 45), ((5, 15, 0), 46), ((4, 19, 0), 45),
                                            ((4, 14, 0), 44), ((6, 18, 44), 46), ((7, 2, 13), 46)])
def test_af_max_comes_from_the_header_history(version, af_max):
    d = decide.decide_af_max(version)
    assert d["value"] == af_max and "include/linux/socket.h" in d["source"]


def test_af_max_table_matches_the_installed_header():
    """The newest entry agrees with the C library's copy of the kernel's list when present."""
    import re
    for path in ("/usr/include/x86_64-linux-gnu/bits/socket.h", "/usr/include/bits/socket.h"):
        if os.path.exists(path):
            m = re.search(r"#define\s+PF_MAX\s+(\d+)", open(path).read())
            if m:
                newest = decide.AF_MAX_HISTORY[0][1]
                assert int(m.group(1)) <= newest
                return
    pytest.skip("no bits/socket.h installed")


# --------------------------------------------------------------------------- compat

def test_ia32_emulation_boot_parameter():
    assert decide.parse_ia32_cmdline("quiet ia32_emulation=0") is False
    assert decide.parse_ia32_cmdline("ia32_emulation=true root=/dev/sda") is True
    assert decide.parse_ia32_cmdline("quiet -- ia32_emulation=0") is None   # init's arguments
    assert decide.parse_ia32_cmdline(None) is None


def test_compat_decided_by_getpid_with_config_beside_it():
    m = {"CONFIG_IA32_EMULATION": cfg("y")}
    d = decide.decide_compat(m, "quiet", "ok", "returned the pid 7")
    assert d["value"] is True and d["disagree"] is None
    d = decide.decide_compat(m, "ia32_emulation=0", "sigsegv", "killed by SIGSEGV")
    assert d["value"] is False and d["disagree"] is None
    d = decide.decide_compat(m, "quiet", "sigsegv", "killed by SIGSEGV")
    assert d["value"] is False and "CONFIG_IA32_EMULATION=y" in d["disagree"]
    d = decide.decide_compat({"CONFIG_IA32_EMULATION": cfg("y"),
                              "CONFIG_IA32_EMULATION_DEFAULT_DISABLED": cfg("y")}, "ia32_emulation=1",
                             "ok", "returned the pid 7")
    assert d["value"] is True and d["disagree"] is None


def test_broken_socketcall_does_not_make_the_profile_say_no_compat_path():
    """socketcall answers ENOSYS to everything, getpid through int $0x80 works: the path is
    there (the old probe's socketcall(0) made this "unavailable" and 84 tests skip)."""
    k = Kernel(LyingBackend(load_backend(), ["socketcall"]))
    ok, why = probe_compat(k)
    assert ok, why
    assert "getpid" in why


def lying_profile(lies, monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_IPV6=y\nCONFIG_UNIX=y\n"
                      "CONFIG_PACKET=y\nCONFIG_IA32_EMULATION=y\n")
    monkeypatch.setenv("SOCKSPEC_KERNEL_CONFIG", str(config))
    k = Kernel(LyingBackend(load_backend(), lies))
    return k, probe(k), str(config)


def test_profile_does_not_adopt_a_lying_socket_call(monkeypatch, tmp_path):
    k, p, config = lying_profile(["ipv6", "socketcall"], monkeypatch, tmp_path)
    assert p.families["AF_INET6"] is True
    assert p.family_basis(L.AF_INET6) == f"CONFIG_IPV6=y ({config})"
    assert p.compat_available is True
    assert f"CONFIG_IPV6=y ({config})" in p.render()


def test_lying_ipv6_fails_with_both_facts(monkeypatch, tmp_path):
    k, p, config = lying_profile(["ipv6"], monkeypatch, tmp_path)
    records = []
    sc = Scenario(k, Model(p), records.append, "test_probes")
    with pytest.raises(Mismatch) as exc:
        sc.socket(L.AF_INET6, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)
    msg = str(exc.value)
    assert f"CONFIG_IPV6=y ({config}) but socket(AF_INET6" in msg and "answered EAFNOSUPPORT" in msg
    assert records[-1]["verdict"] == "fail" and "CONFIG_IPV6=y" in records[-1]["message"]


def test_lying_socketcall_fails_with_both_facts(monkeypatch, tmp_path):
    k, p, _ = lying_profile(["socketcall"], monkeypatch, tmp_path)
    sc = Scenario(k, Model(p), None, "test_probes")
    with pytest.raises(Mismatch) as exc:
        sc.socketcall(L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_STREAM, 0], via="socketcall")
    msg = str(exc.value)
    assert "ENOSYS" in msg and "int $0x80 getpid" in msg and "the compat path works" in msg


# --------------------------------------------------------------------------- whole runs

def run_suite(tmp_path, lies, *args, config=True):
    env = dict(os.environ, SOCKSPEC_LIE=",".join(lies))
    if config:
        path = tmp_path / "config"
        path.write_text("CONFIG_NET=y\nCONFIG_INET=y\nCONFIG_IPV6=y\nCONFIG_UNIX=y\n"
                        "CONFIG_PACKET=y\nCONFIG_IA32_EMULATION=y\n")
        env["SOCKSPEC_KERNEL_CONFIG"] = str(path)
    run_dir = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.tests.lying_kernel", f"--sockspec-run-dir={run_dir}",
                        "-o", "addopts=", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    records = [json.loads(line) for line in open(run_dir / "results.jsonl")] \
        if (run_dir / "results.jsonl").exists() else []
    return r, records


def test_run_with_broken_socketcall_is_red_not_skipped(tmp_path):
    r, records = run_suite(tmp_path, ["socketcall"], "suite/test_socketcall.py", "-k", "dispatch")
    assert r.returncode != 0, r.stdout[-2000:]
    tests = [t for t in records if t.get("kind") == "test"]
    assert tests and not [t for t in tests if t["outcome"] == "skipped"], r.stdout[-2000:]
    assert [t for t in tests if t["outcome"] == "failed"]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing and all("ENOSYS" in c["message"] for c in failing)
    assert any("the compat path works" in c["message"] for c in failing)


def test_run_with_missing_ipv6_is_red_with_both_facts(tmp_path):
    r, records = run_suite(tmp_path, ["ipv6"], "suite/test_socket.py", "-k", "inet6-stream")
    assert r.returncode != 0, r.stdout[-2000:]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing
    assert all("CONFIG_IPV6=y" in c["message"] and "answered EAFNOSUPPORT" in c["message"]
               for c in failing)
    assert "CONFIG_IPV6=y" in r.stdout and "EAFNOSUPPORT" in r.stdout


def test_setup_call_must_succeed(monkeypatch, tmp_path):
    """A setup call whose error the model allows still stops the test, naming call and errno."""
    from suite.endpoints import SetupError, setup_ok
    k, p, _ = lying_profile([], monkeypatch, tmp_path)
    sc = Scenario(k, Model(p), None, "test_probes")
    with pytest.raises(SetupError, match=r"setup call close\(32767\) failed: .*EBADF"):
        setup_ok(sc, sc.close(32767))


def test_setup_error_is_reported_as_a_pytest_error(tmp_path):
    (tmp_path / "test_setup_error.py").write_text(
        "from suite.endpoints import SetupError\n"
        "def test_it():\n"
        "    raise SetupError('setup call socket(AF_INET6, SOCK_STREAM, 0) failed: -1 EAFNOSUPPORT')\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tmp_path / "test_setup_error.py")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 error" in r.stdout and "EAFNOSUPPORT" in r.stdout, r.stdout
