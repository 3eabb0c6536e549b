"""Issue 4: each mount's si id and runtime directory, `layerctl branches`,
`layerctl which`, and live branch changes (add/append/prepend/del/mod) that
take effect at once, through the control socket."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import LAYERCTL_BIN, REPO
from lfsutil import as_user, ls, mountinfo_entry, read, write

RUNBASE = "/run/layerfs"
LONG = "timeout=600"   # kernel caches would hide a missed invalidation


def layerctl(*args, check=True):
    r = subprocess.run([LAYERCTL_BIN] + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, "layerctl %r: %s%s" % (args, r.stdout, r.stderr)
    return r


def si_of(m):
    src = mountinfo_entry(m.mnt)["source"]
    found = re.fullmatch(r"layerfs:si_([0-9a-f]{16})", src)
    assert found, "fsname %r carries no si id" % src
    return found.group(1)


def rundir_of(m, timeout=5.0):
    """The mount's runtime directory; the daemon makes it just after the
    mount goes live, so wait for it."""
    d = os.path.join(RUNBASE, "si_" + si_of(m))
    deadline = time.monotonic() + timeout
    while not os.path.isdir(d) and time.monotonic() < deadline:
        time.sleep(0.01)
    return d


@pytest.fixture
def three(union):
    rw = union.branch("rw", {})
    l1 = union.branch("l1", {"a": "one", "d": {".wh.x": "", "p": "l1p"}})
    l2 = union.branch("l2", {"b": "two", "d": {"x": "xx", "p": "l2p", "y": "yy"}})
    m = union.mount([(rw, "rw"), (l1, "ro+wh"), (l2, "ro+wh")], opts=[LONG])
    return union, m, rw, l1, l2


def test_runtime_directory(three):
    u, m, rw, l1, l2 = three
    d = rundir_of(m)
    assert sorted(os.listdir(d)) == ["br0", "br1", "br2", "brid0", "brid1", "brid2",
                                     "ctl", "mnt", "pid"]
    assert read(os.path.join(d, "br0")) == ("%s=rw\n" % rw).encode()
    assert read(os.path.join(d, "br1")) == ("%s=ro+wh\n" % l1).encode()
    assert read(os.path.join(d, "br2")) == ("%s=ro+wh\n" % l2).encode()
    ids = [int(read(os.path.join(d, "brid%d" % i))) for i in range(3)]
    assert len(set(ids)) == 3
    assert read(os.path.join(d, "mnt")).decode().strip() == m.mnt
    assert int(read(os.path.join(d, "pid"))) == m.proc.pid
    m.stop()
    assert not os.path.exists(d), "runtime directory left after unmount"


def test_stale_runtime_directory_is_cleaned(three):
    u, m, rw, l1, l2 = three
    d = rundir_of(m)
    m.kill9()
    assert os.path.isdir(d)
    # layerctl notices the dead daemon and removes what it left (unless a
    # daemon of another run on the machine, starting meanwhile, was first).
    r = layerctl("branches", m.mnt, check=False)
    assert r.returncode == 1, r.stderr
    assert "gone" in r.stderr or ("not a layerfs mount" in r.stderr and not os.path.isdir(d)), \
        r.stderr
    subprocess.run(["umount", "-l", m.mnt], check=True)
    r = layerctl("branches", m.mnt, check=False)
    assert r.returncode == 1
    assert not os.path.exists(d)
    # ... and so does the next layerfs. (Names of this run's own: other
    # test runs on the machine make and clean such directories too.)
    stale = "si_" + os.urandom(8).hex()
    unfinished = ".si_" + os.urandom(8).hex() + ".999999999"
    os.makedirs(os.path.join(RUNBASE, stale))
    with open(os.path.join(RUNBASE, stale, "pid"), "w") as f:
        f.write("999999999\n")
    # An unfinished one (a daemon killed while making it, before its rename):
    # the maker's pid is in its name.
    os.makedirs(os.path.join(RUNBASE, unfinished))
    m2 = u.mount([(rw, "rw"), (l1, "ro+wh")], mnt=u.mkdir("mnt2"))
    # The daemon cleans up just before it makes its own runtime directory
    # (in its control thread, after the mount went live): wait for that.
    assert os.path.isdir(rundir_of(m2))
    assert not os.path.exists(os.path.join(RUNBASE, stale))
    assert not os.path.exists(os.path.join(RUNBASE, unfinished))
    assert not [n for n in os.listdir(rundir_of(m2)) if n.startswith(".")]


def test_branches_table_and_json(three):
    u, m, rw, l1, l2 = three
    os.unlink(m.p("a"))                  # one whiteout in rw
    write(m.p("new"), "12345")           # one file, 5 bytes in rw
    out = layerctl("branches", m.mnt).stdout.splitlines()
    assert out[0].split() == ["INDEX", "ID", "PERM", "FILES", "WHITEOUTS", "BYTES", "PATH"]
    rows = [line.split() for line in out[1:]]
    assert [r[2] for r in rows] == ["rw", "ro+wh", "ro+wh"]
    assert [r[6] for r in rows] == [rw, l1, l2]
    doc = json.loads(layerctl("branches", "--json", m.mnt).stdout)
    assert doc["mountpoint"] == m.mnt
    b = doc["branches"]
    assert [(x["index"], x["perm"], x["path"]) for x in b] == \
        [(0, "rw", rw), (1, "ro+wh", l1), (2, "ro+wh", l2)]
    assert (b[0]["files"], b[0]["whiteouts"], b[0]["bytes"]) == (1, 1, 5)
    assert (b[1]["files"], b[1]["whiteouts"], b[1]["bytes"]) == (2, 1, 6)
    assert (b[2]["files"], b[2]["whiteouts"], b[2]["bytes"]) == (4, 0, 10)


def which_lines(path):
    r = layerctl("which", path, check=False)
    return r.returncode, [line.split() for line in r.stdout.splitlines()[1:]]


def test_which(three):
    u, m, rw, l1, l2 = three
    rc, lines = which_lines(m.p("d", "p"))
    assert rc == 0, layerctl("which", m.p("d", "p"), check=False)
    assert lines == [["supplies", "branch", "1", os.path.join(l1, "d", "p")],
                     ["hidden", "branch", "2", os.path.join(l2, "d", "p")]]
    rc, lines = which_lines(m.p("d", "x"))
    assert rc == 1
    assert lines[0] == ["whiteout", "branch", "1", os.path.join(l1, "d", ".wh.x")]
    assert lines[1] == ["hidden", "branch", "2", os.path.join(l2, "d", "x")]
    rc, lines = which_lines(m.p("d"))
    assert rc == 0
    assert lines == [["supplies", "branch", "1", os.path.join(l1, "d")],
                     ["merges", "branch", "2", os.path.join(l2, "d")]]
    write(m.p("d", "p"), "changed")      # copy-up: rw now supplies it
    rc, lines = which_lines(m.p("d", "p"))
    assert lines[0] == ["supplies", "branch", "0", os.path.join(rw, "d", "p")]
    assert layerctl("which", m.p("nope"), check=False).returncode == 1


def test_append_seen_from_a_shell_cwd(three):
    """A shell sitting in a directory sees a new branch's files at once."""
    u, m, rw, l1, l2 = three
    l3 = u.branch("l3", {"d": {"fresh": "new", "y": "shadowed"}})
    sh = subprocess.Popen(["sh", "-c", "ls; read x; ls; cat y"], cwd=m.p("d"),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        layerctl("branch", "append", m.mnt, l3 + "=ro")
        out, _ = sh.communicate("\n", timeout=30)
    finally:
        if sh.poll() is None:
            sh.kill()
    before, after = out.split("p\ny\n", 1)[0], out.splitlines()
    assert before == "", out
    assert after == ["p", "y", "fresh", "p", "y", "yy"], out
    assert read(os.path.join(rundir_of(m), "br3")) == ("%s=ro\n" % l3).encode()
    assert read(m.p("d", "fresh")) == b"new"


def test_add_in_the_middle_shadows_at_once(three):
    u, m, rw, l1, l2 = three
    assert read(m.p("b")) == b"two"
    os.stat(m.p("c")) if os.path.exists(m.p("c")) else None   # negative entry cached
    mid = u.branch("mid", {"b": "mid", "c": "see"})
    layerctl("branch", "add", m.mnt, "2", mid + "=ro+wh")
    assert read(m.p("b")) == b"mid"
    assert read(m.p("c")) == b"see"
    lines = layerctl("branches", m.mnt).stdout.splitlines()[1:]
    assert [line.split()[6] for line in lines] == [rw, l1, mid, l2]


def test_del_busy_while_open_then_ok(three):
    u, m, rw, l1, l2 = three
    f = open(m.p("b"), "rb")
    try:
        r = layerctl("branch", "del", m.mnt, l2, check=False)
        assert r.returncode == 1 and "open files" in r.stderr, r.stderr
        assert read(m.p("b")) == b"two"
    finally:
        f.close()
    layerctl("branch", "del", m.mnt, l2)
    assert not os.path.exists(m.p("b"))
    assert ls(m.p("d")) == ["p"]
    assert len(layerctl("branches", m.mnt).stdout.splitlines()) == 3


def test_open_file_keeps_working_across_changes(three):
    u, m, rw, l1, l2 = three
    with open(m.p("a"), "rb") as f:
        extra = u.branch("extra", {"a": "shadow"})
        layerctl("branch", "add", m.mnt, "1", extra + "=ro")
        assert f.read() == b"one"
        assert read(m.p("a")) == b"shadow"
        layerctl("branch", "del", m.mnt, l2)
        f.seek(0)
        assert f.read() == b"one"


def test_rules(three):
    u, m, rw, l1, l2 = three
    other = u.branch("other", {})
    for args, needle in [(["del", m.mnt, "0"], "rw branch"),
                         (["del", m.mnt, rw], "rw branch"),
                         (["mod", m.mnt, l1 + "=rw"], "rw branch already"),
                         (["add", m.mnt, "0", other + "=ro"], "stays on top"),
                         (["add", m.mnt, "1", other + "=rw"], "rw branch already"),
                         (["add", m.mnt, "1", l2 + "=ro"], "twice"),
                         (["add", m.mnt, "9", other + "=ro"], "no place"),
                         (["add", m.mnt, "1", other + "=bogus"], "bad permission"),
                         (["del", m.mnt, "/nonexistent"], "no branch")]:
        r = layerctl("branch", *args, check=False)
        assert r.returncode == 1 and needle in r.stderr, (args, r.stderr)
    assert len(layerctl("branches", m.mnt).stdout.splitlines()) == 4
    # prepend goes right below the rw branch
    layerctl("branch", "prepend", m.mnt, other + "=ro")
    assert read(os.path.join(rundir_of(m), "br1")) == ("%s=ro\n" % other).encode()


def test_mod_changes_whiteout_honouring(three):
    u, m, rw, l1, l2 = three
    assert not os.path.exists(m.p("d", "x"))
    layerctl("branch", "mod", m.mnt, l1 + "=ro")      # l1's whiteouts no longer count
    assert read(m.p("d", "x")) == b"xx"
    layerctl("branch", "mod", m.mnt, "1=ro+wh")
    assert not os.path.exists(m.p("d", "x"))


def test_mod_rw_to_ro_makes_union_read_only(three):
    u, m, rw, l1, l2 = three
    layerctl("branch", "mod", m.mnt, rw + "=ro")
    with pytest.raises(OSError) as e:
        write(m.p("z"), "x")
    assert e.value.errno == 30   # EROFS
    layerctl("branch", "mod", m.mnt, "0=rw")
    write(m.p("z"), "x")
    assert read(os.path.join(rw, "z")) == b"x"


def test_other_user_is_refused(three):
    u, m, rw, l1, l2 = three

    def try_branches():
        r = subprocess.run([LAYERCTL_BIN, "branches", m.mnt], capture_output=True, text=True)
        return r.returncode, r.stderr

    kind, (rc, err) = as_user(65534, 65534, try_branches)
    assert kind == "ok"
    assert rc == 1 and "owner" in err, err
    def try_del():
        r = subprocess.run([LAYERCTL_BIN, "branch", "del", m.mnt, "2"], capture_output=True,
                           text=True)
        return r.returncode, r.stderr

    kind, (rc, err) = as_user(1001, 1001, try_del)
    assert (kind, rc) == ("ok", 1) and "owner" in err, err
    assert len(layerctl("branches", m.mnt).stdout.splitlines()) == 4


def test_suid_and_dev_mount_flags(three):
    """A container rootfs needs setuid programs and device nodes."""
    u, m, rw, l1, l2 = three
    line = [x for x in open("/proc/self/mountinfo").read().splitlines()
            if x.split()[4] == m.mnt][0]
    mount_opts = line.split()[5].split(",")
    assert "nosuid" not in mount_opts and "nodev" not in mount_opts, line
