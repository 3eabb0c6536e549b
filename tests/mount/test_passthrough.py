"""FUSE passthrough: which opens the kernel serves without asking the daemon.

The daemon runs with -d, which logs every request it gets; a file whose
reads and writes are passed through produces no READ or WRITE request.
Data is always checked both through the mount and in the branch."""
import mmap
import os
import subprocess

import pytest

from lfsutil import read, write

DATA = bytes(range(256)) * 4096          # 1 MiB


def requests(m, opcode):
    """How many OPCODE requests (READ, WRITE, ...) the daemon logged."""
    return m.stderr().count("opcode: %s (" % opcode)


def mount_debug(union, lowers=({"low": DATA},), opts=(), rw=None):
    b = [(rw or union.branch("rw", {}), "rw")]
    for i, spec in enumerate(lowers):
        b.append((union.branch("l%d" % (i + 1), spec), "ro+wh"))
    return union.mount(b, opts=list(opts), extra_args=("-d",))


def write_and_check(m, name, rwdir):
    with open(m.p(name), "wb") as f:
        f.write(DATA)
        f.flush()
        os.fsync(f.fileno())
    assert read(m.p(name)) == DATA
    assert read(os.path.join(rwdir, name)) == DATA


def test_rw_files_are_passed_through_by_default(union):
    m = mount_debug(union)
    write_and_check(m, "new", m.rw)
    with open(m.p("new"), "r+b") as f:      # an existing rw file, reopened
        f.seek(100)
        f.write(b"xyz")
    assert read(os.path.join(m.rw, "new"))[100:103] == b"xyz"
    assert requests(m, "CREATE") == 1 and requests(m, "FSYNC") >= 1
    assert requests(m, "WRITE") == 0
    assert requests(m, "READ") == 0


def test_passthrough_off_serves_every_read_and_write(union):
    m = mount_debug(union, opts=["passthrough=off"])
    write_and_check(m, "new", m.rw)
    assert requests(m, "WRITE") > 0
    assert requests(m, "READ") > 0


def test_lower_files_are_served_by_the_daemon_in_rw_mode(union):
    m = mount_debug(union)
    assert read(m.p("low")) == DATA
    assert requests(m, "READ") > 0


def test_copied_up_file_is_passed_through_once_lower_opens_are_closed(union):
    m = mount_debug(union)
    with open(m.p("low"), "r+b") as f:     # copies it up
        f.write(b"HEAD")
    writes_before = requests(m, "WRITE")
    with open(m.p("low"), "r+b") as f:
        f.seek(8)
        f.write(b"TAIL")
    assert requests(m, "WRITE") == writes_before
    got = read(os.path.join(m.rw, "low"))
    assert got[:4] == b"HEAD" and got[8:12] == b"TAIL" and got[12:] == DATA[12:]
    assert read(m.p("low")) == got


def test_reader_opened_before_copy_up_sees_the_writes(union):
    """The default keeps the union's file one file: an fd opened on the lower
    file reads what a later writer (who copied it up) wrote."""
    m = mount_debug(union)
    reader = os.open(m.p("low"), os.O_RDONLY)
    try:
        assert os.pread(reader, 16, 0) == DATA[:16]
        writer = os.open(m.p("low"), os.O_WRONLY)
        try:
            os.pwrite(writer, b"NEWDATA!", 0)
        finally:
            os.close(writer)
        assert os.pread(reader, 8, 0) == b"NEWDATA!"
        # Opened while the lower open is cached: served by the daemon.
        assert requests(m, "WRITE") > 0
    finally:
        os.close(reader)
    assert read(os.path.join(m.rw, "low"))[:8] == b"NEWDATA!"


def test_opens_while_a_cached_open_exists_stay_cached(union):
    """The kernel takes no mix of cached and passthrough opens of one inode:
    while an fd opened on the lower file is open, later opens of the
    copied-up file are cached too; once all are closed, passthrough."""
    m = mount_debug(union)
    reader = os.open(m.p("low"), os.O_RDONLY)
    writer = os.open(m.p("low"), os.O_RDWR)
    try:
        os.pwrite(writer, b"ONE", 0)
        third = os.open(m.p("low"), os.O_RDWR)
        os.pwrite(third, b"TWO", 3)
        os.close(third)
        assert os.pread(reader, 6, 0) == b"ONETWO"
    finally:
        os.close(writer)
        os.close(reader)
    writes = requests(m, "WRITE")
    assert writes >= 2
    with open(m.p("low"), "r+b") as f:
        f.write(b"333")
        f.seek(0)
        assert f.read(6) == b"333TWO"
    assert requests(m, "WRITE") == writes
    assert read(os.path.join(m.rw, "low"))[:6] == b"333TWO"


def test_shared_mmap_and_second_open_of_an_rw_file(union):
    m = mount_debug(union)
    write_and_check(m, "mm", m.rw)
    fd1 = os.open(m.p("mm"), os.O_RDWR)
    fd2 = os.open(m.p("mm"), os.O_RDONLY)
    try:
        with mmap.mmap(fd1, len(DATA)) as mp:
            mp[0:5] = b"MMAP!"
            mp.flush()
        assert os.pread(fd2, 5, 0) == b"MMAP!"
        os.ftruncate(fd1, 4096)
        assert os.fstat(fd2).st_size == 4096
        assert os.stat(m.p("mm")).st_size == 4096
    finally:
        os.close(fd1)
        os.close(fd2)
    assert read(os.path.join(m.rw, "mm"))[:5] == b"MMAP!"
    assert os.stat(os.path.join(m.rw, "mm")).st_size == 4096
    assert requests(m, "WRITE") == 0 and requests(m, "READ") == 0


def test_rw_branch_on_a_stacked_filesystem_falls_back(union):
    """The kernel takes no backing file from a stacked filesystem (ELOOP):
    such files are served by the daemon, correctly."""
    base = union.mkdir("ovl")
    for d in ("lower", "upper", "work", "merged"):
        os.mkdir(os.path.join(base, d))
    merged = os.path.join(base, "merged")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work" % (base, base, base),
                    merged], check=True)
    union.extra_mounts.append(merged)
    m = mount_debug(union, rw=merged)
    write_and_check(m, "new", merged)
    assert requests(m, "WRITE") > 0
    assert read(os.path.join(base, "upper", "new")) == DATA


@pytest.mark.parametrize("value", ["yes", "", "ON", "all"])
def test_bad_passthrough_value_is_refused(union, value):
    assert "bad passthrough" in union.refused_option("passthrough=" + value)


def test_passed_through_write_by_owner_clears_setuid(union):
    """A write through a passthrough file still drops setuid/setgid (the
    kernel does it on the union's inode; the daemon writes as root, where
    the branch filesystem alone would keep the bits)."""
    from lfsutil import F, as_user
    m = union.std(rw={"prog": F("#!/bin/sh\n", mode=0o6775, uid=1000, gid=1000)},
                  opts=["allow_other"])

    def append():
        with open(m.p("prog"), "ab") as f:
            f.write(b"echo changed\n")
    assert as_user(1000, 1000, append)[0] == "ok"
    assert os.stat(m.p("prog")).st_mode & 0o7777 == 0o775
    assert os.stat(os.path.join(m.rw, "prog")).st_mode & 0o7777 == 0o775
    assert read(os.path.join(m.rw, "prog")) == b"#!/bin/sh\necho changed\n"


def test_read_only_union_passes_lower_files_through(union):
    """Without an rw branch nothing is ever copied up: every file's reads go
    from the kernel to the branch file (no READ request), in any branch."""
    l1 = union.branch("l1", {"top": DATA[:300_000]})
    l2 = union.branch("l2", {"low": DATA, "top": "hidden"})
    m = union.mount([(l1, "ro"), (l2, "ro")], extra_args=("-d",))
    assert read(m.p("low")) == DATA
    assert read(m.p("top")) == DATA[:300_000]
    with open(m.p("low"), "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        assert mm[4096:8192] == DATA[4096:8192]
        mm.close()
    assert requests(m, "OPEN") >= 3
    assert requests(m, "READ") == 0


def test_rw_branch_waits_for_files_passed_through_from_a_read_only_union(union):
    """An rw branch made live would let a file open passed through to its
    lower copy miss the copy-up: refused while one is open."""
    from test_branches import layerctl
    low = union.branch("l1", {"f": DATA})
    rw = union.branch("rw", {})
    m = union.mount([(low, "ro")], extra_args=("-d",))
    f = open(m.p("f"), "rb")
    try:
        assert f.read(10) == DATA[:10]
        r = layerctl("branch", "add", m.mnt, "0", rw + "=rw", check=False)
        assert r.returncode == 1 and "open passed through" in r.stderr, r.stderr
        r = layerctl("branch", "mod", m.mnt, low + "=rw", check=False)
        assert r.returncode == 1 and "open passed through" in r.stderr, r.stderr
    finally:
        f.close()
    layerctl("branch", "add", m.mnt, "0", rw + "=rw")
    with open(m.p("f"), "r+b") as f:
        f.write(b"new")
    assert read(os.path.join(rw, "f"))[:3] == b"new"
    assert read(m.p("f")) == b"new" + DATA[3:]
    assert requests(m, "READ") == 0     # the rw copy is passed through too
