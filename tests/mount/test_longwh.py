"""Whiteouts of names too long for a ".wh.NAME" entry (252 bytes and more):
kept in the directory's list ".wh..wh.long" (layerfs/longwh.h), honoured in
lookups and listings, made by unlink, rmdir and rename of long lower names,
dropped by a create over them, and honoured in lower branches too."""
import errno
import os

from lfsutil import errno_of, exists, ls, read, write

LIST = ".wh..wh.long"
L255 = "x" * 255
L252 = "y" * 252
L251 = "z" * 251     # ".wh." + 251 = 255 bytes: still a plain whiteout


def listed(d):
    """The names in directory d's long-whiteout list ([] without one)."""
    p = os.path.join(d, LIST)
    if not os.path.exists(p):
        return []
    data = open(p, "rb").read()
    assert data.endswith(b"\0"), data[-10:]
    return sorted(n.decode() for n in data.split(b"\0")[:-1])


def test_unlink_rmdir_of_long_lower_names(union):
    m = union.std(lowers=[{"d": {L255: "lower", L252: {"f": "x"}, L251: "s", "keep": "k"}}])
    os.unlink(m.p("d", L255))
    os.unlink(m.p("d", L252, "f"))
    os.rmdir(m.p("d", L252))
    os.unlink(m.p("d", L251))
    assert ls(m.p("d")) == ["keep"]
    assert errno_of(os.stat, m.p("d", L255)) == errno.ENOENT
    assert errno_of(os.stat, m.p("d", L252)) == errno.ENOENT
    d = os.path.join(m.rw, "d")
    assert listed(d) == sorted([L255, L252])
    assert os.path.exists(os.path.join(d, ".wh." + L251))
    assert sorted(os.listdir(d)) == sorted([".wh." + L251, LIST])
    # the list is never shown, and cannot be reached or made through the mount
    assert LIST not in os.listdir(m.p("d"))
    assert errno_of(os.stat, m.p("d", LIST)) == errno.ENOENT
    assert errno_of(write, m.p("d", LIST), "x") == errno.EINVAL
    # persists across a remount (and the lower branch is untouched)
    m.remount()
    assert ls(m.p("d")) == ["keep"]
    assert errno_of(os.stat, m.p("d", L255)) == errno.ENOENT


def test_create_over_a_long_whiteout(union):
    m = union.std(lowers=[{L255: "lower", L252: "lower2"}])
    os.unlink(m.p(L255))
    os.unlink(m.p(L252))
    assert listed(m.rw) == sorted([L255, L252])
    write(m.p(L255), "new")
    assert read(m.p(L255)) == b"new"
    assert listed(m.rw) == [L252]
    os.mkdir(m.p(L252))          # mkdir over a whiteout: an opaque directory
    assert os.path.isdir(m.p(L252)) and ls(m.p(L252)) == []
    assert listed(m.rw) == []
    assert not os.path.exists(os.path.join(m.rw, LIST))   # the last name took it away
    assert sorted(ls(m.mnt)) == sorted([L255, L252])


def test_rename_of_a_long_lower_name(union):
    m = union.std(lowers=[{"d": {L255: "data"}, "e": {}}])
    os.rename(m.p("d", L255), m.p("e", L255))
    assert ls(m.p("d")) == []
    assert read(m.p("e", L255)) == b"data"
    assert listed(os.path.join(m.rw, "d")) == [L255]
    os.rename(m.p("e", L255), m.p("d", L255))       # and back: the whiteout goes
    assert read(m.p("d", L255)) == b"data"
    assert listed(os.path.join(m.rw, "d")) == []


def test_long_whiteouts_in_a_lower_branch(union):
    """An image layer (ro+wh) deletes a long name of the layer below; a
    plain ro branch's list means nothing, as its .wh. files do."""
    top = union.branch("top", {"d": {LIST: (L255 + "\0").encode(), "t": "top"}})
    bottom = union.branch("bottom", {"d": {L255: "old", "b": "b"}})
    rw = union.branch("rw", {})
    m = union.mount([(rw, "rw"), (top, "ro+wh"), (bottom, "ro+wh")])
    assert ls(m.p("d")) == ["b", "t"]
    assert errno_of(os.stat, m.p("d", L255)) == errno.ENOENT
    # creating the name again through the mount brings it back
    write(m.p("d", L255), "again")
    assert ls(m.p("d")) == sorted(["b", "t", L255])
    assert read(m.p("d", L255)) == b"again"
    m.stop()
    m2 = union.mount([(union.branch("rw2", {}), "rw"), (top, "ro"), (bottom, "ro+wh")],
                     mnt=union.mkdir("mnt2"))
    assert sorted(ls(m2.p("d"))) == sorted(["b", "t", L255])
    assert read(m2.p("d", L255)) == b"old"


def test_which_and_branches_count_long_whiteouts(union):
    from test_branches import layerctl
    m = union.std(lowers=[{L255: "x", "a": "a"}])
    os.unlink(m.p(L255))
    os.unlink(m.p("a"))
    out = layerctl("branches", m.mnt).stdout.splitlines()
    rw_row = out[1].split()
    assert rw_row[4] == "2", out      # WHITEOUTS of the rw branch
    r = layerctl("which", m.p(L255), check=False)
    assert r.returncode != 0 or "whiteout" in r.stdout
    assert not exists(m.p(L255))
