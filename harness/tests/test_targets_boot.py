"""A real run of the suite in other targets: Debian kernels booted under QEMU, gVisor, UML.

Slow (a minute or more under TCG) and needs the apt packages (qemu-system-x86, busybox-static,
runsc, user-mode-linux) and a Debian archive, so it runs only on request:

    SOCKSPEC_BOOT_TEST=1 pytest harness/tests/test_targets_boot.py            # debian:6.1
    SOCKSPEC_BOOT_TEST=debian:6.12,gvisor,uml pytest harness/tests/test_targets_boot.py
    SOCKSPEC_BOOT_TEST=debian:5.10,debian:sid pytest harness/tests/test_targets_boot.py
"""
from __future__ import annotations

import json
import os

import pytest

from harness import cli

REQUEST = os.environ.get("SOCKSPEC_BOOT_TEST", "")
TARGETS = ["debian:6.1"] if REQUEST in ("1", "yes", "true") else [t for t in REQUEST.split(",") if t]

pytestmark = pytest.mark.skipif(not TARGETS, reason="set SOCKSPEC_BOOT_TEST=1 (or a list of targets) to boot kernels")


@pytest.mark.parametrize("name", TARGETS or ["debian:6.1"])
def test_suite_runs_in_target_and_results_come_back(name, tmp_path):
    out = tmp_path / "matrix"
    code = cli.main(["matrix", "--target", name, "-o", str(out), "--timeout", "900"])
    outcome, = json.load(open(out / "targets.json"))
    assert outcome["status"] == "complete", outcome["reason"]
    with open(os.path.join(outcome["run_dir"], "results.jsonl")) as f:
        header = json.loads(f.readline())
    profile = header["profile"]
    assert profile["target"] == name and profile["target_kind"] == outcome["target_kind"]
    if name.startswith("debian:"):
        wanted = name.split(":")[1]
        if wanted[:1].isdigit():                         # debian:sid names a suite, not a version
            assert profile["kernel_release"].startswith(wanted + ".")
        assert outcome["details"]["package"] and outcome["details"]["layout"]
        assert profile["euid"] == 0                      # the guest runs the suite as root
    assert code in (0, 1)           # whether the kernel agrees with the model is the suite's business
    column, = json.load(open(out / "matrix.json"))["columns"]
    assert column["complete"]
