"""layerctl on images that real tools made (see realimages.py): every tag
of a umoci layout, every spelling skopeo has for it, a two-platform index
made by buildah, a scratch image; the merged tree (create + mount) equals
`umoci unpack` of the same tag. Also: the store is private (0700), the
rootfs is mounted nodev unless asked, setuid keeps working."""
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

import realimages
from ctrutil import cstore, is_mounted  # noqa: F401
from realimages import TAGS, manifest_of, need_tools, sh
from test_e2e import compare_trees, hardlink_groups, init_entries, mounted_tree, snapshot, \
    umoci_rootfs, whole_seconds, without


class Built:
    def __init__(self, work):
        self.work = work
        self.layout = realimages.build_layout(work)
        self.multi = realimages.build_multi(work, self.layout)
        self.trees, self.links = {}, {}
        for tag in TAGS:
            rootfs = umoci_rootfs(self.layout, tag, os.path.join(work, "umoci-" + tag))
            self.trees[tag] = snapshot(rootfs)
            self.links[tag] = hardlink_groups(rootfs)


@pytest.fixture(scope="module")
def built():
    need_tools("umoci", "skopeo", "buildah", "tar")
    d = tempfile.mkdtemp(prefix="layerctl-real-", dir="/tmp")
    try:
        yield Built(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# umoci leaves the time of unpacking on data/ in v2: it makes data/late
# itself for data/late/f, listed before data/late's own entry, after it set
# data/'s time from the tar. layerctl keeps the tar header's time (as docker
# and containerd do, setting directory times last); so data/'s mtime is not
# compared for v2 (it is checked against the tar header instead).
UMOCI_DIR_TIME_QUIRK = {"v2": {"data"}}


def no_mtime(tree, paths):
    return {p: (v[:-1] + (None,) if p in paths else v) for p, v in tree.items()}


def check_merged(cstore, image, tree, links, name="c", loose=()):
    """create + mount of image shows tree (umoci's), init entries aside."""
    cstore.ctl("create", image, name)
    mnt = cstore.ctl("mount", name).stdout.strip()
    assert is_mounted(mnt)
    every, files = init_entries(cstore, name)
    assert not sorted(files & set(tree)), "the init layer hides image files"
    got, got_links = mounted_tree(cstore, name)
    diff = compare_trees(no_mtime(without(tree, every), loose), no_mtime(got, loose))
    assert not diff, "layerctl create + mount differs from umoci unpack:\n" + diff
    assert got_links == links
    return mnt


def test_the_images_are_what_they_should_be(built):
    """Guards the comparisons: the tags hold what the test means them to."""
    assert manifest_of(built.layout, "scratch")[1]["layers"] == []
    v2 = built.trees["v2"]
    assert v2["data/dir_to_symlink"][0] == "symlink"
    assert not any(p.startswith("data/dir_to_symlink/") for p in v2)
    assert sorted(p for p in v2 if p.startswith("data/opqdir/")) == ["data/opqdir/new"]
    assert v2["data/late"][:2] == ("dir", 0o700)
    assert ["data/hl1", "data/hl2"] in built.links["v2"]
    assert v2["data/null"][0] == "chardev"
    assert built.trees["v1"]["data/dir_to_symlink"][0] == "dir"
    assert built.trees["scratch"] == {}
    with open(os.path.join(built.work, "layer-v2.tar"), "rb") as f:
        raw = f.read()
    # the whiteouts really come after the symlink in the tar
    assert raw.index(b"./data/dir_to_symlink/.wh.x") > raw.index(b"./data/dir_to_symlink\0")
    index = json.load(open(os.path.join(built.multi, "index.json")))
    assert index["manifests"][0]["mediaType"].endswith("image.index.v1+json")


@pytest.mark.parametrize("tag", TAGS)
def test_every_tag_equals_umoci_unpack(built, cstore, tag):
    out = cstore.ctl("unpack", "-q", "oci:%s:%s" % (built.layout, tag)).stdout
    assert "Loaded image: layout:%s" % tag in out
    loose = UMOCI_DIR_TIME_QUIRK.get(tag, set())
    mnt = check_merged(cstore, "layout:" + tag, built.trees[tag], built.links[tag],
                       loose=loose)
    if loose:
        with open(os.path.join(built.work, "layer-v2.tar"), "rb") as f:
            import tarfile
            with tarfile.open(fileobj=f) as t:
                header = t.getmember("./data").mtime
        assert os.lstat(os.path.join(mnt, "data")).st_mtime == header
    cstore.ctl("umount", "c")


def test_symlink_layer_whiteouts_dropped_with_a_note(built, cstore):
    r = cstore.ctl("unpack", "-q", "oci:%s:v2" % built.layout)
    assert "2 whiteouts below a non-directory of the same layer dropped" in r.stderr, r.stderr


def test_no_tag_lists_the_tags(built, cstore):
    r = cstore.ctl("unpack", built.layout, check=False)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert "several images" in lines[0] and built.layout + ":TAG" in lines[0]
    assert lines[1:] == ["  scratch", "  v1", "  v2"]
    r = cstore.ctl("unpack", "oci:%s:v9" % built.layout, check=False)
    assert r.returncode == 1
    assert "no image tagged v9" in r.stderr and "\n  v1\n" in r.stderr
    assert os.listdir(cstore.p("images")) == [] and os.listdir(cstore.p("layers")) == []


def test_spellings(built, cstore):
    """Each of skopeo's spellings for one image gives the same image id."""
    work = tempfile.mkdtemp(dir=built.work)
    archive = os.path.join(work, "v2.oci.tar")
    dockertar = os.path.join(work, "v2.docker.tar")
    sh("skopeo", "copy", "-q", "oci:%s:v2" % built.layout, "oci-archive:%s:v2" % archive)
    sh("skopeo", "copy", "-q", "oci:%s:v2" % built.layout,
       "docker-archive:%s:example.com/real/img:v2" % dockertar)
    desc, _ = manifest_of(built.layout, "v2")
    ids = set()
    for spelling in ["oci:%s:v2" % built.layout, "%s:v2" % built.layout,
                     "oci:%s@%s" % (built.layout, desc["digest"]),
                     "%s@%s" % (built.layout, desc["digest"]),
                     "oci-archive:%s:v2" % archive, "%s:v2" % archive]:
        out = cstore.ctl("unpack", "-q", spelling).stdout
        ids.add(out.split("Loaded image ID: ")[1].split()[0])
    assert len(ids) == 1, ids
    # skopeo's docker-archive has a config of its own making (docker's form)
    out = cstore.ctl("unpack", "-q", "docker-archive:%s:example.com/real/img:v2" % dockertar).stdout
    assert "Loaded image: example.com/real/img:v2" in out
    out2 = cstore.ctl("unpack", "-q", dockertar).stdout
    assert out.split()[3] == out2.split()[3]
    r = cstore.ctl("unpack", "docker-archive:%s:other:1" % dockertar, check=False)
    assert r.returncode == 1 and "no image named other:1" in r.stderr
    assert "\n  @0: example.com/real/img:v2" in r.stderr
    check_merged(cstore, "example.com/real/img:v2", built.trees["v2"], built.links["v2"],
                 loose={"data"})
    cstore.ctl("umount", "c")


def test_platforms_of_a_buildah_index(built, cstore):
    multi = built.multi
    r = cstore.ctl("unpack", "-q", "oci:%s:list" % multi, "--platform", "linux/s390x",
                   check=False)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert "none for linux/s390x" in lines[0] and "--platform" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == ["linux/amd64", "linux/arm64/v8"]
    assert os.listdir(cstore.p("images")) == []
    arm = cstore.ctl("unpack", "-q", "oci:%s:list" % multi, "--platform", "linux/arm64",
                     "--name", "arm:1").stdout
    amd = cstore.ctl("unpack", "-q", "%s:list" % multi, "--platform", "linux/amd64",
                     "--name", "amd:1").stdout
    assert arm.split()[3] != amd.split()[3]
    host = cstore.ctl("unpack", "-q", multi, "--name", "host:1").stdout   # one tag
    assert host.split()[3] == amd.split()[3]     # this machine is linux/amd64
    check_merged(cstore, "arm:1", built.trees["v2"], built.links["v2"], "a", loose={"data"})
    check_merged(cstore, "amd:1", built.trees["v1"], built.links["v1"], "b")
    cstore.ctl("umount", "a")
    cstore.ctl("umount", "b")


def test_scratch_image_create_mount_commit(built, cstore):
    cstore.ctl("unpack", "-q", "oci:%s:scratch" % built.layout, "--name", "empty:1")
    img = [i for i in cstore.images().values() if "docker.io/library/empty:1" in i["names"]][0]
    assert img["layers"] == []
    cstore.ctl("create", "empty:1", "s")
    mnt = cstore.ctl("mount", "s").stdout.strip()
    assert sorted(os.listdir(mnt)) == ["dev", "etc", "proc", "sys"]
    with open(os.path.join(mnt, "made-here"), "w") as f:
        f.write("in a scratch container\n")
    cstore.ctl("umount", "s")
    cstore.ctl("commit", "s", "empty:2")
    out = os.path.join(tempfile.mkdtemp(dir=built.work), "oci")
    cstore.ctl("export", "empty:2", "--oci", out)
    rootfs = umoci_rootfs(out, "2", os.path.join(os.path.dirname(out), "bundle"))
    assert sorted(os.listdir(rootfs)) == ["made-here"]


def test_store_is_private(built, cstore):
    cstore.ctl("unpack", "-q", "oci:%s:v1" % built.layout)
    for d in (cstore.root, cstore.p("layers")):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    # an older store, open to all, is closed at its next use
    os.chmod(cstore.root, 0o755)
    os.chmod(cstore.p("layers"), 0o755)
    cstore.ctl("images")
    for d in (cstore.root, cstore.p("layers")):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d


def mount_options(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mnt:
                return set(fields[5].split(","))
    raise AssertionError("%s is not mounted" % mnt)


def test_rootfs_nodev_unless_asked(built, cstore):
    cstore.ctl("unpack", "-q", "oci:%s:v1" % built.layout)
    mnt = check_merged(cstore, "layout:v1", built.trees["v1"], built.links["v1"])
    opts = mount_options(mnt)
    assert "nodev" in opts and "nosuid" not in opts, opts
    null = os.path.join(mnt, "data/null")
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    with pytest.raises(PermissionError):
        open(null, "wb")
    # setuid bits are there and honoured (nosuid is not set)
    assert os.stat(os.path.join(mnt, "data/setuid")).st_mode & stat.S_ISUID
    r = cstore.ctl("mount", "--dev", "c", check=False)
    assert r.returncode == 1 and "umount" in r.stderr
    cstore.ctl("umount", "c")
    cstore.ctl("mount", "--dev", "c")
    assert "nodev" not in mount_options(mnt)
    with open(null, "wb") as f:
        f.write(b"x")
    ctr = json.load(open(cstore.cdir("c", "container.json")))
    assert ctr["dev"] is True
    cstore.ctl("umount", "c")
    cstore.ctl("mount", "c")                 # recorded: still dev
    assert "nodev" not in mount_options(mnt)
    cstore.ctl("umount", "c")
    cstore.ctl("mount", "--nodev", "c")
    assert "nodev" in mount_options(mnt)
    cstore.ctl("umount", "c")


def test_setuid_works_in_the_container(built, cstore):
    """runc in the container: the setuid file keeps mode 4755 and its owner
    as seen from inside (the rootfs is not mounted nosuid)."""
    if shutil.which("runc") is None:
        pytest.fail("runc is not installed (scripts/deps.sh installs it)")
    cstore.ctl("unpack", "-q", "oci:%s:v1" % built.layout)
    cstore.ctl("create", "layout:v1", "r")
    r = cstore.ctl("run", "r", "/bin/sh", "-c", "stat -c '%a %u' /data/setuid; "
                   "grep ' / ' /proc/self/mountinfo", check=False, timeout=120,
                   env={"LAYERCTL_RUNTIME": "runc"})
    subprocess.run(["runc", "delete", "--force", "layerctl-r"], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "4755 0"


def _is_data_less_copy(path):
    """path (in the rw layer) is a metadata-only copy: marked, no data."""
    try:
        marker = os.getxattr(path, "trusted.layerfs.metacopy", follow_symlinks=False)
    except OSError:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
        return False
    except OSError:
        return marker[:1] == b"\x01"
    finally:
        os.close(fd)


def test_container_metadata_changes_commit_whole_files(built, cstore):
    """runc runs chmod, chown and touch on files of the umoci-made image
    (layerctl mounts containers with metacopy=on): the rw layer holds
    data-less marked copies, the container reads the lower data through
    them; the committed image, exported and unpacked by umoci, is the
    original tree with exactly those changes, every file whole."""
    if shutil.which("runc") is None:
        pytest.fail("runc is not installed (scripts/deps.sh installs it)")
    cstore.ctl("unpack", "-q", "oci:%s:v2" % built.layout)
    cstore.ctl("create", "layout:v2", "mc")
    script = ("chmod 700 /data/keep && chown 1000:1000 /bin/busybox && "
              "touch -m -d @1600000000 /data/twice && chmod 600 /data/hl1 && "
              "chmod 4711 /data/setuid && cat /data/keep /data/twice && /bin/busybox true")
    r = cstore.ctl("run", "mc", "/bin/sh", "-c", script, check=False, timeout=120,
                   env={"LAYERCTL_RUNTIME": "runc"})
    subprocess.run(["runc", "delete", "--force", "layerctl-mc"], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "keep\nlast in v2\n"
    rw = cstore.cdir("mc", "rw")
    for rel in ("data/keep", "bin/busybox", "data/twice", "data/setuid"):
        assert _is_data_less_copy(os.path.join(rw, rel)), rel
    # a hardlinked file is copied whole (its copy is shared by its names)
    assert not _is_data_less_copy(os.path.join(rw, "data/hl1"))
    cstore.ctl("commit", "mc", "layout:mc")
    out = os.path.join(tempfile.mkdtemp(dir=built.work), "oci")
    cstore.ctl("export", "layout:mc", "--oci", out)
    rootfs = umoci_rootfs(out, "mc", os.path.join(os.path.dirname(out), "bundle"))
    want = dict(built.trees["v2"])

    def changed(rel, **kw):
        fields = ("kind", "mode", "uid", "gid", "size", "nlink", "content", "xattrs", "mtime")
        v = dict(zip(fields, want[rel]))
        v.update(kw)
        want[rel] = tuple(v[f] for f in fields)
    changed("data/keep", mode=0o700)
    changed("bin/busybox", uid=1000, gid=1000)
    changed("data/twice", mtime=1600000000 * 10**9)
    changed("data/hl1", mode=0o600)
    changed("data/hl2", mode=0o600)
    changed("data/setuid", mode=0o4711)
    got = snapshot(rootfs)
    # the container's own entries (init layer, /proc and such) aside
    every, _ = init_entries(cstore, "mc")
    # (layer tarballs carry whole seconds: test_e2e's round trip)
    loose = UMOCI_DIR_TIME_QUIRK["v2"]
    diff = compare_trees(no_mtime(whole_seconds(without(want, every)), loose),
                         no_mtime(whole_seconds(without(got, every)), loose))
    assert not diff, "the committed image differs:\n" + diff
    assert hardlink_groups(rootfs) == built.links["v2"]
