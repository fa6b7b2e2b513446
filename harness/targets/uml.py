"""``uml``: User-Mode Linux (Debian's user-mode-linux, the ``linux`` binary), a Linux kernel
running as a host process. Its syscalls reach it through ptrace, and it misroutes the 32-bit
int $0x80 path, so it is a sandbox: its differences are findings. The host filesystem comes in
through hostfs; see uml_init.sh for the guest side.

Before the suite, a short trial boot (about a second; its verdict is kept in the cache per
binary, host kernel and CPU) checks that the installed UML can run a user process on this host.
Debian's bookworm UML (6.1) and trixie UML (6.12) cannot where the CPU's XSTATE area is larger
than the fixed buffer they pass to PTRACE_SETREGSET (AMX: 11008 bytes against 2696): the host
refuses the short buffer with EFAULT and UML panics at its first user process ("ptrace set fp
regs failed, errno = 14"). Newer UML sizes the buffer from the host at boot. Then the newest
user-mode-linux of Debian (sid's, as apt's candidate in sockspec's own apt state, aptstate.py,
the one the guest kernels come from) is downloaded into the cache (never installed), adapted to
an older glibc if it needs that (glibc_compat.py), trial-booted too, and used instead.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from importlib import resources

from . import aptstate, glibc_compat, initramfs, kernels
from .base import Context, SetupError, Target, TargetError, require_tool
from .qemu import console_error, follow_console

UML_MODULES = "/usr/lib/uml/modules"
PACKAGE = "user-mode-linux"
PROBE_SECONDS = 30                          # a working UML reaches its init in 1-2 s
PROBE_OK = "sockspec-uml-probe: ok"


@dataclass(frozen=True)
class Uml:
    binary: str
    modules_dir: str
    label: str                              # where it comes from, for notices and reports

    @property
    def release(self) -> str:
        return os.path.basename(self.modules_dir)

    @property
    def config(self) -> str | None:
        """The kernel config Debian ships beside the binary (usr/share/doc/PACKAGE/config.gz),
        which the guest reads as SOCKSPEC_KERNEL_CONFIG: UML has no /proc/config.gz."""
        usr = os.path.dirname(os.path.dirname(self.binary))
        path = os.path.join(usr, "share", "doc", PACKAGE, "config.gz")
        return path if os.path.isfile(path) else None


class UmlTarget(Target):
    kind = "uml"
    target_kind = "sandbox"

    def check(self) -> None:
        self.binary = shutil.which("linux.uml") or require_tool("linux", "user-mode-linux")
        try:
            self.busybox = initramfs.find_busybox()
        except LookupError as exc:
            raise SetupError(str(exc))
        self.installed = Uml(self.binary, modules_dir(), "the installed user-mode-linux")
        self.uml: Uml | None = None

    def describe(self) -> str:
        uml = getattr(self, "uml", None) or getattr(self, "installed", None)
        if uml is None:
            return f"{self.name} (User-Mode Linux)"
        origin = "" if uml is getattr(self, "installed", None) else f", {uml.label}"
        return f"{self.name} (User-Mode Linux {uml.release}{origin})"

    def run(self, ctx: Context) -> int:
        if not getattr(self, "installed", None):
            self.check()
        if any(c.isspace() for c in ctx.run_dir + self.installed.modules_dir):
            raise SetupError(f"uml: paths on the kernel command line cannot hold spaces: {ctx.run_dir}")
        guest = ctx.path("guest")
        os.makedirs(guest, exist_ok=True)
        self.uml = uml = choose(ctx, self.installed, self.busybox)
        if any(c.isspace() for c in uml.modules_dir):
            raise SetupError(f"uml: paths on the kernel command line cannot hold spaces: {uml.modules_dir}")
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
            extra = {"SOCKSPEC_KERNEL_CONFIG": uml.config} if uml.config else {}
            f.write(ctx.suite.script(ctx.run_dir, self.name, self.target_kind, extra))
        memory = ctx.options.get("memory", 2048)
        argv = uml_argv(uml.binary, init, memory) + [
            f"SOCKSPEC_RUN_DIR={ctx.run_dir}", f"SOCKSPEC_MODULES_DIR={uml.modules_dir}",
            f"SOCKSPEC_MODPROBE={modprobe}"]

        ctx.enter("boot")
        console = ctx.path("console.log")
        with open(console, "wb") as out:
            proc = ctx.popen(argv, stdout=out, stderr=out, env=uml_env(memory), cwd=guest)
            follow_console(ctx, proc, console)
        if not os.path.exists(status):
            raise TargetError(f"UML stopped before the suite finished (exit {proc.returncode}): "
                              f"{console_error(console)}")
        with open(status) as f:
            return int(f.read().strip() or 125)


def uml_argv(binary: str, init: str, memory: int) -> list[str]:
    """The host's / as the read-only root (hostfs), ``init`` as PID 1, the console on stdio."""
    return [binary, f"mem={memory}M", "rootfstype=hostfs", "rootflags=/", "ro", f"init={init}",
            "con=null", "con0=fd:0,fd:1", "quiet"]


def uml_env(memory: int) -> dict:
    env = dict(os.environ)
    if shm_fits(memory):
        env["TMPDIR"] = "/dev/shm"        # UML's memory file: faster on tmpfs
    return env


# -- which UML: the installed one if it runs here, else Debian's newer one ----------------------

def choose(ctx: Context, installed: Uml, busybox: str, probe=None, fetch=None) -> Uml:
    """The installed UML when a trial boot shows it runs here, else the newest one from Debian
    testing/unstable (downloaded into the cache), when that one does. SetupError, in one line,
    when neither can."""
    probe = probe or trial_boot
    fetch = fetch or fetch_newer
    reason = verdict(ctx, installed, busybox, probe)
    if reason is None:
        return installed
    ctx.note(f"the installed UML {installed.release} cannot run here: {reason}")
    try:
        newer = fetch(ctx)
    except SetupError as exc:
        raise SetupError(f"the installed UML {installed.release} cannot run on this host ({reason}); "
                         f"no newer one could be fetched: {exc}")
    again = verdict(ctx, newer, busybox, probe)
    if again is not None:
        why = f": {reason}" if again == reason else f" (the installed one: {reason}; the newer: {again})"
        raise SetupError(f"neither the installed UML {installed.release} nor {newer.label} runs on "
                         f"this host{why}; the newer one is kept in {os.path.join(ctx.cache_dir, 'uml')}, "
                         f"delete it to fetch again")
    ctx.note(f"using {newer.label} (UML {newer.release}) instead")
    return newer


def verdict(ctx: Context, uml: Uml, busybox: str, probe) -> str | None:
    """None when ``uml`` runs here, else why not. Kept in the cache per binary, host kernel and
    CPU features, when the reason is one that does not come and go."""
    memo = os.path.join(ctx.cache_dir, "uml", "verdicts", memo_key(uml.binary))
    try:
        with open(memo) as f:
            kept = f.read().strip()
        return None if kept == "ok" else kept
    except OSError:
        pass
    reason, lasting = probe(ctx, uml, busybox)
    if reason is None or lasting:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        with open(memo, "w") as f:
            f.write((reason or "ok") + "\n")
    return reason


def memo_key(binary: str) -> str:
    st = os.stat(binary)
    return hashlib.sha256(repr((os.path.realpath(binary), st.st_size, st.st_mtime_ns,
                                os.uname().release, cpu_flags())).encode()).hexdigest()[:16]


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return tuple(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ()


def trial_boot(ctx: Context, uml: Uml, busybox: str) -> tuple[str | None, bool]:
    """Boot ``uml`` with an init that prints one line and powers off: (None, _) when it got
    there, else (the reason, whether it is a lasting one)."""
    ctx.enter("boot")
    init = ctx.path("guest", "uml-probe.sh")
    os.makedirs(os.path.dirname(init), exist_ok=True)
    with open(init, "w") as f:
        f.write(f"#!{busybox} sh\n{busybox} mount -t proc proc /proc\n"
                f"echo {PROBE_OK}\n{busybox} poweroff -f\n")
    os.chmod(init, 0o755)
    try:
        done = ctx.run(uml_argv(uml.binary, init, 256), timeout=PROBE_SECONDS, env=uml_env(256),
                       cwd=os.path.dirname(init))
    except TargetError as exc:
        return f"its trial boot {exc}", False
    output = (done.stdout + done.stderr).decode(errors="replace")
    with open(ctx.path("guest", f"uml-probe-{uml.release}.log"), "w") as f:
        f.write(output)
    if PROBE_OK in output:
        return None, False
    return classify(output)


FP_REGS = re.compile(r"ptrace set fp regs failed, errno = (\d+)")
GLIBC = re.compile(r"version `(GLIBC_[\d.]+)' not found")


def classify(output: str) -> tuple[str, bool]:
    """Why a trial boot failed, from its console: (one line, whether it is a lasting reason)."""
    m = FP_REGS.search(output)
    if m:
        amx = " (this CPU has AMX)" if "amx_tile" in cpu_flags() else ""
        return (f"it panics at its first user process, 'ptrace set fp regs failed, errno = "
                f"{m.group(1)}': its XSTATE buffer is smaller than the host's{amx}, which "
                f"PTRACE_SETREGSET refuses"), True
    m = GLIBC.search(output)
    if m:
        return f"it needs {m.group(1)} and the host's glibc is older", True
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "its trial boot failed: " + (" | ".join(lines[-3:]) or "no output"), False


def fetch_newer(ctx: Context) -> Uml:
    """The newest user-mode-linux of Debian (apt's candidate in sockspec's apt state: sid's),
    unpacked into the cache (reused from there when an earlier run fetched one: delete
    ``<cache>/uml`` to fetch again)."""
    root = os.path.join(ctx.cache_dir, "uml")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "fetch.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another target or sockspec run may fetch it too
        cached = newest_cached(root)
        if cached:
            ctx.note(f"cached {os.path.basename(cached)}")
            return unpacked_uml(cached)
        ctx.enter("download")
        apt = aptstate.for_cache(ctx.cache_dir, ctx.options.get("debian_mirror"),
                                 kernels.debian_arch(), warn=ctx.note)
        apt.ensure_updated()
        version = apt.candidate(PACKAGE)
        dest = os.path.join(root, f"{PACKAGE}_{version}")

        def finish(tree: str) -> None:
            binary = os.path.join(tree, "usr", "bin", "linux.uml")
            if not os.path.isfile(binary):
                raise SetupError(f"{PACKAGE} {version} has no usr/bin/linux.uml")
            rebound = adapt_to_glibc(binary)
            if rebound:
                ctx.note(f"{PACKAGE} {version}: rebound {', '.join(rebound)} to this host's older glibc")

        apt.unpack([f"{PACKAGE}={version}"], dest, ctx, finish)
        return unpacked_uml(dest)


def newest_cached(root: str) -> str | None:
    done = [os.path.dirname(p) for p in glob.glob(os.path.join(root, f"{PACKAGE}_*", ".complete"))]
    return max(done, key=lambda d: kernels.DebVersion(d.rsplit("_", 1)[1]), default=None)


def unpacked_uml(dest: str) -> Uml:
    modules = sorted(glob.glob(os.path.join(dest, "usr", "lib", "uml", "modules", "*")),
                     key=lambda p: kernels.version_key(os.path.basename(p)))
    if not modules:
        raise SetupError(f"no UML modules in {dest}/usr/lib/uml/modules")
    version = os.path.basename(dest).split("_", 1)[1]
    return Uml(os.path.join(dest, "usr", "bin", "linux.uml"), modules[-1],
               f"Debian's {PACKAGE} {version}")


def adapt_to_glibc(binary: str) -> list[str]:
    """Make ``binary`` load with the host's glibc when it only misses glibc 2.38's C23 aliases
    (see glibc_compat); the symbols rebound. SetupError when it needs more than that."""
    host = glibc_compat.glibc_version()
    if host is None:
        return []
    with open(binary, "rb") as f:
        data = bytearray(f.read())
    try:
        rebound = glibc_compat.rebind_c23(data, host)
    except glibc_compat.CompatError as exc:
        raise SetupError(f"{binary} cannot run with this host's glibc {'.'.join(map(str, host))}: {exc}")
    if rebound:
        with open(binary + ".tmp", "wb") as f:
            f.write(data)
        os.chmod(binary + ".tmp", 0o755)
        os.replace(binary + ".tmp", binary)
    return rebound


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
