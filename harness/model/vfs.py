"""A small model of path lookup and permission checks (fs/namei.c), as far as AF_UNIX bind and
connect meet them: walking a path (link_path_walk(): search permission on every directory,
ENOENT, ENOTDIR, symlinks and their limit), generic_permission() with the caller's fsuid, fsgid
and capabilities, and where the node of a new socket lands (filename_create(), may_create()).

The model learns the filesystem from the test, never from the call under test: the test makes
its directories, files and symlinks with os.* and declares them (Scenario.adopt_path, which
lstat()s them), and the process's credentials (Scenario.adopt_cred, or the uid a child drops
to). A directory the test made and declared *listed* has no entries but the ones declared and
the sockets bound in it. Paths the test never declared keep the model's older, looser reading: a
directory on the way exists and may be searched unless it is in ``Net.missing_dirs``, and a
final name exists if a bind made it.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

MAY_EXEC, MAY_WRITE, MAY_READ = 1, 2, 4      # include/linux/fs.h
MAXSYMLINKS = 40                             # include/linux/namei.h
NAME_MAX = 255                               # include/uapi/linux/limits.h
S_ISGID, S_ISVTX = 0o2000, 0o1000


@dataclass(frozen=True)
class Cred:
    """The credentials path lookup uses: current_fsuid(), current_fsgid(), the supplementary
    groups (in_group_p()) and the umask a new node's mode is cut by."""
    fsuid: int
    fsgid: int
    groups: tuple = ()
    umask: int = 0o022

    def in_group(self, gid: int) -> bool:
        return gid == self.fsgid or gid in self.groups


@dataclass
class Node:
    kind: str                 # dir, file, sock, symlink, other
    mode: int                 # the permission bits (07777)
    uid: int
    gid: int
    target: bytes | None = None   # a symlink's body
    readonly: bool = False    # on a read-only mount (statvfs ST_RDONLY)
    listed: bool = False      # a directory whose every entry the test declared


@dataclass
class Vfs:
    nodes: dict = field(default_factory=dict)     # absolute path (bytes) -> Node
    cred: Cred | None = None

    def declare(self, path: bytes, node: Node) -> None:
        self.nodes[path] = node

    def forget(self, path: bytes) -> None:
        """The test removed ``path`` (and what was under it)."""
        for p in [p for p in self.nodes if p == path or p.startswith(path + b"/")]:
            del self.nodes[p]


class WalkError(Exception):
    """A path walk failed: ``kind`` is search, enoent, enotdir, eloop or nametoolong."""

    def __init__(self, kind: str, errno: int, where: bytes):
        super().__init__(f"{kind} at {where!r}")
        self.kind, self.errno, self.where = kind, errno, where


# --------------------------------------------------------------------------- permission

def acl_permission_check(cred: Cred, node: Node, mask: int) -> bool:
    """fs/namei.c acl_permission_check(): the owner's bits if fsuid owns the inode, else the
    group's if the inode's group is one of ours, else the other bits (no POSIX ACLs: the
    suite's nodes carry none)."""
    mode = node.mode
    if cred.fsuid == node.uid:
        bits = mode >> 6
    elif cred.in_group(node.gid):
        bits = mode >> 3
    else:
        bits = mode
    return (mask & 7 & ~bits) == 0


def generic_permission(m, node: Node, mask: int) -> bool:
    """fs/namei.c generic_permission(): the mode bits, then the capabilities. A directory:
    CAP_DAC_READ_SEARCH grants read and search, CAP_DAC_OVERRIDE anything. Another inode:
    CAP_DAC_OVERRIDE grants read and write, and execute only if some execute bit is set."""
    cred = m.vfs.cred
    if cred is None:
        from .socket import NotModelled
        raise NotModelled("a permission check on a declared node, with the credentials unknown "
                          "(Scenario.adopt_cred)")
    if acl_permission_check(cred, node, mask):
        return True
    if node.kind == "dir":
        if not mask & MAY_WRITE and m.capable("CAP_DAC_READ_SEARCH"):
            return True
        return m.capable("CAP_DAC_OVERRIDE")
    mask &= MAY_READ | MAY_WRITE | MAY_EXEC
    if mask == MAY_READ and m.capable("CAP_DAC_READ_SEARCH"):
        return True
    if not mask & MAY_EXEC or node.mode & 0o111:
        return m.capable("CAP_DAC_OVERRIDE")
    return False


# --------------------------------------------------------------------------- the walk

def _components(path: bytes) -> list[bytes]:
    return [c for c in path.split(b"/") if c]


def join(directory: bytes, name: bytes) -> bytes:
    return directory.rstrip(b"/") + b"/" + name


def _missing(m, path: bytes) -> bool:
    """Known not to exist: declared absent, or not among the entries of a listed directory."""
    text = path.decode(errors="surrogateescape")
    if text in m.net.missing_dirs or path in m.net.missing_dirs:
        return True
    if path in m.vfs.nodes or path in m.net.unix_paths:
        return False
    parent = m.vfs.nodes.get(posixpath.dirname(path))
    return parent is not None and parent.listed


def exists(m, path: bytes) -> bool:
    """Does a node exist at this (resolved) path as a final component?"""
    return path in m.vfs.nodes or path in m.net.unix_paths


def walk(m, path: bytes, *, create: bool) -> bytes | tuple[bytes, bytes]:
    """link_path_walk() and the last step of path_lookupat()/filename_parentat().
    create: stop before the last component (kern_path_create(): the last component is not
    followed even if a symlink) and return (parent directory, name); else follow it
    (kern_path(LOOKUP_FOLLOW)) and return the resolved path. Raises WalkError."""
    import errno as E
    pending = _components(path)
    cur = b"/"
    links = 0
    while pending:
        name = pending.pop(0)
        here = m.vfs.nodes.get(cur)
        # may_lookup(): search permission on the directory, before every component
        if here is not None and not generic_permission(m, here, MAY_EXEC):
            raise WalkError("search", E.EACCES, cur)
        if name == b".":
            continue
        if name == b"..":
            cur = posixpath.dirname(cur) or b"/"
            continue
        last = not pending
        if last and create:
            return cur, name
        child = join(cur, name)
        if len(name) > NAME_MAX:          # the filesystem's ->lookup()
            raise WalkError("nametoolong", E.ENAMETOOLONG, child)
        if _missing(m, child) or (last and not exists(m, child)):
            raise WalkError("enoent", E.ENOENT, child)
        node = m.vfs.nodes.get(child)
        if node is not None and node.kind == "symlink":
            if here is not None and here.mode & (S_ISVTX | 0o002) == S_ISVTX | 0o002:
                from .socket import NotModelled
                raise NotModelled("a symlink in a sticky world-writable directory "
                                  "(fs.protected_symlinks, may_follow_link())")
            links += 1
            if links > MAXSYMLINKS:       # pick_link(): total_link_count++ >= MAXSYMLINKS
                raise WalkError("eloop", E.ELOOP, child)
            body = node.target or b""
            if body.startswith(b"/"):
                cur = b"/"
            pending = _components(body) + pending
            continue
        if not last and node is not None and node.kind != "dir":
            raise WalkError("enotdir", E.ENOTDIR, child)
        cur = child
    if create:                            # the path named no last component ("/")
        from .socket import NotModelled
        raise NotModelled(f"a path without a last component: {path!r}")
    return cur


def new_node(m, parent: bytes, kind: str, mode: int) -> Node | None:
    """The inode vfs_mknod() makes: mode cut by the umask, owned by fsuid, and by fsgid or, in
    a set-group-ID directory, the directory's group (inode_init_owner()). None while the
    credentials are unknown."""
    cred = m.vfs.cred
    if cred is None:
        return None
    pnode = m.vfs.nodes.get(parent)
    gid = pnode.gid if pnode is not None and pnode.mode & S_ISGID else cred.fsgid
    return Node(kind, mode & ~cred.umask & 0o7777, cred.fsuid, gid,
                readonly=pnode.readonly if pnode is not None else False)
