"""sockspec's own apt state: the Debian suites guest kernels (kernels.py) and the newer
user-mode-linux (uml.py) come from, kept in the cache.

The host's apt configuration is never changed and its package lists are never used: a host
running bookworm knows nothing of bullseye's 5.10 or of sid. sockspec keeps a private state
under ``<cache>/apt`` (a deb822 sources file, lists, an empty dpkg status, apt's binary cache)
for the suites in SUITES of the Debian mirror the host already uses (read from
/etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources}, or ``--debian-mirror``),
signed by the Debian archive keyring, and points apt-get/apt-cache at it with ``-o Dir::...``
options. The lists are refreshed with ``apt-get update`` once a day, when missing, or when the
mirror changed, under an exclusive lock (parallel targets and sockspec runs share the state);
queries and downloads take the lock shared. Packages are only downloaded and unpacked with
``dpkg -x`` into the cache (``unpack``), never installed.

The host's apt.conf.d is still read (apt reads it before any ``-o``): a proxy configured there
applies to these downloads too.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from .base import Context, SetupError, require_tool

# the suites searched, oldest first; debian:5.10 is in bullseye, debian:sid the newest in sid
SUITES = ("bullseye", "bookworm", "bookworm-backports", "trixie", "trixie-backports", "sid",
          "experimental")
SUITE_ALIASES = {"unstable": "sid"}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
HOST_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
MAX_AGE = 24 * 3600

# suite names of the Debian archive (a host's entry for one of these is a Debian mirror)
DEBIAN_CODENAMES = {"buzz", "rex", "bo", "hamm", "slink", "potato", "woody", "sarge", "etch",
                    "lenny", "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye",
                    "bookworm", "trixie", "forky", "duke", "sid", "experimental",
                    "oldoldstable", "oldstable", "stable", "testing", "unstable"}


@dataclass
class SourceEntry:
    """One deb/deb-src line or deb822 stanza of the host's apt sources."""
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str] = field(default_factory=list)
    signed_by: str | None = None
    origin: str = ""


def parse_one_line(text: str, origin: str = "") -> list[SourceEntry]:
    """``deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main`` lines."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        options = {}
        m = re.match(r"^(\S+)\s+\[([^\]]*)\]\s*(.*)$", line)
        if m:
            kind, opts, rest = m.groups()
            for opt in opts.split():
                key, _, value = opt.partition("=")
                options[key.lower()] = value
        else:
            kind, _, rest = line.partition(" ")
        words = rest.split()
        if kind not in ("deb", "deb-src") or len(words) < 2:
            continue
        out.append(SourceEntry([kind], [words[0]], [words[1]], words[2:],
                               options.get("signed-by"), origin))
    return out


def parse_deb822(text: str, origin: str = "") -> list[SourceEntry]:
    """deb822 ``.sources`` stanzas (``Types:``, ``URIs:``, ``Suites:``...; ``Enabled: no`` skipped)."""
    out = []
    stanzas: list[dict[str, str]] = [{}]
    key = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanzas[-1]:
                stanzas.append({})
            key = None
            continue
        if raw[0] in " \t" and key:                    # a continuation (an inline key block)
            stanzas[-1][key] += "\n" + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        stanzas[-1][key] = value.strip()
    for s in stanzas:
        if not s or s.get("enabled", "yes").strip().lower() == "no":
            continue
        entry = SourceEntry(s.get("types", "").split(), s.get("uris", "").split(),
                            s.get("suites", "").split(), s.get("components", "").split(),
                            s.get("signed-by"), origin)
        if entry.types and entry.uris and entry.suites:
            out.append(entry)
    return out


def host_sources(paths=HOST_SOURCES) -> list[SourceEntry]:
    """Every source the host's apt reads: sources.list, then sources.list.d/*.list and
    *.sources in name order (other names, e.g. ``*.disabled``, are ignored as apt ignores them)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(f for f in glob.glob(os.path.join(path, "*"))
                            if f.endswith((".list", ".sources")))
        elif os.path.isfile(path):
            files.append(path)
    out = []
    for f in files:
        try:
            with open(f, errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        out += parse_deb822(text, f) if f.endswith(".sources") else parse_one_line(text, f)
    return out


def is_debian_suite(suite: str) -> bool:
    base = suite.split("/")[0]
    if base.endswith("-security"):
        return False                                    # another archive (debian-security)
    return re.sub(r"-(updates|backports|backports-sloppy|proposed-updates)$", "", base) in DEBIAN_CODENAMES


def debian_mirror(entries: list[SourceEntry]) -> str | None:
    """The URI of the first binary source that serves a Debian suite (not the security archive)."""
    for e in entries:
        if "deb" not in e.types:
            continue
        if not any(is_debian_suite(s) for s in e.suites):
            continue
        for uri in e.uris:
            if "debian-security" not in uri:
                return uri.rstrip("/")
    return None


def host_mirror(paths=HOST_SOURCES) -> str | None:
    return debian_mirror(host_sources(paths))


@dataclass
class PrivateApt:
    """apt-get and apt-cache on sockspec's own state in ``root`` (``<cache>/apt``)."""
    root: str
    mirror: str
    arch: str = "amd64"
    keyring: str = KEYRING
    suites: tuple[str, ...] = SUITES
    warn: object = None                     # callable(str): a one-line notice

    @property
    def sources_text(self) -> str:
        return ("# written by sockspec: the suites its guest kernels come from\n"
                "Types: deb\n"
                f"URIs: {self.mirror}\n"
                f"Suites: {' '.join(self.suites)}\n"
                "Components: main\n"
                f"Architectures: {self.arch}\n"
                f"Signed-By: {self.keyring}\n")

    def options(self) -> list[str]:
        """The ``-o`` options that confine apt to this state (nothing of the host's but apt.conf.d)."""
        r = self.root
        opts = {
            "Dir::State": f"{r}/state",
            "Dir::State::Lists": f"{r}/state/lists",
            "Dir::State::status": f"{r}/state/status",
            "Dir::State::extended_states": f"{r}/state/extended_states",
            "Dir::Cache": f"{r}/cache",
            "Dir::Cache::Archives": f"{r}/cache/archives",
            # apt's binary cache of the lists: without it every query parses 40 MB of lists
            # again (Docker images turn it off in apt.conf.d/docker-clean)
            "Dir::Cache::pkgcache": f"{r}/cache/pkgcache.bin",
            "Dir::Cache::srcpkgcache": "",
            "Dir::Etc::SourceList": f"{r}/sources.list",
            "Dir::Etc::SourceParts": f"{r}/sources.list.d",
            "Dir::Etc::Preferences": f"{r}/preferences",
            "Dir::Etc::PreferencesParts": f"{r}/preferences.d",
            "Dir::Etc::Trusted": f"{r}/trusted.gpg",
            "Dir::Etc::TrustedParts": f"{r}/trusted.gpg.d",
            "Dir::Log": f"{r}/log",
            "APT::Architecture": self.arch,
            "APT::Architectures": self.arch,     # not the host's foreign architectures
            "APT::Default-Release": "",
            "Acquire::Languages": "none",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
        }
        out = []
        for k, v in opts.items():
            if k == "APT::Sandbox::User" and not v:
                continue
            out += ["-o", f"{k}={v}"]
        return out

    def write_config(self) -> None:
        """Create the state's directories and files (idempotent)."""
        for d in ("state/lists/partial", "cache/archives/partial", "sources.list.d",
                  "preferences.d", "trusted.gpg.d", "log"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        for empty in ("state/status", "sources.list", "preferences"):
            path = os.path.join(self.root, empty)
            if not os.path.exists(path):
                open(path, "w").close()
        path = os.path.join(self.root, "sources.list.d", "debian.sources")
        if not os.path.exists(path) or open(path).read() != self.sources_text:
            with open(path + ".tmp", "w") as f:
                f.write(self.sources_text)
            os.replace(path + ".tmp", path)

    # -- freshness -------------------------------------------------------------------------

    @property
    def stamp(self) -> str:
        return os.path.join(self.root, "updated")

    def _key(self) -> str:
        return hashlib.sha256(self.sources_text.encode()).hexdigest()[:16]

    def lists(self) -> list[str]:
        return glob.glob(os.path.join(self.root, "state", "lists", "*_Packages*"))

    def fresh(self, now: float | None = None) -> bool:
        """Updated within MAX_AGE, for these sources, and the lists are there."""
        now = time.time() if now is None else now
        try:
            with open(self.stamp) as f:
                key = f.read().strip()
            age = now - os.stat(self.stamp).st_mtime
        except OSError:
            return False
        return key == self._key() and 0 <= age < MAX_AGE and bool(self.lists())

    @contextmanager
    def locked(self, exclusive: bool):
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    def ensure_updated(self, run=subprocess.run) -> None:
        """``apt-get update`` unless fresh; once for all the targets that wait on the lock."""
        if self.fresh():
            return
        with self.locked(exclusive=True):
            if self.fresh():                     # another target or run updated it meanwhile
                return
            if not os.path.exists(self.keyring):
                raise SetupError(f"the Debian archive keyring {self.keyring} is missing: "
                                 "apt-get install debian-archive-keyring")
            self.write_config()
            self._notice(f"updating sockspec's Debian package lists ({', '.join(self.suites)} "
                         f"from {self.mirror}) in {self.root}")
            argv = [require_tool("apt-get", "apt"), "-q", *self.options(), "update"]
            done = run(argv, capture_output=True, text=True)
            problems = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines()
                        if line.startswith(("E:", "Err:"))]
            if self.lists():                     # build apt's binary cache while no one reads
                run([require_tool("apt-cache", "apt"), *self.options(), "gencaches"],
                    capture_output=True, text=True)
            if done.returncode == 0 and not any(p.startswith("E:") for p in problems):
                with open(self.stamp, "w") as f:
                    f.write(self._key() + "\n")
            elif self.lists():
                # e.g. a mirror without experimental: use the suites that came, try again next run
                self._notice("apt-get update of sockspec's lists had errors, using what it got: "
                             + (problems[0] if problems else f"exit {done.returncode}"))
            else:
                raise SetupError("apt-get update of sockspec's Debian lists failed: "
                                 + (problems[0] if problems else (done.stderr or done.stdout).strip()[-300:]))

    def _notice(self, text: str) -> None:
        if self.warn:
            self.warn(text)
        else:
            print(f"sockspec: {text}", file=sys.stderr, flush=True)

    # -- queries ---------------------------------------------------------------------------

    def cache(self, *args: str, run=subprocess.run) -> str:
        """``apt-cache ARGS`` on this state; its standard output."""
        argv = [require_tool("apt-cache", "apt"), *self.options(), *args]
        with self.locked(exclusive=False):
            done = run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SetupError(f"apt-cache {args[0]} failed: {done.stderr.strip()[-300:]}")
        return done.stdout

    def candidate(self, package: str, run=subprocess.run) -> str:
        """The version of ``package`` apt would take (``apt-cache policy``'s candidate): the
        newest of bullseye ... sid, experimental's only when no other suite has the package."""
        version = policy_candidate(self.cache("policy", package, run=run))
        if not version:
            raise SetupError(f"{package} is not in Debian {', '.join(self.suites)} (mirror {self.mirror})")
        return version

    def download_argv(self, specs: list[str]) -> list[str]:
        """``apt-get download pkg=version...`` (run in the directory that receives the .debs)."""
        return [require_tool("apt-get", "apt"), "-q", *self.options(), "download", *specs]

    def download(self, specs: list[str], dest: str, ctx: Context) -> list[str]:
        """``apt-get download`` the ``pkg=version`` specs into ``dest``; the .debs, one a spec."""
        os.makedirs(dest, exist_ok=True)
        with self.locked(exclusive=False):
            got = ctx.run(self.download_argv(specs), cwd=dest)
        debs = sorted(glob.glob(os.path.join(dest, "*.deb")))
        if got.returncode != 0 or len(debs) < len(specs):
            raise SetupError(f"apt-get download {' '.join(specs)} failed: {tail(got)}")
        return debs

    def unpack(self, specs: list[str], dest: str, ctx: Context, finish=None) -> None:
        """Download the specs and unpack them all (``dpkg -x``) into one tree at ``dest``, which
        appears whole, with a ``.complete`` marker, or not at all (the work is done in
        ``dest.partial``). ``finish(tree)`` adapts the unpacked tree before it moves into place.
        The caller holds a lock of its own on ``dest``; it enters the download phase."""
        work = dest + ".partial"
        shutil.rmtree(work, ignore_errors=True)
        debs = self.download(specs, work, ctx)
        ctx.enter("unpack")
        tree = os.path.join(work, "tree")
        for deb in debs:
            done = ctx.run([require_tool("dpkg", "dpkg"), "-x", deb, tree])
            if done.returncode != 0:
                raise SetupError(f"dpkg -x {os.path.basename(deb)} failed: {tail(done)}")
        if finish:
            finish(tree)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tree, dest)
        shutil.rmtree(work, ignore_errors=True)
        open(os.path.join(dest, ".complete"), "w").close()


def policy_candidate(text: str) -> str | None:
    """The ``Candidate:`` of ``apt-cache policy`` output (None for ``(none)`` or nothing)."""
    m = re.search(r"^\s*Candidate:\s*(\S+)", text, re.M)
    return m.group(1) if m and m.group(1) != "(none)" else None


def tail(done) -> str:
    """The last lines a failed command wrote, in one line."""
    text = done.stderr or done.stdout or b""
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-300:] or f"exit {done.returncode}"


def for_cache(cache_dir: str, mirror: str | None = None, arch: str = "amd64",
              sources=HOST_SOURCES, warn=None) -> PrivateApt:
    """The private apt of ``cache_dir`` for ``mirror``, or the host's Debian mirror."""
    if not mirror:
        mirror = host_mirror(sources)
    if not mirror:
        raise SetupError("the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d) "
                         "name no Debian mirror: give one with --debian-mirror "
                         "(e.g. --debian-mirror http://deb.debian.org/debian)")
    return PrivateApt(os.path.join(cache_dir, "apt"), mirror.rstrip("/"), arch, warn=warn)
