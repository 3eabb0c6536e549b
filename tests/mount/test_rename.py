"""Item 6: rename of files and lower directories, whiteouts at the old
name, RENAME_NOREPLACE and RENAME_EXCHANGE."""
import errno
import os
import stat

import pytest

from lfsutil import (D, F, L, WHITEOUT, WH_BASE, WH_OPQ, data_ls, RENAME_EXCHANGE, RENAME_NOREPLACE,
                     errno_of, exists, ls, read, renameat2, tree, write)


def is_wh(rw, rel):
    p = os.path.join(rw, rel)
    return (os.path.lexists(p) and
            os.lstat(p).st_ino == os.lstat(os.path.join(rw, WH_BASE)).st_ino)


def test_rename_lower_file(union):
    m = union.std(lowers=[{"a": "A", "d": {}}])
    os.rename(m.p("a"), m.p("d", "b"))
    assert ls(m.mnt) == ["d"]
    assert read(m.p("d", "b")) == b"A"
    assert is_wh(m.rw, ".wh.a")
    assert read(os.path.join(m.rw, "d", "b")) == b"A"
    m.remount()
    assert tree(m.mnt) == {"d": "dir", "d/b": b"A"}


def test_rename_rw_file_no_whiteout(union):
    m = union.std(rw={"a": "A"}, lowers=[{"z": "Z"}])
    os.rename(m.p("a"), m.p("b"))
    assert data_ls(m.rw) == ["b"]
    assert ls(m.mnt) == ["b", "z"]


def test_rename_over_existing_lower_file(union):
    m = union.std(lowers=[{"a": "A", "b": "B"}])
    os.rename(m.p("a"), m.p("b"))
    assert tree(m.mnt) == {"b": b"A"}
    assert is_wh(m.rw, ".wh.a")
    assert read(os.path.join(m.rw, "b")) == b"A"


def test_rename_file_shadowing_lower(union):
    """rw file over a lower one of the same name: after renaming it away the
    lower one must not reappear."""
    m = union.std(rw={"a": "top"}, lowers=[{"a": "bottom"}])
    os.rename(m.p("a"), m.p("b"))
    assert tree(m.mnt) == {"b": b"top"}
    assert is_wh(m.rw, ".wh.a")


LOWER_TREE = {"d": D({"a": F("1", mode=0o600, uid=10), "sub": D({"b": "2", "c": L("../a"),
                                                               "deep": {"e": "3"}},
                                                              mode=0o711, uid=11),
                      "gone": "x"}, mode=0o750, uid=12)}


@pytest.mark.parametrize("redirect", ["on", "off"])
def test_rename_lower_dir_with_content(union, redirect):
    """The merged view moves whole either way; with redirect_dir=on (the
    default with br=) only the rw copy moves and points at its lower parts,
    with off the tree is copied up and made opaque."""
    m = union.std(rw={"d": {"rwonly": "r", ".wh.gone": WHITEOUT}, "t": {}},
                  lowers=[LOWER_TREE, {"d": {"bottom": "b"}}],
                  opts=["redirect_dir=" + redirect])
    before = tree(m.p("d"))
    assert "gone" not in before and "bottom" in before
    os.rename(m.p("d"), m.p("t", "n"))   # no EXDEV
    assert errno_of(os.stat, m.p("d")) == errno.ENOENT
    assert tree(m.p("t", "n")) == before
    st = os.lstat(m.p("t", "n", "sub"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o711, 11)
    st = os.lstat(m.p("t", "n", "a"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 10)
    assert is_wh(m.rw, ".wh.d")
    rwn = os.path.join(m.rw, "t", "n")
    assert exists(os.path.join(rwn, WH_OPQ)), "renamed lower dir should be opaque"
    if redirect == "on":
        # the rw copy of d alone, pointing at d's lower parts; its whiteout stays
        assert read(os.path.join(rwn, WH_OPQ)) == b"d"
        assert sorted(os.listdir(rwn)) == [".wh..wh..opq", ".wh.gone", "rwonly"]
    else:
        # user data of the whole tree is in rw (leftover whiteouts inside an
        # opaque dir are harmless)
        assert {k: v for k, v in tree(rwn).items()
                if not os.path.basename(k).startswith(".wh.")} == before
    m.remount()
    assert tree(m.p("t", "n")) == before
    assert ls(m.mnt) == ["t"]


def test_rename_lower_dir_then_recreate(union):
    m = union.std(lowers=[{"d": {"x": "1"}}])
    os.rename(m.p("d"), m.p("e"))
    os.mkdir(m.p("d"))
    assert ls(m.p("d")) == []
    assert ls(m.p("e")) == ["x"]
    write(m.p("d", "x"), "new")
    assert read(m.p("e", "x")) == b"1"


def test_rename_dir_over_empty_lower_dir(union):
    m = union.std(lowers=[{"src": {"f": "1"}, "dst": {}, "dst2": {"w": "gone"}}])
    os.rename(m.p("src"), m.p("dst"))
    assert tree(m.mnt) == {"dst": "dir", "dst/f": b"1", "dst2": "dir", "dst2/w": b"gone"}
    os.unlink(m.p("dst2", "w"))
    os.rename(m.p("dst"), m.p("dst2"))       # merged-empty target
    assert tree(m.mnt) == {"dst2": "dir", "dst2/f": b"1"}
    m.remount()
    assert tree(m.mnt) == {"dst2": "dir", "dst2/f": b"1"}


@pytest.mark.parametrize("case", ["dir-over-nonempty", "file-over-dir", "dir-over-file",
                                  "missing-src", "dir-into-itself"])
def test_rename_errors_match_ext4(union, ref, case):
    spec = {"d1": {"x": "1"}, "d2": {"y": "2"}, "f": "f"}
    m = union.std(lowers=[spec])
    r = ref("ref", spec)
    src, dst = {"dir-over-nonempty": ("d1", "d2"), "file-over-dir": ("f", "d1"),
                "dir-over-file": ("d1", "f"), "missing-src": ("nope", "z"),
                "dir-into-itself": ("d1", "d1/sub")}[case]
    e_ext4 = errno_of(os.rename, os.path.join(r, src), os.path.join(r, dst))
    e_mnt = errno_of(os.rename, m.p(src), m.p(dst))
    assert e_ext4 != 0
    assert e_mnt == e_ext4, "%s: layerfs %s, ext4 %s" % (case, errno.errorcode.get(e_mnt),
                                                        errno.errorcode[e_ext4])
    assert tree(m.mnt) == tree(r)


@pytest.mark.parametrize("where", ["lower", "rw", "both"])
def test_noreplace_existing(union, where):
    rw = {"t": "rw-t"} if where in ("rw", "both") else {}
    lower = {"s": "src"}
    if where in ("lower", "both"):
        lower["t"] = "low-t"
    m = union.std(rw=rw, lowers=[lower])
    before = tree(m.mnt)
    assert errno_of(renameat2, m.p("s"), m.p("t"), RENAME_NOREPLACE) == errno.EEXIST
    assert tree(m.mnt) == before


def test_noreplace_free_and_whited_out_target(union):
    m = union.std(lowers=[{"s": "src", "s2": "src2", "t2": "old"}])
    renameat2(m.p("s"), m.p("t"), RENAME_NOREPLACE)
    os.unlink(m.p("t2"))
    renameat2(m.p("s2"), m.p("t2"), RENAME_NOREPLACE)
    assert tree(m.mnt) == {"t": b"src", "t2": b"src2"}
    assert is_wh(m.rw, ".wh.s") and is_wh(m.rw, ".wh.s2")


def test_exchange_rw_only(union):
    m = union.std(rw={"a": "A", "d": {"x": "1"}}, lowers=[{"z": "Z"}])
    renameat2(m.p("a"), m.p("d"), RENAME_EXCHANGE)
    assert read(m.p("d")) == b"A"
    assert ls(m.p("a")) == ["x"]
    assert read(os.path.join(m.rw, "d")) == b"A"
    assert ls(os.path.join(m.rw, "a")) == ["x"]


@pytest.mark.parametrize("case", ["lower-lower", "rw-lower", "lower-dir"])
def test_exchange_with_lower_works_or_einval(union, case):
    spec = {"a": "A", "b": "B", "d": {"x": "1"}}
    rw = {}
    if case == "rw-lower":
        rw = {"r": "R"}
    m = union.std(rw=rw, lowers=[spec])
    x, y = {"lower-lower": ("a", "b"), "rw-lower": ("r", "a"), "lower-dir": ("a", "d")}[case]
    before = tree(m.mnt)
    e = errno_of(renameat2, m.p(x), m.p(y), RENAME_EXCHANGE)
    after = tree(m.mnt)
    if e:
        assert e == errno.EINVAL, errno.errorcode.get(e)
        assert after == before
        expect = before
    else:
        expect = {}
        for k, v in before.items():
            top = k.split("/")[0]
            nk = (y if top == x else x if top == y else top) + k[len(top):]
            expect[nk] = v
        assert after == expect
    m.remount()
    assert tree(m.mnt) == expect


def test_rename_symlink_and_fifo(union):
    from lfsutil import FIFO
    m = union.std(lowers=[{"s": L("target"), "p": FIFO()}])
    os.rename(m.p("s"), m.p("s2"))
    os.rename(m.p("p"), m.p("p2"))
    assert os.readlink(m.p("s2")) == "target"
    assert stat.S_ISFIFO(os.lstat(m.p("p2")).st_mode)
    assert ls(m.mnt) == ["p2", "s2"]


def test_rename_keeps_open_fd_content(union):
    m = union.std(lowers=[{"a": "content"}])
    fd = os.open(m.p("a"), os.O_RDONLY)
    try:
        os.rename(m.p("a"), m.p("b"))
        assert os.pread(fd, 100, 0) == b"content"
    finally:
        os.close(fd)
    assert read(m.p("b")) == b"content"


def test_renamed_lower_dir_keeps_no_stale_whiteouts(union):
    """With redirect_dir=off a moved lower directory is copied up whole and
    made opaque; the whiteouts its rw copy held (for the old path) are
    dropped at every depth, so the rw branch says exactly what the merged
    view shows."""
    m = union.std(lowers=[{"d": {"a": "1", "gone": "x", "sub": {"b": "2", "old": "y"}}}],
                  opts=["redirect_dir=off"])
    os.unlink(m.p("d", "gone"))
    os.unlink(m.p("d", "sub", "old"))
    assert is_wh(m.rw, "d/.wh.gone") and is_wh(m.rw, "d/sub/.wh.old")
    os.rename(m.p("d"), m.p("e"))
    assert tree(m.mnt) == {"e": "dir", "e/a": b"1", "e/sub": "dir", "e/sub/b": b"2"}
    assert sorted(os.listdir(os.path.join(m.rw, "e"))) == [WH_OPQ, "a", "sub"]
    assert sorted(os.listdir(os.path.join(m.rw, "e", "sub"))) == ["b"]
    assert is_wh(m.rw, ".wh.d")
    m.remount()
    assert tree(m.mnt) == {"e": "dir", "e/a": b"1", "e/sub": "dir", "e/sub/b": b"2"}
