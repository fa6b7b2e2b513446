"""Every call that takes a descriptor, on every kind of descriptor that is not a socket
(suite/fdkinds.py: LTP's tst_fd kinds and more), natively and through both 32-bit paths
(socketcall and the i386 direct calls), each checked against the model: EBADF for a number with
no open file (fd.ebadf) and for an O_PATH file, which fdget() does not return
(fd.ebadf_o_path); ENOTSOCK for any other open file (fd.enotsock). Every descriptor a kind opened
is closed at the end (checked), so the fd table is as before (the fixture checks)."""
from __future__ import annotations

import os

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrIn, SockaddrUn

from . import fdkinds
from .endpoints import row
from .test_fd import socket_calls

DW = L.MSG_DONTWAIT | L.MSG_NOSIGNAL        # nothing may wait, nor raise SIGPIPE


def fd_calls(fd: int) -> list[tuple[str, tuple, dict]]:
    """Every socket call on ``fd`` with otherwise valid arguments (so the descriptor decides
    the answer), the data calls included."""
    return socket_calls(fd) + [
        ("send", (fd, b"x", DW), {}),
        ("sendto", (fd, b"x", DW, SockaddrIn(9, "127.0.0.1")), {}),
        ("sendmsg", (fd, [b"x"], DW), {}),
        ("sendmmsg", (fd, [[b"x"], [b"y"]], DW), {}),
        ("recv", (fd, 8, DW), {}),
        ("recvfrom", (fd, 8, DW, True), {}),
        ("recvmsg", (fd, [8], DW), {}),
        ("recvmmsg", (fd, [[8], [8]], DW), {}),
    ]


VIAS = ("native", "socketcall", "compat")


@pytest.mark.parametrize("kind", fdkinds.KINDS, ids=fdkinds.ids())
def test_every_fd_call_on_every_kind(sc, kind):
    """One kind of descriptor through every fd-taking socket call and every call path."""
    absent = kind.absent(sc.m.profile)
    if absent:
        pytest.skip(absent)
    vias = list(VIAS)
    if not sc.m.profile.compat_available:
        for via in VIAS[1:]:
            sc.skip_row(f"via {via}", f"no 32-bit compat path: {sc.m.profile.compat_reason}")
        vias = ["native"]
    fd, opened = fdkinds.open_kind(sc, kind)
    ok = False
    try:
        for via in vias:
            for name, args, kwargs in fd_calls(fd):
                with row(f"{kind.name}: {name} via {via}"):
                    sc.call(name, *args, via=via, **kwargs)
        ok = True
    finally:
        for f in opened:
            if ok:
                sc.close(f)
            else:                           # a failure is in flight: close without a check
                os.close(f)
                sc.m.fds.remove(f)
