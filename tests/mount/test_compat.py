"""fuse-overlayfs command-line compatibility: the items podman, buildah and
docker pass must not make layerfs fail, and those with a meaning act."""
import os
import subprocess

from conftest import LAYERFS_BIN
from lfsutil import read, write


def test_version_exits_zero():
    r = subprocess.run([LAYERFS_BIN, "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("layerfs "), r


def test_podman_style_options_accepted(union):
    low = union.branch("low", {"f": "x"})
    up = union.branch("up", {})
    work = union.branch("work", {})
    m = union.mount_overlay([low], upperdir=up, workdir=work,
                            opts=["", "volatile", "noacl", "xattr_permissions=2", "fsync=0",
                                  "redirect_dir=off", "index=off", "metacopy=off",
                                  "static_nlink", "threaded=1", "fast_ino=1", "writeback=1"])
    assert read(m.p("f")) == b"x"
    write(m.p("g"), "y")
    assert read(os.path.join(up, "g")) == b"y"


def test_squash_to_uid_and_gid(union):
    low = union.branch("low", {"f": "x"})
    os.chown(os.path.join(low, "f"), 1234, 5678)
    m = union.mount_overlay([low], opts=["squash_to_uid=42", "squash_to_gid=43"])
    st = os.stat(m.p("f"))
    assert (st.st_uid, st.st_gid) == (42, 43)


def test_squash_to_root(union):
    low = union.branch("low", {"f": "x"})
    os.chown(os.path.join(low, "f"), 1234, 5678)
    m = union.mount_overlay([low], opts=["squash_to_root"])
    st = os.stat(m.p("f"))
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_uid_gid_mapping(union):
    """Files carry host ids on disk; the mount shows container ids."""
    low = union.branch("low", {"f": "x"})
    os.chown(os.path.join(low, "f"), 100005, 100007)
    up = union.branch("up", {})
    work = union.branch("work", {})
    m = union.mount_overlay([low], upperdir=up, workdir=work,
                            opts=["uidmapping=0:100000:65536", "gidmapping=0:100000:65536"])
    st = os.stat(m.p("f"))
    assert (st.st_uid, st.st_gid) == (5, 7)
    write(m.p("new"), "n")           # created by root (0 inside = 100000 outside)
    st = os.stat(os.path.join(up, "new"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    assert (os.stat(m.p("new")).st_uid, os.stat(m.p("new")).st_gid) == (0, 0)
    os.chown(m.p("f"), 9, 10)
    st = os.stat(os.path.join(up, "f"))
    assert (st.st_uid, st.st_gid) == (100009, 100010)


def test_bad_mapping_is_an_error(union):
    low = union.branch("low", {})
    mnt = union.mkdir("mnt")
    r = subprocess.run([LAYERFS_BIN, mnt, "-f", "-o", "lowerdir=%s,uidmapping=0:1" % low],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith("layerfs: bad id mapping"), r.stderr
