"""The lower-branch directory cache (src/dircache.c): lookups and negative
lookups answered from each lower branch's entries read once, the rw branch
always asked live, caches dropped on renames, removals and live branch
changes, and off with timeout=0.

Most mounts here use a short kernel timeout (SHORT), so the kernel asks the
daemon again after a change while the daemon still knows the directory (and
keeps its cache): a stale cache shows up as a wrong answer."""
import errno
import os
import subprocess
import threading
import time

import pytest

from conftest import LAYERCTL_BIN, REPO
from lfsutil import WHITEOUT, WH_OPQ, D, errno_of, exists, ls, read, snapshot, write

SHORT = "timeout=0.05"


def settle():
    """Lets the kernel's entries and attributes (SHORT) expire."""
    time.sleep(0.12)


def layerctl(*args):
    r = subprocess.run([LAYERCTL_BIN] + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "layerctl %r: %s%s" % (args, r.stdout, r.stderr)
    return r


def gone(p):
    return errno_of(os.lstat, p) == errno.ENOENT


def mount3(union, l1, l2, l3, rw=None, opts=(SHORT,)):
    b = [(union.branch("rw", rw or {}), "rw")]
    for i, spec in enumerate((l1, l2, l3)):
        b.append((union.branch("l%d" % (i + 1), spec), "ro+wh"))
    return union.mount(b, opts=list(opts))


def test_name_only_in_third_lower(union):
    m = mount3(union, {"d": {"a": "1"}}, {"d": {"b": "2"}},
               {"only3": "three", "d": {"c": "3", "deep": {"f": "ff"}}, "x": {"y": "yy"}})
    for _ in range(2):              # the second round is answered from the caches
        assert read(m.p("only3")) == b"three"
        assert read(m.p("d", "c")) == b"3"
        assert read(m.p("d", "deep", "f")) == b"ff"
        assert read(m.p("x", "y")) == b"yy"
        assert ls(m.p("d")) == ["a", "b", "c", "deep"]
        for missing in ("nope", "d/nope", "d/deep/nope", "x/nope", "d/a/nope"):
            assert errno_of(os.lstat, m.p(missing)) in (errno.ENOENT, errno.ENOTDIR), missing
        settle()


def test_whiteout_in_middle_branch(union):
    m = mount3(union,
               {"d": {"back": "from l1"}},
               {"d": {".wh.gone": WHITEOUT, ".wh.sub": WHITEOUT, ".wh.back": WHITEOUT,
                      "mid": "m", "dup": "mid dup", ".wh.dup": WHITEOUT}},
               {"d": {"gone": "g", "sub": {"f": "f"}, "back": "old", "kept": "k",
                      "dup": "low dup"}})
    for _ in range(2):
        assert gone(m.p("d", "gone")) and gone(m.p("d", "sub"))
        assert read(m.p("d", "dup")) == b"mid dup"     # a name beside its whiteout wins
        assert read(m.p("d", "back")) == b"from l1"   # above the whiteout: shown
        assert read(m.p("d", "kept")) == b"k"
        assert ls(m.p("d")) == ["back", "dup", "kept", "mid"]
        settle()
    write(m.p("d", "gone"), "new")                  # created above it, through the mount
    os.mkdir(m.p("d", "sub"))
    settle()
    assert read(m.p("d", "gone")) == b"new"
    assert ls(m.p("d", "sub")) == []                # the lower sub stays hidden
    assert ls(m.p("d")) == ["back", "dup", "gone", "kept", "mid", "sub"]


def test_opaque_directory_in_middle_branch(union):
    m = mount3(union,
               {"d": {"x": "x1"}},
               {"d": D({"y": "y2", "s": {"t": "t2"}}, opaque=True)},
               {"d": {"y": "y3", "z": "z3", "s": {"u": "u3"}}, "e": {"z": "z3"}})
    for _ in range(2):
        assert ls(m.p("d")) == ["s", "x", "y"]
        assert read(m.p("d", "y")) == b"y2"
        assert gone(m.p("d", "z"))
        assert ls(m.p("d", "s")) == ["t"]
        assert gone(m.p("d", "s", "u"))
        assert read(m.p("e", "z")) == b"z3"
        settle()


def test_mkdir_over_removed_lower_dir_is_opaque(union):
    m = mount3(union, {}, {"d": {"a": "a2"}}, {"d": {"b": "b3"}})
    assert ls(m.p("d")) == ["a", "b"]
    subprocess.run(["rm", "-rf", m.p("d")], check=True)
    settle()
    assert gone(m.p("d"))
    os.mkdir(m.p("d"))
    settle()
    assert ls(m.p("d")) == [] and gone(m.p("d", "a")) and gone(m.p("d", "b"))
    assert exists(os.path.join(m.rw, "d", WH_OPQ))


def test_unlink_rename_rmdir_of_lower_names(union):
    m = mount3(union,
               {"d": {"top": "t"}},
               {"d": {"twice": "upper copy", "e": {}}},
               {"d": {"a": "a3", "b": "b3", "twice": "lower copy", "f": {"g": "g3"}}})
    assert ls(m.p("d")) == ["a", "b", "e", "f", "top", "twice"]
    os.unlink(m.p("d", "a"))
    os.unlink(m.p("d", "twice"))                    # in two lower branches
    os.rename(m.p("d", "b"), m.p("d", "b2"))
    os.rmdir(m.p("d", "e"))
    os.unlink(m.p("d", "f", "g"))
    os.rmdir(m.p("d", "f"))
    rwd = os.path.join(m.rw, "d")
    for name in ("a", "twice", "b", "e", "f"):
        assert exists(os.path.join(rwd, ".wh." + name)), name
    assert not exists(os.path.join(rwd, ".wh.b2")) and not exists(os.path.join(rwd, ".wh.top"))
    for _ in range(2):                              # still gone when the kernel asks again
        settle()
        for name in ("a", "twice", "b", "e", "f"):
            assert gone(m.p("d", name)), name
        assert read(m.p("d", "b2")) == b"b3"
        assert ls(m.p("d")) == ["b2", "top"]
    write(m.p("d", "a"), "again")
    write(m.p("d", "twice"), "again2")
    os.rename(m.p("d", "b2"), m.p("d", "b"))
    os.mkdir(m.p("d", "e"))
    os.mkdir(m.p("d", "f"))
    settle()
    assert read(m.p("d", "a")) == b"again" and read(m.p("d", "twice")) == b"again2"
    assert read(m.p("d", "b")) == b"b3"
    assert ls(m.p("d", "e")) == [] and ls(m.p("d", "f")) == []
    assert ls(m.p("d")) == ["a", "b", "e", "f", "top", "twice"]
    # Gone again: the rw copies go and the whiteouts come back.
    os.unlink(m.p("d", "a"))
    os.rmdir(m.p("d", "f"))
    settle()
    assert gone(m.p("d", "a")) and gone(m.p("d", "f"))
    assert exists(os.path.join(rwd, ".wh.a")) and exists(os.path.join(rwd, ".wh.f"))


def test_rename_merged_directory(union):
    m = mount3(union, {"d": {"a": "a1"}}, {"d": {"b": "b2", "s": {"c": "c2"}}},
               {"d": {"e": "e3", "s": {"f": "f3"}}, "other": {"a": "oa"}})
    assert ls(m.p("d")) == ["a", "b", "e", "s"]
    assert ls(m.p("d", "s")) == ["c", "f"]
    fd = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)   # keeps the node known
    try:
        os.rename(m.p("d"), m.p("moved"))
        settle()
        assert gone(m.p("d"))
        assert ls(m.p("moved")) == ["a", "b", "e", "s"]
        assert read(m.p("moved", "e")) == b"e3"
        assert read(m.p("moved", "s", "f")) == b"f3"
        assert ls(os.path.join("/proc/self/fd/%d" % fd)) == ["a", "b", "e", "s"]
        os.unlink(m.p("moved", "e"))
        settle()
        assert gone(m.p("moved", "e"))
        os.rename(m.p("other"), m.p("d"))           # another lower dir takes the name
        settle()
        assert ls(m.p("d")) == ["a"] and read(m.p("d", "a")) == b"oa"
        assert gone(m.p("d", "b")) and gone(m.p("d", "s"))
    finally:
        os.close(fd)


def test_rw_branch_is_asked_live(union):
    m = mount3(union, {"d": {"a": "a1"}}, {}, {"d": {"b": "b3"}}, rw={"d": {}})
    assert ls(m.p("d")) == ["a", "b"]
    write(os.path.join(m.rw, "d", "new"), "in rw")   # behind the daemon's back
    write(os.path.join(m.rw, "d", ".wh.b"), "")
    settle()
    assert read(m.p("d", "new")) == b"in rw"
    assert gone(m.p("d", "b"))


def test_read_only_union(union):
    """No rw branch: branch 0 is a lower branch too, and cached."""
    l0 = union.branch("l0", {"d": {".wh.a": WHITEOUT, "z": "z0"}})
    l1 = union.branch("l1", {"d": {"a": "a1", "b": "b1"}})
    m = union.mount([(l0, "ro+wh"), (l1, "ro+wh")], opts=[SHORT])
    for _ in range(2):
        assert ls(m.p("d")) == ["b", "z"]
        assert gone(m.p("d", "a")) and read(m.p("d", "b")) == b"b1"
        settle()


def test_live_branch_changes(union):
    m = mount3(union, {"d": {"a": "a1", ".wh.h": WHITEOUT}}, {"d": {"old": "o2"}},
               {"d": {"c": "c3", "h": "h3"}}, opts=("timeout=600",))
    # An open directory keeps its node (and cache) across the changes.
    fd = os.open(m.p("d"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        check_branch_changes(union, m)
    finally:
        os.close(fd)


def check_branch_changes(union, m):
    assert ls(m.p("d")) == ["a", "c", "old"]
    assert gone(m.p("d", "new")) and gone(m.p("d", "h"))   # cached as absent / hidden
    mid = union.branch("mid", {"d": {"new": "n", ".wh.c": WHITEOUT}})
    layerctl("branch", "add", m.mnt, "2", mid + "=ro+wh")
    assert read(m.p("d", "new")) == b"n"
    assert gone(m.p("d", "c"))
    assert ls(m.p("d")) == ["a", "new", "old"]
    layerctl("branch", "del", m.mnt, mid)
    assert gone(m.p("d", "new"))
    assert read(m.p("d", "c")) == b"c3"
    l1 = os.path.join(union.root, "l1")
    layerctl("branch", "mod", m.mnt, l1 + "=ro")   # l1's whiteouts no longer count
    assert read(m.p("d", "h")) == b"h3"
    layerctl("branch", "del", m.mnt, os.path.join(union.root, "l2"))
    assert gone(m.p("d", "old"))
    assert ls(m.p("d")) == ["a", "c", "h"]
    last = union.branch("last", {"d": {"late": "l"}})
    layerctl("branch", "append", m.mnt, last + "=ro")
    assert read(m.p("d", "late")) == b"l"


def test_timeout_zero_sees_lower_changes(union):
    m = mount3(union, {"d": {"a": "a1"}}, {"d": {"b": "b2"}}, {"d": {"c": "c3"}},
               opts=("timeout=0",))
    assert ls(m.p("d")) == ["a", "b", "c"]
    assert gone(m.p("d", "late"))
    l2, l1 = os.path.join(union.root, "l2"), os.path.join(union.root, "l1")
    write(os.path.join(l2, "d", "late"), "late")
    write(os.path.join(l1, "d", ".wh.c"), "")
    for d in (l1, l2):
        union.snapshots[d] = snapshot(d)            # changed on purpose
    assert read(m.p("d", "late")) == b"late"
    assert gone(m.p("d", "c"))
    os.unlink(os.path.join(l1, "d", ".wh.c"))
    union.snapshots[l1] = snapshot(l1)
    assert read(m.p("d", "c")) == b"c3"


BIG = 5000


def test_large_directory(union):
    big = {"f%05d" % i: "v%d" % i for i in range(BIG)}
    big.update({"sub%d" % i: {"in": "x"} for i in range(20)})
    hide = {".wh.f%05d" % i: WHITEOUT for i in range(0, BIG, 97) if i % 101 != 1}
    shadow = {"f%05d" % i: "top%d" % i for i in range(1, BIG, 101)}
    m = mount3(union, {"big": dict(hide, **shadow)}, {"big": {"mid": "m"}}, {"big": big})
    hidden = {"f%05d" % i for i in range(0, BIG, 97) if i % 101 != 1}
    names = set(big) - hidden | {"mid"}
    assert set(ls(m.p("big"))) == names
    for _ in range(2):
        for i in range(0, BIG, 7):
            name = "f%05d" % i
            p = m.p("big", name)
            if name in hidden:
                assert gone(p), name
            elif i % 101 == 1:
                assert read(p) == b"top%d" % i
            else:
                assert read(p) == b"v%d" % i, name
        for i in range(BIG, BIG + 300):
            assert gone(m.p("big", "f%05d" % i))
        assert read(m.p("big", "sub7", "in")) == b"x"
        settle()
    os.unlink(m.p("big", "f00003"))
    settle()
    assert gone(m.p("big", "f00003"))


def test_parallel_lookups_in_one_directory(union):
    big = {"n%04d" % i: str(i) for i in range(2000)}
    m = mount3(union, {}, {"p": {"up": "u"}}, {"p": big})
    errors = []

    def worker(k):
        try:
            for i in range(k, 2000, 8):
                os.lstat(m.p("p", "n%04d" % i))
                if not gone(m.p("p", "missing%d" % i)):
                    errors.append("missing%d found" % i)
        except OSError as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ls(m.p("p"))) == 2001
