"""Control messages (struct cmsghdr, include/linux/socket.h; cmsg(3)), shared by the kernel side
(harness/kernel.py builds msg_control for sendmsg and decodes what recvmsg wrote) and the model
(harness/model/scm.py walks a msg_control as __scm_send() does and predicts what scm_recv()
writes).

The native layout of the 64-bit ABIs (x86_64, aarch64): ``size_t cmsg_len; int cmsg_level;
int cmsg_type;`` (16 bytes), data aligned to sizeof(long). The compat layout (i386, int $0x80)
has a 4-byte cmsg_len and 4-byte alignment (struct compat_cmsghdr, 12 bytes): ``word=4``.

A decoded control buffer is a tuple of ``(level, type, value)``: value is the tuple of
descriptor numbers for SCM_RIGHTS, ``(pid, uid, gid)`` for a whole SCM_CREDENTIALS, and the
raw data bytes otherwise (a truncated struct ucred too).
"""
from __future__ import annotations

import struct

SOL_SOCKET = 1
SCM_RIGHTS = 1                      # include/linux/socket.h
SCM_CREDENTIALS = 2
SCM_SECURITY = 3
SCM_PIDFD = 4
SCM_MAX_FD = 253                    # include/net/scm.h
UCRED = struct.Struct("=iII")       # struct ucred { pid_t pid; uid_t uid; gid_t gid; }
INT = 4


def hdr_size(word: int = 8) -> int:
    """sizeof(struct cmsghdr): 16 native, 12 compat."""
    return 16 if word == 8 else 12


def align(n: int, word: int = 8) -> int:
    """CMSG_ALIGN()."""
    return (n + word - 1) & ~(word - 1)


def cmsg_len(n: int, word: int = 8) -> int:
    """CMSG_LEN(): the header and n data bytes."""
    return hdr_size(word) + n


def cmsg_space(n: int, word: int = 8) -> int:
    """CMSG_SPACE(): the header and n data bytes, padded."""
    return hdr_size(word) + align(n, word)


def pack_hdr(length: int, level: int, type_: int, word: int = 8) -> bytes:
    fmt = "=Qii" if word == 8 else "=Iii"
    return struct.pack(fmt, length & ((1 << (8 * word)) - 1), level, type_)


def cmsg(level: int, type_: int, data: bytes, length: int | None = None, word: int = 8) -> bytes:
    """One control message padded to CMSG_SPACE(len(data)); ``length`` overrides cmsg_len
    (a malformed header)."""
    n = cmsg_len(len(data), word) if length is None else length
    return pack_hdr(n, level, type_, word) + data + bytes(cmsg_space(len(data), word)
                                                          - cmsg_len(len(data), word))


def rights(*fds: int, word: int = 8) -> bytes:
    """An SCM_RIGHTS message carrying ``fds``."""
    return cmsg(SOL_SOCKET, SCM_RIGHTS, b"".join(struct.pack("=i", fd) for fd in fds), word=word)


def credentials(pid: int, uid: int, gid: int, word: int = 8) -> bytes:
    """An SCM_CREDENTIALS message carrying a struct ucred."""
    return cmsg(SOL_SOCKET, SCM_CREDENTIALS, UCRED.pack(pid, uid & 0xFFFFFFFF, gid & 0xFFFFFFFF),
                word=word)


def walk(buf: bytes, word: int = 8):
    """The headers a kernel walk visits (for_each_cmsghdr: __CMSG_FIRSTHDR, __cmsg_nxthdr):
    (offset, cmsg_len, level, type) while a whole header fits in the buffer. cmsg_len is not
    checked here (CMSG_OK is the walker's business)."""
    size, h = len(buf), hdr_size(word)
    fmt = "=Qii" if word == 8 else "=Iii"
    off = 0
    while off + h <= size:
        length, level, type_ = struct.unpack_from(fmt, buf, off)
        yield off, length, level, type_
        nxt = off + align(length, word)
        if nxt <= off or nxt + h > size:      # __cmsg_nxthdr(): the next header must fit
            return
        off = nxt


def value(level: int, type_: int, data: bytes):
    if level == SOL_SOCKET and type_ == SCM_RIGHTS:
        return tuple(struct.unpack_from("=i", data, i)[0] for i in range(0, len(data) - INT + 1, INT))
    if level == SOL_SOCKET and type_ == SCM_CREDENTIALS and len(data) == UCRED.size:
        return UCRED.unpack(data)
    return bytes(data)


def decode(buf: bytes, word: int = 8) -> tuple:
    """The control messages a recvmsg() wrote in the first msg_controllen bytes of its buffer,
    as the user's CMSG_FIRSTHDR/CMSG_NXTHDR walk reads them: a message whose cmsg_len runs past
    the buffer yields the bytes that are there."""
    out = []
    h = hdr_size(word)
    for off, length, level, type_ in walk(buf, word):
        if length < h:
            break
        data = buf[off + h:min(off + length, len(buf))]
        out.append((level, type_, value(level, type_, data)))
    return tuple(out)


def received_fds(control) -> list[int]:
    """The descriptor numbers of every SCM_RIGHTS message in a decoded control buffer."""
    return [fd for level, type_, v in control or ()
            if level == SOL_SOCKET and type_ == SCM_RIGHTS for fd in v]
