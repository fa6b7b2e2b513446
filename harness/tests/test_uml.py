"""The ``uml`` target's choice of a UML binary, without UML or a network: the trial boot's
verdict and its memo, the fallback to Debian's newer user-mode-linux (downloaded through
sockspec's apt state, aptstate.py, tested in test_kernels.py), and the rebinding of glibc 2.38's
C23 imports for an older glibc."""
from __future__ import annotations

import os
import struct
import subprocess

import pytest

from harness.targets import aptstate, glibc_compat, uml
from harness.targets.base import Context, SetupError, Suite
from harness.targets.glibc_compat import CompatError, elf_hash, parse, rebind_c23


# -- glibc_compat: a synthetic ELF with versioned dynamic imports ------------------------------

def make_elf(imports: list[tuple[str, str]]) -> bytearray:
    """A minimal ELF64 file whose .dynsym imports ``(name, version)`` pairs from libc.so.6,
    with .gnu.version and .gnu.version_r, described by section headers only."""
    versions = sorted({v for _n, v in imports})
    strings = bytearray(b"\0")
    offsets = {}
    for s in ["libc.so.6"] + [n for n, _v in imports] + versions:
        if s not in offsets:
            offsets[s] = len(strings)
            strings += s.encode() + b"\0"
    index = {v: i + 2 for i, v in enumerate(versions)}           # 0 local, 1 global
    dynsym = bytearray(24)                                       # the null symbol
    versym = bytearray(2)
    for name, version in imports:
        dynsym += struct.pack("<IBBHQQ", offsets[name], 0x12, 0, 0, 0, 0)
        versym += struct.pack("<H", index[version])
    verneed = bytearray(struct.pack("<HHIII", 1, len(versions), offsets["libc.so.6"], 16, 0))
    for i, v in enumerate(versions):
        last = i == len(versions) - 1
        verneed += struct.pack("<IHHII", elf_hash(v.encode()), 0, index[v], offsets[v], 0 if last else 16)
    blobs = [bytes(strings), bytes(dynsym), bytes(versym), bytes(verneed)]
    data = bytearray(64)
    places = []
    for blob in blobs:
        places.append(len(data))
        data += blob + b"\0" * (-len(blob) % 8)
    shoff = len(data)
    headers = [(0, 0, 0, 0, 0, 0),
               (3, places[0], len(blobs[0]), 0, 0, 0),                            # .dynstr
               (glibc_compat.SHT_DYNSYM, places[1], len(blobs[1]), 1, 1, 24),     # .dynsym
               (glibc_compat.SHT_GNU_VERSYM, places[2], len(blobs[2]), 2, 0, 2),  # .gnu.version
               (glibc_compat.SHT_GNU_VERNEED, places[3], len(blobs[3]), 1, 1, 0)]
    for sh_type, off, size, link, info, entsize in headers:
        data += struct.pack("<IIQQQQIIQQ", 0, sh_type, 0, 0, off, size, link, info, 8, entsize)
    data[:16] = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    struct.pack_into("<HHIQQQIHHHHHH", data, 16, 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64,
                     len(headers), 0)
    return data


def imported(data: bytearray) -> list[tuple[str, str]]:
    elf = parse(data)
    version = {n.index: n.version for n in elf.needs}
    return [(name.decode(), version[index]) for _e, _o, name, index in elf.symbols() if name]


def test_c23_imports_are_rebound_to_the_old_names_and_version():
    data = make_elf([("__isoc23_strtol", "GLIBC_2.38"), ("printf", "GLIBC_2.2.5"),
                     ("__isoc23_sscanf", "GLIBC_2.38")])
    assert rebind_c23(data, (2, 36)) == ["__isoc23_sscanf", "__isoc23_strtol"]
    assert imported(data) == [("strtol", "GLIBC_2.2.5"), ("printf", "GLIBC_2.2.5"),
                              ("sscanf", "GLIBC_2.2.5")]
    for need in parse(data).needs:
        assert need.hash == elf_hash(need.version.encode())     # the loader checks name and hash


def test_nothing_changes_when_the_host_glibc_has_the_versions():
    data = make_elf([("__isoc23_strtol", "GLIBC_2.38"), ("printf", "GLIBC_2.2.5")])
    before = bytes(data)
    assert rebind_c23(data, (2, 41)) == []
    assert bytes(data) == before


def test_other_too_new_imports_are_refused():
    data = make_elf([("__isoc23_strtol", "GLIBC_2.38"), ("strlcpy", "GLIBC_2.38"),
                     ("printf", "GLIBC_2.2.5")])
    with pytest.raises(CompatError, match="strlcpy"):
        rebind_c23(data, (2, 36))
    with pytest.raises(CompatError, match="GLIBC_2.2.5"):
        rebind_c23(make_elf([("__isoc23_strtol", "GLIBC_2.38")]), (2, 36))
    with pytest.raises(CompatError, match="ELF"):
        rebind_c23(bytearray(b"#!/bin/sh\n" + b"\0" * 64), (2, 36))


def test_a_real_binary_parses():
    path = "/bin/sh"
    data = bytearray(open(os.path.realpath(path), "rb").read())
    if data[:4] != b"\x7fELF" or data[4] != 2:
        pytest.skip("no 64-bit ELF /bin/sh")
    elf = parse(data)
    assert any(n.library.startswith("libc.so") for n in elf.needs)
    host = glibc_compat.glibc_version()
    if host:
        assert glibc_compat.too_new(elf, host) == []            # it runs here, so nothing is missing


# -- uml: trial boot verdicts and the choice of a binary ---------------------------------------

PANIC = ("mmapper_init - find_iomem failed\nuserspace - ptrace set fp regs failed, errno = 14\n"
         "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n")


def test_classify_the_xstate_panic_as_lasting():
    reason, lasting = uml.classify(PANIC)
    assert lasting and "ptrace set fp regs failed, errno = 14" in reason
    assert "\n" not in reason


def test_classify_a_missing_glibc_version_as_lasting():
    reason, lasting = uml.classify("/x/linux.uml: /lib/x86_64-linux-gnu/libc.so.6: version "
                                   "`GLIBC_2.38' not found (required by /x/linux.uml)\n")
    assert lasting and "GLIBC_2.38" in reason


def test_classify_anything_else_as_passing_trouble():
    reason, lasting = uml.classify("line 1\nline 2\nsomething odd\n")
    assert not lasting and "something odd" in reason


@pytest.fixture
def ctx(tmp_path):
    notes = []
    c = Context("uml", str(tmp_path / "run"), Suite(), cache_dir=str(tmp_path / "cache"),
                report=lambda name, text: notes.append(text))
    os.makedirs(c.run_dir)
    c.notes = notes
    return c


def fake_uml(tmp_path, name: str, release: str) -> uml.Uml:
    binary = tmp_path / name
    binary.write_bytes(b"\x7fELF" + name.encode())
    return uml.Uml(str(binary), str(tmp_path / "modules" / release), f"Debian's user-mode-linux {name}")


class Probe:
    def __init__(self, answers):
        self.answers = answers          # binary -> (reason, lasting)
        self.calls = []

    def __call__(self, ctx, u, busybox):
        self.calls.append(u.binary)
        return self.answers[u.binary]


def test_the_installed_uml_is_used_when_it_boots(ctx, tmp_path):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    probe = Probe({installed.binary: (None, False)})

    def fetch(ctx):
        raise AssertionError("nothing is downloaded when the installed UML works")

    assert uml.choose(ctx, installed, "/bin/busybox", probe, fetch) is installed
    assert uml.choose(ctx, installed, "/bin/busybox", probe, fetch) is installed
    assert probe.calls == [installed.binary]                    # the verdict is kept


def test_a_newer_uml_replaces_one_that_cannot_run_here(ctx, tmp_path):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    newer = fake_uml(tmp_path, "7.2um1", "7.2.7")
    probe = Probe({installed.binary: uml.classify(PANIC), newer.binary: (None, False)})
    assert uml.choose(ctx, installed, "/bin/busybox", probe, lambda ctx: newer) is newer
    assert any("cannot run here" in n and "errno = 14" in n for n in ctx.notes)
    assert any("using Debian's user-mode-linux 7.2um1" in n for n in ctx.notes)
    probe.calls.clear()
    assert uml.choose(ctx, installed, "/bin/busybox", probe, lambda ctx: newer) is newer
    assert probe.calls == []                                    # both verdicts were kept


def test_one_clear_line_when_no_uml_can_run_here(ctx, tmp_path):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    newer = fake_uml(tmp_path, "6.12um1", "6.12.113")
    probe = Probe({installed.binary: uml.classify(PANIC), newer.binary: uml.classify(PANIC)})
    with pytest.raises(SetupError) as err:
        uml.choose(ctx, installed, "/bin/busybox", probe, lambda ctx: newer)
    message = str(err.value)
    assert "\n" not in message and "6.1.176" in message and "6.12um1" in message
    assert "errno = 14" in message


def test_a_failed_download_says_why_the_installed_uml_was_not_enough(ctx, tmp_path):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    probe = Probe({installed.binary: uml.classify(PANIC)})

    def fetch(ctx):
        raise SetupError("apt-get update (testing unstable) failed: no network")

    with pytest.raises(SetupError, match=r"errno = 14.*no network"):
        uml.choose(ctx, installed, "/bin/busybox", probe, fetch)


def test_passing_trouble_is_not_remembered(ctx, tmp_path):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    probe = Probe({installed.binary: ("its trial boot did not finish within 30s", False)})
    for _ in range(2):
        assert uml.verdict(ctx, installed, "/bin/busybox", probe) is not None
    assert len(probe.calls) == 2


def test_the_verdict_depends_on_the_host_kernel(ctx, tmp_path, monkeypatch):
    installed = fake_uml(tmp_path, "installed", "6.1.176")
    key = uml.memo_key(installed.binary)
    real = os.uname()
    fake = type(real)((real.sysname, real.nodename, real.release + "-other", real.version, real.machine))
    monkeypatch.setattr(uml.os, "uname", lambda: fake)
    assert uml.memo_key(installed.binary) != key


def test_the_newest_complete_download_is_reused(ctx, tmp_path):
    root = tmp_path / "cache" / "uml"
    for version, complete in (("6.12um1+b22", True), ("7.2um1", True), ("7.3um1", False)):
        tree = root / f"user-mode-linux_{version}"
        (tree / "usr" / "lib" / "uml" / "modules" / version.split("um")[0]).mkdir(parents=True)
        if complete:
            (tree / ".complete").touch()
    got = uml.fetch_newer(ctx)                                  # no apt: the cache answers
    assert got.binary == str(root / "user-mode-linux_7.2um1" / "usr" / "bin" / "linux.uml")
    assert got.release == "7.2" and got.label == "Debian's user-mode-linux 7.2um1"


def fake_apt(monkeypatch, tmp_path, binary: bytes | None):
    """sockspec's apt state without apt: the lists are fresh, the candidate is 7.2um1, and
    apt-get download / dpkg -x make a user-mode-linux tree holding ``binary``."""
    asked, ran = [], []
    monkeypatch.setattr(aptstate.PrivateApt, "ensure_updated", lambda self, run=None: asked.append(("update", self.root)))

    def cache(self, *args, run=None):
        asked.append(args)
        return f"{args[1]}:\n  Installed: (none)\n  Candidate: 7.2um1\n"

    def run(self, argv, timeout=None, log=None, **kw):
        tool = os.path.basename(argv[0])
        ran.append(tool)
        if tool == "apt-get":
            assert argv[-2:] == ["download", "user-mode-linux=7.2um1"]
            open(os.path.join(kw["cwd"], "user-mode-linux_7.2um1_amd64.deb"), "w").close()
        elif tool == "dpkg":
            tree = argv[3]
            os.makedirs(os.path.join(tree, "usr", "lib", "uml", "modules", "7.2.7"))
            if binary is not None:
                os.makedirs(os.path.join(tree, "usr", "bin"))
                with open(os.path.join(tree, "usr", "bin", "linux.uml"), "wb") as f:
                    f.write(binary)
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(aptstate.PrivateApt, "cache", cache)
    monkeypatch.setattr(Context, "run", run)
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    monkeypatch.setattr(glibc_compat, "glibc_version", lambda: (2, 36))
    return asked, ran


def test_a_newer_uml_is_downloaded_through_the_shared_apt_state(ctx, tmp_path, monkeypatch):
    asked, ran = fake_apt(monkeypatch, tmp_path, bytes(make_elf([("__isoc23_strtol", "GLIBC_2.38"),
                                                                 ("printf", "GLIBC_2.2.5")])))
    ctx.options["debian_mirror"] = "http://m.example/debian/"
    got = uml.fetch_newer(ctx)
    cache = tmp_path / "cache"
    dest = cache / "uml" / "user-mode-linux_7.2um1"
    assert asked == [("update", str(cache / "apt")), ("policy", "user-mode-linux")]
    assert ran == ["apt-get", "dpkg"]
    assert got.binary == str(dest / "usr" / "bin" / "linux.uml") and got.release == "7.2.7"
    assert (dest / ".complete").exists() and not (cache / "uml" / "user-mode-linux_7.2um1.partial").exists()
    assert imported(bytearray(open(got.binary, "rb").read()))[0] == ("strtol", "GLIBC_2.2.5")
    assert any("rebound __isoc23_strtol" in n for n in ctx.notes)
    assert os.path.isdir(cache / "apt") and not os.path.exists(cache / "uml" / "apt")  # kept for the kernels
    assert uml.fetch_newer(ctx) == got and ran == ["apt-get", "dpkg"]                 # cached


def test_a_package_without_the_binary_is_not_kept(ctx, tmp_path, monkeypatch):
    fake_apt(monkeypatch, tmp_path, None)
    ctx.options["debian_mirror"] = "http://m.example/debian"
    with pytest.raises(SetupError, match="user-mode-linux 7.2um1 has no usr/bin/linux.uml"):
        uml.fetch_newer(ctx)
    assert uml.newest_cached(str(tmp_path / "cache" / "uml")) is None


def test_a_downloaded_binary_is_adapted_to_an_older_glibc(tmp_path, monkeypatch):
    binary = tmp_path / "linux.uml"
    binary.write_bytes(make_elf([("__isoc23_strtoul", "GLIBC_2.38"), ("printf", "GLIBC_2.2.5")]))
    monkeypatch.setattr(glibc_compat, "glibc_version", lambda: (2, 36))
    assert uml.adapt_to_glibc(str(binary)) == ["__isoc23_strtoul"]
    assert imported(bytearray(binary.read_bytes()))[0] == ("strtoul", "GLIBC_2.2.5")
    assert os.access(binary, os.X_OK)
    assert uml.adapt_to_glibc(str(binary)) == []                # nothing left to do

    binary.write_bytes(make_elf([("strlcpy", "GLIBC_2.38"), ("printf", "GLIBC_2.2.5")]))
    with pytest.raises(SetupError, match="glibc 2.36"):
        uml.adapt_to_glibc(str(binary))
