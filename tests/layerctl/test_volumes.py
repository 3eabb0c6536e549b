"""Volumes, tmpfs mounts and a read-only root under real runc and crun:
mount propagation in each of Kubernetes' three modes, ro/rw volumes,
--read-only, what lands in the rw layer, bad input, the shared binds
layerctl makes for rslave/rshared sources, and the rootfs mount itself
(private, and usable when bound elsewhere, as kata does)."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runutil import (ctr, ctr_runc, make_ctr, finish_ctr, mountinfo, host_mounts_below,  # noqa: E402,F401
                     RUNTIMES, SLEEP)

MODES = ("rprivate", "rslave", "rshared")
# what reaches the other side, per mode (Kubernetes: None, HostToContainer, Bidirectional)
HOST_TO_CTR = {"rprivate": False, "rslave": True, "rshared": True}
CTR_TO_HOST = {"rprivate": False, "rshared": True, "rslave": False}


def mount_tmpfs(path, name):
    subprocess.run(["mount", "-t", "tmpfs", name, path], check=True)


def is_host_mountpoint(path):
    return any(m[2] == path for m in mountinfo())


@pytest.mark.parametrize("mode", MODES)
def test_volume_propagation(ctr, mode):
    src = ctr.hostpath("src")
    open(os.path.join(src, "hello"), "w").write("from the host\n")
    ctr.create("c1", "-v", "%s:/vol:%s" % (src, mode), "--tmpfs", "/tmp",
               "--cap-add", "SYS_ADMIN")
    assert ctr.run("c1", detach=True).stdout.strip() == "c1"
    assert ctr.state("c1") == "running"
    # the shared bind layerctl made for the propagating modes, and only for them
    assert is_host_mountpoint(src) == (mode != "rprivate")
    assert ctr.inspect("c1")["shared_mounts"] == ([src] if mode != "rprivate" else [])

    # host -> container
    fromhost = ctr.hostpath("src", "fromhost")
    mount_tmpfs(fromhost, "fromhost")
    open(os.path.join(fromhost, "h.txt"), "w").write("h\n")
    r = ctr.exec("c1", "/bin/busybox", "cat", "/vol/fromhost/h.txt", check=False)
    assert (r.returncode == 0 and r.stdout == "h\n") == HOST_TO_CTR[mode], r.stderr
    inside = {m[2]: m for m in ctr.container_mountinfo("c1")}
    assert ("/vol/fromhost" in inside) == HOST_TO_CTR[mode]

    # container -> host
    ctr.sh("c1", "mkdir -p /vol/fromctr && /bin/busybox mount -t tmpfs fromctr /vol/fromctr"
                 " && echo c > /vol/fromctr/c.txt")
    fromctr = os.path.join(src, "fromctr")
    assert is_host_mountpoint(fromctr) == CTR_TO_HOST[mode]
    assert os.path.exists(os.path.join(fromctr, "c.txt")) == CTR_TO_HOST[mode]

    # unmount both, each on its side
    subprocess.run(["umount", fromhost], check=True)
    ctr.exec("c1", "/bin/busybox", "umount", "/vol/fromctr")
    assert not is_host_mountpoint(fromctr) and not is_host_mountpoint(fromhost)
    inside = ctr.container_mountinfo("c1")
    byname = {m[2]: m for m in inside}
    assert "/vol/fromhost" not in byname and "/vol/fromctr" not in byname

    # the container's own view: the layerfs rootfs at /, its own /proc, the tmpfs /tmp
    assert byname["/"][3] == "fuse.layerfs" and byname["/"][4].startswith("layerfs:si_")
    assert byname["/proc"][3] == "proc"
    assert ctr.exec("c1", "/bin/busybox", "cat", "/proc/1/cmdline").stdout.split("\0")[:3] \
        == SLEEP
    assert byname["/tmp"][3] == "tmpfs"
    dev = ctr.exec("c1", "/bin/busybox", "stat", "-c", "%d", "/vol").stdout.strip()
    assert int(dev) == os.stat(src).st_dev          # /vol is the host's directory
    assert ctr.exec("c1", "/bin/busybox", "cat", "/vol/hello").stdout == "from the host\n"

    ctr.ctl("stop", "--time", "1", "c1")
    assert ctr.state("c1").startswith("exited")
    assert not is_host_mountpoint(ctr.cdir("c1", "mnt"))   # run mounted it, its end unmounts it
    ctr.ctl("rm", "c1")
    assert not is_host_mountpoint(src)                      # the shared bind is undone


def test_ro_rw_volumes_and_the_rw_layer(ctr):
    ro, rw = ctr.hostpath("ro"), ctr.hostpath("rw")
    open(os.path.join(ro, "keep"), "w").write("keep\n")
    ctr.create("c1", "-v", "%s:/data/ro:ro" % ro, "--mount", "type=bind,src=%s,dst=/data/rw" % rw,
               "--tmpfs", "/tmp", "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m")
    script = ("touch /data/ro/x 2>/tmp/err; echo ro=$?; /bin/busybox cat /tmp/err; "
              "echo written > /data/rw/new.txt && mkdir /data/rw/d && echo t > /tmp/t && "
              "echo s > /scratch/s && /bin/busybox cat /data/ro/keep")
    r = ctr.run("c1", "/bin/sh", "-c", script)
    assert "ro=1" in r.stdout and "Read-only file system" in r.stdout, r.stdout
    assert r.stdout.endswith("keep\n")
    assert open(os.path.join(rw, "new.txt")).read() == "written\n"
    assert os.path.isdir(os.path.join(rw, "d"))
    assert os.listdir(ro) == ["keep"]
    # nothing of the volumes or tmpfs mounts in the rw layer; mount points are init's
    rw_layer = ctr.cdir("c1", "rw")
    visible = [n for n in os.listdir(rw_layer) if not n.startswith(".wh..wh.")]
    assert visible == [], visible
    assert sorted(os.listdir(ctr.cdir("c1", "init", "data"))) == ["ro", "rw"]
    assert os.path.isdir(ctr.cdir("c1", "init", "tmp"))
    assert ctr.ctl("diff", "c1").stdout == ""
    # commit ignores them too: the new layer is empty
    ctr.ctl("commit", "c1", "bb:committed")
    img = [i for i in ctr.store.images().values() if "docker.io/library/bb:committed" in i["names"]][0]
    top = img["layers"][-1].split(":")[1]
    diff = ctr.store.p("layers", top, "diff")
    assert [n for n in os.listdir(diff)] == []


def test_read_only_root_with_a_writable_tmpfs(ctr):
    ctr.create("c1", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/run:size=1m,mode=0755")
    r = ctr.run("c1", "/bin/sh", "-c", "touch /x 2>&1; echo root=$?; echo a > /tmp/a && "
                "/bin/busybox cat /tmp/a && touch /run/r && echo run=$?", check=False)
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout and "root=1" in r.stdout
    assert "a\n" in r.stdout and "run=0" in r.stdout
    assert json.load(open(ctr.cdir("c1", "config.json")))["root"]["readonly"] is True
    visible = [n for n in os.listdir(ctr.cdir("c1", "rw")) if not n.startswith(".wh..wh.")]
    assert visible == []
    assert ctr.ctl("diff", "c1").stdout == ""


def test_file_volume_and_init_file(ctr):
    f = os.path.join(ctr.hostpath("files"), "app.conf")
    open(f, "w").write("volume file\n")
    extra = os.path.join(ctr.host, "files", "motd")
    open(extra, "w").write("init file\n")
    os.chmod(extra, 0o640)
    ctr.create("c1", "-v", "%s:/etc/app.conf:ro" % f, "--init-file", "%s:/etc/motd" % extra,
               "--init-file", "%s:/opt/new/dir/file" % extra)
    assert os.path.isfile(ctr.cdir("c1", "init", "etc", "app.conf"))   # a file mount point
    st = os.stat(ctr.cdir("c1", "init", "etc", "motd"))
    assert st.st_mode & 0o777 == 0o640
    r = ctr.run("c1", "/bin/sh", "-c", "/bin/busybox cat /etc/app.conf /etc/motd /opt/new/dir/file")
    assert r.stdout == "volume file\ninit file\ninit file\n"
    assert ctr.ctl("diff", "c1").stdout == ""


def test_init_layer_keeps_the_image_attributes_of_parents(ctr_runc):
    """A mount point below a directory of the image makes that directory
    in init/ with the image's mode and owner, not a stray 0755 root one."""
    ctr = ctr_runc
    iid = ctr.store.add_image("owned:1", [[("d", "home/app", 0o700)]], {"Cmd": SLEEP})
    chain = ctr.store.image(iid)["layers"][0].split(":")[1]
    os.chown(ctr.store.p("layers", chain, "diff", "home", "app"), 1000, 1000)
    ctr.create("c1", "--tmpfs", "/home/app/cache", image="owned:1")
    st = os.lstat(ctr.cdir("c1", "init", "home", "app"))
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o700, 1000, 1000)
    assert os.path.isdir(ctr.cdir("c1", "init", "home", "app", "cache"))


BAD = [
    (["-v", "data:/x"], "named volumes"),
    (["-v", "/nonexistent/src:/x"], "No such file"),
    (["-v", "{src}:relative"], "not absolute"),
    (["-v", "{src}:/"], "over /"),
    (["-v", "{src}://./"], "over /"),
    (["-v", "{src}:/a/../b"], ".."),
    (["-v", "{src}:/x", "--tmpfs", "/x/"], "two mounts at /x"),
    (["-v", "{src}:/x:bogus"], "unknown option 'bogus'"),
    (["-v", "{src}:/x:ro,rw"], "both ro and rw"),
    (["-v", "{src}:/x:rshared,rslave"], "two propagation"),
    (["-v", "{src}"], "HOST:CONTAINER"),
    (["--mount", "type=volume,src=v,dst=/x"], "type must be bind or tmpfs"),
    (["--mount", "type=bind,dst=/x"], "needs source"),
    (["--mount", "type=tmpfs,src=/a,dst=/x"], "no source"),
    (["--mount", "type=bind,src={src},dst=/x,color=red"], "unknown key 'color'"),
    (["--mount", "type=tmpfs,dst=/x,tmpfs-size=lots"], "tmpfs-size"),
    (["--mount", "type=bind,src={src},dst=/x,bind-propagation=sideways"], "bind-propagation"),
    (["--tmpfs", "/x:bogus=1"], "unknown or malformed option 'bogus=1'"),
    (["--tmpfs", "relative"], "not absolute"),
    (["-v", "{src}:/x:rshared", "--rootfs-propagation", "private"], "needs --rootfs-propagation shared"),
    (["-v", "{src}:/x:rslave", "--rootfs-propagation", "private"], "slave or shared"),
    (["--rootfs-propagation", "upwards"], "private, slave or shared"),
    (["--cap-add", "CAP_NOPE"], "no such capability"),
    (["-w", "relative/dir"], "not absolute"),
    (["--init-file", "/nonexistent:/x"], "No such file"),
    (["--init-file", "{src}:/x"], "not a regular file"),
    (["--hostname", "bad name"], "--hostname"),
    (["-e", "=value"], "no variable name"),
    (["--env-file", "/nonexistent/env"], "No such file"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_creates_nothing(ctr_runc, args, message):
    ctr = ctr_runc
    src = ctr.hostpath("src")
    top = os.path.dirname(ctr.store.root)
    before = host_mounts_below(top)       # ours only: other tests may mount meanwhile
    args = [a.replace("{src}", src) for a in args]
    r = ctr.create("c1", *args, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerctl: create: "), r.stderr
    assert message in lines[0], lines[0]
    assert os.listdir(ctr.store.p("containers")) == []
    assert os.listdir(ctr.store.p("tmp")) == []
    assert host_mounts_below(top) == before
    assert not os.path.exists(ctr.store.p("shared-mounts.json")) or \
        json.load(open(ctr.store.p("shared-mounts.json")))["mounts"] == []


def test_unknown_option_is_usage(ctr_runc):
    ctr = ctr_runc
    r = ctr.create("c1", "--frobnicate", check=False)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown option --frobnicate" in r.stderr
    r = ctr.ctl("create", "bb:test", check=False)
    assert r.returncode == 2 and r.stderr.startswith("usage: layerctl create")
    assert os.listdir(ctr.store.p("containers")) == []


def test_shared_bind_is_undone_by_the_last_rm(ctr_runc):
    ctr = ctr_runc
    """Two containers on one rshared source: one bind, undone when the
    second one goes; a source below a shared mount needs none."""
    src = ctr.hostpath("src")
    ctr.create("a", "-v", "%s:/vol:rshared" % src)
    ctr.create("b", "-v", "%s:/other:rslave" % src)
    binds = [m for m in mountinfo() if m[2] == src]
    assert len(binds) == 1 and any(o.startswith("shared:") for o in binds[0][5])
    rec = json.load(open(ctr.store.p("shared-mounts.json")))["mounts"]
    assert [(m["path"], sorted(m["containers"])) for m in rec] == [(src, ["a", "b"])]
    sub = ctr.hostpath("src", "sub")
    ctr.create("c", "-v", "%s:/sub:rshared" % sub)      # on our shared bind already
    assert not is_host_mountpoint(sub)
    ctr.ctl("rm", "a")
    assert is_host_mountpoint(src)
    ctr.ctl("rm", "b")
    assert is_host_mountpoint(src)                      # c still relies on it
    ctr.ctl("rm", "c")
    assert not is_host_mountpoint(src)
    assert json.load(open(ctr.store.p("shared-mounts.json")))["mounts"] == []


def test_shared_bind_refused_over_mounts_below(ctr_runc):
    ctr = ctr_runc
    src = ctr.hostpath("src")
    below = ctr.hostpath("src", "below")
    subprocess.run(["mount", "-t", "tmpfs", "below", below], check=True)
    r = ctr.create("c1", "-v", "%s:/vol:rshared" % src, check=False)
    assert r.returncode == 1 and "mount --make-rshared" in r.stderr
    assert r.stderr.count("\n") == 1
    assert os.listdir(ctr.store.p("containers")) == []
    subprocess.run(["umount", below], check=True)


def test_run_redoes_a_lost_shared_bind(ctr):
    """After a reboot the bind is gone: run makes it again."""
    src = ctr.hostpath("src")
    ctr.create("c1", "-v", "%s:/vol:rslave" % src)
    subprocess.run(["umount", src], check=True)
    assert not is_host_mountpoint(src)
    ctr.run("c1", "/bin/busybox", "true")
    assert is_host_mountpoint(src)
    ctr.ctl("rm", "c1")
    assert not is_host_mountpoint(src)


@pytest.fixture(params=RUNTIMES)
def shared_host(request):
    """A store on a shared mount, as / is on a systemd host."""
    top, c = make_ctr(request.param)
    subprocess.run(["mount", "--bind", top, top], check=True)
    subprocess.run(["mount", "--make-rshared", top], check=True)
    reports = []
    try:
        yield c
    finally:
        try:
            reports = c.cleanup()
            c.store.cleanup()
        finally:
            subprocess.run(["umount", "-l", top], capture_output=True)
            finish_ctr(top, c, reports)


def test_rootfs_mount_is_private_and_nothing_spreads(shared_host):
    """Mounted below a shared mount (/ on a systemd host), the rootfs is
    private and no other mount namespace gets a copy of it (only of the
    private guard bind it sits on, which goes when it goes)."""
    c = shared_host
    c.create("c1")
    peer = subprocess.Popen(["unshare", "-m", "--propagation", "unchanged", "sleep", "600"])
    try:
        def peer_mounts():
            with open("/proc/%d/mountinfo" % peer.pid) as f:
                return [m for m in mountinfo(f.read()) if m[2] == mnt]
        mnt = c.cdir("c1", "mnt")
        deadline = time.time() + 10     # until the peer namespace exists
        while os.readlink("/proc/%d/ns/mnt" % peer.pid) == os.readlink("/proc/self/ns/mnt"):
            assert time.time() < deadline
            time.sleep(0.02)
        assert c.ctl("mount", "c1").stdout.strip() == mnt
        rootfs = [m for m in mountinfo() if m[2] == mnt]
        assert rootfs[-1][3] == "fuse.layerfs"
        assert not any(o.startswith("shared:") for o in rootfs[-1][5]), rootfs
        assert [m[3] for m in peer_mounts()] in ([], ["ext4"], ["xfs"], ["tmpfs"]), peer_mounts()
        assert all(m[3] != "fuse.layerfs" for m in peer_mounts())
        c.ctl("umount", "c1")
        assert [m for m in mountinfo() if m[2] == mnt] == []   # the guard went too
        assert peer_mounts() == []
        c.ctl("mount", "c1")                                    # and again
        c.ctl("rm", "--force", "c1")
        assert [m for m in mountinfo() if m[2] == mnt] == [] and peer_mounts() == []
    finally:
        peer.kill()
        peer.wait()


def test_runtime_mounts_do_not_come_back_out(shared_host):
    """An rshared root (for an rshared volume): the runtime's /proc, /dev,
    ... must not come back out through the rootfs mount."""
    c = shared_host
    src = c.hostpath("src")
    c.create("c2", "-v", "%s:/vol:rshared" % src, "--tmpfs", "/tmp")
    c.run("c2", detach=True)
    mnt2 = c.cdir("c2", "mnt")
    assert [m[3] for m in host_mounts_below(mnt2)][-1] == "fuse.layerfs"
    assert [m[2] for m in host_mounts_below(mnt2) if m[2] != mnt2] == []
    c.ctl("stop", "--time", "0", "c2")


def test_rootfs_bound_elsewhere_follows_branch_changes(ctr_runc):
    ctr = ctr_runc
    """A sandbox's shared directory (kata) binds the rootfs: reads, writes
    and a branch added to the live mount all show through the bind."""
    ctr.create("c1")
    mnt = ctr.ctl("mount", "c1").stdout.strip()
    shared = ctr.hostpath("sandbox", "shared", "c1", "rootfs")
    subprocess.run(["mount", "--bind", mnt, shared], check=True)
    try:
        assert open(os.path.join(shared, "etc/os-release")).read() == "ID=bb\n"
        extra = ctr.hostpath("extra")
        os.makedirs(os.path.join(extra, "opt"))
        open(os.path.join(extra, "opt", "added"), "w").write("added\n")
        ctr.ctl("branch", "append", mnt, "%s=ro" % extra)
        assert open(os.path.join(shared, "opt", "added")).read() == "added\n"
        open(os.path.join(shared, "etc", "written"), "w").write("w\n")
        assert open(ctr.cdir("c1", "rw", "etc", "written")).read() == "w\n"
        ctr.ctl("branch", "del", mnt, extra)
        assert not os.path.exists(os.path.join(shared, "opt", "added"))
    finally:
        subprocess.run(["umount", shared], check=True)
    ctr.ctl("umount", "c1")
