"""bench/ltp_side_by_side.py without LTP or network: the one-line refusal without a checkout, the parsers
of LTP's result output (fixtures copied from LTP 20260529-222-g695827725 run on kernel 6.18) and the
classification of fixed-duration race tests from their source."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "ltp_side_by_side.py"

_spec = importlib.util.spec_from_file_location("ltp_side_by_side", SCRIPT)
B = importlib.util.module_from_spec(_spec)
sys.modules["ltp_side_by_side"] = B  # dataclasses look their module up
_spec.loader.exec_module(B)


def run_script(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("argv", [[], ["--ltp-dir", "."], ["--ltp-dir", "/nonexistent/ltp"]],
                         ids=["no-dir", "not-ltp", "missing"])
def test_without_a_checkout_one_line_and_status_2(argv):
    proc = run_script(*argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "LTP checkout" in lines[0]
    assert "git clone --depth 1 https://github.com/linux-test-project/ltp" in lines[0]


def test_half_an_ltp_tree_is_not_a_checkout(tmp_path):
    (tmp_path / "testcases" / "kernel" / "syscalls").mkdir(parents=True)
    proc = run_script("--ltp-dir", str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "include/tst_test.h" in proc.stderr and "Traceback" not in proc.stderr


def test_nothing_built_is_one_line(tmp_path):
    (tmp_path / "testcases" / "kernel" / "syscalls" / "socket").mkdir(parents=True)
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "tst_test.h").write_text("")
    proc = run_script("--ltp-dir", str(tmp_path), "--skip-build", "--work", str(tmp_path / "w"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("ltp_side_by_side: no LTP test binaries found")


def test_build_failure_names_the_step_and_its_log(tmp_path):
    (tmp_path / "testcases" / "kernel" / "syscalls").mkdir(parents=True)
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "tst_test.h").write_text("")
    proc = run_script("--ltp-dir", str(tmp_path), "--work", str(tmp_path / "w"))  # no Makefile: make fails
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    log = tmp_path / "w" / "build" / "0-autotools.log"
    assert last == f"ltp_side_by_side: LTP build step `make autotools` failed in {tmp_path}; log: {log}"
    assert log.is_file()


NEW_LIB = """\
tst_test.c:2048: TINFO: LTP version: 20260529-222-g695827725
tst_test.c:2051: TINFO: Tested kernel: 6.18.44-fc-v1252 #1 SMP PREEMPT_DYNAMIC @0 x86_64
tst_kconfig.c:90: TINFO: Parsing kernel config '/proc/config.gz'
tst_test.c:1876: TINFO: Overall timeout per run is 0h 00m 30s
socket01.c:72: TPASS: invalid domain successful
socket01.c:72: TPASS: invalid type successful
socket01.c:72: TPASS: UNIX domain dgram successful

Summary:
passed   9
failed   0
broken   0
skipped  0
warnings 0
"""

NEW_LIB_FAIL = """\
connect02.c:94: TFAIL: setsockopt(IPV6_ADDRFORM) failed: ENOPROTOOPT (92)

HINT: You _MAY_ be missing kernel fixes:

https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id=9d538fa60bad4f7b23193c89e843797a1cf71ef3

Summary:
passed   0
failed   1
broken   0
skipped  0
warnings 0
"""

NEW_LIB_TCONF = """\
socketcall01.c:39: TCONF: syscall(-1) __NR_socketcall not supported on your arch

Summary:
passed   0
failed   0
broken   0
skipped  1
warnings 0
"""

# Killed by its own timeout: the block is cut short, so nothing is counted from it.
NEW_LIB_CUT = """\
tst_test.c:1950: TBROK: Test killed! (timeout?)

Summary:
passed   0
failed   0
broken   1
Terminated
"""

OLD_LIB = """\
send01      1  TPASS  :  bad file descriptor successful
send01      2  TPASS  :  invalid socket successful
send01      3  TPASS  :  invalid send buffer successful
send01      4  TPASS  :  UDP message too big successful
send01      5  TPASS  :  local endpoint shutdown successful
send01      6  TPASS  :  invalid flags set successful
"""

# sendmsg02's lines are as observed; the recvfrom01 ones are written in the format of lib/tst_res.c
# ("%-8s %4d  " TCID and number, then "TYPE  :  message") as no old-library test failed on 6.18.
OLD_LIB_MIXED = """\
sendmsg02    0  TINFO  :  Using /tmp/ltpw/tmp/LTP_senBpbJnK as tmpdir (ext2/ext3/ext4 filesystem)
sendmsg02    1  TPASS  :  finished after 15 seconds
recvfrom01    2  TFAIL  :  recvfrom01.c:140: invalid socket ; returned -1 (expected 0), errno 9
recvfrom01    3  TBROK  :  recvfrom01.c:200: socket setup failed
recvfrom01    4  TBROK  :  Remaining cases broken
recvfrom01    5  TCONF  :  no IPv6
recvfrom01    6  TWARN  :  cleanup failed
"""

COLOURED = "listen01    1  \x1b[1;32mTPASS\x1b[0m  :  bad file descriptor successful\n"


def test_new_library_summary():
    c = B.parse_results(NEW_LIB)
    assert (c.style, c.passed, c.failed, c.broken, c.skipped, c.warnings, c.checked) == ("new", 9, 0, 0, 0, 0, 9)
    c = B.parse_results(NEW_LIB_FAIL)
    assert (c.passed, c.failed, c.checked) == (0, 1, 1)
    c = B.parse_results(NEW_LIB_TCONF)
    assert (c.skipped, c.checked) == (1, 0)


def test_cut_summary_is_not_a_summary():
    assert B.parse_new_summary(NEW_LIB_CUT) is None
    assert B.parse_results(NEW_LIB_CUT).style == "none"


def test_last_summary_wins():
    twice = NEW_LIB_TCONF + NEW_LIB
    assert B.parse_new_summary(twice).passed == 9


def test_old_library_lines():
    c = B.parse_results(OLD_LIB)
    assert (c.style, c.passed, c.checked) == ("old", 6, 6)
    c = B.parse_results(OLD_LIB_MIXED)
    assert (c.passed, c.failed, c.broken, c.skipped, c.warnings, c.checked) == (1, 1, 2, 1, 1, 2)
    assert B.parse_results(COLOURED).passed == 1


def test_new_library_lines_are_not_old_library_lines():
    assert B.parse_old_results(NEW_LIB) is None
    assert B.parse_results("").style == "none"


FZSYNC = """\
#include "tst_test.h"
#include "tst_fuzzy_sync.h"
static struct tst_fzsync_pair fzsync_pair;
static struct tst_test test = {
	.test_all = run,
	.min_runtime = 300,
};
"""

RUNTIME = """\
static struct tst_test test = {
	.test_all = run,
	.runtime = 300,
	.min_runtime = 30,
};
"""

OLD_MAX_RUNTIME = """\
static struct tst_test test = {
	.test_all = run,
	.max_runtime = 150,
};
"""

PLAIN = """\
#include "tst_test.h"
static struct tst_test test = {
	.tcnt = ARRAY_SIZE(tcases),
	.test = verify_socket,
	.needs_root = 1,
};
/* the runtime of this test is short */
"""


def test_race_classification():
    assert B.is_race_source(FZSYNC)
    assert B.is_race_source(RUNTIME)
    assert B.is_race_source(OLD_MAX_RUNTIME)
    assert not B.is_race_source(PLAIN)
    assert B.is_race_source("int main(void) { return 0; }", "sendmsg02")  # loops 15 s of its own
    assert not B.is_race_source("int main(void) { return 0; }", "sendmsg01")


def test_test_binaries_are_elf_files_built_from_their_source(tmp_path):
    elf = b"\x7fELF" + b"\0" * 60
    for name, body, mode in (("socket01", elf, 0o755), ("socket02", elf, 0o644), ("helper.sh", b"#!/bin/sh", 0o755),
                             ("runner", b"#!/bin/sh", 0o755), ("orphan", elf, 0o755), ("socket01.o", elf, 0o755)):
        (tmp_path / name).write_bytes(body)
        (tmp_path / name).chmod(mode)
    for src in ("socket01.c", "socket02.c", "runner.c"):
        (tmp_path / src).write_text("")
    assert B.test_binaries(str(tmp_path)) == ["socket01"]
