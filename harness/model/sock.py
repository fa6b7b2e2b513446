"""net/core/sock.c: sock_setsockopt() / sk_getsockopt() at SOL_SOCKET, and the dispatch of
other levels to the family (ops->setsockopt / ops->getsockopt).

The net/socket.c entries (__sys_setsockopt, __sys_getsockopt) call sys_setsockopt and
sys_getsockopt here, which mirror do_sock_setsockopt / do_sock_getsockopt."""
from __future__ import annotations

from .socket import NotModelled


def sys_setsockopt(m, fd, level, name, value, optlen):
    raise NotModelled("setsockopt is not modelled yet")


def sys_getsockopt(m, fd, level, name, optlen, optval):
    raise NotModelled("getsockopt is not modelled yet")
