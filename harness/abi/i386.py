"""i386 (ILP32) syscall numbers, from arch/x86/entry/syscalls/syscall_32.tbl.

On x86_64 these are reached through ``int $0x80`` (the IA32 compat entry). socketcall is 102
here (not 112, whatever older write-ups say). i386 has no direct ``accept``: only accept4
(364) and socketcall's SYS_ACCEPT. Direct socket syscalls exist since Linux 4.3.
"""

NAME = "i386"
POINTER_SIZE = 4
HAS_SOCKETCALL = True

SYSCALLS = {
    "close": 6,
    "getpid": 20,
    "getuid": 24,
    "dup": 41,
    "fcntl": 55,
    "dup2": 63,
    "readlink": 85,
    "munmap": 91,
    "socketcall": 102,
    "fstat": 108,
    "mprotect": 125,
    "prctl": 172,
    "capget": 184,
    "capset": 185,
    "mmap2": 192,
    "getuid32": 199,
    "fcntl64": 221,
    "exit_group": 252,
    "readlinkat": 305,
    "dup3": 330,
    "recvmmsg": 337,
    "sendmmsg": 345,
    "socket": 359,
    "socketpair": 360,
    "bind": 361,
    "connect": 362,
    "listen": 363,
    "accept4": 364,
    "getsockopt": 365,
    "setsockopt": 366,
    "getsockname": 367,
    "getpeername": 368,
    "sendto": 369,
    "sendmsg": 370,
    "recvfrom": 371,
    "recvmsg": 372,
    "shutdown": 373,
    "recvmmsg_time64": 417,
    "close_range": 436,
    "unshare": 310,
    "ppoll": 309,
    "ioctl": 54,
}
