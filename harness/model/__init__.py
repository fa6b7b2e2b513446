"""The reference model of the Linux socket layer (ARCHITECTURE.md §4-5).

Pure Python, no syscalls: ``Model(profile).allowed(call)`` is the set of outcomes the kernel may
answer, each labelled with its rule. Modules mirror the kernel's files: socket.py is
net/socket.c, af_inet.py net/ipv4/af_inet.c, af_unix.py net/unix/af_unix.c, and so on.
"""
from . import af_inet, af_netlink, af_packet, af_unix, file, socket  # noqa: F401 (registers rules)
from . import compat, sock, tcp, udp  # noqa: F401 (socketcall entries, socket option rules, data)
from . import errqueue  # noqa: F401 (IP_RECVERR, MSG_ERRQUEUE)
from . import writeback  # noqa: F401 (the write-backs of error returns)
from . import observe, poll  # noqa: F401 (readiness and end-of-scenario rules)
from .call import Call
from .core import ENTRIES, Model, read_fd_table
from .rules import REGISTRY, Outcome, Rule, rules_for
from .socket import NotModelled

__all__ = ["Call", "ENTRIES", "Model", "NotModelled", "Outcome", "REGISTRY", "Rule",
           "read_fd_table", "rules_for"]
