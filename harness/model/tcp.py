"""net/ipv4/tcp.c: do_tcp_setsockopt() / do_tcp_getsockopt() at SOL_TCP (reached through
tcp_setsockopt/tcp_getsockopt for AF_INET and AF_INET6 TCP sockets; sock.py dispatches here).

Modelled: TCP_NODELAY, TCP_MAXSEG (before the connection is set up), TCP_INFO (its length per
kernel, and what a listener or a closed socket shows in it), option numbers no kernel
defines. Other TCP options raise NotModelled.
"""
from __future__ import annotations

import errno as E
import struct

from ..abi import linux as L
from .rules import Predicate, rule
from .socket import NotModelled

TCP_MSS_DEFAULT = 536          # include/uapi/linux/tcp.h
TCP_MIN_MSS = 88               # include/net/tcp.h
MAX_TCP_WINDOW = 32767
# include/net/tcp_states.h, by the names Sock.sk_state holds
TCP_STATES = {"ESTABLISHED": 1, "SYN_SENT": 2, "SYN_RECV": 3, "FIN_WAIT1": 4, "FIN_WAIT2": 5,
              "TIME_WAIT": 6, "CLOSE": 7, "CLOSE_WAIT": 8, "LAST_ACK": 9, "LISTEN": 10,
              "CLOSING": 11}
TCP_LISTEN = TCP_STATES["LISTEN"]
STRING_OPTIONS = (13, 31, 33)  # TCP_CONGESTION, TCP_ULP, TCP_FASTOPEN_KEY: not ints

GET_OPTLEN_FAULT = rule(
    "getsockopt.tcp_optlen_fault", "EFAULT",
    "*optlen cannot be read (SOL_TCP).",
    "net/ipv4/tcp.c do_tcp_getsockopt(): copy_from_sockptr(&len, optlen) -> -EFAULT")
GET_OPTLEN_NEGATIVE = rule(
    "getsockopt.tcp_optlen_negative", "EINVAL",
    "*optlen < 0 at SOL_TCP (checked before the option).",
    "net/ipv4/tcp.c do_tcp_getsockopt(): if (len < 0) return -EINVAL; tcp(7)")
GET_UNKNOWN = rule(
    "getsockopt.tcp_unknown_option", "ENOPROTOOPT",
    "A SOL_TCP option do_tcp_getsockopt() does not know.",
    "net/ipv4/tcp.c do_tcp_getsockopt(): default: return -ENOPROTOOPT; tcp(7) ERRORS")
GET_FAULT = rule(
    "getsockopt.tcp_fault", "EFAULT, *optlen already written",
    "The value cannot be written; do_tcp_getsockopt() writes *optlen first, so it holds the "
    "length the copy would have had.",
    "net/ipv4/tcp.c do_tcp_getsockopt(): copy_to_sockptr(optlen, &len) before "
    "copy_to_sockptr(optval, &val, len)")
GET_INT = rule(
    "getsockopt.tcp_int", "*optlen = min(*optlen, 4) bytes of the value",
    "An int SOL_TCP option: the length is cut to sizeof(int) (0 copies nothing).",
    "net/ipv4/tcp.c do_tcp_getsockopt(): len = min_t(unsigned int, len, sizeof(int))")
GET_NODELAY = rule(
    "getsockopt.tcp_nodelay", "0 or 1",
    "TCP_NODELAY reads whether Nagle is off (0 on a new socket).",
    "net/ipv4/tcp.c do_tcp_getsockopt() TCP_NODELAY: !!(tp->nonagle & TCP_NAGLE_OFF); tcp(7)")
GET_MAXSEG = rule(
    "getsockopt.tcp_maxseg", "536, or the TCP_MAXSEG set",
    "A new socket's TCP_MAXSEG reads mss_cache = TCP_MSS_DEFAULT (536), a listener's too; the "
    "user MSS set with setsockopt wins on closed and listening sockets.",
    "net/ipv4/tcp.c tcp_init_sock(): mss_cache = TCP_MSS_DEFAULT; do_tcp_getsockopt() "
    "TCP_MAXSEG: user_mss if (TCPF_CLOSE | TCPF_LISTEN); tcp(7) TCP_MAXSEG")
SET_OPTLEN_SHORT = rule(
    "setsockopt.tcp_optlen_short", "EINVAL",
    "An int SOL_TCP option with optlen < sizeof(int).",
    "net/ipv4/tcp.c do_tcp_setsockopt(): if (optlen < sizeof(int)) return -EINVAL")
SET_FAULT = rule(
    "setsockopt.tcp_fault", "EFAULT",
    "The SOL_TCP value cannot be read.",
    "net/ipv4/tcp.c do_tcp_setsockopt(): copy_from_sockptr(&val, optval) -> -EFAULT")
SET_UNKNOWN = rule(
    "setsockopt.tcp_unknown_option", "ENOPROTOOPT",
    "A SOL_TCP option do_tcp_setsockopt() does not know.",
    "net/ipv4/tcp.c do_tcp_setsockopt(): default: err = -ENOPROTOOPT")
SET_NODELAY = rule(
    "setsockopt.tcp_nodelay", "0, Nagle off iff val != 0",
    "TCP_NODELAY turns Nagle's algorithm off (any non-zero int) or back on.",
    "net/ipv4/tcp.c __tcp_sock_set_nodelay(); tcp(7) TCP_NODELAY")
SET_MAXSEG = rule(
    "setsockopt.tcp_maxseg", "0, user_mss = val",
    "TCP_MAXSEG sets the user MSS (0 resets it).",
    "net/ipv4/tcp.c do_tcp_setsockopt() TCP_MAXSEG: tp->rx_opt.user_mss = val; tcp(7)")
SET_MAXSEG_RANGE = rule(
    "setsockopt.tcp_maxseg_range", "EINVAL",
    "A non-zero TCP_MAXSEG outside TCP_MIN_MSS..MAX_TCP_WINDOW (88..32767; compared as "
    "unsigned, so negative values too).",
    "net/ipv4/tcp.c do_tcp_setsockopt(): val && (val < TCP_MIN_MSS || val > MAX_TCP_WINDOW)")

# sizeof(struct tcp_info): every kernel appends fields, and TCP_INFO copies
# min(*optlen, sizeof) bytes and writes that length back.
TCP_INFO_SIZES = (
    (232, rule("getsockopt.tcp_info_size_232", "*optlen = min(*optlen, 232)",
               "struct tcp_info ends with tcpi_snd_wnd: 232 bytes.",
               "include/uapi/linux/tcp.h struct tcp_info (6.1.192); net/ipv4/tcp.c "
               "do_tcp_getsockopt() TCP_INFO: len = min_t(unsigned int, len, sizeof(info))",
               until=(6, 2, 0))),
    (240, rule("getsockopt.tcp_info_size_240", "*optlen = min(*optlen, 240)",
               "tcpi_rcv_wnd and tcpi_rehash make struct tcp_info 240 bytes.",
               "include/uapi/linux/tcp.h ('tcp: add rcv_wnd and plb_rehash to TCP_INFO', v6.2)",
               since=(6, 2, 0), until=(6, 7, 0))),
    (248, rule("getsockopt.tcp_info_size_248", "*optlen = min(*optlen, 248)",
               "tcpi_total_rto, tcpi_total_rto_recoveries, tcpi_total_rto_time make struct "
               "tcp_info 248 bytes.",
               "include/uapi/linux/tcp.h struct tcp_info (6.12.117; 'tcp: new TCP_INFO stats for "
               "RTO events', v6.7)", since=(6, 7, 0), until=(6, 18, 0))),
    (280, rule("getsockopt.tcp_info_size_280", "*optlen = min(*optlen, 280)",
               "The Accurate ECN counters (tcpi_received_ce ... tcpi_accecn_opt_seen, 32 bytes) "
               "make struct tcp_info 280 bytes.",
               "include/uapi/linux/tcp.h (AccECN series, v6.18); observed 280 on 6.18.44",
               since=(6, 18, 0))),
)
TCP_INFO_LISTENER = rule(
    "getsockopt.tcp_info_listener", "tcpi_state = 10, tcpi_unacked = queued, tcpi_sacked = backlog",
    "For a listener TCP_INFO aliases tcpi_unacked to the connections waiting in accept() and "
    "tcpi_sacked to the backlog in effect.",
    "net/ipv4/tcp.c tcp_get_info(): if (info->tcpi_state == TCP_LISTEN) { tcpi_unacked = "
    "sk_ack_backlog; tcpi_sacked = sk_max_ack_backlog; }")
TCP_INFO_STATE = rule(
    "getsockopt.tcp_info_state", "tcpi_state = the TCP state",
    "TCP_INFO's first byte is the TCP state (include/net/tcp_states.h): TCP_CLOSE (7) before "
    "a connect or listen, TCP_ESTABLISHED (1) once connected ...",
    "net/ipv4/tcp.c tcp_get_info(): info->tcpi_state = inet_sk_state_load(sk)")


def tcp_info_size(m) -> tuple[int, object]:
    for size, r in TCP_INFO_SIZES:
        if m.holds(r):
            return size, r
    raise NotModelled(f"sizeof(struct tcp_info) on {m.version}")


def never_defined(name: int) -> bool:
    return name <= 0 or name >= 100


def do_tcp_getsockopt(m, sock, name: int, out):
    len_ = out.read_len()
    if len_ is None:
        return GET_OPTLEN_FAULT.fail(E.EFAULT)
    if len_ < 0:
        return GET_OPTLEN_NEGATIVE.fail(E.EINVAL, **out.unchanged())
    if name == L.TCP_INFO:
        return tcp_info(m, sock, out, len_)
    n = min(len_, 4)
    if name == L.TCP_NODELAY:
        value, r = sock.opts.get("TCP_NODELAY", 0), GET_NODELAY
    elif name == L.TCP_MAXSEG:
        if not (sock.listening or (sock.state == "unconnected" and sock.local is None)):
            raise NotModelled("TCP_MAXSEG after bind/connect (a connect attempt sets the path MSS)")
        value, r = sock.opts.get("TCP_MAXSEG") or TCP_MSS_DEFAULT, GET_MAXSEG
    elif never_defined(name):
        return GET_UNKNOWN.fail(E.ENOPROTOOPT, **out.unchanged())
    else:
        raise NotModelled(f"SOL_TCP option {name}")
    shown = out.shown(n, struct.pack("=i", value))
    if not out.writable(n):
        return GET_FAULT.fail(E.EFAULT, **({"optlen": n} if "optlen" in shown else {}))
    return r.ok(0, also=(GET_INT,), **shown)


def tcp_info(m, sock, out, len_: int):
    size, size_rule = tcp_info_size(m)
    n = min(len_, size)
    shown = out.shown(n, None)
    if not out.writable(n):
        return GET_FAULT.fail(E.EFAULT, **shown)
    also, fields = (), {}
    if sock.listening:
        fields = {"state": TCP_LISTEN, "unacked": len(sock.accept_queue), "sacked": sock.backlog}
        also = (TCP_INFO_LISTENER,)
    elif TCP_STATES.get(getattr(sock, "sk_state", None)) is not None:
        fields = {"state": TCP_STATES[sock.sk_state]}
        also = (TCP_INFO_STATE,)
    if "optlen" in shown and out.val_ptr is None:
        shown["value"] = Predicate(lambda b, f=fields, n=n: _tcp_info_matches(b, f, n),
                                   _describe(fields, n))
    return size_rule.ok(0, also=also, **shown)


def _tcp_info_matches(data: bytes, fields: dict, n: int) -> bool:
    if len(data) != n:
        return False
    full = data.ljust(32, b"\0")
    state = full[0]
    unacked, sacked = struct.unpack_from("=II", full, 24)
    got = {"state": state, "unacked": unacked, "sacked": sacked}
    limits = {"state": 1, "unacked": 28, "sacked": 32}    # the bytes a field needs to be seen
    return all(got[k] == v for k, v in fields.items() if v is not None and n >= limits[k])


def _describe(fields: dict, n: int) -> str:
    shown = ", ".join(f"tcpi_{k} = {v}" for k, v in fields.items())
    return f"{n} bytes of struct tcp_info" + (f" with {shown}" if shown else "")


def do_tcp_setsockopt(m, sock, name: int, opt):
    if name in STRING_OPTIONS:
        raise NotModelled(f"SOL_TCP string option {name}")
    if opt.optlen < 4:
        return SET_OPTLEN_SHORT.fail(E.EINVAL)
    raw = opt.read(4)
    if raw is None:
        return SET_FAULT.fail(E.EFAULT)
    val = struct.unpack("=i", raw)[0]
    if name == L.TCP_NODELAY:
        return _store(sock, "TCP_NODELAY", int(val != 0), SET_NODELAY)
    if name == L.TCP_MAXSEG:
        if val and not (TCP_MIN_MSS <= (val & 0xFFFFFFFF) <= MAX_TCP_WINDOW):
            return SET_MAXSEG_RANGE.fail(E.EINVAL)
        return _store(sock, "TCP_MAXSEG", val, SET_MAXSEG)
    if never_defined(name):
        return SET_UNKNOWN.fail(E.ENOPROTOOPT)
    raise NotModelled(f"SOL_TCP option {name}")


def _store(sock, key, value, rule_):
    def store(model, result, sock=sock, key=key, value=value):
        sock.opts[key] = value
    return rule_.ok(0, apply=store)
