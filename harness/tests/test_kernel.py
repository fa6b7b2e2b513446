"""The raw syscall layer: results and errno come back untouched, bad arguments raise clear
Python exceptions, and nothing can crash the interpreter. Run under both backends."""
import errno
import struct

import pytest

from harness import mem
from harness.abi import linux as L
from harness.kernel import BackendError, Kernel, Result, errname, errnum, load_backend
from harness.profile import probe_compat


def test_failing_syscall_returns_errno_never_raises(kernel):
    r = kernel.close(-1)
    assert r == Result(-1, errno.EBADF)
    assert r.errname == "EBADF" and not r.ok


def test_socket_roundtrip(kernel):
    r = kernel.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)
    assert r.ok and r.ret >= 0
    try:
        assert kernel.getsockopt(r.ret, L.SOL_SOCKET, L.SO_DOMAIN).out["int"] == L.AF_UNIX
        assert kernel.fcntl(r.ret, L.F_GETFD).ret & L.FD_CLOEXEC
        link = kernel.readlink(f"/proc/self/fd/{r.ret}").out["target"]
        assert link == f"socket:[{kernel.fstat(r.ret).out['st_ino']}]"
    finally:
        assert kernel.close(r.ret).ok


def test_arguments_are_not_rewritten(kernel):
    """listen(-1) reaches the kernel as -1 (Python's socket module would pass 0)."""
    fd = kernel.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret
    try:
        assert kernel.bind(fd, mem.SockaddrUn()).ok            # autobind
        assert kernel.listen(fd, -1).ok
    finally:
        kernel.close(fd)


def test_socketpair_and_data(kernel):
    r = kernel.socketpair(L.AF_UNIX, L.SOCK_DGRAM, 0)
    a, b = r.out["fds"]
    try:
        assert kernel.sendto(a, b"ping").ret == 4
        got = kernel.recvfrom(b, 16, L.MSG_DONTWAIT)
        assert got.out["data"] == b"ping"
        assert kernel.recvfrom(b, 16, L.MSG_DONTWAIT).errno == errno.EAGAIN
        assert kernel.sendmsg(a, [b"ab", b"cd"]).ret == 4
        got = kernel.recvmsg(b, [1, 8], L.MSG_DONTWAIT)
        assert got.ret == 4 and got.out["data"] == b"abcd"
        assert kernel.sendmmsg(a, [[b"x"], [b"yz"]]).ret == 2
        got = kernel.recvmmsg(b, [[4], [4]], L.MSG_DONTWAIT)
        assert [m["data"] for m in got.out["messages"]] == [b"x", b"yz"]
    finally:
        kernel.close(a)
        kernel.close(b)


def test_recvmsg_decodes_control_messages(kernel):
    """sendmsg takes msg_control bytes (harness/abi/cmsg.py builds them); recvmsg with a
    control buffer returns what was written there decoded: (level, type, fds)."""
    from harness.abi import cmsg
    a, b = kernel.socketpair(L.AF_UNIX, L.SOCK_DGRAM, 0).out["fds"]
    try:
        assert kernel.sendmsg(a, [b"fd"], control=cmsg.rights(a)).ret == 2
        got = kernel.recvmsg(b, [4], L.MSG_DONTWAIT, controllen=cmsg.cmsg_space(4))
        (level, type_, fds), = got.out["control"]
        assert (level, type_, len(fds)) == (cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS, 1)
        assert got.out["controllen"] == cmsg.cmsg_space(4)
        assert kernel.close(fds[0]).ret == 0
        assert kernel.sendmsg(a, [b"no"]).ret == 2
        assert kernel.recvmsg(b, [4], L.MSG_DONTWAIT, controllen=64).out["control"] == ()
        assert "control" not in kernel.recvmsg(b, [4], L.MSG_DONTWAIT, controllen=64).out
    finally:
        kernel.close(a)
        kernel.close(b)


def test_fault_page_gives_efault(kernel):
    fd = kernel.socket(L.AF_INET, L.SOCK_DGRAM, 0).ret
    try:
        assert kernel.bind(fd, kernel.fault_page(), 16).errno == errno.EFAULT
        assert kernel.getsockname(fd, addrlen=kernel.fault_page()).errno == errno.EFAULT
    finally:
        kernel.close(fd)


@pytest.mark.parametrize("call,args,exc", [
    ("socket", ("2", 1, 0), ValueError),                     # not a family name
    ("socket", (b"2", 1, 0), TypeError),                     # wrong type
    ("socket", (2.0, 1, 0), TypeError),
    ("socket", (2, 1 << 40, 0), ValueError),                 # does not fit a C int
    ("bind", (3, "127.0.0.1:80"), TypeError),                # not a sockaddr
    ("recvfrom", (3, -1), ValueError),                       # negative length
    ("recvfrom", (3, 1 << 40), ValueError),                  # absurd buffer
    ("sendto", (3, b"abc", 0, None, None, 10), ValueError),  # length beyond the data
    ("sendto", (3, "text"), TypeError),
    ("recvmsg", (3, [-4]), ValueError),
    ("setsockopt", (3, 1, 2, 1.5), TypeError),
    ("raw", (41, 1, 2, 3, 4, 5, 6, 7), TypeError),           # too many arguments
    ("raw", (99999,), ValueError),
    ("readlink", ("/proc/self/fd/0\0x",), ValueError),
])
def test_bad_arguments_raise_clear_exceptions(kernel, call, args, exc):
    with pytest.raises(exc) as info:
        getattr(kernel, call)(*args)
    assert str(info.value)


def test_names_for_family_and_type(kernel):
    r = kernel.socket("AF_UNIX", "SOCK_DGRAM|SOCK_CLOEXEC")
    assert r.ok and kernel.getsockopt(r.ret, L.SOL_SOCKET, L.SO_TYPE).out["int"] == L.SOCK_DGRAM
    kernel.close(r.ret)
    with pytest.raises(ValueError, match="unknown address family name 'AF_BOGUS'"):
        kernel.socket("AF_BOGUS", L.SOCK_STREAM)
    with pytest.raises(ValueError, match="unknown socket type name"):
        kernel.socketpair(L.AF_UNIX, "SOCK_STREAM|SOCK_FAST")


def test_caller_buffers_must_be_large_enough(kernel):
    small = mem.HeapAllocator().alloc(2)
    with pytest.raises(ValueError, match="smaller than the 64 bytes"):
        kernel.recvfrom(3, 64, buf=small)
    with pytest.raises(ValueError, match="smaller than the 16 bytes"):
        kernel.getsockopt(3, L.SOL_SOCKET, L.SO_TYPE, optlen=16, optval=small)
    with pytest.raises(ValueError, match="smaller than the 8 bytes"):
        kernel.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0, sv=small)
    with pytest.raises(TypeError, match="mem.Buffer or a Ptr"):
        kernel.recvfrom(3, 4, buf=bytearray(4))
    big = mem.HeapAllocator().alloc(8)
    r = kernel.socketpair(L.AF_UNIX, L.SOCK_STREAM, 0, sv=big)
    a, b = struct.unpack("=ii", big.read(8))
    assert r.ok and kernel.close(a).ok and kernel.close(b).ok


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown backend"):
        load_backend("rust")
    with pytest.raises(ValueError, match="unknown call path"):
        Kernel(via="int80")
    with pytest.raises(ValueError, match="unknown errno"):
        errnum("ENOTANERRNO")
    assert errname(errno.EOPNOTSUPP) == "EOPNOTSUPP" and errnum("EPROTOTYPE") == errno.EPROTOTYPE


def test_bad_family_name_in_sockaddr():
    with pytest.raises(ValueError):
        mem.SockaddrIn(80, "not-an-address").encode()
    with pytest.raises(ValueError):
        mem.SockaddrUn(path=b"x" * 200)


def test_output_buffers_are_never_overrun(kernel):
    """A claimed length larger than needed gets a buffer at least that large."""
    fd = kernel.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret
    try:
        r = kernel.getsockopt(fd, L.SOL_SOCKET, L.SO_TYPE, optlen=4096)
        assert r.ok and r.out["optlen"] == 4
        r = kernel.getsockname(fd, addrlen=4096)
        assert r.ok and r.out["addrlen"] == 2
    finally:
        kernel.close(fd)


def test_compat_path(kernel):
    ok, why = probe_compat(kernel)
    if not ok:
        pytest.skip(f"compat path unavailable: {why}")
    for via in ("socketcall", "compat"):
        kc = Kernel(kernel.backend, via=via)
        r = kc.socket(L.AF_INET, L.SOCK_DGRAM, 0)
        assert r.ok, (via, r)
        assert kc.bind(r.ret, mem.SockaddrIn(0, "127.0.0.1")).ok
        name = kc.getsockname(r.ret)
        assert name.out["addr"].addr == "127.0.0.1" and name.out["addrlen"] == 16
        assert kc.sendto(r.ret, b"hi", 0, name.out["addr"]).ret == 2
        assert kc.recvfrom(r.ret, 8, L.MSG_DONTWAIT).out["data"] == b"hi"
        kernel.close(r.ret)
    kc = Kernel(kernel.backend, via="socketcall")
    assert kc.socketcall(0, []).errno == errno.EINVAL
    assert kc.socketcall(21, []).errno == errno.EINVAL
    assert kc.socketcall(L.SYS_SOCKET, kc.fault_page()).errno == errno.EFAULT
    # the block ends right before a PROT_NONE page: 2 words are too few for SYS_SOCKET
    assert kc.socketcall_tail(L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_DGRAM]).errno == errno.EFAULT
    r = kc.socketcall_tail(L.SYS_SOCKET, [L.AF_UNIX, L.SOCK_DGRAM, 0])
    assert r.ok
    kernel.close(r.ret)


def test_native_socketcall_is_refused(kernel):
    with pytest.raises(BackendError):
        kernel.socketcall(L.SYS_SOCKET, [1, 1, 0])


def test_socketcall_is_never_a_64bit_syscall():
    """102 is getuid on x86_64: the ABI tables never offer it as socketcall there."""
    from harness.abi import get
    assert "socketcall" not in get("x86_64").syscalls and get("x86_64").nr("getuid") == 102
    assert get("i386").nr("socketcall") == 102
    assert "socketcall" not in get("aarch64").syscalls


def test_backend_missing_message(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name == "_sockspec_raw":
            raise ImportError("no module")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(BackendError, match="--backend ctypes"):
        load_backend("cffi")
    assert load_backend("auto").name == "ctypes"


def _observed_fds(kernel):
    """A socket of each kind and state the checker probes, and files that are not sockets."""
    import os
    from harness.mem import SockaddrIn, SockaddrIn6
    fds = [kernel.socket(L.AF_UNIX, L.SOCK_STREAM, 0).ret]
    listener = kernel.socket(L.AF_INET, L.SOCK_STREAM, 0).ret
    kernel.bind(listener, SockaddrIn(0, "127.0.0.1"))
    kernel.listen(listener, 5)
    dgram = kernel.socket(L.AF_INET6, L.SOCK_DGRAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0).ret
    kernel.connect(dgram, SockaddrIn6(9, "::1"))
    fds += [listener, dgram, *kernel.socketpair(L.AF_UNIX, L.SOCK_SEQPACKET, 0).out["fds"]]
    fds += [os.open("/", os.O_RDONLY), *os.pipe()]
    return fds


WANTED = [("fcntl", L.F_GETFD), ("fcntl", L.F_GETFL),
          *(("getsockopt", L.SOL_SOCKET, opt, 4) for opt in (L.SO_DOMAIN, L.SO_TYPE, L.SO_ERROR)),
          ("getsockopt", L.SOL_TCP, L.TCP_INFO, 104), ("getsockopt", L.IPPROTO_IPV6, L.IPV6_V6ONLY, 4),
          ("getsockopt", L.SOL_SOCKET, L.SO_TYPE, 2), ("fstat",), ("readlink_fd",),
          ("getsockname",), ("getpeername",)]


def _one_by_one(kernel, fd):
    answers = []
    for item in WANTED:
        kind, *args = item
        if kind == "readlink_fd":
            answers.append(kernel.readlink(f"/proc/self/fd/{fd}"))
        else:
            answers.append(getattr(kernel, kind)(fd, *args))
    return answers


def test_observe_answers_as_the_wrappers_do(kernel):
    """The checker's probe issues its calls in one trip (Kernel.observe); each answer is the
    one the call's own wrapper gives, on sockets, files that are not sockets and closed fds,
    and again on the same fd (the plan and its memory are reused)."""
    import os
    fds = _observed_fds(kernel)
    try:
        for fd in fds + [fds[-1] + 50, -1]:
            for _ in range(2):
                assert kernel.observe(fd, WANTED) == _one_by_one(kernel, fd), fd
    finally:
        for fd in fds:
            os.close(fd)


def test_observe_without_a_batch_backend_goes_one_call_at_a_time(kernel):
    """A backend with only raw() (the tests' lying stand-ins) still answers observe(), through
    raw(), so what it lies about is what the probe sees."""
    import os

    class RawOnly:
        name, has_compat = kernel.backend.name, False

        def __init__(self):
            self.calls = 0

        def raw(self, *args):
            self.calls += 1
            return kernel.backend.raw(*args)

    backend = RawOnly()
    only = Kernel(backend)
    fds = _observed_fds(kernel)
    try:
        assert only.observe(fds[0], WANTED) == _one_by_one(kernel, fds[0])
        assert backend.calls == len(WANTED)
    finally:
        for fd in fds:
            os.close(fd)
