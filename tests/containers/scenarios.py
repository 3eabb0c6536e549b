"""The podman run / diff / commit scenario, shared by the rootful and the
rootless tests."""
import os

from ctutil import (md5, mount_line, parse_manifest, tree_facts, MANIFEST_SCRIPT)

# What the container does: write a new file, modify one, delete a lower
# file, make a directory opaque (rm -rf and re-create it), make a new
# directory, replace a symlink by a file.
CHANGE_SCRIPT = r"""
set -e
grep ' / ' /proc/self/mountinfo | sed 's/^/MOUNT: /'
echo "ID: $(id -u):$(id -g)"
echo new > /etc/new
echo mod >> /etc/hello
rm /etc/keep
rm -rf /d && mkdir /d && echo x > /d/x
mkdir /newdir && echo f > /newdir/f
rm /var/data/link && echo notalink > /var/data/link
"""

EXPECTED_DIFF = {
    "C /etc", "A /etc/new", "C /etc/hello", "D /etc/keep",
    "C /d", "A /d/x", "D /d/a", "D /d/sub",
    "A /newdir", "A /newdir/f",
    "C /var", "C /var/data", "C /var/data/link",
}


def expected_manifest(base):
    m = dict(base)
    for p in ("/etc/keep", "/d/a", "/d/sub", "/d/sub/b", "/d/sub/deeper", "/d/sub/deeper/c"):
        assert p in m, "base image lacks %s" % p
        del m[p]
    m["/etc/new"] = "F " + md5(b"new\n")
    m["/etc/hello"] = "F " + md5(b"hello\nmod\n")
    m["/d/x"] = "F " + md5(b"x\n")
    m["/newdir"] = "D"
    m["/newdir/f"] = "F " + md5(b"f\n")
    m["/var/data/link"] = "F " + md5(b"notalink\n")
    return m


def diff_set(text):
    return {l.strip() for l in text.splitlines() if l.strip()}


# Directories podman itself may touch (it creates /etc/hosts, /etc/hostname,
# /etc/resolv.conf and /run/.containerenv in the container): listed or not.
OPTIONAL_DIFF = {"C /run", "A /run", "C /etc"}


def check_diff(text, what):
    got = diff_set(text) - (OPTIONAL_DIFF - EXPECTED_DIFF)
    assert got == EXPECTED_DIFF, "podman diff %s: missing %s, unexpected %s" % (
        what, sorted(EXPECTED_DIFF - got), sorted(got - EXPECTED_DIFF))


def run_commit_scenario(store, program):
    """Returns a dict of observations for the report."""
    name, _, fstype = program
    obs = {}
    base_ref = store.import_busybox()
    base = parse_manifest(store.podman("run", "--rm", "--pull=never", "--network", "none",
                                       base_ref, "sh", "-c", MANIFEST_SCRIPT).stdout)
    assert base.get("/etc/keep", "").startswith("F"), base

    out = store.podman("run", "--name", "work", "--pull=never", "--network", "none",
                       base_ref, "sh", "-c", CHANGE_SCRIPT).stdout
    ml = mount_line("\n".join(l[7:] for l in out.splitlines() if l.startswith("MOUNT: ")))
    assert ml is not None, out
    assert ml[0] == fstype, "container rootfs is %r, expected %s" % (ml, fstype)
    assert "ID: 0:0" in out, out

    # The container's upper dir as the mount program left it.
    upper = store.podman("inspect", "work", "--format",
                         "{{.GraphDriver.Data.UpperDir}}").stdout.strip()
    assert os.path.isdir(upper), upper
    obs["container_upper"] = tree_facts(upper)
    if name == "layerfs":
        f = obs["container_upper"]
        # aufs form only: .wh.NAME and .wh..wh..opq; no char devices, no
        # overlay xattrs, none of layerfs's own metadata.
        assert f["chr"] == [] and f["xattr"] == [] and f["meta"] == [], f
        assert "etc/.wh.keep" in f["wh"], f
        assert "var/data/.wh.link" not in f["wh"], f     # replaced, not deleted
        assert os.path.isfile(os.path.join(upper, "d", ".wh..wh..opq")), f
        assert sorted(os.listdir(os.path.join(upper, "d"))) == [".wh..wh..opq", "x"]
        assert not os.path.exists(os.path.join(upper, "d", "a"))

    check_diff(store.podman("diff", "work").stdout, "of the container")

    store.podman("commit", "work", "localhost/bb:committed")
    layer = store.podman("image", "inspect", "localhost/bb:committed", "--format",
                         "{{.GraphDriver.Data.UpperDir}}").stdout.strip()
    obs["committed_layer"] = f = tree_facts(layer)
    # What containers/storage (4.3, with a mount program) stores for the
    # commit: plain aufs .wh. files, whatever the mount program wrote.
    assert f["chr"] == [] and f["xattr"] == [] and f["meta"] == [], f
    assert f["wh"] == ["d/.wh.a", "d/.wh.sub", "etc/.wh.keep"], f

    got = parse_manifest(store.podman("run", "--rm", "--pull=never", "--network", "none",
                                      "localhost/bb:committed", "sh", "-c",
                                      MANIFEST_SCRIPT).stdout)
    want = expected_manifest(base)
    assert got == want, _manifest_delta(got, want)

    check_diff(store.podman("diff", "localhost/bb:committed").stdout, "of the committed image")

    # A second generation on top of the committed image: the whiteouts of a
    # lower layer must stay in force, and a re-created name must come back.
    out = store.podman("run", "--rm", "--pull=never", "--network", "none",
                       "localhost/bb:committed", "sh", "-c",
                       "test ! -e /etc/keep && test ! -e /d/a && test ! -e /d/sub/b"
                       " && ls -a /d && echo again > /etc/keep && cat /etc/keep"
                       " && mkdir /d/sub && ls /d/sub | wc -l").stdout.split()
    assert out == [".", "..", "x", "again", "0"], out
    return obs


def _manifest_delta(got, want):
    lines = []
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            lines.append("%s: got %r want %r" % (k, got.get(k), want.get(k)))
    return "\n".join(lines)
