"""Renaming a directory with lower parts without copying its tree
(redirect_dir=on, the default with br=): its rw copy moves, holding in its
opaque marker the path of its lower parts (layerfs/union.h). Lookups and
listings through the new name, the old name whited out, renames of renamed
directories, copy-up and whiteouts inside, hardlinks, remounts; the rw
branch stays small."""
import errno
import os
import stat

import pytest

from test_branches import layerctl
from lfsutil import D, HL, WH_OPQ, errno_of, exists, ls, read, tree, write

LOWER = {"a": {"f": "file f", "sub": {"g": "file g", "deep": {"h": "h"}},
               "gone": "x", "link": HL("a/f")},
         "other": {"o": "o", "peer": HL("a/f")}}


def rw_entries(rw):
    """Every entry of the rw branch (relative paths), work files aside."""
    out = []
    for dirpath, dirnames, filenames in os.walk(rw):
        if dirpath == rw:
            for meta in (".wh..wh.orph", ".wh..wh.plnk"):
                if meta in dirnames:
                    dirnames.remove(meta)
        for n in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, n), rw)
            if rel != ".wh..wh.aufs":
                out.append(rel)
    return sorted(out)


def marker(rw, rel):
    return read(os.path.join(rw, rel, WH_OPQ))


def test_rename_moves_only_the_directory(union):
    m = union.std(lowers=[LOWER])
    before = tree(m.p("a"))
    os.rename(m.p("a"), m.p("b"))
    assert errno_of(os.stat, m.p("a")) == errno.ENOENT
    assert tree(m.p("b")) == before
    assert sorted(ls(m.mnt)) == ["b", "other"]
    # the rw branch: the directory, its marker with the path, the whiteout
    assert rw_entries(m.rw) == [".wh.a", "b", "b/" + WH_OPQ]
    assert marker(m.rw, "b") == b"a"
    assert stat.S_ISDIR(os.lstat(os.path.join(m.rw, "b")).st_mode)
    m.remount()
    assert tree(m.p("b")) == before and errno_of(os.stat, m.p("a")) == errno.ENOENT


def test_renamed_again_and_into_other_directories(union):
    m = union.std(lowers=[LOWER])
    before = tree(m.p("a"))
    os.rename(m.p("a"), m.p("b"))
    os.mkdir(m.p("new"))
    os.rename(m.p("b"), m.p("new", "c"))
    os.rename(m.p("new"), m.p("top"))       # a plain rw directory around it
    assert tree(m.p("top", "c")) == before
    assert marker(m.rw, "top/c") == b"a"
    # a subdirectory of the renamed one, renamed out of it: its own redirect
    os.rename(m.p("top", "c", "sub"), m.p("sub2"))
    assert tree(m.p("sub2")) == {"g": b"file g", "deep": "dir", "deep/h": b"h"}
    assert marker(m.rw, "sub2") == b"a/sub"
    assert "sub" not in ls(m.p("top", "c"))
    m.remount()
    assert tree(m.p("sub2")) == {"g": b"file g", "deep": "dir", "deep/h": b"h"}
    assert sorted(ls(m.p("top", "c"))) == ["f", "gone", "link"]


def test_changes_inside_a_redirected_directory(union):
    m = union.std(lowers=[LOWER])
    os.rename(m.p("a"), m.p("b"))
    with open(m.p("b", "sub", "g"), "a") as f:           # copy-up, parents too
        f.write("+")
    os.unlink(m.p("b", "gone"))                           # whiteout
    write(m.p("b", "new"), "n")
    os.mkdir(m.p("b", "sub", "nd"))
    os.unlink(m.p("b", "sub", "deep", "h"))
    os.rmdir(m.p("b", "sub", "deep"))
    assert read(m.p("b", "sub", "g")) == b"file g+"
    assert sorted(ls(m.p("b"))) == ["f", "link", "new", "sub"]
    assert sorted(ls(m.p("b", "sub"))) == ["g", "nd"]
    rw = m.rw
    assert read(os.path.join(rw, "b", "sub", "g")) == b"file g+"
    assert exists(os.path.join(rw, "b", ".wh.gone"))
    assert exists(os.path.join(rw, "b", "sub", ".wh.deep"))
    # the lower branch keeps everything
    low = os.path.join(union.root, "l1")
    assert read(os.path.join(low, "a", "sub", "g")) == b"file g"
    m.remount()
    assert sorted(ls(m.p("b"))) == ["f", "link", "new", "sub"]
    assert read(m.p("b", "sub", "g")) == b"file g+"
    # emptied, it can go; the lower parts stay hidden
    for n in ("f", "link", "new"):
        os.unlink(m.p("b", n))
    for n in ("g",):
        os.unlink(m.p("b", "sub", n))
    os.rmdir(m.p("b", "sub", "nd"))
    os.rmdir(m.p("b", "sub"))
    os.rmdir(m.p("b"))
    assert sorted(ls(m.mnt)) == ["other"]
    m.remount()
    assert sorted(ls(m.mnt)) == ["other"]


def test_hardlinks_through_a_redirected_directory(union):
    m = union.std(lowers=[LOWER])
    ino = os.lstat(m.p("a", "f")).st_ino
    os.rename(m.p("a"), m.p("b"))
    assert os.lstat(m.p("b", "f")).st_ino == ino == os.lstat(m.p("other", "peer")).st_ino
    with open(m.p("b", "f"), "a") as f:
        f.write("+more")
    for p in (("b", "f"), ("b", "link"), ("other", "peer")):
        assert read(m.p(*p)) == b"file f+more", p
        assert os.lstat(m.p(*p)).st_ino == ino
    m.remount()
    assert read(m.p("other", "peer")) == b"file f+more"


def test_a_new_directory_at_the_old_name(union):
    m = union.std(lowers=[LOWER])
    os.rename(m.p("a"), m.p("b"))
    os.mkdir(m.p("a"))                      # over the whiteout: opaque, empty
    assert ls(m.p("a")) == [] and sorted(ls(m.p("b"))) == ["f", "gone", "link", "sub"]
    write(m.p("a", "x"), "x")
    os.rename(m.p("b"), m.p("a", "b"))
    assert sorted(ls(m.p("a"))) == ["b", "x"]
    assert read(m.p("a", "b", "sub", "g")) == b"file g"
    m.remount()
    assert read(m.p("a", "b", "sub", "deep", "h")) == b"h"


def test_rename_over_a_lower_directory(union):
    """The destination's lower copy must not merge into the moved one."""
    m = union.std(lowers=[dict(LOWER, dst={})])
    os.rename(m.p("a"), m.p("dst"))
    assert sorted(ls(m.p("dst"))) == ["f", "gone", "link", "sub"]
    assert marker(m.rw, "dst") == b"a"


def test_the_rename_costs_the_same_for_any_size(union):
    big = {"big": {"d%02d" % i: {"f%03d" % j: "x" for j in range(100)} for i in range(20)}}
    m = union.std(lowers=[big])
    os.rename(m.p("big"), m.p("moved"))
    assert rw_entries(m.rw) == [".wh.big", "moved", "moved/" + WH_OPQ]
    assert len(ls(m.p("moved"))) == 20 and len(ls(m.p("moved", "d07"))) == 100


def test_redirect_dir_off_copies_the_tree(union):
    m = union.std(lowers=[LOWER], opts=["redirect_dir=off"])
    os.rename(m.p("a"), m.p("b"))
    assert read(os.path.join(m.rw, "b", "sub", "deep", "h")) == b"h"
    assert read(os.path.join(m.rw, "b", WH_OPQ)) == b""


def test_upperdir_syntax_copies_by_default(union):
    """Tools that read an upperdir= themselves know no redirects."""
    low = union.branch("lower", LOWER)
    up, work = union.branch("upper", {}), union.branch("work", {})
    m = union.mount_overlay([low], upperdir=up, workdir=work)
    os.rename(m.p("a"), m.p("b"))
    assert read(os.path.join(up, "b", "sub", "g")) == b"file g"
    m.stop()
    up2, work2 = union.branch("upper2", {}), union.branch("work2", {})
    m2 = union.mount_overlay([low], upperdir=up2, workdir=work2, opts=["redirect_dir=on"],
                             mnt=union.mkdir("mnt2"))
    os.rename(m2.p("a"), m2.p("b"))
    assert read(os.path.join(up2, "b", WH_OPQ)) == b"a"


def test_bad_redirect_option(union):
    import subprocess
    from conftest import LAYERFS_BIN
    rw = union.branch("rw", {})
    r = subprocess.run([LAYERFS_BIN, "-o", "br=%s,redirect_dir=maybe" % rw, union.mkdir("x")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "bad redirect_dir" in r.stderr


def test_which_shows_the_lower_parts_of_a_redirected_directory(union):
    """layerctl which on a renamed directory: the rw copy supplies it, its
    marker is a redirect, and the lower directories merged into it are those
    of the old path (before the fix the walk stopped at the marker)."""
    m = union.std(lowers=[LOWER, {"a": {"more": "m"}}])
    l1, l2 = m.lowers[0], m.lowers[1]
    os.rename(m.p("a"), m.p("b"))
    r = layerctl("which", m.p("b"))
    lines = [line.split() for line in r.stdout.splitlines()[1:]]
    assert lines == [["supplies", "branch", "0", os.path.join(m.rw, "b")],
                     ["redirect", "branch", "0", os.path.join(m.rw, "b", WH_OPQ)],
                     ["merges", "branch", "1", os.path.join(l1, "a")],
                     ["merges", "branch", "2", os.path.join(l2, "a")]]
    # inside it, the lower copies are found at the old path
    r = layerctl("which", m.p("b", "sub", "g"))
    assert r.stdout.splitlines()[1].split() == [
        "supplies", "branch", "1", os.path.join(l1, "a", "sub", "g")]


def test_renamed_directory_keeps_its_times(union):
    """A redirected directory's mtime and atime are the lower directory's,
    as on ext4 and overlayfs: writing the marker is not a change users made
    (found by the differential test: the marker set the mtime to now)."""
    lower = dict(LOWER)
    lower["a"] = D(LOWER["a"], mtime_ns=10**18 + 5000, atime_ns=10**18)
    m = union.std(lowers=[lower])
    before = os.stat(m.p("a"))
    os.mkdir(m.p("into"))
    os.rename(m.p("a"), m.p("into", "b"))
    after = os.stat(m.p("into", "b"))
    assert (after.st_mtime_ns, after.st_atime_ns) == (before.st_mtime_ns, before.st_atime_ns)
    m.remount()
    assert os.stat(m.p("into", "b")).st_mtime_ns == before.st_mtime_ns


def test_moving_a_tree_that_holds_a_redirect_keeps_its_whiteouts(union):
    """A new directory holding a redirected one, moved over a lower
    directory, becomes opaque and loses the whiteouts below it, but not
    those of the redirected directory, whose lower parts come from its
    redirect (found by the differential test: after a remount the deleted
    lower file was back)."""
    m = union.std(lowers=[{"d": D({"keep": "k", "gone": "g"}), "b": D({"c": D({})})}])
    os.unlink(m.p("d", "gone"))
    os.mkdir(m.p("new"))
    os.rename(m.p("d"), m.p("new", "e"))          # redirected: its marker says /d
    os.rename(m.p("new"), m.p("b", "c"))          # over a lower directory: opaque
    for _ in range(2):
        assert ls(m.p("b", "c", "e")) == ["keep"]
        assert not exists(m.p("b", "c", "e", "gone"))
        m.remount()
    assert os.path.exists(os.path.join(m.rw, "b", "c", "e", ".wh.gone"))
    assert marker(m.rw, "b/c") == b""                 # plain opaque
    assert marker(m.rw, "b/c/e") == b"d"              # the redirect
