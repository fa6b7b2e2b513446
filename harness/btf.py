"""A small reader of the kernel's BTF (/sys/kernel/btf/vmlinux): which struct members, enum
values and struct sizes the running kernel was built with.

The format is include/uapi/linux/btf.h and Documentation/bpf/btf.rst: a header (magic 0xeB9F,
version, flags, hdr_len, type_off, type_len, str_off, str_len), a type section of variable-length
records (struct btf_type: name_off, info = vlen | kind << 24 | kind_flag << 31, size_or_type,
then kind-specific data) and a string section. Type ids start at 1, in section order.

Only what feature markers need is decoded: names of structs, unions and enums, their members
(descending into anonymous struct/union members, as C does) and sizes. A malformed blob raises
BtfError with the offset; it never reads outside the blob.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 0xEB9F

# enum btf_kind (include/uapi/linux/btf.h)
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_FWD, KIND_TYPEDEF = range(1, 9)
KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC = range(9, 16)
KIND_FLOAT, KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = range(16, 20)

# bytes of kind-specific data after struct btf_type: fixed, or per vlen entry
_FIXED = {KIND_INT: 4, KIND_ARRAY: 12, KIND_VAR: 4, KIND_DECL_TAG: 4}
_PER_ENTRY = {KIND_STRUCT: 12, KIND_UNION: 12, KIND_ENUM: 8, KIND_FUNC_PROTO: 8,
              KIND_DATASEC: 12, KIND_ENUM64: 12}
_MODIFIERS = {KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG}


class BtfError(ValueError):
    """The blob is not BTF this reader understands."""


@dataclass(frozen=True)
class _Type:
    kind: int
    name: str
    size_or_type: int
    vlen: int
    data: int           # offset of the kind-specific data in the blob


class Btf:
    """The types of one BTF blob, looked up by name."""

    def __init__(self, blob: bytes):
        self.blob = bytes(blob)
        if len(blob) < 24:
            raise BtfError(f"{len(blob)} bytes is shorter than a BTF header")
        magic = struct.unpack_from("<H", blob, 0)[0]
        if magic == MAGIC:
            self.endian = "<"
        elif magic == 0x9FEB:
            self.endian = ">"
        else:
            raise BtfError(f"bad magic {magic:#06x} (want {MAGIC:#06x})")
        hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(self.endian + "5I", blob, 4)
        if hdr_len < 24 or hdr_len > len(blob):
            raise BtfError(f"bad header length {hdr_len}")
        self.types_at = hdr_len + type_off
        self.types_end = self.types_at + type_len
        self.strs_at = hdr_len + str_off
        self.strs_end = self.strs_at + str_len
        if self.types_end > len(blob) or self.strs_end > len(blob):
            raise BtfError("type or string section runs past the end of the blob")
        self.types: list[_Type | None] = [None]          # id 0 is void
        self.by_name: dict[tuple[int, str], list[int]] = {}
        self._parse()

    # -- decoding ----------------------------------------------------------------------
    def string(self, off: int) -> str:
        start = self.strs_at + off
        if off < 0 or start >= self.strs_end:
            raise BtfError(f"string offset {off} outside the string section")
        end = self.blob.find(b"\0", start, self.strs_end)
        if end < 0:
            raise BtfError(f"unterminated string at offset {off}")
        return self.blob[start:end].decode("utf-8", "replace")

    def _parse(self) -> None:
        head = struct.Struct(self.endian + "3I")
        pos, end = self.types_at, self.types_end
        names: dict[int, str] = {}
        while pos < end:
            if pos + 12 > end:
                raise BtfError(f"truncated type record at offset {pos}")
            name_off, info, size_or_type = head.unpack_from(self.blob, pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            data = pos + 12
            if kind in _FIXED:
                pos = data + _FIXED[kind]
            elif kind in _PER_ENTRY:
                pos = data + vlen * _PER_ENTRY[kind]
            elif kind in (KIND_PTR, KIND_FWD, KIND_FUNC, KIND_FLOAT) or kind in _MODIFIERS:
                pos = data
            else:
                raise BtfError(f"unknown BTF kind {kind} at offset {data - 12}")
            if pos > end:
                raise BtfError(f"type record at offset {data - 12} runs past the type section")
            name = names.get(name_off)
            if name is None:
                name = names[name_off] = self.string(name_off) if name_off else ""
            self.types.append(_Type(kind, name, size_or_type, vlen, data))
            if name and kind in (KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64):
                self.by_name.setdefault((kind, name), []).append(len(self.types) - 1)

    def _resolve(self, type_id: int) -> _Type | None:
        """Follow typedefs and modifiers to the underlying type."""
        for _ in range(64):
            if type_id <= 0 or type_id >= len(self.types):
                return None
            t = self.types[type_id]
            if t.kind not in _MODIFIERS:
                return t
            type_id = t.size_or_type
        return None

    def _members(self, t: _Type, depth: int = 0):
        """(name, type id) of a struct's members, anonymous struct/union members flattened."""
        for i in range(t.vlen):
            name_off, type_id, _offset = struct.unpack_from(self.endian + "3I", self.blob, t.data + 12 * i)
            if name_off:
                yield self.string(name_off), type_id
            elif depth < 16:
                inner = self._resolve(type_id)
                if inner is not None and inner.kind in (KIND_STRUCT, KIND_UNION):
                    yield from self._members(inner, depth + 1)

    # -- what markers ask --------------------------------------------------------------
    def structs(self, name: str) -> list[_Type]:
        ids = self.by_name.get((KIND_STRUCT, name), []) + self.by_name.get((KIND_UNION, name), [])
        return [self.types[i] for i in ids]

    def has_struct(self, name: str) -> bool:
        return bool(self.structs(name))

    def struct_size(self, name: str) -> int | None:
        found = self.structs(name)
        return found[0].size_or_type if found else None

    def has_member(self, struct_name: str, member: str) -> bool:
        return any(member == name for t in self.structs(struct_name) for name, _ in self._members(t))

    def enum_values(self, enum_name: str) -> dict[str, int]:
        """The enumerators of a named enum (ENUM or ENUM64)."""
        out = {}
        for i in self.by_name.get((KIND_ENUM, enum_name), []):
            t = self.types[i]
            for j in range(t.vlen):
                name_off, val = struct.unpack_from(self.endian + "Ii", self.blob, t.data + 8 * j)
                out[self.string(name_off)] = val
        for i in self.by_name.get((KIND_ENUM64, enum_name), []):
            t = self.types[i]
            for j in range(t.vlen):
                name_off, lo, hi = struct.unpack_from(self.endian + "3I", self.blob, t.data + 12 * j)
                out[self.string(name_off)] = (hi << 32) | lo
        return out

    def has_enumerator(self, name: str) -> bool:
        """Is ``name`` an enumerator of any enum (named or anonymous)?"""
        for t in self.types[1:]:
            if t.kind == KIND_ENUM:
                for j in range(t.vlen):
                    if self.string(struct.unpack_from(self.endian + "I", self.blob, t.data + 8 * j)[0]) == name:
                        return True
            elif t.kind == KIND_ENUM64:
                for j in range(t.vlen):
                    if self.string(struct.unpack_from(self.endian + "I", self.blob, t.data + 12 * j)[0]) == name:
                        return True
        return False


def load(path: str = "/sys/kernel/btf/vmlinux") -> Btf:
    with open(path, "rb") as f:
        return Btf(f.read())


# --------------------------------------------------------------------------- writing (for tests)

class Builder:
    """Builds a BTF blob: fixtures for the reader's tests, no kernel needed."""

    def __init__(self, endian: str = "<"):
        self.endian = endian
        self.strings = bytearray(b"\0")
        self.records: list[bytes] = []

    def _str(self, s: str) -> int:
        if not s:
            return 0
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def _add(self, name: str, kind: int, vlen: int, size_or_type: int, data: bytes = b"",
             kind_flag: int = 0) -> int:
        info = vlen | (kind << 24) | (kind_flag << 31)
        self.records.append(struct.pack(self.endian + "3I", self._str(name), info, size_or_type) + data)
        return len(self.records)

    def int(self, name: str, size: int) -> int:
        return self._add(name, KIND_INT, 0, size, struct.pack(self.endian + "I", size * 8))

    def typedef(self, name: str, type_id: int) -> int:
        return self._add(name, KIND_TYPEDEF, 0, type_id)

    def struct(self, name: str, size: int, members: list[tuple[str, int]], union: bool = False) -> int:
        data = b"".join(struct.pack(self.endian + "3I", self._str(m), t, 0) for m, t in members)
        return self._add(name, KIND_UNION if union else KIND_STRUCT, len(members), size, data)

    def enum(self, name: str, values: list[tuple[str, int]]) -> int:
        data = b"".join(struct.pack(self.endian + "Ii", self._str(n), v) for n, v in values)
        return self._add(name, KIND_ENUM, len(values), 4, data)

    def enum64(self, name: str, values: list[tuple[str, int]]) -> int:
        data = b"".join(struct.pack(self.endian + "3I", self._str(n), v & 0xFFFFFFFF, v >> 32)
                        for n, v in values)
        return self._add(name, KIND_ENUM64, len(values), 8, data)

    def func_proto(self, ret: int, params: list[int]) -> int:
        data = b"".join(struct.pack(self.endian + "2I", 0, p) for p in params)
        return self._add("", KIND_FUNC_PROTO, len(params), ret, data)

    def ptr(self, type_id: int) -> int:
        return self._add("", KIND_PTR, 0, type_id)

    def blob(self) -> bytes:
        types = b"".join(self.records)
        header = struct.pack(self.endian + "HBBI4I", MAGIC, 1, 0, 24, 0, len(types), len(types),
                             len(self.strings))
        return header + types + bytes(self.strings)
