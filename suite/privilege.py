"""The privilege matrix: a privilege-dependent check runs as a process that holds the
capability and as one that does not. As root the unprivileged side runs in a forked child that
dropped the capability; as an ordinary user the privileged side skips with the reason."""
from __future__ import annotations

import pytest

SIDES = ("privileged", "unprivileged")


def run_as(sc, side: str, cap: str, body) -> None:
    """Run ``body(scenario)`` on the given side of ``cap``."""
    has = sc.m.capable(cap)
    if side == "privileged":
        if not has:
            pytest.skip(f"needs {cap}, which this process lacks (run as root to check this side)")
        body(sc)
    elif has:
        sc.in_child(body, drop=(cap,))
    else:
        body(sc)
