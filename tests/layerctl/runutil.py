"""Helpers for the tests that run containers with volumes, tmpfs mounts and
detached runs, on real runc and crun.

`ctr` (parametrized over both runtimes) gives a store with a busybox-static
image ("bb:test") and a host directory for volume sources.  Its teardown
always: removes every container with `layerctl rm --force` (which kills a
running one, unmounts its rootfs and undoes the shared binds it made),
deletes whatever the runtime still knows of them, and unmounts anything
left below the host directory (deepest first) — also when the test failed.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from ctrutil import (Store, LAYERFS_BIN, LAYERCTL_BIN, SANITIZER_MARKERS,  # noqa: F401
                     mountpoints, force_unmount)

RUNTIMES = ("runc", "crun")
SLEEP = ["/bin/busybox", "sleep", "1000"]


def is_static_elf(path):
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
    pytest.fail("needs busybox-static (scripts/deps.sh installs it)")


def mountinfo(text=None):
    """[(mount_id, parent, mountpoint, fstype, source, optional_fields)]."""
    if text is None:
        with open("/proc/self/mountinfo") as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        left, right = line.split(" - ", 1)
        f = left.split()
        r = right.split()
        mp = f[4].encode().decode("unicode_escape")
        out.append((int(f[0]), int(f[1]), mp, r[0], r[1], f[6:]))
    return out


def host_mounts_below(path):
    return [m for m in mountinfo() if m[2] == path or m[2].startswith(path + "/")]


class Ctr:
    """A store with a busybox image, a runtime and a host directory."""

    def __init__(self, store, runtime, host):
        self.store = store
        self.runtime = runtime
        self.host = host

    def ctl(self, *args, **kw):
        return self.store.ctl(*args, **kw)

    def create(self, name, *opts, cmd=SLEEP, image="bb:test", check=True):
        return self.ctl("create", *opts, image, name, *cmd, check=check)

    def run(self, name, *args, detach=False, check=True, timeout=120):
        flags = ["-d"] if detach else []
        return self.ctl("run", *flags, "--runtime", self.runtime, name, *args, check=check,
                        timeout=timeout)

    def exec(self, name, *cmd, check=True):
        return self.ctl("exec", name, *cmd, check=check)

    def sh(self, name, script, check=True):
        return self.exec(name, "/bin/busybox", "sh", "-c", script, check=check)

    def inspect(self, name):
        return json.loads(self.ctl("inspect", name).stdout)

    def state(self, name):
        rows = {l.split()[0]: l.split() for l in self.ctl("ps").stdout.splitlines()[1:]}
        return rows[name][2]

    def wait_state(self, name, prefix, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.state(name).startswith(prefix):
                return self.state(name)
            time.sleep(0.05)
        raise AssertionError("%s never got to %s (is %s)" % (name, prefix, self.state(name)))

    def cdir(self, name, *parts):
        return self.store.cdir(name, *parts)

    def hostpath(self, *parts):
        p = os.path.join(self.host, *parts)
        os.makedirs(p, exist_ok=True)
        return p

    def container_mountinfo(self, name):
        return mountinfo(self.exec(name, "/bin/busybox", "cat", "/proc/1/mountinfo").stdout)

    def cleanup(self):
        """Removes everything; returns the sanitizer reports found in the
        logs of detached runs (their monitor writes there)."""
        reports = []
        cdir = self.store.p("containers")
        for name in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
            try:
                with open(os.path.join(cdir, name, "container.log"), errors="replace") as f:
                    log = f.read()
                if any(m in log for m in SANITIZER_MARKERS):
                    reports.append("%s/container.log:\n%s" % (name, log))
            except OSError:
                pass
            rid = None
            try:
                with open(os.path.join(cdir, name, "run.json")) as f:
                    rid = json.load(f).get("id")
            except (OSError, ValueError):
                pass
            self.store.ctl("rm", "--force", name, check=False)
            if rid:
                for rt in RUNTIMES:
                    subprocess.run([rt, "delete", "--force", rid], capture_output=True)
        for m in sorted(host_mounts_below(self.host), key=lambda m: -len(m[2])):
            subprocess.run(["umount", "-l", m[2]], capture_output=True)
        return reports


def make_ctr(runtime, host_parent=None):
    if os.geteuid() != 0:
        pytest.fail("needs root (FUSE mounts, runc/crun)")
    if not shutil.which(runtime):
        pytest.fail("needs %s (scripts/deps.sh installs it)" % runtime)
    for b in (LAYERFS_BIN, LAYERCTL_BIN):
        if not os.access(b, os.X_OK):
            pytest.fail("%s is not executable (set LAYERFS_BIN / LAYERCTL_BIN)" % b)
    top = tempfile.mkdtemp(prefix="layerctl-run-", dir=host_parent or "/tmp")
    host = os.path.join(top, "host")
    os.mkdir(host)
    store = Store(os.path.join(top, "store"))
    data = open(busybox_static(), "rb").read()
    store.add_image("bb:test", [[("f", "bin/busybox", data, 0o755), ("l", "bin/sh", "busybox"),
                                 ("f", "etc/os-release", "ID=bb\n"), ("d", "srv")]],
                    {"Cmd": SLEEP})
    return top, Ctr(store, runtime, host)


def finish_ctr(top, c, reports=()):
    """Cleans up after make_ctr (reports: what an earlier cleanup found)."""
    reports = list(reports)
    try:
        reports += c.cleanup()
    finally:
        c.store.cleanup()
        left = [m[2] for m in mountinfo() if m[2].startswith(top + "/") or m[2] == top]
        for mp in sorted(left, key=lambda p: -len(p)):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
        assert not left, "mounts left behind: %r" % left
        assert not reports, "sanitizer report in a detached run:\n" + "\n".join(reports)


@pytest.fixture(params=RUNTIMES)
def ctr(request):
    top, c = make_ctr(request.param)
    try:
        yield c
    finally:
        finish_ctr(top, c)


@pytest.fixture
def ctr_runc():
    """The same, once, for what does not depend on the runtime."""
    top, c = make_ctr("runc")
    try:
        yield c
    finally:
        finish_ctr(top, c)
