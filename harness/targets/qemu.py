"""``debian:X`` and ``path:VMLINUZ[:MODULES_DIR]``: another Linux kernel, booted under QEMU.

QEMU is launched directly with a busybox initramfs rather than through virtme-ng: under TCG
(no usable KVM) that boots in about 5-7 s here against 45-55 s for virtme-ng, which starts a
full userspace (udev, systemd-tmpfiles, its Python helper) before the command. The guest sees
the host's root filesystem read-only over 9p with a tmpfs overlay on top, so the host's
interpreter and virtualenv run unchanged at the same paths; the run directory is a second,
writable 9p share mounted at its host path, where the suite writes results.jsonl. See
guest_init.sh for the guest side.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time

from . import aptstate, initramfs, kernels
from .base import Context, SetupError, Target, TargetError, require_tool

QEMU = "qemu-system-x86_64"
KVM_PROBE_SECONDS = 20         # a KVM guest reaches its init in 1-3 s; a broken one never does
CONSOLE_TAIL = 15


class QemuTarget(Target):
    kind = "qemu"
    target_kind = "linux"

    def __init__(self, name: str, debian: str | None = None, vmlinuz: str | None = None,
                 modules_dir: str | None = None):
        super().__init__(name)
        self.debian = debian
        self.vmlinuz = vmlinuz
        self.modules_dir = modules_dir
        self.resolved: kernels.DebianKernel | None = None
        self.booted: kernels.Kernel | None = None

    @property
    def package(self) -> str | None:
        return self.resolved.package if self.resolved else None

    @classmethod
    def parse(cls, name: str):
        prefix, sep, rest = name.partition(":")
        if not sep or prefix not in ("debian", "path"):
            return None
        if not rest:
            raise ValueError(f"target {name!r}: expected {prefix}:"
                             + ("VERSION or SUITE (e.g. debian:6.1, debian:sid)" if prefix == "debian"
                                else "VMLINUZ[:MODULES_DIR]"))
        if prefix == "debian":
            if not kernels.suite_of(rest) and not all(
                    part.isdigit() for part in rest.replace("-", ".").replace("+deb", ".").split(".")):
                raise ValueError(f"target {name!r}: expected debian:VERSION such as debian:6.1, or a "
                                 f"suite: {', '.join(aptstate.SUITES)}")
            return cls(name, debian=rest)
        vmlinuz, _, modules_dir = rest.partition(":")
        return cls(name, vmlinuz=vmlinuz, modules_dir=modules_dir or None)

    def apt(self, ctx: Context | None = None) -> aptstate.PrivateApt:
        """sockspec's apt state in the cache directory (the run's, else the command's)."""
        mirror = (ctx.options.get("debian_mirror") if ctx else None) or self.options.get("debian_mirror")
        return aptstate.for_cache(ctx.cache_dir if ctx else self.cache_dir, mirror, kernels.debian_arch())

    def check(self) -> None:
        self.qemu = require_tool(QEMU, "qemu-system-x86")
        initramfs.find_busybox()
        if self.debian:
            self.resolved = kernels.resolve_debian(self.debian, self.apt())
        else:
            kernels.user_kernel(self.vmlinuz, self.modules_dir)

    def describe(self) -> str:
        if self.resolved:
            layout = f", {self.booted.layout} layout" if self.booted and self.booted.layout else ""
            return f"{self.name} ({self.resolved.describe()}{layout}, QEMU)"
        return f"{self.name} ({self.vmlinuz or self.debian}, QEMU)"

    def details(self) -> dict:
        out = {}
        if self.resolved:
            out.update(package=self.resolved.package, version=self.resolved.version,
                       suite=self.resolved.suite, packages=list(self.resolved.packages))
        if self.booted:
            out.update(vmlinuz=self.booted.vmlinuz, modules_dir=self.booted.modules_dir,
                       layout=self.booted.layout)
        return out

    def short_name(self) -> str:
        return self.name if self.debian else f"path-{os.path.basename(self.vmlinuz)}"

    def kernel(self, ctx: Context) -> kernels.Kernel:
        if self.debian:
            apt = self.apt(ctx)
            if not self.resolved:
                self.resolved = kernels.resolve_debian(self.debian, apt)
            self.booted = kernels.fetch_debian(self.resolved, ctx, apt)
            return self.booted
        return kernels.user_kernel(self.vmlinuz, self.modules_dir)

    def run(self, ctx: Context) -> int:
        qemu = getattr(self, "qemu", None) or require_tool(QEMU, "qemu-system-x86")
        kernel = self.kernel(ctx)
        ctx.enter("initramfs")
        cache = os.path.join(ctx.cache_dir, "initramfs")
        os.makedirs(cache, exist_ok=True)
        try:
            initrd = initramfs.build(cache, kernel.modules_dir)
        except LookupError as exc:
            raise SetupError(f"{self.name}: {exc}")
        accel = ctx.options.get("accel", "auto")
        if accel == "auto":
            accel = choose_accel(ctx, qemu, kernel, initrd)
        ctx.enter("boot")
        guest = ctx.path("guest")
        os.makedirs(guest, exist_ok=True)
        for stale in ("exit-status",):
            if os.path.exists(os.path.join(guest, stale)):
                os.remove(os.path.join(guest, stale))
        with open(os.path.join(guest, "env"), "w") as f:
            f.write(f"RUN_DIR={shlex.quote(ctx.run_dir)}\n")
            f.write(f"MODULES_DIR={shlex.quote(kernel.modules_dir or '')}\n")
        # the guest kernel's config (Debian ships it beside the image, not as /proc/config.gz):
        # the profile reads feature markers from it
        extra = {"SOCKSPEC_KERNEL_CONFIG": kernel.config} if kernel.config else {}
        with open(os.path.join(guest, "command.sh"), "w") as f:
            f.write(ctx.suite.script(ctx.run_dir, self.name, self.target_kind, extra))
        argv = qemu_argv(qemu, kernel, initrd, accel, results=ctx.run_dir,
                         memory=ctx.options.get("memory", 2048), cpus=ctx.options.get("cpus", 1))
        with open(os.path.join(guest, "qemu.sh"), "w") as f:
            f.write("#!/bin/sh\n" + shlex.join(argv) + "\n")    # to boot the same guest by hand
        console = ctx.path("console.log")
        with open(console, "wb") as out:
            proc = ctx.popen(argv, stdout=out, stderr=subprocess.STDOUT)
            follow_console(ctx, proc, console)
        status = os.path.join(guest, "exit-status")
        if not os.path.exists(status):
            raise TargetError(f"the guest stopped before the suite finished "
                              f"(qemu exit {proc.returncode}): {console_error(console)}")
        with open(status) as f:
            return int(f.read().strip() or 125)


def follow_console(ctx: Context, proc: subprocess.Popen, console: str) -> None:
    """Wait for QEMU, turning the init's progress lines into phases."""
    seen = 0
    while True:
        done = proc.poll() is not None
        with open(console, "rb") as f:
            f.seek(seen)
            chunk = f.read()
        cut = chunk.rfind(b"\n") + 1
        seen += cut
        for line in chunk[:cut].decode(errors="replace").splitlines():
            if line.startswith("sockspec-init: suite"):
                ctx.enter("suite")
            elif line.startswith("sockspec-init: collect"):
                ctx.enter("collect")
        if done:
            return
        time.sleep(0.5)


def console_error(console: str) -> str:
    """The init's error line, or the console's last lines (a panic, a QEMU error)."""
    try:
        with open(console, errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
    except OSError:
        return "no console output"
    for line in lines:
        if line.startswith("sockspec-init: error:"):
            return line[len("sockspec-init: "):]
    return " | ".join(lines[-CONSOLE_TAIL:]) or "no console output"


def qemu_argv(qemu: str, kernel: kernels.Kernel, initrd: str, accel: str, results: str | None,
              memory: int = 2048, cpus: int = 1, probe: bool = False) -> list[str]:
    argv = [qemu, "-accel", accel, "-m", str(memory), "-smp", str(cpus),
            "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
            "-kernel", kernel.vmlinuz, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1 rdinit=/init" + (" sockspec.probe" if probe else "")]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if not probe:
        argv += ["-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
                 "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
                 "-fsdev", f"local,id=results,path={results},security_model=none,multidevs=remap",
                 "-device", "virtio-9p-pci,fsdev=results,mount_tag=results"]
    return argv


def choose_accel(ctx: Context, qemu: str, kernel: kernels.Kernel, initrd: str) -> str:
    """KVM if it can really run this guest, else TCG. /dev/kvm can exist and still not run a
    stock kernel (nested virtualisation that lacks MSRs or CPUID bits: QEMU aborts, or the
    guest spins), so boot the initramfs in probe mode under KVM with a short bound; the answer
    is kept in the cache per QEMU, host kernel and guest kernel."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        ctx.note("no usable /dev/kvm: QEMU uses TCG (software emulation)")
        return "tcg"
    key = hashlib.sha256(repr((os.path.realpath(qemu), os.stat(qemu).st_mtime_ns, os.uname().release,
                               kernel.vmlinuz, os.stat(kernel.vmlinuz).st_mtime_ns)).encode()).hexdigest()[:16]
    memo = os.path.join(ctx.cache_dir, "accel", key)
    if os.path.exists(memo):
        with open(memo) as f:
            accel = f.read().strip()
    else:
        argv = qemu_argv(qemu, kernel, initrd, "kvm", results=None, memory=256, probe=True)
        try:
            done = ctx.run(argv, timeout=KVM_PROBE_SECONDS)
            ok = b"sockspec-init: probe ok" in done.stdout
        except TargetError:
            ok = False
        accel = "kvm" if ok else "tcg"
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        with open(memo, "w") as f:
            f.write(accel + "\n")
    if accel == "tcg":
        ctx.note("KVM cannot run this guest here: QEMU falls back to TCG (slower)")
    return accel
