"""Images made by real tools, for test_real_images.py and test_corrupt.py.

One OCI layout, built with umoci (and GNU tar for a layer of odd but legal
entries, added with `umoci raw add-layer`), Debian's busybox-static as the
rootfs, holding three tags:
  scratch  `umoci new`: a config and no layers
  v1       the busybox rootfs with files of every kind, and data/dir_to_symlink/
           with children
  v2       v1 plus a GNU tar layer: data/dir_to_symlink is made a symlink and,
           after it, whiteouts of its old children are written (as umoci writes
           them); an entry twice (the last wins); a directory entry after its
           child; a hardlink; whiteouts of names no layer has; a directory
           whited out and re-made opaque; "./" prefixes; a pax long name
And a second layout whose one tag ("list") is an image index made by buildah
(`buildah manifest`), nested below index.json, of v1 as linux/amd64 and v2
as linux/arm64/v8.
"""
import json
import os
import shutil
import stat
import subprocess

import pytest

from test_e2e import mkdir, sh, static_busybox, umoci_edit, write  # noqa: F401

TAGS = ("scratch", "v1", "v2")
LONG = "p" * 120 + "/" + "q" * 130


def rootfs_v1(rootfs, busybox):
    for d in ("bin", "sbin", "usr/bin", "usr/sbin"):
        mkdir(os.path.join(rootfs, d))
    shutil.copy2(busybox, os.path.join(rootfs, "bin/busybox"))
    os.chmod(os.path.join(rootfs, "bin/busybox"), 0o755)
    sh("chroot", rootfs, "/bin/busybox", "--install", "-s")
    write(os.path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    write(os.path.join(rootfs, "etc/group"), "root:x:0:\n")
    mkdir(os.path.join(rootfs, "tmp"), 0o1777)
    data = os.path.join(rootfs, "data")
    write(os.path.join(data, "keep"), "keep\n")
    write(os.path.join(data, "twice"), "from v1\n")
    write(os.path.join(data, "dir_to_symlink/x"), "x\n")
    write(os.path.join(data, "dir_to_symlink/sub/y"), "y\n", 0o600, (1000, 1000))
    write(os.path.join(data, "opqdir/old"), "old\n")
    write(os.path.join(data, "setuid"), "#!/bin/sh\nid -u\n", 0o4755)
    os.mknod(os.path.join(data, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.setxattr(os.path.join(data, "keep"), "user.k", b"v")
    mkdir(data, 0o750, (0, 0))


def layer_v2(work):
    """The GNU tar layer, entry order chosen by hand (tar -r appends)."""
    a = os.path.join(work, "l2a")
    b = os.path.join(work, "l2b")
    c = os.path.join(work, "l2c")
    mkdir(os.path.join(a, "data"), 0o750)
    os.symlink("keep", os.path.join(a, "data/dir_to_symlink"))
    write(os.path.join(a, "data/twice"), "first in v2\n")
    write(os.path.join(a, "data/hl1"), "linked\n")
    os.link(os.path.join(a, "data/hl1"), os.path.join(a, "data/hl2"))
    write(os.path.join(a, "data/.wh.opqdir"), b"")
    write(os.path.join(a, "data/.wh.never-existed"), b"")
    write(os.path.join(a, "data/opqdir/.wh..wh..opq"), b"")
    write(os.path.join(a, "data/opqdir/new"), "new\n")
    write(os.path.join(a, "data/late/f"), "late\n")
    os.chmod(os.path.join(a, "data/late"), 0o700)
    write(os.path.join(a, LONG), "long\n")
    # where dir_to_symlink is still a directory: the whiteouts of its children
    write(os.path.join(b, "data/dir_to_symlink/.wh.x"), b"")
    write(os.path.join(b, "data/dir_to_symlink/.wh.sub"), b"")
    write(os.path.join(c, "data/twice"), "last in v2\n", 0o640)
    out = os.path.join(work, "layer-v2.tar")
    tar = ["tar", "--numeric-owner", "--xattrs", "--format=pax", "--no-recursion"]
    sh(*tar, "-C", a, "-cf", out, "./data", "./data/dir_to_symlink", "./data/twice",
       "./data/hl1", "./data/hl2", "./data/.wh.opqdir", "./data/.wh.never-existed",
       "./data/opqdir", "./data/opqdir/.wh..wh..opq", "./data/opqdir/new",
       "./data/late/f", "./data/late", "./" + LONG.split("/")[0], "./" + LONG)
    sh(*tar, "-C", b, "-rf", out, "./data/dir_to_symlink/.wh.x",
       "./data/dir_to_symlink/.wh.sub")
    sh(*tar, "-C", c, "-rf", out, "./data/twice")
    for d in (a, b, c):
        shutil.rmtree(d)
    return out


def build_layout(work):
    busybox = static_busybox()
    layout = os.path.join(work, "layout")
    bundle = os.path.join(work, "bundle")
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", layout + ":scratch")
    sh("umoci", "config", "--image", layout + ":scratch", "--tag", "scratch",
       "--config.cmd", "/bin/sh")
    umoci_edit(layout, "scratch", "v1", bundle, lambda r: rootfs_v1(r, busybox))
    sh("umoci", "raw", "add-layer", "--image", layout + ":v1", "--tag", "v2",
       layer_v2(work))
    return layout


def build_multi(work, layout):
    """An index of two platforms, nested under index.json, by buildah."""
    root, run = os.path.join(work, "bstore"), os.path.join(work, "brun")
    b = ["buildah", "--root", root, "--runroot", run, "--storage-driver", "vfs"]
    multi = os.path.join(work, "multi")
    try:
        sh(*b, "manifest", "create", "mylist")
        sh(*b, "manifest", "add", "--os", "linux", "--arch", "amd64", "mylist",
           "oci:%s:v1" % layout)
        sh(*b, "manifest", "add", "--os", "linux", "--arch", "arm64", "--variant", "v8",
           "mylist", "oci:%s:v2" % layout)
        sh(*b, "manifest", "push", "--all", "mylist", "oci:%s:list" % multi)
    finally:
        subprocess.run(b + ["rmi", "--all", "--force"], capture_output=True)
        subprocess.run(["umount", "-R", run], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    return multi


def manifest_of(layout, tag):
    """(descriptor in index.json, manifest JSON) of a tag."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for d in index["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            with open(os.path.join(layout, "blobs/sha256", d["digest"][7:])) as f:
                return d, json.load(f)
    raise KeyError(tag)


def need_tools(*names):
    if os.geteuid() != 0:
        pytest.fail("needs root (owners, device nodes, FUSE mounts)", pytrace=False)
    for n in names:
        if shutil.which(n) is None:
            pytest.fail("%s is not installed (scripts/deps.sh installs it)" % n,
                        pytrace=False)
