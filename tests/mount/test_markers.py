"""Item 2: marker names (.wh.*) are never listed nor found, and cannot be
created, linked or renamed to; metadata appears only when needed."""
import errno
import os

import pytest

from lfsutil import (WHITEOUT, WH_BASE, errno_of, exists, ls, read, renameat2, snapshot,
                     tree, write, RENAME_NOREPLACE)

MARKERS = [".wh.foo", ".wh..wh..opq", ".wh..wh.aufs", ".wh..wh.orph", ".wh.", ".wh..wh.x"]


def _setup(union):
    return union.std(rw={"rwfile": "r", "rwdir": {}},
                     lowers=[{"lowfile": "l", "lowdir": {"in": "i"}}])


def _assert_no_marker_landed(m, rwbefore):
    rw = m.rw
    after = tree(rw)
    assert after == rwbefore, "rw branch changed: %r -> %r" % (rwbefore, after)


@pytest.mark.parametrize("name", MARKERS)
@pytest.mark.parametrize("where", ["", "lowdir"])
def test_create_marker_einval(union, name, where):
    m = _setup(union)
    before = tree(m.rw)
    p = m.p(where, name)
    ops = {
        "creat": lambda: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)),
        "mkdir": lambda: os.mkdir(p),
        "mkfifo": lambda: os.mkfifo(p),
        "symlink": lambda: os.symlink("rwfile", p),
        "link-rw": lambda: os.link(m.p("rwfile"), p),
        "link-lower": lambda: os.link(m.p("lowfile"), p),
        "rename-rw": lambda: os.rename(m.p("rwfile"), p),
        "rename-lower": lambda: os.rename(m.p("lowfile"), p),
        "rename-dir": lambda: os.rename(m.p("rwdir"), p),
        "rename-noreplace": lambda: renameat2(m.p("rwfile"), p, RENAME_NOREPLACE),
    }
    got = {k: errno_of(f) for k, f in ops.items()}
    assert got == {k: errno.EINVAL for k in ops}
    assert ls(m.mnt) == ["lowdir", "lowfile", "rwdir", "rwfile"]
    assert ls(m.p("lowdir")) == ["in"]
    assert read(m.p("lowfile")) == b"l"
    _assert_no_marker_landed(m, before)


def test_marker_lookup_enoent_even_when_present_in_rw(union):
    m = union.std(rw={".wh.x": WHITEOUT, ".wh.plain": "I am a marker file", "d": {".wh.y": WHITEOUT}},
                  lowers=[{"x": "1", "d": {"y": "2"}, ".wh.lower": "z"}])
    for n in [".wh.x", ".wh.plain", ".wh.lower", "d/.wh.y", ".wh..wh..opq"]:
        assert errno_of(os.lstat, m.p(n)) == errno.ENOENT, n
        assert errno_of(os.open, m.p(n), os.O_RDONLY) == errno.ENOENT, n
        assert errno_of(os.unlink, m.p(n)) == errno.ENOENT, n
        assert errno_of(os.rename, m.p(n), m.p("renamed")) == errno.ENOENT, n
    assert ls(m.mnt) == ["d"]
    assert exists(os.path.join(m.rw, ".wh.plain"))


def test_untouched_rw_branch_stays_empty(union):
    m = union.std(lowers=[{"a": "1", "d": {"b": "2"}, ".wh.c": WHITEOUT}])
    # read everything, stat everything
    assert tree(m.mnt) == {"a": b"1", "d": "dir", "d/b": b"2"}
    os.statvfs(m.mnt)
    os.listxattr(m.p("a"))
    m.remount()
    assert tree(m.mnt) == {"a": b"1", "d": "dir", "d/b": b"2"}
    m.stop()
    assert ls(m.rw) == []


def test_untouched_upper_and_workdir_stay_empty(union):
    low = union.branch("low", {"a": "1"})
    up = union.branch("upper")
    wk = union.branch("work")
    m = union.mount_overlay([low], up, wk)
    assert tree(m.mnt) == {"a": b"1"}
    m.stop()
    assert ls(up) == [] and ls(wk) == []


def test_metadata_not_listed_after_use(union):
    """After whiteouts, copy-ups and hardlinks the rw branch holds metadata,
    none of which shows through the mount."""
    m = union.std(lowers=[{"a": "1", "b": "2", "h1": "h", "h2": "x", "d": {"e": "3"}}])
    os.unlink(m.p("a"))
    write(m.p("b"), "new")
    os.link(m.p("h1"), m.p("h3"))
    os.unlink(m.p("d", "e"))
    os.rmdir(m.p("d"))
    os.mkdir(m.p("d"))
    assert ls(m.mnt) == ["b", "d", "h1", "h2", "h3"]
    assert ls(m.p("d")) == []
    assert all(not n.startswith(".wh.") for n in os.listdir(m.mnt))
    assert WH_BASE in os.listdir(m.rw)
    assert errno_of(os.lstat, m.p(WH_BASE)) == errno.ENOENT
