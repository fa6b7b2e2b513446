"""Model-only scenarios for control messages on unix sockets (harness/model/scm.py and the
unix send/receive paths that carry them): SCM_RIGHTS sent and installed, MSG_CTRUNC, the
limits and malformed headers of __scm_send(), SCM_CREDENTIALS and its permission checks, and
files released with the receiver that held them. No syscall is made; the caller's ids are a
hand-built Task."""
from __future__ import annotations

import errno as E
import struct

import pytest

from harness.abi import cmsg
from harness.abi import linux as L
from harness.check import touched_fds
from harness.mem import Ptr
from harness.model import Call, REGISTRY, scm
from harness.model.state import SHUTDOWN_MASK

from model_profile import ROOT_CAPS, VERSIONS, Run, fake_result, rules_of

DW, PEEK = L.MSG_DONTWAIT, L.MSG_PEEK
KINDS = {"stream": L.SOCK_STREAM, "dgram": L.SOCK_DGRAM, "seqpacket": L.SOCK_SEQPACKET}
TASK = scm.Task(pid=4242, uids=(1000, 1000, 1000), gids=(100, 100, 100), ppid=4241)
REACHED: set[str] = set()


class Scm(Run):
    def __init__(self, version="6.18", caps=ROOT_CAPS):
        super().__init__(version, caps)
        self.m.task = TASK

    def call(self, name, *args, **kwargs):
        out = self.m.allowed(Call(name, args, kwargs))
        REACHED.update(rules_of(out))
        assert len(out) == 1, out
        o = out[0]
        if o.apply is not None:
            o.apply(self.m, fake_result(o))
        return o

    def pair(self, type_=L.SOCK_DGRAM):
        o = self.call("socketpair", L.AF_UNIX, type_, 0)
        return o.out["fds"].value

    def out(self, o, key):
        return o.out[key].value


def names(o) -> set[str]:
    return {r.name for r in o.rules}


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_rights_installed_at_lowest_free(kind, version):
    """Two descriptors sent (the sender closes one first) come back at the lowest free numbers,
    referring to the same sockets; MSG_CMSG_CLOEXEC marks them close-on-exec; a peek installs
    copies and leaves the files for the read."""
    r = Scm(version)
    a, b = r.pair(KINDS[kind])
    x, y = r.pair()
    sx, sy = r.m.sock(x), r.m.sock(y)
    o = r.call("sendmsg", a, [b"fds"], 0, control=cmsg.rights(x, y))
    assert "scm.rights" in names(o)
    r.call("close", y)
    assert sy.state != "closed"                  # held by the message
    o = r.call("recvmsg", b, [8], DW, controllen=cmsg.cmsg_space(8))
    assert (y, x) == (6, 5)                      # 0-2 are files, a 3, b 4; 6 is free again
    assert r.out(o, "control") == ((cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS, (6, 7)),)
    assert r.out(o, "controllen") == cmsg.cmsg_space(8)
    assert r.m.sock(6) is sx and r.m.sock(7) is sy and not r.m.fds.get(6).cloexec
    assert "recvmsg.scm_rights" in names(o)
    assert set(touched_fds(Call("recvmsg", (b, [8]), {}), fake_result(o))) >= {6, 7}
    r.call("sendmsg", a, [b"c"], 0, control=cmsg.rights(x))
    o = r.call("recvmsg", b, [8], DW | L.MSG_CMSG_CLOEXEC, controllen=cmsg.cmsg_space(4))
    assert r.out(o, "control") == ((1, 1, (8,)),) and r.m.fds.get(8).cloexec
    assert "recvmsg.scm_rights_cloexec" in names(o)
    r.call("sendmsg", a, [b"p"], 0, control=cmsg.rights(x))
    o = r.call("recvmsg", b, [8], DW | PEEK, controllen=cmsg.cmsg_space(4))
    assert r.out(o, "control") == ((1, 1, (9,)),) and "recvmsg.scm_rights_peek" in names(o)
    o = r.call("recvmsg", b, [8], DW, controllen=cmsg.cmsg_space(4))
    assert r.out(o, "control") == ((1, 1, (10,)),)


def test_stream_read_stops_after_fds():
    """A stream read returns after the bytes that carried descriptors."""
    r = Scm()
    a, b = r.pair(L.SOCK_STREAM)
    r.call("sendmsg", a, [b"plain"])
    r.call("sendmsg", a, [b"fd"], 0, control=cmsg.rights(a))
    r.call("sendmsg", a, [b"tail"])
    o = r.call("recvmsg", b, [64], DW, controllen=cmsg.cmsg_space(4))
    assert o.ret.value == 7 and r.out(o, "control") == ((1, 1, (5,)),)
    assert "recv.unix_stream_scm_stops" in names(o)
    o = r.call("recvmsg", b, [64], DW, controllen=cmsg.cmsg_space(4))
    assert o.ret.value == 4 and r.out(o, "control") == ()
    r.call("sendmsg", a, [b"pk"], 0, control=cmsg.rights(a))
    r.call("sendmsg", a, [b"more"])
    o = r.call("recvmsg", b, [64], DW | PEEK, controllen=cmsg.cmsg_space(4))
    assert o.ret.value == 2 and "recvmsg.scm_rights_peek" in names(o)


@pytest.mark.parametrize("kind", list(KINDS))
def test_truncated_control_closes_the_rest(kind):
    """Room for two of three: two installed, MSG_CTRUNC, the third dropped (its peer hangs
    up); a header-only or NULL msg_control installs none."""
    r = Scm()
    a, b = r.pair(KINDS[kind])
    x, y = r.pair(L.SOCK_STREAM)
    r.call("sendmsg", a, [b"3"], 0, control=cmsg.rights(a, a, x))
    r.call("close", x)
    o = r.call("recvmsg", b, [8], DW, controllen=cmsg.cmsg_len(8))
    assert r.out(o, "msg_flags") & L.MSG_CTRUNC and r.out(o, "control") == ((1, 1, (5, 7)),)
    assert "recvmsg.scm_rights_ctrunc" in names(o)
    assert r.m.sock(y).shutdown == SHUTDOWN_MASK
    for controllen in (cmsg.hdr_size(), 0):
        x2, y2 = r.pair(L.SOCK_STREAM)
        r.call("sendmsg", a, [b"h"], 0, control=cmsg.rights(x2))
        r.call("close", x2)
        o = r.call("recvmsg", b, [8], DW, controllen=controllen)
        assert r.out(o, "msg_flags") & L.MSG_CTRUNC
        assert names(o) & {"recvmsg.scm_rights_ctrunc", "recvmsg.scm_no_control"}
        assert r.m.sock(y2).shutdown == SHUTDOWN_MASK
        r.call("close", y2)
    x3, y3 = r.pair(L.SOCK_STREAM)
    r.call("sendmsg", a, [b"r"], 0, control=cmsg.rights(x3))
    r.call("close", x3)
    r.call("recv", b, 8, DW)
    assert r.m.sock(y3).shutdown == SHUTDOWN_MASK


@pytest.mark.parametrize("kind", list(KINDS))
def test_inflight_released_with_receiver(kind):
    """The receiver closed with the message unread: the socket it carried is released."""
    r = Scm()
    a, b = r.pair(KINDS[kind])
    x, y = r.pair(L.SOCK_STREAM)
    r.call("sendmsg", a, [b"in flight"], 0, control=cmsg.rights(x))
    r.call("close", x)
    assert r.m.sock(y).shutdown == 0
    o = r.call("close", b)
    assert "close.unix_inflight_released" in names(o)
    assert r.m.sock(y).shutdown == SHUTDOWN_MASK
    assert r.call("recv", y, 8, DW).ret.value == 0


def test_rights_limits_and_malformed_headers():
    """SCM_MAX_FD, EBADF, the CMSG_OK walk, unknown types and other levels."""
    r = Scm()
    a, b = r.pair()
    one = struct.pack("=i", a)
    cases = [
        (cmsg.rights(*[a] * 253), 0, "scm.rights"),
        (cmsg.rights(*[a] * 254), E.EINVAL, "scm.rights_too_many"),
        (cmsg.rights(*[a] * 200) + cmsg.rights(*[a] * 54), E.EINVAL, "scm.rights_too_many"),
        (cmsg.rights(a, 32767), E.EBADF, "scm.rights_ebadf"),
        (cmsg.rights(-1), E.EBADF, "scm.rights_ebadf"),
        (cmsg.cmsg(1, 1, b""), 0, "scm.rights_empty"),
        ((Ptr(0x1000, "PROT_NONE page", True), 0), 0, "scm.control_empty"),
        (cmsg.rights(a)[:8], 0, "scm.control_short"),
        (cmsg.cmsg(1, 1, one, length=8), E.EINVAL, "scm.cmsg_len_invalid"),
        (cmsg.cmsg(1, 1, one, length=64), E.EINVAL, "scm.cmsg_len_invalid"),
        (cmsg.cmsg(0, 1, b"", length=4), E.EINVAL, "scm.cmsg_len_invalid"),
        (cmsg.cmsg(1, 99, b"abcd"), E.EINVAL, "scm.type_unknown"),
        (cmsg.cmsg(1, cmsg.SCM_SECURITY, b"abcd"), E.EINVAL, "scm.type_unknown"),
        (cmsg.cmsg(0, 1, b"abcd") + cmsg.rights(a), 0, "scm.level_ignored"),
        (cmsg.cmsg(1, cmsg.SCM_CREDENTIALS, b"\0" * 8), E.EINVAL, "scm.credentials_len"),
    ]
    for control, err, rule_ in cases:
        o = r.call("sendmsg", a, [b"x"], 0, control=control)
        assert o.errno == err and rule_ in names(o), (control, o)
    assert all(name in REGISTRY for _, _, name in cases)


def test_credentials_received_with_passcred():
    """SO_PASSCRED: the stamp of the sender (real ids), or the given credentials, first;
    cut with MSG_CTRUNC when the buffer is short, MSG_CTRUNC alone with no buffer."""
    r = Scm()
    a, b = r.pair(L.SOCK_SEQPACKET)
    r.call("setsockopt", b, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    o = r.call("sendmsg", a, [b"who"])
    assert "send.unix_passcred_creds" in names(o)
    o = r.call("recvmsg", b, [8], DW, controllen=cmsg.cmsg_space(12))
    assert r.out(o, "control") == ((1, cmsg.SCM_CREDENTIALS, (4242, 1000, 100)),)
    assert "recvmsg.scm_credentials" in names(o)
    o = r.call("sendmsg", a, [b"own"], 0, control=cmsg.credentials(4242, 1000, 100) + cmsg.rights(a))
    assert "scm.credentials" in names(o)
    o = r.call("recvmsg", b, [8], DW, controllen=cmsg.cmsg_space(12) + cmsg.cmsg_space(4))
    assert r.out(o, "control") == ((1, 2, (4242, 1000, 100)), (1, 1, (5,)))
    r.call("sendmsg", a, [b"cut"])
    o = r.call("recvmsg", b, [8], DW, controllen=20)
    assert r.out(o, "control") == ((1, 2, struct.pack("=i", 4242)),)
    assert r.out(o, "msg_flags") & L.MSG_CTRUNC and "recvmsg.put_cmsg_ctrunc" in names(o)
    r.call("sendmsg", a, [b"nul"])
    o = r.call("recvmsg", b, [8], DW)
    assert r.out(o, "msg_flags") == L.MSG_CTRUNC and "recvmsg.scm_no_control" in names(o)
    o = r.call("sendmsg", a, [b"x"], 0, control=cmsg.credentials(4242, -1, 100))
    assert o.errno == E.EINVAL and "scm.credentials_invalid_id" in names(o)


@pytest.mark.parametrize("caps", [ROOT_CAPS + ("CAP_SETUID", "CAP_SETGID"), ()])
def test_credentials_of_others_need_capabilities(caps):
    """Another uid needs CAP_SETUID, another gid CAP_SETGID, another pid CAP_SYS_ADMIN; with
    it, a pid naming no process is ESRCH."""
    r = Scm(caps=caps)
    a, b = r.pair()
    privileged = bool(caps)
    for creds in [(4242, 7, 100), (4242, 1000, 7), (4241, 1000, 100), (0, 1000, 100)]:
        o = r.call("sendmsg", a, [b"id"], 0, control=cmsg.credentials(*creds))
        if not privileged:
            assert o.errno == E.EPERM and "scm.credentials_eperm" in names(o)
        elif creds[0] == 0:
            assert o.errno == E.ESRCH and "scm.credentials_esrch" in names(o)
        else:
            assert o.errno == 0 and "scm.credentials" in names(o)


def test_credentials_unmapped_in_a_user_namespace():
    """In a user namespace an id its map leaves out is EINVAL, before the permission check."""
    r = Scm(caps=())
    r.m.task = scm.Task(4242, (1000, 1000, 1000), (100, 100, 100), 4241,
                        uid_map=((1000, 1),), gid_map=((100, 1),))
    a, b = r.pair()
    o = r.call("sendmsg", a, [b"id"], 0, control=cmsg.credentials(4242, 0, 100))
    assert o.errno == E.EINVAL and "scm.credentials_invalid_id" in names(o)
    o = r.call("sendmsg", a, [b"id"], 0, control=cmsg.credentials(4242, 1000, 100))
    assert o.errno == 0


def test_every_scm_rule_is_reached():
    for fn in (test_stream_read_stops_after_fds, test_rights_limits_and_malformed_headers,
               test_credentials_received_with_passcred):
        fn()
    for kind in KINDS:
        test_rights_installed_at_lowest_free(kind, "6.18")
        test_truncated_control_closes_the_rest(kind)
        test_inflight_released_with_receiver(kind)
    for caps in (ROOT_CAPS + ("CAP_SETUID", "CAP_SETGID"), ()):
        test_credentials_of_others_need_capabilities(caps)
    missing = {r.name for r in scm.__dict__.values()
               if getattr(r, "name", None) in REGISTRY and REGISTRY[r.name] is r} - REACHED
    assert not missing, sorted(missing)


def test_cmsg_codec_round_trip():
    """harness/abi/cmsg.py: what the kernel side decodes is what the model builds."""
    buf = cmsg.credentials(1, 2, 3) + cmsg.rights(4, 5, 6)
    assert cmsg.decode(buf) == ((1, 2, (1, 2, 3)), (1, 1, (4, 5, 6)))
    assert cmsg.received_fds(cmsg.decode(buf)) == [4, 5, 6]
    assert cmsg.decode(cmsg.rights(9, word=4), word=4) == ((1, 1, (9,)),)
    assert cmsg.decode(b"") == () and cmsg.decode(b"\0" * 16) == ()
