"""A 255-byte name made in one layer and deleted in the next (umoci writes
the 259-byte ".wh." entry as a pax long name): unpack keeps the deletion in
the directory's long-whiteout list (layerfs/longwh.h), the mounted image
does not show the name, and commit and export write the standard entry back
so that umoci reads the deletion again."""
import io
import os
import shutil
import tarfile
import gzip
import tempfile

import pytest

from ctrutil import cstore, is_mounted  # noqa: F401
from realimages import need_tools
from test_e2e import compare_trees, mkdir, mounted_tree, init_entries, sh, snapshot, \
    static_busybox, umoci_edit, umoci_rootfs, without, write

L255 = "x" * 255
L252 = "y" * 252
LIST = ".wh..wh.long"


def base(rootfs, busybox):
    for d in ("bin", "etc", "data"):
        mkdir(os.path.join(rootfs, d))
    shutil.copy2(busybox, os.path.join(rootfs, "bin/busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin/sh"))
    write(os.path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    write(os.path.join(rootfs, "data", L255), "to be deleted\n")
    write(os.path.join(rootfs, "data", L252, "inside"), "dir\n")
    write(os.path.join(rootfs, "data/keep"), "keep\n")


def delete_long(rootfs):
    os.unlink(os.path.join(rootfs, "data", L255))


def layer_members(layout, manifest_tag):
    """Names of the tar members of the top layer of a tag."""
    import json
    idx = json.load(open(os.path.join(layout, "index.json")))
    for d in idx["manifests"]:
        if d["annotations"]["org.opencontainers.image.ref.name"] == manifest_tag:
            man = json.load(open(os.path.join(layout, "blobs/sha256", d["digest"][7:])))
            blob = open(os.path.join(layout, "blobs/sha256",
                                     man["layers"][-1]["digest"][7:]), "rb").read()
            if blob[:2] == b"\x1f\x8b":
                blob = gzip.decompress(blob)
            with tarfile.open(fileobj=io.BytesIO(blob)) as t:
                return [m.name for m in t.getmembers()]
    raise KeyError(manifest_tag)


@pytest.fixture(scope="module")
def layout():
    need_tools("umoci", "skopeo")
    work = tempfile.mkdtemp(prefix="layerctl-longwh-", dir="/tmp")
    try:
        lay = os.path.join(work, "layout")
        sh("umoci", "init", "--layout", lay)
        sh("umoci", "new", "--image", lay + ":empty")
        busybox = static_busybox()
        umoci_edit(lay, "empty", "one", os.path.join(work, "b1"), lambda r: base(r, busybox))
        umoci_edit(lay, "one", "two", os.path.join(work, "b2"), delete_long)
        tree = snapshot(umoci_rootfs(lay, "two", os.path.join(work, "u2")))
        yield lay, tree, work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_umoci_writes_the_long_whiteout(layout):
    lay, tree, _ = layout
    names = [n.lstrip("./") for n in layer_members(lay, "two")]
    assert "data/.wh." + L255 in names
    assert "data/" + L255 not in tree and "data/keep" in tree


def test_unpack_keeps_it_and_the_mount_honours_it(layout, cstore):
    lay, tree, _ = layout
    cstore.ctl("unpack", "-q", "oci:%s:two" % lay)
    # the top layer's diff directory holds the deletion in the list
    img = cstore.image_by_name("layout:two") if hasattr(cstore, "image_by_name") else None
    layers = sorted(os.listdir(cstore.p("layers")))
    lists = [os.path.join(cstore.p("layers"), l, "diff/data", LIST) for l in layers]
    found = [p for p in lists if os.path.exists(p)]
    assert len(found) == 1, (img, lists)
    assert open(found[0], "rb").read() == L255.encode() + b"\0"
    cstore.ctl("create", "layout:two", "c")
    mnt = cstore.ctl("mount", "c").stdout.strip()
    assert is_mounted(mnt)
    assert sorted(os.listdir(os.path.join(mnt, "data"))) == sorted([L252, "keep"])
    assert not os.path.exists(os.path.join(mnt, "data", L255))
    every, _ = init_entries(cstore, "c")
    got, _ = mounted_tree(cstore, "c")
    diff = compare_trees(without(tree, every), got)
    assert not diff, diff
    cstore.ctl("umount", "c")


def test_commit_and_export_write_the_standard_entry(layout, cstore):
    lay, _, work = layout
    cstore.ctl("unpack", "-q", "oci:%s:two" % lay)
    cstore.ctl("create", "layout:two", "c")
    mnt = cstore.ctl("mount", "c").stdout.strip()
    # a deletion of another long name, through the mount
    shutil.rmtree(os.path.join(mnt, "data", L252))
    assert sorted(os.listdir(os.path.join(mnt, "data"))) == ["keep"]
    assert open(cstore.cdir("c", "rw", "data", LIST), "rb").read() == L252.encode() + b"\0"
    diff = cstore.ctl("diff", "c").stdout.splitlines()
    assert "D /data/" + L252 in diff
    cstore.ctl("umount", "c")
    cstore.ctl("commit", "c", "long:three")
    out = os.path.join(work, "exported")
    cstore.ctl("export", "long:three", "--oci", out)
    names = [n.lstrip("./") for n in layer_members(out, "three")]
    assert "data/.wh." + L252 in names
    assert not any(LIST in n for n in names)
    rootfs = umoci_rootfs(out, "three", os.path.join(work, "u3"))
    assert sorted(os.listdir(os.path.join(rootfs, "data"))) == ["keep"]
    shutil.rmtree(os.path.join(work, "u3"))
    shutil.rmtree(out)
