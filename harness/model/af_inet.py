"""net/ipv4/af_inet.c and net/ipv6/af_inet6.c: inet_create()/inet6_create() and the inet proto_ops
(inet_stream_ops, inet_dgram_ops, inet_sockraw_ops and their inet6 twins): bind, listen, accept,
connect, getname, shutdown and release, with the protocol details they reach (tcp_v4_connect,
tcp_v6_connect, ip4/ip6_datagram_connect, tcp_disconnect, __udp_disconnect, raw_bind,
rawv6_bind). Port tables and the accept queue are in inet_connection_sock.py.

The network the model knows: loopback. 127.0.0.0/8 and ::1 are local in every namespace; in
the suite's private namespace (profile.netns_private) nothing else is, and nothing else is
reachable. Outside it, an address off loopback is NotModelled (the host may own or route it).

Not modelled (NotModelled): ping sockets' bind/connect, MPTCP sockets (their getname only),
SO_REUSEPORT, IP_FREEBIND/IP_TRANSPARENT, SO_LINGER on close, TCP Fast Open, a blocking call
that would wait (accept on an empty queue, connect to a full backlog), connecting a socket to
itself, IPv6 flow labels, link-local addresses with a scope id (bind and connect).
"""
from __future__ import annotations

import errno as E
import ipaddress
import struct

from ..abi import linux as L
from ..abi.markers import UNHASHED_STATE, has
from ..mem import SockaddrIn, SockaddrIn6
from . import inet_connection_sock as icsk
from .ops import ProtoOps
from .rules import Constraint, Exact, Outcome, Predicate, rule
from .state import (RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK, SOCK_BINDADDR_LOCK,
                    SOCK_BINDPORT_LOCK, Sock)

IPPROTO_MAX = 263            # include/uapi/linux/in.h: IPPROTO_MPTCP + 1

INET_PROTOCOL_RANGE = rule(
    "socket.inet_protocol_range", "EINVAL",
    "AF_INET/AF_INET6 protocol < 0 or >= IPPROTO_MAX.",
    "net/ipv4/af_inet.c inet_create(), net/ipv6/af_inet6.c inet6_create(): "
    "protocol < 0 || protocol >= IPPROTO_MAX")
INET_TYPE_UNSUPPORTED = rule(
    "socket.inet_type_unsupported", "ESOCKTNOSUPPORT",
    "No inet protocol is registered for this socket type (inetsw[type] is empty).",
    "net/ipv4/af_inet.c inet_create(): err = -ESOCKTNOSUPPORT before the inetsw[type] walk; "
    "socket(2) ERRORS")
INET_PROTOCOL_UNSUPPORTED = rule(
    "socket.inet_protocol_unsupported", "EPROTONOSUPPORT",
    "The type has protocols, but none matches (protocol 0 matches a type's default, except "
    "for SOCK_RAW whose only entry is the IPPROTO_IP wildcard).",
    "net/ipv4/af_inet.c inet_create(): err = -EPROTONOSUPPORT in the inetsw[type] walk; "
    "socket(2) ERRORS EPROTONOSUPPORT")
INET_RAW_EPERM = rule(
    "socket.inet_raw_eperm", "EPERM",
    "SOCK_RAW needs CAP_NET_RAW (checked after the protocol lookup).",
    "net/ipv4/af_inet.c inet_create(): SOCK_RAW && !ns_capable(net->user_ns, CAP_NET_RAW); raw(7)")
INET_CREATE = rule(
    "socket.inet_create", "fd",
    "An inet socket; protocol 0 becomes the type's default (TCP, UDP), which SO_PROTOCOL reports.",
    "net/ipv4/af_inet.c inet_create(): the IPPROTO_IP wildcard cases; socket(2), ip(7)")
PING_GROUP = rule(
    "socket.ping_group_range", "EACCES",
    "An ICMP datagram (ping) socket needs the caller's group in net.ipv4.ping_group_range "
    "(root is not exempt; the default 1 0 admits nobody).",
    "net/ipv4/ping.c ping_init_sock(); icmp(7) ping_group_range")


# inetsw[type]: (protocol, name in /proc/net/protocols), in registration order: the permanent
# inetsw_array entries (tcp, udp, ping, raw) first, then what modules or late init add.
INETSW = {
    L.SOCK_STREAM: ((L.IPPROTO_TCP, "TCP"), (L.IPPROTO_MPTCP, "MPTCP")),
    L.SOCK_DGRAM: ((L.IPPROTO_UDP, "UDP"), (L.IPPROTO_ICMP, "PING"), (L.IPPROTO_UDPLITE, "UDP-Lite")),
    L.SOCK_RAW: ((L.IPPROTO_IP, "RAW"),),
    L.SOCK_SEQPACKET: ((L.IPPROTO_SCTP, "SCTP"),),
}
INET6SW = {
    L.SOCK_STREAM: ((L.IPPROTO_TCP, "TCPv6"), (L.IPPROTO_MPTCP, "MPTCPv6")),
    L.SOCK_DGRAM: ((L.IPPROTO_UDP, "UDPv6"), (L.IPPROTO_ICMPV6, "PINGv6"), (L.IPPROTO_UDPLITE, "UDPLITEv6")),
    L.SOCK_RAW: ((L.IPPROTO_IP, "RAWv6"),),
    L.SOCK_SEQPACKET: ((L.IPPROTO_SCTP, "SCTPv6"),),
}
_ALWAYS = {"TCP", "UDP", "PING", "RAW", "TCPv6", "UDPv6", "PINGv6", "RAWv6"}


def registered(m, table, type: int):
    """The entries of inetsw[type] this kernel has (from /proc/net/protocols when present)."""
    names = set(m.profile.protocols) or _ALWAYS
    return [(proto, name) for proto, name in table.get(type, ()) if name in names or name in _ALWAYS]


def inetsw_lookup(m, table, type: int, protocol: int):
    """The inetsw[type] walk of inet_create(): the matching protocol, or an error outcome."""
    err = INET_TYPE_UNSUPPORTED.fail(E.ESOCKTNOSUPPORT)
    for answer, _name in registered(m, table, type):
        err = None
        if protocol == answer:
            if protocol != L.IPPROTO_IP:
                return protocol
        else:
            if protocol == L.IPPROTO_IP:             # the two wild cases
                return answer
            if answer == L.IPPROTO_IP:
                return protocol
        err = INET_PROTOCOL_UNSUPPORTED.fail(E.EPROTONOSUPPORT)
    return err


def in_ping_group_range(m) -> bool:
    low, high = (m.profile.sysctl_ints("net.ipv4.ping_group_range") or (1, 0))[:2]
    return any(low <= gid <= high for gid in m.profile.groups)


def _create(m, family: int, table, ping_protocol: int, ops, type: int, protocol: int):
    from .socket import Created, is_error
    if protocol < 0 or protocol >= IPPROTO_MAX:
        return INET_PROTOCOL_RANGE.fail(E.EINVAL)
    found = inetsw_lookup(m, table, type, protocol)
    if is_error(found):
        return found
    if type == L.SOCK_RAW and not m.capable("CAP_NET_RAW"):
        return INET_RAW_EPERM.fail(E.EPERM)
    if type == L.SOCK_DGRAM and found == ping_protocol and not in_ping_group_range(m):
        return PING_GROUP.fail(E.EACCES)
    return Created(INET_CREATE, Sock(family, type, found, ops(family, type, found)))


def inet_create(m, type: int, protocol: int):
    return _create(m, L.AF_INET, INETSW, L.IPPROTO_ICMP, inet_ops, type, protocol)


def inet6_create(m, type: int, protocol: int):
    """net/ipv6/af_inet6.c inet6_create(): the same walk over inetsw6."""
    return _create(m, L.AF_INET6, INET6SW, L.IPPROTO_ICMPV6, inet_ops, type, protocol)


# =========================================================================== connection rules

# -- bind -----------------------------------------------------------------------------------
BIND_SHORT = rule(
    "bind.inet_addrlen", "EINVAL",
    "addrlen < sizeof(struct sockaddr_in) (16) for AF_INET, < SIN6_LEN_RFC2133 (24) for "
    "AF_INET6 (a sockaddr_in6 without sin6_scope_id is accepted).",
    "net/ipv4/af_inet.c inet_bind_sk(); net/ipv6/af_inet6.c inet6_bind_sk(): addr_len < "
    "SIN6_LEN_RFC2133; ip(7), ipv6(7) ERRORS EINVAL")
BIND_FAMILY = rule(
    "bind.inet_family", "EAFNOSUPPORT",
    "The address family is not the socket's (for AF_INET, AF_UNSPEC is let through only with "
    "INADDR_ANY).",
    "net/ipv4/af_inet.c __inet_bind(): sin_family != AF_INET -> -EAFNOSUPPORT; "
    "net/ipv6/af_inet6.c __inet6_bind(); bind(2) ERRORS EAFNOSUPPORT")
BIND_UNSPEC_ANY = rule(
    "bind.inet_unspec_any", "0, bound to INADDR_ANY",
    "AF_INET accepts sin_family AF_UNSPEC when the address is INADDR_ANY (compatibility); the "
    "socket is bound as AF_INET.",
    "net/ipv4/af_inet.c __inet_bind(): 'Compatibility games: accept AF_UNSPEC (mapped to "
    "AF_INET) only if s_addr is INADDR_ANY'",
    shows=('sockname',))
BIND_NOTAVAIL = rule(
    "bind.inet_addrnotavail", "EADDRNOTAVAIL",
    "The address is not local (nor INADDR_ANY, multicast or broadcast; for AF_INET6 a "
    "v4-mapped address follows the AF_INET rule).",
    "net/ipv4/af_inet.c __inet_bind() -> inet_addr_valid_or_nonlocal(); net/ipv6/af_inet6.c "
    "__inet6_bind() -> ipv6_chk_addr(); bind(2) ERRORS EADDRNOTAVAIL")
BIND_EACCES = rule(
    "bind.inet_privileged_port", "EACCES",
    "A port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE (for both "
    "families); port 0 is never privileged.",
    "net/ipv4/af_inet.c __inet_bind(), net/ipv6/af_inet6.c __inet6_bind(): snum && "
    "inet_port_requires_bind_service() && !ns_capable(CAP_NET_BIND_SERVICE); ip(7) ERRORS EACCES")
BIND_PRIVILEGED_OK = rule(
    "bind.inet_privileged_port_cap", "0 (the port below ip_unprivileged_port_start is granted)",
    "With CAP_NET_BIND_SERVICE a port below ip_unprivileged_port_start may be bound.",
    "net/ipv4/af_inet.c __inet_bind(): ns_capable(net->user_ns, CAP_NET_BIND_SERVICE); "
    "capabilities(7) CAP_NET_BIND_SERVICE")
BIND_AGAIN = rule(
    "bind.inet_already_bound", "EINVAL",
    "The socket already has a port (bound, autobound by connect/listen/send) or is not closed.",
    "net/ipv4/af_inet.c __inet_bind(): sk_state != TCP_CLOSE || inet_num -> -EINVAL; "
    "bind(2) ERRORS EINVAL")
BIND_INUSE = rule(
    "bind.inet_addrinuse", "EADDRINUSE",
    "Another socket of the protocol holds the port on an overlapping address (a wildcard "
    "overlaps everything of its family, and a v6 wildcard without IPV6_V6ONLY overlaps IPv4), "
    "unless both have SO_REUSEADDR and (TCP) the holder is not listening.",
    "net/ipv4/inet_connection_sock.c inet_csk_get_port() -> inet_csk_bind_conflict(), "
    "inet_rcv_saddr_equal(); net/ipv4/udp.c udp_lib_lport_inuse(); bind(2) ERRORS EADDRINUSE")
BIND_REUSEADDR = rule(
    "bind.inet_reuseaddr", "0 (the port is shared)",
    "Two sockets with SO_REUSEADDR may bind the same address and port while (TCP) neither "
    "listens.",
    "net/ipv4/inet_connection_sock.c inet_bind_conflict(): sk->sk_reuse && sk2->sk_reuse && "
    "sk2->sk_state != TCP_LISTEN; socket(7) SO_REUSEADDR")
BIND_OK = rule(
    "bind.inet", "0, getsockname reports the address and port",
    "The socket owns the address and port (multicast and broadcast addresses too).",
    "net/ipv4/af_inet.c __inet_bind(); net/ipv6/af_inet6.c __inet6_bind(); ip(7), ipv6(7)")
BIND_V6_MAPPED = rule(
    "bind.inet6_v4mapped", "0, getsockname reports ::ffff:a.b.c.d",
    "An AF_INET6 socket binds a v4-mapped address under the AF_INET rules.",
    "net/ipv6/af_inet6.c __inet6_bind(): addr_type == IPV6_ADDR_MAPPED; ipv6(7)",
    shows=('sockname',))
BIND_V6ONLY_SET = rule(
    "bind.inet6_sets_v6only", "IPV6_V6ONLY becomes 1",
    "Binding a specific IPv6 address (not :: nor v4-mapped) sets sk_ipv6only.",
    "net/ipv6/af_inet6.c __inet6_bind(): if (addr_type != IPV6_ADDR_ANY && addr_type != "
    "IPV6_ADDR_MAPPED) sk->sk_ipv6only = 1",
    shows=('IPV6_V6ONLY',))
BIND_V6_MCAST_STREAM = rule(
    "bind.inet6_multicast_stream", "EINVAL",
    "A stream socket cannot bind an IPv6 multicast address (checked before the port).",
    "net/ipv6/af_inet6.c __inet6_bind(): (addr_type & IPV6_ADDR_MULTICAST) && SOCK_STREAM")
BIND_V6_SCOPE = rule(
    "bind.inet6_needs_scope", "EINVAL",
    "A link-local (or link-local multicast) address without sin6_scope_id on a socket bound to "
    "no device.",
    "net/ipv6/af_inet6.c __inet6_bind(): 'Binding to link-local address requires an interface'")
BIND_V6_SCOPE_NODEV = rule(
    "bind.inet6_scope_nodev", "ENODEV",
    "sin6_scope_id names no interface of the namespace (the socket keeps it as its device).",
    "net/ipv6/af_inet6.c __inet6_bind(): sk_bound_dev_if = sin6_scope_id; "
    "dev_get_by_index_rcu() == NULL -> -ENODEV")
BIND_RAW = rule(
    "bind.inet_raw", "0, the address (getsockname's port stays the protocol)",
    "A raw socket binds an address only; it checks no family (AF_INET) and may bind again "
    "while unconnected.",
    "net/ipv4/raw.c raw_bind(): sk_state != TCP_CLOSE || addr_len < sizeof(sockaddr_in) -> "
    "-EINVAL; no sin_family check; raw(7)")
BIND_RAW_STATE = rule(
    "bind.inet_raw_einval", "EINVAL",
    "A raw socket binds nothing once connected, or with a short address; AF_INET6 raw also "
    "refuses another family with EINVAL.",
    "net/ipv4/raw.c raw_bind(); net/ipv6/raw.c rawv6_bind(): sin6_family != AF_INET6 -> -EINVAL")
BIND_RAW6_MAPPED = rule(
    "bind.inet6_raw_v4mapped", "EADDRNOTAVAIL",
    "An AF_INET6 raw socket cannot bind a v4-mapped address (raw sockets are IPv6 only).",
    "net/ipv6/raw.c rawv6_bind(): addr_type == IPV6_ADDR_MAPPED -> -EADDRNOTAVAIL")

# -- listen ---------------------------------------------------------------------------------
LISTEN_STATE = rule(
    "listen.inet_state", "EINVAL",
    "Only an unconnected (or listening) TCP socket listens: connected, connecting, or "
    "disconnecting sockets answer EINVAL.",
    "net/ipv4/af_inet.c inet_listen(): sock->state != SS_UNCONNECTED -> -EINVAL; "
    "__inet_listen_sk(): !(TCPF_CLOSE | TCPF_LISTEN)")
LISTEN_OK = rule(
    "listen.inet", "0, sk_max_ack_backlog = backlog (TCP_INFO tcpi_sacked)",
    "A TCP socket listens with the (clamped) backlog; listen() again only changes the backlog.",
    "net/ipv4/af_inet.c __inet_listen_sk(): WRITE_ONCE(sk->sk_max_ack_backlog, backlog); "
    "'if the socket is already in listen state we can only allow the backlog to be adjusted'", documented=True)
LISTEN_AUTOBIND = rule(
    "listen.inet_autobind", "0, bound to the wildcard address and an ephemeral port",
    "listen() on a TCP socket without a port binds it to INADDR_ANY/:: and a free port.",
    "net/ipv4/inet_connection_sock.c inet_csk_listen_start() -> get_port(sk, inet_num = 0); "
    "listen(2) NOTES, ip(7)",
    shows=('sockname',))
LISTEN_INUSE = rule(
    "listen.inet_addrinuse", "EADDRINUSE",
    "Two SO_REUSEADDR sockets share a port; once one listens, the other cannot listen.",
    "net/ipv4/inet_connection_sock.c inet_csk_listen_start() -> get_port(): the conflict check "
    "sees sk2 in TCP_LISTEN; listen(2) ERRORS EADDRINUSE")

# A TCP socket remembers which hash table it left (icsk->unhashed_state) and is not let into the
# other one: an ex-established socket cannot listen, an ex-listener cannot connect. Keyed on the
# BTF member; the release range is the fallback where BTF cannot be read.
_UNHASHED_CITE = (
    "net-next 8cc3aef0cb19 'tcp: Do not allow buggy transitions between ehash and lhash2.' "
    "(2026-09-08) with 404381b4f105 'tcp: Set unhashed_state in inet_twsk_hashdance_schedule().' "
    "(2026-09-19, the TIME_WAIT path); struct inet_connection_sock.unhashed_state")
_UNHASHED_SINCE = (7, 4, 0)   # fallback: the first merge window after those net-next pushes
LISTEN_UNHASHED = rule(
    "listen.tcp_unhashed", "EINVAL; a socket without a port keeps the ephemeral port it was given",
    "A TCP socket that left the established hash (a refused or reset connect, connect(AF_UNSPEC), "
    "TIME_WAIT) cannot be hashed as a listener: sk_prot->hash() fails after inet_csk_get_port() "
    "bound a port (a new ephemeral one unless bind() fixed it), which the socket keeps until "
    "close; the address stays as it was. listen() again fails the same way.",
    "net/ipv4/inet_connection_sock.c inet_csk_listen_start(): get_port(), then sk_prot->hash() "
    "-> -EINVAL, inet_sk_set_state(TCP_CLOSE) without giving the port back; " + _UNHASHED_CITE +
    "; listen(2) ERRORS EINVAL", since=_UNHASHED_SINCE, when=has(UNHASHED_STATE))
CONNECT_UNHASHED = rule(
    "connect.tcp_unhashed", "EINVAL",
    "A TCP socket that stopped listening (shutdown(SHUT_RD), connect(AF_UNSPEC)) cannot be "
    "hashed as an established socket: connect() fails before any SYN, the socket keeps its "
    "port and address.",
    "net/ipv4/tcp_ipv4.c tcp_v4_connect() / net/ipv6/tcp_ipv6.c tcp_v6_connect(): "
    "inet_hash_connect() -> -EINVAL, 'failure:' TCP_CLOSE, inet_bhash2_reset_saddr(); " +
    _UNHASHED_CITE, since=_UNHASHED_SINCE, when=has(UNHASHED_STATE))

# -- accept ---------------------------------------------------------------------------------
ACCEPT_NOT_LISTENING = rule(
    "accept.inet_not_listening", "EINVAL",
    "accept() on a TCP socket that is not listening.",
    "net/ipv4/inet_connection_sock.c inet_csk_accept(): sk_state != TCP_LISTEN -> -EINVAL; "
    "accept(2) ERRORS EINVAL")
ACCEPT_EAGAIN = rule(
    "accept.inet_eagain", "EAGAIN",
    "The accept queue is empty and the listener's file is non-blocking (accept4's "
    "SOCK_NONBLOCK is for the new socket only).",
    "net/ipv4/inet_connection_sock.c inet_csk_accept(): reqsk_queue_empty(), !timeo -> -EAGAIN; "
    "accept(2) ERRORS EAGAIN")
ACCEPT_OK = rule(
    "accept.inet", "the new fd; the peer's address",
    "The oldest established connection is handed out (FIFO); its address is the connecting "
    "socket's, its local address the one that was connected to.",
    "net/ipv4/inet_connection_sock.c inet_csk_accept() -> reqsk_queue_remove(); "
    "net/ipv4/af_inet.c inet_accept(); accept(2)")
ACCEPT_QUEUE = rule(
    "listen.inet_acceptq_capacity", "backlog N holds N + 1 established connections",
    "A listener's accept queue takes connections while sk_ack_backlog <= backlog; a SYN "
    "beyond is dropped (the connect stays SYN_SENT). TCP_INFO tcpi_unacked shows the queue.",
    "include/net/sock.h sk_acceptq_is_full(): sk_ack_backlog > sk_max_ack_backlog; "
    "net/ipv4/tcp_input.c tcp_conn_request(): drop; tcp_get_info(): tcpi_unacked",
    shows=('answer', 'accept_queue'))

# -- connect --------------------------------------------------------------------------------
CONNECT_SHORT = rule(
    "connect.inet_addrlen", "EINVAL",
    "addrlen < sizeof(sa_family_t), or (for a real address) shorter than sockaddr_in (16) / "
    "SIN6_LEN_RFC2133 (24).",
    "net/ipv4/af_inet.c __inet_stream_connect(), inet_dgram_connect(): addr_len < "
    "sizeof(uaddr->sa_family); tcp_v4_connect(), ip4_datagram_connect(): < sizeof(*usin)")
CONNECT_FAMILY = rule(
    "connect.inet_family", "EAFNOSUPPORT",
    "The address family is neither the socket's nor AF_UNSPEC (an AF_INET6 datagram socket also "
    "takes AF_INET).",
    "net/ipv4/tcp_ipv4.c tcp_v4_connect(): sin_family != AF_INET -> -EAFNOSUPPORT; "
    "net/ipv6/datagram.c __ip6_datagram_connect(); connect(2) ERRORS EAFNOSUPPORT")
CONNECT_UNSPEC = rule(
    "connect.inet_unspec", "0, the association is dissolved",
    "AF_UNSPEC disconnects: TCP resets an established connection (the peer sees ECONNRESET and "
    "so does the socket's SO_ERROR), UDP forgets its peer; an automatic port and address are "
    "given back.",
    "net/ipv4/af_inet.c __inet_stream_connect()/inet_dgram_connect(): sa_family == AF_UNSPEC -> "
    "sk_prot->disconnect (tcp_disconnect, __udp_disconnect); connect(2) NOTES")
CONNECT_ISCONN = rule(
    "connect.inet_isconn", "EISCONN",
    "The TCP socket is connected, or is not closed (a listener); checked before the address.",
    "net/ipv4/af_inet.c __inet_stream_connect(): SS_CONNECTED -> -EISCONN; SS_UNCONNECTED && "
    "sk_state != TCP_CLOSE -> -EISCONN; connect(2) ERRORS EISCONN")
CONNECT_EALREADY = rule(
    "connect.inet_ealready", "EALREADY",
    "A non-blocking connect is still in progress (SYN sent, no answer yet).",
    "net/ipv4/af_inet.c __inet_stream_connect(): SS_CONNECTING -> -EALREADY; connect(2) ERRORS")
CONNECT_COMPLETED = rule(
    "connect.inet_completed", "0, now connected",
    "connect() again after EINPROGRESS, once the handshake completed, returns 0.",
    "net/ipv4/af_inet.c __inet_stream_connect(): SS_CONNECTING, sk_state not SYN_SENT/SYN_RECV "
    "and not CLOSE -> sock->state = SS_CONNECTED, 0")
CONNECT_FAILED_LATER = rule(
    "connect.inet_failed", "the pending error, or ECONNABORTED",
    "connect() again after a non-blocking connect failed reports sk_err (consumed) or "
    "ECONNABORTED when it was already read, and resets the socket to unconnected.",
    "net/ipv4/af_inet.c __inet_stream_connect(): sock_error: err = sock_error(sk) ? : "
    "-ECONNABORTED; sock->state = SS_UNCONNECTED; disconnect")
CONNECT_DISCONNECTING = rule(
    "connect.inet_disconnecting", "EINVAL",
    "A TCP socket left SS_DISCONNECTING (shutdown() of a failed connect) cannot connect.",
    "net/ipv4/af_inet.c __inet_stream_connect(): default: -EINVAL")
CONNECT_REFUSED = rule(
    "connect.inet_refused", "ECONNREFUSED (non-blocking: EINPROGRESS, then SO_ERROR)",
    "Nothing listens at the address: the RST ends the connect; a non-blocking connect returns "
    "EINPROGRESS and SO_ERROR holds ECONNREFUSED. An automatic port is given back; getsockname "
    "keeps showing it.",
    "net/ipv4/tcp_input.c tcp_reset(): TCP_SYN_SENT -> sk_err = ECONNREFUSED; "
    "net/ipv4/af_inet.c __inet_stream_connect() sock_error; connect(2) ERRORS ECONNREFUSED")
CONNECT_UNREACH = rule(
    "connect.inet_unreachable", "ENETUNREACH",
    "No route to the destination (off loopback in the private namespace); TCP also refuses "
    "multicast and broadcast destinations.",
    "net/ipv4/tcp_ipv4.c tcp_v4_connect(): ip_route_connect() error, RTCF_MULTICAST | "
    "RTCF_BROADCAST -> -ENETUNREACH; tcp_v6_connect(): IPV6_ADDR_MULTICAST; connect(2) ERRORS")
CONNECT_BROADCAST = rule(
    "connect.inet_broadcast_eacces", "EACCES",
    "A datagram connect to a broadcast address without SO_BROADCAST.",
    "net/ipv4/datagram.c __ip4_datagram_connect(): RTCF_BROADCAST && !SOCK_BROADCAST -> "
    "-EACCES; connect(2) ERRORS EACCES")
CONNECT_MULTICAST = rule(
    "connect.inet_dgram_multicast", "0, the peer is the group (or broadcast) address",
    "A datagram socket with a local source address connects to a multicast or (with "
    "SO_BROADCAST) the broadcast address through the source's device; without a source address "
    "there is no route.",
    "net/ipv4/route.c ip_route_output_key_hash_rcu(): multicast/lbcast daddr with saddr -> "
    "__ip_dev_find(saddr); net/ipv4/datagram.c __ip4_datagram_connect()",
    shows=('peername',))
CONNECT_V6_SCOPE = rule(
    "connect.inet6_needs_scope", "EINVAL",
    "A link-local (or datagram link-local multicast) destination without a scope id on a "
    "socket bound to no device.",
    "net/ipv6/tcp_ipv6.c tcp_v6_connect(), net/ipv6/datagram.c __ip6_datagram_connect(): "
    "'Connect to link-local address requires an interface'")
CONNECT_V6ONLY_MAPPED = rule(
    "connect.inet6_v6only_mapped", "ENETUNREACH (AF_INET: EAFNOSUPPORT)",
    "An IPV6_V6ONLY socket cannot reach a v4-mapped address; a datagram socket refuses an "
    "AF_INET address with EAFNOSUPPORT.",
    "net/ipv6/tcp_ipv6.c tcp_v6_connect(): ipv6_only_sock() -> -ENETUNREACH; "
    "net/ipv6/datagram.c __ip6_datagram_connect()")
CONNECT_ANY_IS_LOOPBACK = rule(
    "connect.inet_any_is_loopback", "the peer is the loopback address",
    "Connecting to INADDR_ANY (or ::) connects to the loopback address (a BSDism).",
    "net/ipv4/route.c ip_route_output_key_hash_rcu(): !daddr -> daddr = saddr = "
    "INADDR_LOOPBACK; net/ipv6/tcp_ipv6.c tcp_v6_connect(): 'connect() to INADDR_ANY means "
    "loopback (BSD'ism)'",
    shows=('peername',))
CONNECT_TCP = rule(
    "connect.inet_stream", "0 (non-blocking: EINPROGRESS), connected",
    "On loopback the handshake completes within the call when the listener's queue has room: "
    "a blocking connect returns 0; a non-blocking one returns EINPROGRESS with the connection "
    "already established (getpeername works, a second connect returns 0).",
    "net/ipv4/af_inet.c __inet_stream_connect(): -EINPROGRESS with !timeo; "
    "net/ipv4/tcp_ipv4.c tcp_v4_connect(); connect(2) ERRORS EINPROGRESS")
CONNECT_PENDING = rule(
    "connect.inet_backlog_full", "EINPROGRESS, the SYN stays unanswered",
    "The listener's accept queue is full: the SYN is dropped and a non-blocking connect stays "
    "in progress (SYN_SENT; getpeername ENOTCONN, SO_ERROR 0, connect again EALREADY).",
    "net/ipv4/tcp_input.c tcp_conn_request(): sk_acceptq_is_full() -> drop; "
    "include/net/sock.h sk_acceptq_is_full()")
CONNECT_DGRAM = rule(
    "connect.inet_dgram", "0, the default destination is set",
    "A datagram (or raw) socket records its peer; an unbound UDP socket is given a port first "
    "(kept even if the connect then fails) and the source address of the route.",
    "net/ipv4/af_inet.c inet_dgram_connect(): inet_autobind(); net/ipv4/datagram.c "
    "__ip4_datagram_connect(); net/ipv6/datagram.c __ip6_datagram_connect(); udp(7)")
CONNECT_V4_ON_V6 = rule(
    "connect.inet6_dgram_sockaddr_in", "0, the peer is ::ffff:a.b.c.d",
    "An AF_INET6 datagram socket connects to a sockaddr_in (or a v4-mapped address) over IPv4.",
    "net/ipv6/datagram.c __ip6_datagram_connect(): sin6_family == AF_INET -> "
    "__ip4_datagram_connect(), ipv6_addr_set_v4mapped()",
    shows=('peername',))

# -- names ----------------------------------------------------------------------------------
GETNAME_UNBOUND = rule(
    "getsockname.inet_unbound", "0.0.0.0:0 (length 16) or [::]:0 (length 28)",
    "An inet socket without a port reports the wildcard address and port 0 (a raw socket "
    "reports its protocol as the port).",
    "net/ipv4/af_inet.c inet_getname(): sin_port = inet_sport, rcv_saddr ?: saddr; "
    "net/ipv4/af_inet.c inet_create(): SOCK_RAW inet_num = protocol",
    shows=('answer', 'sockname', 'out.addr'), documented=True)
GETNAME_BOUND = rule(
    "getsockname.inet", "the bound (or connected) address and port",
    "getsockname reports the receive address and the source port.",
    "net/ipv4/af_inet.c inet_getname(); net/ipv6/af_inet6.c inet6_getname()",
    shows=('answer', 'sockname', 'out.addr', 'out.name'), documented=True)
GETPEER_ENOTCONN = rule(
    "getpeername.inet_enotconn", "ENOTCONN",
    "No destination port, or a TCP socket still (or again) in SYN_SENT or CLOSE.",
    "net/ipv4/af_inet.c inet_getname(): !inet_dport || (TCPF_CLOSE | TCPF_SYN_SENT) && peer == 1 "
    "-> -ENOTCONN; getpeername(2) ERRORS ENOTCONN")
GETPEER_OK = rule(
    "getpeername.inet", "the peer's address and port",
    "getpeername reports the destination address and port.",
    "net/ipv4/af_inet.c inet_getname(): sin_port = inet_dport, sin_addr = inet_daddr",
    shows=('answer', 'peername', 'out.addr', 'out.name'), documented=True)

# -- shutdown -------------------------------------------------------------------------------
SHUTDOWN_HOW = rule(
    "shutdown.inet_how", "EINVAL",
    "how is not SHUT_RD, SHUT_WR or SHUT_RDWR (how + 1 must be 1, 2 or 3).",
    "net/ipv4/af_inet.c inet_shutdown(): how++; (how & ~SHUTDOWN_MASK) || !how -> -EINVAL")
SHUTDOWN_ENOTCONN = rule(
    "shutdown.inet_enotconn", "ENOTCONN (the shutdown bits are still set)",
    "A closed (unconnected) inet socket answers ENOTCONN but records the shutdown anyway.",
    "net/ipv4/af_inet.c inet_shutdown(): case TCP_CLOSE: err = -ENOTCONN; fallthrough; "
    "sk_shutdown |= how; shutdown(2) ERRORS ENOTCONN")
SHUTDOWN_OK = rule(
    "shutdown.inet", "0",
    "A connected socket records the shutdown; TCP sends its FIN on SHUT_WR (the peer reads "
    "EOF); once both sides sent FIN the sockets are closed (getpeername ENOTCONN).",
    "net/ipv4/af_inet.c inet_shutdown(); net/ipv4/tcp.c tcp_shutdown() -> tcp_send_fin(); "
    "shutdown(2)")
SHUTDOWN_LISTENER = rule(
    "shutdown.inet_listener", "0; SHUT_RD stops listening",
    "On a listener SHUT_WR does nothing; SHUT_RD (or RDWR) disconnects it: it stops listening "
    "and its queued connections are reset.",
    "net/ipv4/af_inet.c inet_shutdown(): case TCP_LISTEN: if (!(how & RCV_SHUTDOWN)) break; "
    "tcp_disconnect() -> inet_csk_listen_stop()")
SHUTDOWN_CONNECTING = rule(
    "shutdown.inet_syn_sent", "0; the connect is abandoned (SO_ERROR ECONNRESET)",
    "shutdown() of a TCP socket whose SYN is unanswered disconnects it; SO_ERROR reads "
    "ECONNRESET.",
    "net/ipv4/af_inet.c inet_shutdown(): case TCP_SYN_SENT: disconnect; net/ipv4/tcp.c "
    "tcp_disconnect(): old_state == TCP_SYN_SENT -> sk_err = ECONNRESET")

AUTOBIND_FAILED = rule(
    "connect.inet_autobind_eagain", "EAGAIN",
    "A datagram connect of an unbound socket when no ephemeral port is free.",
    "net/ipv4/af_inet.c inet_dgram_connect(): !inet_num && inet_autobind(sk) -> -EAGAIN")
CONNECT_NO_PORT = rule(
    "connect.tcp_ports_exhausted", "EADDRNOTAVAIL",
    "connect() of an unbound TCP socket when no source port is free for the destination.",
    "net/ipv4/inet_hashtables.c __inet_hash_connect(): return -EADDRNOTAVAIL; connect(2) "
    "ERRORS EADDRNOTAVAIL")

NETNS_UNKNOWN = "an address off loopback outside the private network namespace"


# =========================================================================== addresses

def _u16(data: bytes, off: int, big: bool = False) -> int:
    return struct.unpack_from("!H" if big else "=H", data, off)[0]


def family_of(data: bytes) -> int:
    return _u16(data, 0)


def decode_in(data: bytes) -> tuple[int, str]:
    """(port, address) of a sockaddr_in (at least 8 bytes)."""
    return _u16(data, 2, True), str(ipaddress.IPv4Address(data[4:8]))


def decode_in6(data: bytes, addrlen: int) -> tuple[int, str, int]:
    """(port, address, scope id) of a sockaddr_in6 (at least SIN6_LEN_RFC2133 bytes)."""
    scope = struct.unpack_from("=I", data, 24)[0] if addrlen >= 28 else 0
    return _u16(data, 2, True), str(ipaddress.IPv6Address(data[8:24])), scope


def v4_kind(m, addr: str) -> str:
    """inet_addr_type() as the model knows the namespace: any, local, broadcast, multicast,
    nonlocal (raises NotModelled where the host's own addresses matter)."""
    a = ipaddress.IPv4Address(addr)
    if int(a) == 0:
        return "any"
    if addr == "255.255.255.255":
        return "broadcast"
    if a.is_multicast:
        return "multicast"
    if a in ipaddress.IPv4Network("127.0.0.0/8"):
        if addr in ("127.255.255.255", "127.0.0.0"):
            raise icsk.not_modelled(f"{addr}: a broadcast route of lo")
        return "local"
    if m.profile.netns_private:
        return "nonlocal"
    raise icsk.not_modelled(f"{addr}: {NETNS_UNKNOWN}")


def v6_kind(m, addr: str) -> str:
    """ipv6_addr_type() plus locality: any, loopback, mapped, multicast, linklocal (needs a
    scope), nonlocal."""
    a = ipaddress.IPv6Address(addr)
    if int(a) == 0:
        return "any"
    if a.ipv4_mapped is not None:
        return "mapped"
    if a.is_multicast:
        scope = (int(a) >> 112) & 0xF
        return "mcast_link" if scope in (1, 2) else "multicast"
    if a.is_link_local:
        return "linklocal"
    if int(a) == 1:
        return "loopback"
    if m.profile.netns_private:
        return "nonlocal"
    raise icsk.not_modelled(f"{addr}: {NETNS_UNKNOWN}")


def sockaddr(family: int, port: int, addr: str):
    if family == L.AF_INET:
        return SockaddrIn(port, addr)
    return SockaddrIn6(port, icsk.canonical(L.AF_INET6, addr))


def as_family(family: int, sa):
    """An address as a socket of ``family`` reports it (v4 in a v6 socket: ::ffff:a.b.c.d; a
    v4-mapped address in a v4 socket: a.b.c.d)."""
    if sa is None or isinstance(sa, Constraint):
        return sa
    if family == L.AF_INET6 and isinstance(sa, SockaddrIn):
        return SockaddrIn6(sa.port, icsk.canonical(L.AF_INET6, "::ffff:" + sa.addr))
    if family == L.AF_INET and isinstance(sa, SockaddrIn6):
        mapped = ipaddress.IPv6Address(sa.addr).ipv4_mapped
        if mapped is None:
            raise icsk.not_modelled("an IPv6 peer of an AF_INET socket")
        return SockaddrIn(sa.port, str(mapped))
    return sa


def local_addr(sock) -> str:
    """The address part of getsockname ('0.0.0.0' / '::' when none)."""
    if sock.local is None or isinstance(sock.local, Constraint):
        return "0.0.0.0" if sock.family == L.AF_INET else "::"
    return sock.local.addr


def is_raw(sock) -> bool:
    return sock.type == L.SOCK_RAW


def remote_of(sock):
    """The peer's address as getpeername reports it (a child's peer is its client's address,
    read when asked: the client's port is learned after its connect)."""
    if sock.peer is not None:
        return sock.peer
    client = sock.peer_sock
    if client is None or client.local is None:
        return None
    return as_family(sock.family, client.local)      # a Constraint: never observed


# =========================================================================== the ops

class InetOps(ProtoOps):
    """inet_stream_ops / inet_dgram_ops / inet_sockraw_ops and the inet6 twins."""

    def __init__(self, name: str, family: int, kind: str):
        self.name, self.family, self.kind = name, family, kind     # kind: stream, dgram, raw

    # -- getname ---------------------------------------------------------------------
    def getname(self, m, sock, peer: bool):
        size = 16 if sock.family == L.AF_INET else 28
        if peer:
            remote = remote_of(sock)
            if remote is None or (not isinstance(remote, Constraint) and remote.port == 0) or \
                    sock.sk_state in ("CLOSE", "SYN_SENT") and self.kind == "stream":
                return GETPEER_ENOTCONN.fail(E.ENOTCONN)
            if isinstance(remote, Constraint):
                raise icsk.not_modelled("the peer's port was never observed")
            return remote, size
        if sock.local is None:
            port = sock.protocol if is_raw(sock) else 0
            return icsk.wildcard_of(sock.family, port), size
        return sock.local, size

    def getname_rules(self, m, sock, peer: bool) -> tuple:
        if peer:
            return (GETPEER_OK,)
        return (GETNAME_UNBOUND,) if sock.local is None else (GETNAME_BOUND,)

    # -- bind ------------------------------------------------------------------------
    def bind(self, m, sock, addr: bytes, addrlen: int):
        if sock.protocol in (L.IPPROTO_ICMP, L.IPPROTO_ICMPV6) and self.kind == "dgram":
            raise icsk.not_modelled("ping sockets (ping_bind)")
        if self.kind == "raw":
            return raw_bind(m, sock, addr, addrlen) if sock.family == L.AF_INET else \
                rawv6_bind(m, sock, addr, addrlen)
        if sock.family == L.AF_INET:
            return inet_bind(m, sock, addr, addrlen)
        return inet6_bind(m, sock, addr, addrlen)

    # -- listen ----------------------------------------------------------------------
    def listen(self, m, sock, backlog: int):
        if self.kind != "stream":
            return super().listen(m, sock, backlog)
        return inet_listen(m, sock, backlog)

    # -- accept ----------------------------------------------------------------------
    def accept(self, m, sock, newfd, flags, addr, addrlen):
        if self.kind != "stream":
            return super().accept(m, sock, newfd, flags, addr, addrlen)
        return inet_accept(m, sock, newfd, flags, addr, addrlen)

    # -- connect ---------------------------------------------------------------------
    def connect(self, m, sock, addr: bytes, addrlen: int, flags: int):
        if sock.protocol in (L.IPPROTO_ICMP, L.IPPROTO_ICMPV6) and self.kind == "dgram":
            raise icsk.not_modelled("ping sockets")
        if self.kind == "stream":
            return inet_stream_connect(m, sock, addr, addrlen, flags)
        return inet_dgram_connect(m, sock, addr, addrlen, flags)

    # -- data ------------------------------------------------------------------------
    def sendmsg(self, m, sock, msg):
        return inet_sendmsg(m, sock, msg)

    def recvmsg(self, m, sock, rmsg):
        return inet_recvmsg(m, sock, rmsg)

    # -- shutdown --------------------------------------------------------------------
    def shutdown(self, m, sock, how: int):
        return inet_shutdown(m, sock, how)

    # -- release ---------------------------------------------------------------------
    def release(self, m, sock):
        inet_release(m, sock)

    def release_rules(self, sock, m=None) -> tuple:
        return release_rules(sock)


class MptcpOps(InetOps):
    """mptcp_stream_ops / mptcp_v6_stream_ops: only getname (inet_getname) is modelled."""

    def _no(self, *args, **kwargs):
        raise icsk.not_modelled("MPTCP sockets")

    bind = listen = accept = connect = shutdown = _no

    def release(self, m, sock):
        pass

    def release_rules(self, sock, m=None) -> tuple:
        return ()


OPS = {
    (L.AF_INET, "stream"): InetOps("inet_stream_ops", L.AF_INET, "stream"),
    (L.AF_INET, "dgram"): InetOps("inet_dgram_ops", L.AF_INET, "dgram"),
    (L.AF_INET, "raw"): InetOps("inet_sockraw_ops", L.AF_INET, "raw"),
    (L.AF_INET6, "stream"): InetOps("inet6_stream_ops", L.AF_INET6, "stream"),
    (L.AF_INET6, "dgram"): InetOps("inet6_dgram_ops", L.AF_INET6, "dgram"),
    (L.AF_INET6, "raw"): InetOps("inet6_sockraw_ops", L.AF_INET6, "raw"),
    (L.AF_INET, "mptcp"): MptcpOps("mptcp_stream_ops", L.AF_INET, "stream"),
    (L.AF_INET6, "mptcp"): MptcpOps("mptcp_v6_stream_ops", L.AF_INET6, "stream"),
}
INET_STREAM_OPS, INET_DGRAM_OPS, INET_RAW_OPS = (OPS[(L.AF_INET, k)] for k in ("stream", "dgram", "raw"))


def inet_ops(family: int, type: int, protocol: int = 0) -> ProtoOps:
    if type == L.SOCK_STREAM:
        kind = "mptcp" if protocol == L.IPPROTO_MPTCP else "stream"
    elif type == L.SOCK_DGRAM:
        kind = "dgram"
    elif type == L.SOCK_SEQPACKET:
        kind = "mptcp"                       # SCTP: not modelled beyond getname
    else:
        kind = "raw"
    return OPS[(family, kind)]


# =========================================================================== bind

def _bind_apply(sock, local, userlocks: int, also_set: dict | None = None):
    def apply(model, result):
        sock.local = local
        sock.userlocks |= userlocks
        sock.peer = None
        if also_set:
            sock.opts.update(also_set)
        icsk.hold(model, sock, by_bind=True)
    return apply


def _get_port(m, sock, family: int, addr: str, port: int, userlocks: int, ok_rule, also=(),
              also_set=None):
    """sk_prot->get_port() for a bind: EADDRINUSE, or the success outcome with the address
    (and the ephemeral port constraint for port 0)."""
    view = icsk.rcv_addr_of(family, sockaddr(family, port, addr),
                            bool((also_set or {}).get("IPV6_V6ONLY", icsk.ipv6only(sock))))
    if port:
        conflict_free = [s for s in icsk.owners(m, icsk.table_of(sock), port, exclude=sock)
                         if icsk._dev_overlap(sock, s) and icsk.rcv_saddr_equal(view, icsk.rcv_addr(s))]
        if icsk.bind_conflict(m, sock, view, port) is not None:
            return BIND_INUSE.fail(E.EADDRINUSE)
        if conflict_free:
            also += (BIND_REUSEADDR,)
        local = sockaddr(family, port, addr)
        return ok_rule.ok(0, apply=_bind_apply(sock, local, userlocks, also_set), also=also)
    ports, rules = icsk.bind_port_choice(m, sock, view)
    if ports is None:
        return icsk.PORTS_EXHAUSTED.fail(E.EADDRINUSE)
    local = icsk.address_with_port(family, icsk.canonical(family, addr), ports)
    return ok_rule.ok(0, apply=_bind_apply(sock, local, userlocks, also_set), also=also + rules)


def _privileged(m, port: int):
    """inet_port_requires_bind_service(): EACCES outcome, the rule a granted port shows, or None."""
    if port and port < m.net.unprivileged_port_start:
        if not m.capable("CAP_NET_BIND_SERVICE"):
            return BIND_EACCES.fail(E.EACCES)
        return BIND_PRIVILEGED_OK
    return None


def _nonlocal_allowed(sock) -> bool:
    if sock.opts.get("IP_FREEBIND") or sock.opts.get("IP_TRANSPARENT"):
        raise icsk.not_modelled("IP_FREEBIND / IP_TRANSPARENT")
    return False


def inet_bind(m, sock, data: bytes, addrlen: int):
    """inet_bind_sk() -> __inet_bind()."""
    if addrlen < 16:
        return BIND_SHORT.fail(E.EINVAL)
    family = family_of(data)
    port, addr = decode_in(data)
    also = ()
    if family != L.AF_INET:
        if family != L.AF_UNSPEC or addr != "0.0.0.0":
            return BIND_FAMILY.fail(E.EAFNOSUPPORT)
        also = (BIND_UNSPEC_ANY,)
    if icsk.bound_dev_if(sock) not in (0, 1):
        raise icsk.not_modelled("bind of a socket bound to a device other than lo")
    kind = v4_kind(m, addr)
    if kind == "nonlocal" and not _nonlocal_allowed(sock):
        return BIND_NOTAVAIL.fail(E.EADDRNOTAVAIL)
    priv = _privileged(m, port)
    if isinstance(priv, Outcome):
        return priv
    if priv is not None:
        also += (priv,)
    if sock.sk_state != "CLOSE" or sock.bound:
        return BIND_AGAIN.fail(E.EINVAL)
    locks = (SOCK_BINDADDR_LOCK if addr != "0.0.0.0" else 0) | (SOCK_BINDPORT_LOCK if port else 0)
    return _get_port(m, sock, L.AF_INET, addr, port, locks, BIND_OK, also)


def inet6_bind(m, sock, data: bytes, addrlen: int):
    """inet6_bind_sk() -> __inet6_bind()."""
    if addrlen < L.SOCKADDR_IN6_SIZE_V1:
        return BIND_SHORT.fail(E.EINVAL)
    if family_of(data) != L.AF_INET6:
        return BIND_FAMILY.fail(E.EAFNOSUPPORT)
    port, addr, scope = decode_in6(data, addrlen)
    kind = v6_kind(m, addr)
    if kind in ("multicast", "mcast_link") and sock.type == L.SOCK_STREAM:
        return BIND_V6_MCAST_STREAM.fail(E.EINVAL)
    also = ()
    priv = _privileged(m, port)
    if isinstance(priv, Outcome):
        return priv
    if priv is not None:
        also += (priv,)
    if sock.sk_state != "CLOSE" or sock.bound:
        return BIND_AGAIN.fail(E.EINVAL)
    dev = icsk.bound_dev_if(sock)
    also_set = None
    if kind == "mapped":
        if icsk.ipv6only(sock):      # only setsockopt(IPV6_V6ONLY) gets an unbound socket here
            raise icsk.not_modelled("bind of a v4-mapped address with IPV6_V6ONLY")
        if dev not in (0, 1):
            raise icsk.not_modelled("bind of a socket bound to a device other than lo")
        v4 = str(ipaddress.IPv6Address(addr).ipv4_mapped)
        if v4_kind(m, v4) == "nonlocal" and not _nonlocal_allowed(sock):
            return BIND_NOTAVAIL.fail(E.EADDRNOTAVAIL)
        also += (BIND_V6_MAPPED,)
    elif kind != "any":
        if kind in ("linklocal", "mcast_link"):
            if addrlen >= 28 and scope:
                return _v6_scoped_bind(m, sock, scope)
            if not dev:
                return BIND_V6_SCOPE.fail(E.EINVAL)
        if dev not in (0, 1):
            raise icsk.not_modelled("bind of a socket bound to a device other than lo")
        if kind in ("nonlocal", "linklocal") and not _nonlocal_allowed(sock):
            return BIND_NOTAVAIL.fail(E.EADDRNOTAVAIL)
        also_set = {"IPV6_V6ONLY": 1}
        also += (BIND_V6ONLY_SET,)
    locks = (SOCK_BINDADDR_LOCK if kind != "any" else 0) | (SOCK_BINDPORT_LOCK if port else 0)
    return _get_port(m, sock, L.AF_INET6, icsk.canonical(L.AF_INET6, addr), port, locks, BIND_OK,
                     also, also_set)


def _v6_scoped_bind(m, sock, scope: int):
    """A link-local address with a scope id: the socket takes the device; lo (1) has no
    link-local address; another index exists only outside the private namespace."""
    def keep_dev(model, result, sock=sock, scope=scope):
        sock.opts["SO_BINDTODEVICE"] = scope
    if scope == 1:
        return Outcome(BIND_NOTAVAIL, E.EADDRNOTAVAIL, Exact(-1), {}, keep_dev)
    if m.profile.netns_private:
        return Outcome(BIND_V6_SCOPE_NODEV, E.ENODEV, Exact(-1), {}, keep_dev)
    raise icsk.not_modelled("a scope id outside the private network namespace")


def raw_bind(m, sock, data: bytes, addrlen: int):
    """net/ipv4/raw.c raw_bind(): no family check, no port."""
    if sock.sk_state != "CLOSE" or addrlen < 16:
        return BIND_RAW_STATE.fail(E.EINVAL)
    _port, addr = decode_in(data)
    if v4_kind(m, addr) == "nonlocal" and not _nonlocal_allowed(sock):
        return BIND_NOTAVAIL.fail(E.EADDRNOTAVAIL)
    local = SockaddrIn(sock.protocol, addr)
    return BIND_RAW.ok(0, apply=_raw_bind_apply(sock, local))


def _raw_bind_apply(sock, local):
    def apply(model, result):
        sock.local = local
    return apply


def rawv6_bind(m, sock, data: bytes, addrlen: int):
    """net/ipv6/raw.c rawv6_bind()."""
    if addrlen < L.SOCKADDR_IN6_SIZE_V1 or family_of(data) != L.AF_INET6:
        return BIND_RAW_STATE.fail(E.EINVAL)
    _port, addr, scope = decode_in6(data, addrlen)
    kind = v6_kind(m, addr)
    if kind == "mapped":
        return BIND_RAW6_MAPPED.fail(E.EADDRNOTAVAIL)
    if sock.sk_state != "CLOSE":
        return BIND_RAW_STATE.fail(E.EINVAL)
    if kind in ("linklocal", "mcast_link"):
        raise icsk.not_modelled("raw IPv6 bind of a link-local address")
    if icsk.bound_dev_if(sock) not in (0, 1):
        raise icsk.not_modelled("bind of a socket bound to a device other than lo")
    if kind == "nonlocal" and not _nonlocal_allowed(sock):
        return BIND_NOTAVAIL.fail(E.EADDRNOTAVAIL)
    local = SockaddrIn6(sock.protocol, icsk.canonical(L.AF_INET6, addr))
    return BIND_RAW.ok(0, apply=_raw_bind_apply(sock, local))


# =========================================================================== listen, accept

def inet_listen(m, sock, backlog: int):
    """inet_listen() -> __inet_listen_sk() -> inet_csk_listen_start()."""
    if sock.state not in ("unconnected", "listening") or \
            sock.sk_state not in ("CLOSE", "LISTEN"):
        return LISTEN_STATE.fail(E.EINVAL)

    def set_backlog(model, result):
        sock.backlog = backlog

    if sock.sk_state == "LISTEN":
        return LISTEN_OK.ok(0, apply=set_backlog)

    def listening(model, result):
        sock.backlog = backlog
        sock.sk_state = "LISTEN"
        sock.state = "listening"
        icsk.hold(model, sock, by_bind=True if not sock.bound else None)

    refused = sock.unhashed_from == "ehash" and m.holds(LISTEN_UNHASHED)
    if sock.bound:
        port = icsk.port_of(sock)
        if port is None:
            raise icsk.not_modelled("listen() of a socket whose port was never observed")
        if refused:
            return LISTEN_UNHASHED.fail(E.EINVAL)
        view = icsk.rcv_addr(sock)
        # the conflict check runs with the socket already in TCP_LISTEN
        saved, sock.sk_state = sock.sk_state, "LISTEN"
        try:
            conflict = icsk.bind_conflict(m, sock, view, port)
        finally:
            sock.sk_state = saved
        if conflict is not None:
            return Outcome(LISTEN_INUSE, E.EADDRINUSE, Exact(-1), {}, set_backlog)
        return LISTEN_OK.ok(0, apply=listening)
    addr = local_addr(sock)                    # the rcv_saddr a failed connect may have kept
    view = icsk.rcv_addr_of(sock.family, sockaddr(sock.family, 0, addr), icsk.ipv6only(sock))
    ports, rules = icsk.bind_port_choice(m, sock, view)
    if ports is None:
        return Outcome(icsk.PORTS_EXHAUSTED, E.EADDRINUSE, Exact(-1), {}, set_backlog)
    local = icsk.address_with_port(sock.family, icsk.canonical(sock.family, addr), ports)

    def autobind(model, result):
        sock.local = local
        listening(model, result)

    if refused:
        def port_kept(model, result):            # get_port() bound it; hash() refused
            sock.local = local
            icsk.hold(model, sock, by_bind=True)
        return Outcome(LISTEN_UNHASHED, E.EINVAL, Exact(-1), {}, port_kept, rules)
    return LISTEN_OK.ok(0, apply=autobind, also=(LISTEN_AUTOBIND,) + rules)


def inet_accept(m, sock, newfd, flags, addr, addrlen):
    """inet_accept() -> inet_csk_accept()."""
    from .socket import accepted
    if sock.sk_state != "LISTEN":
        return ACCEPT_NOT_LISTENING.fail(E.EINVAL)
    if not sock.accept_queue:
        if sock.nonblock:
            return ACCEPT_EAGAIN.fail(E.EAGAIN)
        raise icsk.not_modelled("accept() on a blocking listener with an empty queue waits")
    child = sock.accept_queue[0]
    peer = remote_of(child)
    if peer is None or isinstance(peer, Constraint):
        raise icsk.not_modelled("the connecting socket's port was never observed")

    def take(model, child=child):
        sock.accept_queue.remove(child)
        child.listener = None
    size = 16 if child.family == L.AF_INET else 28
    return accepted(m, ACCEPT_OK, child, newfd, flags, addr, addrlen, peer, size, take)


# =========================================================================== connect

def inet_stream_connect(m, sock, data: bytes, addrlen: int, flags: int):
    """inet_stream_connect() -> __inet_stream_connect()."""
    if addrlen < 2:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family_of(data) == L.AF_UNSPEC:
        return CONNECT_UNSPEC.ok(0, apply=lambda model, r: tcp_disconnect(model, sock, user=True))
    if sock.state == "connected":
        return CONNECT_ISCONN.fail(E.EISCONN)
    if sock.state == "connecting":
        if sock.sk_state == "SYN_SENT":
            if flags & L.O_NONBLOCK:
                return CONNECT_EALREADY.fail(E.EALREADY)
            raise icsk.not_modelled("a blocking connect while the SYN is unanswered waits")
        if sock.sk_state == "CLOSE":
            err = sock.so_error or E.ECONNABORTED

            def failed(model, result):
                sock.so_error = 0
                sock.state = "unconnected"
                tcp_disconnect(model, sock, user=False)
            return Outcome(CONNECT_FAILED_LATER, err, Exact(-1), {}, failed)

        def completed(model, result):
            sock.state = "connected"
        return CONNECT_COMPLETED.ok(0, apply=completed)
    if sock.state not in ("unconnected", "listening"):
        return CONNECT_DISCONNECTING.fail(E.EINVAL)
    if sock.sk_state != "CLOSE":
        return CONNECT_ISCONN.fail(E.EISCONN)
    if sock.family == L.AF_INET:
        return tcp_v4_connect(m, sock, data, addrlen, flags)
    return tcp_v6_connect(m, sock, data, addrlen, flags)


def tcp_v4_connect(m, sock, data, addrlen, flags):
    if addrlen < 16:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family_of(data) != L.AF_INET:
        return CONNECT_FAMILY.fail(E.EAFNOSUPPORT)
    dport, daddr = decode_in(data)
    return tcp_handshake(m, sock, True, daddr, dport, flags)


def tcp_v6_connect(m, sock, data, addrlen, flags):
    if addrlen < L.SOCKADDR_IN6_SIZE_V1:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family_of(data) != L.AF_INET6:
        return CONNECT_FAMILY.fail(E.EAFNOSUPPORT)
    dport, daddr, scope = decode_in6(data, addrlen)
    also = ()
    if daddr == "::":
        mapped_self = isinstance(sock.local, SockaddrIn6) and \
            ipaddress.IPv6Address(sock.local.addr).ipv4_mapped is not None
        daddr = "::ffff:7f00:1" if mapped_self else "::1"
        also = (CONNECT_ANY_IS_LOOPBACK,)
    kind = v6_kind(m, daddr)
    if kind in ("multicast", "mcast_link"):
        return CONNECT_UNREACH.fail(E.ENETUNREACH)
    if kind == "linklocal":
        if addrlen >= 28 and scope:
            raise icsk.not_modelled("connect to a link-local address with a scope id")
        if not icsk.bound_dev_if(sock):
            return CONNECT_V6_SCOPE.fail(E.EINVAL)
        raise icsk.not_modelled("connect to a link-local address from a device-bound socket")
    if kind == "mapped":
        if icsk.ipv6only(sock):
            return CONNECT_V6ONLY_MAPPED.fail(E.ENETUNREACH)
        v4 = str(ipaddress.IPv6Address(daddr).ipv4_mapped)
        return tcp_handshake(m, sock, True, v4, dport, flags, also)
    if kind == "nonlocal":
        return CONNECT_UNREACH.fail(E.ENETUNREACH)
    return tcp_handshake(m, sock, False, daddr, dport, flags, also)


def _v4_route(m, daddr: str) -> tuple[str | None, tuple]:
    """The destination after routing (None: ENETUNREACH for TCP) and rules."""
    if daddr == "0.0.0.0":
        return "127.0.0.1", (CONNECT_ANY_IS_LOOPBACK,)
    kind = v4_kind(m, daddr)
    if kind == "local":
        return daddr, ()
    return None, ()                       # multicast, broadcast, nonlocal (private netns)


def tcp_handshake(m, sock, v4: bool, daddr: str, dport: int, flags: int, also=()):
    """tcp_v4_connect()/tcp_v6_connect() on loopback: route, source address and port, then
    what the listener (or the lack of one) answers."""
    if v4:
        daddr, more = _v4_route(m, daddr)
        also += more
        if daddr is None:
            return CONNECT_UNREACH.fail(E.ENETUNREACH)
    # the source: the bound address, or the loopback address of the destination's family
    mapped = v4 and sock.family == L.AF_INET6
    bound_addr = local_addr(sock) if sock.userlocks & SOCK_BINDADDR_LOCK else None
    if bound_addr is not None:
        src = bound_addr
    else:
        src = "127.0.0.1" if sock.family == L.AF_INET else ("::ffff:7f00:1" if mapped else "::1")
    if mapped and bound_addr is not None and ipaddress.IPv6Address(bound_addr).ipv4_mapped is None:
        raise icsk.not_modelled("a v4-mapped connect from a socket bound to an IPv6 address")
    if not v4 and sock.family == L.AF_INET6 and bound_addr is not None and \
            ipaddress.IPv6Address(bound_addr).ipv4_mapped is not None:
        raise icsk.not_modelled("an IPv6 connect from a socket bound to a v4-mapped address")
    if v4 and sock.family == L.AF_INET and v4_kind(m, src) != "local":
        raise icsk.not_modelled("a connect from a socket bound to a multicast/broadcast address")
    peer = sockaddr(sock.family, dport, ("::ffff:" + daddr) if mapped else daddr)
    had_port = sock.bound
    if sock.unhashed_from == "lhash" and m.holds(CONNECT_UNHASHED):
        return CONNECT_UNHASHED.fail(E.EINVAL)      # inet_hash_connect() refuses an ex-listener
    if had_port:
        port = icsk.port_of(sock)
        if port is None:
            raise icsk.not_modelled("connect() of a socket whose port was never observed")
        if port == dport and (src == peer.addr):
            raise icsk.not_modelled("a TCP socket connecting to itself")
        ports, rules = port, ()
        local = sockaddr(sock.family, port, src)
    else:
        src_view = icsk.rcv_addr_of(sock.family, sockaddr(sock.family, 0, src), icsk.ipv6only(sock))
        ports, rules = icsk.connect_port_choice(m, sock, src_view, peer)
        if ports is None:
            return CONNECT_NO_PORT.fail(E.EADDRNOTAVAIL)
        local = icsk.address_with_port(sock.family, icsk.canonical(sock.family, src), ports)
    also += rules
    listener = icsk.lookup_listener(m, v4, daddr, dport)
    nonblock = bool(flags & L.O_NONBLOCK)
    if listener is None and dport:
        known = any(icsk.port_of(s) == dport for s in m.net.inet_bound if icsk.table_of(s) == "tcp")
        if not known and not m.profile.netns_private:
            raise icsk.not_modelled(f"port {dport} may have a listener the model does not know")
    if listener is None:                                 # (nothing ever listens on port 0)
        return _refused(sock, src, ports, peer, nonblock, also)
    if icsk.acceptq_is_full(listener):
        if not nonblock:
            raise icsk.not_modelled("a blocking connect to a full backlog waits for SYN retries")

        def pending(model, result):
            sock.local, sock.peer = local, peer
            sock.sk_state, sock.state = "SYN_SENT", "connecting"
            icsk.hold(model, sock, by_bind=None if had_port else False)
        return Outcome(CONNECT_PENDING, E.EINPROGRESS, Exact(-1), {}, pending,
                       also + (ACCEPT_QUEUE,))

    def established(model, result, listener=listener):
        sock.local, sock.peer = local, peer
        sock.sk_state = "ESTABLISHED"
        sock.state = "connecting" if nonblock else "connected"
        icsk.hold(model, sock, by_bind=None if had_port else False)
        child_local = sockaddr(listener.family, dport,
                               ("::ffff:" + daddr) if v4 and listener.family == L.AF_INET6 else daddr)
        child = Sock(listener.family, L.SOCK_STREAM, L.IPPROTO_TCP, listener.ops,
                     state="connected", sk_state="ESTABLISHED", local=child_local,
                     peer_sock=sock, listener=listener, opts=dict(listener.opts),
                     userlocks=listener.userlocks)
        icsk.hold(model, child, by_bind=True)
        listener.accept_queue.append(child)
        sock.peer_sock = child
    if nonblock:
        return Outcome(CONNECT_TCP, E.EINPROGRESS, Exact(-1), {}, established, also)
    return CONNECT_TCP.ok(0, apply=established, also=also)


def _refused(sock, src: str, ports, peer, nonblock: bool, also):
    """The RST answer: tcp_reset() -> tcp_done(); a blocking connect also disconnects
    (tcp_disconnect() forgets an address bind() did not fix; getsockname keeps the port)."""
    if not nonblock and not (sock.userlocks & SOCK_BINDADDR_LOCK):
        src = "0.0.0.0" if sock.family == L.AF_INET else "::"
    if isinstance(ports, int):
        local = sockaddr(sock.family, ports, src)
    else:
        local = icsk.address_with_port(sock.family, icsk.canonical(sock.family, src), ports)

    def refused(model, result):
        sock.local = local
        sock.peer = peer
        inet_unhash(sock, "SYN_SENT")            # inet_hash_connect() hashed it, tcp_done() unhashes
        sock.sk_state = "CLOSE"
        if not (sock.userlocks & SOCK_BINDPORT_LOCK):
            icsk.put_port(model, sock)
        sock.shutdown = SHUTDOWN_MASK            # tcp_reset() -> tcp_done()
        if nonblock:
            sock.state = "connecting"
            sock.so_error = E.ECONNREFUSED
        else:
            sock.state = "unconnected"
            tcp_disconnect(model, sock, user=False)
    if nonblock:
        return Outcome(CONNECT_REFUSED, E.EINPROGRESS, Exact(-1), {}, refused, also)
    return Outcome(CONNECT_REFUSED, E.ECONNREFUSED, Exact(-1), {}, refused, also)


def tcp_disconnect(m, sock, user: bool) -> None:
    """tcp_disconnect(): abort whatever the socket has (a listener's queue, a connection: RST
    to the peer), back to CLOSE; the automatic address and port are given back."""
    old = sock.sk_state
    if old == "LISTEN":
        inet_csk_listen_stop(m, sock)
    elif old in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV"):
        _send_reset(m, sock)
        sock.so_error = E.ECONNRESET
    elif old == "SYN_SENT":
        sock.so_error = E.ECONNRESET
    inet_unhash(sock, old)
    sock.sk_state = "CLOSE"
    if old != "CLOSE" and not (sock.userlocks & SOCK_BINDPORT_LOCK):
        icsk.put_port(m, sock)
    sock.peer = None
    sock.peer_sock = None
    sock.shutdown = 0
    # tcp_disconnect(): __skb_queue_purge(&sk->sk_receive_queue), urg_data = 0,
    # sock_reset_flag(sk, SOCK_DONE)
    sock.recv_queue = []
    sock.urg = None
    sock.rcv_fin = False
    sock.rcv_nxt = sock.copied_seq = 0
    if not (sock.userlocks & SOCK_BINDADDR_LOCK) and sock.local is not None and \
            not isinstance(sock.local, Constraint):
        sock.local = sockaddr(sock.family, sock.local.port,
                              "0.0.0.0" if sock.family == L.AF_INET else "::")
    if user:
        sock.state = "unconnected"


def _send_reset(m, sock) -> None:
    """tcp_send_active_reset(): the peer's tcp_reset() (sk_err by its state, tcp_done())."""
    peer = sock.peer_sock
    if peer is None:
        return
    if peer.state == "closed":                       # an orphan end: it just goes away
        icsk.put_port(m, peer)
        return
    if peer.sk_state in ("CLOSE", "LISTEN"):
        return
    peer.so_error = E.EPIPE if peer.sk_state == "CLOSE_WAIT" else E.ECONNRESET
    peer.err_unprobed = True             # the reset arrives from the network: left for the
    _tcp_done(m, peer)                   # peer's next call (or SO_ERROR read by the test)
    peer.peer_sock = None


def inet_unhash(sock, old: str) -> None:
    """tcp_set_state(TCP_CLOSE) -> inet_unhash(): a socket leaving state ``old`` leaves the
    listening hash (LISTEN) or the established hash (any other state but CLOSE). Kernels with
    icsk->unhashed_state remember which (LISTEN_UNHASHED, CONNECT_UNHASHED)."""
    if old == "LISTEN":
        sock.unhashed_from = "lhash"
    elif old != "CLOSE":
        sock.unhashed_from = "ehash"


def _tcp_done(m, sock) -> None:
    """tcp_done(): CLOSE, both directions shut; the port goes unless bind() fixed it."""
    inet_unhash(sock, sock.sk_state)
    sock.sk_state = "CLOSE"
    sock.shutdown = SHUTDOWN_MASK
    if not (sock.userlocks & SOCK_BINDPORT_LOCK):
        icsk.put_port(m, sock)


def _linger(m, sock, state: str) -> Sock:
    """A TCP end that keeps its port after the full socket is gone (orphan FIN_WAIT2,
    TIME_WAIT)."""
    ghost = Sock(sock.family, sock.type, sock.protocol, sock.ops, state="closed", sk_state=state,
                 local=sock.local, bound=True, opts=dict(sock.opts), peer_sock=sock.peer_sock,
                 peer=sock.peer, bind_bucket=sock.bind_bucket)
    m.net.inet_bound.append(ghost)
    return ghost


def inet_csk_listen_stop(m, listener) -> None:
    """inet_csk_listen_stop(): every queued child is disconnected (RST to its client)."""
    for child in listener.accept_queue:
        child.listener = None
        tcp_disconnect(m, child, user=False)
        icsk.put_port(m, child)
        child.state = "closed"
    listener.accept_queue = []


def inet_dgram_connect(m, sock, data: bytes, addrlen: int, flags: int):
    """inet_dgram_connect(): AF_UNSPEC disconnects; otherwise autobind, then the protocol's
    connect (ip4_datagram_connect / ip6_datagram_connect)."""
    if addrlen < 2:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family_of(data) == L.AF_UNSPEC:
        return CONNECT_UNSPEC.ok(0, apply=lambda model, r: udp_disconnect(model, sock))
    autobind, also = None, ()
    if not sock.bound and not is_raw(sock):
        view = icsk.rcv_addr(sock)
        ports, rules = icsk.bind_port_choice(m, sock, view)
        if ports is None:
            return AUTOBIND_FAILED.fail(E.EAGAIN)
        autobind = icsk.address_with_port(sock.family, icsk.canonical(sock.family,
                                                                     local_addr(sock)), ports)
        also = rules

    def autobound(model, result):
        if autobind is not None:
            sock.local = autobind
            icsk.hold(model, sock, by_bind=True)

    if sock.family == L.AF_INET:
        got = ip4_datagram_connect(m, sock, data, addrlen)
    else:
        got = ip6_datagram_connect(m, sock, data, addrlen)
    if isinstance(got, Outcome):                         # fails, but the port stays bound
        return Outcome(got.rule, got.errno, got.ret, got.out, autobound, got.also + also)
    src, peer, more = got

    def connected(model, result):
        autobound(model, result)
        if sock.local is None or isinstance(sock.local, Constraint) or \
                sock.local.addr in ("0.0.0.0", "::"):
            port_part = sock.local
            if isinstance(port_part, Constraint):
                sock.local = _with_addr(port_part, sock.family, src)
            elif port_part is None:
                sock.local = sockaddr(sock.family, sock.protocol if is_raw(sock) else 0, src)
            else:
                sock.local = sockaddr(sock.family, port_part.port, src)
        sock.peer = peer
        sock.sk_state = "ESTABLISHED"
    return CONNECT_DGRAM.ok(0, apply=connected, also=also + more)


def _with_addr(ports_constraint, family, src):
    """An autobind constraint (the socket's address, or the wildcard, and a port) with the
    route's source address. A socket bound to an address whose port was given back (AF_UNSPEC
    on a port the user did not bind: __udp_disconnect()) was autobound on that address."""
    inner = ports_constraint

    def test(sa):
        cls = SockaddrIn if family == L.AF_INET else SockaddrIn6
        return type(sa) is cls and sa.addr == src and (
            sa in inner or sockaddr(family, sa.port, "0.0.0.0" if family == L.AF_INET else "::") in inner)
    return Predicate(test, f"{src}:<the port of {inner}>")


def ip4_datagram_connect(m, sock, data, addrlen, mapped: bool = False):
    """__ip4_datagram_connect(): (source address, peer, rules) or an error outcome."""
    if addrlen < 16:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family_of(data) != L.AF_INET:
        return CONNECT_FAMILY.fail(E.EAFNOSUPPORT)
    dport, daddr = decode_in(data)
    return _ip4_route_connect(m, sock, daddr, dport, mapped)


def _ip4_route_connect(m, sock, daddr, dport, mapped: bool):
    also = ()
    saddr = None
    if sock.local is not None and not isinstance(sock.local, Constraint):
        a = sock.local.addr
        if mapped:
            a4 = ipaddress.IPv6Address(a).ipv4_mapped
            a = str(a4) if a4 is not None else "0.0.0.0"
        saddr = a if a != "0.0.0.0" else None
    if icsk.bound_dev_if(sock) not in (0, 1):
        raise icsk.not_modelled("connect of a socket bound to a device other than lo")
    if daddr == "0.0.0.0":
        daddr, also = "127.0.0.1", (CONNECT_ANY_IS_LOOPBACK,)
    kind = v4_kind(m, daddr)
    if kind in ("multicast", "broadcast"):
        if saddr is None and not icsk.bound_dev_if(sock):
            if not m.profile.netns_private:
                raise icsk.not_modelled(f"{daddr}: the host's routes decide")
            return CONNECT_UNREACH.fail(E.ENETUNREACH)       # no route, no device to send on
        if saddr is None or v4_kind(m, saddr) != "local":
            raise icsk.not_modelled("a multicast/broadcast connect from a device-bound socket")
        if kind == "broadcast" and not sock.opts.get("SO_BROADCAST"):
            return CONNECT_BROADCAST.fail(E.EACCES)          # the source's device is lo
        also += (CONNECT_MULTICAST,)
    if kind == "nonlocal":
        return CONNECT_UNREACH.fail(E.ENETUNREACH)
    if saddr is not None and v4_kind(m, saddr) != "local":
        raise icsk.not_modelled("a connect from a socket bound to a multicast/broadcast address")
    src = saddr or "127.0.0.1"
    if mapped:
        src = "::ffff:" + src
        return icsk.canonical(L.AF_INET6, src), SockaddrIn6(dport, icsk.canonical(
            L.AF_INET6, "::ffff:" + daddr)), also + (CONNECT_V4_ON_V6,)
    return src, SockaddrIn(dport, daddr), also


def ip6_datagram_connect(m, sock, data, addrlen):
    """__ip6_datagram_connect()."""
    family = family_of(data)
    if family == L.AF_INET:
        if icsk.ipv6only(sock):
            return CONNECT_V6ONLY_MAPPED.fail(E.EAFNOSUPPORT)
        return ip4_datagram_connect(m, sock, data, addrlen, mapped=True)
    if addrlen < L.SOCKADDR_IN6_SIZE_V1:
        return CONNECT_SHORT.fail(E.EINVAL)
    if family != L.AF_INET6:
        return CONNECT_FAMILY.fail(E.EAFNOSUPPORT)
    dport, daddr, scope = decode_in6(data, addrlen)
    also = ()
    bound_mapped = isinstance(sock.local, SockaddrIn6) and \
        ipaddress.IPv6Address(sock.local.addr).ipv4_mapped is not None
    if daddr == "::":
        daddr = "::ffff:7f00:1" if bound_mapped else "::1"
        also = (CONNECT_ANY_IS_LOOPBACK,)
    kind = v6_kind(m, daddr)
    if kind == "mapped":
        if icsk.ipv6only(sock):
            return CONNECT_V6ONLY_MAPPED.fail(E.ENETUNREACH)
        got = _ip4_route_connect(m, sock, str(ipaddress.IPv6Address(daddr).ipv4_mapped), dport,
                                 True)
        if isinstance(got, Outcome):
            return got
        return got[0], got[1], got[2] + also
    if kind in ("linklocal", "mcast_link"):
        if addrlen >= 28 and scope:
            raise icsk.not_modelled("a datagram connect with a scope id")
        if not icsk.bound_dev_if(sock):
            return CONNECT_V6_SCOPE.fail(E.EINVAL)
        raise icsk.not_modelled("a link-local connect from a device-bound socket")
    if kind == "multicast" and not m.profile.netns_private:
        raise icsk.not_modelled(f"{daddr}: the host's routes decide")
    if kind in ("multicast", "nonlocal"):
        return CONNECT_UNREACH.fail(E.ENETUNREACH)
    if bound_mapped:
        raise icsk.not_modelled("an IPv6 connect from a socket bound to a v4-mapped address")
    saddr = local_addr(sock)
    src = saddr if saddr != "::" else "::1"
    return src, SockaddrIn6(dport, icsk.canonical(L.AF_INET6, daddr)), also


def udp_disconnect(m, sock) -> None:
    """__udp_disconnect() (raw sockets use it too)."""
    sock.sk_state = "CLOSE"
    sock.peer = None
    sock.opts.pop("SO_BINDTODEVICE", None)
    keep_port = sock.userlocks & SOCK_BINDPORT_LOCK or is_raw(sock)
    if not (sock.userlocks & SOCK_BINDADDR_LOCK):
        if sock.local is not None and not isinstance(sock.local, Constraint):
            sock.local = sockaddr(sock.family, sock.local.port if keep_port else 0,
                                  "0.0.0.0" if sock.family == L.AF_INET else "::")
    if not keep_port:
        icsk.put_port(m, sock)
        if sock.local is not None and not isinstance(sock.local, Constraint):
            sock.local = sockaddr(sock.family, 0, sock.local.addr)
        if sock.local is not None and not isinstance(sock.local, Constraint) and \
                sock.local.addr in ("0.0.0.0", "::"):
            sock.local = None


# =========================================================================== data

SEND_AUTOBIND = rule(
    "send.inet_autobind", "the socket is given an ephemeral port first",
    "A send on a UDP socket without a port binds it to the wildcard address and a free port "
    "before the protocol looks at the call, so the port stays even when the send then fails.",
    "net/ipv4/af_inet.c inet_sendmsg() -> inet_send_prepare(): !inet_num && "
    "!sk_prot->no_autobind -> inet_autobind(); udp(7)",
    shows=('sockname',))


def inet_sendmsg(m, sock, msg):
    """inet_sendmsg() / inet6_sendmsg(): inet_send_prepare(), then tcp_sendmsg or
    udp_sendmsg / udpv6_sendmsg."""
    from . import tcp, udp
    table = icsk.table_of(sock)
    if table == "tcp":                         # tcp_prot.no_autobind
        return tcp.tcp_sendmsg(m, sock, msg)
    if table != "udp":
        raise icsk.not_modelled(f"sendmsg on {sock}")
    also, autobound = (), None
    if not sock.bound:
        view = icsk.rcv_addr(sock)
        ports, rules = icsk.bind_port_choice(m, sock, view)
        if ports is None:
            raise icsk.not_modelled("a send with every ephemeral port taken")
        autobind = icsk.address_with_port(sock.family, icsk.canonical(sock.family,
                                                                     local_addr(sock)), ports)
        also = (SEND_AUTOBIND,) + rules

        def take_port(model, result, sock=sock, autobind=autobind):
            sock.local = autobind
            icsk.hold(model, sock, by_bind=True)
        autobound = take_port
    if sock.family == L.AF_INET:
        outcomes = udp.udp_sendmsg(m, sock, msg, also)
    else:
        outcomes = udp.udpv6_sendmsg(m, sock, msg, also)
    if autobound is None:
        return outcomes
    from .rules import as_outcomes
    out = []
    for o in as_outcomes(outcomes):
        def apply(model, result, o=o):
            autobound(model, result)
            if o.apply is not None:
                o.apply(model, result)
        out.append(Outcome(o.rule, o.errno, o.ret, o.out, apply, o.also))
    return tuple(out)


def inet_recvmsg(m, sock, rmsg):
    """inet_recvmsg() / inet6_recvmsg(): tcp_recvmsg or udp_recvmsg / udpv6_recvmsg (of
    raw_recvmsg / rawv6_recvmsg / ping_recvmsg only MSG_OOB and MSG_ERRQUEUE)."""
    from . import errqueue, tcp, udp
    table = icsk.table_of(sock)
    if table == "tcp":
        return tcp.tcp_recvmsg(m, sock, rmsg)
    if table is None and (sock.type == L.SOCK_RAW or
                          (sock.type == L.SOCK_DGRAM and sock.protocol in (L.IPPROTO_ICMP,
                                                                           L.IPPROTO_ICMPV6))):
        return errqueue.raw_recvmsg(m, sock, rmsg)
    if table != "udp":
        raise icsk.not_modelled(f"recvmsg on {sock}")
    return udp.udp_recvmsg(m, sock, rmsg)


# =========================================================================== shutdown

def inet_shutdown(m, sock, how: int):
    """inet_shutdown()."""
    how1 = (how + 1) & 0xFFFFFFFF
    if how1 & ~SHUTDOWN_MASK or not how1:
        return SHUTDOWN_HOW.fail(E.EINVAL)
    state = sock.sk_state
    if state == "CLOSE":
        def closed(model, result):
            if sock.state == "connecting":
                sock.state = "disconnecting"
            sock.shutdown |= how1
        return Outcome(SHUTDOWN_ENOTCONN, E.ENOTCONN, Exact(-1), {}, closed)
    if state == "LISTEN":
        if not how1 & RCV_SHUTDOWN:
            return SHUTDOWN_LISTENER.ok(0)

        def stop(model, result):
            tcp_disconnect(model, sock, user=True)
        return SHUTDOWN_LISTENER.ok(0, apply=stop)
    if state == "SYN_SENT":
        def abandon(model, result):
            tcp_disconnect(model, sock, user=True)
        return SHUTDOWN_CONNECTING.ok(0, apply=abandon)

    def apply(model, result):
        if sock.state == "connecting":
            sock.state = "connected"
        sock.shutdown |= how1
        if sock.type == L.SOCK_STREAM and how1 & SEND_SHUTDOWN:
            tcp_send_fin(model, sock)
    return SHUTDOWN_OK.ok(0, apply=apply)


def tcp_send_fin(m, sock) -> None:
    """tcp_shutdown()/tcp_close() sending FIN on loopback: the peer ACKs at once."""
    peer = sock.peer_sock
    if sock.sk_state == "ESTABLISHED":
        sock.sk_state = "FIN_WAIT1"          # FIN_WAIT2 once the peer's delayed ACK comes
        if peer is not None:
            peer.shutdown |= RCV_SHUTDOWN
            peer.rcv_fin = True                   # tcp_fin(): SOCK_DONE, EOF after the data
            if peer.sk_state == "ESTABLISHED":
                peer.sk_state = "CLOSE_WAIT"
    elif sock.sk_state == "CLOSE_WAIT":                  # LAST_ACK, then CLOSE
        _tcp_done(m, sock)
        if peer is not None and peer.sk_state in ("FIN_WAIT1", "FIN_WAIT2"):
            peer.rcv_fin = True
            _time_wait(m, peer)


def _time_wait(m, sock) -> None:
    """tcp_time_wait(): a TIME_WAIT end keeps the port; the full socket is done."""
    if sock.state == "closed":
        sock.sk_state = "TIME_WAIT"
        return
    _linger(m, sock, "TIME_WAIT")
    _tcp_done(m, sock)


# =========================================================================== release

CLOSE_LINGER_RESET = rule(
    "close.tcp_zero_linger_resets", "0; the connection is reset (RST, not FIN)",
    "Closing the last descriptor of a connected TCP socket with SO_LINGER {1, 0} aborts the "
    "connection: an RST goes to the peer, whose next receive reports ECONNRESET (EPIPE when "
    "the reset finds it in CLOSE_WAIT), and the port is released at once (no TIME_WAIT).",
    "net/ipv4/tcp.c __tcp_close(): else if (sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime) "
    "sk->sk_prot->disconnect(sk, 0) ('Check zero linger _after_ checking for unread data') -> "
    "tcp_disconnect(): tcp_need_reset() -> tcp_send_active_reset(); socket(7) SO_LINGER")


def release_rules(sock) -> tuple:
    """The rules of what releasing ``sock`` does that close() shows (tcp_close())."""
    if (sock.type == L.SOCK_STREAM and icsk.table_of(sock) == "tcp"
            and sock.sk_state in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2")
            and not sock.recv_queue and sock.opts.get("SO_LINGER")
            and not sock.opts.get("SO_LINGER_TIME", 0)):
        return (CLOSE_LINGER_RESET,)
    return ()


def inet_release(m, sock) -> None:
    """inet_release() -> tcp_close() / udp_lib_close(): what becomes of the port and the peer."""
    state = sock.sk_state
    sock.state = "closed"
    if sock.type != L.SOCK_STREAM or icsk.table_of(sock) != "tcp":
        icsk.put_port(m, sock)
        return
    if state == "LISTEN":
        inet_csk_listen_stop(m, sock)
        sock.sk_state = "CLOSE"
        icsk.put_port(m, sock)
        return
    if state in ("CLOSE", "SYN_SENT"):
        sock.sk_state = "CLOSE"
        icsk.put_port(m, sock)
        return
    if sock.recv_queue and state in ("ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2"):
        _send_reset(m, sock)                              # data was unread: RST, not FIN
        sock.sk_state = "CLOSE"
        icsk.put_port(m, sock)
        return
    if sock.opts.get("SO_LINGER"):
        if sock.opts.get("SO_LINGER_TIME", 0):
            raise icsk.not_modelled("close() waiting for the FIN's ACK (SO_LINGER with a time)")
        _send_reset(m, sock)                              # tcp_disconnect(): RST, not FIN
        sock.sk_state = "CLOSE"
        icsk.put_port(m, sock)
        return
    if state == "ESTABLISHED":
        tcp_send_fin(m, sock)                             # the end lingers in FIN_WAIT2
        return
    if state == "CLOSE_WAIT":
        tcp_send_fin(m, sock)                             # LAST_ACK -> CLOSE: the port goes
        icsk.put_port(m, sock)
        return
    # FIN_WAIT1/2: stays an orphan holding the port; CLOSE after TIME_WAIT: nothing left
    if state not in ("FIN_WAIT1", "FIN_WAIT2"):
        icsk.put_port(m, sock)
