"""Item 5: hardlinks of lower inodes stay one inode through copy-up."""
import os
import stat

from lfsutil import HL, WH_PLNK, data_ls, exists, ls, read, write


def spec():
    return {"f": "shared", "g": HL("f"), "d": {"h": HL("f")}, "single": "s"}


def names(m):
    return [m.p("f"), m.p("g"), m.p("d", "h")]


def test_lower_hardlinks_share_st_ino(union):
    m = union.std(lowers=[spec()])
    sts = [os.lstat(p) for p in names(m)]
    assert len({s.st_ino for s in sts}) == 1
    assert [s.st_nlink for s in sts] == [3, 3, 3]
    assert os.lstat(m.p("single")).st_ino != sts[0].st_ino


def test_write_via_one_name_visible_via_others(union):
    m = union.std(lowers=[spec()])
    ino = os.lstat(m.p("f")).st_ino
    write(m.p("g"), b"+more", "ab")
    for p in names(m):
        assert read(p) == b"shared+more", p
    sts = [os.lstat(p) for p in names(m)]
    assert {s.st_ino for s in sts} == {ino}
    assert len({s.st_nlink for s in sts}) == 1, [s.st_nlink for s in sts]
    # the copy is indexed so that other names can find it
    rwg = os.path.join(m.rw, "g")
    assert exists(os.path.join(m.rw, WH_PLNK))
    plnk = [os.lstat(os.path.join(m.rw, WH_PLNK, n)).st_ino
            for n in os.listdir(os.path.join(m.rw, WH_PLNK))]
    assert os.lstat(rwg).st_ino in plnk
    # touching another name makes it a link of the same upper inode
    os.chmod(m.p("d", "h"), 0o600)
    rwh = os.path.join(m.rw, "d", "h")
    assert os.lstat(rwh).st_ino == os.lstat(rwg).st_ino
    assert stat.S_IMODE(os.lstat(m.p("f")).st_mode) == 0o600
    write(m.p("f"), b"X", "ab")
    assert read(rwg) == b"shared+moreX"
    os.close(os.open(m.p("f"), os.O_WRONLY))
    assert os.lstat(os.path.join(m.rw, "f")).st_ino == os.lstat(rwg).st_ino
    m.remount()
    for p in names(m):
        assert read(p) == b"shared+moreX"
    assert len({os.lstat(p).st_ino for p in names(m)}) == 1


def test_unlink_one_name_keeps_others(union):
    m = union.std(lowers=[spec()])
    write(m.p("f"), b"!", "ab")
    os.unlink(m.p("g"))
    assert ls(m.mnt) == ["d", "f", "single"]
    assert read(m.p("d", "h")) == b"shared!"
    assert os.lstat(m.p("d", "h")).st_ino == os.lstat(m.p("f")).st_ino


def test_link_lower_single_file(union):
    m = union.std(lowers=[{"x": "data", "d": {}}])
    os.link(m.p("x"), m.p("d", "y"))
    sx, sy = os.lstat(m.p("x")), os.lstat(m.p("d", "y"))
    assert sx.st_ino == sy.st_ino
    assert sx.st_nlink == sy.st_nlink == 2
    assert os.lstat(os.path.join(m.rw, "x")).st_ino == os.lstat(os.path.join(m.rw, "d", "y")).st_ino
    write(m.p("d", "y"), "new")
    assert read(m.p("x")) == b"new"


def test_link_rw_files(union):
    m = union.std(rw={"a": "1"}, lowers=[{"z": "z"}])
    os.link(m.p("a"), m.p("b"))
    assert os.lstat(m.p("a")).st_ino == os.lstat(m.p("b")).st_ino
    assert os.lstat(m.p("b")).st_nlink == 2
    os.unlink(m.p("a"))
    assert os.lstat(m.p("b")).st_nlink == 1
    assert read(m.p("b")) == b"1"
    assert data_ls(m.rw) == ["b"]


def _drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")


def test_forgetting_a_hardlink_known_in_a_directory_and_its_subdirectory(union):
    """The kernel forgets a directory a/ and its subdirectory a/b/ while a
    file with names in both stays open through a third name; when the file
    is forgotten, a/b/ goes, which frees a/, which the file's own names
    named too: layerfs freed a/ twice (the sanitizer saw it, found by the
    differential test). The mount must live on, the tree as it was."""
    m = union.std(lowers=[{"a": {"n": "shared", "b": {"m": HL("a/n")}}, "c": {"o": HL("a/n")}}])
    for _ in range(3):
        os.lstat(m.p("a", "n"))
        os.lstat(m.p("a", "b", "m"))
        fd = os.open(m.p("c", "o"), os.O_RDONLY)
        _drop_caches()                     # a/ and a/b/ forgotten, the file open
        os.close(fd)
        _drop_caches()                     # the file forgotten
        assert read(m.p("a", "b", "m")) == b"shared"
        assert os.lstat(m.p("a", "n")).st_nlink == 3
