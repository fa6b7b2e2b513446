"""Feature markers: facts about what a kernel *is*, read from the kernel itself rather than
inferred from its release string (distribution kernels carry backports).

A marker names one fact and where it is read from:
- ``btf_member``  a member of a struct in the kernel's BTF (/sys/kernel/btf/vmlinux);
- ``btf_enum``    an enumerator of any enum in the BTF;
- ``btf_size``    the size of a struct in the BTF (its value is the size);
- ``kallsyms``    a symbol in /proc/kallsyms (built-in or of a loaded module); only its presence
                  counts: a missing symbol reads as unknown (it may be inlined or renamed);
- ``config``      a kernel config option (its value is "y", "m", a string, or None when unset);
- ``lsm``         a Linux security module the kernel runs (/sys/kernel/security/lsm, securityfs):
                  True or False; without securityfs, False where the config did not build it,
                  else unknown.

This catalogue is shared by the profile (which reads every marker in it) and the model (whose
rules name them), so neither imports the other. A rule's condition on a marker is a ``MarkerTest``:
``has(M)``, ``lacks(M)`` or ``value_is(M, v)``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    name: str             # the id reports and rules use, e.g. "inet_connection_sock.unhashed_state"
    kind: str             # btf_member | btf_enum | btf_size | kallsyms | config
    what: str             # struct.member, enumerator, struct, symbol, or CONFIG_NAME
    description: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class MarkerTest:
    """A condition on one marker's reading: the reading's value must equal ``expect``."""
    marker: Marker
    expect: object

    def holds(self, value) -> bool:
        if self.marker.kind == "config" and self.expect is True:
            return value in ("y", "m")
        if self.marker.kind == "config" and self.expect is False:
            return value in (None, "n")
        return value == self.expect

    def __str__(self) -> str:
        if self.expect is True:
            return f"{self.marker.name} present"
        if self.expect is False:
            return f"{self.marker.name} absent"
        return f"{self.marker.name} = {self.expect}"


def has(marker: Marker) -> MarkerTest:
    return MarkerTest(marker, True)


def lacks(marker: Marker) -> MarkerTest:
    return MarkerTest(marker, False)


def value_is(marker: Marker, value) -> MarkerTest:
    return MarkerTest(marker, value)


CATALOGUE: dict[str, Marker] = {}


def marker(name: str, kind: str, what: str, description: str) -> Marker:
    if name in CATALOGUE:
        raise ValueError(f"marker {name} defined twice")
    m = CATALOGUE[name] = Marker(name, kind, what, description)
    return m


# --------------------------------------------------------------------------- the catalogue

UNHASHED_STATE = marker(
    "inet_connection_sock.unhashed_state", "btf_member", "inet_connection_sock.unhashed_state",
    "TCP remembers that a hashed socket was unhashed (refused connect, connect(AF_UNSPEC)) and "
    "sk_prot->hash() refuses to hash it again: listen() then fails with EINVAL (net-next, "
    "'tcp: Set unhashed_state in inet_twsk_hashdance_schedule()' follows it up)")

TCP_INFO_SIZE = marker(
    "tcp_info.size", "btf_size", "tcp_info",
    "sizeof(struct tcp_info): how many bytes getsockopt(TCP_INFO) copies at most")

CONFIG_AF_UNIX_OOB = marker(
    "CONFIG_AF_UNIX_OOB", "config", "CONFIG_AF_UNIX_OOB",
    "MSG_OOB on unix stream sockets (net/unix/Kconfig, since 5.15)")

CONFIG_IPV6 = marker("CONFIG_IPV6", "config", "CONFIG_IPV6", "IPv6 (AF_INET6)")
CONFIG_PACKET = marker("CONFIG_PACKET", "config", "CONFIG_PACKET", "packet sockets (AF_PACKET)")
CONFIG_IA32_EMULATION = marker("CONFIG_IA32_EMULATION", "config", "CONFIG_IA32_EMULATION",
                               "the 32-bit int $0x80 entry on x86_64")
CONFIG_COMPAT = marker("CONFIG_COMPAT", "config", "CONFIG_COMPAT",
                       "32-bit compat syscalls at all (MSG_CMSG_COMPAT is 0 without them; "
                       "User-Mode Linux never has them)")
LSM_SELINUX = marker("lsm.selinux", "lsm", "selinux",
                     "SELinux is one of the running security modules: its socket hooks check "
                     "bind/connect addresses before the protocol does")
CONFIG_MPTCP = marker("CONFIG_MPTCP", "config", "CONFIG_MPTCP", "Multipath TCP (IPPROTO_MPTCP)")

SK_SCM_CREDENTIALS = marker(
    "sock.sk_scm_credentials", "btf_member", "sock.sk_scm_credentials",
    "SO_PASS{CRED,PIDFD,SEC} flags moved to struct sock bits in the series that restricted them "
    "to AF_UNIX/AF_NETLINK/AF_BLUETOOTH (net-next May 2025, v6.16)")

UNIX_OOB_SKB = marker(
    "unix_sock.oob_skb", "btf_member", "unix_sock.oob_skb",
    "the unix socket keeps a pointer to its out-of-band skb (CONFIG_AF_UNIX_OOB built in)")


# -- what the profile decides from (harness/profile.py): families and the compat path, read
# from the kernel's config and symbols, never from the socket calls the suite checks
CONFIG_NET = marker("CONFIG_NET", "config", "CONFIG_NET",
                    "networking; AF_NETLINK (net/netlink/af_netlink.c) is built with it")
CONFIG_UNIX = marker("CONFIG_UNIX", "config", "CONFIG_UNIX", "unix domain sockets (AF_UNIX)")
CONFIG_INET = marker("CONFIG_INET", "config", "CONFIG_INET", "TCP/IP (AF_INET)")
CONFIG_DECNET = marker("CONFIG_DECNET", "config", "CONFIG_DECNET",
                       "DECnet (AF_DECnet; removed in 6.1)")
CONFIG_IA32_EMULATION_DEFAULT_DISABLED = marker(
    "CONFIG_IA32_EMULATION_DEFAULT_DISABLED", "config", "CONFIG_IA32_EMULATION_DEFAULT_DISABLED",
    "IA32 emulation is built but off unless the kernel is booted with ia32_emulation=1 (6.7)")

SYM_UNIX_CREATE = marker("kallsyms.unix_create", "kallsyms", "unix_create",
                         "AF_UNIX's create(), built in or loaded (net/unix/af_unix.c)")
SYM_INET_CREATE = marker("kallsyms.inet_create", "kallsyms", "inet_create",
                         "AF_INET's create() (net/ipv4/af_inet.c)")
SYM_INET6_CREATE = marker("kallsyms.inet6_create", "kallsyms", "inet6_create",
                          "AF_INET6's create(), built in or loaded (net/ipv6/af_inet6.c)")
SYM_NETLINK_CREATE = marker("kallsyms.netlink_create", "kallsyms", "netlink_create",
                            "AF_NETLINK's create() (net/netlink/af_netlink.c)")
SYM_PACKET_CREATE = marker("kallsyms.packet_create", "kallsyms", "packet_create",
                           "AF_PACKET's create(), built in or loaded (net/packet/af_packet.c)")
SYM_DN_CREATE = marker("kallsyms.dn_create", "kallsyms", "dn_create",
                       "AF_DECnet's create() (net/decnet/af_decnet.c, until 6.1)")
SYM_IA32_SOCKETCALL = marker("kallsyms.__ia32_compat_sys_socketcall", "kallsyms",
                             "__ia32_compat_sys_socketcall",
                             "the i386 socketcall entry of the compat syscall table")


# -- the descriptor kinds of suite/fdkinds.py: which files this kernel can open at all (setup
# calls outside the socket layer; a kind the config leaves out is skipped with this reading)
FD_KIND_CONFIGS = {
    name: marker(name, "config", name, description) for name, description in (
        ("CONFIG_EVENTFD", "eventfd(2) (fs/eventfd.c)"),
        ("CONFIG_EPOLL", "epoll(7) (fs/eventpoll.c)"),
        ("CONFIG_TIMERFD", "timerfd_create(2) (fs/timerfd.c)"),
        ("CONFIG_SIGNALFD", "signalfd(2) (fs/signalfd.c)"),
        ("CONFIG_MEMFD_CREATE", "memfd_create(2) (mm/memfd.c)"),
        ("CONFIG_INOTIFY_USER", "inotify(7) (fs/notify/inotify)"),
        ("CONFIG_FANOTIFY", "fanotify(7) (fs/notify/fanotify)"),
        ("CONFIG_USERFAULTFD", "userfaultfd(2) (fs/userfaultfd.c)"),
        ("CONFIG_PERF_EVENTS", "perf_event_open(2) (kernel/events)"),
        ("CONFIG_IO_URING", "io_uring_setup(2) (io_uring/)"),
        ("CONFIG_BPF_SYSCALL", "bpf(2) (kernel/bpf/syscall.c)"),
    )}
