"""Hand-built profiles and a model runner for model-only scenarios: no syscall is made, so the
expectations hold whatever kernel runs the project's own tests."""
from __future__ import annotations

import errno as E

from harness.abi import linux as L
from harness.abi.result import Result
from harness.model import Call, Model
from harness.model.state import Sock
from harness.profile import Profile

ROOT_CAPS = ("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_RAW",
             "CAP_SYS_ADMIN")
VERSIONS = {"5.10": (5, 10, 223), "6.1": (6, 1, 192), "6.12": (6, 12, 117), "6.18": (6, 18, 44),
            "7.2": (7, 2, 13)}


def profile(version="6.18", caps=ROOT_CAPS, **sysctls) -> Profile:
    v = VERSIONS.get(version, version)
    values = {
        "net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "32768 60999",
        "net.ipv4.ip_unprivileged_port_start": "1024",
        "net.core.rmem_max": "212992", "net.core.wmem_max": "212992",
        "net.core.rmem_default": "212992", "net.core.wmem_default": "212992",
        "net.ipv4.tcp_rmem": "4096 131072 6291456", "net.ipv4.tcp_wmem": "4096 16384 4194304",
        "net.ipv4.ping_group_range": "1 0",
    }
    values.update({k.replace("__", "."): v for k, v in sysctls.items()})
    return Profile(
        target="model-test", target_kind="linux", kernel_release=".".join(map(str, v)),
        kernel_version=tuple(v), kernel_build="#1", arch="x86_64", python="3", backend="none",
        uid=0, euid=0, groups=(0,), capabilities=tuple(caps), compat_available=True,
        compat_reason="hand-built", sysctls=values, af_max=46,
        families={"AF_UNIX": True, "AF_INET": True, "AF_INET6": True, "AF_NETLINK": True,
                  "AF_PACKET": True},
        protocols=("TCP", "UDP", "PING", "RAW", "TCPv6", "UDPv6", "PINGv6", "RAWv6"),
        netns_private=True, netns_reason="hand-built", rlimit_nofile=(1024, 1024),
        hostname="model", date="2026-01-01", unix_oob=True)


class Run:
    """A model with an empty fd table (0-2 held by files) and helpers to play calls on it as
    if the kernel had answered with the model's first allowed outcome."""

    def __init__(self, version="6.18", caps=ROOT_CAPS, **sysctls):
        self.m = Model(profile(version, caps, **sysctls))
        for fd in (0, 1, 2):
            self.m.adopt(fd, "/dev/pts/0")

    def allowed(self, name, *args, **kwargs):
        return self.m.allowed(Call(name, args, kwargs))

    def play(self, name, *args, **kwargs):
        """The model's first allowed outcome, applied as the observed result. Returns it."""
        outcome = self.allowed(name, *args, **kwargs)[0]
        if outcome.apply is not None:
            outcome.apply(self.m, fake_result(outcome))
        return outcome

    # -- assertions on the outcome a subclass's call() played --------------------------
    def expect(self, errno, rule, name, *args, **kwargs):
        """call() must give ``errno``, and ``rule`` among the outcome's rules (if given)."""
        o = self.call(name, *args, **kwargs)
        assert o.errno == errno, f"{name}{args}: {E.errorcode.get(o.errno, o.errno)} ({o.rule.name}), " \
                                 f"expected {E.errorcode.get(errno, errno)}"
        if rule is not None:
            assert rule.name in {r.name for r in o.rules}, f"{rule.name} not in {[r.name for r in o.rules]}"
        return o

    def ok(self, rule, name, *args, **kwargs):
        return self.expect(0, rule, name, *args, **kwargs)

    def fails(self, errno, rule, name, *args, **kwargs):
        return self.expect(errno, rule, name, *args, **kwargs)

    def call(self, name, *args, **kwargs):
        """Play the single allowed outcome (subclasses add what they observe)."""
        out = self.allowed(name, *args, **kwargs)
        assert len(out) == 1, out
        return self.play(name, *args, **kwargs)

    def sock(self, family=L.AF_INET, type=L.SOCK_STREAM, protocol=0) -> int:
        return self.play("socket", family, type, protocol).ret.value

    def obj(self, fd) -> Sock:
        return self.m.sock(fd)


def fake_result(outcome) -> Result:
    """A Result the outcome matches (for constraints that are exact values)."""
    ret = getattr(outcome.ret, "value", 0)
    out = {k: getattr(c, "value", None) for k, c in outcome.out.items()}
    return Result(ret if not outcome.errno else -1, outcome.errno, out)


def rules_of(outcomes) -> set[str]:
    return {r.name for o in outcomes for r in o.rules}


def only(outcomes):
    """The single outcome, as (errno, ret value, {out: value}, rule names)."""
    assert len(outcomes) == 1, outcomes
    o = outcomes[0]
    return o.errno, getattr(o.ret, "value", o.ret), \
        {k: getattr(v, "value", v) for k, v in o.out.items()}, {r.name for r in o.rules}
