"""Metadata-only copy-up (-o metacopy=on, layerfs/metacopy.h): a chmod,
chown, utimes or xattr change of a lower file puts only its metadata into
the rw branch (a sparse file of its size with the marker xattr); reads keep
coming from the lower file until the first change of the data, which copies
the data in and drops the marker. Checked through the mount and in each
branch (the lower branches are also checked unchanged at teardown)."""
import errno
import hashlib
import os
import stat
import struct

import pytest

from lfsutil import F, HL, errno_of, read

DATA = bytes((i * 13 + i // 509) & 0xFF for i in range(300_000))
SMALL = b"small file, one block\n" * 10
T_F = 1_500_000_003_333_333_333
MARKER = "trusted.layerfs.metacopy"
INTERNAL = ("trusted.layerfs.", "user.layerfs.")


def lower_spec():
    return {"d": {"f": F(DATA, mode=0o644, uid=1234, gid=2345, mtime_ns=T_F,
                         xattrs={"user.keep": b"k"}),
                  "small": F(SMALL, mode=0o644, mtime_ns=T_F, xattrs={"user.keep": b"s"}),
                  "other": F(DATA, mode=0o600)},
            "hl": F(DATA), "hl2": HL("hl"),
            "empty": F(b"", mode=0o644)}


@pytest.fixture
def mc(union):
    """A union with metacopy=on: rw over one lower branch."""
    m = union.std(lowers=[lower_spec()], opts=("metacopy=on",))
    m.low = os.path.join(union.root, "l1")
    return m


def is_metacopy(path):
    """The rw file at path is a metadata-only copy: marked, and all of it a
    hole."""
    try:
        value = os.getxattr(path, MARKER, follow_symlinks=False)
    except OSError as e:
        assert e.errno == errno.ENODATA, e
        return False
    assert len(value) == 9 and value[0] == 1, value
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        assert errno_of(os.lseek, fd, 0, os.SEEK_DATA) == errno.ENXIO, \
            "a metadata-only copy holds data"
    finally:
        os.close(fd)
    return True


def visible_xattrs(p):
    return sorted(os.listxattr(p))


CHANGES = {
    "chmod": lambda p: os.chmod(p, 0o600),
    "chown": lambda p: os.chown(p, 4321, 5432),
    "utime": lambda p: os.utime(p, ns=(1_234_000_000_000_000_001, 1_234_000_000_000_000_002)),
    "setxattr": lambda p: os.setxattr(p, "user.new", b"v"),
    "removexattr": lambda p: os.removexattr(p, "user.keep"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("name", ["f", "small"])
def test_metadata_change_copies_metadata_only(mc, change, name):
    p, rwp, lowp = mc.p("d", name), os.path.join(mc.rw, "d", name), os.path.join(mc.low, "d", name)
    before = os.stat(p)
    CHANGES[change](p)
    after = os.stat(p)
    assert is_metacopy(rwp), os.listxattr(rwp)
    low = os.lstat(lowp)
    # The merged view: the change, the lower data, the lower file's blocks.
    assert read(p) == read(lowp)
    assert after.st_size == low.st_size
    assert after.st_blocks == low.st_blocks, "du of a metadata-only copy counts its data"
    assert after.st_ino == before.st_ino
    if change == "chmod":
        assert stat.S_IMODE(after.st_mode) == 0o600
    if change == "chown":
        assert (after.st_uid, after.st_gid) == (4321, 5432)
    if change == "utime":
        assert after.st_mtime_ns == 1_234_000_000_000_000_002
    if change == "setxattr":
        assert os.getxattr(p, "user.new") == b"v"
    # The rw branch: the metadata as the merged view shows it.
    rst = os.lstat(rwp)
    assert (stat.S_IMODE(rst.st_mode), rst.st_uid, rst.st_gid, rst.st_mtime_ns, rst.st_size) == \
        (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid, after.st_mtime_ns, after.st_size)
    assert not any(x.startswith(INTERNAL) for x in visible_xattrs(p))


def fingerprint(lower):
    """The marker's value for lower file stat result `lower`, as
    layerfs/metacopy.h spells it: version 1, then the first 8 bytes of the
    SHA-256 of ino, size, mtime seconds, mtime nanoseconds (little-endian
    64, 64, 64, 32 bits)."""
    packed = struct.pack("<QQqI", lower.st_ino, lower.st_size,
                         lower.st_mtime_ns // 10**9, lower.st_mtime_ns % 10**9)
    return b"\x01" + hashlib.sha256(packed).digest()[:8]


def test_marker_fingerprints_the_lower_file(mc):
    os.chmod(mc.p("d", "f"), 0o600)
    rwp = os.path.join(mc.rw, "d", "f")
    assert os.getxattr(rwp, MARKER, follow_symlinks=False) == \
        fingerprint(os.lstat(os.path.join(mc.low, "d", "f")))


def test_metadata_only_copy_on_ext4_takes_no_block(union):
    """On ext4 with 256-byte inodes (mkfs's default) the marker and the
    inode-number record fit in the inode: a metadata-only copy allocates
    nothing, where a readable marker spilled into a 4 KiB xattr block per
    copy (the benchmark's chown -R grew the rw branch by half the data)."""
    upper = union.loopfs("upper")
    rw = os.path.join(upper, "rw")
    os.mkdir(rw)
    low = union.branch("low", {"d": {"f": "x" * 9000, "g": "y" * 300}})
    m = union.mount([(rw, "rw"), (low, "ro")], opts=("metacopy=on",))
    for name in ("f", "g"):
        os.chown(m.p("d", name), 4242, 4242)
        rwp = os.path.join(rw, "d", name)
        assert is_metacopy(rwp)
        assert sorted(x for x in os.listxattr(rwp, follow_symlinks=False)) == \
            ["trusted.layerfs.ino", MARKER]
        assert os.lstat(rwp).st_blocks == 0, "the marker spilled out of the inode"
        assert read(m.p("d", name)) == read(os.path.join(low, "d", name))


def test_off_by_default_copies_data(union):
    m = union.std(lowers=[lower_spec()])
    os.chmod(m.p("d", "f"), 0o600)
    rwp = os.path.join(m.rw, "d", "f")
    assert not is_metacopy(rwp)
    assert read(rwp) == DATA


def test_bad_option_value_is_refused(union):
    assert "bad metacopy 'maybe'" in union.refused_option("metacopy=maybe")


def test_first_write_copies_the_data_in(mc):
    p, rwp = mc.p("d", "f"), os.path.join(mc.rw, "d", "f")
    os.chmod(p, 0o640)
    reader = os.open(p, os.O_RDONLY)
    try:
        assert os.pread(reader, 100, 1000) == DATA[1000:1100]
        with open(p, "r+b") as f:
            f.seek(5)
            f.write(b"XYZ")
        assert not is_metacopy(rwp)
        want = DATA[:5] + b"XYZ" + DATA[8:]
        assert read(rwp) == want
        assert read(p) == want
        # A file opened before sees the new data (as on overlayfs).
        assert os.pread(reader, 10, 0) == want[:10]
    finally:
        os.close(reader)
    st = os.lstat(rwp)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1234, 2345)
    assert os.getxattr(rwp, "user.keep") == b"k"


def test_open_for_writing_without_a_write_keeps_times(mc):
    p, rwp = mc.p("d", "f"), os.path.join(mc.rw, "d", "f")
    os.chmod(p, 0o640)
    os.close(os.open(p, os.O_RDWR))
    assert not is_metacopy(rwp)
    assert read(rwp) == DATA
    assert os.lstat(rwp).st_mtime_ns == T_F
    assert os.stat(p).st_mtime_ns == T_F


@pytest.mark.parametrize("how", ["truncate", "o_trunc", "truncate0"])
def test_truncate_of_a_metadata_only_copy(mc, how):
    p, rwp = mc.p("d", "f"), os.path.join(mc.rw, "d", "f")
    os.chmod(p, 0o640)
    if how == "truncate":
        os.truncate(p, 10)
        want = DATA[:10]
    elif how == "truncate0":
        os.truncate(p, 0)
        want = b""
    else:
        os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
        want = b""
    assert read(p) == want
    assert read(rwp) == want
    assert not is_metacopy(rwp)


def test_remount_keeps_metadata_only_copies(mc):
    p, rwp = mc.p("d", "f"), os.path.join(mc.rw, "d", "f")
    os.chown(p, 77, 88)
    ino = os.stat(p).st_ino
    mc.remount()
    st = os.stat(p)
    assert (st.st_uid, st.st_gid, st.st_ino) == (77, 88, ino)
    assert st.st_blocks == os.lstat(os.path.join(mc.low, "d", "f")).st_blocks
    assert read(p) == DATA
    assert is_metacopy(rwp)
    with open(p, "ab") as f:
        f.write(b"+")
    assert read(p) == DATA + b"+"
    assert read(rwp) == DATA + b"+"
    assert not is_metacopy(rwp)


@pytest.mark.parametrize("how", ["rename", "link"])
def test_new_name_copies_the_data(mc, how):
    p = mc.p("d", "f")
    os.chmod(p, 0o600)
    if how == "rename":
        os.rename(p, mc.p("moved"))
        names = ["moved"]
    else:
        os.link(p, mc.p("linked"))
        names = ["linked", os.path.join("d", "f")]
    for n in names:
        assert read(mc.p(n)) == DATA
        assert read(os.path.join(mc.rw, n)) == DATA
        assert not is_metacopy(os.path.join(mc.rw, n))


def test_hardlinked_and_empty_lower_files_are_copied_whole(mc):
    os.chmod(mc.p("hl"), 0o600)
    os.chmod(mc.p("empty"), 0o600)
    assert not is_metacopy(os.path.join(mc.rw, "hl"))
    assert read(os.path.join(mc.rw, "hl")) == DATA
    assert os.stat(mc.p("hl2")).st_mode & 0o777 == 0o600      # one inode still
    assert read(os.path.join(mc.rw, "hl2")) == DATA
    assert not is_metacopy(os.path.join(mc.rw, "empty"))


def test_removed_while_open_keeps_reading_and_changes_stay_up(mc):
    p = mc.p("d", "f")
    os.chmod(p, 0o640)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.unlink(p)
        assert os.pread(fd, 20, 100) == DATA[100:120]
        os.fchmod(fd, 0o604)        # must not reach the lower file (teardown checks)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o604
        assert os.pread(fd, 20, 200) == DATA[200:220]
    finally:
        os.close(fd)
    assert errno_of(os.stat, p) == errno.ENOENT


def _remount_with_marker(mc, value):
    """A metadata-only copy of d/f whose marker says value after a remount."""
    p, rwp = mc.p("d", "f"), os.path.join(mc.rw, "d", "f")
    os.chmod(p, 0o600)
    mc.stop()
    os.setxattr(rwp, MARKER, value, follow_symlinks=False)
    mc.start()
    return p


def test_copy_whose_lower_file_changed_fails_with_eio(mc):
    # The marker names another lower file now (as after a layer changed).
    p = _remount_with_marker(mc, fingerprint(os.lstat(os.path.join(mc.low, "d", "other"))))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert errno_of(read, p) == errno.EIO
    assert errno_of(os.open, p, os.O_WRONLY) == errno.EIO
    assert "metadata-only copy whose lower file is another one" in mc.stderr()


def test_garbled_marker_is_no_data_not_zeros(mc):
    p = _remount_with_marker(mc, b"something else")
    assert errno_of(read, p) == errno.EIO


@pytest.mark.parametrize("redirect", ["on", "off"])
def test_directory_moved_takes_its_metadata_only_copies_along(union, redirect):
    """A directory holding a metadata-only copy is renamed: redirected, the
    copy still finds its data below through the redirect; moved whole
    (redirect_dir=off), the copy gets its data first (its new place has none
    below). Both after a remount too."""
    m = union.std(lowers=[lower_spec()], opts=("metacopy=on", "redirect_dir=" + redirect))
    os.chmod(m.p("d", "f"), 0o600)
    assert is_metacopy(os.path.join(m.rw, "d", "f"))
    os.rename(m.p("d"), m.p("moved"))
    moved = os.path.join(m.rw, "moved", "f")
    assert is_metacopy(moved) == (redirect == "on")
    if redirect == "off":
        assert read(moved) == DATA
    for _ in range(2):
        assert read(m.p("moved", "f")) == DATA
        assert stat.S_IMODE(os.stat(m.p("moved", "f")).st_mode) == 0o600
        m.remount()


def test_upperdir_spelling_ignores_metacopy(union):
    """podman and buildah (upperdir=) read the upper directory as a plain
    layer: metacopy=on, which their storage.conf may pass for the kernel's
    overlayfs, is taken and ignored there (as by fuse-overlayfs)."""
    low = union.branch("l1", lower_spec())
    upper, work = union.branch("upper"), union.mkdir("work")
    m = union.mount_overlay([low], upperdir=upper, workdir=work, opts=("metacopy=on",))
    os.chmod(m.p("d", "f"), 0o600)
    assert not is_metacopy(os.path.join(upper, "d", "f"))
    assert read(os.path.join(upper, "d", "f")) == DATA
