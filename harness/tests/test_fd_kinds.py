"""The catalogue of descriptor kinds (suite/fdkinds.py): what the profile decides about each,
and that the suite's every-call-on-every-kind test goes red on a kernel that answers ENOTSOCK
for an O_PATH descriptor (harness/tests/lying_kernel.py ``o-path-enotsock``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.abi.markers import CATALOGUE
from suite import fdkinds

from model_profile import profile as hand_built

PROFILE = hand_built()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def with_(profile, **changes):
    from dataclasses import replace
    return replace(profile, **changes)


def test_every_kind_named_once_and_its_config_is_a_marker():
    assert len(fdkinds.KINDS) == len(fdkinds.BY_NAME) >= 21          # LTP's accept03: 21
    for k in fdkinds.KINDS:
        assert k.config is None or k.config in CATALOGUE, k.name


def test_the_profile_decides_absence():
    off = {"known": True, "value": None, "source": "/proc/config.gz"}
    p = with_(PROFILE, kernel_version=(5, 2, 0), markers={"CONFIG_EVENTFD": off},
              capabilities=(), euid=1000,
              sysctls={"kernel.io_uring_disabled": "2", "kernel.perf_event_paranoid": "3",
                       "kernel.unprivileged_bpf_disabled": "1", "vm.unprivileged_userfaultfd": "0"})
    why = {k.name: k.absent(p) for k in fdkinds.KINDS}
    assert "since Linux 5.3" in why["pidfd"]
    assert "CONFIG_EVENTFD is not set" in why["eventfd"]
    assert "CAP_SYS_ADMIN" in why["fanotify"] and "CAP_SYS_ADMIN" in why["fsopen"]
    assert "io_uring_disabled = 2" in why["io-uring"]
    assert "perf_event_paranoid = 3" in why["perf-event"]
    assert "unprivileged_bpf_disabled" in why["bpf-map"]
    assert "unprivileged_userfaultfd" in why["userfaultfd"]
    assert why["file"] is None and why["o-path-file"] is None and why["closed"] is None
    # an unknown config (no config file) says nothing: the kind must then open
    unknown = {"known": False, "value": None, "source": "no kernel config"}
    p = with_(PROFILE, markers={"CONFIG_EVENTFD": unknown})
    assert fdkinds.BY_NAME["eventfd"].absent(p) is None


def test_a_kernel_that_answers_enotsock_for_o_path_is_red(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, SOCKSPEC_LIE="o-path-enotsock")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.tests.lying_kernel", f"--sockspec-run-dir={run_dir}",
                        "-o", "addopts=", "suite/test_fd_kinds.py", "-k", "o-path-file or file"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-3000:]
    records = [json.loads(line) for line in open(run_dir / "results.jsonl")]
    tests = {t["test_id"].split("[")[1][:-1]: t["outcome"] for t in records if t["kind"] == "test"}
    assert tests["o-path-file"] == "failed" and tests["file"] == "passed", tests
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing and all("fd.ebadf_o_path" in c["message"] + json.dumps(c["allowed"])
                           and "ENOTSOCK" in c["observation"]["result"] for c in failing)


def test_a_kind_that_will_not_open_is_an_error_on_linux_a_skip_on_a_sandbox():
    import pytest
    from types import SimpleNamespace
    from suite.endpoints import SetupError

    def refuse(sc):
        raise OSError(38, "Function not implemented")
    kind = fdkinds.FdKind("nothing", "a kind nobody has", refuse)
    linux = SimpleNamespace(m=SimpleNamespace(profile=PROFILE))
    with pytest.raises(SetupError, match="opening a kind nobody has"):
        fdkinds.open_kind(linux, kind)
    sandbox = SimpleNamespace(m=SimpleNamespace(profile=with_(PROFILE, target_kind="sandbox")))
    with pytest.raises(pytest.skip.Exception, match="the sandbox cannot open a kind nobody has"):
        fdkinds.open_kind(sandbox, kind)
