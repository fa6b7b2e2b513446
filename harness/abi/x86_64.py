"""x86_64 (LP64) syscall numbers, from arch/x86/entry/syscalls/syscall_64.tbl.

x86_64 has no socketcall: its number 102 is getuid. socketcall exists here only on the
32-bit compat path (see harness.abi.i386).
"""

NAME = "x86_64"
POINTER_SIZE = 8
HAS_SOCKETCALL = False

SYSCALLS = {
    "close": 3,
    "fstat": 5,
    "mmap": 9,
    "mprotect": 10,
    "munmap": 11,
    "dup": 32,
    "dup2": 33,
    "getpid": 39,
    "socket": 41,
    "connect": 42,
    "accept": 43,
    "sendto": 44,
    "recvfrom": 45,
    "sendmsg": 46,
    "recvmsg": 47,
    "shutdown": 48,
    "bind": 49,
    "listen": 50,
    "getsockname": 51,
    "getpeername": 52,
    "socketpair": 53,
    "setsockopt": 54,
    "getsockopt": 55,
    "fcntl": 72,
    "readlink": 89,
    "getuid": 102,
    "capget": 125,
    "capset": 126,
    "prctl": 157,
    "exit_group": 231,
    "readlinkat": 267,
    "accept4": 288,
    "dup3": 292,
    "recvmmsg": 299,
    "sendmmsg": 307,
    "close_range": 436,
    "unshare": 272,
    "ppoll": 271,
    "ioctl": 16,
    # setup calls of suite/fdkinds.py (descriptors of every kind; not calls under test)
    "pidfd_open": 434,
    "memfd_create": 319,
    "eventfd2": 290,
    "epoll_create1": 291,
    "timerfd_create": 283,
    "signalfd4": 289,
    "inotify_init1": 294,
    "fanotify_init": 300,
    "userfaultfd": 323,
    "perf_event_open": 298,
    "io_uring_setup": 425,
    "bpf": 321,
    "fsopen": 430,
    "fspick": 433,
    "open_tree": 428,
}
