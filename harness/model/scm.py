"""Control messages of unix sockets: net/core/scm.c (__scm_send(), scm_fp_copy(),
scm_check_creds(), put_cmsg(), scm_detach_fds()), include/net/scm.h (scm_send(), scm_recv())
and net/unix/af_unix.c (unix_scm_to_skb(), maybe_add_creds(), unix_detach_fds(),
unix_peek_fds(), unix_destruct_scm()); unix(7), cmsg(3).

A send walks msg_control as __scm_send() does and answers a ``Scm`` (the files of its
SCM_RIGHTS messages, the credentials of an SCM_CREDENTIALS one) or an error outcome; the unix
send paths attach it to the skb they queue (``Skb.fp``, ``Skb.creds``). A receive hands the
skb's Scm to the recvmsg wrapper, which predicts what scm_recv() writes in msg_control (the
ucred with SO_PASSCRED, then the received descriptors: the lowest free numbers, each referring
to the sent file) and the MSG_CTRUNC of what did not fit; files that were not installed are
dropped. A file whose last reference was an skb is released when that skb goes (the receiver
read it without room for it, or was closed with it unread): ``settle()``.

Not modelled: the compat layout (struct compat_cmsghdr through int $0x80), control messages on
other families, SCM_SECURITY (SO_PASSSEC) and SCM_PIDFD (SO_PASSPIDFD), a unix socket that is
sent over itself or that carries descriptors itself (the garbage collector's cycles), the
credentials of a message sent while neither end had SO_PASSCRED (pid 0, the overflow ids),
RLIMIT_NOFILE running out while descriptors are installed, and the in-flight limit
(ETOOMANYREFS).
"""
from __future__ import annotations

import errno as E
import os
import struct
from dataclasses import dataclass, field

from ..abi import cmsg
from ..abi import linux as L
from .rules import rule
from .state import Sock

PID_MAX_LIMIT = 4 * 1024 * 1024     # include/linux/threads.h: no pid is above this
INVALID_ID = 0xFFFFFFFF             # (uid_t)-1: make_kuid() gives INVALID_UID

_SEND = "net/core/scm.c __scm_send()"

CONTROL_EMPTY = rule(
    "scm.control_empty", "the message is sent without control data",
    "A non-NULL msg_control with msg_controllen 0 is ignored: nothing is copied and nothing "
    "is parsed.",
    "net/socket.c ____sys_sendmsg(): ctl_len = msg_controllen; else if (ctl_len) { ... "
    "copy_from_user() }; include/net/scm.h scm_send(): if (msg->msg_controllen <= 0) return 0")
CONTROL_SHORT = rule(
    "scm.control_short", "the message is sent without control data",
    "msg_controllen shorter than a struct cmsghdr (16 bytes): the walk finds no first "
    "header, so nothing is parsed (and nothing is refused).",
    f"include/linux/socket.h __CMSG_FIRSTHDR(): len >= sizeof(struct cmsghdr) ? ctl : NULL; "
    f"{_SEND}: for_each_cmsghdr(); cmsg(3)")
CMSG_LEN_BAD = rule(
    "scm.cmsg_len_invalid", "EINVAL",
    "A header whose cmsg_len is shorter than the header itself, or runs past msg_controllen "
    "(whatever its level).",
    f"{_SEND}: if (!CMSG_OK(msg, cmsg)) goto error (err = -EINVAL); include/linux/socket.h "
    "CMSG_OK(); cmsg(3)")
OTHER_LEVEL = rule(
    "scm.level_ignored", "the message is sent; the control message is ignored",
    "A control message whose cmsg_level is not SOL_SOCKET is skipped on a unix socket "
    "(its cmsg_len is still checked).",
    f"{_SEND}: if (cmsg->cmsg_level != SOL_SOCKET) continue")
TYPE_UNKNOWN = rule(
    "scm.type_unknown", "EINVAL",
    "An SOL_SOCKET control message of a type other than SCM_RIGHTS and SCM_CREDENTIALS "
    "(SCM_SECURITY included) is refused.",
    f"{_SEND}: switch (cmsg->cmsg_type) default: goto error (err = -EINVAL); unix(7)")
RIGHTS = rule(
    "scm.rights", "the message carries the files",
    "SCM_RIGHTS takes a reference to the open file of each descriptor (an O_PATH one too) and "
    "queues them with the message; the sender may close its descriptors at once.",
    "net/core/scm.c scm_fp_copy(): fget_raw(fd); net/unix/af_unix.c unix_scm_to_skb() -> "
    "unix_attach_fds(); unix(7) SCM_RIGHTS")
RIGHTS_EMPTY = rule(
    "scm.rights_empty", "the message is sent without descriptors",
    "An SCM_RIGHTS message with no room for a descriptor (cmsg_len < CMSG_LEN(sizeof(int))) "
    "carries nothing.",
    "net/core/scm.c scm_fp_copy(): num = (cmsg_len - sizeof(struct cmsghdr)) / sizeof(int); "
    "if (num <= 0) return 0")
RIGHTS_TOO_MANY = rule(
    "scm.rights_too_many", "EINVAL",
    "More than SCM_MAX_FD (253) descriptors in one SCM_RIGHTS message, or in all the "
    "SCM_RIGHTS messages of one sendmsg together.",
    "net/core/scm.c scm_fp_copy(): if (num > SCM_MAX_FD) return -EINVAL; if (fpl->count + num "
    "> fpl->max) return -EINVAL; include/net/scm.h SCM_MAX_FD 253; unix(7) ERRORS EINVAL")
RIGHTS_EBADF = rule(
    "scm.rights_ebadf", "EBADF",
    "An SCM_RIGHTS payload holding a number that is not an open descriptor (or is negative).",
    "net/core/scm.c scm_fp_copy(): if (fd < 0 || !(file = fget_raw(fd))) return -EBADF; "
    "unix(7) ERRORS EBADF")
CREDS = rule(
    "scm.credentials", "the message carries the given pid, uid and gid",
    "SCM_CREDENTIALS sends the struct ucred given (checked by scm_check_creds()) in place of "
    "the sender's own.",
    f"{_SEND} case SCM_CREDENTIALS: p->creds.pid/uid/gid; unix(7) SCM_CREDENTIALS")
CREDS_LEN = rule(
    "scm.credentials_len", "EINVAL",
    "An SCM_CREDENTIALS message whose cmsg_len is not CMSG_LEN(sizeof(struct ucred)).",
    f"{_SEND}: if (cmsg->cmsg_len != CMSG_LEN(sizeof(struct ucred))) goto error")
CREDS_INVALID_ID = rule(
    "scm.credentials_invalid_id", "EINVAL",
    "A uid or gid not mapped in the caller's user namespace (-1 never is; in a user "
    "namespace, every id its uid_map/gid_map leaves out); checked before the permission.",
    "include/net/scm.h/net/core/scm.c scm_check_creds(): if (!uid_valid(uid) || "
    "!gid_valid(gid)) return -EINVAL")
CREDS_EPERM = rule(
    "scm.credentials_eperm", "EPERM",
    "Credentials other than the caller's own: a pid other than its own needs CAP_SYS_ADMIN, a "
    "uid other than its real, effective or saved uid CAP_SETUID, a gid other than its real, "
    "effective or saved gid CAP_SETGID.",
    "net/core/scm.c scm_check_creds(): (pid == task_tgid_vnr(current) || ns_capable(..., "
    "CAP_SYS_ADMIN)) && (uid_eq(uid, cred->uid/euid/suid) || ns_capable(CAP_SETUID)) && "
    "(gid ... || ns_capable(CAP_SETGID)) else -EPERM; unix(7) SCM_CREDENTIALS")
CREDS_ESRCH = rule(
    "scm.credentials_esrch", "ESRCH",
    "With CAP_SYS_ADMIN, a pid that names no process (0, negative, above PID_MAX_LIMIT).",
    f"{_SEND}: pid = find_get_pid(creds.pid); if (!pid) goto error (err = -ESRCH)")
PASSCRED_CREDS = rule(
    "send.unix_passcred_creds", "the message carries the sender's pid, uid and gid",
    "Without SCM_CREDENTIALS, a unix message is stamped with the sender's tgid, real uid and "
    "real gid when the sender or the receiver has SO_PASSCRED at the time of the send.",
    "net/unix/af_unix.c maybe_add_creds(): unix_passcred_enabled(sock, other) -> "
    "UNIXCB(skb).pid = task_tgid(current); current_uid_gid(); unix(7) SO_PASSCRED")

_RECV = "include/net/scm.h scm_recv()"
RECV_RIGHTS = rule(
    "recvmsg.scm_rights", "an SCM_RIGHTS message with new descriptors",
    "The received descriptors are installed one by one at the lowest free numbers; each refers "
    "to the file that was sent (its /proc/self/fd link and inode), FD_CLOEXEC clear.",
    "net/core/scm.c scm_detach_fds() -> receive_fd_user() -> get_unused_fd_flags(), "
    "fd_install(); unix(7) SCM_RIGHTS",
    shows=("answer", "out.control", "open", "inode", "FD_CLOEXEC"))
RECV_CLOEXEC = rule(
    "recvmsg.scm_rights_cloexec", "the received descriptors have FD_CLOEXEC",
    "MSG_CMSG_CLOEXEC sets close-on-exec on every received descriptor.",
    "net/core/scm.c scm_detach_fds(): o_flags = (msg->msg_flags & MSG_CMSG_CLOEXEC) ? "
    "O_CLOEXEC : 0; recvmsg(2) MSG_CMSG_CLOEXEC",
    shows=("FD_CLOEXEC",))
RECV_RIGHTS_CTRUNC = rule(
    "recvmsg.scm_rights_ctrunc", "MSG_CTRUNC; only the descriptors that fit are installed",
    "A msg_control too short for every descriptor gets as many as fit "
    "((msg_controllen - sizeof(struct cmsghdr)) / sizeof(int)), MSG_CTRUNC, and the rest are "
    "closed.",
    "net/core/scm.c scm_detach_fds(): fdmax = min(scm_max_fds(msg), count); if (i < count || "
    "(count && fdmax <= 0)) msg_flags |= MSG_CTRUNC; __scm_destroy(scm); unix(7) BUGS",
    shows=("out.msg_flags", "out.control"))
RECV_NO_CONTROL = rule(
    "recvmsg.scm_no_control", "MSG_CTRUNC when there were descriptors or SO_PASSCRED; the "
    "descriptors are closed",
    "A receive without msg_control (NULL, recv, recvfrom) of a message carrying descriptors, "
    "or on a socket with SO_PASSCRED, sets MSG_CTRUNC and drops what it carried.",
    f"{_RECV}: if (!msg->msg_control) {{ if (SOCK_PASSCRED || scm->fp) msg_flags |= "
    "MSG_CTRUNC; scm_destroy(scm); return; }",
    shows=("out.msg_flags",))
RECV_CREDS = rule(
    "recvmsg.scm_credentials", "an SCM_CREDENTIALS message: the sender's pid, uid, gid",
    "With SO_PASSCRED on the receiving socket, every received message carries an "
    "SCM_CREDENTIALS message, first: the credentials stamped at the send.",
    f"{_RECV}: if (SOCK_PASSCRED) put_cmsg(msg, SOL_SOCKET, SCM_CREDENTIALS, sizeof(ucreds), "
    "&ucreds); unix(7) SO_PASSCRED",
    shows=("out.control",))
PUT_CMSG_CTRUNC = rule(
    "recvmsg.put_cmsg_ctrunc", "MSG_CTRUNC; the message cut at msg_controllen",
    "A control message that does not fit: MSG_CTRUNC, and as much of it as fits is written "
    "(cmsg_len says the cut length); nothing at all when not even a header fits.",
    "net/core/scm.c put_cmsg(): if (msg_controllen < sizeof(struct cmsghdr)) { MSG_CTRUNC; "
    "return 0 } if (msg_controllen < cmlen) { MSG_CTRUNC; cmlen = msg_controllen }",
    shows=("out.msg_flags", "out.control"))
RECV_PEEK_DUPS = rule(
    "recvmsg.scm_rights_peek", "new descriptors; the message keeps its files",
    "MSG_PEEK of a message carrying descriptors installs copies: a later read installs them "
    "again.",
    "net/unix/af_unix.c __unix_dgram_recvmsg(), unix_stream_read_generic(): MSG_PEEK -> "
    "unix_peek_fds() (scm_fp_dup())")
STREAM_SCM_STOPS = rule(
    "recv.unix_stream_scm_stops", "the read ends after the bytes that carried descriptors",
    "A unix stream read returns after the bytes of an skb that carried descriptors (the next "
    "message's descriptors are for the next read); with SO_PASSCRED it also stops before "
    "bytes stamped with other credentials.",
    "net/unix/af_unix.c unix_stream_read_generic(): if (scm.fp) break; MSG_PEEK: if "
    "(UNIXCB(skb).fp) break; if (check_creds && !unix_skb_scm_eq(skb, &scm)) break")
INFLIGHT_RELEASED = rule(
    "close.unix_inflight_released", "the files the unread messages carried are released",
    "Closing a unix socket frees the messages still queued to it; a file whose last "
    "reference was such a message is released then (a socket sent that way hangs up its peer).",
    "net/unix/af_unix.c unix_release_sock(): skb_queue_purge(&sk->sk_receive_queue) -> "
    "unix_destruct_scm() -> scm_destroy() -> fput(); unix_gc()")

SCM_RULES = (CONTROL_EMPTY, CONTROL_SHORT, CMSG_LEN_BAD, OTHER_LEVEL, TYPE_UNKNOWN, RIGHTS,
             RIGHTS_EMPTY, RIGHTS_TOO_MANY, RIGHTS_EBADF, CREDS, CREDS_LEN, CREDS_INVALID_ID,
             CREDS_EPERM, CREDS_ESRCH, PASSCRED_CREDS)


@dataclass(frozen=True)
class Task:
    """The caller's ids as the socket layer reads them (task_tgid(), current_cred()); read
    from the process outside the socket layer, never from the call under test."""
    pid: int
    uids: tuple                         # real, effective, saved
    gids: tuple
    ppid: int = 1                       # another process known to exist: the parent
    uid_map: tuple = ((0, 0xFFFFFFFF),)   # the ids mapped in the caller's user namespace:
    gid_map: tuple = ((0, 0xFFFFFFFF),)   # (first, count) ranges of /proc/self/uid_map

    @classmethod
    def current(cls) -> "Task":
        return cls(os.getpid(), tuple(os.getresuid()), tuple(os.getresgid()), os.getppid() or 1,
                   _id_map("uid_map"), _id_map("gid_map"))

    def mapped(self, id_: int, which: str) -> bool:
        """make_kuid()/make_kgid() in the caller's namespace gives a valid id."""
        ranges = self.uid_map if which == "uid" else self.gid_map
        return id_ != INVALID_ID and any(first <= id_ < first + count for first, count in ranges)

    @property
    def creds(self) -> tuple:
        """(tgid, real uid, real gid): current_uid_gid()."""
        return (self.pid, self.uids[0], self.gids[0])


_ID_MAPS: dict[tuple, tuple] = {}


def _id_map(name: str) -> tuple:
    """/proc/self/uid_map or gid_map: (first id inside, count) per line. A map, once written,
    never changes (user_namespaces(7): it may be written once), so it is read once per user
    namespace; an empty one (not written yet) is read again."""
    try:
        key = (os.readlink("/proc/self/ns/user"), name)
    except OSError:
        key = None
    if key in _ID_MAPS:
        return _ID_MAPS[key]
    try:
        with open(f"/proc/self/{name}") as f:
            ranges = tuple((int(p[0]), int(p[2])) for p in (line.split() for line in f) if len(p) == 3)
    except OSError:
        return ((0, 0xFFFFFFFF),)
    if ranges and key is not None:
        _ID_MAPS[key] = ranges
    return ranges


@dataclass
class Scm:
    """struct scm_cookie as far as it is observable: the files of SCM_RIGHTS (FdEntry.obj, in
    order), the credentials given by SCM_CREDENTIALS (None: none given)."""
    fp: tuple = ()
    creds: tuple | None = None
    rules: tuple = field(default_factory=tuple)


def _fail(rule_, err, also=()):
    from .rules import Exact, Outcome
    return Outcome(rule_, err, Exact(-1), {}, None, tuple(also))


def scm_send(m, sock, control: bytes | None):
    """scm_send() -> __scm_send() on the kernel's copy of msg_control: a Scm, or the error."""
    if control is None:
        return Scm()
    if len(control) == 0:
        return Scm(rules=(CONTROL_EMPTY,))
    h = cmsg.hdr_size()
    if len(control) < h:
        return Scm(rules=(CONTROL_SHORT,))
    fp: list = []
    creds, rules_ = None, []
    for off, length, level, type_ in cmsg.walk(control):
        if length < h or length > len(control) - off:      # CMSG_OK()
            return _fail(CMSG_LEN_BAD, E.EINVAL, rules_)
        data = control[off + h:off + length]
        if level != cmsg.SOL_SOCKET:
            rules_.append(OTHER_LEVEL)
            continue
        if type_ == cmsg.SCM_RIGHTS:
            num = len(data) // 4
            if num <= 0:
                rules_.append(RIGHTS_EMPTY)
                continue
            if num > cmsg.SCM_MAX_FD or len(fp) + num > cmsg.SCM_MAX_FD:
                return _fail(RIGHTS_TOO_MANY, E.EINVAL, rules_)
            for i in range(num):
                fd = struct.unpack_from("=i", data, 4 * i)[0]
                entry = m.fds.get(fd) if fd >= 0 else None
                if entry is None:
                    return _fail(RIGHTS_EBADF, E.EBADF, rules_)
                fp.append(entry.obj)
            rules_.append(RIGHTS)
        elif type_ == cmsg.SCM_CREDENTIALS:
            if length != cmsg.cmsg_len(cmsg.UCRED.size):
                return _fail(CREDS_LEN, E.EINVAL, rules_)
            pid, uid, gid = cmsg.UCRED.unpack(data)
            bad = _check_creds(m, pid, uid, gid)
            if bad is not None:
                return _fail(bad[0], bad[1], rules_)
            creds = (pid, uid, gid)
            rules_.append(CREDS)
        else:
            return _fail(TYPE_UNKNOWN, E.EINVAL, rules_)
    return Scm(tuple(fp), creds, tuple(dict.fromkeys(rules_)))


def _check_creds(m, pid: int, uid: int, gid: int):
    """scm_check_creds() and the pid lookup that follows it: None, or (rule, errno)."""
    task = m.task
    if not task.mapped(uid, "uid") or not task.mapped(gid, "gid"):
        return CREDS_INVALID_ID, E.EINVAL
    if not ((pid == task.pid or m.capable("CAP_SYS_ADMIN"))
            and (uid in task.uids or m.capable("CAP_SETUID"))
            and (gid in task.gids or m.capable("CAP_SETGID"))):
        return CREDS_EPERM, E.EPERM
    if pid != task.pid and pid != task.ppid:
        if pid <= 0 or pid > PID_MAX_LIMIT:
            return CREDS_ESRCH, E.ESRCH
        from .socket import NotModelled
        raise NotModelled("SCM_CREDENTIALS with another process's pid (it may or may not exist)")
    return None


def check_files(scm: Scm, other) -> None:
    """What the model leaves to the garbage collector."""
    from .socket import NotModelled
    for f in scm.fp:
        if f is other or (isinstance(f, Sock) and any(s.fp for s in f.recv_queue)):
            raise NotModelled("a unix socket sent over itself or carrying descriptors itself "
                              "(the garbage collector)")


def skb_creds(m, scm: Scm, sock, other):
    """unix_scm_to_skb() + maybe_add_creds(): the credentials stamped on the skb, or None.
    Returns (creds, rules)."""
    if scm.creds is not None:
        return scm.creds, ()
    if sock.opts.get("SO_PASSCRED") or other.opts.get("SO_PASSCRED"):
        return m.task.creds, (PASSCRED_CREDS,)
    return None, ()


# --------------------------------------------------------------------------- receive

def put_cmsg(buf: bytearray, room: int, level: int, type_: int, data: bytes):
    """put_cmsg(): appends to buf; returns (room left, truncated)."""
    h = cmsg.hdr_size()
    if room < h:
        return room, True
    cmlen = cmsg.cmsg_len(len(data))
    cut = room < cmlen
    if cut:
        cmlen = room
    start = len(buf)
    buf += cmsg.pack_hdr(cmlen, level, type_) + data[:cmlen - h]
    step = min(cmsg.cmsg_space(len(data)), room)
    buf += bytes(start + step - len(buf)) if start + step > len(buf) else b""
    return room - step, cut


@dataclass
class Delivery:
    """What scm_recv() did: the bytes written to msg_control, msg_controllen, whether
    MSG_CTRUNC is set, the descriptors installed ((fd, file, cloexec)), the rules."""
    control: bytes = b""
    used: int = 0
    ctrunc: bool = False
    installs: list = field(default_factory=list)
    rules: tuple = ()


def scm_recv(m, sock, fp: tuple, creds, has_control: bool, controllen: int, flags: int) -> Delivery:
    """scm_recv() (scm_recv_unix() in later kernels): the credentials, then scm_detach_fds()."""
    from .socket import NotModelled
    passcred = bool(sock.opts.get("SO_PASSCRED"))
    if sock.opts.get("SO_PASSSEC") or sock.opts.get("SO_PASSPIDFD"):
        raise NotModelled("SCM_SECURITY / SCM_PIDFD on receive")
    if not has_control:
        rules_ = (RECV_NO_CONTROL,) if (passcred or fp) else ()
        return Delivery(ctrunc=bool(passcred or fp), rules=rules_)
    buf, room, ctrunc, rules_ = bytearray(), controllen, False, []
    if passcred:
        if creds is None:
            raise NotModelled("the credentials of a message sent while neither end had "
                              "SO_PASSCRED (pid 0 and the overflow uid/gid)")
        pid, uid, gid = creds
        room, cut = put_cmsg(buf, room, cmsg.SOL_SOCKET, cmsg.SCM_CREDENTIALS,
                             cmsg.UCRED.pack(pid, uid, gid))
        rules_.append(RECV_CREDS)
        if cut:
            ctrunc = True
            rules_.append(PUT_CMSG_CTRUNC)
    installs = []
    if fp:
        h = cmsg.hdr_size()
        fdmax = min((room - h) // 4 if room > h else 0, len(fp))
        cloexec = bool(flags & L.MSG_CMSG_CLOEXEC)
        taken = set(m.fds.entries)
        for f in fp[:fdmax]:
            fd = 0
            while fd in taken:
                fd += 1
            if fd >= m.fds.rlimit:
                raise NotModelled("RLIMIT_NOFILE reached while installing received descriptors")
            taken.add(fd)
            installs.append((fd, f, cloexec))
        i = len(installs)
        if i:
            data = b"".join(struct.pack("=i", fd) for fd, _, _ in installs)
            start = len(buf)
            buf += cmsg.pack_hdr(cmsg.cmsg_len(4 * i), cmsg.SOL_SOCKET, cmsg.SCM_RIGHTS) + data
            step = min(cmsg.cmsg_space(4 * i), room)
            if start + step > len(buf):
                buf += bytes(start + step - len(buf))
            room -= step
            rules_.append(RECV_RIGHTS)
            if cloexec:
                rules_.append(RECV_CLOEXEC)
        if i < len(fp) or fdmax <= 0:
            ctrunc = True
            rules_.append(RECV_RIGHTS_CTRUNC)
    used = controllen - room
    return Delivery(bytes(buf[:used]), used, ctrunc, installs, tuple(rules_))


def in_flight(m, obj) -> bool:
    """Does an skb still queued somewhere hold a reference to ``obj``?"""
    seen, todo = set(), list(m.fds.socks())
    while todo:
        s = todo.pop()
        if s.ident in seen:
            continue
        seen.add(s.ident)
        todo += s.accept_queue
        for skb in s.recv_queue:
            for f in skb.fp:
                if f is obj:
                    return True
                if isinstance(f, Sock):
                    todo.append(f)
    return False


def settle(m, files) -> None:
    """fput() of files an skb held: a socket with no descriptor left and no skb holding it
    is released (sock_close())."""
    from .file import release
    for f in dict.fromkeys(files):
        if isinstance(f, Sock) and f.state != "closed" and not m.fds.fds_of(f) \
                and not in_flight(m, f):
            release(m, f)


def purge(m, skbs) -> None:
    """skb_queue_purge(): the files the skbs held are dropped."""
    files = []
    for skb in skbs:
        files += skb.fp
        skb.fp = ()
    settle(m, files)
