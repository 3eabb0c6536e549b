"""Paths of any length, as on ext4: a tree deeper than PATH_MAX (counted
from the union root) is created, listed, looked up, copied up, renamed and
removed through directory fds, in the rw branch and in a lower one; the
branches hold what they should."""
import errno
import os

import pytest

from lfsutil import errno_of

COMP = "a" * 200           # 24 levels of these: ~4,800 bytes; 30: ~6,000
DEPTH = 30


def walk_down(root_fd, names, create=False):
    """Opens root/names[0]/names[1]/... one level at a time (making each
    with create); returns the fds, outermost first."""
    fds = []
    cur = root_fd
    for n in names:
        if create:
            os.mkdir(n, dir_fd=cur)
        cur = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
        fds.append(cur)
    return fds


def close_all(fds):
    for fd in fds:
        os.close(fd)


def make_deep(root, depth=DEPTH, leaf="leaf", content=b"deep\n"):
    rfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fds = walk_down(rfd, [COMP] * depth, create=True)
        fd = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1])
        os.write(fd, content)
        os.close(fd)
        close_all(fds)
    finally:
        os.close(rfd)


def read_at(dfd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_deep_tree_made_listed_renamed_removed_through_the_mount(union):
    m = union.std(lowers=[{"sub": {}}])
    top = os.open(m.p("sub"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fds = walk_down(top, [COMP] * DEPTH, create=True)
        assert len(os.path.join(m.p("sub"), *([COMP] * DEPTH))) > 6000
        deepest = fds[-1]
        fd = os.open("f", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=deepest)
        os.write(fd, b"hello\n")
        os.close(fd)
        os.mkdir("d", dir_fd=deepest)
        os.symlink("f", "s", dir_fd=deepest)
        assert sorted(os.listdir(deepest)) == ["d", "f", "s"]
        assert read_at(deepest, "f") == b"hello\n"
        assert os.stat("f", dir_fd=deepest).st_mode & 0o777 == 0o640
        os.rename("f", "g", src_dir_fd=deepest, dst_dir_fd=deepest)
        os.rename("d", "e", src_dir_fd=deepest, dst_dir_fd=fds[-2])
        assert sorted(os.listdir(deepest)) == ["g", "s"]
        assert "e" in os.listdir(fds[-2])
        # what landed in the rw branch, reached the same way
        rfd = os.open(os.path.join(m.rw, "sub"), os.O_RDONLY | os.O_DIRECTORY)
        rws = walk_down(rfd, [COMP] * DEPTH)
        assert sorted(os.listdir(rws[-1])) == ["g", "s"]
        assert read_at(rws[-1], "g") == b"hello\n"
        close_all(rws)
        os.close(rfd)
        # and away again, from the bottom up
        os.unlink("g", dir_fd=deepest)
        os.unlink("s", dir_fd=deepest)
        os.rmdir("e", dir_fd=fds[-2])
        for i in range(DEPTH - 1, -1, -1):
            parent = fds[i - 1] if i else top
            assert os.listdir(fds[i]) == []
            os.rmdir(COMP, dir_fd=parent)
        close_all(fds)
        assert os.listdir(top) == []
    finally:
        os.close(top)
    assert os.listdir(os.path.join(m.rw, "sub")) == []


def test_deep_lower_tree(union):
    """A lower branch with a tree deeper than PATH_MAX: looked up, read,
    copied up (its parents too, each level) and whited out."""
    low = union.branch("l1", {})
    make_deep(low)
    m = union.mount([(union.branch("rw", {}), "rw"), (low, "ro+wh")])
    rfd = os.open(m.mnt, os.O_RDONLY | os.O_DIRECTORY)
    fds = walk_down(rfd, [COMP] * DEPTH)
    try:
        deepest = fds[-1]
        assert os.listdir(deepest) == ["leaf"]
        assert read_at(deepest, "leaf") == b"deep\n"
        fd = os.open("leaf", os.O_WRONLY | os.O_APPEND, dir_fd=deepest)   # copy-up
        os.write(fd, b"more\n")
        os.close(fd)
        assert read_at(deepest, "leaf") == b"deep\nmore\n"
        os.mkdir("new", dir_fd=deepest)
        os.unlink("leaf", dir_fd=deepest)
        assert os.listdir(deepest) == ["new"]
        assert errno_of(os.stat, "leaf", dir_fd=deepest) == errno.ENOENT
    finally:
        close_all(fds)
        os.close(rfd)
    # the rw branch: the whole chain copied up, a whiteout at the bottom
    wfd = os.open(m.rw, os.O_RDONLY | os.O_DIRECTORY)
    rws = walk_down(wfd, [COMP] * DEPTH)
    try:
        assert sorted(os.listdir(rws[-1])) == [".wh.leaf", "new"]
    finally:
        close_all(rws)
        os.close(wfd)
    m.remount()
    rfd = os.open(m.mnt, os.O_RDONLY | os.O_DIRECTORY)
    fds = walk_down(rfd, [COMP] * DEPTH)
    try:
        assert os.listdir(fds[-1]) == ["new"]
    finally:
        close_all(fds)
        os.close(rfd)


@pytest.mark.parametrize("depth", [15, 16])
def test_the_issue_s_makedirs(union, depth):
    """`cd MNT/sub; makedirs('a'*255 x 16); rmdir` (the user's paths fit
    PATH_MAX, the union's do not)."""
    m = union.std(lowers=[{"sub": {}}])
    here = os.getcwd()
    os.chdir(m.p("sub"))
    try:
        p = "/".join(["a" * 255] * depth)
        os.makedirs(p)
        assert os.listdir(p) == []
        open(os.path.join(p, "x"), "w").close() if len(p) + 2 < 4096 else None
        for i in range(depth, 0, -1):
            q = "/".join(["a" * 255] * i)
            for n in os.listdir(q):
                os.unlink(os.path.join(q, n))
            os.rmdir(q)
        assert os.listdir(".") == []
    finally:
        os.chdir(here)
