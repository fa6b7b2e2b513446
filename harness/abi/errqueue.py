"""The error queue's user-space ABI, shared by the kernel side and the model: the control
messages a receive returns (struct cmsghdr, include/linux/socket.h) and the struct
sock_extended_err of IP_RECVERR / IPV6_RECVERR (include/uapi/linux/errqueue.h), with the
offender's address after it (ip_recv_error(), ipv6_recv_error()).

``cmsgs(data, abi)`` walks the control buffer as CMSG_FIRSTHDR/CMSG_NXTHDR do and decodes the
messages it knows (an IP_RECVERR payload as SockExtendedErr); the kernel side shows that list,
the model predicts it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from . import linux as L

IP_RECVERR = 11             # include/uapi/linux/in.h
IPV6_RECVERR = 25           # include/uapi/linux/in6.h
MSG_ERRQUEUE = 0x2000       # include/linux/socket.h

SO_EE_ORIGIN_NONE = 0       # include/uapi/linux/errqueue.h
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

ICMP_DEST_UNREACH, ICMP_PORT_UNREACH = 3, 3         # include/uapi/linux/icmp.h
ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH = 1, 4     # include/uapi/linux/icmpv6.h

# struct sock_extended_err { __u32 ee_errno; __u8 ee_origin, ee_type, ee_code, ee_pad;
#                            __u32 ee_info; __u32 ee_data; }
EE = struct.Struct("=IBBBBII")


def cmsg_align(n: int, abi) -> int:
    """CMSG_ALIGN(): to sizeof(long) natively, to 4 for the compat layout."""
    a = abi.pointer_size
    return (n + a - 1) & ~(a - 1)


def cmsghdr(abi) -> struct.Struct:
    """struct cmsghdr {size_t cmsg_len; int cmsg_level; int cmsg_type;} (compat: u32 len)."""
    return struct.Struct("=" + abi.ulong + "ii")


def cmsg_len(n: int, abi) -> int:
    """CMSG_LEN(n)."""
    return cmsg_align(cmsghdr(abi).size, abi) + n


def cmsg_space(n: int, abi) -> int:
    """CMSG_SPACE(n)."""
    return cmsg_align(cmsghdr(abi).size, abi) + cmsg_align(n, abi)


@dataclass(frozen=True)
class SockExtendedErr:
    """An IP_RECVERR / IPV6_RECVERR payload: struct sock_extended_err and the offender's
    address (SO_EE_OFFENDER: the sockaddr that follows it, all zero when none)."""
    ee_errno: int
    ee_origin: int
    ee_type: int
    ee_code: int
    ee_pad: int
    ee_info: int
    ee_data: int
    offender: object            # a harness.mem sockaddr (decoded), or None when zeroed

    def encode(self, offender_size: int) -> bytes:
        from ..mem import encode_sockaddr
        tail = encode_sockaddr(self.offender) if self.offender is not None else b""
        return EE.pack(self.ee_errno, self.ee_origin, self.ee_type, self.ee_code, self.ee_pad,
                       self.ee_info, self.ee_data) + tail.ljust(offender_size, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> "SockExtendedErr":
        from ..mem import decode_sockaddr
        fields = EE.unpack_from(data.ljust(EE.size, b"\0"))
        rest = data[EE.size:]
        offender = decode_sockaddr(rest) if rest.strip(b"\0") else None
        return cls(*fields, offender)

    def __str__(self) -> str:
        return (f"sock_extended_err(ee_errno={self.ee_errno}, origin={self.ee_origin}, "
                f"type={self.ee_type}, code={self.ee_code}, info={self.ee_info}, "
                f"data={self.ee_data}, offender={self.offender})")


@dataclass(frozen=True)
class Cmsg:
    """One control message as received: cmsg_len (as the kernel wrote it: cut when
    truncated), level, type, and the data (decoded where known, else bytes)."""
    len: int
    level: int
    type: int
    data: object


# the payload of ip_recv_error()'s and ipv6_recv_error()'s cmsg: sock_extended_err + offender
ERRHDR_SIZE = {(L.SOL_IP, IP_RECVERR): EE.size + 16, (L.SOL_IPV6, IPV6_RECVERR): EE.size + 28}


def decode_data(level: int, type_: int, data: bytes):
    """A control message's data: an error header decoded when it is all there, else bytes."""
    if ERRHDR_SIZE.get((level, type_)) == len(data):
        return SockExtendedErr.decode(data)
    return data


def cmsgs(data: bytes, abi) -> tuple[Cmsg, ...]:
    """The control messages in the ``data`` a receive wrote (msg_controllen bytes): walked as
    CMSG_FIRSTHDR()/CMSG_NXTHDR() would, a cmsg_len that runs past the buffer read as far as
    the buffer goes (MSG_CTRUNC)."""
    hdr = cmsghdr(abi)
    start = cmsg_align(hdr.size, abi)
    out, off = [], 0
    while off + hdr.size <= len(data):
        length, level, type_ = hdr.unpack_from(data, off)
        if length < hdr.size:
            break
        body = data[off + start:off + length]
        out.append(Cmsg(length, level, type_, decode_data(level, type_, body)))
        off += cmsg_align(length, abi)
    return tuple(out)
