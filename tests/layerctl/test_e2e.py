"""End-to-end checks of layerctl against the real tools it must agree with.

  * An image is built in the test itself with umoci (init / new / unpack /
    repack) from Debian's busybox-static, over four layers that add, delete
    and re-create files and directories (layer 4, a GNU tar archive added
    with `umoci raw add-layer`, carries an opaque directory and a plain
    whiteout), then copied by skopeo into an OCI layout and an oci-archive.
    `layerctl unpack` + `layerctl create` + `layerctl mount` must show the
    same tree as `umoci unpack` of the same image.
  * A container from that image is run with runc (`layerctl run`); what it
    writes and deletes lands in the rw branch, `layerctl commit` +
    `layerctl export --oci` make an image that umoci unpacks to the changed
    tree.
  * `layerctl unpack` is timed against `umoci unpack` (printed, not asserted).

Everything runs as root (owners, device nodes, FUSE). Mounts are undone by
the `cstore` fixture of ctrutil, even when a test fails.
"""
import hashlib
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctrutil import LAYERCTL_BIN, Store, cstore, is_mounted  # noqa: E402,F401

TOOLS = ("umoci", "skopeo", "runc", "setcap", "tar")
TAG = "e2e"
CONTAINER = "e2e"


# ---- tools -----------------------------------------------------------------

def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail("%s is not installed (scripts/deps.sh installs it)" % name, pytrace=False)
    return path


def static_busybox():
    """Debian's busybox-static: a static ELF (no PT_INTERP), so it runs in
    any rootfs without a libc."""
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                head = f.read(1 << 16)
            if head[:4] == b"\x7fELF" and b"/ld-linux" not in head:
                return p
    pytest.fail("a static busybox is needed (apt-get install busybox-static; "
                "scripts/deps.sh installs it)", pytrace=False)


def sh(*argv, cwd=None, timeout=300):
    """Runs a command; fails the test with its output when it fails."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                       timeout=timeout)
    if r.returncode != 0:
        pytest.fail("%s -> exit %d\nstdout: %s\nstderr: %s"
                    % (" ".join(map(str, argv)), r.returncode, r.stdout, r.stderr),
                    pytrace=False)
    return r


# ---- a tree snapshot ------------------------------------------------------

def file_type(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chardev"),
                       (stat.S_ISBLK, "blockdev"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


def xattrs_of(path):
    out = []
    for name in sorted(os.listxattr(path, follow_symlinks=False)):
        out.append((name, os.getxattr(path, name, follow_symlinks=False)))
    return tuple(out)


def digest_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot(root, skip=()):
    """relative path -> (type, mode, uid, gid, size, nlink, content, xattrs,
    mtime_ns).

    content: sha256 of a regular file, the target of a symlink, "major:minor"
    of a device, else None. The root itself is left out (its attributes are
    the mountpoint's or the bundle directory's, not the image's).

    Times: atime is ignored (reading the tree changes it); ctime too (it is
    the time of unpacking). mtime is compared exactly, for directories as
    well: both sides take it from the tar header of the topmost layer that
    has the entry; umoci puts a directory's mtime back after making or
    removing entries in it, and layerfs shows the mtime of the topmost branch
    holding the directory, which is the one from that layer's tar header
    (or, for a directory the layer needed but did not list, the one below:
    see unpack_inherit_dirs). So a difference is a real one.
    Sizes and link counts of directories are None: they depend on the file
    system (ext4 blocks and subdirectory counts on one side, whatever the
    FUSE daemon reports on the other). Hardlinks show as nlink here and are
    compared as groups by hardlink_groups.

    skip: relative paths whose own entry is left out (a directory among them
    is still walked)."""
    out = {}
    skip = set(skip)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for n in sorted(dirnames + filenames):
            full = os.path.join(dirpath, n)
            rel = n if rel_dir == "." else os.path.join(rel_dir, n)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                keep.append(n)
            if rel in skip:
                continue
            kind = file_type(st.st_mode)
            content = None
            if kind == "file":
                content = digest_of(full)
            elif kind == "symlink":
                content = os.readlink(full)
            elif kind in ("chardev", "blockdev"):
                content = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        None if kind == "dir" else st.st_size,
                        None if kind == "dir" else st.st_nlink,
                        content, xattrs_of(full), st.st_mtime_ns)
        dirnames[:] = [n for n in dirnames if n in keep]
    return out


def hardlink_groups(root):
    """Sets of relative paths that are one inode (more than one name)."""
    by_ino = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            full = os.path.join(dirpath, n)
            st = os.lstat(full)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                by_ino.setdefault((st.st_dev, st.st_ino), set()).add(
                    os.path.relpath(full, root))
    return sorted(sorted(g) for g in by_ino.values() if len(g) > 1)


def whole_seconds(tree):
    return {p: v[:-1] + (v[-1] // 10**9,) for p, v in tree.items()}


def compare_trees(expected, got):
    """A readable list of differences ('' when equal)."""
    lines = []
    for p in sorted(set(expected) | set(got)):
        if p not in got:
            lines.append("missing in layerfs: %s %r" % (p, expected[p]))
        elif p not in expected:
            lines.append("only in layerfs:    %s %r" % (p, got[p]))
        elif expected[p] != got[p]:
            lines.append("differs: %s\n  umoci:   %r\n  layerfs: %r" % (p, expected[p], got[p]))
    return "\n".join(lines)


# ---- the image --------------------------------------------------------------

def umoci_edit(layout, from_tag, to_tag, bundle, edit):
    """unpack FROM_TAG into BUNDLE, let EDIT change its rootfs, repack as TO_TAG."""
    sh("umoci", "unpack", "--image", "%s:%s" % (layout, from_tag), bundle)
    edit(os.path.join(bundle, "rootfs"))
    sh("umoci", "repack", "--image", "%s:%s" % (layout, to_tag), bundle)
    shutil.rmtree(bundle)


def write(path, data, mode=0o644, owner=(0, 0)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chown(path, *owner)
    os.chmod(path, mode)


def mkdir(path, mode=0o755, owner=(0, 0)):
    os.makedirs(path, exist_ok=True)
    os.chown(path, *owner)
    os.chmod(path, mode)


LONG = "l" * 100 + "/" + "n" * 140   # needs pax (or GNU) long names


def layer1(rootfs, busybox):
    """A busybox rootfs: the static binary and its applet links, made by
    busybox itself inside the rootfs; then files of every kind."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin"):
        mkdir(os.path.join(rootfs, d))
    shutil.copy2(busybox, os.path.join(rootfs, "bin/busybox"))
    os.chmod(os.path.join(rootfs, "bin/busybox"), 0o755)
    sh("chroot", rootfs, "/bin/busybox", "--install", "-s")
    write(os.path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n"
          "app:x:1000:1000::/home/app:/bin/sh\n")
    write(os.path.join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\n")
    mkdir(os.path.join(rootfs, "tmp"), 0o1777)
    mkdir(os.path.join(rootfs, "root"), 0o700)
    mkdir(os.path.join(rootfs, "home/app"), 0o750, (1000, 1000))
    write(os.path.join(rootfs, "home/app/.profile"), "export PS1='$ '\n", 0o640, (1000, 1000))
    srv = os.path.join(rootfs, "srv")
    write(os.path.join(srv, "data/hello.txt"), "hello, world\n")
    os.link(os.path.join(srv, "data/hello.txt"), os.path.join(srv, "data/hello.hardlink"))
    write(os.path.join(srv, "data/secret"), "s3cret\n", 0o600, (1000, 1000))
    write(os.path.join(srv, "data/run.sh"), "#!/bin/sh\necho run\n", 0o755)
    write(os.path.join(srv, "data/setuid"), "suid\n", 0o4755)
    write(os.path.join(srv, "data/setgid"), "sgid\n", 0o2711, (0, 50))
    write(os.path.join(srv, "data/empty"), b"")
    with open(os.path.join(srv, "data/sparse"), "wb") as f:
        f.seek(8 << 20)
        f.write(b"end of a sparse file\n")
    mkdir(os.path.join(srv, "shared"), 0o1777)
    mkdir(os.path.join(srv, "group"), 0o2775, (0, 50))
    os.symlink("../data/hello.txt", os.path.join(srv, "shared/rel-link"))
    os.symlink("/bin/busybox", os.path.join(srv, "shared/abs-link"))
    os.symlink("does/not/exist", os.path.join(srv, "shared/dangling"))
    os.mkfifo(os.path.join(srv, "fifo"), 0o620)
    os.mknod(os.path.join(srv, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(srv, "loop9"), 0o660 | stat.S_IFBLK, os.makedev(7, 9))
    write(os.path.join(srv, LONG), "a long name\n")
    os.setxattr(os.path.join(srv, "data/hello.txt"), "user.comment", b"greeting")
    os.setxattr(os.path.join(srv, "shared"), "user.dir", b"on a directory")
    write(os.path.join(srv, "data/ping"), "not really ping\n", 0o755)
    sh("setcap", "cap_net_raw+ep", os.path.join(srv, "data/ping"))
    # Later layers change files in srv/data, and umoci writes no entries for
    # their parent directories: these attributes must still show through.
    mkdir(srv, 0o711)
    mkdir(os.path.join(srv, "data"), 0o750, (1000, 50))
    os.setxattr(os.path.join(srv, "data"), "user.kept", b"from layer 1")
    # what later layers delete, re-create and make opaque
    write(os.path.join(rootfs, "doomed.txt"), "delete me\n")
    write(os.path.join(rootfs, "old/a.txt"), "old a\n")
    write(os.path.join(rootfs, "old/sub/b.txt"), "old b\n")
    write(os.path.join(rootfs, "old/sub/deeper/c.txt"), "old c\n")
    write(os.path.join(rootfs, "replace/one.txt"), "one\n")
    write(os.path.join(rootfs, "replace/dir/two.txt"), "two\n")
    write(os.path.join(rootfs, "gone-later.txt"), "whited out by layer 4\n")


def layer2(rootfs):
    """Deletes a file and a directory tree; changes a file."""
    os.unlink(os.path.join(rootfs, "doomed.txt"))
    shutil.rmtree(os.path.join(rootfs, "old"))
    with open(os.path.join(rootfs, "srv/data/run.sh"), "a") as f:
        f.write("echo changed\n")


def layer3(rootfs):
    """Re-creates the deleted directory with other content (old/sub is a
    file now); changes modes, owners and an xattr."""
    write(os.path.join(rootfs, "old/new.txt"), "new content\n", 0o640, (1000, 50))
    write(os.path.join(rootfs, "old/sub"), "sub is a file now\n")
    os.chmod(os.path.join(rootfs, "old"), 0o710)
    os.chown(os.path.join(rootfs, "old"), 1000, 50)
    os.chmod(os.path.join(rootfs, "srv/data/run.sh"), 0o700)
    os.chown(os.path.join(rootfs, "srv/data/secret"), 1234, 5678)
    os.chmod(os.path.join(rootfs, "srv/shared"), 0o1770)
    os.setxattr(os.path.join(rootfs, "srv/data/hello.txt"), "user.comment", b"changed")
    os.setxattr(os.path.join(rootfs, "srv/data/run.sh"), "user.new", b"added")


def layer4_tar(work):
    """A layer made by GNU tar: replace/ becomes opaque (only fresh.txt is
    left), gone-later.txt is whited out, a new file appears."""
    d = os.path.join(work, "layer4")
    mkdir(os.path.join(d, "replace"))
    write(os.path.join(d, "replace/.wh..wh..opq"), b"")
    write(os.path.join(d, "replace/fresh.txt"), "fresh\n")
    write(os.path.join(d, ".wh.gone-later.txt"), b"")
    write(os.path.join(d, "added-by-tar.txt"), "from GNU tar\n", 0o604, (7, 8))
    out = os.path.join(work, "layer4.tar")
    sh("tar", "--numeric-owner", "--xattrs", "--format=pax", "-C", d, "-cf", out, ".")
    shutil.rmtree(d)
    return out


def build_image(work):
    """An OCI layout (one image, tag e2e) and an oci-archive of it, both
    written by skopeo from the image umoci built. Returns their paths."""
    busybox = static_busybox()
    src = os.path.join(work, "umoci-layout")
    bundle = os.path.join(work, "bundle")
    sh("umoci", "init", "--layout", src)
    sh("umoci", "new", "--image", src + ":v0")
    sh("umoci", "config", "--image", src + ":v0", "--tag", "v0",
       "--config.cmd", "/bin/sh", "--config.env", "E2E=1")
    umoci_edit(src, "v0", "v1", bundle, lambda r: layer1(r, busybox))
    umoci_edit(src, "v1", "v2", bundle, layer2)
    umoci_edit(src, "v2", "v3", bundle, layer3)
    sh("umoci", "raw", "add-layer", "--image", src + ":v3", "--tag", "v4", layer4_tar(work))
    layout = os.path.join(work, "layout")
    archive = os.path.join(work, "image.tar")
    sh("skopeo", "copy", "-q", "oci:%s:v4" % src, "oci:%s:%s" % (layout, TAG))
    sh("skopeo", "copy", "-q", "oci:%s:v4" % src, "oci-archive:%s:%s" % (archive, TAG))
    return layout, archive


def layer_count(layout):
    with open(os.path.join(layout, "index.json")) as f:
        desc = json.load(f)["manifests"][0]
    with open(os.path.join(layout, "blobs/sha256", desc["digest"][7:])) as f:
        return len(json.load(f)["layers"])


def umoci_rootfs(layout, tag, bundle):
    sh("umoci", "unpack", "--image", "%s:%s" % (layout, tag), bundle)
    return os.path.join(bundle, "rootfs")


class Image:
    """The image built once for this module, and umoci's view of it."""

    def __init__(self, work):
        self.work = work
        self.layout, self.archive = build_image(work)
        self.rootfs = umoci_rootfs(self.layout, TAG, os.path.join(work, "umoci-bundle"))
        self.tree = snapshot(self.rootfs)
        self.links = hardlink_groups(self.rootfs)


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0:
        pytest.fail("needs root (owners, device nodes, FUSE mounts)", pytrace=False)
    for t in TOOLS:
        tool(t)
    d = tempfile.mkdtemp(prefix="layerctl-e2e-image-", dir="/tmp")
    try:
        yield Image(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- containers -----------------------------------------------------------------

def init_entries(cstore, name):
    """Relative paths of the container's init layer: (all, non-directories)."""
    init = cstore.cdir(name, "init")
    every, files = set(), set()
    for dirpath, dirnames, filenames in os.walk(init):
        for n in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, n), init)
            every.add(rel)
            if n not in dirnames:
                files.add(rel)
    return every, files


def mounted_tree(cstore, name):
    """The container's mounted rootfs without what its init layer supplies.
    The init layer (etc/hosts, dev/console, ...) lies above the image, so a
    directory it shares with the image (etc) shows init's attributes; those
    entries are left out on both sides, and no init file may hide an image
    file (checked by the caller against umoci's tree)."""
    mnt = cstore.cdir(name, "mnt")
    every, _ = init_entries(cstore, name)
    return snapshot(mnt, every), hardlink_groups(mnt)


def without(tree, paths):
    return {p: v for p, v in tree.items() if p not in paths}


@pytest.fixture
def no_runc_leftovers():
    """Deletes the runc containers a test started, whatever happened."""
    ids = []
    yield ids
    for cid in ids:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True)


# ---- the image as umoci built it -------------------------------------------

def test_the_image_is_what_the_layers_say(image):
    """Guards the comparison below: the image really deletes, re-creates
    and hides what it is meant to (else two equal trees prove little)."""
    assert layer_count(image.layout) == 4
    t = image.tree
    for gone in ("doomed.txt", "old/a.txt", "old/sub/b.txt", "gone-later.txt",
                 "replace/one.txt", "replace/dir"):
        assert gone not in t, gone
    assert t["old"][:4] == ("dir", 0o710, 1000, 50)
    assert t["old/sub"][0] == "file" and t["old/new.txt"][0] == "file"
    assert sorted(p for p in t if p.startswith("replace/")) == ["replace/fresh.txt"]
    assert t["srv/data"][:4] == ("dir", 0o750, 1000, 50)
    assert t["srv/data/secret"][2:4] == (1234, 5678)
    assert ("user.comment", b"changed") in t["srv/data/hello.txt"][7]
    assert any(n == "security.capability" for n, _ in t["srv/data/ping"][7])
    assert t["srv/null"][0] == "chardev" and t["srv/fifo"][0] == "fifo"
    assert t["bin/sh"][6] == "/bin/busybox"
    assert ["srv/data/hello.hardlink", "srv/data/hello.txt"] in image.links


# ---- unpack + mount == umoci unpack --------------------------------------------

@pytest.mark.parametrize("source", ["layout", "oci-archive"])
def test_unpack_and_mount_equals_umoci_unpack(image, cstore, source):
    src = image.layout if source == "layout" else image.archive
    out = cstore.ctl("unpack", "-q", src, "--name", "e2e/img:1").stdout
    assert "Loaded image: e2e/img:1" in out
    assert len(os.listdir(cstore.p("layers"))) == 4
    cstore.ctl("create", "e2e/img:1", CONTAINER)
    mnt = cstore.ctl("mount", CONTAINER).stdout.strip()
    assert is_mounted(mnt)
    every, files = init_entries(cstore, CONTAINER)
    hidden = sorted(files & set(image.tree))
    assert not hidden, "the init layer hides image files: %r" % hidden
    got, links = mounted_tree(cstore, CONTAINER)
    expected = without(image.tree, every)
    diff = compare_trees(expected, got)
    assert not diff, "layerctl unpack + mount differs from umoci unpack:\n" + diff
    assert links == image.links
    cstore.ctl("umount", CONTAINER)
    assert not is_mounted(mnt)


# ---- directories a layer does not list -----------------------------------------

def test_implicit_parent_dirs_keep_the_lower_layers_attributes(cstore, work):
    """Regression: a layer that changes srv/data/f without entries for srv/
    and srv/data/ (umoci writes such layers) made those directories 0755
    root in its diff, and layerfs showed them instead of the real ones."""
    from imagegen import Layer, directory, file, oci_members, write_dir, MTIME
    l1 = Layer([directory("srv", mode=0o711, mtime=MTIME - 50),
                directory("srv/data", mode=0o750, uid=1000, gid=50, mtime=MTIME - 100,
                          xattrs={"user.kept": b"below"}),
                file("srv/data/f", b"one\n"),
                directory("gone", mode=0o700, uid=5, gid=5), file("gone/x", b"x"),
                directory("opq", mode=0o700, uid=6, gid=6), file("opq/y", b"y")])
    l2 = Layer([file("srv/data/f", b"two\n"), file(".wh.gone"),
                file("opq/.wh..wh..opq"), file("opq/z", b"z")])
    l3 = Layer([file("gone/new", b"new\n")])
    src = os.path.join(work, "src")
    # the first layer alone first: later it is a layer already in the store
    write_dir(oci_members([l1], ref="one"), src + "1")
    write_dir(oci_members([l1, l2, l3], ref="three"), src + "3")
    cstore.ctl("unpack", "-q", src + "1", "--name", "one:1")
    cstore.ctl("unpack", "-q", src + "3", "--name", "three:1")
    img = [i for i in cstore.images().values() if "docker.io/library/three:1" in i["names"]][0]
    diffs = [cstore.p("layers", c[7:], "diff") for c in img["layers"]]

    def attrs(path):
        st = os.lstat(path)
        return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns // 10**9)

    assert attrs(os.path.join(diffs[1], "srv")) == (0o711, 0, 0, MTIME - 50)
    assert attrs(os.path.join(diffs[1], "srv/data")) == (0o750, 1000, 50, MTIME - 100)
    assert os.getxattr(os.path.join(diffs[1], "srv/data"), "user.kept") == b"below"
    # an opaque directory keeps its own attributes (only its content goes)
    assert attrs(os.path.join(diffs[1], "opq"))[:3] == (0o700, 6, 6)
    # whited out below: nothing to inherit, the defaults stay
    assert attrs(os.path.join(diffs[2], "gone"))[:3] == (0o755, 0, 0)
    cstore.ctl("create", "three:1", "c")
    mnt = cstore.ctl("mount", "c").stdout.strip()
    assert attrs(os.path.join(mnt, "srv/data")) == (0o750, 1000, 50, MTIME - 100)
    assert sorted(os.listdir(os.path.join(mnt, "gone"))) == ["new"]
    assert sorted(os.listdir(os.path.join(mnt, "opq"))) == ["z"]
    cstore.ctl("umount", "c")


# ---- run, commit, export ---------------------------------------------------------

def test_run_commit_export_roundtrip(image, cstore, work, no_runc_leftovers):
    tool("runc")
    cstore.ctl("unpack", "-q", image.layout, "--name", "e2e/img:1")
    cstore.ctl("create", "e2e/img:1", CONTAINER)
    mnt = cstore.ctl("mount", CONTAINER).stdout.strip()
    assert is_mounted(mnt)
    no_runc_leftovers.append(json.loads(cstore.ctl("inspect", CONTAINER).stdout)
                             ["state"]["runtime_id"])
    script = ("echo made in the container > /srv/new.txt && rm /srv/data/empty && "
              "rm -r /old && cat /srv/data/hello.txt")
    r = cstore.ctl("run", CONTAINER, "/bin/sh", "-c", script, check=False, timeout=120,
                   env={"LAYERCTL_RUNTIME": "runc"})
    assert r.returncode == 0, "layerctl run: exit %d\n%s" % (r.returncode, r.stderr)
    assert r.stdout == "hello, world\n"
    assert is_mounted(mnt), "run unmounted a rootfs it had not mounted"
    # the changes are in the rw branch, aufs style
    rw = cstore.cdir(CONTAINER, "rw")
    with open(os.path.join(rw, "srv/new.txt")) as f:
        assert f.read() == "made in the container\n"
    for wh in ("srv/data/.wh.empty", ".wh.old"):
        st = os.lstat(os.path.join(rw, wh))
        assert stat.S_ISREG(st.st_mode) and st.st_size == 0, wh
    assert not os.path.exists(os.path.join(mnt, "srv/data/empty"))
    diff = cstore.ctl("diff", CONTAINER).stdout.splitlines()
    assert {"A /srv/new.txt", "D /srv/data/empty", "D /old"} <= set(diff), diff
    cstore.ctl("umount", CONTAINER)
    out = cstore.ctl("commit", CONTAINER, "e2e/committed:2").stdout.strip()
    assert out.startswith("sha256:")
    oci = os.path.join(work, "export")
    cstore.ctl("export", "e2e/committed:2", "--oci", oci)
    info = json.loads(sh("skopeo", "inspect", "oci:%s:2" % oci).stdout)
    assert len(info["Layers"]) == 5
    rootfs = umoci_rootfs(oci, "2", os.path.join(work, "bundle"))
    with open(os.path.join(rootfs, "srv/new.txt")) as f:
        assert f.read() == "made in the container\n"
    assert not os.path.lexists(os.path.join(rootfs, "srv/data/empty"))
    assert not os.path.lexists(os.path.join(rootfs, "old"))
    # and nothing else changed: the exported image is the original one plus
    # these changes
    # (directories the container changed have new mtimes; layerctl writes
    # layer tarballs with mtimes in whole seconds, deterministic by design)
    changed_dirs = {"srv", "srv/data"}
    got = whole_seconds(without(snapshot(rootfs), changed_dirs | {"srv/new.txt"}))
    want = whole_seconds(without(image.tree, changed_dirs | {"srv/data/empty"}))
    want = {p: v for p, v in want.items() if p != "old" and not p.startswith("old/")}
    diff = compare_trees(want, got)
    assert not diff, "the exported image differs from the original:\n" + diff
    assert hardlink_groups(rootfs) == image.links


# ---- timing --------------------------------------------------------------------

def test_unpack_time_against_umoci(image, cstore, work, capsys):
    """layerctl unpack against umoci unpack of the same OCI layout, each into
    a fresh place, interleaved so that both see the same cache state. The
    numbers are printed for the record; only success and equal trees are
    asserted."""
    reps = 5
    times = {"layerctl": [], "umoci": []}
    for i in range(reps):
        store = os.path.join(cstore.root, "timed%d" % i)
        bundle = os.path.join(work, "bundle%d" % i)
        t0 = time.perf_counter()
        r = subprocess.run([LAYERCTL_BIN, "--store", store, "-q", "unpack", image.layout,
                            "--name", "e2e/img:1"], capture_output=True, text=True)
        times["layerctl"].append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr
        t0 = time.perf_counter()
        r = subprocess.run(["umoci", "unpack", "--image", "%s:%s" % (image.layout, TAG), bundle],
                           capture_output=True, text=True)
        times["umoci"].append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr
    # what the last runs made, compared (the mount is undone by cstore)
    last = Store(os.path.join(cstore.root, "timed%d" % (reps - 1)))
    last.ctl("create", "e2e/img:1", CONTAINER)
    last.ctl("mount", CONTAINER)
    every, _ = init_entries(last, CONTAINER)
    got, links = mounted_tree(last, CONTAINER)
    rootfs = os.path.join(work, "bundle%d" % (reps - 1), "rootfs")
    diff = compare_trees(without(snapshot(rootfs), every), got)
    last.ctl("umount", CONTAINER)
    assert not diff, diff
    assert links == hardlink_groups(rootfs)
    lc, um = statistics.median(times["layerctl"]), statistics.median(times["umoci"])
    with capsys.disabled():
        print("\nunpack of a %d-layer image (%.1f MiB unpacked), median of %d: "
              "layerctl %.3f s, umoci %.3f s, layerctl/umoci = %.2f"
              % (layer_count(image.layout), sum(v[4] for v in image.tree.values() if v[0] == "file") / 2**20, reps, lc, um,
                 lc / um))
        print("  layerctl: %s" % " ".join("%.3f" % t for t in times["layerctl"]))
        print("  umoci:    %s" % " ".join("%.3f" % t for t in times["umoci"]))
