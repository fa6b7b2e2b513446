"""What the checker compares after each call beyond the answer: poll() readiness of every
socket of the scenario, the state of the touched sockets' peers, and SO_ERROR of every socket
left open at the end. A kernel that lies about any of them turns the scenario red."""
from __future__ import annotations

import ctypes

import pytest

from harness import check
from harness.abi import linux as L
from harness.abi import native
from harness.check import Mismatch, Scenario
from harness.kernel import Kernel, load_backend
from harness.model import Model, read_fd_table
from harness.profile import probe

from lying_kernel import LyingBackend
from test_probes import run_suite

PPOLL = native().nr("ppoll")
POLLIN = 0x1


@pytest.fixture(scope="module")
def prof():
    return probe(Kernel(load_backend()))


def scenario(prof, backend=None):
    records = []
    m = Model(prof)
    m.seed_fds(read_fd_table())
    sc = Scenario(Kernel(backend or load_backend()), m, records.append, "test_observe")
    return sc, records


def test_readiness_of_every_socket_is_recorded_and_peers_are_probed(prof):
    sc, records = scenario(prof)
    try:
        a, b = sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).out["fds"]
        lone = sc.socket(L.AF_UNIX, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
        sc.send(a, b"x")
        state = records[-1]["observation"]["state"]
        assert state[f"{b}.poll"] == "POLLIN|POLLOUT"          # the peer's data
        assert state[f"{a}.poll"] == "POLLOUT" and state[f"{lone}.poll"] == "POLLOUT"
        assert f"{b}.SO_TYPE" in state                         # the peer is probed too
        assert "poll.unix_stream" in records[-1]["also"]
        sc.finish()
        ends = [r for r in records if r["call"].endswith("(end of scenario)")]
        assert len(ends) == 3 and all(r["verdict"] == "pass" for r in ends)
        assert {r["rule"] for r in ends} == {"getsockopt.so_error_at_end"}
    finally:
        sc.close_all()


def test_accepted_sockets_of_a_touched_listener_are_probed(prof):
    sc, records = scenario(prof)
    try:
        lfd = sc.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        from harness.mem import SockaddrIn
        sc.bind(lfd, SockaddrIn(0, "127.0.0.1"))
        sc.listen(lfd, 4)
        addr = sc.getsockname(lfd).out["addr"]
        c = sc.socket(L.AF_INET, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).ret
        sc.connect(c, addr)
        a = sc.accept4(lfd, L.SOCK_CLOEXEC).ret
        sc.getsockname(lfd)
        state = records[-1]["observation"]["state"]
        assert f"{a}.sockname" in state                       # accepted from the listener
        sc.shutdown(c, L.SHUT_WR)
        state = records[-1]["observation"]["state"]
        assert f"{a}.peername" in state                       # the peer of the touched fd
        sc.wait(a, POLLIN)
        sc.getsockname(c)
        assert records[-1]["observation"]["state"][f"{a}.poll"] == "POLLIN|POLLOUT|POLLRDHUP"
        sc.finish()
    finally:
        sc.close_all()


def test_lying_poll_readiness_is_a_mismatch_naming_the_rule(prof):
    sc, records = scenario(prof, LyingBackend(load_backend(), ["poll"]))
    try:
        sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0)   # a state divergence:
        assert records[-1]["verdict"] == "fail" and "poll.unix_stream" in records[-1]["message"]
        assert records[-1]["divergence"]["rules"] == ["poll.unix_stream"]
        with pytest.raises(Mismatch) as info:     # the scenario went on; it fails at its end
            sc.finish()                           # (after a failure: no end check)
        text = str(info.value)
        assert "poll: kernel 0, model POLLOUT [poll.unix_stream]" in text
        assert not [r for r in records if r["call"].endswith("(end of scenario)")]
    finally:
        sc.close_all()


def test_lying_so_error_fails_the_end_of_the_scenario(prof):
    sc, records = scenario(prof, LyingBackend(load_backend(), ["so_error"]))
    try:
        a, b = sc.socketpair(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0).out["fds"]
        assert records[-1]["verdict"] == "pass"       # nothing pending: SO_ERROR not read
        with pytest.raises(Mismatch) as info:
            sc.finish()
        assert f"fd {a} SO_ERROR at the end of the scenario: kernel 104, model 0" in str(info.value)
        ends = [r for r in records if r["call"].endswith("(end of scenario)")]
        assert [r["verdict"] for r in ends] == ["fail", "fail"] and ends[0]["reproducer"]
    finally:
        sc.close_all()


class LateBackend:
    """Reports POLLIN of every socket only from the ``late``-th ppoll on: data that is still
    in flight for a while (or, with a large ``late``, that never arrives)."""

    def __init__(self, real, late):
        self._real, self.late, self.polls = real, late, 0
        self.name, self.has_compat = real.name, real.has_compat

    def raw(self, nr, a0=0, *rest):
        ret, err = self._real.raw(nr, a0, *rest)
        if nr == PPOLL and ret >= 0:
            self.polls += 1
            if self.polls < self.late:
                for i in range(rest[0]):
                    ctypes.c_short.from_address(a0 + 8 * i + 6).value &= ~POLLIN
        return ret, err

    def compat(self, *args):
        return self._real.compat(*args)


def udp_pair(sc):
    from harness.mem import SockaddrIn
    a = sc.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    b = sc.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0).ret
    sc.bind(b, SockaddrIn(0, "127.0.0.1"))
    return a, b, sc.getsockname(b).out["addr"]


def test_inet_readiness_may_settle_within_the_bound(prof):
    backend = LateBackend(load_backend(), late=0)
    sc, records = scenario(prof, backend)
    try:
        a, b, where = udp_pair(sc)
        backend.late = backend.polls + 3              # the datagram shows on the third poll
        sc.sendto(a, b"x", 0, where)
        rec = records[-1]
        assert rec["verdict"] == "pass" and "poll.inet_in_flight" not in rec["also"]
        assert "(poll.inet_in_flight)" in rec["observation"]["state"]["poll.settled_after"]
        sc.finish()
    finally:
        sc.close_all()


def test_inet_readiness_that_never_settles_is_a_mismatch(prof, monkeypatch):
    monkeypatch.setattr(check, "IN_FLIGHT_BOUND", 0.05)
    backend = LateBackend(load_backend(), late=0)
    sc, records = scenario(prof, backend)
    try:
        a, b, where = udp_pair(sc)
        backend.late = 10 ** 9
        with pytest.raises(Mismatch) as info:
            sc.sendto(a, b"x", 0, where)
            sc.finish()
        assert f"fd {b} poll: kernel POLLOUT, model POLLIN|POLLOUT" in str(info.value)
        assert "still, after" in records[-1]["observation"]["state"][f"{b}.poll"]
    finally:
        sc.close_all()


# --------------------------------------------------------------------------- whole runs

def test_run_with_lying_readiness_is_red(tmp_path):
    r, records = run_suite(tmp_path, ["poll"], "suite/test_socketpair.py", "-k", "test_unix_pair")
    assert r.returncode != 0, r.stdout[-2000:]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing and all(" poll: kernel " in c["message"] for c in failing)


def test_run_with_a_pending_error_the_model_lacks_is_red(tmp_path):
    r, records = run_suite(tmp_path, ["so_error"], "suite/test_send_recv.py",
                           "-k", "test_bytes_and_boundaries and unix-stream-socketpair")
    assert r.returncode != 0, r.stdout[-2000:]
    failing = [c for c in records if c.get("kind") == "check" and c["verdict"] == "fail"]
    assert failing and any("SO_ERROR at the end of the scenario" in c["message"] for c in failing)
    tests = [t for t in records if t.get("kind") == "test"]
    assert tests and all(t["outcome"] == "failed" and t.get("attempts") in (None, 2) for t in tests)
