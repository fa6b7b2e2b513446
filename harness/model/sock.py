"""net/core/sock.c: sock_setsockopt() / sk_getsockopt() at SOL_SOCKET; net/socket.c's
do_sock_setsockopt() / do_sock_getsockopt() around them; and where another level goes: the
family's ops->setsockopt / ops->getsockopt (ip_sockglue.c, ipv6_sockglue.c, af_netlink.c,
af_packet.c, and tcp.py for SOL_TCP), or EOPNOTSUPP when the proto_ops has none (AF_UNIX).

The net/socket.c entries (__sys_setsockopt, __sys_getsockopt in socket.py) call
sys_setsockopt and sys_getsockopt here. Option values live in ``Sock.opts`` under the option's
name ("SO_REUSEADDR": 0/1, "SO_RCVBUF": the doubled value, ...); a missing key is the default.

Modelled at SOL_SOCKET: the flags, buffers, SO_PRIORITY, SO_MARK, SO_PASSCRED/SO_PASSPIDFD,
SO_BINDTODEVICE, SO_LINGER (and a zero linger's reset on close, af_inet.py), SO_RCVTIMEO/
SO_SNDTIMEO in both layouts (and a receive timing out, socket.py), SO_RCVLOWAT, SO_PEERCRED,
SO_PEERSEC (ENOPROTOOPT, or an unpredicted context under SELinux), SO_PEERPIDFD without a
peer; at SOL_IPV6: IPV6_V6ONLY; at SOL_IP: IP_TOS (AF_INET); IP_RECVERR / IPV6_RECVERR
(errqueue.py).

Not modelled (NotModelled): other SOL_SOCKET options (filters, timestamping, busy poll ...);
a negative l_linger and close() lingering with a time; timeouts that are not whole ticks
(the profile does not know CONFIG_HZ) or of a 32-bit caller (old_timeval32); SO_PEERCRED of a
unix socket that listened or connected (only a socketpair records the creds in the model);
SO_PEERPIDFD with a peer (it installs a pidfd); the receive buffer after
TCP's SO_RCVLOWAT grew it; SOL_IP/SOL_UDP/SOL_NETLINK/SOL_PACKET options and SOL_IPV6 ones but
IPV6_V6ONLY and SOL_IP ones but IP_TOS (only their level dispatch is), and SO_PRIORITY
after IP_TOS rewrote it (rt_tos2priority()); MPTCP sockets (their SOL_SOCKET handler is
custom); and raw user pointers that are readable (the model cannot see their contents).
"""
from __future__ import annotations

import errno as E
import struct

from ..abi import linux as L
from ..abi.markers import LSM_SELINUX, SK_SCM_CREDENTIALS, has
from ..mem import Buffer, Ptr
from .rules import Exact, Outcome, Range, rule
from .socket import NotModelled, is_error, sockfd_lookup_light, user_read, user_writes

# Option numbers missing from harness.abi.linux (include/uapi/asm-generic/socket.h, linux/socket.h).
SO_MARK = 36
SO_PASSPIDFD = 76           # since 6.5 ("af_unix: Add SO_PASSPIDFD and SO_PEERPIDFD")
IP_TOS = 1                  # include/uapi/linux/in.h
SO_PEERSEC = 31
SO_RCVTIMEO_NEW = 66        # since 5.1 (struct __kernel_sock_timeval)
SO_SNDTIMEO_NEW = 67
SO_PEERPIDFD = 77           # since 6.5
SOL_RAW = 255
SOL_NETLINK = 270
INT_MAX = 0x7FFFFFFF
IFNAMSIZ = 16

# --------------------------------------------------------------------------- net/socket.c

SET_OPTLEN_NEGATIVE_FIRST = rule(
    "setsockopt.optlen_negative_before_fd", "EINVAL",
    "optlen < 0 is refused before the descriptor is looked up: a negative optlen on a bad fd "
    "answers EINVAL, not EBADF/ENOTSOCK.",
    "net/socket.c __sys_setsockopt() (6.1.192 l.2258): if (optlen < 0) return -EINVAL; before "
    "sockfd_lookup_light(); setsockopt(2) ERRORS EINVAL",
    until=(6, 7, 0))
SET_OPTLEN_NEGATIVE = rule(
    "setsockopt.optlen_negative", "EINVAL",
    "optlen < 0 is refused after the descriptor is looked up (do_sock_setsockopt): a bad fd "
    "answers EBADF/ENOTSOCK first.",
    "net/socket.c do_sock_setsockopt() (6.12.117 l.2286), split out of __sys_setsockopt by "
    "'net/socket: Break down __sys_setsockopt' (Breno Leitao, the io_uring sockopt series that "
    "liburing's io_uring_prep_cmd(3) dates 'since 6.7'); observed on 6.18.44; setsockopt(2)",
    since=(6, 7, 0))
SET_NO_OPS = rule(
    "setsockopt.level_unsupported", "EOPNOTSUPP",
    "A level other than SOL_SOCKET on a socket whose proto_ops has no setsockopt (AF_UNIX, "
    "SOCK_PACKET): refused whatever the option or length.",
    "net/socket.c do_sock_setsockopt(): unlikely(!ops->setsockopt) -> -EOPNOTSUPP")
GET_NO_OPS = rule(
    "getsockopt.level_unsupported", "EOPNOTSUPP",
    "A level other than SOL_SOCKET on a socket whose proto_ops has no getsockopt (AF_UNIX, "
    "SOCK_PACKET).",
    "net/socket.c do_sock_getsockopt() / 6.1 __sys_getsockopt(): !ops->getsockopt -> -EOPNOTSUPP")

# --------------------------------------------------------------------------- sk_setsockopt

SET_OPTLEN_SHORT = rule(
    "setsockopt.optlen_short", "EINVAL",
    "At SOL_SOCKET every option but SO_BINDTODEVICE reads an int: optlen < sizeof(int) is "
    "refused before the option is even looked at (an unknown option too).",
    "net/core/sock.c sk_setsockopt(): if (optlen < sizeof(int)) return -EINVAL; setsockopt(2)")
SET_FAULT = rule(
    "setsockopt.fault", "EFAULT",
    "The option value cannot be read; checked before the option is looked at.",
    "net/core/sock.c sk_setsockopt(): copy_from_sockptr(&val, optval, sizeof(val)) -> -EFAULT; "
    "setsockopt(2) ERRORS EFAULT")
SET_READ_ONLY = rule(
    "setsockopt.read_only", "ENOPROTOOPT",
    "SO_TYPE, SO_PROTOCOL, SO_DOMAIN and SO_ERROR can be read, not set.",
    "net/core/sock.c sk_setsockopt(): case SO_TYPE/SO_PROTOCOL/SO_DOMAIN/SO_ERROR: -ENOPROTOOPT")
SET_UNKNOWN = rule(
    "setsockopt.unknown_option", "ENOPROTOOPT",
    "An option sk_setsockopt() does not know (including read-only ones it has no case for: "
    "SO_ACCEPTCONN, SO_SNDLOWAT, SO_PEERCRED, and numbers no kernel defines).",
    "net/core/sock.c sk_setsockopt(): default: ret = -ENOPROTOOPT; setsockopt(2) ERRORS "
    "ENOPROTOOPT; socket(7) SO_SNDLOWAT 'not changeable on Linux'")
SET_FLAG = rule(
    "setsockopt.flag", "0, the flag = (val != 0)",
    "A boolean option (SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE, "
    "SO_DEBUG, SO_REUSEPORT) stores whether the int is non-zero.",
    "net/core/sock.c sk_setsockopt(): valbool = val ? 1 : 0; sk->sk_reuse, sock_valbool_flag(); "
    "socket(7)")
SET_DEBUG_EACCES = rule(
    "setsockopt.debug_needs_net_admin", "EACCES",
    "Turning SO_DEBUG on needs CAP_NET_ADMIN (turning it off does not).",
    "net/core/sock.c sk_setsockopt(): SO_DEBUG: val && !sockopt_capable(CAP_NET_ADMIN) -> -EACCES; "
    "socket(7) SO_DEBUG")
SET_REUSEPORT_NOT_INET = rule(
    "setsockopt.reuseport_not_inet", "EOPNOTSUPP",
    "Turning SO_REUSEPORT on is refused for a socket that is not AF_INET/AF_INET6. Before, "
    "any socket stored the flag (setsockopt.flag).",
    "net/core/sock.c sk_setsockopt(): SO_REUSEPORT: valbool && !sk_is_inet(sk) -> -EOPNOTSUPP; "
    "'net: restrict SO_REUSEPORT to inet sockets' (Eric Dumazet, net, January 2025, "
    "CVE-2024-57903), v6.13; in stable 6.12.9 and 6.1.124 (Debian's kernel changelogs) and "
    "6.6.70 (stable review of 2025-01-06); absent from Debian's 5.10.223, which stores the flag",
    since=(6, 13, 0), backports=((6, 1, 124), (6, 6, 70), (6, 12, 9)))
SET_BUF = rule(
    "setsockopt.buf", "0, the buffer = max(2 * min((u32)val, max), floor)",
    "SO_SNDBUF/SO_RCVBUF: the value is clamped (as unsigned, so a negative one is huge) to "
    "net.core.wmem_max/rmem_max, doubled for bookkeeping overhead, and raised to "
    "SOCK_MIN_SNDBUF/SOCK_MIN_RCVBUF.",
    "net/core/sock.c sk_setsockopt() SO_SNDBUF (min_t(u32, val, sysctl_wmem_max), max_t(val * 2, "
    "SOCK_MIN_SNDBUF)), __sock_set_rcvbuf(); socket(7) SO_RCVBUF 'doubles the value'")
BUF_CLAMPED = rule(
    "setsockopt.buf_clamped_to_max", "buffer = 2 * net.core.{r,w}mem_max",
    "A SO_SNDBUF/SO_RCVBUF value above net.core.wmem_max/rmem_max (or negative) is cut to it.",
    "net/core/sock.c sk_setsockopt(): min_t(u32, val, READ_ONCE(sysctl_wmem_max)); socket(7)",
    shows=('out.int', 'out.value'))
BUF_FLOOR = rule(
    "setsockopt.buf_floor", "buffer = SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF",
    "A doubled buffer size below the minimum is raised to it: on x86_64/arm64 (64-byte cache "
    "lines, sizeof(struct sk_buff) 193..256 bytes) SOCK_MIN_RCVBUF = 2048 + 256 = 2304 and "
    "SOCK_MIN_SNDBUF = 2 * 2304 = 4608, the same in 6.1, 6.12 and 6.18.",
    "include/net/sock.h TCP_SKB_MIN_TRUESIZE (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))), "
    "SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF; socket(7) SO_RCVBUF 'minimum (doubled) value'",
    shows=('out.int', 'out.value'))
SET_BUFFORCE = rule(
    "setsockopt.bufforce", "0, the buffer = max(2 * min(max(val, 0), INT_MAX / 2), floor)",
    "SO_SNDBUFFORCE/SO_RCVBUFFORCE ignore the wmem_max/rmem_max limits; a negative value "
    "counts as 0.",
    "net/core/sock.c sk_setsockopt(): SO_SNDBUFFORCE/SO_RCVBUFFORCE; socket(7) SO_RCVBUFFORCE")
SET_BUFFORCE_EPERM = rule(
    "setsockopt.bufforce_needs_net_admin", "EPERM",
    "SO_SNDBUFFORCE/SO_RCVBUFFORCE need CAP_NET_ADMIN.",
    "net/core/sock.c sk_setsockopt(): !sockopt_capable(CAP_NET_ADMIN) -> -EPERM; socket(7)")
SET_PRIORITY = rule(
    "setsockopt.priority", "0, sk_priority = val",
    "SO_PRIORITY stores the value; 0..6 need no privilege.",
    "net/core/sock.c sk_setsockopt() SO_PRIORITY; socket(7) SO_PRIORITY")
SET_PRIORITY_EPERM = rule(
    "setsockopt.priority_needs_cap", "EPERM",
    "SO_PRIORITY outside 0..6 needs CAP_NET_RAW or CAP_NET_ADMIN.",
    "net/core/sock.c sk_setsockopt(): !(val >= 0 && val <= 6) && !CAP_NET_RAW && !CAP_NET_ADMIN "
    "-> -EPERM; socket(7) SO_PRIORITY")
SET_MARK = rule(
    "setsockopt.mark", "0, sk_mark = val",
    "SO_MARK stores the mark.",
    "net/core/sock.c sk_setsockopt() SO_MARK -> __sock_set_mark(); socket(7) SO_MARK")
SET_MARK_EPERM = rule(
    "setsockopt.mark_needs_cap", "EPERM",
    "SO_MARK needs CAP_NET_RAW or CAP_NET_ADMIN, whatever the value (0 included).",
    "net/core/sock.c sk_setsockopt(): SO_MARK: !CAP_NET_RAW && !CAP_NET_ADMIN -> -EPERM")
SET_PASSCRED = rule(
    "setsockopt.passcred", "0, the flag = (val != 0)",
    "SO_PASSCRED sets or clears the socket's SOCK_PASSCRED flag.",
    "net/core/sock.c sk_setsockopt() SO_PASSCRED; unix(7) SO_PASSCRED")
_PASSCRED_CITE = ("net/core/sock.c sk_setsockopt()/sk_getsockopt(): !sk_may_scm_recv(sk) -> "
                  "-EOPNOTSUPP (commit 7d8d93fdde50b 'net: Restrict SO_PASS{CRED,PIDFD,SEC} to "
                  "AF_{UNIX,NETLINK,BLUETOOTH}', net-next May 2025, v6.16); absent from 6.12.117; "
                  "observed on 6.18.44. Marker: struct sock's sk_scm_credentials bit, from the "
                  "same series ('af_unix: Move SOCK_PASS{CRED,PIDFD,SEC} to struct sock.')")
PASSCRED_RESTRICTED = rule(
    "setsockopt.passcred_restricted", "EOPNOTSUPP",
    "Since 6.16 setting SO_PASSCRED is refused on sockets that cannot receive SCM_CREDENTIALS: "
    "everything but AF_UNIX, AF_NETLINK (and AF_BLUETOOTH).", _PASSCRED_CITE, since=(6, 16, 0),
    when=has(SK_SCM_CREDENTIALS))
GET_PASSCRED_RESTRICTED = rule(
    "getsockopt.passcred_restricted", "EOPNOTSUPP",
    "Since 6.16 reading SO_PASSCRED is refused likewise.", _PASSCRED_CITE, since=(6, 16, 0),
    when=has(SK_SCM_CREDENTIALS))
SET_PASSPIDFD = rule(
    "setsockopt.passpidfd", "0, the flag = (val != 0)",
    "SO_PASSPIDFD (76) exists since 6.5; before, it is an unknown option (ENOPROTOOPT).",
    "net/core/sock.c sk_setsockopt() SO_PASSPIDFD (6.12.117 l.1213; absent from 6.1.192) "
    "('af_unix: Add SO_PASSPIDFD and SO_PEERPIDFD', v6.5); unix(7) SO_PASSPIDFD. No marker: "
    "pidfd_prepare() of the same series was backported to 6.1 stable without SO_PASSPIDFD "
    "(Debian 6.1.176 has the symbol and answers ENOPROTOOPT)", since=(6, 5, 0))
PASSPIDFD_RESTRICTED = rule(
    "setsockopt.passpidfd_restricted", "EOPNOTSUPP",
    "Since 6.16 setting SO_PASSPIDFD is refused on every socket but AF_UNIX.",
    _PASSCRED_CITE.replace("!sk_may_scm_recv(sk)", "!sk_is_unix(sk)"), since=(6, 16, 0),
    when=has(SK_SCM_CREDENTIALS))
GET_PASSPIDFD_RESTRICTED = rule(
    "getsockopt.passpidfd_restricted", "EOPNOTSUPP",
    "Since 6.16 reading SO_PASSPIDFD is refused likewise.",
    _PASSCRED_CITE.replace("!sk_may_scm_recv(sk)", "!sk_is_unix(sk)"), since=(6, 16, 0),
    when=has(SK_SCM_CREDENTIALS))
SET_BINDTODEVICE = rule(
    "setsockopt.bindtodevice", "0, sk_bound_dev_if = the device's ifindex (0: unbound)",
    "SO_BINDTODEVICE takes a device name of optlen bytes (cut to IFNAMSIZ-1), not an int: "
    "optlen 0 or an empty name unbinds. It is the one SOL_SOCKET option exempt from the "
    "optlen < sizeof(int) check.",
    "net/core/sock.c sock_setbindtodevice() (called before the optlen check) -> "
    "sock_bindtoindex_locked(); socket(7) SO_BINDTODEVICE")
SET_BINDTODEVICE_ENODEV = rule(
    "setsockopt.bindtodevice_enodev", "ENODEV",
    "SO_BINDTODEVICE with a name no device in the socket's namespace has.",
    "net/core/sock.c sock_setbindtodevice(): dev_get_by_name_rcu() == NULL -> -ENODEV")
SET_BINDTODEVICE_EPERM = rule(
    "setsockopt.bindtodevice_rebind_needs_net_raw", "EPERM",
    "Changing (or clearing) the device of an already bound socket needs CAP_NET_RAW; the first "
    "binding does not.",
    "net/core/sock.c sock_bindtoindex_locked(): sk->sk_bound_dev_if && !ns_capable(CAP_NET_RAW) "
    "-> -EPERM; socket(7) SO_BINDTODEVICE")
SET_BINDTODEVICE_FAULT = rule(
    "setsockopt.bindtodevice_fault", "EFAULT",
    "The device name cannot be read.",
    "net/core/sock.c sock_setbindtodevice(): copy_from_sockptr(devname, optval, optlen) -> -EFAULT")

SET_LINGER = rule(
    "setsockopt.linger", "0; l_onoff != 0: SOCK_LINGER on, the time = l_linger; 0: off, the time kept",
    "SO_LINGER takes a struct linger {int l_onoff; int l_linger} (8 bytes): a non-zero l_onoff "
    "turns lingering on with l_linger seconds (kept as l_linger * HZ jiffies); l_onoff 0 turns "
    "it off and leaves the stored time alone. Bytes past the 8 are ignored.",
    "net/core/sock.c sk_setsockopt() SO_LINGER (5.10 sock_setsockopt(): (unsigned int)l_linger * "
    "HZ; 6.1: unsigned long t_sec = ling.l_linger): if (!ling.l_onoff) sock_reset_flag(sk, "
    "SOCK_LINGER); else { sk_lingertime = t_sec * HZ; sock_set_flag(sk, SOCK_LINGER); }; "
    "socket(7) SO_LINGER")
SET_LINGER_SHORT = rule(
    "setsockopt.linger_short", "EINVAL",
    "SO_LINGER with 4 <= optlen < sizeof(struct linger) (8): the int check passed, the struct "
    "does not fit ('1003.1g').",
    "net/core/sock.c sk_setsockopt(): SO_LINGER: if (optlen < sizeof(ling)) ret = -EINVAL; "
    "socket(7) SO_LINGER")
_TIMEO_CITE = ("net/core/sock.c sk_setsockopt() SO_RCVTIMEO_OLD/NEW, SO_SNDTIMEO_OLD/NEW -> "
               "sock_set_timeout() -> sock_copy_user_timeval() (5.10 and 6.1 alike); socket(7) "
               "SO_RCVTIMEO and SO_SNDTIMEO")
SET_TIMEO = rule(
    "setsockopt.timeo", "0, the timeout = tv_sec * HZ + ceil(tv_usec / (10^6 / HZ)) jiffies",
    "SO_RCVTIMEO/SO_SNDTIMEO take a timeval of 16 bytes on 64-bit (old: struct "
    "__kernel_old_timeval {long, long}; new: struct __kernel_sock_timeval {s64, s64}); "
    "{0, 0} means no timeout. The time is kept in jiffies, so it reads back rounded up to a "
    "tick (exact for multiples of 20 ms with HZ 100, 250, 300 or 1000).", _TIMEO_CITE)
SET_TIMEO_SHORT = rule(
    "setsockopt.timeo_short", "EINVAL",
    "A timeout with 4 <= optlen < 16 (the int check passed, the timeval does not fit).",
    "net/core/sock.c sock_copy_user_timeval(): if (optlen < sizeof(old_tv)) / (optlen < "
    "sizeof(*tv)) return -EINVAL")
SET_TIMEO_EDOM = rule(
    "setsockopt.timeo_edom", "EDOM",
    "tv_usec outside 0..999999 (checked before the sign of tv_sec).",
    "net/core/sock.c sock_set_timeout(): if (tv.tv_usec < 0 || tv.tv_usec >= USEC_PER_SEC) "
    "return -EDOM; socket(7) SO_RCVTIMEO")
SET_TIMEO_NEGATIVE = rule(
    "setsockopt.timeo_negative", "0, the timeout = 0: the calls it bounds do not wait",
    "A negative tv_sec is accepted and stores a zero timeout, which is not 'no timeout' but "
    "'do not wait': a blocking receive answers EAGAIN at once. It reads back as {0, 0}.",
    "net/core/sock.c sock_set_timeout(): if (tv.tv_sec < 0) { *timeo_p = 0; pr_info('tries to "
    "set negative timeout'); return 0; }")
TIMEO_NEW = rule(
    "setsockopt.timeo_new_layout", "SO_RCVTIMEO_NEW (66) / SO_SNDTIMEO_NEW (67) exist",
    "The y2038 options with a 64-bit struct __kernel_sock_timeval, the same 16 bytes on "
    "64-bit architectures as the old layout.",
    "include/uapi/asm-generic/socket.h SO_RCVTIMEO_NEW 66, SO_SNDTIMEO_NEW 67 ('socket: Add "
    "SO_TIMESTAMP[NS]_NEW' / 'socket: Add SO_RCVTIMEO_NEW and SO_SNDTIMEO_NEW', Deepa Dinamani, "
    "v5.1); net/core/sock.c sock_set_timeout(old_timeval = false)", since=(5, 1, 0))
SET_RCVLOWAT = rule(
    "setsockopt.rcvlowat", "0, sk_rcvlowat = val (negative: INT_MAX, 0: 1)",
    "SO_RCVLOWAT stores the low-water mark; a negative value means INT_MAX and 0 means 1. "
    "Sockets whose proto_ops has no set_rcvlowat (all but TCP here) store it as given.",
    "net/core/sock.c sk_setsockopt() SO_RCVLOWAT: if (val < 0) val = INT_MAX; "
    "sock->ops->set_rcvlowat ? ... : WRITE_ONCE(sk->sk_rcvlowat, val ? : 1); socket(7) SO_RCVLOWAT")
SET_RCVLOWAT_TCP = rule(
    "setsockopt.tcp_rcvlowat", "0, sk_rcvlowat = min(val, cap) (0: 1)",
    "TCP caps the mark at half the receive buffer: sk_rcvbuf / 2 once SO_RCVBUF was set, "
    "else net.ipv4.tcp_rmem[2] / 2 (and may grow sk_rcvbuf to fit it).",
    "net/ipv4/tcp.c tcp_set_rcvlowat() (5.10 and 6.1): cap = sk_rcvbuf >> 1 if "
    "SOCK_RCVBUF_LOCK else sysctl_tcp_rmem[2] >> 1; val = min(val, cap); sk_rcvlowat = val ? : 1")

# --------------------------------------------------------------------------- sk_getsockopt

GET_OPTLEN_FAULT = rule(
    "getsockopt.optlen_fault", "EFAULT",
    "*optlen cannot be read.",
    "net/core/sock.c sk_getsockopt(): copy_from_sockptr(&len, optlen, sizeof(int)) -> -EFAULT; "
    "getsockopt(2) ERRORS EFAULT")
GET_OPTLEN_WRITE_FAULT = rule(
    "getsockopt.optlen_write_fault", "EFAULT, the value written",
    "*optlen can be read but not written back (a read-only int): the value is copied out "
    "first, then writing the length faults (the option's side effect, SO_ERROR's clearing, "
    "has happened).",
    "net/core/sock.c sk_getsockopt() (5.10: sock_getsockopt()): copy_to_sockptr(optval, &v, "
    "len) then lenout: if (copy_to_sockptr(optlen, &len, sizeof(int))) return -EFAULT; "
    "getsockopt(2) ERRORS EFAULT")
GET_OPTLEN_NEGATIVE = rule(
    "getsockopt.optlen_negative", "EINVAL",
    "*optlen < 0 at SOL_SOCKET (checked before the option: an unknown option too).",
    "net/core/sock.c sk_getsockopt(): if (len < 0) return -EINVAL; getsockopt(2) ERRORS EINVAL")
GET_UNKNOWN = rule(
    "getsockopt.unknown_option", "ENOPROTOOPT",
    "An option sk_getsockopt() does not know; *optlen is left alone.",
    "net/core/sock.c sk_getsockopt(): default: return -ENOPROTOOPT; getsockopt(2) ERRORS")
GET_FAULT = rule(
    "getsockopt.fault", "EFAULT",
    "The value cannot be written (optval unwritable while the length to copy is > 0); a value "
    "read with a side effect (SO_ERROR) has already been consumed.",
    "net/core/sock.c sk_getsockopt(): copy_to_sockptr(optval, &v, len) -> -EFAULT")
GET_TRUNCATED = rule(
    "getsockopt.truncated", "the first *optlen bytes, *optlen unchanged",
    "With *optlen smaller than the value, the first *optlen bytes are copied and *optlen says "
    "how many (0 copies nothing and succeeds); a larger *optlen is cut to the value's size.",
    "net/core/sock.c sk_getsockopt(): if (len > lv) len = lv; copy_to_sockptr(optval, &v, len); "
    "copy_to_sockptr(optlen, &len)",
    shows=('out.value', 'out.optlen'))
GET_TYPE = rule("getsockopt.so_type", "sk_type",
                "SO_TYPE reads the socket type (AF_UNIX SOCK_RAW reads SOCK_DGRAM).",
                "net/core/sock.c sk_getsockopt() SO_TYPE: v.val = sk->sk_type; socket(7) SO_TYPE")
GET_DOMAIN = rule("getsockopt.so_domain", "sk_family",
                  "SO_DOMAIN reads the family (AF_PACKET for a remapped AF_INET SOCK_PACKET).",
                  "net/core/sock.c sk_getsockopt() SO_DOMAIN: v.val = sk->sk_family; socket(7)")
GET_PROTOCOL = rule("getsockopt.so_protocol", "sk_protocol",
                    "SO_PROTOCOL reads the protocol the family recorded (0 for AF_UNIX/AF_PACKET).",
                    "net/core/sock.c sk_getsockopt() SO_PROTOCOL: v.val = sk->sk_protocol; socket(7)")
GET_ACCEPTCONN = rule("getsockopt.so_acceptconn", "1 for a listener, else 0",
                      "SO_ACCEPTCONN tells whether the socket is listening.",
                      "net/core/sock.c sk_getsockopt() SO_ACCEPTCONN: sk->sk_state == TCP_LISTEN; "
                      "socket(7) SO_ACCEPTCONN")
GET_ERROR = rule("getsockopt.so_error", "the pending error, then 0",
                 "SO_ERROR returns the pending socket error and clears it (even when the copy "
                 "out then fails or *optlen is 0).",
                 "net/core/sock.c sk_getsockopt() SO_ERROR: -sock_error(sk) (xchg(&sk->sk_err, 0)), "
                 "else xchg(&sk->sk_err_soft, 0); socket(7) SO_ERROR")
GET_FLAG = rule("getsockopt.flag", "0 or 1",
                "A boolean option reads 1 when set, 0 otherwise (all start at 0).",
                "net/core/sock.c sk_getsockopt(): sock_flag(), sk->sk_reuse ...; socket(7)")
REUSE_DEFAULT = rule(
    "getsockopt.reuseaddr_default_raw_ping", "1",
    "Raw and ping (ICMP datagram) inet sockets start with SO_REUSEADDR on: their protosw entry "
    "carries INET_PROTOSW_REUSE.",
    "net/ipv4/af_inet.c inet_create(): if (INET_PROTOSW_REUSE & answer_flags) sk->sk_reuse = "
    "SK_CAN_REUSE; inetsw_array raw/ping .flags = INET_PROTOSW_REUSE (net/ipv6 likewise)")
GET_INT = rule("getsockopt.int", "the stored value (0 by default)",
               "SO_PRIORITY and SO_MARK read what was last set, 0 on a new socket.",
               "net/core/sock.c sk_getsockopt() SO_PRIORITY (sk_priority), SO_MARK (sk_mark)")
GET_SNDLOWAT = rule("getsockopt.sndlowat", "1",
                    "SO_SNDLOWAT always reads 1 (it cannot be set).",
                    "net/core/sock.c sk_getsockopt() SO_SNDLOWAT: v.val = 1; socket(7) SO_SNDLOWAT")
GET_BUF = rule("getsockopt.buf", "the value setsockopt stored (already doubled)",
               "SO_SNDBUF/SO_RCVBUF read the buffer size in effect, as set (doubled, clamped).",
               "net/core/sock.c sk_getsockopt() SO_SNDBUF: v.val = sk->sk_sndbuf; socket(7)")
GET_BUF_DEFAULT = rule(
    "getsockopt.buf_default", "net.core.wmem_default / rmem_default",
    "A socket that is not TCP starts with net.core.wmem_default / net.core.rmem_default "
    "(AF_UNIX, UDP, raw, ping, netlink, packet).",
    "net/core/sock.c sock_init_data_uid(): sk_rcvbuf = sysctl_rmem_default, sk_sndbuf = "
    "sysctl_wmem_default; socket(7) rmem_default")
GET_BUF_DEFAULT_TCP = rule(
    "getsockopt.tcp_buf_default", "net.ipv4.tcp_wmem[1] / tcp_rmem[1]",
    "A TCP socket (before it connects, or listening) starts with the middle values of "
    "net.ipv4.tcp_wmem / tcp_rmem of its namespace.",
    "net/ipv4/tcp.c tcp_init_sock(): sk_sndbuf = sysctl_tcp_wmem[1], sk_rcvbuf = "
    "sysctl_tcp_rmem[1]; tcp(7) tcp_rmem 'default'")
GET_PASSCRED = rule("getsockopt.passcred", "0 or 1",
                    "SO_PASSCRED reads the socket's SOCK_PASSCRED flag.",
                    "net/core/sock.c sk_getsockopt() SO_PASSCRED; unix(7)")
GET_PASSPIDFD = rule("getsockopt.passpidfd", "0 or 1",
                     "SO_PASSPIDFD (since 6.5) reads the SOCK_PASSPIDFD flag; before 6.5 it is "
                     "an unknown option.",
                     "net/core/sock.c sk_getsockopt() SO_PASSPIDFD (6.12.117 l.1844, absent "
                     "from 6.1.192)", since=(6, 5, 0))
GET_BINDTODEVICE = rule(
    "getsockopt.bindtodevice", "the device name with its NUL, *optlen = strlen + 1 (0 unbound)",
    "SO_BINDTODEVICE reads the bound device's name; an unbound socket reads *optlen = 0.",
    "net/core/sock.c sock_getbindtodevice(); socket(7) SO_BINDTODEVICE")
GET_BINDTODEVICE_SHORT = rule(
    "getsockopt.bindtodevice_short", "EINVAL",
    "A bound socket's device name needs *optlen >= IFNAMSIZ (16).",
    "net/core/sock.c sock_getbindtodevice(): if (len < IFNAMSIZ) -> -EINVAL")

GET_LINGER = rule(
    "getsockopt.linger", "struct linger {l_onoff = 0 or 1, l_linger = the seconds set}",
    "SO_LINGER reads 8 bytes: whether lingering is on (normalised to 1) and the time last set "
    "with l_onoff != 0 (0 on a new socket), in seconds.",
    "net/core/sock.c sk_getsockopt() SO_LINGER: lv = sizeof(v.ling); l_onoff = "
    "sock_flag(sk, SOCK_LINGER); l_linger = sk_lingertime / HZ; socket(7) SO_LINGER",
    shows=('out.value', 'out.optlen'))
GET_TIMEO = rule(
    "getsockopt.timeo", "a 16-byte timeval: the timeout ({0, 0}: none, or a zero one)",
    "SO_RCVTIMEO/SO_SNDTIMEO read the timeout back as seconds and microseconds, 16 bytes in "
    "either layout on 64-bit; no timeout (MAX_SCHEDULE_TIMEOUT) and a zero timeout both read "
    "{0, 0}.",
    "net/core/sock.c sk_getsockopt() -> sock_get_timeout(): MAX_SCHEDULE_TIMEOUT -> {0, 0}; "
    "tv_sec = timeo / HZ, tv_usec = (timeo % HZ) * USEC_PER_SEC / HZ",
    shows=('out.value', 'out.optlen'))
GET_RCVLOWAT = rule(
    "getsockopt.rcvlowat", "sk_rcvlowat (1 on a new socket)",
    "SO_RCVLOWAT reads the mark in effect.",
    "net/core/sock.c sk_getsockopt() SO_RCVLOWAT: v.val = READ_ONCE(sk->sk_rcvlowat); "
    "sock_init_data(): sk_rcvlowat = 1; socket(7)")
GET_PEERCRED = rule(
    "getsockopt.peercred", "struct ucred of the peer: {pid, euid, egid} when it was recorded",
    "SO_PEERCRED reads the struct ucred (12 bytes) recorded for the peer: for a socketpair, "
    "the creating process's pid, euid and egid on both ends.",
    "net/core/sock.c sk_getsockopt() SO_PEERCRED: cred_to_ucred(sk->sk_peer_pid, "
    "sk->sk_peer_cred); net/unix/af_unix.c unix_socketpair(): init_peercred() on both; unix(7) "
    "SO_PEERCRED", shows=('out.value', 'out.optlen'))
GET_PEERCRED_NONE = rule(
    "getsockopt.peercred_none", "{pid 0, uid -1, gid -1}",
    "A socket with no recorded peer (unconnected, TCP, UDP, netlink) reads pid 0 and uid and "
    "gid -1 -- not ENOTCONN.",
    "net/core/sock.c sk_getsockopt() SO_PEERCRED (no error case) -> cred_to_ucred(NULL, NULL): "
    "pid_vnr(NULL) = 0, ucred->uid = ucred->gid = -1", shows=('out.value', 'out.optlen'))
GET_PEERSEC_NONE = rule(
    "getsockopt.peersec_unsupported", "ENOPROTOOPT",
    "SO_PEERSEC answers ENOPROTOOPT when no running security module labels the peer: no "
    "module implements the hook (the BPF LSM's default is ENOPROTOOPT; mainline AppArmor has "
    "no peer label), or SELinux with no peer SID (a socket of neither a unix stream nor the "
    "TCP class, or one with no peer).",
    "net/core/sock.c sk_getsockopt() SO_PEERSEC -> security_socket_getpeersec_stream(): "
    "LSM_RET_DEFAULT -ENOPROTOOPT; security/selinux/hooks.c "
    "selinux_socket_getpeersec_stream(): peer_sid == SECSID_NULL -> -ENOPROTOOPT; "
    "security/apparmor/lsm.c: no peer label -> -ENOPROTOOPT")
GET_PEERSEC_SELINUX = rule(
    "getsockopt.peersec_selinux", "the peer's context (*optlen its length), or ERANGE",
    "With SELinux running, a socket of the unix stream class (AF_UNIX SOCK_STREAM and "
    "SOCK_SEQPACKET) or the TCP class always has a peer SID -- SECINITSID_UNLABELED from "
    "allocation until a connection records the peer's -- and SO_PEERSEC returns its context, "
    "or ERANGE when *optlen is shorter. The model does not know the policy: neither the "
    "string nor its length is predicted.",
    "security/selinux/hooks.c selinux_socket_getpeersec_stream(): SECCLASS_UNIX_STREAM_SOCKET "
    "/ SECCLASS_TCP_SOCKET / SECCLASS_SCTP_SOCKET -> sksec->peer_sid; "
    "selinux_sk_alloc_security(): peer_sid = SECINITSID_UNLABELED; scontext_len > len -> "
    "-ERANGE; put_user(scontext_len, optlen)",
    requires=has(LSM_SELINUX), requires_default=False)
GET_PEERPIDFD_NONE = rule(
    "getsockopt.peerpidfd_no_peer", "ENODATA",
    "SO_PEERPIDFD (77, since 6.5) on a socket with no recorded peer pid; before 6.5 it is an "
    "unknown option (ENOPROTOOPT).",
    "net/core/sock.c sk_getsockopt() SO_PEERPIDFD: if (!peer_pid) return -ENODATA ('af_unix: "
    "Add SO_PASSPIDFD and SO_PEERPIDFD', v6.5); unix(7) SO_PEERPIDFD", since=(6, 5, 0))

# --------------------------------------------------------------------------- other levels

IP_SET_LEVEL = rule(
    "setsockopt.ip_level_unknown", "ENOPROTOOPT",
    "An AF_INET socket at a level its protocol does not own and that is not SOL_IP.",
    "net/ipv4/ip_sockglue.c ip_setsockopt(): if (level != SOL_IP) return -ENOPROTOOPT (via "
    "tcp_setsockopt/udp_setsockopt/raw_setsockopt)")
IP_GET_LEVEL = rule(
    "getsockopt.ip_level_unknown", "EOPNOTSUPP",
    "An AF_INET socket at a level that is not SOL_IP (nor its protocol's) answers EOPNOTSUPP "
    "to getsockopt -- where setsockopt answers ENOPROTOOPT.",
    "net/ipv4/ip_sockglue.c do_ip_getsockopt(): if (level != SOL_IP) return -EOPNOTSUPP")
IPV6_SET_LEVEL = rule(
    "setsockopt.ipv6_level_unknown", "ENOPROTOOPT",
    "An AF_INET6 socket at a level that is not SOL_IPV6, SOL_IP (non-raw) nor its protocol's.",
    "net/ipv6/ipv6_sockglue.c ipv6_setsockopt(): if (level != SOL_IPV6) return -ENOPROTOOPT")
IPV6_GET_LEVEL = rule(
    "getsockopt.ipv6_level_unknown", "ENOPROTOOPT",
    "The same for getsockopt: AF_INET6 answers ENOPROTOOPT both ways (unlike AF_INET).",
    "net/ipv6/ipv6_sockglue.c ipv6_getsockopt(): if (level != SOL_IPV6) return -ENOPROTOOPT")
SET_V6ONLY = rule(
    "setsockopt.ipv6_v6only", "0, IPV6_V6ONLY = (val != 0)",
    "IPV6_V6ONLY on an unbound AF_INET6 socket stores whether the int is non-zero; a NULL "
    "optval reads as 0 (no EFAULT), and bytes past the int are ignored.",
    "net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt(): sockptr_is_null(optval) -> val = 0; "
    "case IPV6_V6ONLY: sk->sk_ipv6only = valbool; ipv6(7) IPV6_V6ONLY")
SET_V6ONLY_EINVAL = rule(
    "setsockopt.ipv6_v6only_einval", "EINVAL",
    "IPV6_V6ONLY with optlen < sizeof(int), or on a socket that holds a port (bound, or a "
    "connect, listen or send took one and has not given it back: a refused or reset TCP "
    "connection gives back a port bind() did not fix), or a raw socket.",
    "net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt(): IPV6_V6ONLY: if (optlen < sizeof(int) || "
    "inet_sk(sk)->inet_num) goto e_inval; net/ipv4/tcp.c tcp_set_state(TCP_CLOSE) -> "
    "inet_put_port() unless SOCK_BINDPORT_LOCK; net/ipv4/inet_hashtables.c __inet_put_port(): "
    "inet_num = 0")
SET_IPV6_FAULT = rule(
    "setsockopt.ipv6_fault", "EFAULT",
    "optlen >= sizeof(int) and the int cannot be read (SOL_IPV6, before the option is looked at).",
    "net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt(): copy_from_sockptr(&val, optval) -> -EFAULT")
GET_V6ONLY = rule(
    "getsockopt.ipv6_v6only", "min((unsigned) *optlen, 4) bytes of sk_ipv6only",
    "IPV6_V6ONLY reads 0 or 1; the length is cut to 4 as an unsigned number, so a negative "
    "*optlen reads the whole int (SOL_IPV6 has no len < 0 check).",
    "net/ipv6/ipv6_sockglue.c do_ipv6_getsockopt(): val = sk->sk_ipv6only; len = "
    "min_t(unsigned int, sizeof(int), len); copy_to_sockptr(optlen) then (optval); ipv6(7)",
    shows=('out.value', 'out.optlen'))
GET_IPV6_FAULT = rule(
    "getsockopt.ipv6_fault", "EFAULT (*optlen written first when only optval faults)",
    "*optlen cannot be read, or the value cannot be written (SOL_IPV6).",
    "net/ipv6/ipv6_sockglue.c do_ipv6_getsockopt(): copy_from_sockptr(&len, optlen) -> -EFAULT; "
    "copy_to_sockptr(optlen) before copy_to_sockptr(optval) -> -EFAULT")
SET_TOS = rule(
    "setsockopt.ip_tos", "0, tos = (u8) val; a TCP socket keeps its ECN bits",
    "IP_TOS on an AF_INET socket reads an int (optlen >= 4), a single byte (optlen 1..3) or "
    "nothing (optlen 0: val 0), and stores it in the 8-bit inet->tos; on a SOCK_STREAM socket "
    "the two ECN bits are not the caller's (they keep the socket's, 0 before a connection). "
    "It also sets sk_priority from the TOS (rt_tos2priority()), which the model does not follow.",
    "net/ipv4/ip_sockglue.c do_ip_setsockopt(): optlen >= sizeof(int) ? int : optlen >= 1 ? "
    "u8 : 0; IP_TOS -> __ip_sock_set_tos(): SOCK_STREAM: val &= ~INET_ECN_MASK; val |= "
    "inet->tos & INET_ECN_MASK; inet->tos = val (a __u8); sk_priority = rt_tos2priority(val) "
    "(6.1; lockless ip_sock_set_tos() since 6.7, the same values); ip(7) IP_TOS")
SET_IP_FAULT = rule(
    "setsockopt.ip_fault", "EFAULT",
    "The int (or, with optlen 1..3, the byte) of an SOL_IP option cannot be read.",
    "net/ipv4/ip_sockglue.c do_ip_setsockopt(): copy_from_sockptr(&val / &ucval) -> -EFAULT")
GET_TOS = rule(
    "getsockopt.ip_tos", "the TOS byte: 1 byte when 0 < *optlen < 4, else min(*optlen, 4)",
    "IP_TOS reads inet->tos (0 on a new socket). Like every int SOL_IP option whose value fits "
    "a byte, a *optlen of 1, 2 or 3 gets a single byte and *optlen 1.",
    "net/ipv4/ip_sockglue.c do_ip_getsockopt(): IP_TOS: val = inet->tos; if (len < "
    "sizeof(int) && len > 0 && val >= 0 && val <= 255) { len = 1; copy ucval } else len = "
    "min_t(unsigned int, sizeof(int), len); ip(7)", shows=('out.value', 'out.optlen'))
GET_IP_OPTLEN_NEGATIVE = rule(
    "getsockopt.ip_optlen_negative", "EINVAL",
    "*optlen < 0 at SOL_IP (unlike SOL_IPV6, which reads it as unsigned).",
    "net/ipv4/ip_sockglue.c do_ip_getsockopt(): if (len < 0) return -EINVAL")
GET_IP_FAULT = rule(
    "getsockopt.ip_fault", "EFAULT (*optlen written first when only optval faults)",
    "*optlen cannot be read, or the value cannot be written (SOL_IP).",
    "net/ipv4/ip_sockglue.c do_ip_getsockopt(): copy_from_sockptr(&len) -> -EFAULT; "
    "copy_to_sockptr(optlen) before copy_to_sockptr(optval)")
NETLINK_SET_LEVEL = rule(
    "setsockopt.netlink_level_unknown", "ENOPROTOOPT",
    "A netlink socket at a level other than SOL_NETLINK.",
    "net/netlink/af_netlink.c netlink_setsockopt(): level != SOL_NETLINK -> -ENOPROTOOPT")
NETLINK_GET_LEVEL = rule(
    "getsockopt.netlink_level_unknown", "ENOPROTOOPT",
    "A netlink socket at a level other than SOL_NETLINK.",
    "net/netlink/af_netlink.c netlink_getsockopt(): level != SOL_NETLINK -> -ENOPROTOOPT")
PACKET_SET_LEVEL = rule(
    "setsockopt.packet_level_unknown", "ENOPROTOOPT",
    "An AF_PACKET socket at a level other than SOL_PACKET.",
    "net/packet/af_packet.c packet_setsockopt(): level != SOL_PACKET -> -ENOPROTOOPT")
PACKET_GET_LEVEL = rule(
    "getsockopt.packet_level_unknown", "ENOPROTOOPT",
    "An AF_PACKET socket at a level other than SOL_PACKET.",
    "net/packet/af_packet.c packet_getsockopt(): level != SOL_PACKET -> -ENOPROTOOPT")


# --------------------------------------------------------------------------- user memory

class OptIn:
    """setsockopt's optval as Kernel.setsockopt passes it: ``read(n)`` is the n bytes the
    kernel copies in, or None where copy_from_user faults."""

    def __init__(self, value, optlen):
        self.ptr, self.data = None, None
        if value is None:
            self.ptr, n = Ptr(0, "NULL", True), 0
        elif isinstance(value, (Ptr, Buffer)):
            self.ptr, n = value, 4
        elif isinstance(value, int) and not isinstance(value, bool):
            self.data, n = struct.pack("=i", value), 4
        else:
            self.data = bytes(value)
            n = len(self.data)
        if optlen is not None:
            n = optlen
            if self.data is not None and optlen > len(self.data):
                self.data = self.data.ljust(optlen, b"\0")
        self.optlen = n

    def read(self, n: int):
        if n <= 0:
            return b""
        if self.data is not None:
            if n > len(self.data):
                raise NotModelled("a read past the end of the option buffer")
            return self.data[:n]
        if isinstance(self.ptr, Ptr):
            return user_read(self.ptr, n, "an option value")
        raise NotModelled("an option value given as a raw pointer to readable memory")


class OptOut:
    """getsockopt's optval/optlen as Kernel.getsockopt passes them. ``optlen``: the int *optlen
    holds on entry, or a Ptr to it; ``optval``: None (a buffer of max(*optlen, 4) bytes) or a
    Ptr."""

    def __init__(self, optlen, optval):
        self.len_ptr = optlen if isinstance(optlen, (Ptr, Buffer)) else None
        self.len_in = None if self.len_ptr is not None else optlen
        self.val_ptr = optval

    def read_len(self):
        """copy_from_sockptr(&len, optlen): the int, or None when it faults."""
        if self.len_ptr is None:
            return self.len_in
        if isinstance(self.len_ptr, Ptr):
            raw = user_read(self.len_ptr, 4, "*optlen")
            return None if raw is None else struct.unpack("=i", raw)[0]
        raise NotModelled("*optlen given as a raw pointer to readable memory")

    def writable(self, n: int) -> bool:
        """copy_to_sockptr(optval, ..., n) succeeds."""
        if n <= 0 or self.val_ptr is None:
            return True
        return user_writes(self.val_ptr, n)

    def len_writable(self) -> bool:
        """copy_to_sockptr(optlen, &len, sizeof(int)) succeeds (a read-only *optlen faults)."""
        return self.len_ptr is None or user_writes(self.len_ptr, 4)

    def unchanged(self) -> dict:
        """Outputs of a failure that wrote nothing: *optlen as it was."""
        return {} if self.len_ptr is not None else {"optlen": self.len_in}

    def shown(self, len_out: int, value) -> dict:
        """Outputs of a success: *optlen and, when the wrapper owns the buffer, the bytes.
        ``value``: bytes (the whole value; the first len_out bytes are shown) or a Constraint
        on the shown bytes, or None (not predicted)."""
        out = {}
        if self.len_ptr is None:
            out["optlen"] = len_out
        if self.val_ptr is None and self.len_ptr is None and value is not None:
            out["value"] = value[:len_out] if isinstance(value, bytes) else value
        return out


def _int_bytes(v: int) -> bytes:
    return struct.pack("=i", v)


# --------------------------------------------------------------------------- helpers

def arch_min_bufs(m) -> tuple[int, int]:
    """(SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF) for the profile's architecture (include/net/sock.h)."""
    if m.profile.arch not in ("x86_64", "aarch64"):
        raise NotModelled(f"SOCK_MIN_RCVBUF on {m.profile.arch}")
    truesize = 2048 + 256          # SKB_DATA_ALIGN(sizeof(struct sk_buff)) with 64-byte lines
    return truesize, 2 * truesize


def is_tcp(sock) -> bool:
    return (sock.family in (L.AF_INET, L.AF_INET6) and sock.type == L.SOCK_STREAM
            and sock.protocol == L.IPPROTO_TCP)


def custom_sol_socket(sock) -> bool:
    """sock_use_custom_sol_socket(): MPTCP routes SOL_SOCKET to its own handler."""
    return sock.family in (L.AF_INET, L.AF_INET6) and sock.protocol == L.IPPROTO_MPTCP


def default_buf(m, sock, name: str) -> tuple[int, object]:
    """The buffer size a socket starts with, and the rule that sets it."""
    if is_tcp(sock):
        if name == "SO_RCVBUF" and getattr(sock, "rcvbuf_grown", False):
            raise NotModelled("sk_rcvbuf after tcp_set_rcvlowat() (tcp_space_from_win)")
        if sock.state not in ("unconnected", "listening"):
            raise NotModelled("TCP buffer sizes after the connection is set up (tcp_init_buffer_space)")
        table = m.profile.sysctl_ints("net.ipv4.tcp_rmem" if name == "SO_RCVBUF" else "net.ipv4.tcp_wmem")
        if len(table) != 3:
            raise NotModelled("the profile has no net.ipv4.tcp_rmem/tcp_wmem")
        return table[1], GET_BUF_DEFAULT_TCP
    value = m.sysctl_int("net.core.rmem_default" if name == "SO_RCVBUF" else "net.core.wmem_default")
    if value is None:
        raise NotModelled("the profile has no net.core.rmem_default/wmem_default")
    return value, GET_BUF_DEFAULT


def reuse_by_default(sock) -> bool:
    """INET_PROTOSW_REUSE: raw and ping sockets start with sk_reuse = SK_CAN_REUSE."""
    if sock.family not in (L.AF_INET, L.AF_INET6):
        return False
    ping = L.IPPROTO_ICMP if sock.family == L.AF_INET else L.IPPROTO_ICMPV6
    return sock.type == L.SOCK_RAW or (sock.type == L.SOCK_DGRAM and sock.protocol == ping)


def reuseaddr(sock) -> int:
    """sk->sk_reuse as the bind model needs it: what SO_REUSEADDR set, else the default."""
    return sock.opts.get("SO_REUSEADDR", int(reuse_by_default(sock)))


def may_scm_recv(sock) -> bool:
    """sk_may_scm_recv() (6.16): AF_UNIX, AF_NETLINK (and AF_BLUETOOTH)."""
    return sock.family in (L.AF_UNIX, L.AF_NETLINK, L.AF_BLUETOOTH)


# Device names the model knows in any network namespace: lo is always ifindex 1. A name with
# this prefix is one no test environment has (ENODEV).
KNOWN_DEVICES = {b"lo": 1}
ABSENT_DEVICE_PREFIX = b"sockspec-"


def copy_opts(parent) -> dict:
    """The options a socket made from ``parent`` starts with, for an accepted socket's
    Sock.opts: sk_clone_lock() copies struct sock (flags, sk_reuse, buffers, mark, bound
    device, tcp_sock's nonagle and user_mss) but resets sk_priority to 0."""
    opts = dict(parent.opts)
    opts.pop("SO_PRIORITY", None)
    return opts


# --------------------------------------------------------------------------- setsockopt

FLAG_OPTIONS = {L.SO_REUSEADDR: "SO_REUSEADDR", L.SO_KEEPALIVE: "SO_KEEPALIVE",
                L.SO_BROADCAST: "SO_BROADCAST", L.SO_DONTROUTE: "SO_DONTROUTE",
                L.SO_OOBINLINE: "SO_OOBINLINE", L.SO_DEBUG: "SO_DEBUG",
                L.SO_REUSEPORT: "SO_REUSEPORT"}
READ_ONLY = (L.SO_TYPE, L.SO_PROTOCOL, L.SO_DOMAIN, L.SO_ERROR)
# Known options whose getsockopt the model answers and whose setsockopt has no case (ENOPROTOOPT).
GET_ONLY = (L.SO_ACCEPTCONN, L.SO_SNDLOWAT, L.SO_PEERCRED, SO_PEERSEC, SO_PEERPIDFD)
# SO_RCVTIMEO/SO_SNDTIMEO in both layouts: option -> (the Sock.opts key, the old layout?)
TIMEO_OPTIONS = {L.SO_RCVTIMEO_OLD: ("SO_RCVTIMEO", True), SO_RCVTIMEO_NEW: ("SO_RCVTIMEO", False),
                 L.SO_SNDTIMEO_OLD: ("SO_SNDTIMEO", True), SO_SNDTIMEO_NEW: ("SO_SNDTIMEO", False)}
TIMEVAL_SIZE = 16           # both layouts on a 64-bit kernel: {long or s64, long or s64}
LINGER_SIZE = 8             # struct linger {int l_onoff; int l_linger;}
UCRED_SIZE = 12             # struct ucred {pid_t pid; uid_t uid; gid_t gid;}
# A timeout stored in jiffies reads back exactly when it is a whole number of ticks: any
# multiple of 20 ms is one for HZ 100, 250, 300 and 1000 (the profile does not read CONFIG_HZ).
TICK_EXACT_USEC = 20000
# Option numbers no kernel defines: unknown everywhere. Everything else that the model has no
# case for is NotModelled (it may exist in some kernel).
NEVER_DEFINED = lambda name: name <= 0 or name >= 200          # noqa: E731


SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK = 1, 2          # include/net/sock.h sk_userlocks


def _set_store(sock, key, value, rule_, also=(), userlocks=0):
    def store(model, result, sock=sock, key=key, value=value):
        sock.opts[key] = value
        # the rules that shaped the value (a clamp, a floor) show where getsockopt reads it
        sock.opt_rules = {**getattr(sock, "opt_rules", {}), key: tuple(also)}
        if userlocks:
            sock.userlocks = getattr(sock, "userlocks", 0) | userlocks
    return rule_.ok(0, apply=store, also=also)


def sock_setsockopt(m, sock, name: int, opt: OptIn):
    """sk_setsockopt(): SOL_SOCKET."""
    if name == L.SO_BINDTODEVICE:
        return sock_setbindtodevice(m, sock, opt)
    if opt.optlen < 4:
        return SET_OPTLEN_SHORT.fail(E.EINVAL)
    raw = opt.read(4)
    if raw is None:
        return SET_FAULT.fail(E.EFAULT)
    val = struct.unpack("=i", raw)[0]
    valbool = int(val != 0)
    if name in READ_ONLY:
        return SET_READ_ONLY.fail(E.ENOPROTOOPT)
    if name == L.SO_LINGER:
        return set_linger(sock, opt)
    if name in TIMEO_OPTIONS:
        return sock_set_timeout(m, sock, name, opt)
    if name == L.SO_RCVLOWAT:
        return set_rcvlowat(m, sock, val)
    if name == L.SO_PASSCRED:
        if m.holds(PASSCRED_RESTRICTED) and not may_scm_recv(sock):
            return PASSCRED_RESTRICTED.fail(E.EOPNOTSUPP)
        return _set_store(sock, "SO_PASSCRED", valbool, SET_PASSCRED)
    if name == SO_PASSPIDFD and m.holds(SET_PASSPIDFD):
        if m.holds(PASSPIDFD_RESTRICTED) and sock.family != L.AF_UNIX:
            return PASSPIDFD_RESTRICTED.fail(E.EOPNOTSUPP)
        return _set_store(sock, "SO_PASSPIDFD", valbool, SET_PASSPIDFD)
    if name == L.SO_PRIORITY:
        if not (0 <= val <= 6) and not (m.capable("CAP_NET_RAW") or m.capable("CAP_NET_ADMIN")):
            return SET_PRIORITY_EPERM.fail(E.EPERM)
        return _set_store(sock, "SO_PRIORITY", val, SET_PRIORITY)
    if name == SO_MARK:
        if not (m.capable("CAP_NET_RAW") or m.capable("CAP_NET_ADMIN")):
            return SET_MARK_EPERM.fail(E.EPERM)
        return _set_store(sock, "SO_MARK", val & 0xFFFFFFFF, SET_MARK)
    if name == L.SO_DEBUG and val and not m.capable("CAP_NET_ADMIN"):
        return SET_DEBUG_EACCES.fail(E.EACCES)
    if name == L.SO_REUSEPORT and valbool and sock.family not in (L.AF_INET, L.AF_INET6) \
            and m.holds(SET_REUSEPORT_NOT_INET):
        return SET_REUSEPORT_NOT_INET.fail(E.EOPNOTSUPP)
    if name in FLAG_OPTIONS:
        return _set_store(sock, FLAG_OPTIONS[name], valbool, SET_FLAG)
    if name in (L.SO_SNDBUF, L.SO_RCVBUF, L.SO_SNDBUFFORCE, L.SO_RCVBUFFORCE):
        return set_buf(m, sock, name, val)
    if name in GET_ONLY or NEVER_DEFINED(name) or (name == SO_PASSPIDFD and not m.holds(SET_PASSPIDFD)):
        return SET_UNKNOWN.fail(E.ENOPROTOOPT)
    raise NotModelled(f"setsockopt SOL_SOCKET option {name}")


def set_linger(sock, opt: OptIn):
    """SO_LINGER: a struct linger. Sock.opts["SO_LINGER"] is the flag, ["SO_LINGER_TIME"] the
    seconds (sk_lingertime / HZ)."""
    if opt.optlen < LINGER_SIZE:
        return SET_LINGER_SHORT.fail(E.EINVAL)
    raw = opt.read(LINGER_SIZE)
    if raw is None:
        return SET_FAULT.fail(E.EFAULT)
    onoff, linger = struct.unpack("=ii", raw)
    if not onoff:
        return _set_store(sock, "SO_LINGER", 0, SET_LINGER)
    if linger < 0:
        # 5.10 multiplies (unsigned int)l_linger by HZ, 6.1 sign-extends it and stores
        # MAX_SCHEDULE_TIMEOUT: the time read back depends on the release and on HZ
        raise NotModelled("a negative l_linger (MAX_SCHEDULE_TIMEOUT / HZ, by release)")

    def store(model, result, sock=sock, linger=linger):
        sock.opts["SO_LINGER"] = 1
        sock.opts["SO_LINGER_TIME"] = linger
    return SET_LINGER.ok(0, apply=store)


def sock_set_timeout(m, sock, name: int, opt: OptIn):
    """sock_set_timeout(): Sock.opts["SO_RCVTIMEO"/"SO_SNDTIMEO"] holds (tv_sec, tv_usec) of a
    timeout, 0 for a zero one (a negative tv_sec), and is absent for none."""
    key, old = TIMEO_OPTIONS[name]
    also = () if old else (TIMEO_NEW,)
    if not old and not m.holds(TIMEO_NEW):
        return SET_UNKNOWN.fail(E.ENOPROTOOPT)   # 66/67 had no case before 5.1
    if old and m.via != "native":
        raise NotModelled("the compat struct old_timeval32 (8 bytes) of a 32-bit caller")
    if opt.optlen < TIMEVAL_SIZE:
        return Outcome(SET_TIMEO_SHORT, E.EINVAL, Exact(-1), {}, None, also)
    raw = opt.read(TIMEVAL_SIZE)
    if raw is None:
        return Outcome(SET_FAULT, E.EFAULT, Exact(-1), {}, None, also)
    sec, usec = struct.unpack("=qq", raw)
    if not 0 <= usec < 1_000_000:
        return Outcome(SET_TIMEO_EDOM, E.EDOM, Exact(-1), {}, None, also)
    if sec < 0:
        return _set_store(sock, key, 0, SET_TIMEO_NEGATIVE, also)
    if sec == 0 and usec == 0:
        def clear(model, result, sock=sock, key=key):
            sock.opts.pop(key, None)
        return SET_TIMEO.ok(0, apply=clear, also=also)
    if sec >= 1 << 31:
        raise NotModelled("a timeout near MAX_SCHEDULE_TIMEOUT / HZ (no timeout)")
    return _set_store(sock, key, (sec, usec), SET_TIMEO, also)


def rcvtimeo(sock):
    """The receive timeout in seconds: None for none (wait for ever), 0 for a zero one."""
    t = sock.opts.get("SO_RCVTIMEO")
    if t is None:
        return None
    if t == 0:
        return 0.0
    return t[0] + t[1] / 1e6


def set_rcvlowat(m, sock, val: int):
    """SO_RCVLOWAT: sk_setsockopt(), or tcp_set_rcvlowat() for TCP."""
    if val < 0:
        val = INT_MAX
    if not is_tcp(sock):
        return _set_store(sock, "SO_RCVLOWAT", val or 1, SET_RCVLOWAT)
    if getattr(sock, "userlocks", 0) & SOCK_RCVBUF_LOCK:
        cap = sock.opts["SO_RCVBUF"] >> 1
    else:
        rmem = m.profile.sysctl_ints("net.ipv4.tcp_rmem")
        if len(rmem) != 3:
            raise NotModelled("the profile has no net.ipv4.tcp_rmem")
        cap = rmem[2] >> 1
    val = min(val, cap) or 1
    grows = not getattr(sock, "userlocks", 0) & SOCK_RCVBUF_LOCK

    def store(model, result, sock=sock, val=val, grows=grows):
        sock.opts["SO_RCVLOWAT"] = val
        if grows:
            sock.rcvbuf_grown = True    # tcp_set_rcvlowat() may raise sk_rcvbuf to fit it
    return SET_RCVLOWAT_TCP.ok(0, apply=store)


def set_buf(m, sock, name: int, val: int):
    """SO_SNDBUF/SO_RCVBUF (clamped to the sysctl max) and their *FORCE twins (no max, need
    CAP_NET_ADMIN)."""
    rcv = name in (L.SO_RCVBUF, L.SO_RCVBUFFORCE)
    key = "SO_RCVBUF" if rcv else "SO_SNDBUF"
    floor = arch_min_bufs(m)[0 if rcv else 1]
    also = ()
    if name in (L.SO_SNDBUFFORCE, L.SO_RCVBUFFORCE):
        if not m.capable("CAP_NET_ADMIN"):
            return SET_BUFFORCE_EPERM.fail(E.EPERM)
        rule_ = SET_BUFFORCE
        val = max(val, 0)
    else:
        rule_ = SET_BUF
        limit = m.sysctl_int("net.core.rmem_max" if rcv else "net.core.wmem_max")
        if limit is None:
            raise NotModelled("the profile has no net.core.rmem_max/wmem_max")
        if (val & 0xFFFFFFFF) > limit:                 # min_t(u32, val, max)
            val, also = limit, (BUF_CLAMPED,)
        val = _s32(val)
    val = min(val, INT_MAX // 2)
    size = val * 2
    if size < floor:
        size, also = floor, also + (BUF_FLOOR,)
    return _set_store(sock, key, size, rule_, also, SOCK_RCVBUF_LOCK if rcv else SOCK_SNDBUF_LOCK)


def sock_setbindtodevice(m, sock, opt: OptIn):
    """sock_setbindtodevice(): a name of optlen bytes (optlen >= 0 here)."""
    n = min(opt.optlen, IFNAMSIZ - 1)
    raw = opt.read(n)
    if raw is None:
        return SET_BINDTODEVICE_FAULT.fail(E.EFAULT)
    name = raw.split(b"\0", 1)[0]
    index = 0
    if name:
        if name in KNOWN_DEVICES:
            index = KNOWN_DEVICES[name]
        elif name.startswith(ABSENT_DEVICE_PREFIX):
            return SET_BINDTODEVICE_ENODEV.fail(E.ENODEV)
        else:
            raise NotModelled(f"the devices of this namespace ({name!r})")
    if sock.opts.get("SO_BINDTODEVICE", 0) and not m.capable("CAP_NET_RAW"):
        return SET_BINDTODEVICE_EPERM.fail(E.EPERM)
    return _set_store(sock, "SO_BINDTODEVICE", index, SET_BINDTODEVICE)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def sys_setsockopt(m, fd, level, name, value=0, optlen=None):
    """__sys_setsockopt() + do_sock_setsockopt() (net/socket.c)."""
    opt = OptIn(value, optlen)
    if m.holds(SET_OPTLEN_NEGATIVE_FIRST) and opt.optlen < 0:
        return SET_OPTLEN_NEGATIVE_FIRST.fail(E.EINVAL)
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    if opt.optlen < 0:
        return SET_OPTLEN_NEGATIVE.fail(E.EINVAL)
    if custom_sol_socket(sock):
        raise NotModelled("MPTCP socket options")
    if level == L.SOL_SOCKET:
        return sock_setsockopt(m, sock, name, opt)
    return family_setsockopt(m, sock, level, name, opt)


def family_setsockopt(m, sock, level, name, opt: OptIn):
    """ops->setsockopt: where a level other than SOL_SOCKET goes."""
    from . import errqueue, tcp
    fam, typ = sock.family, sock.type
    if fam == L.AF_UNIX or (fam == L.AF_PACKET and typ == L.SOCK_PACKET):
        return SET_NO_OPS.fail(E.EOPNOTSUPP)
    if fam == L.AF_NETLINK:
        if level != SOL_NETLINK:
            return NETLINK_SET_LEVEL.fail(E.ENOPROTOOPT)
        raise NotModelled("SOL_NETLINK options")
    if fam == L.AF_PACKET:
        if level != L.SOL_PACKET:
            return PACKET_SET_LEVEL.fail(E.ENOPROTOOPT)
        raise NotModelled("SOL_PACKET options")
    if fam in (L.AF_INET, L.AF_INET6):
        if is_tcp(sock) and level == L.SOL_TCP:
            return tcp.do_tcp_setsockopt(m, sock, name, opt)
        answered = errqueue.setsockopt(m, sock, level, name, opt)
        if answered is not None:
            return answered
        if fam == L.AF_INET6 and level == L.SOL_IPV6 and name == L.IPV6_V6ONLY:
            return ipv6_set_v6only(sock, opt)
        if fam == L.AF_INET and level == L.SOL_IP and name == IP_TOS:
            return ip_set_tos(sock, opt)
        return _inet_level(sock, level, IP_SET_LEVEL if fam == L.AF_INET else IPV6_SET_LEVEL,
                           E.ENOPROTOOPT, {})
    raise NotModelled(f"setsockopt on family {fam}")


def _inet_num(sock) -> bool:
    """inet_sk(sk)->inet_num != 0: the socket holds a port in the bind table (bind(), or the
    port connect/listen/send took), or it is raw (inet6_create(): SOCK_RAW inet_num =
    protocol, never 0). A port a TCP connection took automatically is given back when the
    connection ends in CLOSE (tcp_set_state(TCP_CLOSE) -> inet_put_port() unless
    SOCK_BINDPORT_LOCK; __inet_put_port() sets inet_num = 0), though getsockname still shows
    it (inet_sport is kept)."""
    return sock.bound or sock.type == L.SOCK_RAW


def ipv6_set_v6only(sock, opt: OptIn):
    """do_ipv6_setsockopt() IPV6_V6ONLY: the int is read first (NULL reads 0)."""
    val = 0
    null = isinstance(opt.ptr, Ptr) and opt.ptr.addr == 0
    if opt.optlen >= 4 and not null:
        raw = opt.read(4)
        if raw is None:
            return SET_IPV6_FAULT.fail(E.EFAULT)
        val = struct.unpack("=i", raw)[0]
    if opt.optlen < 4 or _inet_num(sock):
        return SET_V6ONLY_EINVAL.fail(E.EINVAL)
    return _set_store(sock, "IPV6_V6ONLY", int(val != 0), SET_V6ONLY)


def ipv6_get_v6only(sock, out: OptOut):
    len_ = out.read_len()
    if len_ is None:
        return GET_IPV6_FAULT.fail(E.EFAULT)
    n = min(len_ & 0xFFFFFFFF, 4)
    shown = out.shown(n, _int_bytes(int(bool(sock.opts.get("IPV6_V6ONLY")))))
    if not out.len_writable():
        return GET_IPV6_FAULT.fail(E.EFAULT)
    if not out.writable(n):
        return GET_IPV6_FAULT.fail(E.EFAULT, **({"optlen": n} if "optlen" in shown else {}))
    return GET_V6ONLY.ok(0, **shown)


INET_ECN_MASK = 3


def ip_set_tos(sock, opt: OptIn):
    """do_ip_setsockopt() IP_TOS -> __ip_sock_set_tos()."""
    val = 0
    if opt.optlen >= 4:
        raw = opt.read(4)
        if raw is None:
            return SET_IP_FAULT.fail(E.EFAULT)
        val = struct.unpack("=i", raw)[0]
    elif opt.optlen >= 1:
        raw = opt.read(1)
        if raw is None:
            return SET_IP_FAULT.fail(E.EFAULT)
        val = raw[0]
    old = sock.opts.get("IP_TOS", 0)
    if sock.type == L.SOCK_STREAM:
        val = (val & ~INET_ECN_MASK) | (old & INET_ECN_MASK)
    val &= 0xFF

    def store(model, result, sock=sock, val=val, old=old):
        sock.opts["IP_TOS"] = val
        if val != old:
            sock.priority_from_tos = True       # rt_tos2priority(): not modelled
            sock.opts.pop("SO_PRIORITY", None)
    return SET_TOS.ok(0, apply=store)


def ip_get_tos(sock, out: OptOut):
    len_ = out.read_len()
    if len_ is None:
        return GET_IP_FAULT.fail(E.EFAULT)
    if len_ < 0:
        return GET_IP_OPTLEN_NEGATIVE.fail(E.EINVAL, **out.unchanged())
    val = sock.opts.get("IP_TOS", 0)
    if 0 < len_ < 4:
        n, data = 1, bytes([val])
    else:
        n, data = min(len_, 4), _int_bytes(val)
    shown = out.shown(n, data)
    if not out.len_writable():
        return GET_IP_FAULT.fail(E.EFAULT)
    if not out.writable(n):
        return GET_IP_FAULT.fail(E.EFAULT, **({"optlen": n} if "optlen" in shown else {}))
    return GET_TOS.ok(0, **shown)


def _inet_level(sock, level, unknown_rule, err, outputs: dict):
    """The protocol's own level, then ip_*sockopt / ipv6_*sockopt: only the refusal of a level
    none of them owns is modelled."""
    owned = {L.SOL_IP} if sock.family == L.AF_INET else {L.SOL_IPV6}
    if sock.family == L.AF_INET6 and sock.type != L.SOCK_RAW:
        owned.add(L.SOL_IP)                    # ipv6_*sockopt hands SOL_IP to ip_*sockopt
    if sock.type == L.SOCK_STREAM:
        owned.add(L.SOL_TCP)
    elif sock.type == L.SOCK_DGRAM and sock.protocol in (L.IPPROTO_UDP, L.IPPROTO_UDPLITE):
        owned |= {L.SOL_UDP, 136}              # SOL_UDPLITE
    elif sock.type == L.SOCK_RAW:
        owned |= {SOL_RAW, 58}                 # SOL_ICMPV6 on raw v6
    if level in owned:
        raise NotModelled(f"options at level {level} of {sock}")
    return unknown_rule.fail(err, **outputs)


# --------------------------------------------------------------------------- getsockopt

def sys_getsockopt(m, fd, level, name, optlen=4, optval=None):
    """__sys_getsockopt() + do_sock_getsockopt() (net/socket.c)."""
    out = OptOut(optlen, optval)
    sock = sockfd_lookup_light(m, fd)
    if is_error(sock):
        return sock
    if level == L.SOL_SOCKET:
        return sk_getsockopt(m, sock, name, out)
    return family_getsockopt(m, sock, level, name, out)


def family_getsockopt(m, sock, level, name, out: OptOut):
    from . import errqueue, tcp
    fam, typ = sock.family, sock.type
    if fam == L.AF_UNIX or (fam == L.AF_PACKET and typ == L.SOCK_PACKET):
        return GET_NO_OPS.fail(E.EOPNOTSUPP, **out.unchanged())
    if fam == L.AF_NETLINK:
        if level != SOL_NETLINK:
            return NETLINK_GET_LEVEL.fail(E.ENOPROTOOPT, **out.unchanged())
        raise NotModelled("SOL_NETLINK options")
    if fam == L.AF_PACKET:
        if level != L.SOL_PACKET:
            return PACKET_GET_LEVEL.fail(E.ENOPROTOOPT, **out.unchanged())
        raise NotModelled("SOL_PACKET options")
    if fam in (L.AF_INET, L.AF_INET6):
        if custom_sol_socket(sock):
            raise NotModelled("MPTCP socket options")
        if is_tcp(sock) and level == L.SOL_TCP:
            return tcp.do_tcp_getsockopt(m, sock, name, out)
        answered = errqueue.getsockopt(m, sock, level, name, out)
        if answered is not None:
            return answered
        if fam == L.AF_INET6 and level == L.SOL_IPV6 and name == L.IPV6_V6ONLY:
            return ipv6_get_v6only(sock, out)
        if fam == L.AF_INET and level == L.SOL_IP and name == IP_TOS:
            return ip_get_tos(sock, out)
        if fam == L.AF_INET:
            return _inet_level(sock, level, IP_GET_LEVEL, E.EOPNOTSUPP, out.unchanged())
        return _inet_level(sock, level, IPV6_GET_LEVEL, E.ENOPROTOOPT, out.unchanged())
    raise NotModelled(f"getsockopt on family {fam}")


def int_value(out: OptOut, len_: int, value: int, rule_, also=(), apply=None, fault_apply=None):
    """The tail of sk_getsockopt() for an int value: cut len to 4, copy, write *optlen."""
    lv = 4
    n = min(len_, lv)
    extra = (GET_TRUNCATED,) if len_ < lv else ()
    if not out.writable(n):
        return Outcome(GET_FAULT, E.EFAULT, Exact(-1),
                       {k: Exact(v) for k, v in out.unchanged().items()}, fault_apply)
    if not out.len_writable():              # the value is out; *optlen's write faults
        shown = {"optval_written": Exact(any(_int_bytes(value)[:n]))} if out.val_ptr is None else {}
        return Outcome(GET_OPTLEN_WRITE_FAULT, E.EFAULT, Exact(-1), shown, apply)
    return rule_.ok(0, apply=apply, also=also + extra, **out.shown(n, _int_bytes(value)))


def sk_getsockopt(m, sock, name: int, out: OptOut):
    """sk_getsockopt(): SOL_SOCKET."""
    len_ = out.read_len()
    if len_ is None:
        return GET_OPTLEN_FAULT.fail(E.EFAULT)
    if len_ < 0:
        return GET_OPTLEN_NEGATIVE.fail(E.EINVAL, **out.unchanged())
    if custom_sol_socket(sock):
        raise NotModelled("MPTCP socket options")
    if name == L.SO_TYPE:
        return int_value(out, len_, sock.type, GET_TYPE)
    if name == L.SO_DOMAIN:
        return int_value(out, len_, sock.family, GET_DOMAIN)
    if name == L.SO_PROTOCOL:
        return int_value(out, len_, sock.protocol, GET_PROTOCOL)
    if name == L.SO_ACCEPTCONN:
        return int_value(out, len_, int(sock.listening), GET_ACCEPTCONN)
    if name == L.SO_ERROR:
        def clear(model, result, sock=sock):
            sock.so_error = 0
        return int_value(out, len_, sock.so_error, GET_ERROR, apply=clear, fault_apply=clear)
    if name == L.SO_SNDLOWAT:
        return int_value(out, len_, 1, GET_SNDLOWAT)
    if name == L.SO_REUSEADDR and "SO_REUSEADDR" not in sock.opts and reuse_by_default(sock):
        return int_value(out, len_, 1, REUSE_DEFAULT)
    if name in FLAG_OPTIONS:
        return int_value(out, len_, sock.opts.get(FLAG_OPTIONS[name], 0), GET_FLAG)
    if name == L.SO_PRIORITY and getattr(sock, "priority_from_tos", False) \
            and "SO_PRIORITY" not in sock.opts:
        raise NotModelled("sk_priority after IP_TOS (rt_tos2priority())")
    if name in (L.SO_PRIORITY, SO_MARK):
        key = "SO_PRIORITY" if name == L.SO_PRIORITY else "SO_MARK"
        return int_value(out, len_, _s32(sock.opts.get(key, 0)), GET_INT)
    if name in (L.SO_RCVBUF, L.SO_SNDBUF):
        key = "SO_RCVBUF" if name == L.SO_RCVBUF else "SO_SNDBUF"
        if key in sock.opts:
            return int_value(out, len_, sock.opts[key], GET_BUF,
                             also=getattr(sock, "opt_rules", {}).get(key, ()))
        value, rule_ = default_buf(m, sock, key)
        return int_value(out, len_, value, rule_)
    if name == L.SO_PASSCRED:
        if m.holds(GET_PASSCRED_RESTRICTED) and not may_scm_recv(sock):
            return GET_PASSCRED_RESTRICTED.fail(E.EOPNOTSUPP, **out.unchanged())
        return int_value(out, len_, sock.opts.get("SO_PASSCRED", 0), GET_PASSCRED)
    if name == SO_PASSPIDFD and m.holds(GET_PASSPIDFD):
        if m.holds(GET_PASSPIDFD_RESTRICTED) and sock.family != L.AF_UNIX:
            return GET_PASSPIDFD_RESTRICTED.fail(E.EOPNOTSUPP, **out.unchanged())
        return int_value(out, len_, sock.opts.get("SO_PASSPIDFD", 0), GET_PASSPIDFD)
    if name == L.SO_BINDTODEVICE:
        return sock_getbindtodevice(sock, out, len_)
    if name == L.SO_LINGER:
        on = int(bool(sock.opts.get("SO_LINGER")))
        return struct_value(out, len_, struct.pack("=ii", on, sock.opts.get("SO_LINGER_TIME", 0)),
                            GET_LINGER)
    if name in TIMEO_OPTIONS:
        return sock_get_timeout(m, sock, name, out, len_)
    if name == L.SO_RCVLOWAT:
        return int_value(out, len_, sock.opts.get("SO_RCVLOWAT", 1), GET_RCVLOWAT)
    if name == L.SO_PEERCRED:
        cred = peercred(sock)
        if cred is None:
            return struct_value(out, len_, struct.pack("=iii", 0, -1, -1), GET_PEERCRED_NONE)
        return struct_value(out, len_, struct.pack("=iII", *cred), GET_PEERCRED)
    if name == SO_PEERSEC:
        if m.holds(GET_PEERSEC_SELINUX) and selinux_stream_class(sock):
            return selinux_peersec(out, len_)
        return GET_PEERSEC_NONE.fail(E.ENOPROTOOPT, **out.unchanged())
    if name == SO_PEERPIDFD and m.holds(GET_PEERPIDFD_NONE):
        if peercred(sock) is not None:
            raise NotModelled("SO_PEERPIDFD of a peer: a pidfd installed in the fd table")
        return GET_PEERPIDFD_NONE.fail(E.ENODATA, **out.unchanged())
    if NEVER_DEFINED(name) or (name == SO_PASSPIDFD and not m.holds(GET_PASSPIDFD)) \
            or (name == SO_PEERPIDFD and not m.holds(GET_PEERPIDFD_NONE)):
        return GET_UNKNOWN.fail(E.ENOPROTOOPT, **out.unchanged())
    raise NotModelled(f"getsockopt SOL_SOCKET option {name}")


def struct_value(out: OptOut, len_: int, value: bytes, rule_):
    """The tail of sk_getsockopt() for a value of len(value) bytes: cut len, copy, write
    *optlen (the fault order as int_value())."""
    n = min(len_, len(value))
    if not out.writable(n):
        return Outcome(GET_FAULT, E.EFAULT, Exact(-1), {k: Exact(v) for k, v in out.unchanged().items()})
    if not out.len_writable():
        return Outcome(GET_OPTLEN_WRITE_FAULT, E.EFAULT, Exact(-1), {})
    extra = (GET_TRUNCATED,) if len_ < len(value) else ()
    return rule_.ok(0, also=extra, **out.shown(n, value))


def sock_get_timeout(m, sock, name: int, out: OptOut, len_: int):
    """sock_get_timeout(): 16 bytes {tv_sec, tv_usec} in either layout on 64-bit."""
    key, old = TIMEO_OPTIONS[name]
    also = () if old else (TIMEO_NEW,)
    if not old and not m.holds(TIMEO_NEW):
        return GET_UNKNOWN.fail(E.ENOPROTOOPT, **out.unchanged())   # no case before 5.1
    if old and m.via != "native":
        raise NotModelled("the compat struct old_timeval32 (8 bytes) of a 32-bit caller")
    t = sock.opts.get(key)
    sec, usec = (0, 0) if not t else t
    if usec % TICK_EXACT_USEC:
        raise NotModelled("a timeout that is not a whole number of ticks (CONFIG_HZ)")
    outcome = struct_value(out, len_, struct.pack("=qq", sec, usec), GET_TIMEO)
    return Outcome(outcome.rule, outcome.errno, outcome.ret, outcome.out, outcome.apply,
                   outcome.also + also)


def peercred(sock):
    """The (pid, euid, egid) recorded for the peer (sk_peer_pid, sk_peer_cred), None where the
    socket has none. Only a socketpair records them in the model; a unix socket that listened
    or connected has them too and is not modelled."""
    cred = getattr(sock, "peercred", None)
    if cred is None and sock.family == L.AF_UNIX and (sock.listening or sock.state == "connected"):
        raise NotModelled("SO_PEERCRED of a unix socket that listened or connected")
    return cred


def current_ucred(m) -> tuple[int, int, int]:
    """init_peercred(): the calling process's pid, euid and egid (the credentials a child
    dropped to, when it did)."""
    import os
    cred = m.vfs.cred
    if cred is not None:
        return os.getpid(), cred.fsuid, cred.fsgid
    egid = m.profile.groups[0] if m.profile.groups else os.getegid()
    return os.getpid(), m.profile.euid, egid


def selinux_peersec(out: OptOut, len_: int):
    """selinux_socket_getpeersec_stream(): the context of an unknown length n (with its NUL):
    copied and *optlen = n when n <= len, else ERANGE with *optlen = n and nothing copied."""
    if out.len_ptr is not None:
        return (GET_PEERSEC_SELINUX.ok(0), GET_PEERSEC_SELINUX.fail(E.ERANGE))
    fits = GET_PEERSEC_SELINUX.ok(0, optlen=Range(1, len_)) if len_ >= 1 else None
    too_long = GET_PEERSEC_SELINUX.fail(E.ERANGE, optlen=Range(len_ + 1, INT_MAX))
    return tuple(o for o in (fits, too_long) if o is not None)


def selinux_stream_class(sock) -> bool:
    """socket_type_to_security_class(): SECCLASS_UNIX_STREAM_SOCKET or SECCLASS_TCP_SOCKET (a
    stream inet socket of protocol 0, TCP or MPTCP)."""
    if sock.family == L.AF_UNIX:
        return sock.type in (L.SOCK_STREAM, L.SOCK_SEQPACKET)
    return sock.family in (L.AF_INET, L.AF_INET6) and sock.type == L.SOCK_STREAM


def sock_getbindtodevice(sock, out: OptOut, len_: int):
    index = sock.opts.get("SO_BINDTODEVICE", 0)
    if index == 0:
        return GET_BINDTODEVICE.ok(0, **out.shown(0, b""))
    if len_ < IFNAMSIZ:
        return GET_BINDTODEVICE_SHORT.fail(E.EINVAL, **out.unchanged())
    names = [n for n, i in KNOWN_DEVICES.items() if i == index]
    if not names:
        raise NotModelled(f"the name of device {index}")
    name = names[0] + b"\0"
    if not out.writable(len(name)):
        return GET_FAULT.fail(E.EFAULT, **out.unchanged())
    return GET_BINDTODEVICE.ok(0, **out.shown(len(name), name))

