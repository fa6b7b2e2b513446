"""Checked calls per second of ``sockspec explore`` on this kernel, next to raw calls per second
of the same socket calls in C, as a ratio (issue 15: goal at least 2,000 checked calls/s on one
core).

Explore runs pinned to one CPU (taskset, when present) for --seconds, seeded, with the model
gaps file; its own summary line gives the checked calls and the time. The C loop (compiled
here) makes the calls a typical explore step makes, without checking anything: socket,
socketpair, bind (abstract name), getsockname, sendto, recvfrom (MSG_DONTWAIT), getsockopt,
setsockopt, shutdown, close. A checked call is one call under test plus its observation
(state probes: fcntl, getsockopt SO_DOMAIN/TYPE/PROTOCOL/..., fstat, readlink, getsockname,
getpeername; a ppoll over the scenario's sockets), about 13 raw syscalls, and the model.

    python bench/explore_rate.py [--seconds 20] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

C_SOURCE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100000, calls = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < iterations; i++) {
		int sv[2], one = 1, val; socklen_t len;
		unsigned char addr[128] = {1, 0, 0}; socklen_t alen = 2 + snprintf((char *)addr + 3, 100, "sockspec-bench-%d", getpid()) + 1;
		unsigned char out[128]; char buf[64];
		int fd = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		syscall(SYS_bind, fd, addr, alen);
		len = sizeof out; syscall(SYS_getsockname, fd, out, &len);
		syscall(SYS_sendto, fd, "x", 1, MSG_DONTWAIT, addr, alen);
		syscall(SYS_recvfrom, fd, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
		len = 4; syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &val, &len);
		syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVBUF, &one, 4);
		syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
		syscall(SYS_shutdown, sv[0], SHUT_WR);
		syscall(SYS_close, sv[0]); syscall(SYS_close, sv[1]);
		syscall(SYS_close, fd);
		calls += 12;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld %f\n", calls, s);
	return 0;
}
"""


def c_rate(iterations: int) -> float:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("no C compiler")
    with tempfile.TemporaryDirectory() as d:
        src, binary = os.path.join(d, "loop.c"), os.path.join(d, "loop")
        with open(src, "w") as f:
            f.write(C_SOURCE.replace("#include <string.h>", "#include <string.h>\n#include <stdlib.h>"))
        subprocess.run([cc, "-O2", "-o", binary, src], check=True)
        out = subprocess.run(_pin() + [binary, str(iterations)], check=True, capture_output=True,
                             text=True).stdout.split()
    calls, seconds = int(out[0]), float(out[1])
    return calls / seconds


def _pin() -> list[str]:
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def explore_rate(seconds: float, seed: int) -> tuple[float, str]:
    gaps = os.path.join(REPO, "harness", "expect", "explore-model-gaps.toml")
    out = subprocess.run(_pin() + [sys.executable, "-m", "harness.cli", "explore", "--time",
                                   str(seconds), "--seed", str(seed), "--no-database", "--quiet",
                                   "--expect", gaps],
                         cwd=REPO, capture_output=True, text=True, timeout=seconds * 4 + 60)
    line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else out.stderr
    m = re.search(r"checked calls (\d+) in ([\d.]+) s", line)
    if not m:
        raise SystemExit(f"explore did not report its rate: {line}")
    return int(m.group(1)) / float(m.group(2)), line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=100_000)
    args = ap.parse_args()
    checked, line = explore_rate(args.seconds, args.seed)
    raw = c_rate(args.iterations)
    print(f"explore: {checked:,.0f} checked calls/s on one core ({line})")
    print(f"C:       {raw:,.0f} raw socket calls/s on one core (the same calls, unchecked)")
    print(f"ratio:   C is {raw / checked:,.0f}x explore; goal 2,000 checked calls/s: "
          f"{'met' if checked >= 2000 else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
