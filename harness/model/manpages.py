"""Which behaviours the man pages document: the ERRORS section of each call's page.

A rule is *documented behaviour* when its citation names a man page (``socket(2)``,
``unix(7)``) or POSIX, or when it is an error the call's man page lists under ERRORS; anything
else is a Linux implementation detail (the odd offset of an ephemeral port, the order of two
checks). The matrix counts divergences of each kind separately: a sandbox that differs in a
detail is less wrong than one that breaks a documented errno.

The lists are the ``.SH ERRORS`` entries of man-pages 6.03 (Debian manpages-dev 6.03-2):
``zcat /usr/share/man/man2/bind.2.gz``. sendmmsg(2) and recvmmsg(2) refer to sendmsg(2) and
recvmsg(2) for their errors; send(2)/recv(2) cover the sendto/recvfrom families, and the
suite's rule prefixes ``send``/``recv``/``msg``/``fd`` map to them.
"""
from __future__ import annotations

import re

_SOCKET = {"EACCES", "EAFNOSUPPORT", "EINVAL", "EMFILE", "ENFILE", "ENOBUFS", "EPROTONOSUPPORT"}
_SEND = {"EACCES", "EAGAIN", "EALREADY", "EBADF", "ECONNRESET", "EDESTADDRREQ", "EFAULT", "EINTR",
         "EINVAL", "EISCONN", "EMSGSIZE", "ENOBUFS", "ENOMEM", "ENOTCONN", "ENOTSOCK", "EOPNOTSUPP",
         "EPIPE"}
_RECV = {"EAGAIN", "EBADF", "ECONNREFUSED", "EFAULT", "EINTR", "EINVAL", "ENOMEM", "ENOTCONN",
         "ENOTSOCK"}
_ACCEPT = {"EAGAIN", "EBADF", "ECONNABORTED", "EFAULT", "EINTR", "EINVAL", "EMFILE", "ENFILE",
           "ENOBUFS", "ENOSR", "ENOTSOCK", "EOPNOTSUPP", "EPERM", "EPROTO", "EPROTONOSUPPORT",
           "ERESTARTSYS", "ESOCKTNOSUPPORT", "ETIMEDOUT"}
_SOCKOPT = {"EBADF", "EFAULT", "EINVAL", "ENOPROTOOPT", "ENOTSOCK"}

ERRORS: dict[str, set[str]] = {
    "socket": _SOCKET,
    "socketpair": {"EAFNOSUPPORT", "EFAULT", "EMFILE", "ENFILE", "EOPNOTSUPP", "EPROTONOSUPPORT"},
    "bind": {"EACCES", "EADDRINUSE", "EADDRNOTAVAIL", "EBADF", "EFAULT", "EINVAL", "ELOOP",
             "ENAMETOOLONG", "ENOENT", "ENOMEM", "ENOTDIR", "ENOTSOCK", "EROFS"},
    "listen": {"EADDRINUSE", "EBADF", "ENOTSOCK", "EOPNOTSUPP"},
    "accept": _ACCEPT,
    "accept4": _ACCEPT,
    "connect": {"EACCES", "EADDRINUSE", "EADDRNOTAVAIL", "EAFNOSUPPORT", "EAGAIN", "EALREADY",
                "EBADF", "ECONNREFUSED", "EFAULT", "EINPROGRESS", "EINTR", "EISCONN",
                "ENETUNREACH", "ENOTSOCK", "EPROTOTYPE", "ETIMEDOUT"},
    "send": _SEND, "sendto": _SEND, "sendmsg": _SEND, "sendmmsg": _SEND,
    "recv": _RECV, "recvfrom": _RECV, "recvmsg": _RECV, "recvmmsg": _RECV | {"EINVAL"},
    "msg": _SEND | _RECV,
    "getsockname": {"EBADF", "EFAULT", "EINVAL", "ENOBUFS", "ENOTSOCK"},
    "getpeername": {"EBADF", "EFAULT", "EINVAL", "ENOBUFS", "ENOTCONN", "ENOTSOCK"},
    "shutdown": {"EBADF", "EINVAL", "ENOTCONN", "ENOTSOCK"},
    "getsockopt": _SOCKOPT, "setsockopt": _SOCKOPT,
    "close": {"EBADF", "EINTR", "EIO", "ENOSPC"},
    "dup": {"EBADF", "EBUSY", "EINTR", "EINVAL", "EMFILE"},
    "fd": {"EBADF", "ENOTSOCK", "EMFILE", "ENFILE"},      # every fd-taking call's page lists these
}

_MAN_PAGE = re.compile(r"\b[a-z_0-9]+\((2|3|3p|7)\)|POSIX")
_ERRNO = re.compile(r"\bE[A-Z0-9]{2,}\b")


def documents(syscall: str, result: str, citation: str) -> bool:
    """Does a man page document this behaviour? (see the module docstring)"""
    if _MAN_PAGE.search(citation):
        return True
    listed = ERRORS.get(syscall, set())
    errnos = set(_ERRNO.findall(result))
    return bool(errnos) and errnos <= listed
