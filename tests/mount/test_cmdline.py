"""Command line: errors before mounting, --version, option spellings,
SOURCE argument, background mode."""
import os
import re
import subprocess
import time

import pytest

from conftest import LAYERFS_BIN, REPO, daemon_env, force_unmount, sanitizer_report
from lfsutil import (WH_BASE, exists, layerfs_mounts, ls, mountinfo_entry, read, tree,
                     wait_unmounted, write)


def run_fail(args, mnt):
    """Runs layerfs with ARGS expecting a pre-mount error."""
    root = os.path.dirname(mnt)
    try:
        r = subprocess.run([LAYERFS_BIN] + args, capture_output=True, text=True, timeout=10,
                           env=daemon_env())
    except subprocess.TimeoutExpired:
        force_unmount(mnt)
        pytest.fail("layerfs %r did not exit within 10 s (it should have refused)" % (args,))
    mounted = mountinfo_entry(mnt) is not None
    if mounted:
        force_unmount(mnt)
    assert not mounted, "layerfs %r mounted %s although it should refuse" % (args, mnt)
    stray = [e["mnt"] for e in layerfs_mounts() if e["mnt"].startswith(root + "/")]
    for p in stray:
        force_unmount(p)
    assert not stray, "layerfs mounted %r" % stray
    assert not sanitizer_report(r.stderr), r.stderr
    assert r.returncode == 1, "exit status %d for %r; stderr %r" % (r.returncode, args, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one line on stderr, got %r" % r.stderr
    assert lines[0].startswith("layerfs: "), lines[0]
    assert r.stdout == ""
    return lines[0]


@pytest.fixture
def dirs(union):
    a = union.branch("a", {"x": "a"})
    b = union.branch("b", {"y": "b"})
    return union, a, b


def test_unknown_option(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=ro,no_such_option_xyz" % (a, b)],
             u.mnt_default)


def test_unknown_dash_option(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "--no-such-flag", "-o", "br=%s=rw" % a], u.mnt_default)


def test_no_branches(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "allow_other"], u.mnt_default)


def test_no_branches_no_options(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f"], u.mnt_default)


def test_missing_branch(dirs):
    u, a, b = dirs
    msg = run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s/nonexistent=ro" % (a, u.root)],
                   u.mnt_default)
    assert "nonexistent" in msg, "message should name the branch: %r" % msg


def test_branch_not_a_directory(dirs):
    u, a, b = dirs
    f = os.path.join(u.root, "plainfile")
    write(f, "x")
    msg = run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=ro" % (a, f)], u.mnt_default)
    assert "plainfile" in msg, msg


@pytest.mark.parametrize("how", ["same", "dot", "dotdot", "slash", "symlink"])
def test_same_branch_twice(dirs, how):
    u, a, b = dirs
    other = {
        "same": a,
        "dot": a + "/.",
        "dotdot": os.path.join(a, "..", os.path.basename(a)),
        "slash": a + "//",
        "symlink": os.path.join(u.root, "alink"),
    }[how]
    if how == "symlink":
        os.symlink(a, other)
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=ro:%s=ro" % (a, b, other)], u.mnt_default)


def test_same_branch_twice_overlay_syntax(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "lowerdir=%s:%s" % (b, b)], u.mnt_default)


def test_branch_inside_mountpoint(dirs):
    u, a, b = dirs
    inner = os.path.join(u.mnt_default, "inner")
    os.mkdir(inner)
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=ro" % (a, inner)], u.mnt_default)


def test_two_rw_branches(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=rw" % (a, b)], u.mnt_default)


def test_rw_not_first(dirs):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "br=%s=ro:%s=rw" % (a, b)], u.mnt_default)


@pytest.mark.parametrize("perm", ["rx", "RW", "ro+", "wh", "rw+wh+", ""])
def test_bad_perm(dirs, perm):
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw:%s=%s" % (a, b, perm)], u.mnt_default)


def test_missing_mountpoint(dirs):
    u, a, b = dirs
    run_fail(["-f", "-o", "br=%s=rw:%s=ro" % (a, b)], u.mnt_default)


def test_workdir_on_other_filesystem(dirs):
    u, a, b = dirs
    upper = u.branch("upper")
    work = u.tmpfs("work")
    run_fail([u.mnt_default, "-f", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (b, upper, work)],
             u.mnt_default)
    assert ls(upper) == [] and ls(work) == []


def test_br_and_lowerdir_together(dirs):
    # "exactly one way must be used"
    u, a, b = dirs
    run_fail([u.mnt_default, "-f", "-o", "br=%s=rw,lowerdir=%s" % (a, b)], u.mnt_default)


def _version():
    with open(os.path.join(REPO, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    r = subprocess.run([LAYERFS_BIN, flag], capture_output=True, text=True, timeout=10,
                       env=daemon_env())
    assert r.returncode == 0, r.stderr
    # "layerfs VERSION"; anything after it on the line (e.g. the libfuse version) is tolerated
    first = r.stdout.splitlines()[0] if r.stdout else ""
    assert first.split()[:2] == ["layerfs", _version()], r.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    r = subprocess.run([LAYERFS_BIN, flag], capture_output=True, text=True, timeout=10,
                       env=daemon_env())
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert "br=" in text and "lowerdir=" in text, text


def test_br_spellings_and_default_perms(union):
    """br=A:B:C without =PERM: A is rw, B and C ro (whiteouts in B not honoured)."""
    a = union.branch("a", {"top": "a"})
    b = union.branch("b", {".wh.hidden": "", "mid": "b"})
    c = union.branch("c", {"hidden": "c", "bottom": "c"})
    m = union.mount([a, b, c])
    assert ls(m.mnt) == ["bottom", "hidden", "mid", "top"]
    write(m.p("new"), "n")
    assert read(os.path.join(a, "new")) == b"n"


@pytest.mark.parametrize("key", ["br=", "dirs=", "br:"])
def test_br_aliases(union, key):
    a = union.branch("a", {"top": "a"})
    b = union.branch("b", {"low": "b", ".wh.x": ""})
    c = union.branch("c", {"x": "c"})
    m = union._start([key + "%s=rw:%s=ro+wh:%s=ro" % (a, b, c)], (), union.mnt_default, True,
                     (), None, [b, c], a)
    assert ls(m.mnt) == ["low", "top"]
    write(m.p("low"), "changed")
    assert read(os.path.join(a, "low")) == b"changed"


def test_escaped_colon_in_branch(union):
    a = union.branch("rw:x", {"f": "rw"})
    b = union.branch("low:er", {"g": "low"})
    m = union.mount([(a, "rw"), (b, "ro")])
    assert ls(m.mnt) == ["f", "g"]
    write(m.p("h"), "1")
    assert read(os.path.join(a, "h")) == b"1"


def test_lowerdir_syntax(union):
    top = union.branch("top", {"a": "top-a", ".wh.b": "", "d": {"x": "1"}})
    bottom = union.branch("bottom", {"a": "bottom-a", "b": "bottom-b", "c": "bottom-c",
                                     "d": {"y": "2"}})
    upper = union.branch("upper")
    work = union.branch("work")
    m = union.mount_overlay([top, bottom], upper, work)
    assert ls(m.mnt) == ["a", "c", "d"]
    assert read(m.p("a")) == b"top-a"
    assert ls(m.p("d")) == ["x", "y"]
    write(m.p("c"), "new-c")
    os.unlink(m.p("a"))
    assert ls(m.mnt) == ["c", "d"]
    # upperdir holds only user data and .wh.NAME; metadata lives in workdir
    assert ls(upper) == [".wh.a", "c"]
    assert read(os.path.join(upper, "c")) == b"new-c"
    assert os.path.exists(os.path.join(work, WH_BASE))
    assert os.stat(os.path.join(upper, ".wh.a")).st_ino == os.stat(os.path.join(work, WH_BASE)).st_ino


def test_lowerdir_without_upper_is_readonly(union):
    import errno
    l1 = union.branch("l1", {"a": "1"})
    l2 = union.branch("l2", {"b": "2"})
    m = union.mount_overlay([l1, l2])
    assert ls(m.mnt) == ["a", "b"]
    with pytest.raises(OSError) as ei:
        write(m.p("c"), "x")
    assert ei.value.errno == errno.EROFS


def test_source_argument(union):
    a = union.branch("a", {"f": "1"})
    b = union.branch("b", {"g": "2"})
    m = union.mount([(a, "rw"), (b, "ro")], source="none")
    assert ls(m.mnt) == ["f", "g"]


def test_fsname_and_options(union):
    a = union.branch("a", {"f": "1"})
    m = union.mount([(a, "rw")], opts=["fsname=mylayers", "timeout=5", "default_permissions",
                                       "max_read=65536"])
    assert mountinfo_entry(m.mnt)["source"] == "mylayers"
    assert read(m.p("f")) == b"1"


def test_single_threaded_and_debug(union):
    a = union.branch("a", {"f": "1"})
    m = union.mount([(a, "rw")], extra_args=["-s", "-d"])
    write(m.p("g"), "2")
    assert ls(m.mnt) == ["f", "g"]


def _daemon_pids_for(mnt):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"layerfs" and os.fsencode(mnt) in argv:
            pids.append(int(pid))
    return pids


def _wait_pids_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while any(os.path.exists("/proc/%d" % p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_background_mode(union):
    a = union.branch("a", {"f": "1"})
    b = union.branch("b", {"g": "2"})
    mnt = union.mnt_default
    r = subprocess.run([LAYERFS_BIN, mnt, "-o", "br=%s=rw:%s=ro" % (a, b)],
                       capture_output=True, text=True, timeout=20, env=daemon_env())
    live = mountinfo_entry(mnt)   # checked at once: the parent exits only when live
    pids = _daemon_pids_for(mnt)
    try:
        assert r.returncode == 0, r.stderr
        assert live is not None and live["fstype"] == "fuse.layerfs", \
            "parent exited 0 before the mount was live"
        assert ls(mnt) == ["f", "g"]
        assert pids, "no background layerfs process found"
    finally:
        force_unmount(mnt)
        assert _wait_pids_gone(pids, 15), "background daemon did not exit after unmount"
    assert not sanitizer_report(r.stderr), r.stderr


def test_background_mode_error(union):
    a = union.branch("a")
    r = subprocess.run([LAYERFS_BIN, union.mnt_default, "-o",
                        "br=%s=rw:%s/missing=ro" % (a, union.root)],
                       capture_output=True, text=True, timeout=20, env=daemon_env())
    if mountinfo_entry(union.mnt_default):
        force_unmount(union.mnt_default)
        pytest.fail("mounted despite a missing branch")
    assert r.returncode == 1
    assert r.stderr.startswith("layerfs: ")


def test_mount_fuse3_helper(union):
    """`mount -t fuse.layerfs` goes through mount.fuse3, which runs
    `layerfs SOURCE MNT -o OPTS` in background mode."""
    import shutil
    helper = shutil.which("mount.fuse3") or "/sbin/mount.fuse3"
    assert os.path.exists(helper), "mount.fuse3 missing (apt-get install fuse3)"
    a = union.branch("a", {"f": "1"})
    b = union.branch("b", {"g": "2"})
    mnt = union.mnt_default
    env = daemon_env()
    env["PATH"] = os.path.dirname(os.path.abspath(LAYERFS_BIN)) + ":" + env.get("PATH", "")
    r = subprocess.run([helper, "none", mnt, "-t", "layerfs", "-o",
                        "br=%s=rw:%s=ro+wh,allow_other" % (a, b)],
                       capture_output=True, text=True, timeout=20, env=env)
    pids = _daemon_pids_for(mnt)
    try:
        assert r.returncode == 0, r.stderr
        assert mountinfo_entry(mnt)["fstype"] == "fuse.layerfs"
        assert ls(mnt) == ["f", "g"]
    finally:
        force_unmount(mnt)
        _wait_pids_gone(pids, 15)
