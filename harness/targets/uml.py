"""``uml``: User-Mode Linux (Debian's user-mode-linux, the ``linux`` binary), a Linux kernel
running as a host process. Its syscalls reach it through ptrace, and it misroutes the 32-bit
int $0x80 path, so it is a sandbox: its differences are findings. The host filesystem comes in
through hostfs; see uml_init.sh for the guest side."""
from __future__ import annotations

import glob
import os
import shutil
from importlib import resources

from . import initramfs
from .base import Context, SetupError, Target, TargetError, require_tool
from .qemu import console_error, follow_console

UML_MODULES = "/usr/lib/uml/modules"


class UmlTarget(Target):
    kind = "uml"
    target_kind = "sandbox"

    def check(self) -> None:
        self.binary = shutil.which("linux.uml") or require_tool("linux", "user-mode-linux")
        self.busybox = initramfs.find_busybox()
        self.modules_dir = modules_dir()

    def describe(self) -> str:
        return f"{self.name} (User-Mode Linux {os.path.basename(getattr(self, 'modules_dir', '') or '')})"

    def run(self, ctx: Context) -> int:
        if not getattr(self, "binary", None):
            self.check()
        if any(c.isspace() for c in ctx.run_dir + self.modules_dir):
            raise SetupError(f"uml: paths on the kernel command line cannot hold spaces: {ctx.run_dir}")
        guest = ctx.path("guest")
        os.makedirs(guest, exist_ok=True)
        status = os.path.join(guest, "exit-status")
        if os.path.exists(status):
            os.remove(status)
        files = resources.files("harness.targets")
        init = os.path.join(guest, "uml-init.sh")
        with open(init, "w") as f:
            f.write(files.joinpath("uml_init.sh").read_text().replace("/bin/busybox", self.busybox))
        modprobe = os.path.join(guest, "modprobe.sh")
        with open(modprobe, "w") as f:
            f.write(files.joinpath("guest_modprobe.sh").read_text())
        for path in (init, modprobe):
            os.chmod(path, 0o755)
        with open(os.path.join(guest, "command.sh"), "w") as f:
            f.write(ctx.suite.script(ctx.run_dir, self.name, self.target_kind))
        argv = [self.binary, f"mem={ctx.options.get('memory', 2048)}M", "rootfstype=hostfs",
                "rootflags=/", "ro", f"init={init}", "con=null", "con0=fd:0,fd:1", "quiet",
                f"SOCKSPEC_RUN_DIR={ctx.run_dir}", f"SOCKSPEC_MODULES_DIR={self.modules_dir}",
                f"SOCKSPEC_MODPROBE={modprobe}"]
        env = dict(os.environ)
        memory = ctx.options.get("memory", 2048)
        if shm_fits(memory):
            env["TMPDIR"] = "/dev/shm"        # UML's memory file: faster on tmpfs
        ctx.enter("boot")
        console = ctx.path("console.log")
        with open(console, "wb") as out:
            proc = ctx.popen(argv, stdout=out, stderr=out, env=env, cwd=guest)
            follow_console(ctx, proc, console)
        if not os.path.exists(status):
            raise TargetError(f"UML stopped before the suite finished (exit {proc.returncode}): "
                              f"{console_error(console)}")
        with open(status) as f:
            return int(f.read().strip() or 125)


def modules_dir() -> str:
    """The module tree of Debian's UML kernel (the overlay and IPv6 are modules there)."""
    found = sorted(glob.glob(os.path.join(UML_MODULES, "*")))
    if not found:
        raise SetupError(f"no UML modules in {UML_MODULES}: apt-get install user-mode-linux")
    return found[-1]


def shm_fits(memory_mib: int, shm: str = "/dev/shm") -> bool:
    """Can UML keep its memory file in /dev/shm? Containers often mount a small or noexec one
    (UML maps the file executable); then it uses /tmp, slower but it works."""
    try:
        st = os.statvfs(shm)
        with open("/proc/mounts") as f:
            options = [line.split()[3].split(",") for line in f if line.split()[1:2] == [shm]]
    except OSError:
        return False
    free_mib = st.f_bavail * st.f_frsize // 2**20
    return bool(options) and "noexec" not in options[-1] and free_mib >= memory_mib + 256 \
        and os.access(shm, os.W_OK)
