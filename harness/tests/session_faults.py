"""A pytest plugin that puts faults into a run of the suite (``-p harness.tests.session_faults``),
chosen by environment variables, for the tests of how a run ends (test_hostile_cli.py):

- ``SOCKSPEC_FAULT_STALL=FILE``: the third test's call writes FILE and sleeps (60 s), so that
  the test can send the run a signal while a test is running;
- ``SOCKSPEC_FAULT_SETUP_BLOCK=1``: the first test's fixture setup blocks in read() on a pipe
  that nobody writes to (only the per-test bound can end it);
- ``SOCKSPEC_FAULT_TEARDOWN=N``: the teardown of the first N tests fails;
- ``SOCKSPEC_FAULT_UNIX_DIR=FILE``: after each test, the AF_UNIX path directory of the suite
  (suite/kinds.py) is written to FILE, so the test can see that the run removed it.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

_count = {"call": 0, "setup": 0, "teardown": 0}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    _count["call"] += 1
    mark = os.environ.get("SOCKSPEC_FAULT_STALL")
    if mark and _count["call"] == 3:
        with open(mark, "w") as f:
            f.write(item.nodeid)
        time.sleep(60)
    try:
        return (yield)
    finally:
        where = os.environ.get("SOCKSPEC_FAULT_UNIX_DIR")
        kinds = sys.modules.get("suite.kinds")
        if where and kinds is not None and kinds._tmpdir:
            with open(where, "w") as f:
                f.write(kinds._tmpdir)


@pytest.fixture(autouse=True)
def _session_fault(request):
    _count["setup"] += 1
    if os.environ.get("SOCKSPEC_FAULT_SETUP_BLOCK") and _count["setup"] == 1:
        r, w = os.pipe()
        try:
            os.read(r, 1)                     # blocks: nothing is ever written
        finally:
            os.close(r)
            os.close(w)
    yield
    _count["teardown"] += 1
    if _count["teardown"] <= int(os.environ.get("SOCKSPEC_FAULT_TEARDOWN") or 0):
        raise RuntimeError("injected teardown failure")
