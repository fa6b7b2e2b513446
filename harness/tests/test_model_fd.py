"""Model-only scenarios for the descriptor table (harness/model/file.py and the fd rules of
socket.py) and socketpair: numbers, flags, EBADF/ENOTSOCK, RLIMIT_NOFILE, procfs and fstat."""
from __future__ import annotations

import errno as E

import pytest

from harness.abi import linux as L
from harness.mem import NULL, Ptr
from harness.model import file as F
from harness.model import socket as SK
from harness.model.rules import Rule

from model_profile import Run, only, rules_of

FAULT = Ptr(0x1000, "PROT_NONE page", True)
REACHED: set[str] = set()


def allowed(run, name, *args, **kwargs):
    outcomes = run.allowed(name, *args, **kwargs)
    REACHED.update(rules_of(outcomes))
    return outcomes


def play(run, name, *args, **kwargs):
    allowed(run, name, *args, **kwargs)
    return run.play(name, *args, **kwargs)


def test_lowest_free_through_close_dup_dup2():
    run = Run()
    a = play(run, "socket", L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret.value
    b = play(run, "socket", L.AF_INET, L.SOCK_DGRAM | L.SOCK_NONBLOCK, 0).ret.value
    assert (a, b) == (3, 4)
    play(run, "close", a)
    assert play(run, "dup", b).ret.value == 3
    assert run.m.fds.get(3).cloexec is False and run.m.sock(3) is run.m.sock(4)
    assert play(run, "dup2", b, 10).ret.value == 10
    assert play(run, "dup2", 10, 10).ret.value == 10
    play(run, "close", 4)
    assert run.m.sock(10) is run.m.sock(3)
    assert play(run, "socket", L.AF_UNIX, L.SOCK_DGRAM, 0).ret.value == 4


def test_ebadf_and_enotsock():
    run = Run()
    for fd in (-1, 99, 0x7FFFFFFF):
        assert only(allowed(run, "close", fd))[0] == E.EBADF
        assert only(allowed(run, "dup", fd))[0] == E.EBADF
        assert only(allowed(run, "fcntl", fd, L.F_GETFD))[0] == E.EBADF
        assert only(allowed(run, "fstat", fd))[0] == E.EBADF
        assert only(allowed(run, "listen", fd, 1))[0] == E.EBADF
    assert only(allowed(run, "readlink", "/proc/self/fd/99"))[0] == E.ENOENT
    # fs/proc/util.c name_to_int(): a sign, a leading zero or a non-digit is no fd name
    for name in ("-1", "-2147483648", "07", "1x", "4294967295"):
        err, _, _, rules = only(allowed(run, "readlink", f"/proc/self/fd/{name}"))
        assert err == E.ENOENT and rules == {F.PROCFS_NAME_NOT_FD.name}, name
    assert F.name_to_int("0") == 0 and F.name_to_int("429496729") == 429496729
    assert F.name_to_int("4294967280") is None           # n >= (~0U - 9) / 10 before a digit
    run.m.adopt(7, "/dev/null")
    assert only(allowed(run, "shutdown", 7, 0))[0] == E.ENOTSOCK
    assert only(allowed(run, "getsockopt", 7, L.SOL_SOCKET, L.SO_TYPE))[0] == E.ENOTSOCK
    err, _, out, rules = only(allowed(run, "readlink", "/proc/self/fd/7"))
    assert err == 0 and out["target"] == "/dev/null" and F.PROCFS_FILE_LINK.name in rules
    err, _, out, rules = only(allowed(run, "fstat", 7))
    assert err == 0 and F.FSTAT_OTHER.name in rules
    assert 0o020666 in run.allowed("fstat", 7)[0].out["st_mode"]
    assert 0o140777 not in run.allowed("fstat", 7)[0].out["st_mode"]


def fd_taking(fd):
    """Every socket call on fd with otherwise valid arguments."""
    from harness.mem import SockaddrIn
    return [("bind", (fd, SockaddrIn(0, "127.0.0.1"))), ("connect", (fd, SockaddrIn(9, "127.0.0.1"))),
            ("listen", (fd, 5)), ("accept", (fd,)), ("accept4", (fd, L.SOCK_CLOEXEC)),
            ("getsockname", (fd,)), ("getpeername", (fd,)), ("shutdown", (fd, L.SHUT_RDWR)),
            ("setsockopt", (fd, L.SOL_SOCKET, L.SO_REUSEADDR, 1)),
            ("getsockopt", (fd, L.SOL_SOCKET, L.SO_TYPE)),
            ("send", (fd, b"x", L.MSG_DONTWAIT)), ("sendto", (fd, b"x", L.MSG_DONTWAIT)),
            ("sendmsg", (fd, [b"x"], L.MSG_DONTWAIT)), ("sendmmsg", (fd, [[b"x"]], L.MSG_DONTWAIT)),
            ("recv", (fd, 8, L.MSG_DONTWAIT)), ("recvfrom", (fd, 8, L.MSG_DONTWAIT, True)),
            ("recvmsg", (fd, [8], L.MSG_DONTWAIT)), ("recvmmsg", (fd, [[8]], L.MSG_DONTWAIT))]


def test_o_path_is_ebadf_other_files_enotsock():
    """fdget() skips FMODE_PATH files: an O_PATH fd (a file, a socket's inode by path or by
    /proc/self/fd/N) is EBADF for every socket call, any other open file ENOTSOCK; the file
    calls that use fdget_raw()/fget_raw() (fcntl F_GETFD, dup, close) work on it."""
    run = Run()
    run.m.adopt(7, "/tmp/x", path_only=True, kind="o-path-file")
    run.m.adopt(8, "socket:[77]", path_only=True, kind="socket-proc-o-path")
    run.m.adopt(9, "anon_inode:[eventfd]", kind="eventfd")
    for name, args in fd_taking(7) + fd_taking(8):
        err, _, _, rules = only(allowed(run, name, *args))
        assert (err, rules) == (E.EBADF, {SK.EBADF_PATH.name}), (name, args)
    for name, args in fd_taking(9):
        err, _, _, rules = only(allowed(run, name, *args))
        assert (err, rules) == (E.ENOTSOCK, {SK.ENOTSOCK.name}), name
    assert only(allowed(run, "fcntl", 7, L.F_GETFD))[0] == 0
    assert only(allowed(run, "dup", 7))[1] == 3
    assert only(allowed(run, "close", 8))[0] == 0


def test_dup2_edges():
    run = Run()
    fd = run.sock(L.AF_UNIX)
    run.m.fds.rlimit = 10
    assert only(allowed(run, "dup2", fd, 10))[0] == E.EBADF
    assert only(allowed(run, "dup2", fd, -1))[0] == E.EBADF
    assert only(allowed(run, "dup2", 9, 5))[0] == E.EBADF
    assert only(allowed(run, "dup2", 9, 9))[0] == E.EBADF
    run.m.adopt(20, "socket:[1]")                 # above the limit, yet dup2(20, 20) works
    assert only(allowed(run, "dup2", 20, 20))[1] == 20


def test_fcntl_flags_and_dupfd():
    run = Run()
    fd = play(run, "socket", L.AF_INET6, L.SOCK_STREAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0).ret.value
    assert only(allowed(run, "fcntl", fd, L.F_GETFL))[1] == L.O_RDWR | L.O_NONBLOCK
    assert only(allowed(run, "fcntl", fd, L.F_GETFD))[1] == L.FD_CLOEXEC
    copy = play(run, "fcntl", fd, L.F_DUPFD_CLOEXEC, 50).ret.value
    assert copy == 50 and run.m.fds.get(50).cloexec
    play(run, "fcntl", 50, L.F_SETFL, 0)
    assert only(allowed(run, "fcntl", fd, L.F_GETFL))[1] == L.O_RDWR
    play(run, "fcntl", fd, L.F_SETFD, 0)
    assert run.m.fds.get(50).cloexec and not run.m.fds.get(fd).cloexec
    assert only(allowed(run, "fcntl", fd, L.F_DUPFD, 1024))[0] == E.EINVAL
    assert only(allowed(run, "fcntl", fd, L.F_DUPFD, -1))[0] == E.EINVAL
    run.m.fds.rlimit = 51
    assert only(allowed(run, "fcntl", fd, L.F_DUPFD, 50))[0] == E.EMFILE


def test_emfile_comes_after_the_family():
    run = Run()
    run.m.fds.rlimit = 3
    assert only(allowed(run, "socket", L.AF_UNIX, L.SOCK_STREAM, 0))[0] == E.EMFILE
    assert only(allowed(run, "socket", 255, L.SOCK_STREAM, 0))[0] == E.EAFNOSUPPORT
    assert only(allowed(run, "dup", 0))[0] == E.EMFILE


def test_procfs_and_fstat_agree_on_the_inode():
    run = Run()
    fd = run.sock(L.AF_UNIX)
    st = play(run, "fstat", fd)
    assert F.FSTAT_SOCK.name in {r.name for r in st.rules}
    run.obj(fd).inode = 4242
    err, _, out, rules = only(allowed(run, "readlink", f"/proc/self/fd/{fd}"))
    assert out["target"] == "socket:[4242]" and F.PROCFS_LINK.name in rules
    assert only(allowed(run, "fstat", fd))[2]["st_ino"] == 4242


# --------------------------------------------------------------------------- socketpair

def test_socketpair_unix_installs_two_connected_ends():
    run = Run()
    o = only(allowed(run, "socketpair", L.AF_UNIX, L.SOCK_SEQPACKET | L.SOCK_CLOEXEC, 0))
    assert o[0] == 0 and o[2]["fds"] == (3, 4)
    assert {"socketpair.unix", "fd.cloexec_flag", "fd.lowest_free"} <= o[3]
    play(run, "socketpair", L.AF_UNIX, L.SOCK_SEQPACKET | L.SOCK_CLOEXEC, 0)
    play(run, "socketpair", L.AF_UNIX, L.SOCK_RAW | L.SOCK_NONBLOCK, 0)
    a, b = run.m.sock(3), run.m.sock(4)
    assert a.peer_sock is b and b.peer_sock is a and a.type == L.SOCK_SEQPACKET
    assert run.m.sock(5).type == L.SOCK_DGRAM and run.m.sock(6).nonblock


@pytest.mark.parametrize("family,type,protocol,sv,errno", [
    (L.AF_INET, L.SOCK_STREAM, 0, None, E.EOPNOTSUPP),
    (L.AF_INET, L.SOCK_STREAM, 0, FAULT, E.EFAULT),
    (255, L.SOCK_STREAM, 0, NULL, E.EFAULT),
    (255, L.SOCK_STREAM, 0, None, E.EAFNOSUPPORT),
    (L.AF_UNIX, L.SOCK_STREAM | 0x100, 0, FAULT, E.EINVAL),
    (L.AF_UNIX, L.SOCK_RDM, 0, None, E.ESOCKTNOSUPPORT),
    (L.AF_NETLINK, L.SOCK_RAW, 0, None, E.EOPNOTSUPP),
])
def test_socketpair_refusals(family, type, protocol, sv, errno):
    run = Run()
    o = only(allowed(run, "socketpair", family, type, protocol, sv))
    assert o[0] == errno
    assert run.m.fds.lowest_free() == 3


@pytest.mark.parametrize("caps,errno", [((), E.EPERM), (("CAP_NET_RAW",), E.EOPNOTSUPP)])
def test_socketpair_packet(caps, errno):
    run = Run(caps=caps)
    assert only(allowed(run, "socketpair", L.AF_PACKET, L.SOCK_RAW, 0))[0] == errno
    assert only(allowed(run, "socketpair", L.AF_PACKET, L.SOCK_RAW, 0, FAULT))[0] == E.EFAULT


def test_socketpair_emfile_first():
    run = Run()
    run.m.fds.rlimit = 4                          # one free number
    assert only(allowed(run, "socketpair", L.AF_UNIX, L.SOCK_STREAM, 0, FAULT))[0] == E.EMFILE
    assert only(allowed(run, "socketpair", 255, L.SOCK_STREAM, 0))[0] == E.EMFILE
    run.m.fds.rlimit = 3                          # none
    assert only(allowed(run, "socketpair", L.AF_UNIX, L.SOCK_STREAM, 0))[0] == E.EMFILE


def test_every_rule_is_reached():
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_") or name == "test_every_rule_is_reached":
            continue
        marks = getattr(fn, "pytestmark", [])
        params = next((m for m in marks if m.name == "parametrize"), None)
        if params is None:
            fn()
            continue
        argnames = [a.strip() for a in params.args[0].split(",")]
        for values in params.args[1]:
            fn(**dict(zip(argnames, values)))
    defined = {v.name for v in vars(F).values() if isinstance(v, Rule)}
    defined |= {r.name for r in (SK.EMFILE, SK.LOWEST_FREE, SK.CLOEXEC_FLAG, SK.NONBLOCK_FLAG,
                                 SK.EBADF, SK.EBADF_PATH, SK.ENOTSOCK, SK.SOCKETPAIR_FAULT,
                                 SK.SOCKETPAIR_UNSUPPORTED, SK.SOCKETPAIR_TYPE_FLAGS)}
    missing = sorted(defined - REACHED)
    assert not missing, f"rules no model-only scenario reaches: {missing}"
