"""``apt-get download`` from Debian suites the host does not use (testing, unstable), without
touching the host's apt configuration: a private apt state (its own sources list, package lists
and cache) under sockspec's cache. The archive and its keyring are the ones the host's own
sources name; nothing is installed, the package is only downloaded (``dpkg -x`` unpacks it).
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from .base import Context, SetupError, require_tool

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")


@dataclass(frozen=True)
class Source:
    uri: str
    keyring: str | None


def host_debian_source(paths=APT_SOURCES) -> Source:
    """The Debian archive the host's apt uses for its main suite (not its security archive):
    sources.list lines and deb822 ``.sources`` files. SetupError when there is none."""
    entries = []
    for path in paths:
        files = sorted(glob.glob(os.path.join(path, "*.list")) + glob.glob(os.path.join(path, "*.sources"))) \
            if os.path.isdir(path) else [path]
        for name in files:
            try:
                with open(name) as f:
                    text = f.read()
            except OSError:
                continue
            entries += parse_deb822(text) if name.endswith(".sources") else parse_one_line(text)
    for types, uris, suites, components, keyring in entries:
        if "deb" in types and "main" in components and suites \
                and not all(s.endswith("-security") for s in suites):
            if keyring is None and os.path.exists(DEBIAN_KEYRING):
                keyring = DEBIAN_KEYRING
            return Source(uris[0].rstrip("/"), keyring)
    raise SetupError("no Debian archive in the host's apt sources (/etc/apt/sources.list*)")


def parse_one_line(text: str) -> list[tuple]:
    """``deb [signed-by=K] URI SUITE COMPONENT...`` lines."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        options = dict(o.split("=", 1) for o in (m.group(2) or "").split() if "=" in o)
        out.append(({m.group(1)}, [m.group(3)], [m.group(4)], m.group(5).split(),
                    options.get("signed-by")))
    return out


def parse_deb822(text: str) -> list[tuple]:
    """Stanzas of a ``.sources`` file (Types, URIs, Suites, Components, Signed-By, Enabled)."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if not fields or fields.get("enabled", "yes").lower() == "no":
            continue
        keyring = fields.get("signed-by")
        if keyring and "\n" in keyring:
            keyring = None              # an inline key: fall back to the archive keyring
        out.append((set(fields.get("types", "").split()), fields.get("uris", "").split(),
                    fields.get("suites", "").split(), fields.get("components", "").split(), keyring))
    return out


class PrivateApt:
    """apt-get and apt-cache with their own state under ``root``: none of the host's sources,
    pins, package lists or dpkg status is used, and nothing under /etc/apt or /var/lib/apt is
    written."""

    def __init__(self, root: str, suites: tuple[str, ...], source: Source):
        self.root = root
        self.suites = suites
        self.source = source

    def sources_list(self) -> str:
        signed = f" [signed-by={self.source.keyring}]" if self.source.keyring else ""
        return "".join(f"deb{signed} {self.source.uri} {suite} main\n" for suite in self.suites)

    def options(self) -> list[str]:
        opts = {
            "Dir::State": os.path.join(self.root, "state"),
            "Dir::State::status": "/dev/null",             # what the host has installed does not matter
            "Dir::Cache": os.path.join(self.root, "cache"),
            "Dir::Etc::SourceList": os.path.join(self.root, "sources.list"),
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/dev/null",
            "Acquire::Languages": "none",
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",
        }
        return [a for k, v in opts.items() for a in ("-o", f"{k}={v}")]

    def prepare(self) -> None:
        for d in ("state/lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(os.path.join(self.root, "sources.list"), "w") as f:
            f.write(self.sources_list())

    def update(self, ctx: Context) -> None:
        self.prepare()
        done = ctx.run([require_tool("apt-get", "apt"), "-q", *self.options(), "update"], timeout=600)
        if done.returncode != 0:
            raise SetupError(f"apt-get update ({' '.join(self.suites)}) failed: {tail(done)}")

    def candidate(self, package: str, ctx: Context) -> str:
        done = ctx.run([require_tool("apt-cache", "apt"), *self.options(), "policy", package])
        version = policy_candidate(done.stdout.decode(errors="replace"))
        if done.returncode != 0 or not version:
            raise SetupError(f"{package} is not in Debian {'/'.join(self.suites)}")
        return version

    def download(self, package: str, version: str, dest: str, ctx: Context) -> str:
        """Download ``package=version`` into ``dest``; the path of the .deb."""
        os.makedirs(dest, exist_ok=True)
        done = ctx.run([require_tool("apt-get", "apt"), "-q", *self.options(), "download",
                        f"{package}={version}"], cwd=dest, timeout=600)
        debs = glob.glob(os.path.join(dest, f"{package}_*.deb"))
        if done.returncode != 0 or not debs:
            raise SetupError(f"apt-get download {package}={version} failed: {tail(done)}")
        return debs[0]


def policy_candidate(text: str) -> str | None:
    """The ``Candidate:`` of ``apt-cache policy`` output (None for ``(none)`` or nothing)."""
    m = re.search(r"^\s*Candidate:\s*(\S+)", text, re.M)
    return m.group(1) if m and m.group(1) != "(none)" else None


def tail(done) -> str:
    text = (done.stderr or done.stdout or b"")
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-300:] or f"exit {done.returncode}"
