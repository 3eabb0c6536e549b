"""Item 8: every operation a program expects, on new files and on lower
files (copy-up), checked through the mount and in the rw branch."""
import errno
import fcntl
import mmap
import os
import stat
import time

import pytest

from lfsutil import (D, F, FIFO, L, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, UTIME_OMIT, DirStream,
                     errno_of, exists, fallocate, ls, read, tree, utimensat, write)


@pytest.fixture
def m(union):
    return union.std(rw={"rwf": "rw-data"},
                     lowers=[{"lowf": "lower-data-0123456789", "dir": {"x": "1"},
                              "sparse": F(b"A" * 4096, size=4 << 20,
                                          data_at={2 << 20: b"B" * 4096}),
                              "link": L("lowf"), "xf": F("x", xattrs={"user.one": b"1"})}])


def rwp(m, *p):
    return os.path.join(m.rw, *p)


def test_create_write_read_fsync(m):
    fd = os.open(m.p("new"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o640)
    try:
        assert os.write(fd, b"hello ") == 6
        assert os.pwrite(fd, b"world", 6) == 5
        os.fsync(fd)
        os.fdatasync(fd)
        assert os.pread(fd, 100, 0) == b"hello world"
        assert os.fstat(fd).st_size == 11
    finally:
        os.close(fd)
    assert errno_of(os.open, m.p("new"), os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    assert errno_of(os.open, m.p("lowf"), os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    assert read(rwp(m, "new")) == b"hello world"
    assert stat.S_IMODE(os.stat(rwp(m, "new")).st_mode) == 0o640 & ~_umask()


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_partial_overwrite_of_lower_file(m):
    fd = os.open(m.p("lowf"), os.O_RDWR)
    try:
        os.pwrite(fd, b"XY", 2)
        assert os.pread(fd, 100, 0) == b"loXYr-data-0123456789"
    finally:
        os.close(fd)
    assert read(rwp(m, "lowf")) == b"loXYr-data-0123456789"


def test_truncate_extend_and_shrink(m):
    os.truncate(m.p("lowf"), 5)
    assert read(m.p("lowf")) == b"lower"
    os.truncate(m.p("lowf"), 8)
    assert read(m.p("lowf")) == b"lower\0\0\0"
    fd = os.open(m.p("rwf"), os.O_RDWR)
    os.ftruncate(fd, 2)
    os.close(fd)
    assert read(rwp(m, "rwf")) == b"rw"


def test_unlinked_open_file_still_usable(m):
    fd = os.open(m.p("lowf"), os.O_RDWR)
    try:
        os.unlink(m.p("lowf"))
        assert not exists(m.p("lowf"))
        os.pwrite(fd, b"ZZ", 0)
        assert os.pread(fd, 5, 0) == b"ZZwer"
        assert os.fstat(fd).st_size == 21
    finally:
        os.close(fd)
    assert not exists(rwp(m, "lowf"))


@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_open_lower_object_without_name_takes_attributes(union, kind):
    """A lower fifo or directory the kernel holds open after its name went
    (no handle of layerfs's own reaches it): fchmod, fchown and futimens
    change a copy of it in the rw branch's work area, never the lower one
    (the mount checks the lower branch is unchanged), and fstat shows them."""
    obj = FIFO() if kind == "fifo" else D({})
    m = union.std(rw={}, lowers=[{"obj": obj, "keep": "1"}])
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_DIRECTORY if kind == "dir" else 0)
    fd = os.open(m.p("obj"), flags)
    try:
        (os.rmdir if kind == "dir" else os.unlink)(m.p("obj"))
        os.fchmod(fd, 0o710)
        os.fchown(fd, 1000, 1001)
        os.utime(fd, ns=(10**18, 10**18 + 7000))
        st = os.fstat(fd)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == \
            (0o710, 1000, 1001, 10**18 + 7000)
        assert stat.S_ISFIFO(st.st_mode) if kind == "fifo" else stat.S_ISDIR(st.st_mode)
    finally:
        os.close(fd)
    assert [n for n in os.listdir(m.rw) if not n.startswith(".wh..wh.")] == [".wh.obj"]
    assert os.listdir(rwp(m, ".wh..wh.orph")) == []     # the copy went with the fd
    assert not exists(m.p("obj"))


def test_mkfifo(m):
    os.mkfifo(m.p("dir", "fifo"), 0o640)
    st = os.lstat(m.p("dir", "fifo"))
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_ISFIFO(os.lstat(rwp(m, "dir", "fifo")).st_mode)
    r = os.open(m.p("dir", "fifo"), os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(m.p("dir", "fifo"), os.O_WRONLY)
    try:
        os.write(w, b"through the pipe")
        assert os.read(r, 100) == b"through the pipe"
    finally:
        os.close(r)
        os.close(w)


def test_mknod_char_and_block_device(m):
    os.mknod(m.p("null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(m.p("dir", "blk"), stat.S_IFBLK | 0o600, os.makedev(7, 200))
    for base in (m.mnt, m.rw):
        st = os.lstat(os.path.join(base, "null"))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
        st = os.lstat(os.path.join(base, "dir", "blk"))
        assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 200)
    os.mknod(m.p("regnod"), stat.S_IFREG | 0o600)
    assert stat.S_ISREG(os.lstat(rwp(m, "regnod")).st_mode)


def test_symlink_readlink(m):
    os.symlink("../some/where", m.p("dir", "sl"))
    assert os.readlink(m.p("dir", "sl")) == "../some/where"
    assert os.readlink(rwp(m, "dir", "sl")) == "../some/where"
    assert os.readlink(m.p("link")) == "lowf"
    assert read(m.p("link")) == b"lower-data-0123456789"
    long_target = "t" * 4000
    os.symlink(long_target, m.p("longlink"))
    assert os.readlink(m.p("longlink")) == long_target
    assert os.lstat(m.p("longlink")).st_size == 4000


def test_statfs_reports_rw_branch(union):
    rw = union.tmpfs("rwfs", size="37m")
    low = union.branch("low", {"a": "1"})
    m = union.mount([(rw, "rw"), (low, "ro")])
    s_m, s_rw, s_low = os.statvfs(m.mnt), os.statvfs(rw), os.statvfs(low)
    assert s_m.f_blocks * s_m.f_frsize == s_rw.f_blocks * s_rw.f_frsize
    assert s_m.f_blocks * s_m.f_frsize != s_low.f_blocks * s_low.f_frsize
    assert s_m.f_files == s_rw.f_files
    write(m.p("big"), b"x" * (4 << 20))
    s_m2 = os.statvfs(m.mnt)
    assert s_m2.f_bfree * s_m2.f_frsize <= s_m.f_bfree * s_m.f_frsize - (3 << 20)


def test_statfs_readonly_union_reports_branch0(union):
    top = union.tmpfs("topfs", size="41m")
    low = union.branch("low", {"a": "1"})
    m = union.mount([(top, "ro"), (low, "ro")])
    s_m, s_top = os.statvfs(m.mnt), os.statvfs(top)
    assert s_m.f_blocks * s_m.f_frsize == s_top.f_blocks * s_top.f_frsize


def test_xattrs(m):
    # lower xattrs are visible; internal ones never
    assert os.listxattr(m.p("xf")) == ["user.one"]
    assert os.getxattr(m.p("xf"), "user.one") == b"1"
    assert errno_of(os.getxattr, m.p("xf"), "user.none") == errno.ENODATA
    os.setxattr(m.p("xf"), "user.two", b"\x00two")
    assert sorted(os.listxattr(m.p("xf"))) == ["user.one", "user.two"]
    assert os.getxattr(rwp(m, "xf"), "user.two") == b"\x00two"
    assert errno_of(os.setxattr, m.p("xf"), "user.two", b"x", os.XATTR_CREATE) == errno.EEXIST
    assert errno_of(os.setxattr, m.p("xf"), "user.three", b"x", os.XATTR_REPLACE) == errno.ENODATA
    os.removexattr(m.p("xf"), "user.one")
    assert os.listxattr(m.p("xf")) == ["user.two"]
    assert errno_of(os.removexattr, m.p("xf"), "user.one") == errno.ENODATA
    # large value
    big = bytes(range(256)) * 7   # ext4 keeps up to ~4000 bytes per block
    os.setxattr(m.p("rwf"), "user.big", big)
    assert os.getxattr(m.p("rwf"), "user.big") == big
    # nothing internal on directories that got whiteouts / opaque markers
    os.unlink(m.p("dir", "x"))
    os.rmdir(m.p("dir"))
    os.mkdir(m.p("dir"))
    for p in (m.mnt, m.p("dir"), m.p("lowf"), m.p("link")):
        names = os.listxattr(p, follow_symlinks=False)
        assert names == [], (p, names)
    # xattr on a symlink itself (user.* not allowed on symlinks: same as ext4)
    assert errno_of(os.setxattr, m.p("link"), "user.x", b"1", follow_symlinks=False) == errno.EPERM


def test_fallocate(m):
    fd = os.open(m.p("fa"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.posix_fallocate(fd, 0, 1 << 20)
        assert os.fstat(fd).st_size == 1 << 20
        assert os.stat(rwp(m, "fa")).st_blocks * 512 >= 1 << 20
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20)
        assert os.fstat(fd).st_size == 1 << 20
    finally:
        os.close(fd)
    fd = os.open(m.p("sparse"), os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096)
        assert os.pread(fd, 4096, 0) == bytes(4096)
        assert os.fstat(fd).st_size == 4 << 20
    finally:
        os.close(fd)
    assert read(rwp(m, "sparse"))[:8192] == bytes(8192)


def test_copy_file_range(m):
    src = os.open(m.p("lowf"), os.O_RDONLY)
    dst = os.open(m.p("copy"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        n = os.copy_file_range(src, dst, 100)
        assert n == 21
        n = os.copy_file_range(src, dst, 5, 0, 100)
        assert n == 5
    finally:
        os.close(src)
        os.close(dst)
    assert read(m.p("copy")) == b"lower-data-0123456789" + bytes(100 - 21) + b"lower"
    assert read(rwp(m, "copy")) == read(m.p("copy"))
    # into a lower file (copy-up first)
    src = os.open(m.p("rwf"), os.O_RDONLY)
    dst = os.open(m.p("lowf"), os.O_WRONLY)
    try:
        assert os.copy_file_range(src, dst, 2, 0, 0) == 2
    finally:
        os.close(src)
        os.close(dst)
    assert read(m.p("lowf")) == b"rwwer-data-0123456789"


def test_seek_data_hole(m):
    for p in (m.p("sparse"),):
        fd = os.open(p, os.O_RDONLY)
        try:
            assert os.lseek(fd, 0, os.SEEK_DATA) == 0
            assert os.lseek(fd, 0, os.SEEK_HOLE) == 4096
            assert os.lseek(fd, 4096, os.SEEK_DATA) == 2 << 20
            assert os.lseek(fd, 2 << 20, os.SEEK_HOLE) == (2 << 20) + 4096
            assert errno_of(os.lseek, fd, (2 << 20) + 4096, os.SEEK_DATA) == errno.ENXIO
        finally:
            os.close(fd)
    # and on a file created through the mount
    fd = os.open(m.p("sp2"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.pwrite(fd, b"D" * 4096, 1 << 20)
        os.fsync(fd)
        assert os.lseek(fd, 0, os.SEEK_DATA) == 1 << 20
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 0
    finally:
        os.close(fd)


def _in_child(fn):
    """Runs fn() in a forked child; returns its exit code (fn's int)."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = fn()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_flock(m):
    for name in ("lowf", "rwf"):
        p = m.p(name)
        fd = os.open(p, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)

            def other():
                fd2 = os.open(p, os.O_RDONLY)
                try:
                    fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return 0
                except OSError as e:
                    return 1 if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else 2
            assert _in_child(other) == 1, name
            fcntl.flock(fd, fcntl.LOCK_UN)
            assert _in_child(other) == 0, name
        finally:
            os.close(fd)


def test_posix_locks(m):
    for name in ("lowf", "rwf"):
        p = m.p(name)
        fd = os.open(p, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 4, 0)

            def other(start):
                def run():
                    fd2 = os.open(p, os.O_RDWR)
                    try:
                        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, start)
                        return 0
                    except OSError as e:
                        return 1 if e.errno in (errno.EAGAIN, errno.EACCES) else 2
                return run
            assert _in_child(other(0)) == 1, name    # overlapping range held
            assert _in_child(other(10)) == 0, name   # disjoint range free
            fcntl.lockf(fd, fcntl.LOCK_UN, 4, 0)
            assert _in_child(other(0)) == 0, name
        finally:
            os.close(fd)


def test_utimensat_nanoseconds(m):
    t = (1_111_111_111_123_456_789, 1_222_222_222_987_654_321)
    for name in ("lowf", "rwf", "dir"):
        os.utime(m.p(name), ns=t)
        for base in (m.mnt, m.rw):
            st = os.stat(os.path.join(base, name))
            assert (st.st_atime_ns, st.st_mtime_ns) == t, (base, name)
    utimensat(m.p("lowf"), UTIME_OMIT, (1_300_000_000, 5))
    st = os.stat(m.p("lowf"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (t[0], 1_300_000_000_000_000_005)
    before = time.time_ns()
    os.utime(m.p("rwf"))
    st = os.stat(m.p("rwf"))
    assert st.st_mtime_ns >= before - 10_000_000
    os.utime(m.p("link"), ns=t, follow_symlinks=False)
    assert os.lstat(m.p("link")).st_mtime_ns == t[1]
    assert os.lstat(rwp(m, "link")).st_mtime_ns == t[1]


def test_o_append(m):
    a = os.open(m.p("lowf"), os.O_WRONLY | os.O_APPEND)
    b = os.open(m.p("lowf"), os.O_WRONLY | os.O_APPEND)
    try:
        for i in range(5):
            os.write(a, b"a%d" % i)
            os.write(b, b"b%d" % i)
        os.lseek(a, 0, os.SEEK_SET)
        os.write(a, b"!")
    finally:
        os.close(a)
        os.close(b)
    expect = b"lower-data-0123456789a0b0a1b1a2b2a3b3a4b4!"
    assert read(m.p("lowf")) == expect
    assert read(rwp(m, "lowf")) == expect


def test_o_direct(m):
    buf = mmap.mmap(-1, 8192)
    buf.write(b"D" * 4096 + b"E" * 4096)
    fd = os.open(m.p("direct"), os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
    try:
        assert os.write(fd, buf) == 8192
        rb = mmap.mmap(-1, 8192)
        assert os.preadv(fd, [rb], 0) == 8192
        assert rb[:] == b"D" * 4096 + b"E" * 4096
    finally:
        os.close(fd)
    assert read(rwp(m, "direct")) == b"D" * 4096 + b"E" * 4096
    fd = os.open(m.p("sparse"), os.O_RDONLY | os.O_DIRECT)
    try:
        rb = mmap.mmap(-1, 4096)
        assert os.preadv(fd, [rb], 2 << 20) == 4096
        assert rb[:] == b"B" * 4096
    finally:
        os.close(fd)


def test_mmap_shared_write(m):
    for name in ("lowf", "new-mmap"):
        p = m.p(name)
        if name == "new-mmap":
            write(p, b"0" * 21)
        fd = os.open(p, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, 21, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            mm[0:5] = b"MMAP!"
            mm.flush()
            mm.close()
        finally:
            os.close(fd)
        got = read(p)
        assert got[:5] == b"MMAP!" and len(got) == 21, (name, got)
        assert read(rwp(m, name)) == got


def test_seekdir_telldir_while_changing(union):
    names = ["n%03d" % i for i in range(240)]
    rw = {n: "r" for n in names[0::3]}
    low = {n: "l" for n in names}
    m = union.std(rw={"d": rw}, lowers=[{"d": low}])
    d = m.p("d")
    ds = DirStream(d)
    try:
        seen, pos = [], {}
        while len(seen) < 100:
            p = ds.tell()
            n = ds.read()
            assert n is not None
            if n not in (".", ".."):
                pos[n] = p
                seen.append(n)
        # change the directory under the open stream
        for i in range(60):
            write(os.path.join(d, "new%03d" % i), "x")
        removed_unread = [n for n in names if n not in seen][::7]
        for n in removed_unread:
            os.unlink(os.path.join(d, n))
        for n in seen[::5]:
            os.unlink(os.path.join(d, n))
        os.rename(os.path.join(d, seen[1]), os.path.join(d, "renamed"))
        rest = []
        while True:
            n = ds.read()
            if n is None:
                break
            if n not in (".", ".."):
                rest.append(n)
        allnames = seen + rest
        dups = sorted(n for n in set(allnames) if allnames.count(n) > 1)
        assert not dups, "names returned twice: %r" % dups[:10]
        stable = set(names) - set(removed_unread) - set(seen[::5]) - {seen[1]}
        missing = stable - set(allnames)
        assert not missing, "names never returned: %r" % sorted(missing)[:10]
        # positions from telldir stay valid
        for k in (seen[3], seen[51], seen[99]):
            if k in set(seen[::5]) or k == seen[1]:
                continue
            ds.seek(pos[k])
            assert ds.read() == k
    finally:
        ds.close()
    assert sorted(os.listdir(d)) == sorted(
        (set(names) - set(removed_unread) - set(seen[::5]) - {seen[1]}) |
        {"new%03d" % i for i in range(60)} | {"renamed"})
