"""The ``uml`` target's choice of a UML binary, without UML or a network: the trial boot's
verdict and its memo, the fallback to Debian's newer user-mode-linux, the private apt state it
is downloaded with, and the rebinding of glibc 2.38's C23 imports for an older glibc."""
from __future__ import annotations

import os
import struct

import pytest

from harness.targets import debian_apt, glibc_compat, uml
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


# -- debian_apt: the archive the host uses, a private apt state --------------------------------

def test_one_line_sources():
    text = ("# comment\ndeb-src http://m.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k/debian.gpg] http://m.example/debian/ bookworm main contrib\n")
    entries = debian_apt.parse_one_line(text)
    assert entries[1] == ({"deb"}, ["http://m.example/debian/"], ["bookworm"], ["main", "contrib"],
                          "/k/debian.gpg")


def test_deb822_sources_skip_security_and_disabled_stanzas(tmp_path):
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /k/debian.gpg\n\n"
        "Types: deb\n# a comment\nURIs: http://m.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /k/debian.gpg\n")
    assert debian_apt.host_debian_source([str(tmp_path)]) == debian_apt.Source(
        "http://m.example/debian", "/k/debian.gpg")


def test_an_inline_key_falls_back_to_the_archive_keyring():
    text = ("Types: deb\nURIs: http://m.example/debian\nSuites: trixie\nComponents: main\n"
            "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n")
    (_types, _uris, _suites, _components, keyring), = debian_apt.parse_deb822(text)
    assert keyring is None


def test_no_debian_source_is_a_setup_error(tmp_path):
    (tmp_path / "other.list").write_text("deb http://m.example/debian bookworm contrib\n")
    with pytest.raises(SetupError, match="no Debian archive"):
        debian_apt.host_debian_source([str(tmp_path), str(tmp_path / "missing.list")])


def test_private_apt_state_leaves_the_host_configuration_alone(tmp_path):
    apt = debian_apt.PrivateApt(str(tmp_path / "apt"), ("testing", "unstable"),
                                debian_apt.Source("http://m.example/debian", "/k/debian.gpg"))
    apt.prepare()
    assert (tmp_path / "apt" / "sources.list").read_text() == (
        "deb [signed-by=/k/debian.gpg] http://m.example/debian testing main\n"
        "deb [signed-by=/k/debian.gpg] http://m.example/debian unstable main\n")
    opts = dict(o.split("=", 1) for o in apt.options()[1::2])
    assert opts["Dir::Etc::SourceList"] == str(tmp_path / "apt" / "sources.list")
    for key, value in opts.items():
        if key.startswith("Dir"):
            assert value == "/dev/null" or value.startswith(str(tmp_path)), key


@pytest.mark.parametrize("text, version", [
    ("user-mode-linux:\n  Installed: (none)\n  Candidate: 7.2um1\n  Version table:\n", "7.2um1"),
    ("user-mode-linux:\n  Installed: (none)\n  Candidate: (none)\n", None),
    ("", None),
])
def test_policy_candidate(text, version):
    assert debian_apt.policy_candidate(text) == version


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
    assert uml.debian_version_key("6.12um1+b22") < uml.debian_version_key("7.2um1")


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
