"""Item 7: new objects belong to the caller (setgid dirs respected) and
permission checks for unprivileged callers match ext4's.

Each scenario runs the same function as uid 65534 (and 1001) once on the
mount and once on a plain ext4 directory built from the same spec; the
results (values or errnos) must be identical."""
import errno
import os
import stat

import pytest

from lfsutil import D, F, NOBODY, OTHER, as_user, ls, read, write

U, G = NOBODY, NOBODY


def spec():
    return {
        "pub": D({"mine": F("m", mode=0o644, uid=U, gid=G),
                  "rootfile": F("r", mode=0o644),
                  "secret": F("s", mode=0o600),
                  "shared": F("w", mode=0o666),
                  "exe": F("#!/bin/sh\n", mode=0o711)}, mode=0o777),
        "closed": D({"x": "x"}, mode=0o755),
        "locked": D({"y": "y"}, mode=0o700),
        "noexec": D({"z": "z"}, mode=0o766),
        "sticky": D({"rootf": F("r", mode=0o666),
                     "userf": F("u", mode=0o666, uid=U, gid=G)}, mode=0o1777),
        "sgid": D({"sub": D({}, mode=0o2775, gid=4242)}, mode=0o2777, gid=4242),
        "own": D({"f": F("o", mode=0o600, uid=U, gid=G)}, mode=0o755, uid=U, gid=G),
    }


@pytest.fixture(params=["lower", "rw"])
def pair(request, union, ref):
    """(mounted dir, ext4 reference dir): the tree in the lower branch (so
    every change needs copy-up) or already in the rw branch."""
    if request.param == "lower":
        m = union.std(lowers=[spec()])
    else:
        m = union.std(rw=spec(), lowers=[{"unrelated": "u"}])
    os.chmod(m.rw, 0o755)
    r = ref("ref", spec())
    return m, r


def both(pair, fn, uid=U, gid=G, umask=0o022):
    m, r = pair
    got = as_user(uid, gid, fn, m.mnt, umask=umask)
    want = as_user(uid, gid, fn, r, umask=umask)
    return got, want


def stat_tuple(p):
    st = os.lstat(p)
    return (stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid)


# Each scenario: function(root) run as the unprivileged user.
def s_create_file(root):
    p = os.path.join(root, "pub", "new")
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o666))
    return stat_tuple(p)


def s_mkdir_symlink_fifo(root):
    out = []
    os.mkdir(os.path.join(root, "pub", "nd"), 0o777)
    out.append(stat_tuple(os.path.join(root, "pub", "nd")))
    os.symlink("x", os.path.join(root, "pub", "nl"))
    out.append(stat_tuple(os.path.join(root, "pub", "nl"))[2:])
    os.mkfifo(os.path.join(root, "pub", "nf"), 0o666)
    out.append(stat_tuple(os.path.join(root, "pub", "nf")))
    return out


def s_setgid_dir(root):
    out = []
    d = os.path.join(root, "sgid")
    os.close(os.open(os.path.join(d, "f"), os.O_CREAT | os.O_WRONLY, 0o666))
    out.append(stat_tuple(os.path.join(d, "f")))
    os.mkdir(os.path.join(d, "dd"))
    out.append(stat_tuple(os.path.join(d, "dd")))
    os.close(os.open(os.path.join(d, "dd", "g"), os.O_CREAT | os.O_WRONLY, 0o640))
    out.append(stat_tuple(os.path.join(d, "dd", "g")))
    return out


def s_umask(root):
    p = os.path.join(root, "pub", "um")
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o777))
    os.mkdir(p + "d", 0o777)
    return stat_tuple(p), stat_tuple(p + "d")


def attempt(fn, *a):
    try:
        r = fn(*a)
        if isinstance(r, int) and fn is os.open:
            os.close(r)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


def s_denials(root):
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    return {
        "read-secret": attempt(os.open, j("pub", "secret"), os.O_RDONLY),
        "write-rootfile": attempt(os.open, j("pub", "rootfile"), os.O_WRONLY),
        "trunc-shared": attempt(os.open, j("pub", "shared"), os.O_WRONLY | os.O_TRUNC),
        "create-closed": attempt(os.open, j("closed", "n"), os.O_CREAT | os.O_WRONLY, 0o644),
        "mkdir-closed": attempt(os.mkdir, j("closed", "nd")),
        "unlink-closed": attempt(os.unlink, j("closed", "x")),
        "rename-closed": attempt(os.rename, j("closed", "x"), j("pub", "x")),
        "traverse-locked": attempt(os.stat, j("locked", "y")),
        "list-locked": attempt(os.listdir, j("locked")),
        "traverse-noexec": attempt(os.stat, j("noexec", "z")),
        "list-noexec": attempt(os.listdir, j("noexec")),
        "chmod-rootfile": attempt(os.chmod, j("pub", "rootfile"), 0o777),
        "chown-mine": attempt(os.chown, j("pub", "mine"), 0, -1),
        "chgrp-mine-foreign": attempt(os.chown, j("pub", "mine"), -1, 0),
        "utime-now-shared": attempt(os.utime, j("pub", "shared"), None),
        "utime-set-shared": attempt(os.utime, j("pub", "shared"), (1, 1)),
        "utime-set-rootfile": attempt(os.utime, j("pub", "rootfile"), None),
        "setxattr-rootfile": attempt(os.setxattr, j("pub", "rootfile"), "user.x", b"1"),
        "setxattr-shared": attempt(os.setxattr, j("pub", "shared"), "user.x", b"1"),
        "truncate-rootfile": attempt(os.truncate, j("pub", "rootfile"), 0),
        "access": (os.access(j("pub", "exe"), os.X_OK), os.access(j("pub", "secret"), os.R_OK),
                   os.access(j("closed"), os.W_OK), os.access(j("pub", "shared"), os.W_OK),
                   os.access(j("locked", "y"), os.F_OK)),
        "read-exe": attempt(os.open, j("pub", "exe"), os.O_RDONLY),
        "unlink-sticky-root": attempt(os.unlink, j("sticky", "rootf")),
        "rename-sticky-root": attempt(os.rename, j("sticky", "rootf"), j("sticky", "zz")),
        "unlink-sticky-own": attempt(os.unlink, j("sticky", "userf")),
        "chmod-own-setgid-foreign": attempt(os.chmod, j("own", "f"), 0o2755),
        "chmod-own": attempt(os.chmod, j("own", "f"), 0o640),
        "mknod-chr": attempt(os.mknod, j("pub", "dev"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
        "link-rootfile": attempt(os.link, j("pub", "secret"), j("pub", "hl")),
        "rmdir-locked": attempt(os.rmdir, j("locked")),
    }


def s_own_file_ops(root):
    p = os.path.join(root, "own", "f")
    os.chmod(p, 0o604)
    os.utime(p, ns=(1_000_000_001, 2_000_000_002))
    with open(p, "ab") as f:
        f.write(b"+")
    os.rename(p, os.path.join(root, "own", "g"))
    return stat_tuple(os.path.join(root, "own", "g")), read(os.path.join(root, "own", "g"))


SCENARIOS = [s_create_file, s_mkdir_symlink_fifo, s_setgid_dir, s_umask, s_denials,
             s_own_file_ops]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_unprivileged_matches_ext4(pair, scenario):
    got, want = both(pair, scenario)
    if isinstance(want[1], dict):
        diff = {k: (got[1].get(k), v) for k, v in want[1].items() if got[1].get(k) != v}
        assert not diff, "layerfs vs ext4 (key: (layerfs, ext4)): %r" % diff
    assert got == want


def test_new_objects_land_in_rw_with_caller_owner(pair):
    m, r = pair
    as_user(U, G, s_create_file, m.mnt)
    as_user(U, G, s_setgid_dir, m.mnt)
    st = os.lstat(os.path.join(m.rw, "pub", "new"))
    assert (st.st_uid, st.st_gid) == (U, G)
    st = os.lstat(os.path.join(m.rw, "sgid", "dd"))
    assert (st.st_uid, st.st_gid) == (U, 4242)
    assert st.st_mode & stat.S_ISGID
    st = os.lstat(os.path.join(m.rw, "sgid", "dd", "g"))
    assert (st.st_uid, st.st_gid) == (U, 4242)


def test_supplementary_group_access(pair):
    """Group permission through a supplementary group."""
    m, r = pair
    os.chown(os.path.join(r, "pub", "secret"), 0, 777)
    os.chown(os.path.join(m.mnt, "pub", "secret"), 0, 777)
    os.chmod(os.path.join(m.mnt, "pub", "secret"), 0o640)
    os.chmod(os.path.join(r, "pub", "secret"), 0o640)
    fn = lambda root: read(os.path.join(root, "pub", "secret"))  # noqa: E731
    got = as_user(OTHER, OTHER, fn, m.mnt, groups=[777])
    want = as_user(OTHER, OTHER, fn, r, groups=[777])
    assert got == want == ("ok", b"s")
    got = as_user(OTHER, OTHER, fn, m.mnt)
    want = as_user(OTHER, OTHER, fn, r)
    assert got == want == ("err", errno.EACCES)


def test_sticky_dir_other_user(pair):
    m, r = pair

    def create(root):
        p = os.path.join(root, "sticky", "by-nobody")
        write(p, "n")
        os.chmod(p, 0o666)
        return "ok"

    def remove(root):
        return attempt(os.unlink, os.path.join(root, "sticky", "by-nobody")), \
            attempt(os.unlink, os.path.join(root, "sticky", "userf")), \
            attempt(lambda p: write(p, "x"), os.path.join(root, "sticky", "userf"))

    for root in (m.mnt, r):
        assert as_user(U, G, create, root) == ("ok", "ok")
    got = as_user(OTHER, OTHER, remove, m.mnt)
    want = as_user(OTHER, OTHER, remove, r)
    assert got == want
    assert ls(os.path.join(m.mnt, "sticky")) == ls(os.path.join(r, "sticky"))
