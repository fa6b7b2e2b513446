"""suite/test_unix_paths.py can fail: on a kernel that answers ENOENT to every path error of
bind and connect (harness/tests/lying_kernel.py, lie ``path-errno``) the run is red, and each
failure names the rule whose errno the kernel did not give."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_unix_path_tests_on_a_kernel_without_path_errors_are_red(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the uid 65534 side and the read-only mount need root")
    run_dir = tmp_path / "run"
    env = dict(os.environ, SOCKSPEC_LIE="path-errno")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.tests.lying_kernel", f"--sockspec-run-dir={run_dir}",
                        "-o", "addopts=", "suite/test_unix_paths.py"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-3000:]
    records = [json.loads(line) for line in open(run_dir / "results.jsonl")]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert all("answered -1 ENOENT" in c["message"] for c in failing), failing
    # every test meets a path error and stops at its first failing row, whose allowed
    # outcome names the rule the lie broke
    expected = {c["test_id"].split("::")[1]: {a["rule"] for a in c["allowed"]} for c in failing}
    read_only = {t: expected.pop(t) for t in list(expected) if "read_only" in t}
    assert expected == {
        "test_bind_unix_path[root]": {"bind.unix_path_enotdir"},
        "test_bind_unix_path[uid]": {"bind.unix_path_no_write"},
        "test_connect_unix_path[root]": {"connect.unix_enotdir"},
        "test_connect_unix_path[uid]": {"connect.unix_no_write"},
    }, expected
    # (the read-only mount tests skip where no mount namespace can be made)
    assert all(rules == {"bind.unix_path_erofs"} for rules in read_only.values()), read_only
