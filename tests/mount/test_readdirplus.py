"""READDIRPLUS: a listing carries each entry's attributes, so the kernel does
not send a LOOKUP per name afterwards (ls -l, stat walks). The daemon runs
with -d, which logs every request it gets."""
import os
import stat

from lfsutil import L, drop_caches, read

WH_PREFIX = ".wh."


def lookups(m):
    return m.stderr().count("opcode: LOOKUP (")


def test_listing_gives_attributes_without_lookups(union):
    lower = {"f%02d" % i: "x" * i for i in range(40)}
    lower.update({"d": {"inner": "1"}, "s": L("f01"), WH_PREFIX + "gone": ""})
    rw = union.branch("rw", {"f05": "upper version", WH_PREFIX + "f06": ""})
    l1 = union.branch("l1", lower)
    l2 = union.branch("l2", {"gone": "hidden by l1's whiteout", "deep": "from l2"})
    m = union.mount([(rw, "rw"), (l1, "ro+wh"), (l2, "ro+wh")], extra_args=("-d",))
    before = lookups(m)
    seen = {}
    with os.scandir(m.mnt) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)
            seen[e.name] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_ino, e.inode())
    assert lookups(m) == before, "entries were looked up again after READDIRPLUS"
    assert "READDIRPLUS" in m.stderr()
    expect = {n for n in lower if not n.startswith(WH_PREFIX)} - {"f06"} | {"deep"}
    assert set(seen) == expect
    assert seen["f05"][:2] == (stat.S_IFREG, len("upper version"))
    assert seen["f10"][:2] == (stat.S_IFREG, 10)
    assert seen["d"][0] == stat.S_IFDIR and seen["s"][0] == stat.S_IFLNK
    assert seen["deep"][:2] == (stat.S_IFREG, len("from l2"))
    # The listing's inode numbers are the ones stat shows.
    for name, (_, _, ino, dirent_ino) in seen.items():
        assert ino == dirent_ino == os.lstat(m.p(name)).st_ino, name


def test_listed_entries_are_forgotten_and_reusable(union):
    """The references a listing hands out come back as FORGETs: after the
    kernel drops its caches every name can still be used and removed."""
    lower = {"d": {"n%03d" % i: str(i) for i in range(300)}}
    m = union.std(lowers=[lower])
    for _ in range(3):
        assert len(os.listdir(m.p("d"))) == 300
        [os.lstat(m.p("d", n)) for n in os.listdir(m.p("d"))]
        drop_caches()
    for i in range(0, 300, 2):
        os.unlink(m.p("d", "n%03d" % i))
    drop_caches()
    left = sorted(os.listdir(m.p("d")))
    assert left == ["n%03d" % i for i in range(1, 300, 2)]
    assert read(m.p("d", "n001")) == b"1"
    assert sorted(n for n in os.listdir(os.path.join(m.rw, "d"))) == \
        sorted(WH_PREFIX + "n%03d" % i for i in range(0, 300, 2))
