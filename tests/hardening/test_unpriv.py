"""Unprivileged callers (mount with allow_other, uid 65534 through
fork+setresuid) can do exactly what ext4 lets them do: each operation runs
on the mount and on a plain ext4 directory with the same tree, and the
outcomes (result or errno) must be equal.  Device nodes cannot be made, and
another user's control socket refuses them."""
import errno
import os
import stat
import subprocess

import pytest

from lfsutil import F, D, as_user, read, NOBODY
from conftest import LAYERCTL_BIN

SPEC = {
    "secret": F("root only", mode=0o600),
    "public": F("readable", mode=0o644),
    "rootdir": D({"f": F("x", mode=0o644)}, mode=0o755),
    "closed": D({"f": F("x", mode=0o644)}, mode=0o700),
    "sticky": D({"rootfile": F("r", mode=0o666)}, mode=0o1777),
    "open": D({"g": F("g", mode=0o666)}, mode=0o777),
    "suid": F("#!/bin/sh\n", mode=0o4755),
}


def ops(root):
    p = lambda *a: os.path.join(root, *a)   # noqa: E731

    def w(path, flags):
        os.close(os.open(path, flags, 0o644))
    return [
        ("read secret", lambda: read(p("secret"))),
        ("write public", lambda: w(p("public"), os.O_WRONLY)),
        ("truncate public", lambda: os.truncate(p("public"), 0)),
        ("chmod public", lambda: os.chmod(p("public"), 0o666)),
        ("chown public", lambda: os.chown(p("public"), NOBODY, NOBODY)),
        ("utime public", lambda: os.utime(p("public"), (1, 1))),
        ("utime-now public", lambda: os.utime(p("public"))),
        ("unlink in rootdir", lambda: os.unlink(p("rootdir", "f"))),
        ("create in rootdir", lambda: w(p("rootdir", "new"), os.O_CREAT | os.O_WRONLY)),
        ("rename out of rootdir", lambda: os.rename(p("rootdir", "f"), p("open", "f"))),
        ("list closed", lambda: os.listdir(p("closed"))),
        ("stat in closed", lambda: os.stat(p("closed", "f"))),
        ("unlink root file in sticky", lambda: os.unlink(p("sticky", "rootfile"))),
        ("rename root file in sticky", lambda: os.rename(p("sticky", "rootfile"),
                                                          p("sticky", "mine"))),
        ("hardlink secret", lambda: os.link(p("secret"), p("open", "ln"))),
        ("setxattr trusted", lambda: os.setxattr(p("public"), "trusted.x", b"1")),
        ("setxattr user on root file", lambda: os.setxattr(p("public"), "user.x", b"1")),
        ("chmod suid", lambda: os.chmod(p("suid"), 0o755)),
        ("mknod chr", lambda: os.mknod(p("open", "null"), stat.S_IFCHR | 0o666,
                                       os.makedev(1, 3))),
        ("mknod blk", lambda: os.mknod(p("open", "blk"), stat.S_IFBLK | 0o666,
                                       os.makedev(7, 0))),
        ("create in open", lambda: w(p("open", "mine"), os.O_CREAT | os.O_WRONLY)),
        ("write other's file in open", lambda: w(p("open", "g"), os.O_WRONLY)),
        ("chmod other's file in open", lambda: os.chmod(p("open", "g"), 0o600)),
        ("unlink other's file in open", lambda: os.unlink(p("open", "g"))),
        ("mkdir in sticky", lambda: os.mkdir(p("sticky", "mydir"))),
        ("rmdir rootdir", lambda: os.rmdir(p("rootdir"))),
    ]


@pytest.mark.parametrize("where", ["lower", "rw"])
def test_unprivileged_like_ext4(union, ref, where):
    if where == "lower":
        m = union.std(lowers=[SPEC])
    else:
        m = union.std(rw=SPEC)
    plain = ref("plain", SPEC)
    mine = ops(m.mnt)
    theirs = ops(plain)
    diffs = []
    for (name, fn), (_, fn2) in zip(mine, theirs):
        got = as_user(NOBODY, NOBODY, fn)
        want = as_user(NOBODY, NOBODY, fn2)
        norm = lambda r: (r[0], r[1] if r[0] == "err" else None)   # noqa: E731
        if norm(got) != norm(want):
            diffs.append((name, got, want))
    assert not diffs, "differs from ext4 (op, layerfs, ext4): %r" % diffs
    # no device node exists anywhere in the rw branch
    for dirpath, dirs, files in os.walk(m.rw):
        for f in files + dirs:
            st = os.lstat(os.path.join(dirpath, f))
            assert not (stat.S_ISCHR(st.st_mode) and st.st_rdev) and \
                not stat.S_ISBLK(st.st_mode), "device node %s/%s" % (dirpath, f)
    # root-owned originals unchanged in the merged view
    assert read(m.p("secret")) == b"root only"
    assert os.stat(m.p("suid")).st_mode & 0o7777 == 0o4755


def test_other_users_control_socket(union):
    m = union.std(lowers=[{"f": "x"}])
    assert os.access(LAYERCTL_BIN, os.X_OK), "layerctl not built: %s" % LAYERCTL_BIN
    r = subprocess.run([LAYERCTL_BIN, "branches", m.mnt], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "rw" in r.stdout

    def as_nobody():
        r = subprocess.run([LAYERCTL_BIN, "branches", m.mnt], capture_output=True, text=True)
        return (r.returncode, r.stdout, r.stderr)
    res = as_user(NOBODY, NOBODY, as_nobody)
    assert res[0] == "ok"
    rc, out, err = res[1]
    assert rc != 0, "uid 65534 could list the branches of root's mount: %r" % out
    assert m.rw not in out, "branch paths leaked to another user: %r" % out
    print("refused: %s" % err.strip())

    before = subprocess.run([LAYERCTL_BIN, "branches", m.mnt], capture_output=True,
                            text=True).stdout
    extra = union.branch("extra", {"g": "y"})

    def change():
        r = subprocess.run([LAYERCTL_BIN, "branch", "append", m.mnt, extra + "=ro"],
                           capture_output=True, text=True)
        return (r.returncode, r.stdout + r.stderr)
    rc, _ = as_user(NOBODY, NOBODY, change)[1]
    assert rc != 0
    r = subprocess.run([LAYERCTL_BIN, "branches", m.mnt], capture_output=True, text=True)
    assert r.stdout == before, "another user changed the branches"
    assert not os.path.exists(m.p("g"))
