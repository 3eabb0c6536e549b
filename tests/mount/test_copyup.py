"""Item 4: copy-up before any change of a lower object; parents first with
their own metadata; data with holes, mode, owner, times (ns), xattrs;
atomic (kill -9 mid copy-up leaves nothing partial)."""
import errno
import hashlib
import os
import signal
import stat
import time

import pytest

from conftest import BIG_SIZE
from lfsutil import (CHR, D, F, FIFO, L, WH_BASE, WH_ORPH, data_ls, errno_of, exists, ls, read,
                     tree, write)

T_A = 1_500_000_001_111_111_111
T_B = 1_500_000_002_222_222_222
T_F = 1_500_000_003_333_333_333
T_FA = 1_400_000_004_444_444_444
CONTENT = bytes((i * 7 + i // 251) & 0xFF for i in range(200_000))
XATTRS = {"user.a": b"1", "user.bin": b"\x00\xff\x10\x00", "trusted.t": b"tv"}


def lower_spec():
    return {"a": D({"b": D({"f": F(CONTENT, mode=0o640, uid=1234, gid=2345, mtime_ns=T_F,
                                   atime_ns=T_FA, xattrs=XATTRS),
                            "other": F("o", uid=7)},
                           mode=0o710, uid=1301, gid=1302, mtime_ns=T_B,
                           xattrs={"user.dir": b"B"})},
                   mode=0o751, uid=1201, gid=1202, mtime_ns=T_A, xattrs={"user.dir": b"A"}),
            "top": "t"}


INTERNAL = ("trusted.layerfs.", "user.layerfs.")


def xattrs_of(p):
    """The user-visible xattrs of a branch object: layerfs's own (the inode
    number a copy shows, see ino.h) are checked apart."""
    return {n: os.getxattr(p, n, follow_symlinks=False)
            for n in os.listxattr(p, follow_symlinks=False) if not n.startswith(INTERNAL)}


def recorded_ino(p):
    """The inode number a copy-up recorded on the rw copy p."""
    return int(os.getxattr(p, "trusted.layerfs.ino", follow_symlinks=False), 16)


def meta(p):
    st = os.lstat(p)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


NEW_T = (1_234_567_890_123_456_789, 1_300_000_000_987_654_321)

# name -> (action(mnt path of f, mnt), expectations)
TRIGGERS = {
    "write_open": lambda p, m: os.close(os.open(p, os.O_WRONLY)),
    "rdwr_open": lambda p, m: os.close(os.open(p, os.O_RDWR)),
    "append_write": lambda p, m: write(p, b"+tail", "ab"),
    "otrunc": lambda p, m: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)),
    "truncate": lambda p, m: os.truncate(p, 10),
    "chmod": lambda p, m: os.chmod(p, 0o604),
    "chown": lambda p, m: os.chown(p, 4321, 5432),
    "utime_ns": lambda p, m: os.utime(p, ns=NEW_T),
    "setxattr": lambda p, m: os.setxattr(p, "user.new", b"v"),
    "removexattr": lambda p, m: os.removexattr(p, "user.a"),
    "link": lambda p, m: os.link(p, m.p("a", "b", "g")),
    "rename": lambda p, m: os.rename(p, m.p("a", "b", "h")),
}
NAMESPACE = {"link", "rename"}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_copyup_trigger(union, trigger):
    m = union.std(lowers=[lower_spec()])
    low = os.path.join(union.root, "l1")
    TRIGGERS[trigger](m.p("a", "b", "f"), m)

    # what the file should look like now
    content = {"otrunc": b"", "truncate": CONTENT[:10],
               "append_write": CONTENT + b"+tail"}.get(trigger, CONTENT)
    mode = 0o604 if trigger == "chmod" else 0o640
    owner = (4321, 5432) if trigger == "chown" else (1234, 2345)
    xa = dict(XATTRS)
    if trigger == "setxattr":
        xa["user.new"] = b"v"
    if trigger == "removexattr":
        del xa["user.a"]
    name = {"rename": "h", "link": "g"}.get(trigger, "f")

    rwf = os.path.join(m.rw, "a", "b", name)
    st = os.lstat(rwf)          # before anything reads it (reading updates atime)
    for p in (m.p("a", "b", name), rwf):
        assert read(p) == content, p
        assert meta(p) == (stat.S_IFREG, mode) + owner, p
        assert xattrs_of(p) == xa, p
    # the copy keeps the number the merged view shows, for later mounts
    assert recorded_ino(rwf) == os.lstat(m.p("a", "b", name)).st_ino
    if trigger == "utime_ns":
        assert (st.st_atime_ns, st.st_mtime_ns) == NEW_T
    elif trigger not in ("otrunc", "truncate", "append_write"):
        assert st.st_mtime_ns == T_F, "mtime not kept by copy-up"
        assert st.st_atime_ns == T_FA, "atime not kept by copy-up"
    assert os.lstat(m.p("a", "b", name)).st_mtime_ns == st.st_mtime_ns

    # parents copied with their own metadata (times checked last)
    mtime_problems = []
    for rel, mo, own, t, x in [("a", 0o751, (1201, 1202), T_A, b"A"),
                               ("a/b", 0o710, (1301, 1302), T_B, b"B")]:
        rp = os.path.join(m.rw, rel)
        assert meta(rp) == (stat.S_IFDIR, mo) + own, rel
        assert xattrs_of(rp) == {"user.dir": x}, rel
        if rel == "a" or trigger not in NAMESPACE:
            if os.lstat(rp).st_mtime_ns != t:
                mtime_problems.append("rw %s: mtime changed by copy-up" % rel)
            if os.lstat(m.p(rel)).st_mtime_ns != t:
                mtime_problems.append("merged %s: mtime changed by copy-up" % rel)

    # only what was needed landed in rw
    expect_b = {"link": ["f", "g"], "rename": [".wh.f", "h"]}.get(trigger, ["f"])
    assert ls(os.path.join(m.rw, "a", "b")) == expect_b
    assert set(ls(m.rw)) - {WH_BASE, WH_ORPH, ".wh..wh.plnk"} == {"a"}
    if exists(os.path.join(m.rw, WH_ORPH)):
        assert ls(os.path.join(m.rw, WH_ORPH)) == []
    assert ls(os.path.join(m.rw, "a")) == ["b"]

    merged = {"link": ["f", "g", "other"], "rename": ["h", "other"]}.get(trigger, ["f", "other"])
    assert ls(m.p("a", "b")) == merged
    if trigger == "link":
        assert read(m.p("a", "b", "f")) == CONTENT
        assert os.lstat(rwf).st_ino == os.lstat(os.path.join(m.rw, "a", "b", "f")).st_ino
    m.remount()
    assert read(m.p("a", "b", name)) == content
    assert ls(m.p("a", "b")) == merged
    for rel, t in [("a", T_A), ("a/b", T_B)]:
        if (rel == "a" or trigger not in NAMESPACE) and os.lstat(m.p(rel)).st_mtime_ns != t:
            mtime_problems.append("merged %s: mtime changed after remount" % rel)
    assert not mtime_problems, mtime_problems


def test_read_only_access_does_not_copy_up(union):
    m = union.std(lowers=[lower_spec()])
    p = m.p("a", "b", "f")
    assert read(p) == CONTENT
    fd = os.open(p, os.O_RDONLY)
    os.fstat(fd)
    os.close(fd)
    os.stat(p)
    os.listxattr(p)
    os.getxattr(p, "user.a")
    os.access(p, os.W_OK)
    assert ls(m.rw) == []


def test_sparse_file_keeps_holes(union):
    size = 64 << 20
    m = union.std(lowers=[{"s": F(b"head", size=size, data_at={60 << 20: b"tail" * 1024},
                                  mode=0o644)}])
    low = os.path.join(union.root, "l1", "s")
    assert os.stat(low).st_blocks * 512 < (1 << 20), "test setup: lower file not sparse"
    os.chmod(m.p("s"), 0o600)
    rwf = os.path.join(m.rw, "s")
    st = os.stat(rwf)
    assert st.st_size == size
    assert st.st_blocks * 512 < (1 << 20), "holes were filled: %d blocks" % st.st_blocks
    assert _sha(rwf) == _sha(low)
    fd = os.open(rwf, os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_HOLE) < (1 << 20)
        assert os.lseek(fd, 1 << 20, os.SEEK_DATA) >= (59 << 20)
    finally:
        os.close(fd)


def _sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_copyup_symlink(union):
    m = union.std(lowers=[{"d": D({"s": L("../target/x", uid=1500, gid=1501, mtime_ns=T_F)},
                                  mode=0o700, uid=9, mtime_ns=T_B)}])
    os.chown(m.p("d", "s"), 2000, 2001, follow_symlinks=False)
    rws = os.path.join(m.rw, "d", "s")
    assert os.readlink(rws) == "../target/x"
    st = os.lstat(rws)
    assert (st.st_uid, st.st_gid) == (2000, 2001)
    assert st.st_mtime_ns == T_F
    assert meta(os.path.join(m.rw, "d")) == (stat.S_IFDIR, 0o700, 9, 0)
    os.utime(m.p("d", "s"), ns=NEW_T, follow_symlinks=False)
    assert os.lstat(rws).st_mtime_ns == NEW_T[1]
    assert os.readlink(m.p("d", "s")) == "../target/x"


def test_copyup_fifo_and_device(union):
    m = union.std(lowers=[{"p": FIFO(mode=0o640, uid=5, gid=6), "c": CHR(1, 3, mode=0o600)}])
    os.chmod(m.p("p"), 0o666)
    os.chown(m.p("c"), 77, 78)
    st = os.lstat(os.path.join(m.rw, "p"))
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert (st.st_uid, st.st_gid) == (5, 6)
    st = os.lstat(os.path.join(m.rw, "c"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert (st.st_uid, st.st_gid) == (77, 78)
    assert os.lstat(m.p("c")).st_rdev == os.makedev(1, 3)


def test_copyup_directory_metadata_only(union):
    m = union.std(lowers=[{"d": D({"x": "1", "sub": {"y": "2"}}, mode=0o755, uid=3,
                                  mtime_ns=T_A, xattrs={"user.q": b"q"})}])
    os.chmod(m.p("d"), 0o711)
    rwd = os.path.join(m.rw, "d")
    assert meta(rwd) == (stat.S_IFDIR, 0o711, 3, 0)
    assert xattrs_of(rwd) == {"user.q": b"q"}
    assert os.lstat(rwd).st_mtime_ns == T_A
    assert ls(rwd) == []
    assert ls(m.p("d")) == ["sub", "x"]
    assert read(m.p("d", "sub", "y")) == b"2"


def test_copyup_keeps_setuid_and_setgid(union):
    m = union.std(lowers=[{"x": F(b"#!/bin/true\n", mode=0o6755, uid=1234, gid=1234)}])
    os.close(os.open(m.p("x"), os.O_WRONLY))
    assert meta(os.path.join(m.rw, "x")) == (stat.S_IFREG, 0o6755, 1234, 1234)


def test_copyup_from_second_lower_branch(union):
    m = union.std(lowers=[{"d": D({"one": "1"}, mode=0o700, uid=11)},
                          {"d": D({"two": "2"}, mode=0o777, uid=22)}])
    write(m.p("d", "two"), "changed")
    # the parent is copied from the topmost branch that has it
    assert meta(os.path.join(m.rw, "d")) == (stat.S_IFDIR, 0o700, 11, 0)
    assert read(os.path.join(m.rw, "d", "two")) == b"changed"
    assert ls(m.p("d")) == ["one", "two"]


def test_copyup_to_other_filesystem(union):
    """rw branch on tmpfs, lower on ext4: copy_file_range/reflink cannot work
    across filesystems, the copy must still be complete."""
    rw = union.tmpfs("rwfs")
    low = union.branch("low", {"d": D({"f": F(CONTENT, mode=0o640, uid=1234, gid=2345,
                                                mtime_ns=T_F, xattrs={"user.a": b"1"}),
                                       "s": F(b"x", size=8 << 20)}, mode=0o750, uid=5,
                                      mtime_ns=T_A)})
    m = union.mount([(rw, "rw"), (low, "ro+wh")])
    write(m.p("d", "f"), b"+", "ab")
    os.chmod(m.p("d", "s"), 0o600)
    rwf = os.path.join(rw, "d", "f")
    assert read(rwf) == CONTENT + b"+"
    assert meta(rwf) == (stat.S_IFREG, 0o640, 1234, 2345)
    assert xattrs_of(rwf) == {"user.a": b"1"}
    assert meta(os.path.join(rw, "d")) == (stat.S_IFDIR, 0o750, 5, 0)
    s = os.path.join(rw, "d", "s")
    assert os.stat(s).st_blocks * 512 < (1 << 20)
    assert read(s) == b"x" + bytes((8 << 20) - 1)
    assert os.statvfs(m.mnt).f_blocks * os.statvfs(m.mnt).f_frsize == \
        os.statvfs(rw).f_blocks * os.statvfs(rw).f_frsize
    assert os.lstat(os.path.join(rw, "d")).st_mtime_ns == T_A, "parent mtime changed by copy-up"


def _fds_into(pid, prefix):
    """(size, target) of regular files the process has open under PREFIX,
    including O_TMPFILE/deleted files there."""
    out = []
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            t = os.readlink(os.path.join(d, n))
            if not t.startswith(prefix):
                continue
            st = os.stat(os.path.join(d, n))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((st.st_size, t))
    return out


def test_kill9_during_copyup(union, big_lower):
    bigdir, name, digest = big_lower
    rw = union.branch("rw")
    m = union.mount([(rw, "rw"), (bigdir, "ro")])
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(m.p(name), os.O_WRONLY)
            os.write(fd, b"X")
            os._exit(0)
        except OSError:
            os._exit(1)
    caught = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for size, target in _fds_into(m.proc.pid, os.path.realpath(rw) + "/"):
                if 0 < size < BIG_SIZE:
                    caught = (size, target)
                    break
            if caught:
                break
            if os.waitpid(pid, os.WNOHANG)[0] != 0:
                pid = None
                break
        m.kill9()
    finally:
        if pid:
            os.waitpid(pid, 0)
    assert caught, "could not observe the copy-up of a 1 GiB file in progress"
    partial_before = ls(rw)
    m.remount()
    # nothing partial is visible: the rw branch has no copy, the work dir is empty
    assert not exists(os.path.join(rw, name)), \
        "partial copy-up visible in rw after kill -9 (caught %r; rw had %r)" % (caught, partial_before)
    assert data_ls(rw) == []
    if exists(os.path.join(rw, WH_ORPH)):
        assert ls(os.path.join(rw, WH_ORPH)) == [], "work dir not emptied at mount"
    st = os.stat(m.p(name))
    assert st.st_size == BIG_SIZE
    assert _sha(m.p(name)) == digest
    # a complete copy-up of the big file now works and is exact
    os.chmod(m.p(name), 0o600)
    assert os.stat(os.path.join(rw, name)).st_size == BIG_SIZE
    assert _sha(os.path.join(rw, name)) == digest

