"""A pytest plugin (``-p harness.tests.fake_taint``) that points the run's taint watch
(harness/taint.py) at fake sources in $SOCKSPEC_FAKE_TAINT_DIR (files ``tainted`` and ``kmsg``)
and, during the first test, makes the "kernel" warn: bit 9 (W) set in ``tainted`` and a
WARNING record appended to ``kmsg``, as a WARN_ON() in the socket layer would."""
from __future__ import annotations

import os

from harness import taint

_dir = os.environ.get("SOCKSPEC_FAKE_TAINT_DIR")
if _dir:
    taint.TAINTED = os.path.join(_dir, "tainted")
    taint.KMSG = os.path.join(_dir, "kmsg")
    _done = []

    def pytest_runtest_call(item):
        if _done:
            return
        _done.append(item.nodeid)
        with open(taint.TAINTED, "w") as f:
            f.write("512\n")
        with open(taint.KMSG, "a") as f:
            f.write("4,901,5000,-;------------[ cut here ]------------\n"
                    "4,902,5001,-;WARNING: CPU: 1 PID: 4242 at net/socket.c:1234 __sys_listen+0x1/0x2\n"
                    " SUBSYSTEM=net\n"
                    "4,903,5002,-;Modules linked in:\n")
