"""aarch64 (LP64) syscall numbers, from include/uapi/asm-generic/unistd.h.

The generic table has no socketcall, no dup2 and no readlink (dup3 and readlinkat serve).
"""

NAME = "aarch64"
POINTER_SIZE = 8
HAS_SOCKETCALL = False

SYSCALLS = {
    "dup": 23,
    "dup3": 24,
    "fcntl": 25,
    "readlinkat": 78,
    "fstat": 80,
    "exit_group": 94,
    "capget": 90,
    "capset": 91,
    "prctl": 167,
    "getpid": 172,
    "getuid": 174,
    "socket": 198,
    "socketpair": 199,
    "bind": 200,
    "listen": 201,
    "accept": 202,
    "connect": 203,
    "getsockname": 204,
    "getpeername": 205,
    "sendto": 206,
    "recvfrom": 207,
    "setsockopt": 208,
    "getsockopt": 209,
    "shutdown": 210,
    "sendmsg": 211,
    "recvmsg": 212,
    "munmap": 215,
    "mmap": 222,
    "mprotect": 226,
    "accept4": 242,
    "recvmmsg": 243,
    "sendmmsg": 269,
    "close": 57,
    "close_range": 436,
    "unshare": 97,
    "ppoll": 73,
    "ioctl": 29,
    # setup calls of suite/fdkinds.py (descriptors of every kind; not calls under test)
    "pidfd_open": 434,
    "memfd_create": 279,
    "eventfd2": 19,
    "epoll_create1": 20,
    "timerfd_create": 85,
    "signalfd4": 74,
    "inotify_init1": 26,
    "fanotify_init": 262,
    "userfaultfd": 282,
    "perf_event_open": 241,
    "io_uring_setup": 425,
    "bpf": 280,
    "fsopen": 430,
    "fspick": 433,
    "open_tree": 428,
}
