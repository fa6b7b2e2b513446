"""Write-backs on error returns, end to end: a kernel that writes a length or msg_flags back on
an error (lying_kernel's "writeback" lie) turns the scenario red with the rule and both values,
in a Scenario and in a suite run; the honest kernel passes the same calls and records the rule."""
import json
import os
import subprocess
import sys

import pytest

from harness.abi import linux as L
from harness.check import Mismatch, Scenario
from harness.kernel import Kernel, load_backend
from harness.model import Model, read_fd_table
from harness.profile import probe

from lying_kernel import LyingBackend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def prof():
    return probe(Kernel(load_backend()))


def scenario(prof, lies):
    records = []
    m = Model(prof)
    m.seed_fds(read_fd_table())
    return Scenario(Kernel(LyingBackend(load_backend(), lies)), m, records.append, "test_writeback"), records


def closed_fd(sc) -> int:
    return sc.m.fds.lowest_free(200)


def calls(sc):
    """Failing calls with write-backs: (the call, the write-back the lie changes, its rule)."""
    a, b = sc.socketpair(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).out["fds"]
    free = closed_fd(sc)
    yield (lambda: sc.getsockname(free, True, 20), "addrlen", "getsockname.no_writeback_on_error")
    yield (lambda: sc.getsockopt(free, L.SOL_SOCKET, L.SO_TYPE, 8), "optlen",
           "getsockopt.no_writeback_on_error")
    yield (lambda: sc.recvmsg(a, [8], L.MSG_DONTWAIT), "msg_flags", "recvmsg.no_writeback_on_error")
    sc.close(a)
    sc.close(b)


def test_the_honest_kernel_passes_and_records_the_rules(prof):
    sc, records = scenario(prof, [])
    for call, key, rule_ in calls(sc):
        r = call()
        assert not r.ok and key in r.out
        rec = records[-1]
        assert rec["verdict"] == "pass" and rule_ in rec["also"], rec
    sc.close_all()


@pytest.mark.parametrize("index, want", [(0, "kernel 99, model 20"), (1, "kernel 99, model 8"),
                                         (2, f"kernel {L.MSG_TRUNC}, model 0")])
def test_a_kernel_that_writes_back_on_an_error_is_red(prof, index, want):
    sc, records = scenario(prof, ["writeback"])
    call, key, rule_ = list(calls_until(sc, index))[-1]
    with pytest.raises(Mismatch) as info:
        call()          # the answer is allowed: the scenario goes on and fails at its end
        sc.finish()
    text = str(info.value)
    assert f"write-back {key} after -1 " in text and want in text and rule_ in text
    assert records[-1]["verdict"] == "fail" and rule_ in records[-1]["message"]
    sc.close_all()


def calls_until(sc, index):
    for i, item in enumerate(calls(sc)):
        yield item
        if i == index:
            return


def test_a_suite_run_on_the_lying_kernel_is_red(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, SOCKSPEC_LIE="writeback")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.tests.lying_kernel", f"--sockspec-run-dir={run_dir}",
                        "-o", "addopts=", "suite/test_names.py", "suite/test_sockopt.py"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-3000:]
    records = [json.loads(line) for line in open(run_dir / "results.jsonl")]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing, r.stdout[-3000:]
    messages = " ".join(c["message"] for c in failing)
    assert "getsockname.no_writeback_on_error" in messages
    assert "getsockopt.no_writeback_on_error" in messages
    # each failure is the lie: a write-back compared after the error matched, or a value the
    # error outcome names itself (*addrlen -1 for EINVAL) no longer matching
    assert all("write-back" in c["message"] or "len: 99" in c["message"] for c in failing)
