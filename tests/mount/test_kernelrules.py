"""Issue 17: places where layerfs disagreed with the kernel's overlayfs (and
ext4). Each sequence runs on layerfs and on kernel overlayfs over the same
lower layers (difftest.py): every result and the whole merged tree must
agree; the values that matter are asserted as well."""
import os
import stat

import pytest

import difftest
from difftest import LOWER_TIME

SGID_GID = 4242


def agree(union, layers, ops, spelling="br"):
    """Runs ops on both; fails on the first difference. Returns the
    (layerfs, overlayfs) results and the pair (unmounted)."""
    pair = difftest.Pair(union, layers, spelling)
    try:
        out = difftest.run_sequence(pair, ops)
    finally:
        problems = pair.close()
    assert not problems, problems
    if out.failure:
        i, evs = out.failure
        pytest.fail("layerfs and overlayfs disagree at operation %d %r:\n  %s" %
                    (i, ops[i], "\n  ".join(repr(e) for e in evs[:8])), pytrace=False)
    assert out.diverged is None, out.diverged
    return [a for a, _ in out.results], pair


def d(path, mode=0o755, uid=0, gid=0, opaque=False):
    return {"t": "dir", "p": path, "mode": mode, "uid": uid, "gid": gid, "opaque": opaque}


def f(path, data="data", mode=0o644, uid=0, gid=0):
    return {"t": "file", "p": path, "data": data, "mode": mode, "uid": uid, "gid": gid}


def hard(path, to):
    return {"t": "hard", "p": path, "to": to}


@pytest.mark.parametrize("removal", ["rmdir", "unlink"])
def test_mkdir_over_whiteout_inherits_setgid(union, removal):
    """1. rmdir/unlink of a lower name in a setgid directory, then mkdir:
    the new (opaque) directory is setgid and its group is the parent's, and
    what is made in it gets that group."""
    layer = [d("b", 0o2775, gid=SGID_GID), d("b/d"), f("b/x")]
    gone = "b/d" if removal == "rmdir" else "b/x"
    res, _ = agree(union, [layer], [
        (removal, gone), ("mkdir", gone, 0o755), ("stat", gone),
        ("creat", gone + "/f", 0o644, "plain"), ("stat", gone + "/f"),
        ("symlink", "t", gone + "/l"), ("stat", gone + "/l"),
        ("mkfifo", gone + "/p", 0o644), ("stat", gone + "/p")])
    assert res[2] == ("ok", ("drwxr-sr-x", 0, SGID_GID, None, 2, 0, "new"))
    for r in (res[4], res[6], res[8]):
        assert r[0] == "ok" and r[1][2] == SGID_GID, r


@pytest.mark.parametrize("where", ["lower", "rw"])
@pytest.mark.parametrize("mode", [0o2755, 0o4755, 0o6755])
def test_o_trunc_by_non_root_owner_drops_setgid_and_setuid(union, where, mode):
    """2. open(O_WRONLY|O_TRUNC) by the owner (no CAP_FSETID) drops setuid,
    and setgid since the group may execute (ext4 does)."""
    layer = [f("f", "#!/bin/sh\n", mode, uid=1000, gid=1000)] if where == "lower" else []
    make = [] if where == "lower" else [
        ("creat", "f", 0o644, "plain"), ("write", "f", 0, "#!/bin/sh\n"),
        ("chown", "f", 1000, 1000), ("chmod", "f", mode)]
    res, _ = agree(union, [layer + [d("z")]], make + [
        ("as", 1000, 1000, ("creat", "f", 0o644, "trunc")), ("stat", "f")])
    assert res[-1] == ("ok", ("-rwxr-xr-x", 1000, 1000, 0, 1, 0, "new"))


# where the removed directory was: (layers, operations before, its path)
REMOVED_DIRS = {
    "rw": ([[d("b")]], [("mkdir", "c", 0o755), ("rename", "c", "b", 0)], "b"),
    "lower": ([[d("b"), d("b/y")]], [], "b/y"),
    "merged": ([[d("b"), d("b/y")], [d("b"), d("b/y")]], [("chmod", "b/y", 0o750)], "b/y"),
}


@pytest.mark.parametrize("where", sorted(REMOVED_DIRS))
def test_fstat_of_open_removed_directory(union, where):
    """3. A directory opened, then removed: fstat still answers (nlink 0 for
    one that was in the upper layer alone, as overlayfs says)."""
    layers, prep, path = REMOVED_DIRS[where]
    res, _ = agree(union, layers, prep + [
        ("open", 0, path, "dir"), ("rmdir", path), ("fstat", 0), ("close", 0)])
    assert res[-2][0] == "ok", res[-2]
    if where == "rw":
        assert res[-2] == ("ok", ("drwxr-xr-x", 0, 0, None, 0, 0, "new"))


def test_fstat_of_open_removed_renamed_lower_directory(union):
    """3. The same for a lower directory renamed over another (redirect_dir
    off: copied up whole, in the rw branch alone), emptied, opened and
    removed: layerfs says nlink 0 as ext4 does, overlayfs 1 (a redirected,
    merged directory): the documented renamed-dir-nlink difference, which
    did not cover it (CI seed 799631689)."""
    layers = [[d("a"), d("a/b", uid=65534, gid=65534), f("a/b/d"), d("b"), d("b/c")]]
    res, _ = agree(union, layers, [
        ("rename", "a/b", "b/c", 0), ("rename", "b/c/d", "c", 0),
        ("open", 3, "b/c", "dir"), ("stat", "b/c"), ("rmdir", "b/c"), ("fstat", 3),
        ("close", 3)], spelling="upperdir")
    assert res[3] == ("ok", ("drwxr-xr-x", 65534, 65534, None, 2, 0, "new")), res[3]
    assert res[5] == ("ok", ("drwxr-xr-x", 65534, 65534, None, 0, 0, "new")), res[5]


@pytest.mark.parametrize("where", ["rw", "lower"])
def test_fstat_of_open_removed_fifo(union, where):
    """3. The same for a fifo (the kernel opens it without layerfs)."""
    layers = [[{"t": "fifo", "p": "p", "mode": 0o644, "uid": 0, "gid": 0}]] \
        if where == "lower" else [[d("z")]]
    prep = [] if where == "lower" else [("mkfifo", "p", 0o644)]
    res, _ = agree(union, layers, prep + [
        ("open", 0, "p", "rw"), ("unlink", "p"), ("fstat", 0), ("close", 0)])
    assert res[-2][0] == "ok" and res[-2][1][0] == "prw-r--r--", res[-2]


# an object the kernel opens without layerfs, opened, then its last name
# taken: (operations before, its path, how it is opened, the taking, type)
NAMELESS = {
    "fifo-renamed-over": ([("mkfifo", "c", 0o644), ("creat", "e", 0o644, "plain")],
                          "c", "rw", ("rename", "e", "c", 0), "p"),
    "fifo-unlinked": ([("mkfifo", "c", 0o644)], "c", "rw", ("unlink", "c"), "p"),
    "dir-renamed-over": ([("mkdir", "a", 0o755), ("mkdir", "a/c", 0o755),
                          ("mkdir", "b", 0o755), ("mkdir", "b/e", 0o755)],
                         "b/e", "dir", ("rename", "a/c", "b/e", 0), "d"),
    "dir-removed": ([("mkdir", "b", 0o755)], "b", "dir", ("rmdir", "b"), "d"),
}


@pytest.mark.parametrize("case", sorted(NAMELESS))
def test_attributes_of_open_nameless_object(union, case):
    """3. fchmod, fchown and futimens of an open directory or fifo whose
    last name was removed or replaced change it (they said ENOENT: layerfs
    holds no fd of such objects unless it keeps one when the name goes)."""
    prep, path, how, taking, kind = NAMELESS[case]
    res, _ = agree(union, [[d("z")]], prep + [
        ("open", 0, path, how), taking, ("fchmod", 0, 0o710), ("fchown", 0, 1000, 1001),
        ("futime", 0, 10**18, 10**18 + 7000), ("fstat", 0), ("close", 0)])
    assert res[-5:-2] == [("ok", None)] * 3, res
    view = res[-2]
    assert view[0] == "ok" and view[1][:3] == (kind + "rwx--x---", 1000, 1001), view


@pytest.mark.parametrize("where", ["lower", "rw"])
def test_ftruncate_after_the_name_was_replaced(union, where):
    """4. An open file whose name another rename took: ftruncate truncates
    the open file."""
    layer = [f("x", "lower-x")] if where == "lower" else []
    make = [] if where == "lower" else [("creat", "x", 0o644, "plain"),
                                       ("write", "x", 0, "rw-x")]
    res, _ = agree(union, [layer + [d("z")]], make + [
        ("open", 0, "x", "w"), ("symlink", "t", "s"), ("rename", "s", "x", 0),
        ("ftruncate", 0, 0), ("fstat", 0), ("pwrite", 0, 2, "ab"), ("fstat", 0),
        ("readlink", "x")])
    assert res[-5] == ("ok", None)
    assert res[-4][1][3] == 0 and res[-2][1][3] == 4
    assert res[-1] == ("ok", "t")


def test_fd_opened_before_copy_up_follows_the_copy(union):
    """5. A read-only fd of a lower file, then truncate, chmod, rename and
    unlink by path: the fd reads and stats the copy (0 bytes), not the
    lower file."""
    res, _ = agree(union, [[f("x", "lower-bytes")]], [
        ("open", 0, "x", "r"), ("pread", 0, 0, 100), ("truncate", "x", 0),
        ("chmod", "x", 0o600), ("rename", "x", "z", 0), ("unlink", "z"),
        ("pread", 0, 0, 100), ("fstat", 0)])
    assert res[6] == ("ok", difftest._digest(b""))
    assert res[7] == ("ok", ("-rw-------", 0, 0, 0, 0, 0, "new"))


def test_fd_opened_before_copy_up_sees_writes_by_path_after_rename(union):
    """5. The same fd also sees data written to the copy after its rename."""
    res, _ = agree(union, [[f("x", "lower-bytes")]], [
        ("open", 0, "x", "r"), ("chmod", "x", 0o600), ("rename", "x", "z", 0),
        ("write", "z", 0, "NEW"), ("pread", 0, 0, 100)])
    assert res[4] == ("ok", difftest._digest(b"NEWer-bytes"))


@pytest.mark.parametrize("remount", [False, True])
def test_link_updates_the_count_of_every_name(union, remount):
    """6. a, b hardlinked in a lower layer; link b d/b/b: every name shows 3."""
    layer = [f("a", "shared"), hard("b", "a"), d("d"), d("d/b")]
    ops = [("remount",)] if remount else []
    res, _ = agree(union, [layer], ops + [
        ("link", "b", "d/b/b"), ("stat", "a"), ("stat", "b"), ("stat", "d/b/b"),
        ("remount",), ("stat", "a"), ("stat", "d/b/b")])
    counts = [r[1][4] for r in res[-6:] if r[1]]
    assert counts == [3, 3, 3, 3, 3], res


@pytest.mark.parametrize("where", ["lower", "rw"])
def test_write_through_fd_is_seen_through_another_name(union, where):
    """7. A write through an fd of one name: stat of another name shows the
    new size and mtime."""
    layer = [f("a", "shared"), hard("b", "a")] if where == "lower" else []
    make = [] if where == "lower" else [("creat", "a", 0o644, "plain"),
                                       ("write", "a", 0, "shared"), ("link", "a", "b")]
    res, _ = agree(union, [layer + [d("z")]], make + [
        ("stat", "b"), ("open", 0, "a", "w"), ("pwrite", 0, 10, "xyz"), ("stat", "b"),
        ("fstat", 0)])
    assert res[-2][1][3] == 13 and res[-2][1][6] == "new"


def test_rename_of_a_lower_directory_keeps_its_mtime(union):
    """Minor: a renamed lower directory (copied up, made opaque) keeps the
    mtime it had, as on ext4 and overlayfs."""
    top = [d("dir"), f("dir/x"), d("dir/sub"), f("dir/sub/y")]
    bottom = [d("dir"), d("dir/sub"), f("dir/sub/w")]
    res, pair = agree(union, [top, bottom], [
        ("unlink", "dir/sub/w"), ("stat", "dir"), ("rename", "dir", "moved", 0),
        ("stat", "moved"), ("stat", "moved/sub")])
    assert res[3][1][6] == res[1][1][6] and res[3][1][6] != "new"


@pytest.mark.parametrize("spelling", ["br", "upperdir"])
def test_first_copy_up_keeps_the_rw_roots_mtime(union, spelling):
    """Minor: with br= the work entries live in the rw root; making them is
    no change users made, now or after a remount."""
    res, pair = agree(union, [[f("x"), d("dd"), f("dd/y")]], [
        ("stat", ""), ("chmod", "dd/y", 0o600), ("unlink", "dd/y"), ("remount",),
        ("stat", "")], spelling=spelling)
    assert res[0] == res[-1] and res[-1][1][6] == LOWER_TIME
    assert os.stat(pair.rw).st_mtime_ns == LOWER_TIME


@pytest.mark.parametrize("how", ["unlink", "rename-over"])
def test_removing_one_name_of_a_lower_hardlink_counts_the_others(union, how):
    """The former documented difference: after the unlink of one name of a
    lower hardlink pair the other counts 1 (overlayfs with its index), also
    after a remount."""
    layer = [f("a", "shared"), hard("b", "a"), f("c", "other")]
    op = ("unlink", "b") if how == "unlink" else ("rename", "c", "b", 0)
    res, pair = agree(union, [layer], [
        ("stat", "a"), op, ("stat", "a"), ("remount",), ("stat", "a")])
    assert [res[i][1][4] for i in (0, 2, 4)] == [2, 1, 1]
    st = os.lstat(os.path.join(pair.lfs_layers[0], "a"))
    assert st.st_nlink == 2 and stat.S_ISREG(st.st_mode)    # the layer is untouched


@pytest.mark.parametrize("how", ["rename-over", "unlink"])
def test_change_through_an_open_lower_file_without_name(union, ref, how):
    """fchmod of an open lower file whose name went: the open file changes,
    as on ext4 (overlayfs says EEXIST, a documented difference), and the
    lower branch does not (the union fixture checks it)."""
    layer = [f("c", "lower-c"), f("b", "bbb")]
    pair = difftest.Pair(union, [layer])
    r = ref("ext4", {"c": "lower-c", "b": "bbb"})
    try:
        seen = []
        for root in (pair.mnt_l, r):
            fd = os.open(os.path.join(root, "c"), os.O_RDONLY)
            try:
                if how == "unlink":
                    os.unlink(os.path.join(root, "c"))
                else:
                    os.rename(os.path.join(root, "b"), os.path.join(root, "c"))
                os.fchmod(fd, 0o1444)
                st = os.fstat(fd)
                seen.append((oct(st.st_mode), st.st_size, st.st_nlink, os.pread(fd, 100, 0)))
            finally:
                os.close(fd)
        assert seen[0] == seen[1]
        assert seen[0][0] == oct(0o101444)
    finally:
        assert not pair.close()
    assert stat.S_IMODE(os.stat(os.path.join(pair.lfs_layers[0], "c")).st_mode) == 0o644
