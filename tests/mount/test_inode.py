"""Item 9: st_ino stable for the mount's life (also across copy-up and
forgets), the same for every hardlink, distinct for distinct objects;
st_dev is the mount's."""
import os

from lfsutil import HL, L, drop_caches, ls, read, write


def inos(m, names):
    return {n: os.lstat(m.p(n)).st_ino for n in names}


def test_ino_stable_across_forget_and_copyup(union):
    m = union.std(rw={"r": "1", "rd": {"x": "2"}},
                  lowers=[{"f": "lower", "d": {"g": "3"}, "s": {"t": "4"}}])
    names = ["r", "rd", "rd/x", "f", "d", "d/g", "s", "s/t", ""]
    before = inos(m, names)
    drop_caches()
    assert inos(m, names) == before
    os.chmod(m.p("f"), 0o600)               # copy-up
    write(m.p("d", "g"), "changed")         # copy-up incl. parent dir
    os.utime(m.p("s"))                      # dir copy-up
    assert inos(m, names) == before
    drop_caches()
    assert inos(m, names) == before
    fd = os.open(m.p("f"), os.O_RDONLY)
    try:
        assert os.fstat(fd).st_ino == before["f"]
    finally:
        os.close(fd)


def test_ino_kept_by_rename(union):
    m = union.std(rw={"r": "1"}, lowers=[{"f": "lower", "d": {"in": "x"}}])
    before = inos(m, ["r", "f", "d", "d/in"])
    os.rename(m.p("r"), m.p("r2"))
    os.rename(m.p("f"), m.p("f2"))
    assert os.lstat(m.p("r2")).st_ino == before["r"]
    assert os.lstat(m.p("f2")).st_ino == before["f"]
    drop_caches()
    assert os.lstat(m.p("f2")).st_ino == before["f"]


def test_hardlinks_same_ino(union):
    m = union.std(lowers=[{"a": "x", "b": HL("a"), "d": {"c": HL("a")}}])
    i = inos(m, ["a", "b", "d/c"])
    assert len(set(i.values())) == 1
    drop_caches()
    assert inos(m, ["d/c", "b", "a"]) == i


def test_distinct_objects_distinct_ino_across_filesystems(union):
    """Two fresh tmpfs branches hand out the same inode numbers; the union
    must still give every object its own st_ino."""
    rw = union.tmpfs("rwfs")
    l1 = union.tmpfs("l1fs")
    l2 = union.tmpfs("l2fs")
    for b, prefix in ((l1, "a"), (l2, "b")):
        for i in range(5):
            write(os.path.join(b, "%s%d" % (prefix, i)), prefix)
        os.mkdir(os.path.join(b, prefix + "dir"))
    assert os.stat(os.path.join(l1, "a0")).st_ino == os.stat(os.path.join(l2, "b0")).st_ino, \
        "test setup: tmpfs inode numbers expected to collide"
    m = union.mount([(rw, "rw"), (l1, "ro"), (l2, "ro")])
    write(m.p("c0"), "c")
    names = ls(m.mnt)
    all_inos = [os.lstat(m.p(n)).st_ino for n in names] + [os.lstat(m.mnt).st_ino]
    assert len(set(all_inos)) == len(all_inos), dict(zip(names + ["/"], all_inos))


def test_st_dev_is_the_mounts(union):
    m = union.std(rw={"r": "1"}, lowers=[{"d": {"e": {"f": "x"}}}])
    dev = os.stat(m.mnt).st_dev
    assert dev != os.stat(m.rw).st_dev
    for p in ("r", "d", "d/e", "d/e/f"):
        assert os.lstat(m.p(p)).st_dev == dev, p
    write(m.p("d", "e", "f"), "y")
    assert os.lstat(m.p("d/e/f")).st_dev == dev


def test_readdir_ino_matches_stat(union):
    m = union.std(rw={"r": "1"}, lowers=[{"a": "x", "d": {}, "h": "h"}])
    for e in os.scandir(m.mnt):
        assert e.inode() == os.lstat(e.path).st_ino, e.name


def test_ino_survives_remount(union):
    """The same branch set shows the same numbers after unmount and mount:
    lower files, copied-up files and directories, hardlinks (copied up
    through one name, the others still lower), symlinks, and objects made
    in the rw branch; readdir's d_ino agrees with stat after the remount."""
    m = union.std(rw={"r": "1", "rd": {"x": "2"}},
                  lowers=[{"f": "lower", "d": {"g": "3"}, "s": {"t": "4"},
                           "h1": "h", "h2": HL("h1"), "hd": {"h3": HL("h1")},
                           "ln": L("f"), "keep": "k"}])
    names = ["r", "rd", "rd/x", "f", "d", "d/g", "s", "s/t", "h1", "h2", "hd/h3", "ln",
             "keep", ""]
    before = inos(m, names)
    os.chmod(m.p("f"), 0o600)                 # file copy-up
    write(m.p("d", "g"), "changed")           # copy-up with its parent
    os.utime(m.p("s"))                        # directory copy-up
    write(m.p("h2"), "through h2")            # hardlink: one name up, two lower
    os.lchown(m.p("ln"), 1, 1)                # symlink copy-up
    os.rename(m.p("keep"), m.p("kept"))
    write(m.p("new"), "n")
    before["kept"] = before.pop("keep")
    before["new"] = os.lstat(m.p("new")).st_ino
    assert inos(m, list(before)) == before
    m.remount()
    assert inos(m, list(before)) == before
    assert read(m.p("h1")) == b"through h2" and read(m.p("hd/h3")) == b"through h2"
    for e in os.scandir(m.mnt):
        assert e.inode() == os.lstat(e.path).st_ino, e.name
    # and the numbers stay unique
    every = [os.lstat(m.p(n)).st_ino for n in ["r", "rd", "f", "d", "s", "h1", "ln",
                                                 "kept", "new"]]
    assert len(set(every)) == len(every)


def test_numbers_hold_while_the_node_table_grows(union):
    """Thousands of nodes make the daemon's node table grow several times
    (from 1024 buckets) and move every node to a new chain: a file open
    after its last name went, hardlinks and copied-up files keep their
    numbers through it, and forgotten nodes come back with the same ones."""
    lower = {"h": "hard"}                     # made first: d0/h2 links to it
    lower.update({"d%d" % d: {"f%d" % i: "%d.%d" % (d, i) for i in range(500)}
                  for d in range(12)})
    lower["d0"]["h2"] = HL("h")
    m = union.std(rw={"open": "still here"}, lowers=[lower])
    fd = os.open(m.p("open"), os.O_RDONLY)
    hfd = os.open(m.p("h"), os.O_RDONLY)
    try:
        assert os.read(hfd, 64) == b"hard"    # its pages are cached now
        open_ino = os.fstat(fd).st_ino
        os.unlink(m.p("open"))                # a nameless node, kept by the kernel
        names = ["d%d/f%d" % (d, i) for d in range(12) for i in range(500)]
        before = inos(m, names + ["h", "d0/h2"])
        assert len(set(before.values())) == len(names) + 1
        assert before["h"] == before["d0/h2"]
        assert os.fstat(fd).st_ino == open_ino and os.read(fd, 64) == b"still here"
        os.chmod(m.p("d3/f7"), 0o600)         # copy-up after the growth
        write(m.p("d0/h2"), "through h2")
        # One node (one kernel inode, one page cache) for both names.
        assert os.pread(hfd, 64, 0) == b"through h2"
        drop_caches()                         # the kernel forgets most nodes
        assert inos(m, names + ["h", "d0/h2"]) == before
        assert read(m.p("h")) == b"through h2"
        assert os.pread(fd, 64, 0) == b"still here"
    finally:
        os.close(fd)
        os.close(hfd)
    assert not os.path.exists(os.path.join(m.rw, "open"))
    assert os.stat(os.path.join(m.rw, "d3", "f7")).st_mode & 0o777 == 0o600
