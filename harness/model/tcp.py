"""net/ipv4/tcp.c: do_tcp_setsockopt() / do_tcp_getsockopt() at SOL_TCP (reached through
tcp_setsockopt/tcp_getsockopt for AF_INET and AF_INET6 TCP sockets; sock.py dispatches here).

Modelled: TCP_NODELAY, TCP_CORK (the option; not the data it holds back), TCP_MAXSEG (before the connection is set up), TCP_INFO (its length per
kernel, and what a listener or a closed socket shows in it), option numbers no kernel
defines. Other TCP options raise NotModelled.
"""
from __future__ import annotations

import errno as E
import struct

from ..abi import linux as L
from ..abi.markers import TCP_INFO_SIZE, value_is
from .rules import Predicate, rule
from .socket import NotModelled

TCP_MSS_DEFAULT = 536          # include/uapi/linux/tcp.h
TCP_CORK = 3                   # include/uapi/linux/tcp.h
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
    "net/ipv4/tcp.c do_tcp_getsockopt(): len = min_t(unsigned int, len, sizeof(int))",
    shows=('out.value', 'out.int', 'out.optlen'))
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
SET_CORK = rule(
    "setsockopt.tcp_cork", "0, corked iff val != 0",
    "TCP_CORK sets or clears TCP_NAGLE_CORK (partial segments are held); clearing it pushes "
    "what was held. Independent of TCP_NODELAY: each reads back its own bit.",
    "net/ipv4/tcp.c do_tcp_setsockopt() TCP_CORK -> __tcp_sock_set_cork(): nonagle |= / &= "
    "~TCP_NAGLE_CORK, tcp_push_pending_frames() (5.10 and 6.1); tcp(7) TCP_CORK")
GET_CORK = rule(
    "getsockopt.tcp_cork", "0 or 1",
    "TCP_CORK reads whether the socket is corked (0 on a new socket).",
    "net/ipv4/tcp.c do_tcp_getsockopt() TCP_CORK: val = !!(tp->nonagle & TCP_NAGLE_CORK); tcp(7)")
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
# min(*optlen, sizeof) bytes and writes that length back. The size is read from BTF where it
# can be (a backported field changes it); the release ranges are the fallback.
TCP_INFO_SIZES = (
    (232, rule("getsockopt.tcp_info_size_232", "*optlen = min(*optlen, 232)",
               "struct tcp_info ends with tcpi_snd_wnd: 232 bytes.",
               "include/uapi/linux/tcp.h struct tcp_info (6.1.192); net/ipv4/tcp.c "
               "do_tcp_getsockopt() TCP_INFO: len = min_t(unsigned int, len, sizeof(info))",
               until=(6, 2, 0), when=value_is(TCP_INFO_SIZE, 232))),
    (240, rule("getsockopt.tcp_info_size_240", "*optlen = min(*optlen, 240)",
               "tcpi_rcv_wnd and tcpi_rehash make struct tcp_info 240 bytes.",
               "include/uapi/linux/tcp.h ('tcp: add rcv_wnd and plb_rehash to TCP_INFO', v6.2)",
               since=(6, 2, 0), until=(6, 7, 0), when=value_is(TCP_INFO_SIZE, 240))),
    (248, rule("getsockopt.tcp_info_size_248", "*optlen = min(*optlen, 248)",
               "tcpi_total_rto, tcpi_total_rto_recoveries, tcpi_total_rto_time make struct "
               "tcp_info 248 bytes.",
               "include/uapi/linux/tcp.h struct tcp_info (6.12.117; 'tcp: new TCP_INFO stats for "
               "RTO events', v6.7)", since=(6, 7, 0), until=(6, 18, 0),
               when=value_is(TCP_INFO_SIZE, 248))),
    (280, rule("getsockopt.tcp_info_size_280", "*optlen = min(*optlen, 280)",
               "The Accurate ECN counters (tcpi_received_ce ... tcpi_accecn_opt_seen, 32 bytes) "
               "make struct tcp_info 280 bytes.",
               "include/uapi/linux/tcp.h (AccECN series, v6.18); observed 280 on 6.18.44",
               since=(6, 18, 0), when=value_is(TCP_INFO_SIZE, 280))),
)
TCP_INFO_LISTENER = rule(
    "getsockopt.tcp_info_listener", "tcpi_state = 10, tcpi_unacked = queued, tcpi_sacked = backlog",
    "For a listener TCP_INFO aliases tcpi_unacked to the connections waiting in accept() and "
    "tcpi_sacked to the backlog in effect.",
    "net/ipv4/tcp.c tcp_get_info(): if (info->tcpi_state == TCP_LISTEN) { tcpi_unacked = "
    "sk_ack_backlog; tcpi_sacked = sk_max_ack_backlog; }",
    shows=('out.value', 'listen_backlog', 'accept_queue'))
TCP_INFO_STATE = rule(
    "getsockopt.tcp_info_state", "tcpi_state = the TCP state",
    "TCP_INFO's first byte is the TCP state (include/net/tcp_states.h): TCP_CLOSE (7) before "
    "a connect or listen, TCP_ESTABLISHED (1) once connected ...",
    "net/ipv4/tcp.c tcp_get_info(): info->tcpi_state = inet_sk_state_load(sk)",
    shows=('out.value',))


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
    elif name == TCP_CORK:
        value, r = sock.opts.get("TCP_CORK", 0), GET_CORK
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
    if name == TCP_CORK:
        return _store(sock, "TCP_CORK", int(val != 0), SET_CORK)
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


# =========================================================================== the data path
#
# tcp_sendmsg_locked() and tcp_recvmsg_locked() on loopback. The bytes a send accepts reach the
# peer's receive queue within the call (Sock.recv_queue holds them; Sock.rcv_nxt and
# Sock.copied_seq count the bytes received and consumed, Sock.urg the urgent byte, Sock.rcv_fin
# the peer's FIN). Not modelled: flow control (a send the peer's window or our send buffer
# could cut short), Nagle/cork timing (unobservable here: recv reads across segments), a
# second urgent byte before the first was read, TCP_REPAIR, zerocopy, Fast Open.

from .rules import Exact, Outcome  # noqa: E402
from .state import RCV_SHUTDOWN, SEND_SHUTDOWN, Skb, Urg  # noqa: E402

WINDOW_MODELLED = 32768            # unread bytes a receiver may hold in the model

SEND_OK = rule(
    "send.tcp", "the length; the bytes reach the peer",
    "A connected TCP socket (ESTABLISHED or CLOSE_WAIT) queues the bytes at the peer; byte "
    "stream: several sends may be read as one.",
    "net/ipv4/tcp.c tcp_sendmsg_locked(); tcp(7)")
SEND_NOT_CONNECTED = rule(
    "send.tcp_not_connected", "EPIPE (and SIGPIPE)",
    "A TCP socket that is neither connected nor connecting (never connected, listening, "
    "after its own SHUT_WR or a reset) fails with EPIPE (a pending error first, consumed).",
    "net/core/stream.c sk_stream_wait_connect(): sock_error(), then (1 << sk_state) & "
    "~(TCPF_SYN_SENT | TCPF_SYN_RECV) -> -EPIPE; tcp(7), send(2) ERRORS EPIPE")
SEND_CONNECTING = rule(
    "send.tcp_connecting", "EAGAIN",
    "A non-blocking send while the SYN is unanswered.",
    "net/core/stream.c sk_stream_wait_connect(): if (!*timeo_p) return -EAGAIN")
SEND_SK_ERR = rule(
    "send.tcp_sk_err", "the pending error, consumed (no SIGPIPE unless it is EPIPE)",
    "A pending socket error (a reset: ECONNRESET, or EPIPE when the reset came in CLOSE_WAIT) "
    "is what the send reports; SIGPIPE only comes with EPIPE.",
    "net/core/stream.c sk_stream_error(): if (err == -EPIPE) err = sock_error(sk) ? : -EPIPE; "
    "net/ipv4/tcp_input.c tcp_reset(): TCP_CLOSE_WAIT -> EPIPE")
SEND_FAULT = rule(
    "send.tcp_fault", "EFAULT",
    "The data cannot be read: nothing is sent.",
    "net/ipv4/tcp.c tcp_sendmsg_locked(): skb_copy_to_page_nocache() -> -EFAULT, copied 0")
SEND_OOB = rule(
    "send.tcp_oob", "the length; the last byte is urgent",
    "MSG_OOB sends the data with the urgent pointer after its last byte: the peer reads that "
    "byte with recv(MSG_OOB), and an ordinary read stops before it and skips it.",
    "net/ipv4/tcp.c tcp_push() -> tcp_mark_urg(): tp->snd_up = tp->write_seq; "
    "net/ipv4/tcp_input.c tcp_check_urg(), tcp_urg(); tcp(7) Sockets API, urgent data")
SEND_TO_CLOSED = rule(
    "send.tcp_peer_closed", "the length; the peer answers with a reset",
    "Data to a peer that was closed (an orphan that shut its receive side) is answered with "
    "RST: the send succeeds, and the socket gets EPIPE (reset in CLOSE_WAIT) or ECONNRESET as "
    "its error and is closed.",
    "net/ipv4/tcp_input.c tcp_rcv_state_process(): FIN_WAIT1/2 with RCV_SHUTDOWN and new data "
    "-> tcp_reset(), RST; tcp_reset(): TCP_CLOSE_WAIT -> sk_err = EPIPE")
SEND_TO_READ_SHUT = rule(
    "send.tcp_peer_read_shut", "the length; both ends are reset",
    "Data to a peer that is still open but shut both its directions (FIN_WAIT1/2 with "
    "RCV_SHUTDOWN, after shutdown(SHUT_RDWR) or SHUT_RD then SHUT_WR) is answered with RST "
    "(RFC 1122): the send succeeds; the peer takes ECONNRESET as its error and is closed, and "
    "the sender, reset in turn, gets EPIPE (it was in CLOSE_WAIT) or ECONNRESET and is closed. "
    "A peer that shut only its receive side (ESTABLISHED) still queues the data.",
    "net/ipv4/tcp_input.c tcp_rcv_state_process(): case TCP_FIN_WAIT1/2: if (sk->sk_shutdown "
    "& RCV_SHUTDOWN) && new data -> LINUX_MIB_TCPABORTONDATA, tcp_reset(); return 1 -> "
    "tcp_v4_do_rcv() sends the RST; tcp_reset(): TCP_CLOSE_WAIT -> EPIPE, else ECONNRESET; "
    "shutdown(2), tcp(7)")

SEND_ADDR_IGNORED = rule(
    "send.tcp_addr_ignored", "as without the address",
    "A destination address given to sendto()/sendmsg() on a TCP socket is not looked at (only "
    "TCP Fast Open uses it): connected, the data goes to the peer whatever the address says "
    "(another port, another family, a malformed one); not connected, EPIPE as without one. "
    "send(2)'s EISCONN ('or the recipient specification is ignored') is never returned.",
    "net/ipv4/tcp.c tcp_sendmsg_locked(): msg->msg_name is read only by tcp_sendmsg_fastopen() "
    "(MSG_FASTOPEN or defer_connect); net/socket.c __sys_sendto() only bounds addr_len "
    "(move_addr_to_kernel); send(2) ERRORS EISCONN")
RECV_OK = rule(
    "recv.tcp", "the bytes available, up to the buffer",
    "A receive returns what is queued, up to the buffer size, across segment boundaries; "
    "recvfrom() reports no address (addrlen 0).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(); 'msg_name/msg_namelen are ignored on connected "
    "socket'; tcp(7)")
RECV_LISTEN = rule(
    "recv.tcp_listen", "ENOTCONN",
    "A listening socket cannot receive.",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): err = -ENOTCONN; if (sk->sk_state == TCP_LISTEN) "
    "goto out")
RECV_NOT_CONNECTED = rule(
    "recv.tcp_not_connected", "ENOTCONN",
    "A closed TCP socket with nothing queued, no EOF, no error and no shutdown.",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): if (sk->sk_state == TCP_CLOSE) copied = -ENOTCONN "
    "('user tries to read from never connected socket')")
RECV_EAGAIN = rule(
    "recv.tcp_eagain", "EAGAIN",
    "Nothing queued and the call may not wait.",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): if (!timeo) copied = -EAGAIN; recv(2) ERRORS EAGAIN")
RECV_EOF = rule(
    "recv.tcp_eof", "0",
    "After the queued bytes: 0 once the peer's FIN arrived, or the receive side was shut "
    "down (shutdown(SHUT_RD), a reset that was already reported).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): found_fin_ok / sock_flag(sk, SOCK_DONE) / "
    "sk->sk_shutdown & RCV_SHUTDOWN -> break; recv(2) RETURN VALUE")
RECV_SK_ERR = rule(
    "recv.tcp_sk_err", "the pending error (ECONNRESET), consumed",
    "With nothing queued and no FIN seen, a pending error is reported once; the queued bytes "
    "come first.",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): if (sk->sk_err) { copied = sock_error(sk); break; }")
RECV_TRUNC = rule(
    "recv.tcp_trunc_discards", "the number of bytes discarded",
    "MSG_TRUNC on TCP throws the bytes away instead of copying them (the buffer is not "
    "touched; with MSG_PEEK nothing is consumed).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): if (!(flags & MSG_TRUNC)) skb_copy_datagram_msg(); "
    "tcp(7) MSG_TRUNC")
RECV_PEEK = rule(
    "recv.stream_peek", "the bytes, left queued",
    "MSG_PEEK copies the queued bytes without consuming them (TCP, unix stream).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): seq = &peek_seq; net/unix/af_unix.c "
    "unix_stream_read_generic(); recv(2) MSG_PEEK")
RECV_FAULT = rule(
    "recv.stream_fault", "EFAULT; the bytes stay queued",
    "The buffer cannot be written: nothing is consumed (TCP, unix stream).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): if (!copied) copied = -EFAULT; break; "
    "net/unix/af_unix.c unix_stream_read_generic(): chunk < 0")
RECV_ZERO = rule(
    "recv.stream_zero_length", "0 (nothing consumed), EAGAIN when nothing is queued",
    "A zero-length receive on a stream returns 0 when bytes are queued and otherwise answers "
    "as a receive with nothing queued would (TCP; unix stream).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): do { ... } while (len > 0) copies 0; target = "
    "sock_rcvlowat() = 1")
RECV_WAITALL = rule(
    "recv.stream_waitall", "all the buffer, or what is there when the call may not wait",
    "MSG_WAITALL makes the target the whole buffer; without waiting (MSG_DONTWAIT) the bytes "
    "there are returned.",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): target = sock_rcvlowat(sk, flags & MSG_WAITALL, len); "
    "if (copied) { if (!timeo ...) break; }")
RECV_URG = rule(
    "recv.tcp_oob", "1, the urgent byte; msg_flags MSG_OOB",
    "recv(MSG_OOB) takes the urgent byte (MSG_PEEK leaves it); a zero-length buffer gets "
    "nothing and msg_flags MSG_TRUNC.",
    "net/ipv4/tcp.c tcp_recv_urg(): TCP_URG_VALID -> urg_data = TCP_URG_READ; msg_flags |= "
    "MSG_OOB; tcp(7)")
RECV_URG_NONE = rule(
    "recv.tcp_oob_einval", "EINVAL",
    "recv(MSG_OOB) with no urgent byte pending: none came, it was read already, or "
    "SO_OOBINLINE keeps it in the stream.",
    "net/ipv4/tcp.c tcp_recv_urg(): SOCK_URGINLINE || !tp->urg_data || tp->urg_data == "
    "TCP_URG_READ -> -EINVAL ('Yes this is right !')")
RECV_URG_MARK = rule(
    "recv.tcp_oob_mark", "the read stops at the urgent byte, then skips it",
    "An ordinary read stops before the urgent byte once it copied something; a read starting "
    "at it skips it (unless SO_OOBINLINE).",
    "net/ipv4/tcp.c tcp_recvmsg_locked(): 'Are we at urgent data? Stop if we have read "
    "anything'; urg_offset == 0 && !SOCK_URGINLINE -> *seq + 1, urg_hole++")


def _nm(why: str):
    return NotModelled(why)


def _err(rule_, err, apply=None, also=()):
    return Outcome(rule_, err, Exact(-1), {}, apply, tuple(also))


def _take_error(sock):
    def take(model, result, sock=sock):
        sock.take_error()
    return take


def tcp_sendmsg(m, sock, msg):
    """tcp_sendmsg() -> tcp_sendmsg_locked()."""
    from .socket import _with_also
    outcomes = _tcp_sendmsg(m, sock, msg)
    return _with_also(outcomes, (SEND_ADDR_IGNORED,)) if msg.name is not None else outcomes


def _tcp_sendmsg(m, sock, msg):
    from .socket import signal_outcome
    flags = msg.flags
    state = sock.sk_state
    if state not in ("ESTABLISHED", "CLOSE_WAIT"):
        # sk_stream_wait_connect(), then sk_stream_error()
        if sock.so_error:
            err = sock.so_error
            if err == E.EPIPE:
                return signal_outcome(m, SEND_SK_ERR, err, flags, _take_error(sock))
            return _err(SEND_SK_ERR, err, _take_error(sock))
        if state not in ("SYN_SENT", "SYN_RECV"):
            return signal_outcome(m, SEND_NOT_CONNECTED, E.EPIPE, flags)
        if msg.nonblock:
            return _err(SEND_CONNECTING, E.EAGAIN)
        raise _nm("a blocking send while the connection is being set up waits")
    if sock.so_error:                          # sk_stream_error(): sock_error(sk) ? : -EPIPE
        err = sock.so_error
        if err == E.EPIPE:
            return signal_outcome(m, SEND_SK_ERR, err, flags, _take_error(sock))
        return _err(SEND_SK_ERR, err, _take_error(sock))
    if sock.shutdown & SEND_SHUTDOWN:
        # (shutdown(SHUT_WR) of an ESTABLISHED or CLOSE_WAIT socket sends the FIN and leaves
        # that state at once on loopback: the socket is not ESTABLISHED/CLOSE_WAIT here)
        raise _nm("SEND_SHUTDOWN on an ESTABLISHED or CLOSE_WAIT socket")
    if msg.iter.faults():
        return _err(SEND_FAULT, E.EFAULT)
    n = msg.len
    if n == 0:
        return SEND_OK.ok(0)
    if sock.opts.get("TCP_CORK"):
        raise _nm("data held by TCP_CORK (pushed at uncork, or by the zero-window probe timer "
                  "after about 200 ms)")
    peer = sock.peer_sock
    if peer is None:
        raise _nm("a TCP peer the model does not hold")
    data = msg.iter.read()
    if peer.state != "closed" and peer.sk_state in ("FIN_WAIT1", "FIN_WAIT2") \
            and peer.shutdown & RCV_SHUTDOWN:
        def reset_both(model, result, sock=sock, peer=peer):
            from .af_inet import _tcp_done
            peer.so_error = E.ECONNRESET               # tcp_reset() in FIN_WAIT1/2
            peer.err_unprobed = True                   # the data reaches it asynchronously
            _tcp_done(model, peer)
            peer.peer_sock = None
            sock.so_error = E.EPIPE if sock.sk_state == "CLOSE_WAIT" else E.ECONNRESET
            sock.err_unprobed = True                   # the RST comes back asynchronously
            _tcp_done(model, sock)
            sock.peer_sock = None
        return SEND_TO_READ_SHUT.ok(n, apply=reset_both)
    if peer.state == "closed":
        if peer.sk_state not in ("FIN_WAIT1", "FIN_WAIT2"):
            raise _nm(f"data to a closed peer in {peer.sk_state}")

        def reset(model, result, sock=sock, peer=peer):
            from . import inet_connection_sock as icsk
            from .af_inet import _tcp_done
            icsk.put_port(model, peer)                 # the orphan resets and is gone
            peer.sk_state = "CLOSE"
            sock.so_error = E.EPIPE if sock.sk_state == "CLOSE_WAIT" else E.ECONNRESET
            sock.err_unprobed = True                   # the RST comes back asynchronously
            _tcp_done(model, sock)
            sock.peer_sock = None
        return SEND_TO_CLOSED.ok(n, apply=reset)
    if peer.sk_state not in ("ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV"):
        raise _nm(f"data to a peer in {peer.sk_state}")
    unread = peer.rcv_nxt - peer.copied_seq
    if unread + n > WINDOW_MODELLED:
        raise _nm("a TCP send the receive window may cut short")
    oob = bool(flags & L.MSG_OOB)
    if oob and peer.urg is not None:
        raise _nm("a second urgent byte while the first is pending")

    def deliver(model, result, peer=peer, data=data, oob=oob):
        start = peer.rcv_nxt
        peer.recv_queue.append(Skb(data))
        peer.rcv_nxt += len(data)
        if oob:
            peer.urg = Urg(start + len(data) - 1, data[-1:])
    return (SEND_OOB if oob else SEND_OK).ok(n, apply=deliver)


def _unread(sock) -> bytes:
    return b"".join(s.data for s in sock.recv_queue)


def _consume(sock, upto: int) -> None:
    """The receive queue after copied_seq moved to ``upto`` (bytes before it are gone)."""
    data = _unread(sock)[upto - sock.copied_seq:]
    sock.copied_seq = upto
    sock.recv_queue = [Skb(data)] if data else []
    if sock.urg is not None and sock.copied_seq > sock.urg.seq:
        sock.urg = None                                 # tp->urg_data = 0


def tcp_recvmsg(m, sock, rmsg):
    """tcp_recvmsg() -> tcp_recvmsg_locked()."""
    from . import errqueue
    from .socket import Received
    if rmsg.flags & errqueue.MSG_ERRQUEUE:           # inet_recv_error(), first of all
        return errqueue.recv_error(m, sock, rmsg)
    if sock.sk_state == "LISTEN":
        return _err(RECV_LISTEN, E.ENOTCONN)
    if rmsg.flags & L.MSG_OOB:
        return tcp_recv_urg(m, sock, rmsg)
    flags = rmsg.flags
    peek, trunc = bool(flags & L.MSG_PEEK), bool(flags & L.MSG_TRUNC)
    inline = bool(sock.opts.get("SO_OOBINLINE"))
    size = rmsg.size
    target = size if flags & L.MSG_WAITALL else min(1, size)
    target = target or 1
    stream = _unread(sock)
    base = sock.copied_seq
    seq, copied, length, written, also = base, 0, size, b"", []
    if size == 0:
        also.append(RECV_ZERO)
    if flags & L.MSG_WAITALL:
        also.append(RECV_WAITALL)
    while True:
        urg = sock.urg
        if urg is not None and urg.seq == seq and copied:
            also.append(RECV_URG_MARK)
            break
        avail = sock.rcv_nxt - seq
        if avail > 0:
            used = min(avail, length)
            if urg is not None and 0 <= urg.seq - seq < used:
                if urg.seq == seq:
                    if not inline:
                        seq += 1
                        used -= 1
                        also.append(RECV_URG_MARK)
                else:
                    used = urg.seq - seq
            if used:
                chunk = stream[seq - base:seq - base + used]
                if not trunc:
                    if rmsg.iter.write_faults(used, copied):
                        if not copied:
                            return _err(RECV_FAULT, E.EFAULT)
                        break
                    written += chunk
                seq += used
                copied += used
                length -= used
            if length <= 0:
                break
            continue
        # no byte at seq
        if sock.rcv_fin:
            break                                       # found_fin_ok / SOCK_DONE
        if copied >= target:
            break
        if copied:
            if rmsg.nonblock or sock.so_error or sock.sk_state == "CLOSE" or \
                    sock.shutdown & RCV_SHUTDOWN:
                break
            raise _nm("a blocking MSG_WAITALL receive waits for more")
        # an urgent byte skipped on the way is consumed even though the call fails
        skipped = _consumer(sock, seq, peek)
        if sock.so_error:
            def take_err(model, result, skipped=skipped, sock=sock):
                skipped(model, result)
                sock.take_error()
            return _err(RECV_SK_ERR, sock.so_error, take_err, also)
        if sock.shutdown & RCV_SHUTDOWN:
            break
        if sock.sk_state == "CLOSE":
            return _err(RECV_NOT_CONNECTED, E.ENOTCONN, skipped, also)
        if rmsg.nonblock:
            return _err(RECV_EAGAIN, E.EAGAIN, skipped, also)
        raise _nm("a blocking TCP receive on an empty queue waits")
    rule_ = RECV_OK
    if copied == 0 and not avail_at(sock, seq):
        rule_ = RECV_EOF
    if trunc:
        also.append(RECV_TRUNC)
    if peek:
        also.append(RECV_PEEK)

    return Received(rule_, copied, written, None, 0, _consumer(sock, seq, peek),
                    tuple(dict.fromkeys(also)))


def _consumer(sock, seq: int, peek: bool):
    def take(model, result, sock=sock, seq=seq):
        if not peek:
            _consume(sock, seq)
    return take


def avail_at(sock, seq: int) -> bool:
    return sock.rcv_nxt - seq > 0


def tcp_recv_urg(m, sock, rmsg):
    """tcp_recv_urg()."""
    from .socket import Received
    urg = sock.urg
    if sock.opts.get("SO_OOBINLINE") or urg is None or urg.read:
        return _err(RECV_URG_NONE, E.EINVAL)
    if sock.sk_state == "CLOSE" and not sock.rcv_fin:
        raise _nm("recv(MSG_OOB) on a closed socket with urgent data (ENOTCONN)")
    peek = bool(rmsg.flags & L.MSG_PEEK)

    def mark(model, result, urg=urg):
        if not peek:
            urg.read = True
    if rmsg.size > 0:
        if not rmsg.flags & L.MSG_TRUNC and rmsg.iter.write_faults(1):
            return _err(RECV_FAULT, E.EFAULT, mark)
        written = b"" if rmsg.flags & L.MSG_TRUNC else urg.byte
        return Received(RECV_URG, 1, written, None, L.MSG_OOB, mark,
                        (RECV_PEEK,) if peek else ())
    return Received(RECV_URG, 0, b"", None, L.MSG_OOB | L.MSG_TRUNC, mark)
