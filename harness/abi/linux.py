"""Linux socket-layer constants shared by x86_64, i386 and aarch64 (include/uapi/linux/*.h,
include/linux/socket.h, include/linux/net.h, include/uapi/asm-generic/*.h).

Only what is the same on every supported architecture lives here; syscall numbers are per
architecture (see the sibling modules). errno values come from Python's ``errno`` module, which
on Linux is the kernel's include/uapi/asm-generic/errno*.h.
"""

# Address families (include/linux/socket.h). AF_MAX is a kernel property: see harness.profile.
AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_AX25 = 3
AF_IPX = 4
AF_APPLETALK = 5
AF_NETROM = 6
AF_BRIDGE = 7
AF_ATMPVC = 8
AF_X25 = 9
AF_INET6 = 10
AF_ROSE = 11
AF_DECnet = 12
AF_NETBEUI = 13
AF_SECURITY = 14
AF_KEY = 15
AF_NETLINK = 16
AF_PACKET = 17
AF_ASH = 18
AF_ECONET = 19
AF_ATMSVC = 20
AF_RDS = 21
AF_SNA = 22
AF_IRDA = 23
AF_PPPOX = 24
AF_WANPIPE = 25
AF_LLC = 26
AF_IB = 27
AF_MPLS = 28
AF_CAN = 29
AF_TIPC = 30
AF_BLUETOOTH = 31
AF_IUCV = 32
AF_RXRPC = 33
AF_ISDN = 34
AF_PHONET = 35
AF_IEEE802154 = 36
AF_CAIF = 37
AF_ALG = 38
AF_NFC = 39
AF_VSOCK = 40
AF_KCM = 41
AF_QIPCRTR = 42
AF_SMC = 43
AF_XDP = 44
AF_MCTP = 45

FAMILY_NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("AF_")}

# Socket types (include/linux/net.h). SOCK_MAX = SOCK_PACKET + 1.
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5
SOCK_DCCP = 6
SOCK_PACKET = 10
SOCK_MAX = SOCK_PACKET + 1
SOCK_TYPE_MASK = 0xF

TYPE_NAMES = {v: k for k, v in dict(globals()).items()
              if k.startswith("SOCK_") and k not in ("SOCK_MAX", "SOCK_TYPE_MASK")}

# fcntl flags (asm-generic/fcntl.h; the same on x86 and arm64). SOCK_* flags equal O_* flags.
O_NONBLOCK = 0o4000
O_CLOEXEC = 0o2000000
O_RDWR = 0o2
SOCK_NONBLOCK = O_NONBLOCK
SOCK_CLOEXEC = O_CLOEXEC

F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_DUPFD_CLOEXEC = 1030
FD_CLOEXEC = 1

# Protocols (include/uapi/linux/in.h, in6.h).
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPV6_V6ONLY = 26                    # include/uapi/linux/in6.h
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132
IPPROTO_UDPLITE = 136
IPPROTO_MPTCP = 262
IPPROTO_RAW = 255

# Netlink protocols (include/uapi/linux/netlink.h).
NETLINK_ROUTE = 0
NETLINK_USERSOCK = 2
NETLINK_MAX_LINKS = 32

# Ethernet protocol numbers for AF_PACKET (include/uapi/linux/if_ether.h), network order in use.
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800

# Socket option levels and options (asm-generic/socket.h; x86 and arm64 use the generic ones).
SOL_SOCKET = 1
SOL_IP = 0
SOL_TCP = 6
SOL_UDP = 17
SOL_IPV6 = 41
SOL_PACKET = 263

SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_BSDCOMPAT = 14
SO_REUSEPORT = 15
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO_OLD = 20
SO_SNDTIMEO_OLD = 21
SO_BINDTODEVICE = 25
SO_ACCEPTCONN = 30
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PROTOCOL = 38
SO_DOMAIN = 39

TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_INFO = 11

# Message flags (include/linux/socket.h).
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000
MSG_WAITFORONE = 0x10000
MSG_CMSG_CLOEXEC = 0x40000000

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

# Address sizes (include/uapi/linux/socket.h, in.h, in6.h, un.h, if_packet.h, netlink.h).
SOCKADDR_STORAGE_SIZE = 128          # _K_SS_MAXSIZE
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28
SOCKADDR_IN6_SIZE_V1 = 24            # SIN6_LEN_RFC2133, accepted by inet6_bind/connect
SOCKADDR_UN_SIZE = 110
UNIX_PATH_MAX = 108
SOCKADDR_LL_SIZE = 20
SOCKADDR_NL_SIZE = 12

INADDR_ANY = 0
INADDR_LOOPBACK = 0x7F000001

# socketcall call numbers (include/uapi/linux/net.h).
SYS_SOCKET = 1
SYS_BIND = 2
SYS_CONNECT = 3
SYS_LISTEN = 4
SYS_ACCEPT = 5
SYS_GETSOCKNAME = 6
SYS_GETPEERNAME = 7
SYS_SOCKETPAIR = 8
SYS_SEND = 9
SYS_RECV = 10
SYS_SENDTO = 11
SYS_RECVFROM = 12
SYS_SHUTDOWN = 13
SYS_SETSOCKOPT = 14
SYS_GETSOCKOPT = 15
SYS_SENDMSG = 16
SYS_RECVMSG = 17
SYS_ACCEPT4 = 18
SYS_RECVMMSG = 19
SYS_SENDMMSG = 20

SOCKETCALL_NAMES = {v: k[4:].lower() for k, v in dict(globals()).items() if k.startswith("SYS_")}

# Number of arguments per socketcall call: net/socket.c nargs[] (in units of unsigned long)
# and net/compat.c nas[] (in units of compat_ulong_t); index 0 is unused.
SOCKETCALL_NARGS = (0, 3, 3, 3, 2, 3, 3, 3, 4, 4, 4, 6, 6, 2, 5, 5, 3, 3, 4, 5, 4)

# Capabilities (include/uapi/linux/capability.h).
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SETGID = 6
CAP_SETUID = 7
CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21

# stat
S_IFMT = 0o170000
S_IFSOCK = 0o140000

# mmap
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40                     # x86_64 only
