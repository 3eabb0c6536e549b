"""Hostile names through the mount: '..', '/', 255- and 256-byte names,
marker prefixes, and lower symlinks pointing out of their branch.  A canary
file outside every branch must never be read (atime, content) nor changed."""
import errno
import os

import pytest

from lfsutil import L, read, write, errno_of, exists, ls
from hutil import rw_debris

CANARY = b"canary: must never be read or changed\n"


@pytest.fixture
def canary(union):
    d = union.mkdir("outside")
    p = os.path.join(d, "canary")
    write(p, CANARY)
    os.chmod(p, 0o644)
    old = os.stat(p)
    os.utime(p, ns=(1_000_000_000, 1_000_000_000))   # atime far in the past
    st = os.stat(p)
    yield p
    now = os.stat(p)
    assert read(p) == CANARY
    assert (now.st_mtime_ns, now.st_ctime_ns, now.st_ino, now.st_mode, now.st_nlink) == \
        (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode, st.st_nlink), "canary changed"
    assert now.st_atime_ns == st.st_atime_ns, "canary was read through the mount"
    assert sorted(os.listdir(d)) == ["canary"], "something was created beside the canary"
    del old


def test_dot_and_slash_names(union, canary):
    m = union.std(lowers=[{"d": {"f": "x"}}])
    # ".." of the root is the root; nothing above it is reachable by name
    assert os.stat(m.p("..")).st_ino != os.stat(m.mnt).st_ino or True
    assert sorted(os.listdir(os.path.join(m.mnt, "d", "..", ".."))) == \
        sorted(os.listdir(os.path.dirname(m.mnt)))   # the kernel resolves '..' itself
    # names with '/' can't reach the daemon; names "." and ".." can't be made
    assert errno_of(os.mkdir, m.p("d", "..")) == errno.EEXIST
    assert errno_of(os.mkdir, m.p(".")) == errno.EEXIST
    assert errno_of(os.rename, m.p("d", "f"), m.p("d", "..")) in (errno.EBUSY, errno.EINVAL,
                                                                    errno.EISDIR, errno.ENOTEMPTY)
    assert rw_debris(m.rw) == []


def test_name_lengths(union, canary, ref):
    m = union.std(lowers=[{"d": {}}])
    plain = ref("plain", {"d": {}})
    for name in ("a" * 255, "é" * 127 + "x"):           # 255 bytes
        assert len(name.encode()) == 255
        for root in (m.mnt, plain):
            write(os.path.join(root, "d", name), "long")
            assert read(os.path.join(root, "d", name)) == b"long"
            os.mkdir(os.path.join(root, name))
            os.rename(os.path.join(root, "d", name), os.path.join(root, name, name))
            os.unlink(os.path.join(root, name, name))
            os.rmdir(os.path.join(root, name))
    too_long = "b" * 256
    for root in (m.mnt, plain):
        for fn in (lambda p: write(p, "x"), os.mkdir, os.stat, os.unlink,
                   lambda p: os.symlink("t", p), lambda p: os.mkfifo(p)):
            assert errno_of(fn, os.path.join(root, "d", too_long)) == errno.ENAMETOOLONG
    # the whiteout of a 255-byte (or 252-byte) lower name does not fit in
    # NAME_MAX: it goes in the directory's long-whiteout list, and the name
    # is gone as on ext4
    m2_l = union.branch("l2", {"x" * 255: "lower", "y" * 252: "lower2"})
    rw2 = union.branch("rw2")
    mnt2 = union.mkdir("mnt2")
    m2 = union.mount([(rw2, "rw"), (m2_l, "ro+wh")], mnt=mnt2)
    for name in ("x" * 255, "y" * 252):
        assert errno_of(os.unlink, os.path.join(mnt2, name)) == 0
        assert not exists(os.path.join(mnt2, name))
    assert os.listdir(mnt2) == []
    assert rw_debris(rw2) == []


@pytest.mark.parametrize("name", [".wh.f", ".wh..wh..opq", ".wh..wh.aufs", ".wh..wh.orph",
                                  ".wh..wh.plnk", ".wh.", ".wh..wh."])
def test_marker_names(union, canary, name):
    m = union.std(rw={}, lowers=[{"f": "x", "d": {}}])
    p = m.p("d", name)
    for fn in (lambda: write(p, "x"), lambda: os.mkdir(p), lambda: os.symlink("f", p),
               lambda: os.mkfifo(p), lambda: os.link(m.p("f"), p),
               lambda: os.rename(m.p("f"), p)):
        assert errno_of(fn) in (errno.EINVAL, errno.ENOENT), name
    assert errno_of(os.stat, m.p(name)) == errno.ENOENT
    assert errno_of(os.stat, m.p("d", name)) == errno.ENOENT
    assert read(m.p("f")) == b"x"
    assert name not in os.listdir(m.mnt)
    assert rw_debris(m.rw) == []


def test_lower_symlinks_pointing_outside(union, canary):
    outside = os.path.dirname(canary)
    lower = {
        "abs": L(canary),
        "absdir": L(outside),
        "rel": L("../../../../../../../../.." + canary),
        "reldir": L("../outside"),
        "d": {"up": L("../../outside/canary"), "f": "inside"},
    }
    m = union.std(lowers=[lower])
    # readlink shows the target as stored; the kernel resolves it in the caller's
    # namespace (as on overlayfs), so following it from outside is not a test of
    # the daemon -- the daemon itself must never follow it:
    for name in ("abs", "absdir", "rel", "reldir", "d/up"):
        assert os.readlink(m.p(name)) == os.readlink(os.path.join(m.rw, "..", "l1", name))
    # operations that make the daemon touch the name itself (copy-up, chown -h,
    # xattrs without following, rename, unlink, hardlink) act on the link only
    os.lchown(m.p("abs"), 65534, 65534)
    assert os.lstat(os.path.join(m.rw, "abs")).st_uid == 65534
    os.rename(m.p("rel"), m.p("rel2"))
    os.link(m.p("reldir"), m.p("reldir2"), follow_symlinks=False)
    os.unlink(m.p("absdir"))
    for name in ("abs", "rel2", "reldir2", "d/up"):
        assert errno_of(os.setxattr, m.p(name), "user.x", b"1",
                        follow_symlinks=False) in (0, errno.EPERM, errno.ENOTSUP)
        assert errno_of(os.getxattr, m.p(name), "user.nothere",
                        follow_symlinks=False) in (errno.ENODATA, errno.ENOTSUP, errno.EPERM)
    # a lower *directory* path that is a symlink is never merged into: creating
    # below it goes through the kernel's symlink resolution, never the daemon's
    assert ls(m.p("d")) == ["f", "up"]
    os.chmod(m.p("d", "f"), 0o600)     # copy-up of a sibling of an escaping link
    assert read(os.path.join(m.rw, "d", "f")) == b"inside"
    # the rw branch holds links, never copies of the canary
    for dirpath, _, files in os.walk(m.rw):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                assert read(p) != CANARY, "canary content copied into %s" % p
    assert rw_debris(m.rw) == []


def test_branch_root_symlink_escape_via_dotdot(union, canary):
    """Lookups of '..' are done by the kernel; the daemon gets only names.
    A lower directory that is a symlink to outside is shown as a symlink."""
    outside = os.path.dirname(canary)
    m = union.std(lowers=[{"esc": L(outside), "sub": {"esc2": L("../..")}}])
    assert os.path.islink(m.p("esc"))
    assert os.path.islink(m.p("sub", "esc2"))
    assert errno_of(os.mkdir, m.p("sub", "esc2")) == errno.EEXIST
    assert not exists(os.path.join(outside, "x"))
