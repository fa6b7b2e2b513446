"""The model's permission checks and path walk (harness/model/vfs.py) against fs/namei.c:
generic_permission() for the owner, the group and others, with and without CAP_DAC_OVERRIDE
and CAP_DAC_READ_SEARCH; link_path_walk()'s order of checks and its limit of 40 symlinks."""
from __future__ import annotations

import errno as E

import pytest

from harness.model import Model
from harness.model.vfs import (MAY_EXEC, MAY_READ, MAY_WRITE, Cred, Node, WalkError,
                               generic_permission, new_node, walk)

from model_profile import profile

R, W, X = MAY_READ, MAY_WRITE, MAY_EXEC


def _model(caps=(), uid=1000, gid=1000, groups=()) -> Model:
    m = Model(profile(caps=caps))
    m.vfs.cred = Cred(uid, gid, tuple(groups), 0o022)
    return m


# (node kind, mode, owner uid, owner gid, mask, allowed with no caps, with DAC_READ_SEARCH only,
#  with DAC_OVERRIDE only); the caller is uid 1000, gid 1000, supplementary group 50
PERMISSIONS = [
    ("dir", 0o700, 1000, 0, X, True, True, True),          # the owner's bits
    ("dir", 0o077, 1000, 1000, X, False, True, True),      # owner: only the owner's bits count
    ("dir", 0o070, 0, 50, X | W, True, True, True),       # a supplementary group
    ("dir", 0o707, 0, 50, X, False, True, True),           # the group's bits, not the others'
    ("dir", 0o000, 0, 0, X, False, True, True),            # search: READ_SEARCH for a directory
    ("dir", 0o000, 0, 0, R, False, True, True),
    ("dir", 0o555, 0, 0, W | X, False, False, True),       # write: only DAC_OVERRIDE
    ("file", 0o644, 0, 0, W, False, False, True),
    ("file", 0o000, 0, 0, R, False, True, True),           # read: READ_SEARCH for any file
    ("file", 0o600, 0, 0, R | W, False, False, True),
    ("file", 0o644, 0, 0, X, False, False, False),         # exec: no x bit, no override
    ("file", 0o001, 0, 0, X, True, True, True),
    ("file", 0o010, 0, 0, X, False, False, True),          # some x bit: DAC_OVERRIDE grants
    ("sock", 0o755, 0, 0, W, False, False, True),
    ("sock", 0o777, 0, 0, W, True, True, True),
]


@pytest.mark.parametrize("kind,mode,uid,gid,mask,plain,search,override", PERMISSIONS)
def test_generic_permission(kind, mode, uid, gid, mask, plain, search, override):
    node = Node(kind, mode, uid, gid)
    for caps, want in (((), plain), (("CAP_DAC_READ_SEARCH",), search),
                       (("CAP_DAC_OVERRIDE",), override)):
        assert generic_permission(_model(caps, groups=(50,)), node, mask) is want, caps


def _chain(m, links: int) -> None:
    m.vfs.declare(b"/", Node("dir", 0o755, 0, 0))
    m.vfs.declare(b"/t", Node("dir", 0o755, 0, 0, listed=True))
    m.vfs.declare(b"/t/d", Node("dir", 0o755, 0, 0, listed=True))
    for i in range(links):
        body = b"l%d" % (i + 1) if i + 1 < links else b"/t/d"
        m.vfs.declare(b"/t/l%d" % i, Node("symlink", 0o777, 0, 0, body))


def test_walk_follows_40_links_not_41():
    m = _model()
    _chain(m, 41)
    assert walk(m, b"/t/l1/s", create=True) == (b"/t/d", b"s")        # 40 links
    with pytest.raises(WalkError) as exc:
        walk(m, b"/t/l0/s", create=True)                               # 41
    assert exc.value.errno == E.ELOOP
    assert walk(m, b"/t/l0", create=True) == (b"/t", b"l0")           # the last is not followed


def test_walk_checks_search_before_the_next_component():
    m = _model()
    _chain(m, 1)
    m.vfs.declare(b"/t/shut", Node("dir", 0o600, 0, 0, listed=True))
    m.vfs.declare(b"/t/file", Node("file", 0o644, 0, 0))
    for path, errno in ((b"/t/shut/none/s", E.EACCES), (b"/t/file/s", E.ENOTDIR),
                        (b"/t/none/s", E.ENOENT), (b"/t/" + b"n" * 256 + b"/s", E.ENAMETOOLONG)):
        with pytest.raises(WalkError) as exc:
            walk(m, path, create=True)
        assert exc.value.errno == errno, path
    for create in (True, False):        # the parent of the last component is searched too
        with pytest.raises(WalkError) as exc:
            walk(m, b"/t/shut/s", create=create)
        assert exc.value.kind == "search"


def test_undeclared_directories_keep_the_loose_reading():
    m = _model()
    assert walk(m, b"/somewhere/else/s", create=True) == (b"/somewhere/else", b"s")
    m.net.missing_dirs.add("/somewhere")
    with pytest.raises(WalkError):
        walk(m, b"/somewhere/else/s", create=True)


def test_new_node_mode_and_owner():
    m = _model(uid=7, gid=8)
    m.vfs.declare(b"/g", Node("dir", 0o2777, 0, 99))
    m.vfs.declare(b"/p", Node("dir", 0o777, 0, 99))
    assert new_node(m, b"/g", "sock", 0o777) == Node("sock", 0o755, 7, 99)   # setgid directory
    assert new_node(m, b"/p", "sock", 0o777) == Node("sock", 0o755, 7, 8)
    m.vfs.cred = None
    assert new_node(m, b"/p", "sock", 0o777) is None
