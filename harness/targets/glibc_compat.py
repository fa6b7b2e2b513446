"""Run a program built against a newer glibc on an older one, when the only newer symbols it
imports are glibc 2.38's C23 variants of old functions.

glibc 2.38 made ``strtol``, ``strtoul``, ``sscanf``... in programs compiled as C2x (GCC 13 and
later default to it for some builds) bind to ``__isoc23_strtol@GLIBC_2.38`` and friends, which
differ from the old functions only in accepting C23's ``0b`` binary prefix. Debian's newer
user-mode-linux binaries (trixie, sid) import two or three of them and nothing else newer than
glibc 2.34, so on bookworm (glibc 2.36) they stop in the dynamic loader with ``version
`GLIBC_2.38' not found``. ``rebind_c23`` rewrites such a binary's imports to the old names
(``__isoc23_strtol`` -> ``strtol``, pointing the symbol's name at the tail of its own string)
and its version requirement to the one those names have had since the start of x86-64
(``GLIBC_2.2.5``); no other byte changes. Anything else that needs a newer glibc is refused.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

C23_PREFIX = b"__isoc23_"
BASE_VERSION = b"GLIBC_2.2.5"          # the version of strtol, sscanf... on x86-64

SHT_DYNSYM = 11
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF


class CompatError(Exception):
    """The binary cannot be made to run on this glibc by ``rebind_c23``."""


def glibc_version() -> tuple[int, ...] | None:
    """The host's glibc version, e.g. (2, 36); None when the C library is not glibc."""
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    m = re.match(r"glibc (\d+(?:\.\d+)*)", found)
    return version_tuple(m.group(1)) if m else None


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


@dataclass
class Need:
    """One version a binary needs from a library (an Elf64_Vernaux entry)."""
    library: str
    version: str
    index: int            # vna_other: the index the binary's symbols use for it
    offset: int           # the file offset of the entry
    name_offset: int      # vna_name (into .dynstr)
    hash: int             # vna_hash


@dataclass
class Elf:
    data: bytearray
    dynsym: tuple[int, int, int]      # offset, size, entry size
    dynstr: int                       # offset
    versym: int                       # offset
    needs: list[Need]

    def string(self, offset: int) -> bytes:
        end = self.data.index(b"\0", self.dynstr + offset)
        return bytes(self.data[self.dynstr + offset:end])

    def symbols(self):
        """(entry offset, name offset, name, version index) of every dynamic symbol."""
        off, size, entsize = self.dynsym
        for i in range(size // entsize):
            entry = off + i * entsize
            name, = struct.unpack_from("<I", self.data, entry)
            index, = struct.unpack_from("<H", self.data, self.versym + 2 * i)
            yield entry, name, self.string(name), index & 0x7FFF


def parse(data: bytearray) -> Elf:
    """The dynamic symbols and version needs of a little-endian ELF64 file (from its section
    headers, which stripped binaries keep)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise CompatError("not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        _name, sh_type, _flags, _addr, offset, size, link, info, _align, entsize = \
            struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        sections.append((sh_type, offset, size, link, info, entsize))
    by_type = {s[0]: s for s in sections}
    if not all(t in by_type for t in (SHT_DYNSYM, SHT_GNU_VERSYM)):
        raise CompatError("no dynamic symbols with versions")
    _t, sym_off, sym_size, sym_link, _i, sym_ent = by_type[SHT_DYNSYM]
    dynstr = sections[sym_link][1]
    elf = Elf(data, (sym_off, sym_size, sym_ent or 24), dynstr, by_type[SHT_GNU_VERSYM][1], [])
    if SHT_GNU_VERNEED in by_type:
        _t, off, _s, _l, count, _e = by_type[SHT_GNU_VERNEED]
        for _ in range(count):
            _ver, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, off)
            library = elf.string(vn_file).decode()
            aux = off + vn_aux
            for _ in range(cnt):
                vna_hash, _flags, other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                elf.needs.append(Need(library, elf.string(vna_name).decode(), other, aux, vna_name, vna_hash))
                if not vna_next:
                    break
                aux += vna_next
            if not vn_next:
                break
            off += vn_next
    return elf


def too_new(elf: Elf, glibc: tuple[int, ...]) -> list[Need]:
    """The glibc versions this binary needs that the host's glibc lacks."""
    out = []
    for need in elf.needs:
        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", need.version)
        if need.library.startswith("libc.so") and m and version_tuple(m.group(1)) > glibc:
            out.append(need)
    return out


def rebind_c23(data: bytearray, glibc: tuple[int, ...]) -> list[str]:
    """Rewrite ``data`` (an ELF file) in place so that it loads with ``glibc``; return the
    symbols rebound (empty when nothing needed it). CompatError when a too-new version is
    needed by anything but a C23 alias."""
    elf = parse(data)
    missing = too_new(elf, glibc)
    if not missing:
        return []
    base = next((n for n in elf.needs if n.library.startswith("libc.so")
                 and n.version == BASE_VERSION.decode()), None)
    if base is None:
        raise CompatError(f"it does not import anything at {BASE_VERSION.decode()}")
    rebound = []
    for need in missing:
        users = [(entry, name_off, name) for entry, name_off, name, index in elf.symbols()
                 if index == need.index]
        others = [name.decode() for _e, _o, name in users if not name.startswith(C23_PREFIX)]
        if others:
            raise CompatError(f"it needs {need.version} for {', '.join(sorted(others))}")
        for entry, name_off, name in users:
            struct.pack_into("<I", data, entry, name_off + len(C23_PREFIX))
            rebound.append(name.decode())
        struct.pack_into("<I", data, need.offset, base.hash)
        struct.pack_into("<I", data, need.offset + 8, base.name_offset)
    return sorted(rebound)


def elf_hash(name: bytes) -> int:
    """The SysV ELF hash (vna_hash)."""
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h
