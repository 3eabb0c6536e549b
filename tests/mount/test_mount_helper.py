"""`mount -t fuse.layerfs` and fstab lines work through mount.fuse3.

mount.fuse3 finds the program on a fixed PATH, so each test runs in a private
mount namespace where a tmpfs over /usr/local/sbin holds the layerfs under
test: the host's /usr/local/sbin is never touched."""
import os
import subprocess
import textwrap

from conftest import LAYERFS_BIN, daemon_env, sanitizer_report


def run_in_namespace(script):
    """Runs a shell script in a private mount namespace; the script cleans up
    its mounts itself (the namespace dies with it)."""
    body = textwrap.dedent("""
        set -eu
        mount -t tmpfs tmpfs /usr/local/sbin
        cp "$LAYERFS_BIN" /usr/local/sbin/layerfs
        trap 'umount "$MNT" 2>/dev/null || true' EXIT
    """) + textwrap.dedent(script)
    env = daemon_env()
    env["LAYERFS_BIN"] = LAYERFS_BIN
    return env, body


def branches(union):
    rw = union.branch("rw", {})
    low = union.branch("low", {"f": "lower\n", ".wh.gone": "", "gone": "x"})
    mnt = union.mkdir("mnt")
    return rw, low, mnt


def check(r):
    assert r.returncode == 0, r.stdout + r.stderr
    assert not sanitizer_report(r.stderr), r.stderr


def test_mount_t_fuse_layerfs(union):
    rw, low, mnt = branches(union)
    env, body = run_in_namespace("""
        mount -t fuse.layerfs -o "br=$RW=rw:$LOW=ro+wh" none "$MNT"
        grep " $MNT " /proc/self/mountinfo | grep -q " - fuse.layerfs "
        cat "$MNT/f"
        echo new > "$MNT/n"
        umount "$MNT"
    """)
    env.update(RW=rw, LOW=low, MNT=mnt)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       env=env, capture_output=True, text=True, timeout=60)
    check(r)
    assert r.stdout == "lower\n"
    with open(os.path.join(rw, "n")) as f:
        assert f.read() == "new\n"


def test_fstab_line(union):
    rw, low, mnt = branches(union)
    fstab = os.path.join(union.root, "fstab")
    with open(fstab, "w") as f:
        f.write("none %s fuse.layerfs br=%s=rw:%s=ro,allow_other 0 0\n" % (mnt, rw, low))
    env, body = run_in_namespace("""
        mount -T "$FSTAB" "$MNT"
        ls -a "$MNT"
        umount "$MNT"
    """)
    env.update(FSTAB=fstab, MNT=mnt)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", body],
                       env=env, capture_output=True, text=True, timeout=60)
    check(r)
    # low is plain ro: its whiteout is not honoured, and never shown.
    assert r.stdout.split() == [".", "..", "f", "gone"]
