"""Item 1: lookup and listing merge top-down."""
import errno
import os
import stat

import pytest

from lfsutil import D, F, L, WHITEOUT, errno_of, ls, read, tree


def test_union_of_names_and_topmost_wins(union):
    m = union.std(rw={"a": "rw-a", "dup": "rw-dup"},
                  lowers=[{"b": "l1-b", "dup": "l1-dup", "dup2": "l1-dup2"},
                          {"c": "l2-c", "dup": "l2-dup", "dup2": "l2-dup2"}])
    assert ls(m.mnt) == ["a", "b", "c", "dup", "dup2"]
    assert read(m.p("dup")) == b"rw-dup"
    assert read(m.p("dup2")) == b"l1-dup2"
    assert read(m.p("c")) == b"l2-c"
    # the listing has no duplicates
    names = [e.name for e in os.scandir(m.mnt)]
    assert len(names) == len(set(names))


def test_nested_directories_merge(union):
    m = union.std(rw={"d": {"e": {"r": "rw"}}},
                  lowers=[{"d": {"e": {"one": "1"}, "f1": "x"}},
                          {"d": {"e": {"two": "2", "r": "low"}, "f2": "y"}}])
    assert tree(m.mnt) == {"d": "dir", "d/e": "dir", "d/e/one": b"1", "d/e/r": b"rw",
                           "d/e/two": b"2", "d/f1": b"x", "d/f2": b"y"}


def test_topmost_metadata(union):
    m = union.std(lowers=[{"f": F("top", mode=0o600, uid=123)},
                          {"f": F("bottom-longer", mode=0o644, uid=456)}])
    st = os.stat(m.p("f"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_size) == (0o600, 123, 3)


@pytest.mark.parametrize("perm", ["ro+wh", "rr+wh"])
def test_whiteout_honoured_in_wh_branch(union, perm):
    m = union.std(lowers=[{".wh.gone": WHITEOUT, ".wh.self": WHITEOUT, "self": "l1-self",
                           "d": {".wh.x": WHITEOUT}, ".wh.gdir": WHITEOUT},
                          {"gone": "l2", "self": "l2-self", "d": {"x": "l2x", "y": "l2y"},
                           "gdir": {"inner": "i"}}], perms=[perm, "ro"])
    assert ls(m.mnt) == ["d", "self"]
    assert errno_of(os.stat, m.p("gone")) == errno.ENOENT
    assert errno_of(os.stat, m.p("gdir")) == errno.ENOENT
    assert errno_of(os.stat, m.p("gdir", "inner")) == errno.ENOENT
    # a whiteout does not hide the name in its own branch
    assert read(m.p("self")) == b"l1-self"
    assert ls(m.p("d")) == ["y"]
    assert errno_of(os.stat, m.p("d", "x")) == errno.ENOENT


@pytest.mark.parametrize("perm", ["ro", "rr"])
def test_whiteout_ignored_in_ro_branch(union, perm):
    m = union.std(lowers=[{".wh.gone": WHITEOUT, "d": D({"a": "1"}, opaque=True)},
                          {"gone": "l2", "d": {"b": "2"}}], perms=[perm, "ro"])
    assert ls(m.mnt) == ["d", "gone"]
    assert read(m.p("gone")) == b"l2"
    # the opaque marker is not honoured in an ro branch either
    assert ls(m.p("d")) == ["a", "b"]
    assert errno_of(os.stat, m.p(".wh.gone")) == errno.ENOENT


def test_whiteout_in_rw_branch(union):
    m = union.std(rw={".wh.a": WHITEOUT, "d": {".wh.b": WHITEOUT}},
                  lowers=[{"a": "1", "d": {"b": "2", "c": "3"}}])
    assert ls(m.mnt) == ["d"]
    assert ls(m.p("d")) == ["c"]
    assert errno_of(os.stat, m.p("a")) == errno.ENOENT


def test_whiteout_only_hides_below(union):
    """A whiteout in l2 does not hide l1's entry (l1 is above l2)."""
    m = union.std(lowers=[{"x": "l1"}, {".wh.x": WHITEOUT}, {"x": "l3"}])
    assert read(m.p("x")) == b"l1"
    assert ls(m.mnt) == ["x"]


@pytest.mark.parametrize("where", ["rw", "l1"])
def test_opaque_stops_merge(union, where):
    opq = {"d": D({"top": "t", "sub": {"s1": "1"}}, opaque=True)}
    other = {"d": {"mid": "m"}}
    if where == "rw":
        m = union.std(rw=opq, lowers=[other, {"d": {"low": "l", "sub": {"s2": "2"}}}])
        expect = ["sub", "top"]
    else:
        m = union.std(rw={"d": {"r": "r"}},
                      lowers=[opq, {"d": {"low": "l", "sub": {"s2": "2"}}}])
        expect = ["r", "sub", "top"]
    assert ls(m.p("d")) == expect
    assert ls(m.p("d", "sub")) == ["s1"]
    assert errno_of(os.stat, m.p("d", "low")) == errno.ENOENT
    assert errno_of(os.stat, m.p("d", "sub", "s2")) == errno.ENOENT


def test_opaque_only_affects_that_directory(union):
    m = union.std(lowers=[{"d": D({"sub": {"a": "1"}}, opaque=False),
                           "o": D({}, opaque=True)},
                          {"d": {"sub": {"b": "2"}}, "o": {"z": "z"}}])
    assert ls(m.p("d", "sub")) == ["a", "b"]
    assert ls(m.p("o")) == []


def test_file_hides_directory_below(union):
    m = union.std(lowers=[{"n": "file"}, {"n": {"child": "c"}}])
    st = os.lstat(m.p("n"))
    assert stat.S_ISREG(st.st_mode)
    assert read(m.p("n")) == b"file"
    assert errno_of(os.stat, m.p("n", "child")) == errno.ENOTDIR


def test_directory_hides_file_below_and_stops_merge(union):
    m = union.std(lowers=[{"n": {"a": "1"}}, {"n": "file"}, {"n": {"deep": "3"}}])
    assert stat.S_ISDIR(os.lstat(m.p("n")).st_mode)
    assert ls(m.p("n")) == ["a"]
    assert errno_of(os.stat, m.p("n", "deep")) == errno.ENOENT


def test_symlink_hides_directory_below(union):
    m = union.std(lowers=[{"n": L("target")}, {"n": {"a": "1"}}])
    assert os.readlink(m.p("n")) == "target"
    assert ls(m.mnt) == ["n"]


def test_dtype_in_listing_matches_stat(union):
    m = union.std(rw={"f": "1"}, lowers=[{"d": {}, "l": L("f")}, {"f": {}, "l": {}, "d": "x"}])
    for e in os.scandir(m.mnt):
        st = os.lstat(e.path)
        assert e.is_dir(follow_symlinks=False) == stat.S_ISDIR(st.st_mode), e.name
        assert e.is_symlink() == stat.S_ISLNK(st.st_mode), e.name
        assert e.is_file(follow_symlinks=False) == stat.S_ISREG(st.st_mode), e.name


def test_markers_never_listed(union):
    m = union.std(rw={".wh..wh.aufs": F("", mode=0), ".wh..wh.orph": {}, ".wh..wh.plnk": {},
                      "d": D({"x": "1"}, opaque=True)},
                  lowers=[{".wh.nothing": WHITEOUT, ".wh..wh..opq": WHITEOUT, "y": "2",
                           "e": {".wh.q": WHITEOUT}}],
                  perms=["ro"])
    assert ls(m.mnt) == ["d", "e", "y"]
    assert ls(m.p("d")) == ["x"]
    assert ls(m.p("e")) == []
    for n in [".wh..wh.aufs", ".wh..wh.orph", ".wh..wh.plnk", ".wh.nothing", ".wh..wh..opq",
              "d/.wh..wh..opq", "e/.wh.q"]:
        assert errno_of(os.lstat, m.p(n)) == errno.ENOENT, n


def test_root_directories_merge_and_many_entries(union):
    rw = {"r%03d" % i: str(i) for i in range(0, 300, 3)}
    l1 = {"r%03d" % i: "l1" for i in range(0, 300, 2)}
    l2 = {"r%03d" % i: "l2" for i in range(300)}
    l1.update({".wh.r%03d" % i: WHITEOUT for i in range(1, 300, 10)})
    m = union.std(rw=rw, lowers=[l1, l2])
    expect = sorted(set("r%03d" % i for i in range(300)) -
                    set("r%03d" % i for i in range(1, 300, 10) if i % 3 and i % 2))
    names = [e.name for e in os.scandir(m.mnt)]
    assert sorted(names) == expect
    assert len(names) == len(expect)
    assert read(m.p("r006")) == b"6"
    assert read(m.p("r004")) == b"l1"
    assert read(m.p("r005")) == b"l2"
