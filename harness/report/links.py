"""Citations you can click: a rule's citation ("net/socket.c __sys_socket(): ...; socket(2)
ERRORS EINVAL") with each kernel file, each kernel function and each man page linked.

- a source file (``net/socket.c``) -> the file at the run's kernel version on Elixir
  (https://elixir.bootlin.com/linux/vX.Y.Z/source/net/socket.c);
- a function (``__sys_socket()``) -> Elixir's identifier search at that version
  (https://elixir.bootlin.com/linux/vX.Y.Z/A/ident/__sys_socket);
- a man page (``socket(2)``, ``unix(7)``) -> man7.org's page, at its ERRORS section when the
  citation says ERRORS next to it.

The version is the upstream release the run's profile read (Debian's 6.1.0-50 is 6.1.176): a
stable release has its own tag on Elixir. Without one the links go to the latest tree.
"""
from __future__ import annotations

import re

from markupsafe import Markup, escape

ELIXIR = "https://elixir.bootlin.com/linux"
MAN7 = "https://man7.org/linux/man-pages"

_TOKEN = re.compile(
    r"(?P<file>\b(?:net|include|fs|kernel|mm|security|arch|lib|drivers)/[\w./-]+\.[ch]\b)"
    r"|(?P<man>\b(?P<page>[a-z][\w-]*)\((?P<sect>[1-8])\)(?P<errors>\s+ERRORS)?)"
    r"|(?P<func>\b[A-Za-z_]\w*)\(\)")


def version_tag(version) -> str | None:
    """'v6.1.176' (or 'v6.1' for x.y.0) from a version tuple or 'x.y.z' text; None if unknown."""
    if isinstance(version, str):
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
        if not m:
            return None
        version = tuple(int(x) for x in m.groups(default="0"))
    if not isinstance(version, (list, tuple)) or len(version) < 2 \
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in version[:3]):
        return None
    major, minor = version[0], version[1]
    patch = version[2] if len(version) > 2 else 0
    return f"v{major}.{minor}" + (f".{patch}" if patch else "")


def source_url(path: str, tag: str | None) -> str:
    return f"{ELIXIR}/{tag or 'latest'}/source/{path}"


def ident_url(name: str, tag: str | None) -> str:
    return f"{ELIXIR}/{tag or 'latest'}/A/ident/{name}"


def man_url(page: str, section: str, errors: bool = False) -> str:
    return f"{MAN7}/man{section}/{page}.{section}.html" + ("#ERRORS" if errors else "")


def link_citation(text, version=None) -> Markup:
    """The citation as HTML with its files, functions and man pages linked (escaped)."""
    if not text:
        return Markup("")
    text = str(text)
    tag = version_tag(version)
    out, last = [], 0
    for m in _TOKEN.finditer(text):
        out.append(escape(text[last:m.start()]))
        if m.group("file"):
            url = source_url(m.group("file"), tag)
        elif m.group("man"):
            url = man_url(m.group("page"), m.group("sect"), bool(m.group("errors")))
        else:
            url = ident_url(m.group("func"), tag)
        out.append(Markup('<a href="{}" rel="noreferrer" target="_blank">{}</a>').format(url, m.group(0)))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)
