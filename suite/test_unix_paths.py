"""AF_UNIX filesystem names against the path walk and the permission checks (fs/namei.c): bind
and connect through directories without write or search permission, a file on the path
(ENOTDIR), a missing directory or a dangling symlink (ENOENT), symlink loops and the limit of 40
links (ELOOP), a component longer than NAME_MAX (ENAMETOOLONG: within the 108 bytes of sun_path
only a symlink's body can bring one), an existing name (EADDRINUSE, the last component is not
followed), a socket or another file without write permission (EACCES) and a read-only bind
mount (EROFS, in a private mount namespace).

Every case runs on two sides. "root": this process with its capabilities (CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH pass most checks); as an ordinary user it skips with the reason. "uid":
an unprivileged uid; as root a forked child that became uid 65534 (nobody) with no capabilities,
as an ordinary user this process itself. The test makes its directory tree with os.* and
declares every node to the model (Scenario.adopt_path); the model walks the path itself.
"""
from __future__ import annotations

import ctypes
import os
import shutil

import pytest

from harness.abi import linux as L
from harness.mem import SockaddrUn

from .endpoints import row, setup_ok
from .kinds import unique, unix_dir

NOBODY = 65534
SIDES = ("root", "uid")
STREAM, DGRAM = L.SOCK_STREAM, L.SOCK_DGRAM
LONG = "n" * 256                    # one byte over NAME_MAX

# The tree every case starts from: (relative path, kind, mode or symlink body).
TREE = [
    ("open", "dir", 0o777),
    ("nowrite", "dir", 0o555),
    ("nosearch", "dir", 0o666),
    ("noperm", "dir", 0o000),
    ("file", "file", 0o644),
    ("wfile", "file", 0o666),
    ("nowrite/file", "file", 0o644),
    ("noperm/file", "file", 0o644),
    ("loop1", "symlink", "loop2"),
    ("loop2", "symlink", "loop1"),
    ("dangling", "symlink", "nothing"),
    ("long", "symlink", LONG),
    ("dirlink", "symlink", "open"),
] + [(f"c{i}", "symlink", f"c{i + 1}") for i in range(40)] + [("c40", "symlink", "open")]
# c1/x follows c1..c40: 40 links, the most a walk may follow; c0/x follows 41.

# (row, path under the tree's root, socket type) for bind; every row names a path of its own,
# so that the rows share one tree
BIND_CASES = [
    ("writable-dir", "open/s1", STREAM),
    ("writable-dir-dgram", "open/s2", DGRAM),
    ("dir-no-write", "nowrite/s", STREAM),
    ("dir-no-search", "nosearch/s", STREAM),
    ("dir-no-permission", "noperm/s", DGRAM),
    ("component-is-file", "file/s", STREAM),
    ("missing-component", "missing/s", STREAM),
    ("dangling-symlink-component", "dangling/s", STREAM),
    ("symlink-loop-component", "loop1/s", STREAM),
    ("symlink-loop-last", "loop1", STREAM),
    ("symlinks-40", "c1/s3", STREAM),
    ("symlinks-41", "c0/s4", DGRAM),
    ("component-over-name-max", "long/s", STREAM),
    ("existing-file", "file", STREAM),
    ("existing-dangling-symlink", "dangling", DGRAM),
    ("through-symlinked-dir", "dirlink/s5", STREAM),
    ("existing-file-dir-no-write", "nowrite/file", STREAM),
    ("existing-file-dir-no-permission", "noperm/file", DGRAM),
    ("name-taken-by-a-row-above", "open/s1", DGRAM),
]

# (row, path under the tree's root) for a stream connect; "srv-ro" and "srv-rw" are listeners
# the test binds and chmods to 0555 and 0777.
CONNECT_CASES = [
    ("socket-writable", "open/srv-rw"),
    ("socket-no-write", "open/srv-ro"),
    ("through-symlink", "srvlink"),
    ("file-no-write", "file"),
    ("file-writable", "wfile"),
    ("directory", "open"),
    ("no-search", "nosearch/x"),
    ("component-is-file", "file/x"),
    ("missing", "open/none"),
    ("dangling-symlink", "dangling"),
    ("symlink-loop-last", "loop1"),
    ("symlinks-41", "c0/srv-rw"),
    ("symlinks-40", "c1/srv-rw"),
    ("component-over-name-max", "long"),
]


# --------------------------------------------------------------------------- the tree

def _remove(root: str) -> None:
    """Give every directory back its owner's permissions, then remove the tree."""
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tree(sc):
    """A fresh tree under the session's unix directory, declared to the model with its
    ancestors (every directory a path walk passes) and this process's credentials."""
    root = os.path.join(unix_dir(), unique("p"))
    os.mkdir(root)
    os.chmod(root, 0o755)
    try:
        sc.adopt_cred()
        parts = root.split("/")
        for i in range(1, len(parts)):
            sc.adopt_path("/".join(parts[:i]) or "/")
        for rel, kind, arg in TREE:
            path = os.path.join(root, rel)
            if kind == "dir":
                os.mkdir(path)
            elif kind == "file":
                open(path, "w").close()
            else:
                os.symlink(arg, path)
        sc.adopt_path(root, listed=True)
        for rel, kind, _ in TREE:                 # before the modes shut the owner out
            sc.adopt_path(os.path.join(root, rel), listed=kind == "dir")
        for rel, kind, arg in reversed(TREE):
            if kind != "symlink":
                os.chmod(os.path.join(root, rel), arg)
                sc.adopt_path(os.path.join(root, rel), listed=kind == "dir")
        yield root
    finally:
        _remove(root)


def _on_side(sc, side: str, body, prepare=None) -> None:
    """Run ``body(scenario)`` as root or as an unprivileged uid (see the module's docstring)."""
    root = os.geteuid() == 0 and sc.m.capable("CAP_DAC_OVERRIDE")
    if side == "root":
        if not root:
            pytest.skip("the root side needs uid 0 with CAP_DAC_OVERRIDE (run as root to check it)")
        if prepare is None:
            body(sc)
        else:
            sc.in_child(body, prepare=prepare)
    elif root:
        if not (sc.m.capable("CAP_SETUID") and sc.m.capable("CAP_SETGID")):
            pytest.skip("dropping to uid 65534 needs CAP_SETUID and CAP_SETGID")
        sc.in_child(body, uid=NOBODY, prepare=prepare)
    else:
        if prepare is not None:
            prepare()
        body(sc)


def _addr(root: str, rel: str) -> SockaddrUn:
    path = os.path.join(root, rel)
    assert len(path) < L.UNIX_PATH_MAX, path
    return SockaddrUn(path=path)


# --------------------------------------------------------------------------- bind

@pytest.mark.parametrize("side", SIDES)
def test_bind_unix_path(sc, tree, side):
    """unix_bind_bsd() -> kern_path_create() walks the directories (search permission,
    ENOTDIR, ENOENT, ELOOP, ENAMETOOLONG), an existing last component is EADDRINUSE, then
    vfs_mknod() -> may_create() needs write permission on the directory. One row per case,
    each on a fresh socket."""
    sc.m.net.missing_dirs.add(os.path.join(tree, "missing"))

    def body(s):
        for label, rel, type_ in BIND_CASES:
            with row(label):
                fd = s.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
                s.bind(fd, _addr(tree, rel))
                s.close(fd)
    _on_side(sc, side, body)


# --------------------------------------------------------------------------- connect

@pytest.mark.parametrize("side", SIDES)
def test_connect_unix_path(sc, tree, side):
    """unix_find_bsd(): kern_path(LOOKUP_FOLLOW) walks the path (the last component is
    followed), path_permission(MAY_WRITE) on the node (EACCES), then it must be a socket
    (ECONNREFUSED). One row per case for connect (each on a fresh stream socket) and one for
    sendto from a datagram socket (the targets are stream sockets: EPROTOTYPE once found)."""
    for name, mode in (("srv-ro", 0o555), ("srv-rw", 0o777)):
        lfd = sc.socket(L.AF_UNIX, STREAM | L.SOCK_CLOEXEC, 0).ret
        setup_ok(sc, sc.bind(lfd, _addr(tree, "open/" + name)))
        setup_ok(sc, sc.listen(lfd, len(CONNECT_CASES)))
        os.chmod(os.path.join(tree, "open", name), mode)
        sc.adopt_path(os.path.join(tree, "open", name))
    os.symlink("open/srv-rw", os.path.join(tree, "srvlink"))
    sc.adopt_path(os.path.join(tree, "srvlink"))

    def body(s):
        dfd = s.socket(L.AF_UNIX, DGRAM | L.SOCK_CLOEXEC | L.SOCK_NONBLOCK, 0).ret
        for label, rel in CONNECT_CASES:
            with row(label):
                fd = s.socket(L.AF_UNIX, STREAM | L.SOCK_CLOEXEC | L.SOCK_NONBLOCK, 0).ret
                s.connect(fd, _addr(tree, rel))
                s.close(fd)
            with row(label + "-sendto"):     # unix_dgram_sendmsg() looks the name up alike
                s.sendto(dfd, b"x", 0, _addr(tree, rel))
        s.close(dfd)
    _on_side(sc, side, body)


# --------------------------------------------------------------------------- EROFS

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def _mount(source, target, flags) -> None:
    src = source.encode() if source else None
    if _libc.mount(src, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} {target} flags {flags:#x}: {os.strerror(err)}")


def _read_only_bind(source: str, target: str):
    """In this (forked) process: a private mount namespace with ``source`` bound read-only
    at ``target`` (mount --make-rprivate /; mount --bind; mount -o remount,bind,ro)."""
    def prepare():
        if _libc.unshare(CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
        _mount(None, "/", MS_REC | MS_PRIVATE)
        _mount(source, target, MS_BIND)
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
    return prepare


_mount_ns: list = []


def _mount_namespace_reason() -> str | None:
    """Why a private mount namespace with a read-only bind mount cannot be made here (None:
    it can). Tried once, in a forked child."""
    if not _mount_ns:
        from harness.child import run_in_child
        probe = os.path.join(unix_dir(), unique("mntprobe"))
        os.mkdir(probe)
        try:
            res = run_in_child(_read_only_bind(probe, probe), timeout=10)
        finally:
            os.rmdir(probe)
        _mount_ns.append(None if res.ok else res.describe())
    return _mount_ns[0]


EROFS_CASES = [
    ("writable-dir", "ro/s", DGRAM),
    ("dir-no-write", "ro-nowrite/s", STREAM),
    ("existing-file", "ro/file", STREAM),
    ("existing-socket", "ro/srv", STREAM),
    ("no-search", "ro-nosearch/s", STREAM),
]


@pytest.mark.parametrize("side", SIDES)
def test_bind_unix_read_only_mount(sc, tree, side):
    """filename_create(): mnt_want_write() fails on a read-only mount, but EEXIST is reported
    first; may_lookup() comes before both, may_create()'s write check after."""
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace needs CAP_SYS_ADMIN (run as root to check it)")
    reason = _mount_namespace_reason()
    if reason is not None:
        pytest.skip(f"no private mount namespace with a read-only bind mount here: {reason}")
    # three directories seen read-only: "open" (0777, holding a file and a socket node),
    # "nowrite" (0555) and "nosearch" (0666)
    open(os.path.join(tree, "open", "file"), "w").close()
    lfd = sc.socket(L.AF_UNIX, STREAM | L.SOCK_CLOEXEC, 0).ret
    setup_ok(sc, sc.bind(lfd, _addr(tree, "open/srv")))
    mounts = {"ro": "open", "ro-nowrite": "nowrite", "ro-nosearch": "nosearch"}
    for ro in mounts:
        os.mkdir(os.path.join(tree, ro))

    def prepare():
        first = True
        for ro, src in mounts.items():
            if first:                                 # unshare and make / private once
                _read_only_bind(os.path.join(tree, src), os.path.join(tree, ro))()
                first = False
            else:
                _mount(os.path.join(tree, src), os.path.join(tree, ro), MS_BIND)
                _mount(None, os.path.join(tree, ro), MS_REMOUNT | MS_BIND | MS_RDONLY)

    def body(s):
        for ro in mounts:                             # the mount points, now read-only
            s.adopt_path(os.path.join(tree, ro), listed=True)
        for name in ("file", "srv"):
            s.adopt_path(os.path.join(tree, "ro", name))
        for label, rel, type_ in EROFS_CASES:
            with row(label):
                fd = s.socket(L.AF_UNIX, type_ | L.SOCK_CLOEXEC, 0).ret
                s.bind(fd, _addr(tree, rel))
                s.close(fd)
    _on_side(sc, side, body, prepare=prepare)
