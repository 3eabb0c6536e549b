"""After an unclean stop the next mount removes the debris a two-step change
can leave: a whiteout beside a live entry of the same rw directory (made
first, before the entry it replaces went; or left when a new entry was put
in place before its whiteout went). A clean unmount leaves nothing to do."""
import os

from lfsutil import read


def test_crash_debris_swept_at_next_mount(union):
    m = union.std(lowers=[{"d": {"a": "lower", "b": "lower b"}}])
    os.unlink(m.p("d", "b"))                    # a change: the work dir is marked dirty
    m.kill9()
    # what a kill between the two steps leaves: a live entry and its whiteout
    with open(os.path.join(m.rw, "d", "a"), "w") as f:
        f.write("upper")
    os.link(os.path.join(m.rw, ".wh..wh.aufs"), os.path.join(m.rw, "d", ".wh.a"))
    m.remount()
    assert not os.path.lexists(os.path.join(m.rw, "d", ".wh.a"))
    assert os.path.lexists(os.path.join(m.rw, "d", ".wh.b"))   # a real whiteout stays
    assert sorted(os.listdir(m.p("d"))) == ["a"]
    assert read(m.p("d", "a")) == b"upper"


def test_clean_unmount_needs_no_sweep(union):
    m = union.std(lowers=[{"d": {"a": "lower"}}])
    os.unlink(m.p("d", "a"))
    m.remount()                                 # clean: the dirty mark is gone
    # a whiteout beside a live entry placed by hand is left alone now
    with open(os.path.join(m.rw, "d", "a"), "w") as f:
        f.write("upper")
    m.remount()
    assert os.path.lexists(os.path.join(m.rw, "d", ".wh.a"))
    assert read(m.p("d", "a")) == b"upper"
