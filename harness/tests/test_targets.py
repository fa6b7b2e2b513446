"""Tests of the target matrix plumbing (harness/targets): names, Debian package resolution,
kernel modules, the initramfs, the scheduler's time bound and the exit codes. None of them
boots a kernel; the real boot test is in test_targets_boot.py and runs on request."""
from __future__ import annotations

import json
import lzma
import os
import stat
import struct
import subprocess
import sys
import threading
import time

import pytest

from harness import cli
from harness.targets import base, initramfs, kernels, kmod, parse, qemu, scheduler
from harness.targets.base import Context, SetupError, Suite, Target, TargetError
from harness.targets.gvisor import GvisorTarget, oci_spec
from harness.targets.host import HostTarget
from harness.targets.qemu import QemuTarget
from harness.targets.uml import UmlTarget


# -- names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls, kind", [
    ("host", HostTarget, "linux"),
    ("debian:6.1", QemuTarget, "linux"),
    ("debian:6.12", QemuTarget, "linux"),
    ("debian:6.12.117", QemuTarget, "linux"),
    ("debian:6.1.0-56", QemuTarget, "linux"),
    ("path:/boot/vmlinuz", QemuTarget, "linux"),
    ("path:/tmp/bzImage:/tmp/mods", QemuTarget, "linux"),
    ("gvisor", GvisorTarget, "sandbox"),
    ("uml", UmlTarget, "sandbox"),
])
def test_parse_known_names(name, cls, kind):
    t = parse(name)
    assert type(t) is cls and t.name == name and t.target_kind == kind


def test_parse_path_splits_modules_dir():
    t = parse("path:/tmp/bzImage:/tmp/mods")
    assert (t.vmlinuz, t.modules_dir, t.debian) == ("/tmp/bzImage", "/tmp/mods", None)
    assert parse("path:/tmp/bzImage").modules_dir is None
    assert parse("debian:6.12").debian == "6.12"


@pytest.mark.parametrize("name", ["bogus", "debian", "debian:", "debian:six", "path:", "hosts", "qemu", ""])
def test_parse_unknown_or_malformed_names(name):
    with pytest.raises(ValueError):
        parse(name)


def test_every_kind_is_registered():
    assert {"host", "qemu", "gvisor", "uml"} <= set(Target.registry)


# -- Debian packages: see test_kernels.py ----------------------------------------------------

def test_user_kernel_paths(tmp_path):
    vmlinuz = tmp_path / "bzImage"
    vmlinuz.write_bytes(b"")
    (tmp_path / "inst" / "lib" / "modules" / "6.13.0").mkdir(parents=True)
    k = kernels.user_kernel(str(vmlinuz), str(tmp_path / "inst"))      # an INSTALL_MOD_PATH
    assert k.modules_dir == str(tmp_path / "inst" / "lib" / "modules" / "6.13.0")
    assert kernels.user_kernel(str(vmlinuz), None).modules_dir is None
    with pytest.raises(SetupError, match="does not exist"):
        kernels.user_kernel(str(tmp_path / "missing"), None)


# -- kernel modules ----------------------------------------------------------------------

def elf_module(modinfo: dict[str, list[str]]) -> bytes:
    """A minimal 64-bit ELF object with a .modinfo section, as depmod reads it."""
    info = b"".join(f"{k}={v}".encode() + b"\0" for k, vs in modinfo.items() for v in vs)
    shstr = b"\0.modinfo\0.shstrtab\0"
    info_off = 64
    shstr_off = info_off + len(info)
    shoff = (shstr_off + len(shstr) + 7) & ~7
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    body = header + info + shstr
    body += b"\0" * (shoff - len(body))
    sections = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, info_off, len(info), 0, 0, 1, 0),
                struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)]
    return body + b"".join(sections)


# name -> (path in the tree, depends, aliases); 9p needs netfs, which needs fscache
FAKE_MODULES = {
    "virtio_ring": ("kernel/drivers/virtio/virtio_ring.ko", [], []),
    "virtio": ("kernel/drivers/virtio/virtio.ko", ["virtio_ring"], []),
    "virtio_pci": ("kernel/drivers/virtio/virtio_pci.ko", ["virtio", "virtio_ring"], ["pci:v00001AF4d*"]),
    "9pnet": ("kernel/net/9p/9pnet.ko", [], ["net-pf-99"]),
    "9pnet_virtio": ("kernel/net/9p/9pnet_virtio.ko", ["9pnet", "virtio", "virtio_ring"], []),
    "fscache": ("kernel/fs/fscache/fscache.ko", [], []),
    "netfs": ("kernel/fs/netfs/netfs.ko", ["fscache"], []),
    "9p": ("kernel/fs/9p/9p.ko.xz", ["9pnet", "netfs"], ["fs-9p"]),
    "sctp": ("kernel/net/sctp/sctp.ko", [], ["net-pf-2-proto-132", "net-pf-10-proto-132"]),
    "tls": ("kernel/net/tls/tls.ko", [], ["tcp-ulp-tls"]),
}


def fake_modules(modules_dir: str, builtin=("overlay",)) -> str:
    for name, (rel, deps, aliases) in FAKE_MODULES.items():
        path = os.path.join(modules_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        elf = elf_module({"name": [name], "depends": [",".join(deps)], "alias": aliases})
        with open(path, "wb") as f:
            f.write(lzma.compress(elf) if rel.endswith(".xz") else elf)
    with open(os.path.join(modules_dir, "modules.builtin"), "w") as f:
        f.writelines(f"kernel/fs/{b}/{b}.ko\n" for b in builtin)
    return modules_dir


def test_modinfo_reads_depends_and_aliases(tmp_path):
    elf = elf_module({"depends": ["a,b-c"], "alias": ["x", "y*"], "license": ["GPL"]})
    assert kmod.modinfo(elf) == [("depends", "a,b-c"), ("alias", "x"), ("alias", "y*"), ("license", "GPL")]
    with pytest.raises(ValueError):
        kmod.modinfo(b"not an elf file at all, just some bytes ....................................")


def test_depmod_writes_modules_dep_deepest_last(tmp_path):
    d = fake_modules(str(tmp_path))
    kmod.depmod(d)
    dep = kmod.read_dep(d)
    assert dep["kernel/fs/9p/9p.ko.xz"] == ["kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko",
                                            "kernel/net/9p/9pnet.ko"] or \
        dep["kernel/fs/9p/9p.ko.xz"].index("kernel/fs/fscache/fscache.ko") > \
        dep["kernel/fs/9p/9p.ko.xz"].index("kernel/fs/netfs/netfs.ko")
    with open(os.path.join(d, kmod.GUEST_ALIASES)) as f:
        guest_aliases = f.read()
    assert "alias net-pf-2-proto-132 sctp" in guest_aliases and "pci:" not in guest_aliases
    assert kmod.resolve_alias(d, "net-pf-10-proto-132") == "sctp"
    assert kmod.resolve_alias(d, "pci:v00001AF4d00001000") == "virtio_pci"
    assert kmod.resolve_alias(d, "net-pf-12") is None


def test_load_order_puts_dependencies_first_and_skips_builtins(tmp_path):
    d = fake_modules(str(tmp_path))
    order = [kmod.module_name(p) for p in kmod.load_order(d, list(initramfs.GUEST_MODULES))]
    assert "overlay" not in order                                  # built in
    for before, after in [("virtio_ring", "virtio"), ("virtio", "virtio_pci"), ("9pnet", "9pnet_virtio"),
                          ("fscache", "netfs"), ("netfs", "9p"), ("9pnet", "9p")]:
        assert order.index(before) < order.index(after)
    assert len(order) == len(set(order))
    with pytest.raises(LookupError, match="nosuch"):
        kmod.load_order(d, ["nosuch"])


# -- the initramfs -----------------------------------------------------------------------

def read_cpio(path: str) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name -> (mode, data, (rdevmajor, rdevminor)) of a newc archive."""
    out = {}
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while True:
        assert blob[pos:pos + 6] == b"070701"
        fields = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        pos += 110
        name = blob[pos: pos + namesize - 1].decode()
        pos = (pos + namesize + 3) & ~3
        data = blob[pos: pos + filesize]
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (fields[1], data, (fields[9], fields[10]))


@pytest.fixture
def fake_busybox(tmp_path, monkeypatch):
    path = tmp_path / "busybox"
    path.write_bytes(b"\x7fELF-static-busybox")
    monkeypatch.setattr(initramfs, "find_busybox", lambda: str(path))
    return path


def test_initramfs_holds_busybox_init_console_and_modules_in_order(tmp_path, fake_busybox, monkeypatch):
    d = fake_modules(str(tmp_path / "modules"))
    out = tmp_path / "cache"
    out.mkdir()
    path = initramfs.build(str(out), d)
    entries = read_cpio(path)
    assert entries["init"][1].decode() == initramfs.init_script()
    assert entries["init"][0] & 0o111 and entries["bin/busybox"][1] == b"\x7fELF-static-busybox"
    mode, _, rdev = entries["dev/console"]
    assert stat.S_ISCHR(mode) and rdev == (5, 1)
    listed = entries["etc/modules"][1].decode().split()
    assert listed == [kmod.module_name(p) + ".ko" for p in kmod.load_order(d, list(initramfs.GUEST_MODULES))]
    assert all(f"modules/{m}" in entries for m in listed)
    assert entries["modules/9p.ko"][1].startswith(b"\x7fELF")              # stored uncompressed
    assert "bin/sockspec-modprobe" in entries
    assert initramfs.build(str(out), d) == path                          # reused, same key
    monkeypatch.setattr(initramfs, "init_script", lambda: "#!/bin/sh\n# a newer init\n")
    newer = initramfs.build(str(out), d)
    assert newer != path and os.listdir(out) == [os.path.basename(newer)]  # the stale one is gone


def test_initramfs_without_modules_dir_has_no_modules(tmp_path, fake_busybox):
    entries = read_cpio(initramfs.build(str(tmp_path), None))
    assert entries["etc/modules"][1] == b""


def test_is_static_on_real_binaries():
    assert not initramfs.is_static(sys.executable) or "static" in sys.executable
    if os.path.exists("/bin/busybox") and "busybox-static" in subprocess.run(
            ["dpkg", "-S", "/bin/busybox"], capture_output=True, text=True).stdout:
        assert initramfs.is_static("/bin/busybox")


@pytest.mark.parametrize("script", ["guest_init.sh", "uml_init.sh", "guest_modprobe.sh"])
def test_guest_scripts_parse(script):
    from importlib import resources
    text = resources.files("harness.targets").joinpath(script).read_text()
    done = subprocess.run(["/bin/sh", "-n"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_init_script_mounts_host_root_read_only_and_runs_the_command():
    s = initramfs.init_script()
    assert "hostroot /mnt/host" in s and ",ro," in s                      # host root: 9p, read-only
    assert "mount -t overlay" in s and "mount -t tmpfs" in s              # writable in memory
    assert "results /mnt/results" in s and 'mount --move /mnt/results "$R$RUN_DIR"' in s
    assert 'chroot $R /bin/sh "$RUN_DIR/guest/command.sh"' in s
    assert 'guest/exit-status' in s and "poweroff -f" in s
    for line in ("boot", "suite", "collect"):                             # the host follows these
        assert f'log "{line}' in s


@pytest.mark.parametrize("script", ["guest_init.sh", "uml_init.sh"])
def test_init_scripts_leave_tmp_alone(script):
    """A run directory or the virtualenv may live under /tmp (CI's does): hiding it with a
    tmpfs would lose the results or the interpreter."""
    from importlib import resources
    text = resources.files("harness.targets").joinpath(script).read_text()
    mounts = [line for line in text.splitlines() if line.strip().startswith("mount ")]
    assert mounts and not [m for m in mounts if m.rstrip(" \\").split()[-1].endswith("/tmp")]


def test_modprobe_script_resolves_an_alias_and_loads_in_order(tmp_path):
    """The guest modprobe, run here with busybox where busybox exists; insmod is faked."""
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        pytest.skip("busybox is not installed")
    d = fake_modules(str(tmp_path / "modules"))
    kmod.depmod(d)
    from importlib import resources
    text = resources.files("harness.targets").joinpath("guest_modprobe.sh").read_text()
    work = tmp_path / "run"
    work.mkdir()
    (work / "modules-dir").write_text(d + "\n")
    os.symlink(busybox, work / "busybox")
    # insmod needs a kernel: record the name= of each module it would load instead
    script = text.replace("busybox insmod $ko", f"busybox strings $ko | busybox grep ^name= >> {work}/loaded")
    script = script.replace("/run/sockspec", str(work))
    assert script != text
    (work / "modprobe").write_text(script)
    done = subprocess.run([busybox, "sh", str(work / "modprobe"), "-q", "--", "fs-9p"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = (work / "loaded").read_text().split()
    assert sorted(loaded) == ["name=9p", "name=9pnet", "name=fscache", "name=netfs"]
    assert loaded.index("name=fscache") < loaded.index("name=netfs") < loaded.index("name=9p")
    assert loaded.index("name=9pnet") < loaded.index("name=9p")
    for _ in range(2):                                  # an absent module: remembered as absent
        done = subprocess.run([busybox, "sh", str(work / "modprobe"), "-q", "--", "net-pf-12"])
        assert done.returncode == 1
    assert (work / "absent").read_text() == "net-pf-12\n"
    assert not list(work.glob("m.*.ko"))


# -- the suite command -------------------------------------------------------------------

def test_suite_command_is_the_contract():
    s = Suite(python="/venv/bin/python", pytest_args=("-k", "listen"), backend="ctypes", cwd="/w", env={})
    assert s.argv("/r", "debian:6.1", "linux") == [
        "/venv/bin/python", "-m", "harness.cli", "--backend", "ctypes", "run", "--run-dir", "/r",
        "--target", "debian:6.1", "--target-kind", "linux", "--", "-k", "listen",
        "--sockspec-call-bound=10"]                   # an emulated guest is slower
    assert s.argv("/r", "host", "linux")[-2:] == ["-k", "listen"]
    assert Suite(pytest_args=("--sockspec-call-bound=3",)).argv("/r", "debian:6.1", "linux")[-1] == \
        "--sockspec-call-bound=3"                     # the user's bound wins
    assert base.package_root() in s.environment()["PYTHONPATH"].split(os.pathsep)


def test_guest_script_keeps_the_interpreter_path_and_drops_secrets():
    s = Suite(python="/venv/bin/python", cwd="/w x", env={"PATH": "/venv/bin:/usr/bin", "HOME": "/root",
                                                         "GITHUB_TOKEN": "secret", "VIRTUAL_ENV": "/venv"})
    script = s.script("/r", "uml", "sandbox")
    assert "cd '/w x' || exit 125" in script and "export VIRTUAL_ENV=/venv" in script
    assert "secret" not in script
    assert script.rstrip().splitlines()[-1].startswith("exec /venv/bin/python -m harness.cli run --run-dir /r")


def test_oci_spec_mounts_the_run_dir_writable_and_no_network():
    spec = oci_spec(Suite(python="/p", cwd="/w", env={}), "/out/runs/gvisor", "gvisor", "sandbox")
    binds = [m for m in spec["mounts"] if m["type"] == "bind"]
    assert binds == [{"destination": "/out/runs/gvisor", "type": "bind", "source": "/out/runs/gvisor",
                      "options": ["rbind", "rw"]}]
    assert spec["process"]["args"][:3] == ["/p", "-m", "harness.cli"]
    assert {"type": "network"} in spec["linux"]["namespaces"]
    assert "CAP_NET_RAW" in spec["process"]["capabilities"]["effective"]


def test_qemu_argv_shares_the_host_root_read_only(tmp_path):
    k = kernels.Kernel("/k/vmlinuz", None, "k")
    argv = qemu.qemu_argv("/usr/bin/qemu-system-x86_64", k, "/i.cpio", "tcg", results="/out/r")
    joined = " ".join(argv)
    assert "-accel tcg" in joined and "-cpu host" not in joined
    assert "local,id=hostroot,path=/,security_model=none,readonly=on" in joined
    assert "path=/out/r," in joined and "mount_tag=results" in joined
    probe = qemu.qemu_argv("/q", k, "/i.cpio", "kvm", results=None, probe=True)
    assert "sockspec.probe" in " ".join(probe) and "-fsdev" not in probe and "-cpu" in probe


def test_choose_accel_without_kvm_is_tcg_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu.os, "access", lambda path, mode: False)
    notes = []
    ctx = Context("debian:6.1", str(tmp_path), Suite(), cache_dir=str(tmp_path),
                  report=lambda n, text: notes.append(text))
    assert qemu.choose_accel(ctx, "/q", kernels.Kernel("/k", None, "k"), "/i") == "tcg"
    assert len(notes) == 1 and "TCG" in notes[0]


def test_console_error_prefers_the_init_error(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("noise\nsockspec-init: boot 6.1\nsockspec-init: error: overlay mount failed\n[ 3.1] reboot\n")
    assert qemu.console_error(str(log)) == "error: overlay mount failed"
    log.write_text("Kernel panic - not syncing: VFS\n")
    assert "Kernel panic" in qemu.console_error(str(log))


# -- the scheduler -----------------------------------------------------------------------

def write_results(run_dir: str, target: str, kind: str, end: bool = True) -> None:
    from harness.report.records import FORMAT
    recs = [{"kind": "header", "format": FORMAT, "run_id": f"{target}-1", "started": "2026-01-01T00:00:00Z",
             "profile": {"target": target, "target_kind": kind, "kernel_release": "6.1.0-test"}, "rules": []}]
    if end:
        recs.append({"kind": "end", "finished": "2026-01-01T00:00:01Z", "counts": {}, "exit_status": 0})
    with open(os.path.join(run_dir, "results.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)


class FakeTarget(Target):
    """A target kind for tests only (registered as "fake"): ``fake:ok``, ``fake:hang``
    (sleeps in Python), ``fake:sleep`` (a hanging child process), ``fake:broken``. Registered
    only while a test uses the fake_kind fixture."""

    @classmethod
    def parse(cls, name):
        return cls(name) if name.startswith("fake:") else None

    def run(self, ctx):
        ctx.enter("boot")
        behaviour = self.name.split(":")[1]
        if behaviour == "hang":
            while not ctx.cancelled.is_set():
                time.sleep(0.05)
            raise base.Cancelled("cancelled")
        if behaviour == "sleep":
            proc = ctx.popen(["sleep", "1000"])
            FakeTarget.pids.append(proc.pid)
            ctx.wait(proc, ["sleep"])
        if behaviour == "broken":
            raise TargetError("the guest did not boot")
        ctx.enter("suite")
        write_results(ctx.run_dir, self.name, self.target_kind)
        return 1 if behaviour == "failing" else 0


FakeTarget.pids = []


@pytest.fixture
def fake_kind():
    Target.registry["fake"] = FakeTarget
    yield FakeTarget
    del Target.registry["fake"]


def test_scheduler_kills_a_hanging_target_and_the_others_finish(tmp_path, fake_kind):
    lines = []
    targets = [FakeTarget("fake:hang"), FakeTarget("fake:sleep"), FakeTarget("fake:ok")]
    started = time.monotonic()
    out = scheduler.run_targets(targets, str(tmp_path), Suite(), jobs=3, timeout=1.5,
                                progress=lambda n, t: lines.append((n, t)))
    assert time.monotonic() - started < 20
    hang, sleep, ok = out
    assert (hang.status, sleep.status, ok.status) == ("broken", "broken", "complete")
    assert "timed out after 2s in phase boot" in hang.reason or "timed out" in hang.reason
    assert sleep.phase == "boot" and "timed out" in sleep.reason
    for pid in FakeTarget.pids:                                    # the child was killed
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert ("fake:ok", "suite") in lines
    assert json.load(open(os.path.join(ok.run_dir, "target.json")))["status"] == "complete"


def test_scheduler_runs_at_most_jobs_at_once(tmp_path, fake_kind):
    active, peak = [0], [0]
    lock = threading.Lock()

    class Slow(FakeTarget):
        def run(self, ctx):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.3)
            with lock:
                active[0] -= 1
            write_results(ctx.run_dir, self.name, "linux")
            return 0

    out = scheduler.run_targets([Slow(f"fake:{i}") for i in range(4)], str(tmp_path), Suite(), jobs=2,
                                timeout=10, progress=lambda n, t: None)
    assert peak[0] == 2 and all(o.ok for o in out)
    assert len({o.run_dir for o in out}) == 4


def test_run_dirs_are_distinct_slugs(tmp_path):
    dirs = scheduler.run_dirs([parse("debian:6.1"), parse("path:/a/vmlinuz"), parse("path:/a/vmlinuz:/m")],
                              str(tmp_path))
    assert [os.path.basename(d) for d in dirs.values()] == ["debian-6.1", "path-vmlinuz", "path-vmlinuz-2"]


# -- the command and its exit codes ------------------------------------------------------

def test_unknown_target_exits_2_without_traceback(capsys):
    assert cli.main(["matrix", "--target", "host", "--target", "debian:six"]) == 2
    err = capsys.readouterr().err
    assert "debian:six" in err and "Traceback" not in err


def test_no_target_exits_2(capsys):
    assert cli.main(["matrix"]) == 2
    assert "no target" in capsys.readouterr().err


@pytest.mark.parametrize("name, tool", [("gvisor", "runsc"), ("uml", "linux"), ("debian:6.1", "qemu-system-x86_64")])
def test_missing_binary_exits_2_with_the_package_to_install(name, tool, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))                   # nothing on PATH
    monkeypatch.setattr(base.shutil, "which", lambda name: None)
    monkeypatch.setattr(base.os, "access", lambda path, mode: False)
    assert cli.main(["matrix", "--target", name, "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"{tool} not found: apt-get install" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()                        # nothing started


def test_matrix_merges_complete_runs_and_exits_0(tmp_path, fake_kind, capsys):
    out = tmp_path / "m"
    assert cli.main(["matrix", "--target", "fake:ok", "--target", "fake:ok2", "-o", str(out)]) == 0
    m = json.load(open(out / "matrix.json"))
    assert [c["target"] for c in m["columns"]] == ["fake:ok", "fake:ok2"]
    assert (out / "matrix.html").exists() and (out / "runs" / "fake-ok" / "results.jsonl").exists()
    assert "wall time" in capsys.readouterr().err


def test_matrix_exits_1_when_a_run_broke(tmp_path, fake_kind, capsys):
    out = tmp_path / "m"
    assert cli.main(["matrix", "--target", "fake:ok", "--target", "fake:broken", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "the guest did not boot" in err
    assert [c["target"] for c in json.load(open(out / "matrix.json"))["columns"]] == ["fake:ok"]


def test_matrix_exits_1_when_the_suite_fails_on_a_linux_target_only(tmp_path, fake_kind, capsys):
    assert cli.main(["matrix", "--target", "fake:failing", "-o", str(tmp_path / "m")]) == 1
    assert "the suite failed (exit 1) on a Linux target" in capsys.readouterr().err

    class Sandbox(FakeTarget):
        target_kind = "sandbox"

    Target.registry["fake"] = Sandbox                  # a sandbox's failures are findings
    assert cli.main(["matrix", "--target", "fake:failing", "-o", str(tmp_path / "s")]) == 0


def test_uml_memory_file_needs_room_in_dev_shm():
    from harness.targets.uml import shm_fits
    assert not shm_fits(10**9)
    assert not shm_fits(1, shm="/nonexistent")


def test_matrix_exits_1_when_a_linux_target_has_failing_checks(tmp_path, fake_kind, monkeypatch):
    from harness.report import merge as merge_module

    class M:
        linux_failures = {"fake:ok 6.1.0-test": 3}
        failing_linux_targets = ["fake:ok 6.1.0-test"]
        incomplete = []
        columns = []
        uncovered_linux = {}
        unmet_expectations = []
        html_path = str(tmp_path / "m" / "matrix.html")

    monkeypatch.setattr(merge_module, "merge", lambda run_dirs, out_dir: M())
    assert cli.main(["matrix", "--target", "fake:ok", "-o", str(tmp_path / "m")]) == 1


def test_matrix_exits_1_when_a_linux_column_misses_rules(tmp_path, fake_kind, monkeypatch, capsys):
    """100 % rule coverage per Linux column is the bar: a rule that holds for the kernel but
    no check exercised fails the matrix (rules that cannot hold are not counted)."""
    from harness.report import merge as merge_module

    class M:
        linux_failures = {}
        failing_linux_targets = []
        incomplete = []
        columns = []
        uncovered_linux = {"fake:ok 6.1.0-test": ["listen.inet"]}
        unmet_expectations = []
        html_path = str(tmp_path / "m" / "matrix.html")

    monkeypatch.setattr(merge_module, "merge", lambda run_dirs, out_dir: M())
    assert cli.main(["matrix", "--target", "fake:ok", "-o", str(tmp_path / "m")]) == 1
    assert "no check exercised: listen.inet" in capsys.readouterr().err


def test_matrix_exits_2_after_a_failed_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(QemuTarget, "check", lambda self: None)
    monkeypatch.setattr(qemu, "require_tool", lambda name, pkg: f"/usr/bin/{name}")

    def no_download(self, ctx):
        ctx.enter("download")
        raise SetupError("apt-get download linux-image-6.1.0-56-amd64-unsigned failed: network unreachable")

    monkeypatch.setattr(QemuTarget, "kernel", no_download)
    assert cli.main(["matrix", "--target", "debian:6.1", "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "network unreachable" in err and "setup-error" in err and "Traceback" not in err
