"""``gvisor``: gVisor's runsc (Debian's package), a Linux-compatible sandbox, on the ptrace
platform with no network device (runsc's default network would install NAT rules on the host).

``runsc do`` would be the short way, but it puts a memory overlay over every mount, so the
results could not come back. Instead the suite runs with ``runsc run`` from an OCI bundle
written here: the host's root filesystem under a memory overlay (``--overlay2=root:memory``)
and the run directory bind-mounted writable at its host path.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

from .base import Context, Suite, Target, TargetError, require_tool

# all capabilities, as root has them on the host: privilege-dependent rules are checked as
# root and in a child that drops them
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
]


class GvisorTarget(Target):
    kind = "gvisor"
    target_kind = "sandbox"

    def check(self) -> None:
        self.runsc = require_tool("runsc", "runsc")

    def describe(self) -> str:
        return f"{self.name} (runsc, ptrace platform)"

    def run(self, ctx: Context) -> int:
        runsc = getattr(self, "runsc", None) or require_tool("runsc", "runsc")
        bundle = ctx.path("guest", "bundle")
        state = ctx.path("guest", "runsc-state")
        for d in (bundle, state):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(oci_spec(ctx.suite, ctx.run_dir, self.name, self.target_kind), f, indent=1)
        flags = [runsc, f"--root={state}", "--platform=ptrace", "--network=none",
                 "--overlay2=root:memory", "--ignore-cgroups"]
        if os.geteuid() != 0:
            flags.append("--rootless")
        container = f"sockspec-{os.getpid()}-{abs(hash(ctx.run_dir)) % 10**8}"
        ctx.enter("boot")
        ctx.enter("suite")
        try:
            done = ctx.run(flags + ["run", "--bundle", bundle, container], log=ctx.path("console.log"))
        finally:
            subprocess.run(flags + ["delete", "--force", container], capture_output=True)
        ctx.enter("collect")
        if done.returncode >= 128 or not os.path.exists(ctx.path("results.jsonl")):
            raise TargetError(f"runsc exited with {done.returncode} and no results (see console.log)")
        return done.returncode


def oci_spec(suite: Suite, run_dir: str, target: str, target_kind: str) -> dict:
    env = {k: v for k, v in suite.environment().items() if Suite.GUEST_ENV.match(k)}
    caps = list(CAPABILITIES)
    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": suite.argv(run_dir, target, target_kind),
            "env": [f"{k}={v}" for k, v in sorted(env.items())],
            "cwd": suite.cwd,
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "inheritable")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1024}],
        },
        "root": {"path": "/", "readonly": False},
        "hostname": "sockspec-gvisor",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid", "nodev", "noexec"]},
            {"destination": run_dir, "type": "bind", "source": run_dir, "options": ["rbind", "rw"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }
