"""Fixtures for the real-mount tests of layerfs.

Every test gets a fresh directory under /tmp holding its branches, a plain
ext4 reference directory where wanted, and the mountpoint.  The `union`
fixture starts the daemon, waits until the kernel shows the mount, and in
teardown always unmounts, waits for the daemon and fails the test when the
daemon exited non-zero, printed a sanitizer report, or when a lower branch
was modified.
"""
import errno
import hashlib
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lfsutil import (  # noqa: E402
    build_tree, snapshot, mountinfo_entry, wait_unmounted, WH_BASE,
)

LAYERFS_BIN = os.environ.get("LAYERFS_BIN") or os.path.join(REPO, "build", "layerfs")
LAYERCTL_BIN = os.environ.get("LAYERCTL_BIN") or os.path.join(REPO, "build", "tools", "layerctl")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer")
MOUNT_TIMEOUT = 10.0
EXIT_TIMEOUT = 15.0


def pytest_sessionstart(session):
    problems = []
    if os.geteuid() != 0:
        problems.append("the mount tests must run as root")
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    if shutil.which("fusermount3") is None:
        problems.append("fusermount3 is not installed (apt-get install fuse3)")
    if not os.access(LAYERFS_BIN, os.X_OK):
        problems.append("layerfs binary %r is not executable (set LAYERFS_BIN)" % LAYERFS_BIN)
    session.config._layerfs_problems = problems


@pytest.fixture(autouse=True)
def _environment_ok(request):
    problems = request.config._layerfs_problems
    if problems:
        pytest.fail("test environment unusable: " + "; ".join(problems), pytrace=False)


def daemon_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=24")
    return env


def sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKERS)


def force_unmount(mnt):
    """Unmount MNT whatever state its daemon is in.  Returns a list of notes."""
    notes = []
    if mountinfo_entry(mnt) is None:
        return notes
    for attempt in range(20):
        r = subprocess.run(["fusermount3", "-u", mnt], capture_output=True, text=True)
        if r.returncode == 0 and wait_unmounted(mnt, 2.0):
            return notes
        if mountinfo_entry(mnt) is None:
            return notes
        time.sleep(0.1)
    notes.append("fusermount3 -u %s failed (%s); used umount -l" % (mnt, r.stderr.strip()))
    subprocess.run(["umount", "-l", mnt], capture_output=True)
    if not wait_unmounted(mnt, 5.0):
        notes.append("umount -l %s did not remove the mount" % mnt)
    return notes


class Mount:
    """One running layerfs instance."""

    def __init__(self, union, args, lowers, mnt, rw=None, foreground=True):
        self.union = union
        self.args = list(args)
        self.lowers = list(lowers)      # branch dirs that must never change
        self.mnt = mnt
        self.rw = rw
        self.foreground = foreground
        self.proc = None
        self.stderr_path = None
        self.checked = False

    def p(self, *parts):
        return os.path.join(self.mnt, *parts)

    # -- life cycle -------------------------------------------------------
    def start(self):
        self.union.nstarts += 1
        self.stderr_path = os.path.join(self.union.logdir,
                                        "daemon-%d.stderr" % self.union.nstarts)
        self.stderr_file = open(self.stderr_path, "w+b")
        self.proc = subprocess.Popen([LAYERFS_BIN] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr_file, stderr=self.stderr_file,
                                     env=daemon_env())
        self.checked = False
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while True:
            ent = mountinfo_entry(self.mnt)
            if ent is not None:
                if ent["fstype"] != "fuse.layerfs":
                    pytest.fail("%s is mounted as %r, expected fuse.layerfs"
                                % (self.mnt, ent["fstype"]))
                break
            if self.proc.poll() is not None:
                self.checked = True     # reported here, not again at teardown
                err = self.stderr()
                pytest.fail("layerfs exited with status %s before mounting %s; "
                            "args %r; stderr:\n%s" % (self.proc.returncode, self.mnt,
                                                      self.args, err), pytrace=False)
            if time.monotonic() > deadline:
                self.checked = True
                self.proc.kill()
                self.proc.wait()
                pytest.fail("mount %s did not appear within %.0fs; stderr:\n%s"
                            % (self.mnt, MOUNT_TIMEOUT, self.stderr()), pytrace=False)
            time.sleep(0.01)
        return self

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """Unmount and check the daemon's exit.  Returns a list of problems."""
        problems = force_unmount(self.mnt)
        if self.proc is not None and not self.checked:
            self.checked = True
            try:
                rc = self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                problems.append("daemon did not exit within %.0fs after unmount" % EXIT_TIMEOUT)
            err = self.stderr()
            if rc != 0 and not (rc == -signal.SIGKILL and self.killed):
                problems.append("daemon exit status %s; stderr:\n%s" % (rc, err[-6000:]))
            if sanitizer_report(err):
                problems.append("sanitizer report in daemon stderr:\n%s" % err[-12000:])
            self.stderr_file.close()
        return problems

    killed = False

    def kill9(self):
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def remount(self):
        """Unmount (checking the daemon), then mount again with the same args."""
        problems = self.stop()
        if problems:
            pytest.fail("unmount before remount: " + "\n".join(problems), pytrace=False)
        self.killed = False
        return self.start()


class Union:
    """Per-test factory for branches and mounts."""

    def __init__(self, root):
        self.root = root
        self.logdir = os.path.join(root, "logs")
        os.mkdir(self.logdir)
        self.mounts = []
        self.snapshots = {}     # lower dir -> snapshot taken before first mount
        self.extra_mounts = []  # tmpfs etc. we mounted ourselves
        self.nstarts = 0
        self.mnt_default = self.mkdir("mnt")

    def mkdir(self, name, mode=0o755):
        p = os.path.join(self.root, name)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def branch(self, name, spec=None, mode=0o755):
        """Creates ROOT/NAME (mode MODE) filled from SPEC (see lfsutil.build_tree)."""
        p = self.mkdir(name, mode)
        if spec:
            build_tree(p, spec)
        return p

    def loopfs(self, name, size_mb=8, inodes=None):
        """A fresh ext4 of SIZE_MB MiB on a loop device, mounted on ROOT/NAME
        (unmounted, and its loop device freed, at teardown). inodes: how
        many the filesystem gets (mkfs -N), to run out of them."""
        p = self.mkdir(name)
        img = os.path.join(self.root, name + ".img")
        with open(img, "wb") as f:
            f.truncate(size_mb << 20)
        cmd = ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal"]
        if inodes:
            cmd += ["-N", str(inodes)]
        subprocess.run(cmd + [img], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", img, p], check=True)
        self.extra_mounts.append(p)
        os.rmdir(os.path.join(p, "lost+found"))     # a branch starts empty
        os.chmod(p, 0o755)
        return p

    def tmpfs(self, name, size="64m"):
        p = self.mkdir(name)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                        "layerfs-test", p], check=True)
        self.extra_mounts.append(p)
        return p

    def _protect(self, lowers):
        for d in lowers:
            if d not in self.snapshots:
                self.snapshots[d] = snapshot(d)

    def refused_option(self, option):
        """Runs layerfs over a fresh rw branch with -o OPTION, which it must
        refuse: a non-zero exit and one line on stderr, returned."""
        rw, mnt = self.branch("refused-rw"), self.mkdir("refused-mnt")
        r = subprocess.run([LAYERFS_BIN, mnt, "-f", "-o", "br=%s=rw,%s" % (rw, option)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, "layerfs took -o %s" % option
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, "not one line for -o %s: %r" % (option, r.stderr)
        return lines[0]

    def mount(self, branches, opts=(), mnt=None, allow_other=True, extra_args=(),
              source=None):
        """branches: list of (dir, perm) or dir; perm None = no '=PERM'.
        Mounts with br= syntax and returns the Mount."""
        mnt = mnt or self.mnt_default
        parts, lowers, rw = [], [], None
        for i, b in enumerate(branches):
            d, perm = (b, None) if isinstance(b, str) else b
            spelled = d.replace("\\", "\\\\").replace(":", "\\:")
            parts.append(spelled if perm is None else "%s=%s" % (spelled, perm))
            if perm == "rw" or (perm is None and i == 0):
                rw = d
            else:
                lowers.append(d)
        o = ["br=" + ":".join(parts)]
        return self._start(o, opts, mnt, allow_other, extra_args, source, lowers, rw)

    def mount_overlay(self, lowerdirs, upperdir=None, workdir=None, opts=(), mnt=None,
                      allow_other=True):
        mnt = mnt or self.mnt_default
        o = ["lowerdir=" + ":".join(x.replace(":", "\\:") for x in lowerdirs)]
        if upperdir:
            o.append("upperdir=" + upperdir)
        if workdir:
            o.append("workdir=" + workdir)
        return self._start(o, opts, mnt, allow_other, (), None, lowerdirs, upperdir)

    def _start(self, o, opts, mnt, allow_other, extra_args, source, lowers, rw):
        o = list(o)
        if allow_other:
            o.append("allow_other")
        o.extend(opts)
        args = ([source] if source else []) + [mnt, "-f"] + list(extra_args) + ["-o", ",".join(o)]
        self._protect(lowers)
        m = Mount(self, args, lowers, mnt, rw=rw)
        self.mounts.append(m)
        return m.start()

    def std(self, rw=None, lowers=(), perms=None, opts=()):
        """Shortcut: branch 'rw' from spec RW plus branches l1..ln from LOWERS
        (perm ro+wh unless PERMS says otherwise), mounted."""
        b = [(self.branch("rw", rw or {}), "rw")]
        for i, spec in enumerate(lowers):
            perm = perms[i] if perms else "ro+wh"
            b.append((self.branch("l%d" % (i + 1), spec), perm))
        return self.mount(b, opts=opts)

    def teardown(self):
        problems = []
        for m in reversed(self.mounts):
            problems += m.stop()
        for d, snap in self.snapshots.items():
            now = snapshot(d)
            if now != snap:
                problems.append("lower branch %s was modified:\n%s" % (d, diff_snapshots(snap, now)))
        for p in reversed(self.extra_mounts):
            if subprocess.run(["umount", p], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", p], capture_output=True)
        return problems


def diff_snapshots(a, b, limit=20):
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append("  %s: before %r\n      after  %r" % (k, a.get(k), b.get(k)))
            if len(out) >= limit:
                out.append("  ...")
                break
    return "\n".join(out)


@pytest.fixture
def union():
    root = tempfile.mkdtemp(prefix="layerfs-test-", dir="/tmp")
    os.chmod(root, 0o755)
    u = Union(root)
    try:
        yield u
    finally:
        problems = u.teardown()
        leftover = [m.mnt for m in u.mounts if mountinfo_entry(m.mnt) is not None]
        if not leftover and not any(mountinfo_entry(p) for p in u.extra_mounts):
            shutil.rmtree(root, ignore_errors=True)
        if problems:
            pytest.fail("teardown: " + "\n".join(problems), pytrace=False)


@pytest.fixture
def ref(union):
    """A helper to build a plain ext4 directory with the same spec, for comparisons."""
    def make(name, spec, mode=0o755):
        return union.branch(name, spec, mode)
    return make


# ---------------------------------------------------------------- big file
BIG_SIZE = 1 << 30


@pytest.fixture(scope="session")
def big_lower():
    """A 1 GiB non-sparse file of random data, written once per session.
    Returns (dir, name, sha256)."""
    d = tempfile.mkdtemp(prefix="layerfs-big-", dir="/tmp")
    os.chmod(d, 0o755)
    name = "big.bin"
    h = hashlib.sha256()
    chunk = os.urandom(1 << 20)
    with open(os.path.join(d, name), "wb") as f:
        for i in range(BIG_SIZE >> 20):
            # cheap variation so no two MiB are equal
            block = i.to_bytes(8, "little") + chunk[8:]
            f.write(block)
            h.update(block)
    try:
        yield d, name, h.hexdigest()
    finally:
        shutil.rmtree(d, ignore_errors=True)
