"""A union without a rw branch: every write fails with EROFS, reads work."""
import errno
import os
import stat

import pytest

from lfsutil import (L, RENAME_NOREPLACE, errno_of, ls, read, renameat2, tree, write)

SPEC1 = {"f": "one", "d": {"x": "1"}, "e": {}, "s": L("f")}
SPEC2 = {"g": "two", "d": {"y": "2"}}


def write_ops(m):
    p = m.p
    return {
        "open-wronly": lambda: os.open(p("f"), os.O_WRONLY),
        "open-rdwr": lambda: os.open(p("f"), os.O_RDWR),
        "open-trunc": lambda: os.open(p("f"), os.O_RDONLY | os.O_TRUNC),
        "create": lambda: os.open(p("new"), os.O_CREAT | os.O_WRONLY, 0o644),
        "mkdir": lambda: os.mkdir(p("nd")),
        "mknod": lambda: os.mkfifo(p("nf")),
        "symlink": lambda: os.symlink("x", p("ns")),
        "link": lambda: os.link(p("f"), p("nl")),
        "unlink": lambda: os.unlink(p("f")),
        "unlink-lower2": lambda: os.unlink(p("g")),
        "rmdir": lambda: os.rmdir(p("e")),
        "rename": lambda: os.rename(p("f"), p("f2")),
        "rename2": lambda: renameat2(p("g"), p("g2"), RENAME_NOREPLACE),
        "rename-dir": lambda: os.rename(p("d"), p("d2")),
        "chmod": lambda: os.chmod(p("f"), 0o600),
        "chown": lambda: os.chown(p("f"), 1, 1),
        "utime": lambda: os.utime(p("f"), ns=(1, 1)),
        "utime-now": lambda: os.utime(p("d")),
        "truncate": lambda: os.truncate(p("f"), 0),
        "setxattr": lambda: os.setxattr(p("f"), "user.x", b"1"),
        "removexattr": lambda: os.removexattr(p("f"), "user.x"),
    }


def check_readonly(m, branches):
    res = {}
    for name, fn in write_ops(m).items():
        try:
            r = fn()
            if isinstance(r, int) and r >= 0:
                os.close(r)
            res[name] = "ok"
        except OSError as e:
            res[name] = errno.errorcode[e.errno]
    assert res == {k: "EROFS" for k in res}
    assert tree(m.mnt) == {"d": "dir", "d/x": b"1", "d/y": b"2", "e": "dir", "f": b"one",
                           "g": b"two", "s": ("link", "f")}


def test_br_without_rw_branch(union):
    a = union.branch("a", SPEC1)
    b = union.branch("b", SPEC2)
    m = union.mount([(a, "ro"), (b, "rr+wh")])
    check_readonly(m, [a, b])
    assert read(m.p("s")) == b"one"
    fd = os.open(m.p("f"), os.O_RDONLY)
    os.close(fd)


def test_lowerdir_without_upperdir(union):
    a = union.branch("a", SPEC1)
    b = union.branch("b", SPEC2)
    m = union.mount_overlay([a, b])
    check_readonly(m, [a, b])
