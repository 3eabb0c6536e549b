"""layerctl create / mount / umount / rm / ps / run / diff on a store built
by hand (ctrutil), with real layerfs mounts."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctrutil import cstore, sample_image, is_mounted  # noqa: E402,F401

INIT_TREE = {
    "etc": "d", "etc/hosts": "f", "etc/hostname": "f", "etc/resolv.conf": "f",
    "etc/mtab": "l", "dev": "d", "dev/console": "f", "dev/pts": "d", "dev/shm": "d",
    "dev/mqueue": "d", "proc": "d", "sys": "d",
}


def tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            st = os.lstat(full)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            out[os.path.relpath(full, root)] = kind
    return out


def created(cstore, name="c1", config=None):
    sample_image(cstore, config=config)
    cstore.ctl("create", "test/sample:1", name)
    return cstore.cdir(name)


def test_create_makes_init_stubs_and_empty_rw(cstore):
    c = created(cstore)
    assert sorted(os.listdir(c)) == ["config.json", "container.json", "init", "mnt", "rw"]
    assert tree(os.path.join(c, "init")) == INIT_TREE
    assert os.listdir(os.path.join(c, "rw")) == []
    assert os.listdir(os.path.join(c, "mnt")) == []
    init = os.path.join(c, "init")
    assert open(os.path.join(init, "etc/hostname")).read() == "c1\n"
    hosts = open(os.path.join(init, "etc/hosts")).read()
    assert "localhost" in hosts and "\tc1\n" in hosts
    assert "nameserver" in open(os.path.join(init, "etc/resolv.conf")).read()
    assert os.readlink(os.path.join(init, "etc/mtab")) == "/proc/mounts"
    meta = json.load(open(os.path.join(c, "container.json")))
    img = cstore.image(meta["image"][7:])
    assert meta["name"] == "c1" and meta["layers"] == img["layers"]
    assert os.listdir(cstore.p("tmp")) == []


def test_create_refuses_existing_and_invalid_names(cstore):
    created(cstore)
    r = cstore.ctl("create", "test/sample:1", "c1", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    for bad in ("-x", ".hidden", "a/b", "x" * 200, "a b"):
        r = cstore.ctl("create", "test/sample:1", bad, check=False)
        assert r.returncode != 0, bad
    r = cstore.ctl("create", "no/such:image", "c2", check=False)
    assert r.returncode == 1 and "no such image" in r.stderr
    assert sorted(os.listdir(cstore.p("containers"))) == ["c1"]


def test_config_json(cstore):
    c = created(cstore, config={"Entrypoint": ["/bin/app"], "Cmd": ["--flag"],
                                "Env": ["FOO=bar"], "WorkingDir": "/app",
                                "User": "app:staff"})
    cfg = json.load(open(os.path.join(c, "config.json")))
    p = cfg["process"]
    assert p["args"] == ["/bin/app", "--flag"]
    assert "FOO=bar" in p["env"] and any(e.startswith("PATH=") for e in p["env"])
    assert p["cwd"] == "/app"
    assert p["user"]["uid"] == 1000 and p["user"]["gid"] == 50
    assert cfg["root"] == {"path": "mnt", "readonly": False}
    assert cfg["hostname"] == "c1"
    dests = {m["destination"]: m for m in cfg["mounts"]}
    assert set(dests) == {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}
    assert "ro" in dests["/sys"]["options"] and "newinstance" in dests["/dev/pts"]["options"]
    lx = cfg["linux"]
    assert sorted(n["type"] for n in lx["namespaces"]) == ["ipc", "mount", "network", "pid", "uts"]
    assert lx["rootfsPropagation"] == "rslave"   # runc's default, written for crun too
    assert "/proc/kcore" in lx["maskedPaths"] and "/proc/sys" in lx["readonlyPaths"]
    assert "CAP_CHOWN" in p["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" not in p["capabilities"]["bounding"]
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]


def test_config_user_numeric_and_default(cstore):
    c = created(cstore, config={"Cmd": ["sh"], "User": "1234:55"})
    u = json.load(open(os.path.join(c, "config.json")))["process"]["user"]
    assert (u["uid"], u["gid"]) == (1234, 55)
    cstore.add_image("plain:1", [[("f", "x", "y")]], {"Cmd": ["sh"]})
    cstore.ctl("create", "plain:1", "c2")
    cfg = json.load(open(cstore.cdir("c2", "config.json")))
    assert cfg["process"]["user"]["uid"] == 0 and cfg["process"]["cwd"] == "/"
    assert cfg["process"]["args"] == ["sh"]


def test_config_user_follows_the_union_rule(cstore):
    """The user is looked up in etc/passwd as the merged image shows it:
    an upper layer that makes etc a symlink (or whites out a parent) hides
    the lower layer's etc/passwd, however deep the hiding entry is."""
    passwd = ("f", "etc/passwd", "root:x:0:0::/:/bin/sh\nalice:x:1234:99::/:/bin/sh\n")
    cstore.add_image("hidden:1", [[passwd], [("l", "etc", "usr/etc")]],
                     {"Cmd": ["sh"], "User": "alice"})
    r = cstore.ctl("create", "hidden:1", "c1")
    assert "alice is not in the image's etc/passwd" in r.stderr
    u = json.load(open(cstore.cdir("c1", "config.json")))["process"]["user"]
    assert u["uid"] == 0
    # visible through a merged directory whose copy above lacks the file
    cstore.add_image("merged:1", [[passwd], [("f", "etc/motd", "hi\n")]],
                     {"Cmd": ["sh"], "User": "alice"})
    cstore.ctl("create", "merged:1", "c2")
    u = json.load(open(cstore.cdir("c2", "config.json")))["process"]["user"]
    assert (u["uid"], u["gid"]) == (1234, 99)


def test_mount_merged_view_and_precedence(cstore):
    c = created(cstore)
    r = cstore.ctl("mount", "c1")
    mnt = os.path.join(c, "mnt")
    assert r.stdout.strip() == mnt and is_mounted(mnt)
    # the image's files, the init stubs, the upper layer wins, whiteout and opaque honoured
    assert open(os.path.join(mnt, "etc/os-release")).read() == "ID=middle\n"
    assert open(os.path.join(mnt, "etc/hostname")).read() == "c1\n"
    assert os.path.islink(os.path.join(mnt, "etc/mtab"))
    assert sorted(os.listdir(os.path.join(mnt, "usr/share/doc"))) == ["a.txt"]
    assert sorted(os.listdir(os.path.join(mnt, "var/cache"))) == ["app.cache"]
    assert os.path.isdir(os.path.join(mnt, "dev/pts"))
    # init is above the image layers: a file in init hides the image's copy
    with open(cstore.cdir("c1", "init", "etc", "os-release"), "w") as f:
        f.write("ID=init\n")
    cstore.ctl("umount", "c1")
    cstore.ctl("mount", "c1")
    assert open(os.path.join(mnt, "etc/os-release")).read() == "ID=init\n"
    # rw is above init
    with open(os.path.join(mnt, "etc/os-release"), "w") as f:
        f.write("ID=rw\n")
    assert open(cstore.cdir("c1", "rw", "etc", "os-release")).read() == "ID=rw\n"
    # again: says so, exit 0
    r = cstore.ctl("mount", "c1")
    assert "already" in r.stderr and r.stdout.strip() == mnt
    cstore.ctl("umount", "c1")
    assert not is_mounted(mnt)
    cstore.ctl("umount", "c1")   # not mounted: fine


def test_writes_land_in_rw(cstore):
    c = created(cstore)
    cstore.ctl("mount", "c1")
    mnt = os.path.join(c, "mnt")
    with open(os.path.join(mnt, "new.txt"), "w") as f:
        f.write("new\n")
    os.unlink(os.path.join(mnt, "usr/share/doc/a.txt"))
    with open(os.path.join(mnt, "etc/motd"), "a") as f:
        f.write("more\n")
    cstore.ctl("umount", "c1")
    rw = os.path.join(c, "rw")
    assert open(os.path.join(rw, "new.txt")).read() == "new\n"
    assert os.path.exists(os.path.join(rw, "usr/share/doc/.wh.a.txt"))
    assert open(os.path.join(rw, "etc/motd")).read() == "middle motd\nmore\n"
    layers = [os.path.join(cstore.p("layers"), d, "diff") for d in os.listdir(cstore.p("layers"))]
    assert all(not os.path.exists(os.path.join(l, "new.txt")) for l in layers)


def test_ps_states(cstore):
    created(cstore)
    cstore.ctl("create", "test/sample:1", "c2")
    cstore.ctl("mount", "c2")
    lines = cstore.ctl("ps").stdout.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "STATE", "CREATED"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert rows["c1"][1:3] == ["test/sample:1", "created"]
    assert rows["c2"][2] == "mounted"


def test_rm_refuses_while_mounted_force_unmounts(cstore):
    c = created(cstore)
    cstore.ctl("mount", "c1")
    r = cstore.ctl("rm", "c1", check=False)
    assert r.returncode == 1 and "mounted" in r.stderr
    assert os.path.isdir(c)
    cstore.ctl("rm", "--force", "c1")
    assert not os.path.exists(c) and not is_mounted(os.path.join(c, "mnt"))
    assert os.listdir(cstore.p("tmp")) == []
    r = cstore.ctl("rm", "c1", check=False)
    assert r.returncode == 1 and "no container" in r.stderr


def daemon_pid(mnt):
    """pid of the layerfs daemon serving MNT."""
    out = subprocess.run(["pgrep", "-f", "^%s " % os.path.realpath(
        os.environ.get("LAYERFS_BIN", ""))], capture_output=True, text=True).stdout.split()
    for pid in out:
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if mnt.encode() in cmd:
            return int(pid)
    return None


def test_dead_daemon_reported_and_umount_force(cstore):
    c = created(cstore)
    cstore.ctl("mount", "c1")
    mnt = os.path.join(c, "mnt")
    pid = daemon_pid(mnt)
    assert pid, "cannot find the layerfs daemon of %s" % mnt
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.05)
    rows = {l.split()[0]: l.split() for l in cstore.ctl("ps").stdout.splitlines()[1:]}
    assert rows["c1"][2] == "dead-mount"
    r = cstore.ctl("mount", "c1", check=False)
    assert r.returncode == 1 and "umount --force" in r.stderr
    cstore.ctl("umount", "--force", "c1")
    assert not is_mounted(mnt)
    cstore.ctl("mount", "c1")   # and it mounts again
    assert os.path.exists(os.path.join(mnt, "etc/os-release"))


def diff_lines(cstore, name="c1"):
    return cstore.ctl("diff", name).stdout.splitlines()


def test_diff_after_create_is_empty(cstore):
    created(cstore)
    cstore.ctl("mount", "c1")   # mounting makes layerfs metadata in rw/
    assert diff_lines(cstore) == []


def test_diff_add_change_delete_opaque(cstore):
    c = created(cstore)
    cstore.ctl("mount", "c1")
    mnt = os.path.join(c, "mnt")
    open(os.path.join(mnt, "newfile"), "w").write("n")
    os.makedirs(os.path.join(mnt, "newdir/sub"))
    open(os.path.join(mnt, "newdir/sub/f"), "w").write("f")
    with open(os.path.join(mnt, "etc/motd"), "a") as f:
        f.write("x")
    os.chmod(os.path.join(mnt, "etc/hostname"), 0o600)   # an init file
    os.unlink(os.path.join(mnt, "usr/share/doc/a.txt"))
    shutil.rmtree(os.path.join(mnt, "opt/tool"))
    shutil.rmtree(os.path.join(mnt, "usr/bin"))
    os.mkdir(os.path.join(mnt, "usr/bin"))                # opaque, re-made
    open(os.path.join(mnt, "usr/bin/hello"), "w").write("again")
    assert diff_lines(cstore) == [
        "C /etc", "C /etc/hostname", "C /etc/motd",
        "A /newdir", "A /newdir/sub", "A /newdir/sub/f", "A /newfile",
        "C /opt", "D /opt/tool",
        "C /usr", "C /usr/bin", "D /usr/bin/app", "C /usr/bin/hello",
        "C /usr/share", "C /usr/share/doc", "D /usr/share/doc/a.txt",
    ]
    out = cstore.ctl("diff", "c1").stdout
    assert ".wh." not in out


def test_diff_unknown_container(cstore):
    r = cstore.ctl("diff", "nope", check=False)
    assert r.returncode == 1 and "no container" in r.stderr


def test_run_without_runtime_is_a_clear_error(cstore):
    created(cstore)
    r = cstore.ctl("run", "c1", "true", check=False,
                   env={"LAYERCTL_RUNTIME": "/nonexistent/runc"})
    assert r.returncode == 1 and "not installed" in r.stderr
    assert not is_mounted(cstore.cdir("c1", "mnt"))


def is_static_elf(path):
    """A 64-bit little-endian ELF without a PT_INTERP program header."""
    import struct
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        ptype, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if ptype == 3:   # PT_INTERP
            return False
    return True


def busybox_static():
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p) and is_static_elf(p):
            return p
    return None


def runtime_for_test():
    if os.environ.get("LAYERCTL_RUNTIME"):
        return os.environ["LAYERCTL_RUNTIME"]
    return shutil.which("runc") or shutil.which("crun")


def test_run_busybox_writes_into_rw(cstore):
    rt = runtime_for_test()
    bb = busybox_static()
    if not rt or not bb:
        pytest.fail("needs runc or crun and busybox-static (scripts/deps.sh installs them)")
    data = open(bb, "rb").read()
    base = [("f", "bin/busybox", data, 0o755), ("l", "bin/sh", "busybox"),
            ("f", "etc/gone", "delete me\n"), ("d", "tmp", 0o1777)]
    cstore.add_image("busybox:test", [base], {"Cmd": ["/bin/sh", "-c", "exit 3"]})
    cstore.ctl("create", "busybox:test", "bb")
    r = cstore.ctl("run", "bb", check=False, timeout=120)
    assert r.returncode == 3, r.stderr
    r = cstore.ctl("run", "bb", "/bin/sh", "-c",
                   "echo hi > /hello.txt && rm /etc/gone && /bin/busybox hostname",
                   check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "bb"
    assert not is_mounted(cstore.cdir("bb", "mnt"))   # run mounted it, run unmounted it
    assert open(cstore.cdir("bb", "rw", "hello.txt")).read() == "hi\n"
    assert os.path.exists(cstore.cdir("bb", "rw", "etc", ".wh.gone"))
    assert diff_lines(cstore, "bb") == ["C /etc", "D /etc/gone", "A /hello.txt"]


def test_branches_of_a_mounted_container_follow_the_store(cstore):
    """`layerctl branches` on a container mounted by `layerctl mount` lists
    rw, init, then the image's layers top to bottom, as the store has them."""
    c = created(cstore)
    cstore.ctl("mount", "c1")
    mnt = os.path.join(c, "mnt")
    doc = json.loads(cstore.ctl("branches", "--json", mnt).stdout)
    container = json.load(open(cstore.cdir("c1", "container.json")))
    layers = [x.split(":")[-1] for x in container["layers"]]      # bottom first
    want = [os.path.realpath(cstore.cdir("c1", "rw")), os.path.realpath(cstore.cdir("c1", "init"))]
    want += [os.path.realpath(cstore.p("layers", h, "diff")) for h in reversed(layers)]
    got = [(b["index"], b["perm"], b["path"]) for b in doc["branches"]]
    assert got == [(i, "rw" if i == 0 else "ro+wh", p) for i, p in enumerate(want)]
    assert doc["mountpoint"] == os.path.realpath(mnt)
    cstore.ctl("umount", "c1")
