#!/usr/bin/python3
"""layerfs benchmark: layerfs against kernel overlayfs and fuse-overlayfs,
quiet and under a steady background CPU load.

Run as root with the system Python (standard library only):

    /usr/bin/python3 tools/bench/bench.py [--quick] [--reps N] [--layers 20]
        [--only WORKLOAD,...] [--systems overlay,layerfs,fuse-overlayfs,...]
        [--conditions quiet,load] [--layerfs PATH] [--fixtures DIR]
        [--json FILE] [--table FILE]

See tools/bench/README.md for what is measured and how.

Layout of everything this script creates:
  FIXTURES/               cached, deterministic fixtures (kept between runs)
    s20w/L000..L019       20-layer stack, aufs-style whiteouts (.wh.NAME)
    s20o/L000..L019       the same stack, overlayfs-style (char 0:0, xattr)
    src-N.tar             source-like tarball for the untar workload
    chtree-N/L000         that tarball unpacked: the chown/chmod lower tree
    scale.img             ext4 image: the 100-layer scale stacks, the big
                          directory (mounted read-only for a run)
    run.XXXX/             per-run loop images (removed at the end)
  /run/lfbXXXX/           per-run mountpoints and the read-only bind mount
                          of FIXTURES (removed at the end)
"""

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from benchutil import (  # noqa: E402
    BenchError, Cleanup, LoopFs, Load, ModuleParam, Mount, MiB, GiB, drop_caches,
    fio_iops, fs_used_bytes, is_mounted, loadavg, log, run, safe_rmtree, system_base,
    system_opts, timed, umount_path,
)
from fixtures import (  # noqa: E402
    ScaleImage, BIGDIR_LAYERS, FILES_PER_DIR, RENAME_SMALL, SCALE_LAYERS, ensure_chtree,
    ensure_rentree, ensure_stack, ensure_tarball, manifest_digest, scale_label,
)
import report  # noqa: E402

SYSTEMS = ("overlay", "overlay-metacopy", "layerfs", "fuse-overlayfs")
KNOWN_SYSTEMS = SYSTEMS
# Which whiteout flavour each system reads: 'w' = .wh. files, 'o' = char 0:0.
VARIANT = {"layerfs": "w", "overlay": "o", "fuse-overlayfs": "o", "overlay-metacopy": "o"}
# overlay-metacopy is a reference for metadata-only copy-up: it runs where
# that matters and nowhere else.
METACOPY_WORKLOADS = ("chown", "chmod")
CONDITIONS = ("quiet", "load")
ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"

FULL = dict(files=45000, dirs=1750, rm_files=5000, rm_dirs=250,
            big=2 * GiB, tar_files=20000, tar_dirs=1200,
            fio_secs=10, churn=5000, seqwrite=1 * GiB, randwrite_size=256 * MiB,
            img_ext4=12 * GiB, img_xfs=8 * GiB, reps=3, rename_files=50000,
            scale=[10000, 100000, 1000000], bigdir=100000,
            # the 1M-file walks take minutes per system (fuse-overlayfs
            # about 15): the scale workload runs once, quiet
            once_quiet=["scale"])
QUICK = dict(files=1800, dirs=90, rm_files=200, rm_dirs=10,
             big=64 * MiB, tar_files=800, tar_dirs=60,
             fio_secs=1, churn=300, seqwrite=32 * MiB, randwrite_size=16 * MiB,
             img_ext4=1 * GiB, img_xfs=1 * GiB, reps=1, rename_files=2000,
             scale=[1000, 4000], bigdir=4000,
             # --quick keeps CI short: the loaded condition for these only
             load_workloads=["untar", "churn", "randwrite", "lsR", "chown"],
             once_quiet=["scale"])

WORKLOADS = ["mount", "find", "stat", "lsR", "readall", "seqread", "randread",
             "copyup_ext4", "copyup_xfs", "untar", "rmrf", "seqwrite", "randwrite",
             "churn", "chown", "chmod", "rename", "lsl", "scale", "walk1", "walk100"]


def timed_lines(cmd):
    """(seconds, lines of output) of a command: the walks count what they
    saw, so that a system that shows less does not win."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    n = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        n += chunk.count(b"\n")
    err = p.stderr.read()
    p.wait()
    t = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s: exit %d: %s" % (" ".join(cmd)[:200], p.returncode,
                                              err.decode(errors="replace")[-300:]))
    return t, n


class Bench:
    def __init__(self, args):
        self.args = args
        self.p = QUICK if args.quick else FULL
        self.cleanup = Cleanup()
        self.cond = "quiet"   # the condition being measured
        self.results = {}     # condition -> metric -> system -> [values]
        self.cpu = {}         # condition -> workload -> system -> [daemon cpu seconds]
        self.hwm = {}         # condition -> workload -> system -> [VmHWM MiB]
        self.errors = []
        self.loads = {}       # condition -> [1-minute load average before each run]
        self.layerfs = args.layerfs
        self.alt = dict(a.split("=", 1) for a in args.alt)
        self.fuse_overlayfs = shutil.which("fuse-overlayfs")
        self.scale_sizes = []
        self.ncpu = os.cpu_count() or 1
        self.load = None
        self.load_cmd = Load.command(1)

    # -- helpers --------------------------------------------------------
    def record(self, metric, system, value):
        self.results.setdefault(self.cond, {}).setdefault(metric, {}) \
            .setdefault(system, []).append(value)

    def lowers(self, nlayers, system):
        v = VARIANT[system_base(system)]
        return [os.path.join(self.ro, "s%d%s" % (nlayers, v), "L%03d" % i)
                for i in range(nlayers)]

    def mount_main(self, system, tag, nlayers=None):
        n = nlayers or self.args.layers
        return Mount(self, system, self.lowers(n, system), self.ext4.mnt, tag)

    def done(self, wl, m):
        hwm, cpu = m.stats()
        if cpu is not None:
            self.cpu.setdefault(self.cond, {}).setdefault(wl, {}).setdefault(
                m.system, []).append(cpu - m.stats0[1])
            self.hwm.setdefault(self.cond, {}).setdefault(wl, {}).setdefault(
                m.system, []).append(hwm)

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
        if {"chown", "chmod"} & set(self.wls):
            self.chtree = ensure_chtree(fix, self.tarball, p["tar_files"])
        if "rename" in self.wls:
            self.rentree = ensure_rentree(fix, p["rename_files"])
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
        if {"scale", "lsl"} & set(self.wls):
            self.scale_sizes = p["scale"] if "scale" in self.wls else []
            img = ScaleImage(fix, p["scale"], p["bigdir"])
            self.scale = img.mount(run, self.cleanup, os.path.join(self.tmp, "scale"), umount_path)
        if "load" in self.conditions:
            self.load = Load(self.cleanup, 1)
        if any("io_uring" in system_opts(s) for s in self.systems):
            if not os.path.exists(ENABLE_URING):
                raise BenchError("this kernel has no FUSE io_uring (%s is missing)" % ENABLE_URING)
            ModuleParam(self.cleanup, ENABLE_URING, "Y")

    def verify(self):
        """Each system must show exactly the merged tree the generator
        computed (a wrong reading of whiteouts would void the timings)."""
        for n, info in sorted(self.stack_info.items()):
            for s in self.systems:
                if system_base(s) == "overlay-metacopy":
                    continue          # checked where it runs (chown, chmod)
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

    def _metadata_walk(self, s, wl, cmd, check):
        """chown -R / chmod -R of the lower tree: time, and how much the rw
        branch grows (filesystem blocks in use after a sync)."""
        with Mount(self, s, [os.path.join(self.ro, os.path.relpath(self.chtree, self.args.fixtures))],
                   self.ext4.mnt, wl) as m:
            tree = os.path.join(m.mnt, "src")
            timed(["find", tree, "-printf", ""])      # same warm start for all
            before = fs_used_bytes(self.ext4.mnt)
            self.record(wl, s, timed(cmd + [tree]))
            after = fs_used_bytes(self.ext4.mnt)
            self.record(wl + "_growth", s, max(0, after - before) / MiB)
            st = os.lstat(os.path.join(tree, sorted(os.listdir(tree))[0]))
            if not check(st):
                raise BenchError("%s did not take: %s shows uid %d mode %o"
                                 % (" ".join(cmd), tree, st.st_uid, st.st_mode))
            self.done(wl, m)

    def wl_chown(self, s, rep):
        self._metadata_walk(s, "chown", ["chown", "-R", "4242:4242"],
                            lambda st: st.st_uid == 4242 and st.st_gid == 4242)

    def wl_chmod(self, s, rep):
        self._metadata_walk(s, "chmod", ["chmod", "-R", "g+w"],
                            lambda st: st.st_mode & 0o020)

    def wl_rename(self, s, rep):
        """mv of a lower directory of many files, and of one of 10 files, to
        a new name: a redirect should make both equally cheap. Kernel
        overlayfs runs with redirect_dir=on (without it the kernel refuses
        and mv copies); the FUSE systems as they come. Also how much the rw
        branch grew."""
        lower = os.path.join(self.ro, os.path.relpath(self.rentree, self.args.fixtures))
        with Mount(self, s, [lower], self.ext4.mnt, "rename",
                   overlay_opts=("redirect_dir=on",)) as m:
            timed(["find", m.mnt, "-printf", ""])      # same warm start for all
            before = fs_used_bytes(self.ext4.mnt)
            for top, n in (("big", self.p["rename_files"]), ("small", RENAME_SMALL)):
                src, dst = os.path.join(m.mnt, top), os.path.join(m.mnt, top + ".moved")
                t = timed(["mv", "-T", src, dst])
                last = os.path.join(dst, "d%03d" % ((n - 1) // 1000), "f%06d" % (n - 1))
                if os.path.exists(src) or not os.path.exists(last):
                    raise BenchError("mv %s: the moved tree is not where it should be" % top)
                self.record("rename%s" % ("%dk" % (n // 1000) if n >= 1000 else n), s, t * 1000)
            os.sync()
            self.record("rename_growth", s, max(0, fs_used_bytes(self.ext4.mnt) - before) / MiB)
            self.done("rename", m)

    def wl_lsl(self, s, rep):
        """ls -l of one directory of many entries merged from 5 layers."""
        n = self.p["bigdir"]
        root = os.path.join(self.scale, "bigdir" + scale_label(n))
        lowers = [os.path.join(root, "L%03d" % i) for i in range(BIGDIR_LAYERS)]
        with Mount(self, s, lowers, self.ext4.mnt, "lsl") as m:
            cmd = ["ls", "-l", os.path.join(m.mnt, "big")]
            drop_caches()
            for metric in ("lsl_cold", "lsl_warm"):
                t, lines = timed_lines(cmd)
                if lines != n + 1:                     # + the "total" line
                    raise BenchError("ls -l shows %d entries, expected %d" % (lines - 1, n))
                self.record(metric, s, t)
            self.done("lsl", m)

    def wl_scale(self, s, rep):
        """Stat walks of 100-layer stacks of growing size; the daemon's peak
        RSS after them."""
        for n in self.scale_sizes:
            lab = scale_label(n)
            root = os.path.join(self.scale, "sc" + lab)
            lowers = [os.path.join(root, "L%03d" % i) for i in range(SCALE_LAYERS)]
            want = n + max(1, n // FILES_PER_DIR) + 1
            with Mount(self, s, lowers, self.ext4.mnt, "scale") as m:
                cmd = ["find", m.mnt, "-printf", "%i %s %m\n"]
                drop_caches()
                for what in ("cold", "warm"):
                    t, lines = timed_lines(cmd)
                    if lines != want:
                        raise BenchError("%s files: the stat walk saw %d entries, expected %d"
                                         % (lab, lines, want))
                    self.record("scale%s_stat_%s" % (lab, what), s, t)
                if m.pid:
                    self.record("scale%s_rss" % lab, s, m.stats()[0])
                self.done("scale", m)

    # -- driver ---------------------------------------------------------
    def measure(self, wl, s, cond, rep):
        """One (workload, system) measurement in one condition."""
        self.cond = cond
        if cond == "load":
            self.load.start()
        try:
            self.loads.setdefault(cond, []).append(loadavg())
            getattr(self, "wl_" + wl)(s, rep)
        finally:
            if cond == "load":
                self.load.stop()
            self.cond = "quiet"

    def main(self):
        a = self.args
        # walk100 (find/stat walks at 100 layers) is slow with fuse-overlayfs
        # (minutes per repetition), so a full run leaves it out unless asked;
        # the scale workload has the 100-layer stat walks.
        default = list(WORKLOADS) if a.quick else [w for w in WORKLOADS if w != "walk100"]
        self.wls = a.only.split(",") if a.only else default
        bad = [w for w in self.wls if w not in WORKLOADS]
        if bad:
            raise SystemExit("unknown workload(s): %s (known: %s)" % (",".join(bad), ",".join(WORKLOADS)))
        self.systems = a.systems.split(",")
        bad = [s for s in self.systems if system_base(s) not in KNOWN_SYSTEMS or
               ("@" in s.partition(":")[0] and s.partition(":")[0].partition("@")[2] not in self.alt)]
        if bad:
            raise SystemExit("unknown system(s): %s" % ",".join(bad))
        self.conditions = a.conditions.split(",")
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise SystemExit("unknown condition(s): %s (known: %s)" % (",".join(bad), ",".join(CONDITIONS)))
        if any(system_base(s) == "layerfs" for s in self.systems) and not os.access(self.layerfs, os.X_OK):
            raise SystemExit("layerfs binary not found: %s (build it or pass --layerfs)" % self.layerfs)
        for name, path in self.alt.items():
            if not os.access(path, os.X_OK):
                raise SystemExit("--alt %s: %s is not executable" % (name, path))
        if any(system_base(s) == "fuse-overlayfs" for s in self.systems) and not self.fuse_overlayfs:
            raise SystemExit("fuse-overlayfs not installed (apt-get install fuse-overlayfs)")
        tools = ["fio", "mkfs.ext4", "losetup"] + (["mkfs.xfs"] if "copyup_xfs" in self.wls else []) + \
            (["stress-ng"] if "load" in self.conditions else [])
        for tool in tools:
            if not shutil.which(tool):
                raise SystemExit("%s not found (apt-get install fio xfsprogs e2fsprogs stress-ng)" % tool)
        reps = a.reps if a.reps else self.p["reps"]
        t_start = time.monotonic()
        self.meta = dict(
            date=datetime.datetime.now().isoformat(timespec="seconds"),
            kernel=os.uname().release, layers=a.layers, reps=reps, quick=a.quick,
            systems=self.systems, workloads=self.wls, conditions=self.conditions,
            load=" ".join(self.load_cmd), layerfs=os.path.realpath(self.layerfs), alt=self.alt,
            layerfs_git=self.git_rev(), fuse_overlayfs=self.fuse_overlayfs_version(),
            params=self.p, host_load_at_start=loadavg())
        try:
            self.setup()
            self.meta["fixtures"] = {str(k): v for k, v in self.stack_info.items()}
            self.verify()
            for rep in range(reps):
                k = rep % len(self.systems)
                order = self.systems[k:] + self.systems[:k]
                for wl in self.wls:
                    for cond in self.conditions:
                        for s in order:
                            if system_base(s) == "overlay-metacopy" and wl not in METACOPY_WORKLOADS:
                                continue
                            if cond == "load" and wl not in self.p.get("load_workloads", WORKLOADS):
                                continue
                            if wl in self.p["once_quiet"] and (cond != "quiet" or rep > 0):
                                continue
                            log("rep %d/%d %-12s %-5s %-15s" % (rep + 1, reps, wl, cond, s))
                            try:
                                self.measure(wl, s, cond, rep)
                            except KeyboardInterrupt:
                                raise
                            except Exception as e:
                                self.fail("%s/%s" % (wl, cond), s, e)
        finally:
            self.cleanup.run_all()
        self.meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
        print(report.render(self), end="")
        return 1 if self.errors else 0

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


def main():
    here = os.path.dirname(os.path.realpath(__file__))
    default_lfs = os.environ.get("LAYERFS_BIN") or os.path.join(
        here, "..", "..", "build-bench", "layerfs")
    ap = argparse.ArgumentParser(description="layerfs vs kernel overlayfs vs fuse-overlayfs, "
                                 "quiet and loaded")
    ap.add_argument("--quick", action="store_true",
                    help="tiny fixtures, 1 repetition: every workload and system, for CI")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3, quick 1)")
    ap.add_argument("--layers", type=int, default=20, help="stack for the main table (default 20)")
    ap.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="from overlay, overlay-metacopy, layerfs, fuse-overlayfs; a FUSE "
                    "system takes extra -o options after a colon, joined by + "
                    "(layerfs:io_uring+passthrough=off)")
    ap.add_argument("--alt", action="append", default=[], metavar="NAME=PATH",
                    help="another layerfs binary, measured as system layerfs@NAME")
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help="quiet, load (stress-ng --cpu 1 beside each measurement)")
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
