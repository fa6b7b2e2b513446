"""The session profile is probed, never assumed; a broken compat path is reported, not fatal."""
import json
import os
import signal
import subprocess
import sys

import pytest

from harness.kernel import Kernel, load_backend
from harness.profile import Profile, parse_version, probe, probe_compat


class FakeBackend:
    """A backend whose int $0x80 path misbehaves the way real systems do."""
    name = "fake"
    has_compat = True

    def __init__(self, real, compat):
        self._real, self._compat = real, compat

    def raw(self, *args):
        return self._real.raw(*args)

    def compat(self, *args):
        return self._compat(*args)


@pytest.fixture(scope="module")
def real():
    return load_backend()


def test_probe_fields(real):
    p = probe(Kernel(real))
    assert p.kernel_version == parse_version(os.uname().release)
    assert p.af_max and p.af_max > 40
    assert p.families["AF_UNIX"] is True and p.families["AF_NETBEUI"] is False
    assert p.somaxconn > 0 and p.uid == os.getuid()
    assert "compat path" in p.summary()
    again = Profile.from_json(json.loads(json.dumps(p.to_json())))
    assert again == p


def test_compat_uml_misrouting_is_reported(real):
    """User-Mode Linux runs int $0x80 numbers as 64-bit ones: 102 is getuid and returns 0."""
    k = Kernel(FakeBackend(real, lambda nr, *a: (0, 0)))
    ok, why = probe_compat(k)
    assert not ok and "not routed as i386" in why


def test_compat_sigsegv_is_reported(real):
    """Without IA32 emulation int $0x80 kills the caller: the probe runs in a child."""
    def die(*args):
        os.kill(os.getpid(), signal.SIGSEGV)
    ok, why = probe_compat(Kernel(FakeBackend(real, die)))
    assert not ok and "SIGSEGV" in why


def test_parse_version():
    assert parse_version("6.1.0-47-amd64") == (6, 1, 0)
    assert parse_version("6.12.117+deb12-amd64") == (6, 12, 117)
    assert parse_version("6.18.44-fc-v669") == (6, 18, 44)
    assert parse_version("weird") == (0, 0, 0)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_profile_readable_and_json():
    r = run_cli("profile")
    assert r.returncode == 0 and "compat path" in r.stdout and "AF_MAX" in r.stdout
    r = run_cli("profile", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["arch"]


@pytest.mark.parametrize("args", [["--backend", "rust", "profile"], ["nonsense"], [],
                                  ["profile", "--bogus"]])
def test_cli_bad_input_exits_2_without_traceback(args):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_kernel_version_reads_the_stable_number():
    """Debian's release string hides the stable version that backports are keyed on."""
    from harness.profile import kernel_version
    assert kernel_version("6.1.0-50-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-06-01)") == (6, 1, 176)
    assert kernel_version("5.10.0-32-amd64", "#1 SMP Debian 5.10.223-1 (2024-08-10)") == (5, 10, 223)
    assert kernel_version("7.2.13+deb14-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 7.2.13-1") == (7, 2, 13)
    assert kernel_version("5.15.0-91-generic", "#101-Ubuntu SMP", "Ubuntu 5.15.0-91.101-generic 5.15.131") == (5, 15, 131)
    assert kernel_version("6.18.44-fc-v1252", "#1 SMP PREEMPT_DYNAMIC @0") == (6, 18, 44)
    assert kernel_version("6.1.0-50-amd64", "#1 Debian 6.2.1-1") == (6, 1, 0)    # another series: ignored
