"""Item 3: unlink/rmdir leave .wh.NAME (hardlinks of the base) where a lower
branch has the name; ENOTEMPTY; mkdir over a whiteout makes an opaque dir."""
import errno
import os
import stat

import pytest

from lfsutil import (D, F, L, WHITEOUT, WH_BASE, WH_OPQ, data_ls, errno_of, exists, ls, read,
                     tree, write)


def wh_ok(rw, rel, base_dir=None):
    """Asserts rw/REL is a whiteout: a hardlink of the base file."""
    p = os.path.join(rw, rel)
    st = os.lstat(p)
    base = os.lstat(os.path.join(base_dir or rw, WH_BASE))
    assert stat.S_ISREG(st.st_mode), rel
    assert st.st_ino == base.st_ino and st.st_dev == base.st_dev, \
        "%s is not a hardlink of %s" % (rel, WH_BASE)
    assert base.st_size == 0
    assert stat.S_ISREG(base.st_mode) and stat.S_IMODE(base.st_mode) == 0
    return st


def test_unlink_lower_file(union):
    m = union.std(lowers=[{"a": "1", "b": "2", "d": {"c": "3"}}])
    os.unlink(m.p("a"))
    os.unlink(m.p("b"))
    os.unlink(m.p("d", "c"))
    assert ls(m.mnt) == ["d"]
    assert ls(m.p("d")) == []
    assert errno_of(os.stat, m.p("a")) == errno.ENOENT
    wh_ok(m.rw, ".wh.a")
    wh_ok(m.rw, ".wh.b")
    wh_ok(m.rw, "d/.wh.c")
    base = os.lstat(os.path.join(m.rw, WH_BASE))
    assert base.st_nlink == 4
    assert data_ls(m.rw) == [".wh.a", ".wh.b", "d"]
    # persists across a remount
    m.remount()
    assert ls(m.mnt) == ["d"] and ls(m.p("d")) == []


def test_unlink_rw_only_leaves_nothing(union):
    m = union.std(rw={"r": "1", "d": {"e": "2"}}, lowers=[{"d": {"f": "3"}}])
    os.unlink(m.p("r"))
    os.unlink(m.p("d", "e"))
    assert ls(m.mnt) == ["d"]
    assert ls(m.p("d")) == ["f"]
    assert data_ls(m.rw) == ["d"]
    assert ls(os.path.join(m.rw, "d")) == []


def test_unlink_name_in_rw_and_lower(union):
    m = union.std(rw={"x": "top"}, lowers=[{"x": "low"}])
    os.unlink(m.p("x"))
    assert errno_of(os.stat, m.p("x")) == errno.ENOENT
    assert not exists(os.path.join(m.rw, "x"))
    wh_ok(m.rw, ".wh.x")


def test_unlink_symlink_and_fifo(union):
    from lfsutil import FIFO
    m = union.std(lowers=[{"s": L("nowhere"), "p": FIFO()}])
    os.unlink(m.p("s"))
    os.unlink(m.p("p"))
    assert ls(m.mnt) == []
    wh_ok(m.rw, ".wh.s")
    wh_ok(m.rw, ".wh.p")


def test_unlink_name_hidden_below_whiteout_chain(union):
    m = union.std(lowers=[{"x": "l1"}, {"x": "l2"}])
    os.unlink(m.p("x"))
    assert errno_of(os.stat, m.p("x")) == errno.ENOENT
    wh_ok(m.rw, ".wh.x")


def test_rmdir_lower_dir(union):
    m = union.std(lowers=[{"e": {}, "p": {"q": {}}}])
    os.rmdir(m.p("e"))
    os.rmdir(m.p("p", "q"))
    assert ls(m.mnt) == ["p"]
    wh_ok(m.rw, ".wh.e")
    wh_ok(m.rw, "p/.wh.q")
    assert not exists(os.path.join(m.rw, "e"))


def test_rmdir_merged_empty_dir(union):
    """A lower dir whose entries are all whited out is empty: rmdir works, and
    the rw copy of the dir (holding whiteouts) must go too."""
    m = union.std(lowers=[{"d": {"a": "1", "b": "2"}}])
    os.unlink(m.p("d", "a"))
    os.unlink(m.p("d", "b"))
    assert ls(m.p("d")) == []
    os.rmdir(m.p("d"))
    assert ls(m.mnt) == []
    wh_ok(m.rw, ".wh.d")
    assert not exists(os.path.join(m.rw, "d"))
    m.remount()
    assert ls(m.mnt) == []


def test_rmdir_rw_only_dir(union):
    m = union.std(rw={"d": {}}, lowers=[{"x": "1"}])
    os.rmdir(m.p("d"))
    assert data_ls(m.rw) == []


def test_rmdir_dir_with_lower_whiteouts_only_in_rw(union):
    """rw-only dir containing nothing visible but a whiteout file: merged
    empty, so rmdir succeeds and no whiteout is needed."""
    m = union.std(rw={"d": {".wh.zz": WHITEOUT}}, lowers=[{"x": "1"}])
    assert ls(m.p("d")) == []
    os.rmdir(m.p("d"))
    assert ls(m.mnt) == ["x"]
    assert not exists(os.path.join(m.rw, "d"))
    assert not exists(os.path.join(m.rw, ".wh.d"))


@pytest.mark.parametrize("where", ["lower", "rw", "both", "deep-lower"])
def test_rmdir_not_empty(union, where):
    lower = {"d": {}}
    rw = {}
    if where in ("lower", "both"):
        lower = {"d": {"f": "1"}}
    if where in ("rw", "both"):
        rw = {"d": {"g": "2"}}
    if where == "deep-lower":
        lower = {"d": {}}
        extra = {"d": {"x": {}}}
        m = union.std(rw=rw, lowers=[lower, extra])
    else:
        m = union.std(rw=rw, lowers=[lower])
    assert errno_of(os.rmdir, m.p("d")) == errno.ENOTEMPTY
    assert os.path.isdir(m.p("d"))
    assert not exists(os.path.join(m.rw, ".wh.d"))


def test_rmdir_on_file_and_unlink_on_dir(union, ref):
    m = union.std(lowers=[{"f": "1", "d": {}}])
    r = ref("ref", {"f": "1", "d": {}})
    for fn, name in [(os.rmdir, "f"), (os.unlink, "d")]:
        assert errno_of(fn, m.p(name)) == errno_of(fn, os.path.join(r, name)) != 0
    assert ls(m.mnt) == ["d", "f"]


def test_mkdir_over_whiteout_is_opaque(union):
    m = union.std(lowers=[{"d": {"f": "1", "sub": {"g": "2"}}}, {"d": {"h": "3"}}])
    for p in ["d/sub/g", "d/f", "d/h"]:
        os.unlink(m.p(p))
    os.rmdir(m.p("d", "sub"))
    os.rmdir(m.p("d"))
    wh_ok(m.rw, ".wh.d")
    os.mkdir(m.p("d"), 0o750)
    assert ls(m.p("d")) == []
    assert errno_of(os.stat, m.p("d", "f")) == errno.ENOENT
    assert errno_of(os.stat, m.p("d", "h")) == errno.ENOENT
    rwd = os.path.join(m.rw, "d")
    um = os.umask(0)
    os.umask(um)
    assert stat.S_IMODE(os.stat(rwd).st_mode) == 0o750 & ~um
    assert os.path.isfile(os.path.join(rwd, WH_OPQ))
    assert os.path.getsize(os.path.join(rwd, WH_OPQ)) == 0
    assert not exists(os.path.join(m.rw, ".wh.d"))
    os.mkdir(m.p("d", "sub"))
    assert ls(m.p("d")) == ["sub"]
    assert ls(m.p("d", "sub")) == []
    m.remount()
    assert ls(m.p("d")) == ["sub"]


def test_mkdir_over_whiteout_of_file(union):
    m = union.std(lowers=[{"x": "file"}])
    os.unlink(m.p("x"))
    os.mkdir(m.p("x"))
    assert ls(m.p("x")) == []
    assert not exists(os.path.join(m.rw, ".wh.x"))
    assert os.path.isdir(os.path.join(m.rw, "x"))


def test_mkdir_without_whiteout_is_not_opaque(union):
    m = union.std(lowers=[{"y": "1"}])
    os.mkdir(m.p("d"))
    assert ls(os.path.join(m.rw, "d")) == []


@pytest.mark.parametrize("kind", ["file", "symlink", "fifo"])
def test_create_over_whiteout(union, kind):
    m = union.std(lowers=[{"x": {"inner": "1"}, "y": "old"}])
    os.unlink(m.p("x", "inner"))
    os.rmdir(m.p("x"))
    os.unlink(m.p("y"))
    for n in ("x", "y"):
        p = m.p(n)
        if kind == "file":
            write(p, "new-" + n)
        elif kind == "symlink":
            os.symlink("t-" + n, p)
        else:
            os.mkfifo(p)
    assert ls(m.mnt) == ["x", "y"]
    assert data_ls(m.rw) == ["x", "y"]
    if kind == "file":
        assert read(m.p("x")) == b"new-x" and read(m.p("y")) == b"new-y"
    elif kind == "symlink":
        assert os.readlink(m.p("x")) == "t-x"
    else:
        assert stat.S_ISFIFO(os.lstat(m.p("x")).st_mode)
    m.remount()
    assert ls(m.mnt) == ["x", "y"]


def test_whiteout_base_created_with_mode_0(union):
    m = union.std(lowers=[{"a": "1"}])
    assert not exists(os.path.join(m.rw, WH_BASE))
    os.unlink(m.p("a"))
    wh_ok(m.rw, ".wh.a")
