"""Host resources of the benchmark: commands, scratch filesystems on loop
images, mounts of the systems, the daemons' statistics, background load."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

MiB = 1 << 20
GiB = 1 << 30


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(cmd, check=True, timeout=1800, **kw):
    """Runs a command; raises BenchError with its stderr on failure."""
    p = subprocess.run(cmd, stdout=kw.pop("stdout", subprocess.PIPE),
                       stderr=subprocess.PIPE, timeout=timeout, **kw)
    if check and p.returncode != 0:
        err = (p.stderr or b"").decode(errors="replace").strip()
        raise BenchError("%s: exit %d: %s" % (" ".join(map(str, cmd))[:200],
                                              p.returncode, err[-500:]))
    return p


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


# --------------------------------------------------------------------------
# Fixtures


class Cleanup:
    """A stack of undo actions, run last-in first-out."""

    def __init__(self):
        self.items = []

    def push(self, desc, fn):
        self.items.append((desc, fn))
        return len(self.items) - 1

    def pop_run(self, token):
        desc, fn = self.items[token]
        self.items[token] = (desc, None)
        if fn:
            fn()

    def run_all(self):
        while self.items:
            desc, fn = self.items.pop()
            if fn is None:
                continue
            try:
                fn()
            except Exception as e:  # keep going: undo as much as we can
                log("cleanup: %s failed: %s" % (desc, e))


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == path:
                return True
    return False


def umount_path(path, fuse):
    for attempt in range(10):
        if not is_mounted(path):
            return
        cmd = ["fusermount3", "-u", path] if fuse else ["umount", path]
        p = run(cmd, check=False)
        if p.returncode == 0:
            return
        time.sleep(0.3)
    run(["fusermount3", "-u", "-z", path] if fuse else ["umount", "-l", path], check=False)


def safe_rmtree(path):
    """Removes a scratch tree unless something is still mounted inside it
    (then removing would reach into that mount)."""
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        busy = [l.split()[4] for l in f if l.split()[4].startswith(prefix)]
    if busy:
        log("not removing %s: still mounted inside: %s" % (path, " ".join(busy)))
        return
    shutil.rmtree(path, ignore_errors=True)


class LoopFs:
    """A fresh filesystem on a sparse image file, loop-mounted."""

    def __init__(self, cleanup, img, mnt, size, fstype):
        self.mnt = mnt
        with open(img, "wb") as f:
            f.truncate(size)
        cleanup.push("remove " + img, lambda: os.path.exists(img) and os.unlink(img))
        if fstype == "ext4":
            run(["mkfs.ext4", "-q", "-F", "-j", "-E",
                 "lazy_itable_init=0,lazy_journal_init=0", img])
        else:
            run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", img])
        dev = run(["losetup", "--find", "--show", "--direct-io=on", img]).stdout.decode().strip()
        cleanup.push("detach " + dev, lambda: run(["losetup", "-d", dev], check=False))
        os.makedirs(mnt, exist_ok=True)
        run(["mount", "-t", fstype, dev, mnt])
        cleanup.push("umount " + mnt, lambda: umount_path(mnt, False))
        self.dev = dev


def find_daemon(mnt, names):
    """PID of the FUSE daemon serving mnt: the process whose command line
    names the mountpoint."""
    want = os.fsencode(mnt)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in names and want in args:
            return int(pid)
    return None


def proc_stats(pid):
    """(VmHWM in MiB, utime+stime in seconds) of a process."""
    hwm = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    tck = os.sysconf("SC_CLK_TCK")
    return hwm, (int(fields[11]) + int(fields[12])) / tck


def system_base(system):
    """'layerfs:io_uring+passthrough=off' -> 'layerfs'; 'layerfs@old' (another
    layerfs binary, --alt old=PATH) -> 'layerfs'."""
    return system.partition(":")[0].partition("@")[0]


def system_binary(bench, system):
    """The layerfs binary of a layerfs system."""
    alt = system.partition(":")[0].partition("@")[2]
    return bench.alt[alt] if alt else bench.layerfs


def system_opts(system):
    """'layerfs:io_uring+passthrough=off' -> ['io_uring', 'passthrough=off']."""
    rest = system.partition(":")[2]
    return [o for o in rest.split("+") if o]


class Mount:
    """One system mounted over a list of lower dirs (top first) with a
    fresh upper directory. A system is overlay, overlay-metacopy (kernel
    overlayfs with metacopy=on), layerfs or fuse-overlayfs, the FUSE ones
    optionally with extra -o options after a colon (layerfs:io_uring)."""

    def __init__(self, bench, system, lowers, scratch, tag, overlay_opts=()):
        self.bench, self.system = bench, system
        base_sys = system_base(system)
        self.fuse = base_sys in ("layerfs", "fuse-overlayfs")
        self.mnt = os.path.join(bench.tmp, "m")
        self.pid = None
        base = os.path.join(scratch, "%s-%s" % (system.replace(":", "+").replace("@", "+"), tag))
        if os.path.exists(base):
            shutil.rmtree(base)
        self.base = base
        upper, work = os.path.join(base, "u"), os.path.join(base, "w")
        self.upper = upper
        os.makedirs(upper)
        os.makedirs(work)
        os.makedirs(self.mnt, exist_ok=True)
        extra = system_opts(system)
        if base_sys in ("overlay", "overlay-metacopy"):
            opts = "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(lowers), upper, work)
            if base_sys == "overlay-metacopy":
                opts += ",metacopy=on"
            opts += "".join("," + o for o in overlay_opts)
            cmd = ["mount", "-t", "overlay", "overlay", "-o", opts, self.mnt]
        elif base_sys == "fuse-overlayfs":
            cmd = [bench.fuse_overlayfs, "-o",
                   "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(lowers), upper, work)]
            cmd += [x for o in extra for x in ("-o", o)] + [self.mnt]
        else:
            os.rmdir(work)
            cmd = [system_binary(bench, system), "-o",
                   "br=" + ":".join(["%s=rw" % upper] + ["%s=ro+wh" % l for l in lowers])]
            cmd += [x for o in extra for x in ("-o", o)] + [self.mnt]
        self.token = bench.cleanup.push("unmount " + self.mnt, self._teardown)
        try:
            self._mount(cmd)
        except BaseException:
            self.close()
            raise

    def _mount(self, cmd):
        system = self.system
        t0 = time.monotonic()
        p = run(cmd, check=False, timeout=120)
        if p.returncode != 0:
            raise BenchError("mount of %s failed: %s" % (system,
                             p.stderr.decode(errors="replace").strip()[-400:]))
        os.stat(self.mnt)
        self.mount_secs = time.monotonic() - t0
        if not is_mounted(self.mnt):
            raise BenchError("%s: command returned but %s is not a mountpoint"
                             % (system, self.mnt))
        if self.fuse:
            self.pid = find_daemon(self.mnt, ("layerfs", "fuse-overlayfs"))
            if self.pid is None:
                raise BenchError("%s: daemon process not found" % system)
        self.stats0 = self.stats()

    def stats(self):
        if not self.pid:
            return None, None
        try:
            return proc_stats(self.pid)
        except OSError:
            return None, None

    def _teardown(self):
        if os.path.exists(self.mnt):
            umount_path(self.mnt, self.fuse)
        if self.pid:
            for _ in range(100):
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                log("daemon %d of %s still alive after unmount; killing it" % (self.pid, self.system))
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if os.path.exists(self.base):
            shutil.rmtree(self.base, ignore_errors=True)

    def close(self):
        self.bench.cleanup.pop_run(self.token)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

def timed(cmd, **kw):
    t0 = time.monotonic()
    run(cmd, stdout=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def fio_iops(args):
    p = run(["fio", "--output-format=json"] + args)
    out = p.stdout.decode()
    res = json.loads(out[out.index("{"):])
    job = res["jobs"][0]
    if job.get("error"):
        raise BenchError("fio error %s" % job["error"])
    rw = "read" if job["read"]["io_bytes"] else "write"
    return job[rw]["iops"]



def fs_used_bytes(path):
    """Bytes in use on the filesystem holding path, after a sync."""
    os.sync()
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class Load:
    """A steady background CPU load: `stress-ng --cpu N`, started and
    stopped around each measurement of the loaded condition."""

    @staticmethod
    def command(ncpu):
        return ["stress-ng", "--cpu", str(ncpu), "--quiet"]

    def __init__(self, cleanup, ncpu=1):
        self.cmd = Load.command(ncpu)
        self.proc = None
        cleanup.push("stop stress-ng", self.stop)

    def start(self):
        if self.proc:
            return
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)         # its workers running before the clock starts
        if self.proc.poll() is not None:
            self.proc = None
            raise BenchError("%s exited at once" % " ".join(self.cmd))

    def stop(self):
        p, self.proc = self.proc, None
        if not p:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


class ModuleParam:
    """A kernel module parameter set for the run and restored at the end
    (also on failure or Ctrl-C): /sys/module/fuse/parameters/enable_uring."""

    def __init__(self, cleanup, path, value):
        self.path = path
        with open(path) as f:
            self.old = f.read().strip()
        cleanup.push("restore " + path, self.restore)
        with open(path, "w") as f:
            f.write(value + "\n")

    def restore(self):
        with open(self.path, "w") as f:
            f.write(self.old + "\n")
