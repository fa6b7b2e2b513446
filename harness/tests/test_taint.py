"""The run's watch over the kernel's taint mask and log (harness/taint.py), with fake sources:
a new taint bit or a kernel report line fails the run with the text (the terminal summary, the
end record of results.jsonl, the top of the HTML); a source that cannot be read is recorded as
"unreadable: why" and fails nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from harness import taint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BOOT = ("6,1,0,-;Linux version 6.18.0\n"
        "4,2,10,-;WARNING: CPU: 0 PID: 1 at init/main.c:1 (before the run: not ours)\n")


def sources(tmp_path, tainted="0\n", kmsg=BOOT):
    (tmp_path / "tainted").write_text(tainted)
    (tmp_path / "kmsg").write_text(kmsg)
    return {"tainted": str(tmp_path / "tainted"), "kmsg": str(tmp_path / "kmsg")}


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def test_a_quiet_run_passes_and_reads_only_what_it_logged(tmp_path):
    src = sources(tmp_path)
    w = taint.Watch.start(**src)
    assert w.start_record()["tainted_before"] == 0 and "readable" in w.start_record()["kmsg"]
    append(src["kmsg"], "6,3,20,-;sockspec: an ordinary line\n SUBSYSTEM=net\n")
    report = w.finish()
    assert not report["failed"] and report["lines"] == [] and report["new_bits"] == 0
    assert "1 records logged during the run" in report["kmsg"]       # the boot lines are not


def test_new_taint_bit_fails_with_its_letter(tmp_path):
    src = sources(tmp_path, tainted="4096\n")                        # O set before the run
    w = taint.Watch.start(**src)
    (tmp_path / "tainted").write_text(str(4096 | 1 << 9 | 1 << 7) + "\n")
    report = w.finish()
    assert report["failed"] and report["new_bits"] == 1 << 9 | 1 << 7
    assert "W (kernel issued a warning, bit 9)" in report["text"]
    assert "D (kernel died recently (OOPS or BUG), bit 7)" in report["text"]
    assert "O (" not in report["new_flags"]                           # not new: not blamed


def test_report_lines_fail_the_run(tmp_path):
    src = sources(tmp_path)
    w = taint.Watch.start(**src)
    append(src["kmsg"], "4,5,30,-;------------[ cut here ]------------\n"
                        "4,6,31,-;WARNING: CPU: 1 PID: 7 at net/ipv4/tcp.c:99 tcp_x+0x1/0x2\n"
                        "3,7,32,-;BUG: KASAN: slab-out-of-bounds in unix_bind+0x1\n"
                        "3,8,33,-;UBSAN: shift-out-of-bounds in net/core/sock.c:12:3\n"
                        "3,9,34,-;kernel BUG at net/core/skbuff.c:100!\n"
                        " SUBSYSTEM=net\n"
                        "6,10,35,-;a line that mentions a WARNING: in its middle\n")
    report = w.finish()
    assert report["failed"] and report["report_lines"] == 4, report
    assert report["lines"][0].startswith("WARNING: CPU: 1") and "4 report lines" in report["text"]
    assert any(line.startswith("BUG: KASAN") for line in report["lines"])


def test_unreadable_sources_are_recorded_and_fail_nothing(tmp_path):
    def refuse(path, flags):
        raise PermissionError(1, "Operation not permitted")
    w = taint.Watch.start(tainted=str(tmp_path / "missing"), kmsg=str(tmp_path / "kmsg"),
                          opener=refuse)
    start = w.start_record()
    assert start["tainted_before"] is None and start["taint"].startswith("unreadable: ")
    assert start["kmsg"].startswith("unreadable: ") and "CAP_SYSLOG" in start["kmsg"]
    report = w.finish()
    assert not report["failed"] and report["kmsg"].startswith("unreadable: ")
    assert report["taint"].startswith("unreadable: ")
    w = taint.Watch.start(tainted=str(tmp_path / "missing"), kmsg=str(tmp_path / "no-kmsg"))
    assert "No such file" in w.start_record()["kmsg"]
    assert not w.finish()["failed"]


def test_record_format_of_dev_kmsg():
    assert taint.message_of("4,6,31,c;WARNING: x") == "WARNING: x"
    assert taint.message_of(" DEVICE=+net:lo") is None
    assert taint.message_of("plain") == "plain"


def test_a_run_that_warns_fails_everywhere_it_reports(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    sources(fake)
    run_dir = tmp_path / "run"
    env = dict(os.environ, SOCKSPEC_FAKE_TAINT_DIR=str(fake))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "harness.tests.fake_taint", f"--sockspec-run-dir={run_dir}",
                        "-o", "addopts=", "suite/test_listen.py", "-k", "backlog"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "passed" in r.stdout and "failed" not in r.stdout.split("sockspec")[0]
    assert "FAILED: the kernel's taint mask gained W (kernel issued a warning, bit 9)" in r.stdout
    assert "WARNING: CPU: 1 PID: 4242 at net/socket.c:1234" in r.stdout
    records = [json.loads(line) for line in open(run_dir / "results.jsonl")]
    end = records[-1]
    assert end["kind"] == "end" and end["exit_status"] == 1 and end["taint"]["failed"]
    assert end["taint"]["lines"] == ["WARNING: CPU: 1 PID: 4242 at net/socket.c:1234 __sys_listen+0x1/0x2"]
    assert records[0]["taint"]["tainted_before"] == 0
    html = (run_dir / "report.html").read_text()
    top = html.split("<h2>Profile</h2>")[0]
    assert 'id="taint"' in top and "net/socket.c:1234" in top
    # the matrix: the column says so, and a kernel that warned fails it (harness/targets/cli.py)
    from harness.report.merge import merge
    from harness.targets.cli import merge_runs
    matrix = merge([str(run_dir)], str(tmp_path / "matrix"))
    assert matrix.columns[0].taint_failed
    assert "kernel tainted / warned" in open(matrix.html_path).read()
    assert merge_runs([str(run_dir)], str(tmp_path / "matrix2")) is True
