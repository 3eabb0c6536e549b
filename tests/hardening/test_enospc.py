"""A full rw branch (ENOSPC) during copy-up, create, write, rename and
whiteout creation: the caller gets the real errno, nothing partial becomes
visible (in the merged view or the rw branch), no debris stays in the work
directory, and the mount works again once space is freed. The rw branch is
a small ext4 on a loop device that the test fills up. EDQUOT (this kernel
has no quota format for ext4, XFS or tmpfs) is injected by strace into each
call that allocates, in turn."""
import errno
import os

import pytest

from hutil import inject, rw_debris, traced_calls, work_dir_entries
from lfsutil import errno_of, exists, ls, read, tree, write

BIG = 3 << 20          # a lower file bigger than what is left on the rw branch


def fill(m, name="filler", chunk=1 << 16):
    """Writes through the mount until the rw branch is full; the file's
    size. The last write fails with ENOSPC, as on ext4."""
    fd = os.open(m.p(name), os.O_WRONLY | os.O_CREAT, 0o644)
    total, data = 0, b"f" * chunk
    try:
        while True:
            try:
                total += os.write(fd, data)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        # the small ones that still fit
        for small in (4096, 512, 1):
            try:
                while True:
                    total += os.write(fd, data[:small])
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return total


def clean(rw):
    """Nothing half-made: no debris in the rw branch, the work directory empty."""
    assert rw_debris(rw) == []
    assert work_dir_entries(rw) == []


@pytest.fixture
def full(union):
    rw = union.loopfs("rwfs", size_mb=8)
    low = union.branch("low", {"big": "b" * BIG, "small": "s", "d": {"f": "in d"},
                               "keep": "k"})
    m = union.mount([(rw, "rw"), (low, "ro+wh")])
    os.mkdir(m.p("made"))        # rw-only directory made while there is room
    fill(m)
    return m, rw


def test_copyup_of_a_big_file(full):
    m, rw = full
    assert errno_of(os.open, m.p("big"), os.O_WRONLY) == errno.ENOSPC
    assert read(m.p("big")) == b"b" * BIG          # still the lower file
    assert not os.path.exists(os.path.join(rw, "big"))
    clean(rw)
    os.unlink(m.p("filler"))                         # room again
    with open(m.p("big"), "ab") as f:
        f.write(b"+")
    assert read(m.p("big")) == b"b" * BIG + b"+"
    assert os.path.getsize(os.path.join(rw, "big")) == BIG + 1
    clean(rw)


def test_writes_creates_renames_and_whiteouts(full):
    m, rw = full
    # a write to an rw file
    fd = os.open(m.p("filler"), os.O_WRONLY | os.O_APPEND)
    try:
        assert errno_of(os.write, fd, b"x" * 65536) == errno.ENOSPC
    finally:
        os.close(fd)
    # a new directory, and a file in a directory that needs copying up
    assert errno_of(os.mkdir, m.p("newdir")) == errno.ENOSPC
    assert not exists(m.p("newdir"))
    assert errno_of(write, m.p("d", "g"), "g") == errno.ENOSPC
    assert not exists(m.p("d", "g")) and ls(m.p("d")) == ["f"]
    # rename of a lower file (a copy-up of its parent and itself)
    assert errno_of(os.rename, m.p("d", "f"), m.p("made", "f")) == errno.ENOSPC
    assert read(m.p("d", "f")) == b"in d" and not exists(m.p("made", "f"))
    # a whiteout in a directory the rw branch does not have yet
    assert errno_of(os.unlink, m.p("d", "f")) == errno.ENOSPC
    assert read(m.p("d", "f")) == b"in d"
    assert sorted(ls(m.mnt)) == ["big", "d", "filler", "keep", "made", "small"]
    clean(rw)
    # space again: every one of them works, and the branch holds the result
    os.unlink(m.p("filler"))
    os.mkdir(m.p("newdir"))
    write(m.p("d", "g"), "g")
    os.rename(m.p("d", "f"), m.p("made", "f"))
    os.unlink(m.p("small"))
    assert read(m.p("made", "f")) == b"in d"
    assert ls(m.p("d")) == ["g"]
    assert sorted(ls(m.mnt)) == ["big", "d", "keep", "made", "newdir"]
    assert os.path.exists(os.path.join(rw, ".wh.small"))
    assert os.path.exists(os.path.join(rw, "d", ".wh.f"))
    clean(rw)


def test_out_of_inodes(union):
    """EDQUOT's cousin: no inode left. Creates fail with ENOSPC, a whiteout
    (a hardlink of the whiteout base: no inode) still works."""
    rw = union.loopfs("rwfs", size_mb=8, inodes=64)
    low = union.branch("low", {"a": "a", "b": "b"})
    m = union.mount([(rw, "rw"), (low, "ro+wh")])
    os.unlink(m.p("a"))               # makes the whiteout base while inodes last
    made = 0
    while True:
        try:
            write(m.p("n%d" % made), "")
            made += 1
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
            break
    assert made > 0
    assert not exists(m.p("n%d" % made))
    os.unlink(m.p("b"))               # no inode needed
    assert not exists(m.p("b"))
    clean(rw)
    os.unlink(m.p("n0"))
    write(m.p("again"), "x")
    assert read(m.p("again")) == b"x"
    clean(rw)


GAPS = range(0, 40)            # KiB left free, one step each
OPS = ("copyup", "hardlink", "rename_dir", "unlink", "mkdir", "create")


def lower_for_sweep():
    from lfsutil import D, F, HL
    spec = {}
    for i in GAPS:
        spec["d%d" % i] = D({"x": F(b"x" * 6000, xattrs={"user.big": b"v" * 600}),
                              "h1": "linked", "h2": HL("d%d/h1" % i),
                              "sub": {"a": "a" * 3000, "b": "b"}},
                             xattrs={"user.dir": b"d" * 500})
    return spec


def attempt(m, op, i):
    d = m.p("d%d" % i)
    if op == "copyup":
        with open(os.path.join(d, "x"), "ab") as f:
            f.write(b"+")
    elif op == "hardlink":
        with open(os.path.join(d, "h2"), "ab") as f:
            f.write(b"+")
    elif op == "rename_dir":
        os.rename(os.path.join(d, "sub"), os.path.join(d, "moved"))
    elif op == "unlink":
        os.unlink(os.path.join(d, "x"))
    elif op == "mkdir":
        os.mkdir(os.path.join(d, "new"))
    elif op == "create":
        os.close(os.open(os.path.join(d, "new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def view_of(m, i):
    d = m.p("d%d" % i)
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, d)
            out[rel] = read(p) if n in filenames else None
    return out


@pytest.mark.parametrize("op", OPS)
def test_enospc_at_every_step(union, op):
    """The rw branch left with 0, 1, 2 ... KiB free before the operation, so
    that it runs out at every step in turn (the parent's copy, the work
    file, the data, the xattrs, the index link, the rename, the whiteout):
    each attempt either works or fails with ENOSPC and leaves the old state,
    never debris; with no room it fails, with enough it works."""
    rw = union.loopfs("rwfs", size_mb=6)
    low = union.branch("low", lower_for_sweep())
    m = union.mount([(rw, "rw"), (low, "ro+wh")])
    outcomes = []
    for i in GAPS:
        before = view_of(m, i)
        fill(m, "pad")
        os.truncate(m.p("pad"), max(0, os.path.getsize(m.p("pad")) - i * 1024))
        try:
            attempt(m, op, i)
            outcomes.append("ok")
        except OSError as e:
            assert e.errno == errno.ENOSPC, (op, i, e)
            outcomes.append("ENOSPC")
            assert view_of(m, i) == before, (op, i)
        clean(rw)
        os.unlink(m.p("pad"))
    # It ran out at first and worked with room enough (the exact point moves
    # a little from run to run: ext4 keeps reservations of its own).
    assert outcomes[0] == "ENOSPC" and outcomes[-5:] == ["ok"] * 5, outcomes
    print(op, "".join("." if o == "ok" else "E" for o in outcomes))


# ------------------------------------------------------ EDQUOT at every step
# The calls by which the daemon allocates room in the rw branch: each may
# fail with EDQUOT when the owner's quota is used up.
ALLOCATING = ("mkdirat", "openat", "symlinkat", "linkat", "mknodat", "renameat2",
              "write", "pwrite64", "copy_file_range", "fallocate", "fsetxattr",
              "lsetxattr", "setxattr", "fchownat")
QUOTA_LOWER = {"big": "b" * (1 << 20), "d": {"f": "in d", "g": "g"}, "keep": "k"}


def _append(p):
    with open(p, "ab") as f:
        f.write(b"+")


QUOTA_OPS = {
    "copy-up": lambda m: _append(m.p("big")),
    "create": lambda m: write(m.p("d", "new"), "n"),
    "mkdir": lambda m: os.mkdir(m.p("d", "sub")),
    "symlink": lambda m: os.symlink("target", m.p("d", "ln")),
    "whiteout": lambda m: os.unlink(m.p("d", "f")),
    "rename": lambda m: os.rename(m.p("keep"), m.p("d", "kept")),
}


def _allocates(line):
    """Whether a traced call can take room on the rw branch: not the FUSE
    device, not an open without O_CREAT."""
    if "/dev/fuse" in line:
        return False
    return not line.split(None, 1)[1].startswith("openat(") or "O_CREAT" in line \
        or "O_TMPFILE" in line


@pytest.mark.parametrize("op", sorted(QUOTA_OPS))
def test_edquot_at_every_step(union, op):
    """The rw branch's quota used up at each allocating call of an operation
    in turn: the caller gets EDQUOT (or success, where the daemon has a way
    around the failed call), the merged view is the old state on EDQUOT and
    the new one on success, no debris, and the operation works afterwards."""
    low = union.branch("low", QUOTA_LOWER)

    def mount(tag):
        # one request thread (-s): strace counts calls per thread
        return union.mount([(union.branch("rw" + tag, {}), "rw"), (low, "ro+wh")],
                           mnt=union.mkdir("m" + tag), extra_args=["-s"])
    m = mount("probe")
    old_view = tree(m.mnt)
    calls = [c for c in traced_calls(m, lambda: QUOTA_OPS[op](m), ALLOCATING,
                                     os.path.join(union.root, "strace.log"))
             if _allocates(c[2])]
    new_view = tree(m.mnt)
    assert calls, "no allocating call seen"
    m.stop()
    outcomes = []
    for step, (name, nth, line) in enumerate(calls):
        mk = mount(str(step))
        tracer = inject(mk, name, nth, "error=EDQUOT")
        try:
            err = errno_of(QUOTA_OPS[op], mk)
        finally:
            tracer.terminate()
            tracer.wait()
        assert err in (0, errno.EDQUOT), (line, err)
        assert tree(mk.mnt) == (old_view if err else new_view), line
        clean(mk.rw)
        if err:
            QUOTA_OPS[op](mk)          # room again
            assert tree(mk.mnt) == new_view
        outcomes.append("EDQUOT" if err else "ok")
        mk.stop()
    print(op, [(c[0], o) for c, o in zip(calls, outcomes)])
    assert "EDQUOT" in outcomes, list(zip(calls, outcomes))
