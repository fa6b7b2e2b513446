"""struct proto_ops: the per-family operations, with the kernel's sock_no_* defaults.

A family module subclasses ProtoOps and overrides what its proto_ops table implements. The
defaults are the sock_no_*() helpers of net/core/sock.c (EOPNOTSUPP) for the operations that
every family in the model either implements or leaves to sock_no_*; bind and getname, which
every modelled family implements, default to NotModelled, so an operation the model has not
written never passes for EOPNOTSUPP; so do sendmsg and recvmsg (packet and netlink have their
own, which the model does not follow).
"""
from __future__ import annotations

import errno as E

from .rules import rule

NO_CONNECT = rule("connect.not_supported", "EOPNOTSUPP",
                  "The family's proto_ops has no connect (sock_no_connect).",
                  "net/core/sock.c sock_no_connect(); connect(2)")
NO_ACCEPT = rule("accept.not_supported", "EOPNOTSUPP",
                 "The socket type does not accept connections (sock_no_accept).",
                 "net/core/sock.c sock_no_accept(); accept(2) ERRORS EOPNOTSUPP")
NO_LISTEN = rule("listen.not_supported", "EOPNOTSUPP",
                 "The socket type does not listen (sock_no_listen).",
                 "net/core/sock.c sock_no_listen(); listen(2) ERRORS EOPNOTSUPP")
NO_SHUTDOWN = rule("shutdown.not_supported", "EOPNOTSUPP",
                   "The family's proto_ops has no shutdown (sock_no_shutdown).",
                   "net/core/sock.c sock_no_shutdown(); shutdown(2)")


class ProtoOps:
    """Defaults: the sock_no_* helpers. Methods take the model, the Sock and the call's
    decoded arguments and return outcomes (or, for getname, an address)."""
    family: int = -1
    name: str = "?"

    def socketpair(self, m, a, b):
        from .socket import SOCKETPAIR_UNSUPPORTED
        return SOCKETPAIR_UNSUPPORTED.fail(E.EOPNOTSUPP)

    def bind(self, m, sock, addr: bytes, addrlen: int):
        from .socket import NotModelled
        raise NotModelled(f"bind on {self.name}")

    def connect(self, m, sock, addr: bytes, addrlen: int, flags: int):
        return NO_CONNECT.fail(E.EOPNOTSUPP)

    def listen(self, m, sock, backlog: int):
        return NO_LISTEN.fail(E.EOPNOTSUPP)

    def accept(self, m, sock, newfd: int, flags: int, addr, addrlen):
        return NO_ACCEPT.fail(E.EOPNOTSUPP)

    def shutdown(self, m, sock, how: int):
        return NO_SHUTDOWN.fail(E.EOPNOTSUPP)

    def sendmsg(self, m, sock, msg):
        """ops->sendmsg (the Msg of socket.py): outcomes."""
        from .socket import NotModelled
        raise NotModelled(f"sendmsg on {self.name}")

    def recvmsg(self, m, sock, rmsg):
        """ops->recvmsg (the RecvMsg of socket.py): a socket.Received or an error outcome."""
        from .socket import NotModelled
        raise NotModelled(f"recvmsg on {self.name}")

    def getname(self, m, sock, peer: bool):
        """The address getsockname/getpeername report, as (sockaddr, length) or an error
        outcome. Families override; a family whose getname the model has not written is not
        probed for names (observe.has_own)."""
        from .socket import NotModelled
        raise NotModelled(f"getname on {self.name}")

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _shared(self, memo):
    return self          # proto_ops tables are static: a copied model shares them


ProtoOps.__deepcopy__ = _shared
