"""Debian kernels by name (harness/targets/aptstate.py, kernels.py): the host's apt sources,
sockspec's private apt state, the package chosen from apt-cache output for both of Debian's
packaging schemes, both unpacked layouts, and the error for a name that does not resolve.
Nothing here touches the network or the host's apt state: apt-get and apt-cache are faked."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from harness import cli
from harness.targets import aptstate, kernels, kmod, qemu
from harness.targets.base import Context, SetupError, Suite
from harness.targets.qemu import QemuTarget

from test_targets import fake_modules

# -- the host's sources -----------------------------------------------------------------------

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_INLINE_KEY_AND_DISABLED = """\
Types: deb
URIs: http://mirror.example/debian
Suites: trixie
Components: main contrib
Enabled: no

Types: deb deb-src
URIs: https://ftp.de.debian.org/debian/
Suites: trixie trixie-updates
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEY865UxYJKwYBBAHaRw8BAQdAd7Z0srwuhlB6JKFkcf4HU4SSS/xcRfwEQWzr
 -----END PGP PUBLIC KEY BLOCK-----
"""

ONE_LINE = """\
# deb http://old.example/debian buster main
deb [arch=amd64 signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main
deb-src http://deb.debian.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.fr.debian.org/debian/ bookworm main contrib  # fr
"""

UBUNTU = """\
Types: deb
URIs: http://archive.ubuntu.com/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
"""


def test_deb822_stanzas():
    main, security = aptstate.parse_deb822(DEB822, "debian.sources")
    assert (main.types, main.uris, main.suites, main.components) == (
        ["deb"], ["http://deb.debian.org/debian"], ["bookworm", "bookworm-updates"], ["main"])
    assert main.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert security.suites == ["bookworm-security"]


def test_deb822_skips_disabled_stanzas_and_keeps_inline_keys():
    entry, = aptstate.parse_deb822(DEB822_INLINE_KEY_AND_DISABLED)
    assert entry.types == ["deb", "deb-src"] and entry.uris == ["https://ftp.de.debian.org/debian/"]
    assert "BEGIN PGP PUBLIC KEY BLOCK" in entry.signed_by


def test_one_line_format_with_options_and_comments():
    entries = aptstate.parse_one_line(ONE_LINE)
    assert [(e.types[0], e.uris[0], e.suites[0]) for e in entries] == [
        ("deb", "https://deb.nodesource.com/node_20.x", "nodistro"),
        ("deb-src", "http://deb.debian.org/debian", "bookworm"),
        ("deb", "http://security.debian.org/debian-security", "bookworm-security"),
        ("deb", "http://ftp.fr.debian.org/debian/", "bookworm")]
    assert entries[0].signed_by == "/usr/share/keyrings/nodesource.gpg"
    assert entries[3].components == ["main", "contrib"]


@pytest.mark.parametrize("files, mirror", [
    ({"sources.list.d/debian.sources": DEB822}, "http://deb.debian.org/debian"),
    # not the nodesource repository, not deb-src, not the security archive
    ({"sources.list": ONE_LINE}, "http://ftp.fr.debian.org/debian"),
    ({"sources.list.d/a.sources": DEB822_INLINE_KEY_AND_DISABLED}, "https://ftp.de.debian.org/debian"),
    # apt reads only *.list and *.sources in sources.list.d
    ({"sources.list.d/debian.sources.disabled": DEB822}, None),
    ({"sources.list.d/ubuntu.sources": UBUNTU}, None),
    ({}, None),
])
def test_host_mirror_from_the_sources_files(tmp_path, files, mirror):
    (tmp_path / "sources.list.d").mkdir()
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    assert aptstate.host_mirror((str(tmp_path / "sources.list"), str(tmp_path / "sources.list.d"))) == mirror


def test_no_mirror_asks_for_debian_mirror(tmp_path):
    with pytest.raises(SetupError, match="--debian-mirror"):
        aptstate.for_cache(str(tmp_path), None, sources=(str(tmp_path / "none"),))
    apt = aptstate.for_cache(str(tmp_path), "http://mirror.example/debian/", sources=(str(tmp_path / "none"),))
    assert apt.mirror == "http://mirror.example/debian" and apt.root == str(tmp_path / "apt")


# -- the private apt state --------------------------------------------------------------------

def private(tmp_path, **kw) -> aptstate.PrivateApt:
    tmp_path.mkdir(parents=True, exist_ok=True)
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"")
    return aptstate.PrivateApt(str(tmp_path / "apt"), "http://deb.debian.org/debian", "amd64",
                               str(keyring), warn=lambda text: None, **kw)


def option_map(argv: list[str]) -> dict[str, str]:
    out = {}
    for i, a in enumerate(argv):
        if a == "-o":
            key, _, value = argv[i + 1].partition("=")
            out[key] = value
    return out


def test_private_configuration_keeps_apt_away_from_the_host(tmp_path):
    apt = private(tmp_path)
    apt.write_config()
    root = str(tmp_path / "apt")
    opts = option_map(apt.options())
    for key in ("Dir::State", "Dir::State::Lists", "Dir::State::status", "Dir::Cache",
                "Dir::Cache::Archives", "Dir::Cache::pkgcache", "Dir::Etc::SourceList",
                "Dir::Etc::SourceParts", "Dir::Etc::Preferences", "Dir::Etc::PreferencesParts",
                "Dir::Etc::TrustedParts"):
        assert opts[key].startswith(root + "/"), key
    assert opts["APT::Architectures"] == "amd64" and opts["Acquire::Languages"] == "none"
    assert os.path.getsize(opts["Dir::State::status"]) == 0            # nothing installed
    assert os.path.getsize(opts["Dir::Etc::SourceList"]) == 0
    sources = open(os.path.join(opts["Dir::Etc::SourceParts"], "debian.sources")).read()
    parsed, = aptstate.parse_deb822(sources)
    assert parsed.uris == ["http://deb.debian.org/debian"] and parsed.types == ["deb"]
    assert parsed.suites == ["bullseye", "bookworm", "bookworm-backports", "trixie", "trixie-backports",
                             "sid", "experimental"]
    assert parsed.signed_by == str(tmp_path / "keyring.gpg") and parsed.components == ["main"]
    assert os.listdir(opts["Dir::Etc::SourceParts"]) == ["debian.sources"]


class FakeApt:
    """apt-get update, as subprocess.run would run it: writes a list file, counts calls."""

    def __init__(self, apt: aptstate.PrivateApt, rc: int = 0, stderr: str = "", lists: bool = True):
        self.apt, self.rc, self.stderr, self.lists, self.calls = apt, rc, stderr, lists, []

    def __call__(self, argv, **kw):
        self.calls.append(argv[-1])
        if argv[-1] == "update" and self.lists:
            lists = option_map(argv)["Dir::State::Lists"]
            open(os.path.join(lists, "deb.debian.org_debian_dists_sid_main_binary-amd64_Packages.lz4"), "w").close()
        return subprocess.CompletedProcess(argv, self.rc if argv[-1] == "update" else 0, "", self.stderr)


def test_update_runs_once_a_day(tmp_path, monkeypatch):
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    apt = private(tmp_path)
    run = FakeApt(apt)
    apt.ensure_updated(run=run)
    assert run.calls == ["update", "gencaches"] and apt.fresh()
    apt.ensure_updated(run=run)
    assert run.calls == ["update", "gencaches"]                       # fresh: nothing run
    day_ago = time.time() - aptstate.MAX_AGE - 60
    os.utime(apt.stamp, (day_ago, day_ago))
    assert not apt.fresh()
    apt.ensure_updated(run=run)
    assert run.calls.count("update") == 2
    # another mirror is another set of lists
    other = aptstate.PrivateApt(apt.root, "http://mirror.example/debian", keyring=apt.keyring)
    assert not other.fresh()


def test_update_with_some_suites_missing_uses_the_others_and_retries(tmp_path, monkeypatch):
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    apt = private(tmp_path)
    notes = []
    apt.warn = notes.append
    run = FakeApt(apt, rc=100, stderr="E: The repository 'http://m/debian experimental Release' does not have a Release file.")
    apt.ensure_updated(run=run)
    assert not apt.fresh() and "experimental Release" in notes[-1]
    with pytest.raises(SetupError, match="apt-get update of sockspec's Debian lists failed: E: Could not resolve"):
        private(tmp_path / "other").ensure_updated(
            run=FakeApt(apt, rc=100, stderr="E: Could not resolve 'deb.debian.org'", lists=False))


def test_update_without_the_keyring_says_what_to_install(tmp_path, monkeypatch):
    apt = private(tmp_path)
    apt.keyring = str(tmp_path / "missing.gpg")
    with pytest.raises(SetupError, match="apt-get install debian-archive-keyring"):
        apt.ensure_updated(run=FakeApt(apt))


def test_parallel_updates_run_apt_get_once(tmp_path, monkeypatch):
    import threading
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    apt = private(tmp_path)
    run = FakeApt(apt)
    slow = lambda argv, **kw: (time.sleep(0.2), run(argv, **kw))[1]
    threads = [threading.Thread(target=apt.ensure_updated, kwargs={"run": slow}) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert run.calls.count("update") == 1


@pytest.mark.parametrize("text, version", [
    ("user-mode-linux:\n  Installed: (none)\n  Candidate: 7.2um1\n  Version table:\n", "7.2um1"),
    ("user-mode-linux:\n  Installed: (none)\n  Candidate: (none)\n", None),
    ("", None),
])
def test_policy_candidate(text, version):
    assert aptstate.policy_candidate(text) == version


def test_candidate_asks_apt_cache_policy_and_names_the_mirror_when_there_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    apt = private(tmp_path)
    asked = []

    def run(argv, **kw):
        asked.append(argv[-2:])
        out = "  Candidate: 7.2um1\n" if argv[-1] == "user-mode-linux" else "  Candidate: (none)\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    assert apt.candidate("user-mode-linux", run=run) == "7.2um1"
    with pytest.raises(SetupError, match=r"no-such is not in Debian bullseye, .*experimental "
                                         r"\(mirror http://deb.debian.org/debian\)"):
        apt.candidate("no-such", run=run)
    assert asked == [["policy", "user-mode-linux"], ["policy", "no-such"]]


# -- choosing the package -----------------------------------------------------------------------

# apt-cache search --names-only '^linux-(image|binary-unsigned)-[0-9].*-amd64(-unsigned)?$' (cut)
SEARCH = """\
linux-binary-unsigned-7.2.13+deb14-amd64 - Linux 7.2.13 for 64-bit PCs (unsigned kernel image)
linux-binary-unsigned-7.2.13+deb14-cloud-amd64 - Linux 7.2.13 for x86-64 cloud (unsigned kernel image)
linux-binary-unsigned-7.3-amd64 - Linux 7.3-rc7 for 64-bit PCs (unsigned kernel image)
linux-image-5.10.0-30-amd64-unsigned - Linux 5.10 for 64-bit PCs
linux-image-5.10.0-32-amd64 - Linux 5.10 for 64-bit PCs (signed)
linux-image-5.10.0-32-amd64-unsigned - Linux 5.10 for 64-bit PCs
linux-image-5.10.0-32-cloud-amd64-unsigned - Linux 5.10 for x86-64 cloud
linux-image-6.1.0-9-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-50-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-50-rt-amd64-unsigned - Linux 6.1 for 64-bit PCs, PREEMPT_RT
linux-image-6.12.95+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.90+deb12.1-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb13-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb13-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.111+deb13-arm64-unsigned - Linux 6.12 for 64-bit ARMv8 machines
linux-image-7.2.13+deb14-amd64 - Linux 7.2.13 for 64-bit PCs
linux-image-7.3-amd64 - Linux 7.3-rc7 for 64-bit PCs
"""

# apt-cache madison of those names (cut)
MADISON = """\
linux-binary-unsigned-7.2.13+deb14-amd64 |   7.2.13-1 | http://deb.debian.org/debian sid/main amd64 Packages
linux-binary-unsigned-7.3-amd64 | 7.3~rc7-1~exp1 | http://deb.debian.org/debian experimental/main amd64 Packages
linux-image-5.10.0-30-amd64-unsigned | 5.10.218-1 | http://deb.debian.org/debian bullseye/main amd64 Packages
linux-image-5.10.0-32-amd64 | 5.10.223-1 | http://deb.debian.org/debian bullseye/main amd64 Packages
linux-image-5.10.0-32-amd64-unsigned | 5.10.223-1 | http://deb.debian.org/debian bullseye/main amd64 Packages
linux-image-6.1.0-9-amd64-unsigned |  6.1.27-1 | http://deb.debian.org/debian bookworm/main amd64 Packages
linux-image-6.1.0-50-amd64-unsigned |  6.1.176-1 | http://deb.debian.org/debian bookworm/main amd64 Packages
linux-image-6.12.95+deb12-amd64-unsigned | 6.12.95-1~bpo12+1 | http://deb.debian.org/debian bookworm-backports/main amd64 Packages
linux-image-6.12.90+deb12.1-amd64 | 6.12.90-1~bpo12+1 | http://deb.debian.org/debian bookworm-backports/main amd64 Packages
linux-image-6.12.117+deb13-amd64 | 6.12.117-1 | http://deb.debian.org/debian trixie/main amd64 Packages
linux-image-6.12.117+deb13-amd64-unsigned | 6.12.117-1 | http://deb.debian.org/debian trixie/main amd64 Packages
linux-image-7.2.13+deb14-amd64 |   7.2.13-1 | http://deb.debian.org/debian sid/main amd64 Packages
linux-image-7.3-amd64 | 7.3~rc7-1~exp1 | http://deb.debian.org/debian experimental/main amd64 Packages
"""

# apt-cache show linux-image-7.2.13+deb14-amd64=7.2.13-1 (cut): sid's dependency package
SHOW_SID_IMAGE = """\
Package: linux-image-7.2.13+deb14-amd64
Source: linux-signed-amd64 (7.2.13+1)
Version: 7.2.13-1
Installed-Size: 15
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1), linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1)
Pre-Depends: linux-base (>= 4.17~)
Recommends: apparmor
Filename: pool/main/l/linux-signed-amd64/linux-image-7.2.13+deb14-amd64_7.2.13-1_amd64.deb

"""
SHOW_SID = {
    "linux-image-7.2.13+deb14-amd64=7.2.13-1": SHOW_SID_IMAGE,
    "linux-base-7.2.13+deb14-amd64=7.2.13-1": "Package: linux-base-7.2.13+deb14-amd64\nVersion: 7.2.13-1\n",
    "linux-binary-unsigned-7.2.13+deb14-amd64=7.2.13-1":
        "Package: linux-binary-unsigned-7.2.13+deb14-amd64\nDepends: linux-base-7.2.13+deb14-amd64 (= 7.2.13-1)\n",
    "linux-modules-7.2.13+deb14-amd64=7.2.13-1":
        "Package: linux-modules-7.2.13+deb14-amd64\nDepends: kmod, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1)\n",
    # the old scheme: one package, no dependency at an exact version
    "linux-image-6.12.117+deb13-amd64-unsigned=6.12.117-1":
        "Package: linux-image-6.12.117+deb13-amd64-unsigned\nVersion: 6.12.117-1\n"
        "Depends: kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\nPre-Depends: linux-base (>= 4.12~)\n",
}


@pytest.mark.parametrize("wanted, package, version, suite", [
    ("5.10", "linux-image-5.10.0-32-amd64-unsigned", "5.10.223-1", "bullseye"),   # unsigned over signed
    ("6.1", "linux-image-6.1.0-50-amd64-unsigned", "6.1.176-1", "bookworm"),      # 50 > 9, not string order
    ("6.12", "linux-image-6.12.117+deb13-amd64-unsigned", "6.12.117-1", "trixie"),  # newest over all suites
    ("6.12.95", "linux-image-6.12.95+deb12-amd64-unsigned", "6.12.95-1~bpo12+1", "bookworm-backports"),
    ("6.12.90", "linux-image-6.12.90+deb12.1-amd64", "6.12.90-1~bpo12+1", "bookworm-backports"),  # only signed
    ("6.1.0-9", "linux-image-6.1.0-9-amd64-unsigned", "6.1.27-1", "bookworm"),
    ("sid", "linux-image-7.2.13+deb14-amd64", "7.2.13-1", "sid"),                 # the new scheme
    ("unstable", "linux-image-7.2.13+deb14-amd64", "7.2.13-1", "sid"),
    ("experimental", "linux-image-7.3-amd64", "7.3~rc7-1~exp1", "experimental"),
    ("7.3", "linux-image-7.3-amd64", "7.3~rc7-1~exp1", "experimental"),
    ("trixie", "linux-image-6.12.117+deb13-amd64-unsigned", "6.12.117-1", "trixie"),
])
def test_choose_the_newest_match(wanted, package, version, suite):
    names = kernels.image_names(SEARCH, "amd64", wanted)
    entries = [e for e in kernels.parse_madison(MADISON) if e[0] in names]
    chosen = kernels.choose(wanted, entries)
    assert (chosen.package, chosen.version, chosen.suite) == (package, version, suite)


def test_image_names_skip_flavours_and_other_architectures():
    names = kernels.image_names(SEARCH, "amd64")
    assert "linux-image-6.1.0-50-rt-amd64-unsigned" not in names
    assert "linux-image-5.10.0-32-cloud-amd64-unsigned" not in names
    assert "linux-binary-unsigned-7.2.13+deb14-cloud-amd64" not in names
    assert "linux-image-6.12.111+deb13-arm64-unsigned" not in names
    assert kernels.image_names(SEARCH, "arm64") == ["linux-image-6.12.111+deb13-arm64-unsigned"]
    assert kernels.image_names(SEARCH, "amd64", "6.1") == [
        "linux-image-6.1.0-9-amd64-unsigned", "linux-image-6.1.0-50-amd64-unsigned"]   # not 6.12


def test_choose_nothing():
    entries = kernels.parse_madison(MADISON)
    assert kernels.choose("4.19", entries) is None
    assert kernels.choose("bookworm-backports", [e for e in entries if e[2] != "bookworm-backports"]) is None


@pytest.mark.parametrize("a, b", [
    ("7.3~rc7-1~exp1", "7.3-1"), ("6.12.95-1~bpo12+1", "6.12.95-1"), ("6.1.27-1", "6.1.176-1"),
    ("1.0-1", "1:0.9-1"), ("2.0a", "2.0b"), ("2.0", "2.0.1"), ("2.0~", "2.0"), ("5.10.218-1", "5.10.223-1"),
])
def test_debian_version_order(a, b):
    assert kernels.compare_versions(a, b) < 0 < kernels.compare_versions(b, a)
    assert kernels.compare_versions(a, a) == 0


def test_exact_dependencies_are_the_kernel_parts():
    assert kernels.exact_dependencies(SHOW_SID_IMAGE) == [
        ("linux-base-7.2.13+deb14-amd64", "7.2.13-1"), ("linux-binary-7.2.13+deb14-amd64", "7.2.13-1"),
        ("linux-modules-7.2.13+deb14-amd64", "7.2.13-1")]
    assert kernels.exact_dependencies(SHOW_SID["linux-image-6.12.117+deb13-amd64-unsigned=6.12.117-1"]) == []


class CannedApt(aptstate.PrivateApt):
    """A PrivateApt whose apt-cache answers come from the fixtures above."""

    def __init__(self, root):
        super().__init__(root, "http://deb.debian.org/debian", "amd64", warn=lambda t: None)
        self.asked = []

    def ensure_updated(self, run=None):
        self.asked.append("update")

    def cache(self, *args, run=None):
        self.asked.append(args[0])
        if args[0] == "search":
            return SEARCH
        if args[0] == "madison":
            return "".join(line + "\n" for line in MADISON.splitlines() if line.split(" |")[0] in args[1:])
        if args[0] == "show":
            return SHOW_SID[args[1]]
        raise AssertionError(args)


def test_resolve_sid_downloads_the_parts_with_the_unsigned_image(tmp_path):
    apt = CannedApt(str(tmp_path))
    k = kernels.resolve_debian("sid", apt)
    assert apt.asked[:3] == ["update", "search", "madison"]
    assert (k.package, k.version, k.suite) == ("linux-image-7.2.13+deb14-amd64", "7.2.13-1", "sid")
    assert k.packages == ("linux-image-7.2.13+deb14-amd64=7.2.13-1", "linux-base-7.2.13+deb14-amd64=7.2.13-1",
                          "linux-binary-unsigned-7.2.13+deb14-amd64=7.2.13-1",
                          "linux-modules-7.2.13+deb14-amd64=7.2.13-1")
    assert k.describe() == "linux-image-7.2.13+deb14-amd64 7.2.13-1 from sid"


def test_resolve_trixie_kernel_is_one_package(tmp_path):
    k = kernels.resolve_debian("6.12", CannedApt(str(tmp_path)))
    assert k.packages == ("linux-image-6.12.117+deb13-amd64-unsigned=6.12.117-1",)


@pytest.mark.parametrize("wanted, line", [
    ("4.19", "no Debian kernel linux-image-4.19*-amd64 in any of bullseye, bookworm, bookworm-backports, "
             "trixie, trixie-backports, sid, experimental (mirror http://deb.debian.org/debian)"),
    ("trixie-backports", "no Debian kernel linux-image-*-amd64 in trixie-backports (mirror http://deb.debian.org/debian)"),
])
def test_a_name_that_does_not_resolve(tmp_path, wanted, line):
    with pytest.raises(SetupError) as err:
        kernels.resolve_debian(wanted, CannedApt(str(tmp_path)))
    assert str(err.value) == line


def test_cli_reports_an_unresolved_name_in_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(qemu, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    monkeypatch.setattr(qemu.initramfs, "find_busybox", lambda: "/bin/busybox")
    mirrors = []

    def apt(self, ctx=None):
        mirrors.append(self.options.get("debian_mirror"))
        return CannedApt(str(tmp_path))

    monkeypatch.setattr(QemuTarget, "apt", apt)
    code = cli.main(["matrix", "--target", "debian:4.19", "--debian-mirror", "http://m.example/debian",
                     "-o", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and mirrors == ["http://m.example/debian"]
    assert err == ("sockspec: error: debian:4.19: no Debian kernel linux-image-4.19*-amd64 in any of bullseye, "
                   "bookworm, bookworm-backports, trixie, trixie-backports, sid, experimental "
                   "(mirror http://deb.debian.org/debian)\n")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name, debian", [("debian:sid", "sid"), ("debian:experimental", "experimental"),
                                          ("debian:unstable", "unstable"), ("debian:trixie", "trixie"),
                                          ("debian:5.10", "5.10")])
def test_parse_suite_names(name, debian):
    from harness.targets import parse
    assert parse(name).debian == debian


def test_parse_rejects_unknown_words():
    from harness.targets import parse
    with pytest.raises(ValueError, match="sid"):
        parse("debian:woody-ish")


# -- the unpacked layouts -----------------------------------------------------------------------

@pytest.mark.parametrize("modules", ["lib/modules", "usr/lib/modules"])    # bookworm, trixie
def test_boot_layout(tmp_path, modules):
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "vmlinuz-6.1.0-50-amd64").write_bytes(b"MZ")
    fake_modules(str(tmp_path / modules / "6.1.0-50-amd64"))
    k = kernels.unpacked(str(tmp_path), "linux-image-6.1.0-50-amd64-unsigned")
    assert k == kernels.Kernel(str(tmp_path / "boot" / "vmlinuz-6.1.0-50-amd64"),
                               str(tmp_path / modules / "6.1.0-50-amd64"),
                               "linux-image-6.1.0-50-amd64-unsigned", "boot, " + modules)


@pytest.mark.parametrize("image", ["vmlinuz", "vmlinuz.unsigned"])
def test_usr_lib_modules_layout(tmp_path, image):
    release = tmp_path / "usr" / "lib" / "modules" / "7.2.13+deb14-amd64"
    fake_modules(str(release))
    (release / image).write_bytes(b"MZ")
    k = kernels.unpacked(str(tmp_path), "linux-image-7.2.13+deb14-amd64")
    assert (k.vmlinuz, k.modules_dir, k.layout) == (str(release / image), str(release), "usr/lib/modules")


def test_kernel_config_found_in_both_layouts(tmp_path):
    """The guest's feature markers read the packaged config: boot/config-<release> up to
    trixie, usr/lib/modules/<release>/config in sid's linux-base."""
    old = tmp_path / "old"
    (old / "boot").mkdir(parents=True)
    (old / "boot" / "vmlinuz-6.1.0-50-amd64").write_bytes(b"MZ")
    (old / "boot" / "config-6.1.0-50-amd64").write_text("CONFIG_IPV6=y\n")
    fake_modules(str(old / "lib/modules/6.1.0-50-amd64"))
    assert kernels.unpacked(str(old), "x").config == str(old / "boot" / "config-6.1.0-50-amd64")
    new = tmp_path / "new" / "usr" / "lib" / "modules" / "7.2.13+deb14-amd64"
    fake_modules(str(new))
    (new / "vmlinuz").write_bytes(b"MZ")
    assert kernels.unpacked(str(tmp_path / "new"), "x").config is None
    (new / "config").write_text("CONFIG_IPV6=y\n")
    assert kernels.unpacked(str(tmp_path / "new"), "x").config == str(new / "config")


def test_no_image_is_a_setup_error(tmp_path):
    fake_modules(str(tmp_path / "usr" / "lib" / "modules" / "7.2.13+deb14-amd64"))
    with pytest.raises(SetupError, match="no boot/vmlinuz-"):
        kernels.unpacked(str(tmp_path), "linux-modules-7.2.13+deb14-amd64")


# -- download and unpack ------------------------------------------------------------------------

SID = kernels.DebianKernel("sid", "linux-image-7.2.13+deb14-amd64", "7.2.13-1", "sid", (
    "linux-image-7.2.13+deb14-amd64=7.2.13-1", "linux-base-7.2.13+deb14-amd64=7.2.13-1",
    "linux-binary-unsigned-7.2.13+deb14-amd64=7.2.13-1", "linux-modules-7.2.13+deb14-amd64=7.2.13-1"))
OLD = kernels.DebianKernel("6.1", "linux-image-6.1.0-56-amd64-unsigned", "6.1.158-1", "bookworm",
                           ("linux-image-6.1.0-56-amd64-unsigned=6.1.158-1",))


def fake_debs(monkeypatch, ran):
    """apt-get download writes one .deb per package; dpkg -x unpacks what that package holds."""
    def fake_run(self, argv, timeout=None, log=None, **kw):
        tool = os.path.basename(argv[0])
        ran.append(tool)
        if "download" in argv:
            for spec in argv[argv.index("download") + 1:]:
                name, version = spec.split("=")
                open(os.path.join(kw["cwd"], f"{name}_{version}_amd64.deb"), "w").close()
        elif tool == "dpkg":
            deb, tree = os.path.basename(argv[2]), argv[3]
            rel = os.path.join(tree, "usr", "lib", "modules", "7.2.13+deb14-amd64")
            if deb.startswith("linux-modules-"):          # no modules.builtin: linux-base has it
                builtin = os.path.join(rel, "modules.builtin")
                kept = open(builtin).read() if os.path.exists(builtin) else None
                fake_modules(rel)
                os.remove(builtin)
                if kept is not None:
                    with open(builtin, "w") as f:
                        f.write(kept)
            elif deb.startswith("linux-base-"):
                os.makedirs(rel, exist_ok=True)
                with open(os.path.join(rel, "modules.builtin"), "w") as f:
                    f.write("kernel/fs/overlayfs/overlay.ko\n")
            elif deb.startswith("linux-binary-unsigned-"):
                os.makedirs(rel, exist_ok=True)
                open(os.path.join(rel, "vmlinuz.unsigned"), "w").close()
            elif deb.startswith("linux-image-6.1"):
                os.makedirs(os.path.join(tree, "boot"))
                open(os.path.join(tree, "boot", "vmlinuz-6.1.0-56-amd64"), "w").close()
                fake_modules(os.path.join(tree, "lib", "modules", "6.1.0-56-amd64"))
            else:
                os.makedirs(os.path.join(tree, "usr", "share", "doc"), exist_ok=True)
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(Context, "run", fake_run)
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")


def test_fetch_split_packages_into_one_tree(tmp_path, monkeypatch):
    ran, phases = [], []
    fake_debs(monkeypatch, ran)
    ctx = Context("debian:sid", str(tmp_path / "run"), Suite(), cache_dir=str(tmp_path / "cache"),
                  report=lambda n, text: phases.append(text))
    apt = private(tmp_path)
    k = kernels.fetch_debian(SID, ctx, apt)
    release = tmp_path / "cache" / "kernels" / "linux-image-7.2.13+deb14-amd64_7.2.13-1" / "usr" / "lib" / "modules" / "7.2.13+deb14-amd64"
    assert (k.vmlinuz, k.modules_dir, k.layout) == (str(release / "vmlinuz.unsigned"), str(release), "usr/lib/modules")
    assert os.path.exists(release / "modules.dep")                              # depmod ran
    assert "overlay" in kmod.builtin(str(release))                              # from linux-base
    assert ran == ["apt-get"] + ["dpkg"] * 4 and phases == ["download", "unpack"]
    assert kernels.fetch_debian(SID, ctx, apt) == k                             # cached
    assert ran == ["apt-get"] + ["dpkg"] * 4 and phases[-1] == "cached linux-image-7.2.13+deb14-amd64 7.2.13-1"


def test_fetch_one_package_boot_layout(tmp_path, monkeypatch):
    ran = []
    fake_debs(monkeypatch, ran)
    ctx = Context("debian:6.1", str(tmp_path / "run"), Suite(), cache_dir=str(tmp_path / "cache"))
    k = kernels.fetch_debian(OLD, ctx, private(tmp_path))
    assert k.vmlinuz.endswith("boot/vmlinuz-6.1.0-56-amd64") and k.layout == "boot, lib/modules"
    assert os.path.exists(os.path.join(k.modules_dir, "modules.dep"))
    assert ran == ["apt-get", "dpkg"]


def test_failed_download_is_a_setup_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Context, "run", lambda self, argv, **kw: subprocess.CompletedProcess(
        argv, 100, b"", b"E: Unable to locate package"))
    monkeypatch.setattr(aptstate, "require_tool", lambda name, pkg: f"/usr/bin/{name}")
    ctx = Context("debian:9.9", str(tmp_path / "run"), Suite(), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(SetupError, match="apt-get download .* failed: E: Unable to locate"):
        kernels.fetch_debian(OLD, ctx, private(tmp_path))


def test_target_json_records_the_resolution(tmp_path):
    t = QemuTarget("debian:sid", debian="sid")
    t.resolved = SID
    t.booted = kernels.Kernel("/c/usr/lib/modules/7.2.13+deb14-amd64/vmlinuz.unsigned",
                              "/c/usr/lib/modules/7.2.13+deb14-amd64", SID.package, "usr/lib/modules")
    assert t.describe() == ("debian:sid (linux-image-7.2.13+deb14-amd64 7.2.13-1 from sid, "
                            "usr/lib/modules layout, QEMU)")
    d = t.details()
    assert (d["package"], d["version"], d["suite"], d["layout"]) == (
        "linux-image-7.2.13+deb14-amd64", "7.2.13-1", "sid", "usr/lib/modules")
    assert len(d["packages"]) == 4
