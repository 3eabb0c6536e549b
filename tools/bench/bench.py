#!/usr/bin/python3
"""layerfs benchmark: layerfs against kernel overlayfs and fuse-overlayfs.

Run as root with the system Python (standard library only):

    /usr/bin/python3 tools/bench/bench.py [--quick] [--reps N] [--layers 20]
        [--only WORKLOAD,...] [--systems layerfs,overlay,fuse-overlayfs]
        [--layerfs PATH] [--fixtures DIR] [--json FILE] [--table FILE]

See tools/bench/README.md for what is measured and how.

Layout of everything this script creates:
  FIXTURES/               cached, deterministic fixtures (kept between runs)
    s20w/L000..L019       20-layer stack, aufs-style whiteouts (.wh.NAME)
    s20o/L000..L019       the same stack, overlayfs-style (char 0:0, xattr)
    src.tar               source-like tarball for the untar workload
    run.XXXX/             per-run loop images (removed at the end)
  /run/lfbXXXX/           per-run mountpoints and the read-only bind mount
                          of FIXTURES (removed at the end)
"""

import argparse
import datetime
import errno
import hashlib
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

GEN_VERSION = 3          # bump when the fixture layout changes
SEED = 20240606
MiB = 1 << 20
GiB = 1 << 30

SYSTEMS = ("overlay", "layerfs", "fuse-overlayfs")
# Which whiteout flavour each system reads: 'w' = .wh. files, 'o' = char 0:0.
VARIANT = {"layerfs": "w", "overlay": "o", "fuse-overlayfs": "o"}

FULL = dict(files=45000, dirs=1750, rm_files=5000, rm_dirs=250,
            big=2 * GiB, tar_files=20000, tar_dirs=1200,
            fio_secs=10, churn=5000, seqwrite=1 * GiB, randwrite_size=256 * MiB,
            img_ext4=12 * GiB, img_xfs=8 * GiB, reps=3)
QUICK = dict(files=1800, dirs=90, rm_files=200, rm_dirs=10,
             big=64 * MiB, tar_files=800, tar_dirs=60,
             fio_secs=1, churn=300, seqwrite=32 * MiB, randwrite_size=16 * MiB,
             img_ext4=1 * GiB, img_xfs=1 * GiB, reps=1)


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
# --------------------------------------------------------------------------

class Plan:
    """The physical content of every layer of one stack, in memory.

    layers[i] is a dict with: dirs (set of paths), files (path -> (size,
    offset into the data pool)), wh (set of whited-out paths), opq (set of
    opaque dir paths). Layer 0 is the top, layer n-1 the bottom. Paths are
    relative, '/'-separated, under 'tree/' or 'rmme/'."""

    def __init__(self, nlayers, p):
        self.n = nlayers
        rng = random.Random("%d/%d/%d/%d" % (SEED, nlayers, p["files"], p["dirs"]))
        self.layers = [dict(dirs=set(), files={}, wh=set(), opq=set())
                       for _ in range(nlayers)]
        multi = nlayers > 1

        def put_dir(layer, path):
            d = self.layers[layer]["dirs"]
            while path and path not in d:
                d.add(path)
                path = path.rpartition("/")[0]

        def put_file(layer, path):
            self.layers[layer]["files"][path] = (rng.randint(0, 16384),
                                                 rng.randrange(MiB))
            put_dir(layer, path.rpartition("/")[0])

        def make_tree(root, ndirs, nfiles):
            dirs = [root]
            for i in range(1, ndirs):
                # Random recursive tree; favour shallow parents a little.
                parent = dirs[min(rng.randrange(len(dirs)), rng.randrange(len(dirs)))]
                dirs.append("%s/d%04d" % (parent, i))
            files = []
            for i in range(nfiles):
                d = dirs[rng.randrange(len(dirs))]
                ext = rng.choice((".c", ".h", ".txt", ".so", ".py", ".json", ""))
                files.append("%s/f%05d%s" % (d, i, ext))
            return dirs, files

        tdirs, tfiles = make_tree("tree", p["dirs"], p["files"])
        rdirs, rfiles = make_tree("rmme", p["rm_dirs"], p["rm_files"])
        # Every directory exists at least in the bottom layer (as in a base
        # image); files are spread uniformly over all layers.
        for d in tdirs + rdirs:
            put_dir(nlayers - 1, d)
        for f in tfiles + rfiles:
            base = rng.randrange(nlayers)
            put_file(base, f)
            if not multi or base == 0:
                continue
            r = rng.random()
            if r < 0.10:                      # shadowed by a newer copy
                put_file(rng.randrange(base), f)
            elif r < 0.14:                    # deleted in a newer layer
                w = rng.randrange(base)
                self.layers[w]["wh"].add(f)
                put_dir(w, f.rpartition("/")[0])
            elif r < 0.15:                    # deleted, then created again
                w = rng.randrange(1, base) if base > 1 else None
                if w is not None:
                    self.layers[w]["wh"].add(f)
                    put_dir(w, f.rpartition("/")[0])
                    put_file(rng.randrange(w), f)
        if multi:
            # (tree/d0001 stays a plain directory: the churn workload uses it)
            cand = tdirs[2:] + rdirs[1:]
            # Opaque directories: replaced wholesale in some newer layer.
            for d in rng.sample(cand, max(1, len(cand) // 100)):
                o = rng.randrange(nlayers - 1)
                self.layers[o]["opq"].add(d)
                put_dir(o, d)
                for k in range(3):
                    put_file(o, "%s/opq%d.txt" % (d, k))
            # Whole directories deleted in a newer layer.
            for d in rng.sample(cand, max(1, len(cand) // 200)):
                w = rng.randrange(nlayers - 1)
                if d in self.layers[w]["dirs"]:
                    continue
                self.layers[w]["wh"].add(d)
                put_dir(w, d.rpartition("/")[0])

    def visible(self):
        """The merged view: {path: size} of every visible regular file,
        computed with the union rules (topmost wins, a whiteout hides the
        layers below it, an opaque directory stops the merge)."""
        out = {}
        children = []
        for L in self.layers:
            ch = {}
            for kind, paths in (("d", L["dirs"]), ("f", L["files"]), ("w", L["wh"])):
                for pth in paths:
                    par, _, name = pth.rpartition("/")
                    ch.setdefault(par, {})[name] = kind
            children.append(ch)

        def merge(path, layers):
            seen = set()
            for li, i in enumerate(layers):
                for name, kind in children[i].get(path, {}).items():
                    if name in seen:
                        continue
                    seen.add(name)
                    full = path + "/" + name if path else name
                    if kind == "f":
                        out[full] = self.layers[i]["files"][full][0]
                    elif kind == "d":
                        sub = [i]
                        if full not in self.layers[i]["opq"]:
                            for j in layers[li + 1:]:
                                k = children[j].get(path, {}).get(name)
                                if k == "d":
                                    sub.append(j)
                                    if full in self.layers[j]["opq"]:
                                        break
                                elif k is not None:
                                    break
                        merge(full, sub)
        merge("", list(range(self.n)))
        return out

    def counts(self):
        return dict(files=sum(len(L["files"]) for L in self.layers),
                    dirs=sum(len(L["dirs"]) for L in self.layers),
                    whiteouts=sum(len(L["wh"]) for L in self.layers),
                    opaque=sum(len(L["opq"]) for L in self.layers))


def manifest_digest(items):
    h = hashlib.sha256()
    for path, size in sorted(items):
        h.update(("%s\0%d\n" % (path, size)).encode())
    return h.hexdigest()


def data_pool():
    return random.Random(SEED).randbytes(MiB + 16384 + 1)


def write_stack(root, plan, variant, pool):
    """Writes plan under root/L000.. in one whiteout flavour."""
    for i, L in enumerate(plan.layers):
        ld = os.path.join(root, "L%03d" % i)
        os.mkdir(ld)
        for d in sorted(L["dirs"]):
            os.mkdir(os.path.join(ld, d))
        for f, (size, off) in L["files"].items():
            with open(os.path.join(ld, f), "wb") as fh:
                fh.write(pool[off:off + size])
        for w in L["wh"]:
            par, _, name = w.rpartition("/")
            if variant == "w":
                open(os.path.join(ld, par, ".wh." + name), "wb").close()
            else:
                os.mknod(os.path.join(ld, w), 0o600 | 0o020000, os.makedev(0, 0))
        for d in L["opq"]:
            if variant == "w":
                open(os.path.join(ld, d, ".wh..wh..opq"), "wb").close()
            else:
                os.setxattr(os.path.join(ld, d), "trusted.overlay.opaque", b"y")


def stack_key(nlayers, p):
    return dict(version=GEN_VERSION, seed=SEED, layers=nlayers,
                files=p["files"], dirs=p["dirs"], rm_files=p["rm_files"],
                rm_dirs=p["rm_dirs"])


def ensure_stack(fix, nlayers, p, with_big):
    """Makes (or reuses) both variants of the nlayers stack. Returns its
    info dict: expected digest and counts."""
    stamp_path = os.path.join(fix, "s%d.json" % nlayers)
    key = stack_key(nlayers, p)
    info = None
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            info = json.load(f)
        if info.get("key") != key or not all(
                os.path.isdir(os.path.join(fix, "s%d%s" % (nlayers, v))) for v in "wo"):
            info = None
    if info is None:
        t0 = time.monotonic()
        log("generating the %d-layer stack (both variants) ..." % nlayers)
        plan = Plan(nlayers, p)
        vis = plan.visible()
        pool = data_pool()
        for v in "wo":
            root = os.path.join(fix, "s%d%s" % (nlayers, v))
            if os.path.exists(root):
                shutil.rmtree(root)
            tmp = root + ".tmp"
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
            os.mkdir(tmp)
            write_stack(tmp, plan, v, pool)
            os.rename(tmp, root)
        info = dict(key=key, digest=manifest_digest(vis.items()),
                    visible_files=len(vis), **plan.counts())
        os.sync()
        with open(stamp_path + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.rename(stamp_path + ".tmp", stamp_path)
        log("  %d-layer stack: %s in %.0f s" % (nlayers, plan.counts(),
                                                time.monotonic() - t0))
    if with_big:
        for v in "wo":
            ensure_big(os.path.join(fix, "s%d%s" % (nlayers, v), "L%03d" % (nlayers - 1)),
                       p["big"])
    return info


def ensure_big(layerdir, size):
    d = os.path.join(layerdir, "big")
    path = os.path.join(d, "file.bin")
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    log("writing the %d MiB file %s ..." % (size // MiB, path))
    os.makedirs(d, exist_ok=True)
    pool = data_pool()
    with open(path + ".tmp", "wb") as f:
        for i in range(size // MiB):
            block = i.to_bytes(8, "little") + pool[8:MiB]
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    os.rename(path + ".tmp", path)
    return path


WORDS = ("int", "static", "return", "struct", "const", "char", "void", "if",
         "else", "for", "while", "buf", "len", "node", "err", "fd", "size_t",
         "ctx", "branch", "layer", "inode", "path", "name", "flags", "NULL")


def ensure_tarball(fix, p):
    path = os.path.join(fix, "src-%d.tar" % p["tar_files"])
    if os.path.exists(path):
        return path
    log("generating the source tarball (%d files) ..." % p["tar_files"])
    rng = random.Random("%d/tar/%d" % (SEED, p["tar_files"]))
    lines = []
    for _ in range(4096):
        ind = "\t" * rng.randrange(4)
        lines.append(ind + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 12)))
                     + rng.choice((";", " {", "", "}", ");")) + "\n")
    text = "".join(lines).encode()
    dirs = ["src"]
    for i in range(1, p["tar_dirs"]):
        parent = dirs[min(rng.randrange(len(dirs)), rng.randrange(len(dirs)))]
        dirs.append("%s/%s%d" % (parent, rng.choice(("lib", "core", "util", "net", "fs",
                                                     "test", "doc", "arch")), i))
    mtime = 1700000000
    with tarfile.open(path + ".tmp", "w", format=tarfile.GNU_FORMAT) as tf:
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
            tf.addfile(ti)
        for i in range(p["tar_files"]):
            d = dirs[rng.randrange(len(dirs))]
            name = "%s/%s_%d%s" % (d, rng.choice(WORDS), i,
                                   rng.choice((".c", ".c", ".h", ".py", ".md", ".js", ".json")))
            size = min(int(rng.lognormvariate(8.3, 1.0)), 96 * 1024)
            off = rng.randrange(len(text) - size) if size < len(text) else 0
            data = text[off:off + size]
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
            tf.addfile(ti, io.BytesIO(data))
    os.rename(path + ".tmp", path)
    return path


# --------------------------------------------------------------------------
# Host resources: bind mounts, loop images, mounts of the systems
# --------------------------------------------------------------------------

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


class Mount:
    """One system mounted over a list of lower dirs (top first) with a
    fresh upper directory."""

    def __init__(self, bench, system, lowers, scratch, tag):
        self.bench, self.system = bench, system
        self.fuse = system != "overlay"
        self.mnt = os.path.join(bench.tmp, "m")
        self.pid = None
        base = os.path.join(scratch, "%s-%s" % (system, tag))
        if os.path.exists(base):
            shutil.rmtree(base)
        self.base = base
        upper, work = os.path.join(base, "u"), os.path.join(base, "w")
        os.makedirs(upper)
        os.makedirs(work)
        os.makedirs(self.mnt, exist_ok=True)
        if system == "overlay":
            cmd = ["mount", "-t", "overlay", "overlay", "-o",
                   "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(lowers), upper, work),
                   self.mnt]
        elif system == "fuse-overlayfs":
            cmd = [bench.fuse_overlayfs, "-o",
                   "lowerdir=%s,upperdir=%s,workdir=%s" % (":".join(lowers), upper, work),
                   self.mnt]
        else:
            os.rmdir(work)
            cmd = [bench.layerfs, "-o",
                   "br=" + ":".join(["%s=rw" % upper] + ["%s=ro+wh" % l for l in lowers]),
                   self.mnt]
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


# metric -> (unit, kind); kind 'time' (lower is better) or 'rate' (higher)
METRICS = [
    ("mount100_cold", "ms", "time"), ("mount100_warm", "ms", "time"),
    ("find_cold", "s", "time"), ("find_warm", "s", "time"),
    ("stat_cold", "s", "time"), ("stat_warm", "s", "time"),
    ("lsR_cold", "s", "time"), ("lsR_warm", "s", "time"),
    ("readall_cold", "s", "time"), ("readall_warm", "s", "time"),
    ("seqread_cold", "s", "time"), ("seqread_warm", "s", "time"),
    ("randread", "IOPS", "rate"),
    ("copyup_ext4", "s", "time"), ("copyup_ext4_sync", "s", "time"),
    ("copyup_xfs", "ms", "time"),
    ("untar", "s", "time"), ("rmrf", "s", "time"),
    ("seqwrite_fsync", "s", "time"), ("randwrite", "IOPS", "rate"),
    ("churn", "s", "time"),
    ("find_warm_1L", "s", "time"), ("stat_cold_1L", "s", "time"),
    ("stat_warm_1L", "s", "time"),
    ("find_warm_100L", "s", "time"), ("stat_cold_100L", "s", "time"),
    ("stat_warm_100L", "s", "time"),
    ("rss_after_stat", "MiB", "mem"), ("cpu_stat", "s", "cpu"),
]
METRIC_INFO = {m: (u, k) for m, u, k in METRICS}

# Targets of issue 6 (ratio to kernel overlayfs unless said otherwise).
TARGETS = {
    "find_warm": 1.0, "stat_warm": 1.0,
    "find_cold": 1.3, "stat_cold": 1.3, "lsR_cold": 1.3,
    "lsR_warm": 1.2, "readall_warm": 1.5, "readall_cold": 1.3,
    "seqread_warm": 1.1, "seqread_cold": 1.2, "randread": 1.1,
    "randwrite": 2.0, "seqwrite_fsync": 1.2, "untar": 1.5, "churn": 1.5,
    "rmrf": 1.5, "mount100_cold": 1.5, "mount100_warm": 1.5,
    "copyup_ext4": "<=fuse-overlayfs", "copyup_xfs": "<=20ms",
    "rss_after_stat": "<=22MiB",
}

WORKLOADS = ["mount", "find", "stat", "lsR", "readall", "seqread", "randread",
             "copyup_ext4", "copyup_xfs", "untar", "rmrf", "seqwrite", "randwrite",
             "churn", "walk1", "walk100"]


class Bench:
    def __init__(self, args):
        self.args = args
        self.p = QUICK if args.quick else FULL
        self.cleanup = Cleanup()
        self.results = {}     # metric -> system -> [values]
        self.cpu = {}         # workload -> system -> [daemon cpu seconds]
        self.hwm = {}         # workload -> system -> [VmHWM MiB]
        self.errors = []
        self.loads = []       # 1-minute load average before each timed run
        self.layerfs = args.layerfs
        self.fuse_overlayfs = shutil.which("fuse-overlayfs")

    # -- helpers --------------------------------------------------------
    def record(self, metric, system, value):
        self.results.setdefault(metric, {}).setdefault(system, []).append(value)

    def lowers(self, nlayers, system):
        v = VARIANT[system]
        return [os.path.join(self.ro, "s%d%s" % (nlayers, v), "L%03d" % i)
                for i in range(nlayers)]

    def mount_main(self, system, tag, nlayers=None):
        n = nlayers or self.args.layers
        return Mount(self, system, self.lowers(n, system), self.ext4.mnt, tag)

    def done(self, wl, m):
        hwm, cpu = m.stats()
        if cpu is not None:
            self.cpu.setdefault(wl, {}).setdefault(m.system, []).append(cpu - m.stats0[1])
            self.hwm.setdefault(wl, {}).setdefault(m.system, []).append(hwm)

    # -- setup ----------------------------------------------------------
    def setup(self):
        a, p = self.args, self.p
        fix = a.fixtures
        os.makedirs(fix, exist_ok=True)
        stacks = {a.layers}
        if "mount" in self.wls or "walk100" in self.wls:
            stacks.add(100)
        if "walk1" in self.wls:
            stacks.add(1)
        self.stack_info = {}
        need_big = bool({"seqread", "randread", "copyup_ext4", "copyup_xfs"} & set(self.wls))
        for n in sorted(stacks):
            self.stack_info[n] = ensure_stack(fix, n, p, with_big=(n == a.layers and need_big))
        self.tarball = ensure_tarball(fix, p)
        # Per-run scratch: mountpoints and the read-only view of the fixtures
        self.tmp = tempfile.mkdtemp(prefix="lfb", dir="/run" if os.path.isdir("/run") else "/tmp")
        self.cleanup.push("remove " + self.tmp, lambda: safe_rmtree(self.tmp))
        self.ro = os.path.join(self.tmp, "r")
        os.mkdir(self.ro)
        run(["mount", "--bind", fix, self.ro])
        self.cleanup.push("umount " + self.ro, lambda: umount_path(self.ro, False))
        run(["mount", "-o", "remount,bind,ro", self.ro])
        self.run_dir = tempfile.mkdtemp(prefix="run.", dir=fix)
        self.cleanup.push("remove " + self.run_dir, lambda: safe_rmtree(self.run_dir))
        self.ext4 = LoopFs(self.cleanup, os.path.join(self.run_dir, "ext4.img"),
                           os.path.join(self.tmp, "ext4"), p["img_ext4"], "ext4")
        if "copyup_xfs" in self.wls:
            self.xfs = LoopFs(self.cleanup, os.path.join(self.run_dir, "xfs.img"),
                              os.path.join(self.tmp, "xfs"), p["img_xfs"], "xfs")
            # The lower file must be on the same XFS filesystem for a
            # reflink; it is a fresh copy made for this run.
            lower = os.path.join(self.xfs.mnt, "lower")
            src = os.path.join(fix, "s%dw" % a.layers, "L%03d" % (a.layers - 1), "big", "file.bin")
            os.makedirs(os.path.join(lower, "big"))
            run(["cp", src, os.path.join(lower, "big", "file.bin")])
            os.sync()
            self.xfs_lower = lower

    def verify(self):
        """Each system must show exactly the merged tree the generator
        computed (a wrong reading of whiteouts would void the timings)."""
        for n, info in sorted(self.stack_info.items()):
            for s in self.systems:
                try:
                    with self.mount_main(s, "verify", n) as m:
                        items = []
                        for top in ("tree", "rmme"):
                            for dp, dn, fn in os.walk(os.path.join(m.mnt, top)):
                                for f in fn:
                                    full = os.path.join(dp, f)
                                    items.append((os.path.relpath(full, m.mnt),
                                                  os.lstat(full).st_size))
                        dig = manifest_digest(items)
                        if dig != info["digest"]:
                            raise BenchError("%d-layer stack: %s shows %d files, expected %d "
                                             "(merged view differs)" %
                                             (n, s, len(items), info["visible_files"]))
                        log("verify %3d layers %-15s ok (%d files)" % (n, s, len(items)))
                except Exception as e:
                    self.fail("verify", s, e)

    def fail(self, wl, system, e):
        msg = "%s/%s: %s" % (wl, system, e)
        log("ERROR " + msg)
        self.errors.append(msg)

    # -- workloads ------------------------------------------------------
    def wl_mount(self, s, rep):
        n = 100
        lowers = self.lowers(n, s)
        drop_caches()
        with Mount(self, s, lowers, self.ext4.mnt, "mnt") as m:
            cold = m.mount_secs
            os.listdir(m.mnt)
        with Mount(self, s, lowers, self.ext4.mnt, "mnt") as m:
            warm = m.mount_secs
            self.done("mount", m)
        self.record("mount100_cold", s, cold * 1000)
        self.record("mount100_warm", s, warm * 1000)

    def _walk(self, s, wl, cmd_for, cold_metric, warm_metric, nlayers=None, rss=False):
        with self.mount_main(s, wl, nlayers) as m:
            cmd = cmd_for(m.mnt)
            if cold_metric:
                drop_caches()
                self.record(cold_metric, s, timed(cmd))
            else:
                timed(cmd)
            self.record(warm_metric, s, timed(cmd))
            if rss and m.pid:
                hwm, cpu = m.stats()
                self.record("rss_after_stat", s, hwm)
                self.record("cpu_stat", s, cpu - m.stats0[1])
            self.done(wl, m)

    def wl_find(self, s, rep):
        self._walk(s, "find", lambda d: ["find", d, "-type", "f"], "find_cold", "find_warm")

    def wl_stat(self, s, rep):
        self._walk(s, "stat", lambda d: ["find", d, "-printf", "%i %s %m\n"],
                   "stat_cold", "stat_warm", rss=True)

    def wl_lsR(self, s, rep):
        self._walk(s, "lsR", lambda d: ["ls", "-lR", d], "lsR_cold", "lsR_warm")

    def wl_walk1(self, s, rep):
        self._walk(s, "walk1", lambda d: ["find", d, "-type", "f"], None, "find_warm_1L", 1)
        self._walk(s, "walk1", lambda d: ["find", d, "-printf", "%i %s %m\n"],
                   "stat_cold_1L", "stat_warm_1L", 1)

    def wl_walk100(self, s, rep):
        self._walk(s, "walk100", lambda d: ["find", d, "-type", "f"], None, "find_warm_100L", 100)
        self._walk(s, "walk100", lambda d: ["find", d, "-printf", "%i %s %m\n"],
                   "stat_cold_100L", "stat_warm_100L", 100)

    def wl_readall(self, s, rep):
        # GNU tar skips reading file data when the archive is /dev/null;
        # /dev/zero swallows the archive just the same but is not special.
        self._walk(s, "readall", lambda d: ["tar", "-C", d, "-cf", "/dev/zero", "tree", "rmme"],
                   "readall_cold", "readall_warm")

    def big_path(self, mnt):
        return os.path.join(mnt, "big", "file.bin")

    def wl_seqread(self, s, rep):
        def cmd(d):
            return ["dd", "if=" + self.big_path(d), "of=/dev/null", "bs=1M"]
        self._walk(s, "seqread", cmd, "seqread_cold", "seqread_warm")

    def wl_randread(self, s, rep):
        with self.mount_main(s, "randread") as m:
            f = self.big_path(m.mnt)
            timed(["dd", "if=" + f, "of=/dev/null", "bs=1M"])   # warm it
            iops = fio_iops(["--name=randread", "--filename=" + f, "--readonly",
                             "--rw=randread", "--bs=4k", "--ioengine=psync",
                             "--invalidate=0", "--size=%d" % self.p["big"],
                             "--time_based", "--runtime=%d" % self.p["fio_secs"],
                             "--randrepeat=1", "--norandommap"])
            self.record("randread", s, iops)
            self.done("randread", m)

    def _copyup(self, m, path):
        size = os.path.getsize(path)
        drop_caches()
        t0 = time.monotonic()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"x")
        os.close(fd)
        t1 = time.monotonic()
        os.sync()
        t2 = time.monotonic()
        if os.path.getsize(path) != size + 1:
            raise BenchError("copy-up: size %d after append, expected %d"
                             % (os.path.getsize(path), size + 1))
        return t1 - t0, t2 - t0

    def wl_copyup_ext4(self, s, rep):
        with self.mount_main(s, "copyup") as m:
            t, ts = self._copyup(m, self.big_path(m.mnt))
            self.record("copyup_ext4", s, t)
            self.record("copyup_ext4_sync", s, ts)
            self.done("copyup_ext4", m)

    def wl_copyup_xfs(self, s, rep):
        with Mount(self, s, [self.xfs_lower], self.xfs.mnt, "copyup") as m:
            t, _ = self._copyup(m, self.big_path(m.mnt))
            self.record("copyup_xfs", s, t * 1000)
            self.done("copyup_xfs", m)

    def wl_untar(self, s, rep):
        with open(self.tarball, "rb") as f:       # tarball itself warm
            while f.read(4 * MiB):
                pass
        with self.mount_main(s, "untar") as m:
            dest = os.path.join(m.mnt, "untar")
            os.mkdir(dest)
            self.record("untar", s, timed(["tar", "-C", dest, "-xf", self.tarball]))
            self.done("untar", m)
            os.sync()

    def wl_rmrf(self, s, rep):
        with self.mount_main(s, "rmrf") as m:
            d = os.path.join(m.mnt, "rmme")
            timed(["find", d, "-printf", ""])       # same warm start for all
            self.record("rmrf", s, timed(["rm", "-rf", d]))
            if os.path.exists(d):
                raise BenchError("rm -rf left %s behind" % d)
            self.done("rmrf", m)
            os.sync()

    def wl_seqwrite(self, s, rep):
        with self.mount_main(s, "seqwrite") as m:
            n = self.p["seqwrite"] // MiB
            self.record("seqwrite_fsync", s, timed(
                ["dd", "if=/dev/zero", "of=" + os.path.join(m.mnt, "seq.bin"),
                 "bs=1M", "count=%d" % n, "conv=fsync"]))
            self.done("seqwrite", m)

    def wl_randwrite(self, s, rep):
        with self.mount_main(s, "randwrite") as m:
            f = os.path.join(m.mnt, "rand.bin")
            iops = fio_iops(["--name=randwrite", "--filename=" + f, "--rw=randwrite",
                             "--bs=4k", "--ioengine=psync", "--invalidate=0",
                             "--fallocate=none", "--size=%d" % self.p["randwrite_size"],
                             "--time_based", "--runtime=%d" % self.p["fio_secs"],
                             "--randrepeat=1", "--norandommap"])
            self.record("randwrite", s, iops)
            self.done("randwrite", m)
            os.sync()

    def wl_churn(self, s, rep):
        with self.mount_main(s, "churn") as m:
            # an existing directory of the lower tree (merged, with copy-up
            # of the directory on the first create)
            d = os.path.join(m.mnt, "tree", "d0001")
            os.listdir(d)
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            data = b"c" * 1024
            try:
                t0 = time.monotonic()
                for i in range(self.p["churn"]):
                    a, b = "churn%d.tmp" % i, "churn%d" % i
                    fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dfd)
                    os.write(fd, data)
                    os.close(fd)
                    os.rename(a, b, src_dir_fd=dfd, dst_dir_fd=dfd)
                    os.unlink(b, dir_fd=dfd)
                self.record("churn", s, time.monotonic() - t0)
            finally:
                os.close(dfd)
            self.done("churn", m)
            os.sync()

    # -- driver ---------------------------------------------------------
    def main(self):
        a = self.args
        # walk100 (find/stat walks at 100 layers) is slow with fuse-overlayfs
        # (minutes per repetition), so a full run leaves it out unless asked.
        default = list(WORKLOADS) if a.quick else [w for w in WORKLOADS if w != "walk100"]
        self.wls = a.only.split(",") if a.only else default
        bad = [w for w in self.wls if w not in WORKLOADS]
        if bad:
            raise SystemExit("unknown workload(s): %s (known: %s)" % (",".join(bad), ",".join(WORKLOADS)))
        self.systems = a.systems.split(",")
        bad = [s for s in self.systems if s not in SYSTEMS]
        if bad:
            raise SystemExit("unknown system(s): %s" % ",".join(bad))
        if "layerfs" in self.systems and not os.access(self.layerfs, os.X_OK):
            raise SystemExit("layerfs binary not found: %s (build it or pass --layerfs)" % self.layerfs)
        if "fuse-overlayfs" in self.systems and not self.fuse_overlayfs:
            raise SystemExit("fuse-overlayfs not installed (apt-get install fuse-overlayfs)")
        for tool in ("fio", "mkfs.ext4", "losetup") + (("mkfs.xfs",) if "copyup_xfs" in self.wls else ()):
            if not shutil.which(tool):
                raise SystemExit("%s not found (apt-get install fio xfsprogs e2fsprogs)" % tool)
        reps = a.reps if a.reps else self.p["reps"]
        t_start = time.monotonic()
        self.meta = dict(
            date=datetime.datetime.now().isoformat(timespec="seconds"),
            kernel=os.uname().release, layers=a.layers, reps=reps, quick=a.quick,
            systems=self.systems, workloads=self.wls, layerfs=os.path.realpath(self.layerfs),
            layerfs_git=self.git_rev(),
            fuse_overlayfs=self.fuse_overlayfs_version(),
            params=self.p)
        try:
            self.setup()
            self.meta["fixtures"] = {str(k): v for k, v in self.stack_info.items()}
            self.verify()
            for rep in range(reps):
                k = rep % len(self.systems)
                order = self.systems[k:] + self.systems[:k]
                for wl in self.wls:
                    for s in order:
                        log("rep %d/%d %-12s %-15s" % (rep + 1, reps, wl, s))
                        self.loads.append(loadavg())
                        try:
                            getattr(self, "wl_" + wl)(s, rep)
                        except KeyboardInterrupt:
                            raise
                        except Exception as e:
                            self.fail(wl, s, e)
        finally:
            self.cleanup.run_all()
        self.meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
        if self.loads:
            self.meta["loadavg_1min"] = dict(median=statistics.median(self.loads),
                                             max=max(self.loads))
        return self.report()

    def fuse_overlayfs_version(self):
        if not self.fuse_overlayfs:
            return None
        p = run([self.fuse_overlayfs, "--version"], check=False)
        for line in (p.stdout + p.stderr).decode(errors="replace").splitlines():
            if line.startswith("fuse-overlayfs"):
                return line.strip()
        return "fuse-overlayfs ?"

    def git_rev(self):
        d = os.path.dirname(os.path.realpath(self.layerfs))
        p = run(["git", "-C", d, "rev-parse", "--short", "HEAD"], check=False)
        rev = p.stdout.decode().strip() if p.returncode == 0 else "?"
        built = time.strftime("%Y-%m-%dT%H:%M", time.localtime(os.path.getmtime(self.layerfs)))
        rev = "binary built %s, tree HEAD %s" % (built, rev)
        p = run(["git", "-C", d, "status", "--porcelain", "--untracked-files=no", "--", "../src"], check=False)
        return rev + ("+dirty src" if p.returncode == 0 and p.stdout.strip() else "")

    # -- report ---------------------------------------------------------
    def summary(self):
        out = {}
        for metric, unit, kind in METRICS:
            per = self.results.get(metric)
            if not per:
                continue
            row = {}
            base = per.get("overlay")
            for s, vals in per.items():
                med = statistics.median(vals)
                e = dict(median=med, min=min(vals), max=max(vals), values=vals)
                if base and s != "overlay" and kind in ("time", "rate"):
                    bm = statistics.median(base)
                    if med > 0 and bm > 0:
                        e["ratio"] = med / bm if kind == "time" else bm / med
                        pairs = [(v / b if kind == "time" else b / v)
                                 for v, b in zip(vals, base) if v > 0 and b > 0]
                        if pairs:
                            e["ratio_min"], e["ratio_max"] = min(pairs), max(pairs)
                row[s] = e
            out[metric] = dict(unit=unit, kind=kind, target=TARGETS.get(metric), systems=row)
        return out

    def verdict(self, metric, summ):
        t = TARGETS.get(metric)
        lf = summ["systems"].get("layerfs")
        if t is None or lf is None:
            return ""
        if isinstance(t, float):
            r = lf.get("ratio")
            if r is None:
                return ""
            return "met" if r <= t else "MISS x%.2f" % (r / t)
        if t == "<=fuse-overlayfs":
            fo = summ["systems"].get("fuse-overlayfs")
            if not fo:
                return ""
            return "met" if lf["median"] <= fo["median"] else "MISS x%.2f" % (lf["median"] / fo["median"])
        if t == "<=20ms":
            return "met" if lf["median"] <= 20 else "MISS x%.1f" % (lf["median"] / 20)
        if t == "<=22MiB":
            return "met" if lf["median"] <= 22 else "MISS x%.2f" % (lf["median"] / 22)
        return ""

    def report(self):
        summ = self.summary()

        def fmt(v):
            if v is None:
                return "-"
            if v >= 1000:
                return "%.0f" % v
            if v >= 100:
                return "%.0f" % v
            if v >= 10:
                return "%.1f" % v
            if v >= 1:
                return "%.2f" % v
            return "%.3f" % v

        lines = []
        m = self.meta
        lines.append("layerfs benchmark  %s  kernel %s  layers=%d  reps=%d%s  layerfs %s  %s"
                     % (m["date"], m["kernel"], m["layers"], m["reps"],
                        "  QUICK" if m["quick"] else "", m["layerfs_git"], m["fuse_overlayfs"] or ""))
        lines.append("median [min-max]; ratio = slowdown vs kernel overlayfs "
                     "(time/time, or IOPS_overlay/IOPS); target = issue 6, for layerfs")
        hdr = ["workload", "unit"]
        for s in self.systems:
            hdr.append(s)
            if s != "overlay":
                hdr.append("ratio")
        hdr += ["target", "layerfs"]
        rows = [hdr]
        for metric, unit, kind in METRICS:
            if metric not in summ:
                continue
            sm = summ[metric]
            row = [metric, unit]
            for s in self.systems:
                e = sm["systems"].get(s)
                if e is None:
                    row.append("-")
                else:
                    row.append("%s [%s-%s]" % (fmt(e["median"]), fmt(e["min"]), fmt(e["max"])))
                if s != "overlay":
                    row.append(("%.2fx" % e["ratio"]) if e and "ratio" in e else "")
            t = TARGETS.get(metric)
            row.append(("<=%.1fx" % t) if isinstance(t, float) else (t or ""))
            row.append(self.verdict(metric, sm))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
        for r in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        # daemon CPU per workload
        fuse_sys = [s for s in self.systems if s != "overlay"]
        if self.cpu and fuse_sys:
            lines.append("")
            lines.append("daemon CPU seconds per mount (median) / peak RSS MiB (VmHWM, max)")
            for wl in self.wls:
                if wl not in self.cpu:
                    continue
                cells = []
                for s in fuse_sys:
                    c = self.cpu[wl].get(s)
                    h = [x for x in self.hwm[wl].get(s, []) if x is not None]
                    cells.append("%s %s / %s" % (s, fmt(statistics.median(c)) if c else "-",
                                                 fmt(max(h)) if h else "-"))
                lines.append("  %-12s %s" % (wl, "   ".join(cells)))
        if self.errors:
            lines.append("")
            lines.append("ERRORS (%d):" % len(self.errors))
            lines += ["  " + e for e in self.errors]
        la = m.get("loadavg_1min")
        if la:
            lines.append("host load average (1 min) before each run: median %.1f, max %.1f "
                         "(the benchmark alone keeps it near 1; more means other work "
                         "shared the 2 cores and the numbers are noisier)" % (la["median"], la["max"]))
        lines.append("elapsed %.0f s" % m["elapsed_s"])
        text = "\n".join(lines) + "\n"
        print(text, end="")
        if self.args.table:
            with open(self.args.table, "w") as f:
                f.write(text)
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump(dict(meta=m, results=summ,
                               daemon_cpu_s=self.cpu, daemon_hwm_mib=self.hwm,
                               errors=self.errors), f, indent=1)
                f.write("\n")
        return 1 if self.errors else 0


def main():
    here = os.path.dirname(os.path.realpath(__file__))
    default_lfs = os.environ.get("LAYERFS_BIN") or os.path.join(
        here, "..", "..", "build-bench", "layerfs")
    ap = argparse.ArgumentParser(description="layerfs vs kernel overlayfs vs fuse-overlayfs")
    ap.add_argument("--quick", action="store_true",
                    help="tiny fixtures, 1 repetition: every workload and system, for CI")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3, quick 1)")
    ap.add_argument("--layers", type=int, default=20, help="stack for the main table (default 20)")
    ap.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--layerfs", default=os.path.normpath(default_lfs),
                    help="layerfs binary (default build-bench/layerfs or $LAYERFS_BIN)")
    ap.add_argument("--fixtures", default="/var/tmp/layerfs-bench")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--table", help="write the text table here too")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench.py must run as root (mounts, loop devices, drop_caches)")
    if args.quick:
        args.fixtures = os.path.join(args.fixtures, "quick")
    args.fixtures = os.path.abspath(args.fixtures)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    b = Bench(args)
    try:
        return b.main()
    except KeyboardInterrupt:
        log("interrupted; everything mounted has been unmounted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
