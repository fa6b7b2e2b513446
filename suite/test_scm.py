"""Control messages on unix sockets (unix(7) SCM_RIGHTS, SCM_CREDENTIALS; cmsg(3)):
descriptors passed and installed at the lowest free numbers, MSG_CMSG_CLOEXEC, MSG_PEEK,
MSG_CTRUNC of a short or missing msg_control (what did not fit is closed), the limits and the
malformed headers __scm_send() refuses, credentials with SO_PASSCRED and the capabilities that
sending other ids needs, and the files of unread messages released with their receiver.
Every call is checked against the model (harness/model/scm.py); the checker compares each
received descriptor (its inode and /proc/self/fd link, FD_CLOEXEC) with the sent file."""
from __future__ import annotations

import os
import struct

import pytest

from harness.abi import cmsg
from harness.abi import linux as L

from .endpoints import row
from .privilege import SIDES, run_as

DW = L.MSG_DONTWAIT
CX = L.SOCK_CLOEXEC
UNIX_TYPES = {"stream": L.SOCK_STREAM, "dgram": L.SOCK_DGRAM, "seqpacket": L.SOCK_SEQPACKET}
KINDS = list(UNIX_TYPES)


def pair(sc, type_: int) -> tuple[int, int]:
    return sc.socketpair(L.AF_UNIX, type_ | CX, 0).out["fds"]


def fds_of(result) -> list[int]:
    return cmsg.received_fds(result.out.get("control"))


def close_all(sc, *fds) -> None:
    for fd in fds:
        sc.close(fd)


@pytest.mark.parametrize("kind", KINDS)
def test_scm_rights_passes_files(sc, kind):
    """The received descriptors are the lowest free numbers and refer to the sent files (the
    checker compares their inode and /proc/self/fd link with the sent sockets'); the sender
    may close its copy first; MSG_CMSG_CLOEXEC sets FD_CLOEXEC; MSG_PEEK installs copies and
    the message keeps its files for the read that follows."""
    a, b = pair(sc, UNIX_TYPES[kind])
    x, y = pair(sc, L.SOCK_DGRAM)
    got = []
    with row("two-fds"):
        sc.sendmsg(a, [b"fds"], 0, control=cmsg.rights(x, y))
        sc.close(y)
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(4 * 4)))
    with row("cloexec"):
        sc.sendmsg(a, [b"again"], 0, control=cmsg.rights(x))
        got += fds_of(sc.recvmsg(b, [8], DW | L.MSG_CMSG_CLOEXEC, controllen=cmsg.cmsg_space(4)))
    with row("o-path-file"):                     # fget_raw(): an O_PATH descriptor passes
        f = os.open("/", os.O_PATH | os.O_CLOEXEC)
        sc.m.adopt(f, "/", cloexec=True, path_only=True)
        sc.sendmsg(a, [b"path"], 0, control=cmsg.rights(f))
        sc.close(f)
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(4)))
    with row("peek"):
        sc.sendmsg(a, [b"p"], 0, control=cmsg.rights(x))
        got += fds_of(sc.recvmsg(b, [8], DW | L.MSG_PEEK, controllen=cmsg.cmsg_space(4)))
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(4)))
    close_all(sc, *got, x, a, b)


def test_scm_rights_stream_read_stops(sc):
    """A unix stream read does not run past bytes that carried descriptors: two sends, one
    with a descriptor, come back as two reads."""
    a, b = pair(sc, L.SOCK_STREAM)
    sc.sendmsg(a, [b"plain"])
    sc.sendmsg(a, [b"fd"], 0, control=cmsg.rights(a))
    sc.sendmsg(a, [b"tail"])
    got = fds_of(sc.recvmsg(b, [64], DW, controllen=cmsg.cmsg_space(4)))
    got += fds_of(sc.recvmsg(b, [64], DW, controllen=cmsg.cmsg_space(4)))
    close_all(sc, *got, a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_scm_rights_truncated(sc, kind):
    """A msg_control with room for fewer descriptors than were sent: as many as fit, MSG_CTRUNC,
    and the rest closed; none at all when not even one fits (16 bytes) or msg_control is NULL.
    The payload is one end of a stream pair whose other end the checker polls: once its last
    reference (the message) is dropped, the peer sees the hangup."""
    a, b = pair(sc, UNIX_TYPES[kind])
    got = []
    with row("room-for-two-of-three"):
        x, y = pair(sc, L.SOCK_STREAM)
        sc.sendmsg(a, [b"3"], 0, control=cmsg.rights(a, a, x))
        sc.close(x)
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_len(2 * 4)))
        sc.recv(y, 8, DW)
        sc.close(y)
    with row("header-only"):
        x, y = pair(sc, L.SOCK_STREAM)
        sc.sendmsg(a, [b"h"], 0, control=cmsg.rights(x))
        sc.close(x)
        sc.recvmsg(b, [8], DW, controllen=cmsg.hdr_size())
        sc.close(y)
    with row("null-control"):
        x, y = pair(sc, L.SOCK_STREAM)
        sc.sendmsg(a, [b"n"], 0, control=cmsg.rights(x))
        sc.close(x)
        sc.recvmsg(b, [8], DW)
        sc.close(y)
    with row("recv-drops"):
        x, y = pair(sc, L.SOCK_STREAM)
        sc.sendmsg(a, [b"r"], 0, control=cmsg.rights(x))
        sc.close(x)
        sc.recv(b, 8, DW)
        sc.close(y)
    close_all(sc, *got, a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_scm_rights_inflight_released_on_close(sc, kind):
    """A socket whose only reference is an unread message: its peer sees no hangup until the
    receiver is closed, and then does (unix_release_sock() purges the receive queue)."""
    a, b = pair(sc, UNIX_TYPES[kind])
    x, y = pair(sc, L.SOCK_STREAM)
    sc.sendmsg(a, [b"in flight"], 0, control=cmsg.rights(x))
    sc.close(x)
    sc.send(y, b"alive", DW)
    sc.close(b)
    sc.recv(y, 8, DW)
    close_all(sc, a, y)


def test_scm_rights_limits(sc):
    """SCM_MAX_FD (253) descriptors in one sendmsg pass, 254 are EINVAL (in one message or
    spread over two); a number that is not an open descriptor, or a negative one, is EBADF;
    an SCM_RIGHTS message without room for a descriptor carries nothing."""
    a, b = pair(sc, L.SOCK_DGRAM)
    with row("253"):
        sc.sendmsg(a, [b"max"], 0, control=cmsg.rights(*[a] * cmsg.SCM_MAX_FD))
    with row("254"):
        sc.sendmsg(a, [b"over"], 0, control=cmsg.rights(*[a] * (cmsg.SCM_MAX_FD + 1)))
    with row("200+54"):
        sc.sendmsg(a, [b"two"], 0, control=cmsg.rights(*[a] * 200) + cmsg.rights(*[a] * 54))
    with row("not-open"):
        sc.sendmsg(a, [b"ebadf"], 0, control=cmsg.rights(a, 32767))
    with row("negative"):
        sc.sendmsg(a, [b"ebadf"], 0, control=cmsg.rights(-1))
    with row("empty"):
        sc.sendmsg(a, [b"none"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS, b""))
    close_all(sc, a, b)


def test_scm_malformed_control(sc):
    """__scm_send()'s walk: a non-NULL msg_control of length 0 and one shorter than a header are
    ignored; cmsg_len shorter than the header or past msg_controllen is EINVAL (at any level);
    an unknown SOL_SOCKET type (SCM_SECURITY too) is EINVAL; another level is skipped; an
    SCM_CREDENTIALS of the wrong length is EINVAL."""
    a, b = pair(sc, L.SOCK_DGRAM)
    good = cmsg.rights(a)
    with row("controllen-0"):
        sc.sendmsg(a, [b"x"], 0, control=(sc.fault(), 0))
    with row("controllen-8"):
        sc.sendmsg(a, [b"x"], 0, control=good[:8])
    with row("cmsg_len-8"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS,
                                                    struct.pack("=i", a), length=8))
    with row("cmsg_len-past-buffer"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS,
                                                    struct.pack("=i", a), length=64))
    with row("other-level-short"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(L.IPPROTO_IP, 1, b"", length=4))
    with row("unknown-type"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, 99, b"abcd"))
    with row("scm-security"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, cmsg.SCM_SECURITY, b"abcd"))
    with row("other-level-skipped"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(L.IPPROTO_IP, 1, b"abcd") + good)
    with row("credentials-short"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.cmsg(cmsg.SOL_SOCKET, cmsg.SCM_CREDENTIALS,
                                                    b"\0" * 8))
    got = []
    for _ in range(4):
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(4)))
    close_all(sc, *got, a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_scm_credentials_received(sc, kind):
    """With SO_PASSCRED on the receiver every message carries the sender's pid, uid and gid
    (first, before the descriptors); the sender may state its own; a msg_control too short
    for them is cut with MSG_CTRUNC, a NULL one gets MSG_CTRUNC."""
    a, b = pair(sc, UNIX_TYPES[kind])
    sc.setsockopt(b, L.SOL_SOCKET, L.SO_PASSCRED, 1)
    t = sc.m.task
    got = []
    with row("stamped"):
        sc.sendmsg(a, [b"who"])
        sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(12))
    with row("given-with-fd"):
        sc.sendmsg(a, [b"own"], 0, control=cmsg.credentials(*t.creds) + cmsg.rights(a))
        got += fds_of(sc.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(12) + cmsg.cmsg_space(4)))
    with row("cut"):
        sc.sendmsg(a, [b"cut"])
        sc.recvmsg(b, [8], DW, controllen=cmsg.hdr_size() + 4)
    with row("null-control"):
        sc.sendmsg(a, [b"nul"])
        sc.recvmsg(b, [8], DW)
    with row("invalid-uid"):
        sc.sendmsg(a, [b"x"], 0, control=cmsg.credentials(t.pid, -1, t.gids[0]))
    close_all(sc, *got, a, b)


CRED_CASES = {
    "other-uid": ("CAP_SETUID", lambda t: (t.pid, 12345, t.gids[0])),
    "other-gid": ("CAP_SETGID", lambda t: (t.pid, t.uids[0], 12345)),
    "parent-pid": ("CAP_SYS_ADMIN", lambda t: (t.ppid, t.uids[0], t.gids[0])),
    "pid-0": ("CAP_SYS_ADMIN", lambda t: (0, t.uids[0], t.gids[0])),
}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("case", list(CRED_CASES))
def test_scm_credentials_other_ids(sc, case, side):
    """Credentials other than the caller's own: another uid needs CAP_SETUID, another gid
    CAP_SETGID, another pid CAP_SYS_ADMIN (EPERM without); with it, the receiver sees them,
    and a pid naming no process is ESRCH."""
    cap, creds = CRED_CASES[case]

    def body(s):
        a, b = pair(s, L.SOCK_DGRAM)
        s.setsockopt(b, L.SOL_SOCKET, L.SO_PASSCRED, 1)
        s.sendmsg(a, [b"id"], 0, control=cmsg.credentials(*creds(s.m.task)))
        s.recvmsg(b, [8], DW, controllen=cmsg.cmsg_space(12))
        close_all(s, a, b)
    run_as(sc, side, cap, body)
