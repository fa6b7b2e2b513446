"""The security hooks that __sys_bind() and __sys_connect() call before the protocol's own
bind/connect (security_socket_bind(), security_socket_connect()).

With no policy loaded every permission check of a security module allows; what remains
observable is the address validation SELinux does itself before it can ask its policy about a
port or a node. SELinux runs it whether or not a policy is loaded, on any kernel where SELinux
is one of the running modules (Fedora, RHEL, Debian's User-Mode Linux, whose CONFIG_LSM lists
selinux before apparmor), and it answers before the protocol would:

- bind() on an AF_INET/AF_INET6 socket (every protocol, raw and ping included):
  an address shorter than sa_family -> EINVAL; AF_INET or AF_UNSPEC shorter than sockaddr_in,
  AF_INET6 shorter than SIN6_LEN_RFC2133 (24) -> EINVAL; AF_UNSPEC on an AF_INET6 socket, or
  AF_UNSPEC with an address other than INADDR_ANY, or any other family -> EAFNOSUPPORT.
- connect() on a socket of SELinux's tcp_socket class (AF_INET/AF_INET6, SOCK_STREAM or
  SOCK_SEQPACKET, protocol 0, IPPROTO_TCP or IPPROTO_MPTCP): shorter than sa_family -> EINVAL;
  AF_UNSPEC passes (a disconnect); AF_INET shorter than sockaddr_in, AF_INET6 shorter than 24
  -> EINVAL; any other family -> EAFNOSUPPORT.

The family checks came with SELinux's SCTP support (d452930fd3b9, "selinux: Add SCTP
support", v4.17); the rules below follow Debian's 6.1 source and agree with UML 7.2.7. They carry
no release range: whether SELinux runs is the marker ``lsm.selinux`` (securityfs), and a kernel
where that cannot be read is taken not to run it (the reading says so in the report).

Other modules the Debian kernels run (AppArmor, Landlock without a ruleset, Yama, TOMOYO
without a policy) add nothing observable to these calls.
"""
from __future__ import annotations

import struct

import errno as E
from ..abi import linux as L
from ..abi.markers import LSM_SELINUX, has
from .rules import rule

SIN6_LEN_RFC2133 = 24
SOCKADDR_IN_SIZE = 16
SA_FAMILY_END = 2                   # offsetofend(struct sockaddr, sa_family)

SELINUX_BIND_ADDR = rule(
    "bind.selinux_address", "EINVAL or EAFNOSUPPORT before the protocol's bind",
    "With SELinux running, bind() on an AF_INET/AF_INET6 socket has its address checked by "
    "SELinux first: shorter than its family's sockaddr (sockaddr_in, or 24 bytes for "
    "AF_INET6) -> EINVAL; AF_UNSPEC on an AF_INET6 socket, AF_UNSPEC with an address other "
    "than INADDR_ANY, or another family -> EAFNOSUPPORT (where the protocol alone would "
    "answer EINVAL, or succeed for a raw socket).",
    "security/selinux/hooks.c __selinux_socket_bind(): addrlen < offsetofend(sa_family) / "
    "sizeof(struct sockaddr_in) / SIN6_LEN_RFC2133 -> -EINVAL; err_af -> -EAFNOSUPPORT; "
    "net/socket.c __sys_bind(): security_socket_bind() before sock->ops->bind(); bind(2) ERRORS",
    requires=has(LSM_SELINUX), requires_default=False)
SELINUX_CONNECT_ADDR = rule(
    "connect.selinux_address", "EINVAL or EAFNOSUPPORT before the protocol's connect",
    "With SELinux running, connect() on any socket with an address shorter than sa_family "
    "-> EINVAL; on a TCP or MPTCP socket SELinux checks the address first: AF_UNSPEC passes; AF_INET shorter than sockaddr_in or AF_INET6 shorter "
    "than 24 bytes -> EINVAL; another family -> EAFNOSUPPORT.",
    "security/selinux/hooks.c selinux_socket_connect_helper(): addrlen < "
    "offsetofend(sa_family) -> -EINVAL; sa_family == AF_UNSPEC -> 0; SECCLASS_TCP_SOCKET: "
    "AF_INET/AF_INET6 length -> -EINVAL, default -> -EAFNOSUPPORT; socket_type_to_security_class(), "
    "default_protocol_stream(); net/socket.c __sys_connect_file(); connect(2) ERRORS",
    requires=has(LSM_SELINUX), requires_default=False)

INET_FAMILIES = (L.AF_INET, L.AF_INET6)
TCP_CLASS_PROTOCOLS = (0, L.IPPROTO_TCP, L.IPPROTO_MPTCP)


def _family(addr: bytes) -> int:
    return struct.unpack_from("=H", addr)[0]


def security_socket_bind(m, sock, addr: bytes, addrlen: int):
    """SELinux's bind hook for inet sockets: an error Outcome, or None to go on."""
    if sock.family not in INET_FAMILIES or not m.holds(SELINUX_BIND_ADDR):
        return None
    if addrlen < SA_FAMILY_END:
        return SELINUX_BIND_ADDR.fail(E.EINVAL)
    family = _family(addr)
    if family in (L.AF_UNSPEC, L.AF_INET):
        if addrlen < SOCKADDR_IN_SIZE:
            return SELINUX_BIND_ADDR.fail(E.EINVAL)
        if family == L.AF_UNSPEC:
            if sock.family == L.AF_INET6:
                if addrlen < SIN6_LEN_RFC2133:      # inet6_bind_sk()'s length check
                    return SELINUX_BIND_ADDR.fail(E.EINVAL)
                return SELINUX_BIND_ADDR.fail(E.EAFNOSUPPORT)
            if addr[4:8] != b"\0\0\0\0":            # only AF_UNSPEC with INADDR_ANY, as __inet_bind()
                return SELINUX_BIND_ADDR.fail(E.EAFNOSUPPORT)
        return None
    if family == L.AF_INET6:
        if addrlen < SIN6_LEN_RFC2133:
            return SELINUX_BIND_ADDR.fail(E.EINVAL)
        return None
    return SELINUX_BIND_ADDR.fail(E.EAFNOSUPPORT)


def tcp_socket_class(sock) -> bool:
    """SELinux's SECCLASS_TCP_SOCKET (socket_type_to_security_class())."""
    return (sock.family in INET_FAMILIES and sock.type in (L.SOCK_STREAM, L.SOCK_SEQPACKET)
            and sock.protocol in TCP_CLASS_PROTOCOLS)


def security_socket_connect(m, sock, addr: bytes, addrlen: int):
    """SELinux's connect hook: an error Outcome, or None to go on."""
    if not m.holds(SELINUX_CONNECT_ADDR):
        return None
    if addrlen < SA_FAMILY_END:
        return SELINUX_CONNECT_ADDR.fail(E.EINVAL)
    family = _family(addr)
    if family == L.AF_UNSPEC or not tcp_socket_class(sock):
        return None
    if family == L.AF_INET:
        return SELINUX_CONNECT_ADDR.fail(E.EINVAL) if addrlen < SOCKADDR_IN_SIZE else None
    if family == L.AF_INET6:
        return SELINUX_CONNECT_ADDR.fail(E.EINVAL) if addrlen < SIN6_LEN_RFC2133 else None
    return SELINUX_CONNECT_ADDR.fail(E.EAFNOSUPPORT)
