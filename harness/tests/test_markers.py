"""Feature markers from fixture blobs: the BTF reader, kernel config and kallsyms parsing, the
profile's readings, and a rule's verdict (markers win over the release range). No kernel
behaviour is needed: every blob is built here."""
from __future__ import annotations

import gzip
import struct

import pytest

from harness import btf, markers
from harness.abi.markers import Marker, has, lacks, value_is
from harness.model.rules import Rule


def _icsk_blob(with_member: bool, endian: str = "<") -> bytes:
    b = btf.Builder(endian)
    u8 = b.int("unsigned char", 1)
    u32 = b.int("unsigned int", 4)
    __u8 = b.typedef("__u8", u8)
    anon = b.struct("", 4, [("icsk_retransmits", __u8), ("icsk_pending", __u8)])     # id 4
    members = [("icsk_rto", u32), ("", anon)]
    if with_member:
        members.append(("unhashed_state", __u8))
    b.struct("inet_connection_sock", 1400, members)
    b.struct("tcp_info", 280, [("tcpi_state", u8)])
    b.enum("tcp_state", [("TCP_ESTABLISHED", 1), ("TCP_NEW_SYN_RECV", 12)])
    b.enum64("big", [("HUGE", 1 << 40)])
    b.func_proto(0, [u32, u32])
    b.ptr(u32)
    return b.blob()


@pytest.mark.parametrize("endian", ["<", ">"])
def test_btf_members_sizes_and_enums(endian):
    t = btf.Btf(_icsk_blob(True, endian))
    assert t.has_member("inet_connection_sock", "unhashed_state")
    assert t.has_member("inet_connection_sock", "icsk_pending")      # through an anonymous struct
    assert not t.has_member("inet_connection_sock", "nonexistent")
    assert not t.has_member("no_such_struct", "unhashed_state")
    assert t.struct_size("tcp_info") == 280 and t.struct_size("nope") is None
    assert t.enum_values("tcp_state") == {"TCP_ESTABLISHED": 1, "TCP_NEW_SYN_RECV": 12}
    assert t.enum_values("big") == {"HUGE": 1 << 40}
    assert t.has_enumerator("TCP_NEW_SYN_RECV") and not t.has_enumerator("TCP_BOUND_INACTIVE")
    assert not btf.Btf(_icsk_blob(False, endian)).has_member("inet_connection_sock", "unhashed_state")


@pytest.mark.parametrize("blob, why", [
    (b"", "shorter than a BTF header"),
    (b"\x00" * 32, "bad magic"),
    (struct.pack("<HBBI4I", btf.MAGIC, 1, 0, 24, 0, 100, 0, 1), "past the end"),
    (struct.pack("<HBBI4I", btf.MAGIC, 1, 0, 24, 0, 12, 12, 1) + struct.pack("<3I", 0, 31 << 24, 0) + b"\0",
     "unknown BTF kind"),
    (struct.pack("<HBBI4I", btf.MAGIC, 1, 0, 24, 0, 12, 12, 1) + struct.pack("<3I", 0, (4 << 24) | 5, 0) + b"\0",
     "runs past the type section"),
    (struct.pack("<HBBI4I", btf.MAGIC, 1, 0, 24, 0, 12, 12, 1) + struct.pack("<3I", 99, 4 << 24, 0) + b"\0",
     "string offset"),
])
def test_btf_malformed(blob, why):
    with pytest.raises(btf.BtfError, match=why):
        btf.Btf(blob)


def test_config_parsing():
    text = ('CONFIG_IPV6=y\nCONFIG_PACKET=m\n# CONFIG_AF_UNIX_OOB is not set\n'
            'CONFIG_LOCALVERSION="-test"\nnoise\n')
    assert markers.parse_config(text) == {"CONFIG_IPV6": "y", "CONFIG_PACKET": "m",
                                          "CONFIG_AF_UNIX_OOB": "n", "CONFIG_LOCALVERSION": "-test"}


def test_kallsyms_parsing():
    text = ("0000000000000000 T inet_hash\n0000000000000000 t manage_oob\n"
            "0000000000000000 t packet_create\t[af_packet]\nshort\n")
    assert markers.parse_kallsyms(text) == {"inet_hash", "manage_oob", "packet_create"}


CATALOGUE = {
    "inet_connection_sock.unhashed_state": Marker("inet_connection_sock.unhashed_state", "btf_member",
                                                  "inet_connection_sock.unhashed_state", ""),
    "tcp_info.size": Marker("tcp_info.size", "btf_size", "tcp_info", ""),
    "TCP_NEW_SYN_RECV": Marker("TCP_NEW_SYN_RECV", "btf_enum", "TCP_NEW_SYN_RECV", ""),
    "inet_hash": Marker("inet_hash", "kallsyms", "inet_hash", ""),
    "CONFIG_IPV6": Marker("CONFIG_IPV6", "config", "CONFIG_IPV6", ""),
    "CONFIG_AF_UNIX_OOB": Marker("CONFIG_AF_UNIX_OOB", "config", "CONFIG_AF_UNIX_OOB", ""),
}


def test_read_all_from_fixture_files(tmp_path, monkeypatch):
    (tmp_path / "vmlinux").write_bytes(_icsk_blob(True))
    (tmp_path / "kallsyms").write_text("0 T inet_hash\n")
    with gzip.open(tmp_path / "config.gz", "wt") as f:
        f.write("CONFIG_IPV6=y\n# CONFIG_AF_UNIX_OOB is not set\n")
    monkeypatch.setenv("SOCKSPEC_KERNEL_CONFIG", str(tmp_path / "config.gz"))
    got = markers.read_all("0.0.0-test", btf_path=str(tmp_path / "vmlinux"),
                           kallsyms_path=str(tmp_path / "kallsyms"), catalogue=CATALOGUE)
    values = {name: (r.value, r.known) for name, r in got.items()}
    assert values == {"inet_connection_sock.unhashed_state": (True, True), "tcp_info.size": (280, True),
                      "TCP_NEW_SYN_RECV": (True, True), "inet_hash": (True, True),
                      "CONFIG_IPV6": ("y", True), "CONFIG_AF_UNIX_OOB": (None, True)}
    assert got["tcp_info.size"].source == f"BTF {tmp_path / 'vmlinux'}"
    assert got["CONFIG_IPV6"].source == str(tmp_path / "config.gz")


def test_kallsyms_absence_is_unknown(tmp_path):
    """A symbol's absence proves nothing (inlined, renamed): the range decides then."""
    (tmp_path / "kallsyms").write_text("0 T something_else\n")
    got = markers.read_all("0.0.0-test", btf_path=str(tmp_path / "none"),
                           kallsyms_path=str(tmp_path / "kallsyms"),
                           catalogue={"inet_hash": CATALOGUE["inet_hash"]})
    assert not got["inet_hash"].known and "absence proves nothing" in got["inet_hash"].source


def test_read_all_without_sources(tmp_path, monkeypatch):
    """No BTF, no kallsyms, no config: every marker is unknown, with the reason."""
    monkeypatch.setenv("SOCKSPEC_KERNEL_CONFIG", str(tmp_path / "missing"))
    monkeypatch.setattr(markers, "config_candidates", lambda release: [str(tmp_path / "missing")])
    (tmp_path / "bad").write_bytes(b"not btf at all, not at all")
    got = markers.read_all("0.0.0-test", btf_path=str(tmp_path / "bad"),
                           kallsyms_path=str(tmp_path / "nokallsyms"), catalogue=CATALOGUE)
    assert not any(r.known for r in got.values())
    assert "unreadable BTF" in got["tcp_info.size"].source
    assert "nokallsyms" in got["inet_hash"].source
    assert "no kernel config" in got["CONFIG_IPV6"].source
    assert got["inet_hash"].show().startswith("unknown (")


M = CATALOGUE["inet_connection_sock.unhashed_state"]
SIZE = CATALOGUE["tcp_info.size"]
OOB = CATALOGUE["CONFIG_AF_UNIX_OOB"]


def _reading(value, known=True):
    return {"value": value, "source": "fixture", "known": known}


@pytest.mark.parametrize("when, readings, version, holds, basis", [
    # the marker decides over the release range, both ways
    ((has(M),), {M.name: _reading(True)}, (6, 18, 44), True, "holds by marker"),
    ((has(M),), {M.name: _reading(False)}, (7, 9, 0), False, "does not hold by marker"),
    # unknown or missing reading: the range decides
    ((has(M),), {M.name: _reading(None, known=False)}, (7, 9, 0), True, "holds by release 7.9.0"),
    ((has(M),), {}, (6, 18, 44), False, "does not hold by release 6.18.44"),
    ((lacks(M),), {M.name: _reading(False)}, (7, 9, 0), True, "holds by marker"),
    ((value_is(SIZE, 280),), {SIZE.name: _reading(280)}, (6, 1, 0), True, "tcp_info.size = 280"),
    ((value_is(SIZE, 248),), {SIZE.name: _reading(280)}, (6, 12, 0), False, "read tcp_info.size: 280"),
    ((has(OOB),), {OOB.name: _reading("m")}, (5, 10, 0), True, "holds by marker"),
    ((lacks(OOB),), {OOB.name: _reading(None)}, (6, 1, 0), True, "CONFIG_AF_UNIX_OOB absent"),
])
def test_rule_verdict(when, readings, version, holds, basis):
    r = Rule("x.y", "x", "EINVAL", "d", "c", since=(7, 4, 0), when=when)
    assert r.holds(version, readings) is holds
    assert basis in r.basis(version, readings)


def test_rule_without_markers_by_release():
    r = Rule("x.y", "x", "0", "d", "c", until=(6, 2, 0))
    assert r.holds((6, 1, 0), {}) and not r.holds((6, 2, 0), {})
    assert r.basis((6, 1, 0)) == "holds by release 6.1.0 (until 6.2.0)"
    assert Rule("x.z", "x", "0", "d", "c").basis((6, 1, 0)) == "every kernel"


def test_profile_round_trip_keeps_markers():
    from model_profile import profile
    import dataclasses
    p = dataclasses.replace(profile(), markers={M.name: _reading(True)})
    from harness.profile import Profile
    q = Profile.from_json(p.to_json())
    assert q.markers == p.markers
    assert "marker inet_connection_sock.unhashed_state" in q.render()


def test_rule_requires_a_feature():
    """``requires`` is a precondition: markers where known, else release; it never overrides
    the rule's own range (a 6.10 change of an OOB rule stays a 6.10 change)."""
    r = Rule("x.oob", "x", "1", "d", "c", since=(6, 10, 0), requires=(has(OOB),), requires_since=(5, 15, 0))
    assert r.holds((6, 12, 0), {OOB.name: _reading("y")})
    assert not r.holds((6, 1, 0), {OOB.name: _reading("y")})            # the range still decides
    assert not r.holds((6, 12, 0), {OOB.name: _reading(None)})          # config says not built
    assert "does not hold: needs CONFIG_AF_UNIX_OOB present" in r.basis((6, 12, 0), {OOB.name: _reading(None)})
    assert r.holds((6, 12, 0), {}) and not r.holds((5, 10, 0), {})     # unknown: by release
    assert "release 5.10.0 before 5.15.0" in r.basis((5, 10, 0), {})


def test_lsm_markers_from_securityfs_or_the_config(tmp_path, monkeypatch):
    """``lsm`` markers: the list in securityfs; without it, absent where the config did not
    build the module, else unknown."""
    from harness.abi.markers import Marker
    cat = {"lsm.selinux": Marker("lsm.selinux", "lsm", "selinux", "d")}
    (tmp_path / "lsm").write_text("capability,landlock,yama,selinux,tomoyo")
    got = markers.read_all("0.0.0-test", lsm_path=str(tmp_path / "lsm"), catalogue=cat)
    assert (got["lsm.selinux"].value, got["lsm.selinux"].known) == (True, True)
    (tmp_path / "lsm").write_text("capability,landlock,yama,apparmor")
    got = markers.read_all("0.0.0-test", lsm_path=str(tmp_path / "lsm"), catalogue=cat)
    assert (got["lsm.selinux"].value, got["lsm.selinux"].known) == (False, True)
    monkeypatch.setattr(markers, "config_candidates", lambda release: [str(tmp_path / "config")])
    (tmp_path / "config").write_text("CONFIG_SECURITY=y\n# CONFIG_SECURITY_SELINUX is not set\n")
    got = markers.read_all("0.0.0-test", lsm_path=str(tmp_path / "none"), catalogue=cat)
    assert (got["lsm.selinux"].value, got["lsm.selinux"].known) == (False, True)
    assert "CONFIG_SECURITY_SELINUX is not set" in got["lsm.selinux"].source
    (tmp_path / "config").write_text("CONFIG_SECURITY_SELINUX=y\n")
    got = markers.read_all("0.0.0-test", lsm_path=str(tmp_path / "none"), catalogue=cat)
    assert not got["lsm.selinux"].known and "securityfs not mounted" in got["lsm.selinux"].source
