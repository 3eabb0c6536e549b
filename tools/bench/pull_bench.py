#!/usr/bin/python3
"""Pull benchmark (issue 14): a multi-layer image from a registry on the
loopback, pulled by
  * layerctl pull          (streams each layer into the store, in parallel)
  * skopeo copy + umoci    (docker://... -> oci:DIR, then umoci unpack)
  * podman pull            (a private storage, kernel overlay driver)
each into fresh storage, interleaved repetition by repetition, with sync
between runs. Prints medians [min-max] of wall time and of the bytes the
pull wrote (the block output of its processes), and the ratio to layerctl.

    sudo /usr/bin/python3 tools/bench/pull_bench.py [--reps 5] [--layerctl PATH]
                                                    [--quick] [--table FILE]

Needs root, docker-registry, skopeo, umoci, podman (scripts/deps.sh).
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def sh(*argv, env=None, quiet=True):
    r = subprocess.run([str(a) for a in argv], capture_output=quiet, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("pull_bench: %s -> %d\n%s%s" % (" ".join(map(str, argv)), r.returncode,
                                                     r.stdout or "", r.stderr or ""))
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the image ------------------------------------------------------------------

def fill(rootfs, i, scale):
    """Layer i: a mix of what real images carry - many small files, some
    medium ones, one large binary-like file."""
    import random
    rnd = random.Random(1000 + i)
    base = os.path.join(rootfs, "layer%d" % i)
    os.makedirs(base)
    for d in range(int(40 * scale)):
        sub = os.path.join(base, "d%03d" % d)
        os.mkdir(sub)
        for f in range(40):
            n = rnd.choice((120, 900, 3000, 12000))
            words = " ".join(rnd.choice(("lib", "usr", "share", "config", "data", "value",
                                         "x86_64", "python", "module", "locale"))
                             for _ in range(n // 6))
            with open(os.path.join(sub, "f%03d.txt" % f), "w") as fh:
                fh.write(words)
    with open(os.path.join(base, "blob.bin"), "wb") as fh:
        # half random, half repetitive: compresses like a real binary
        for _ in range(int(16 * scale)):
            fh.write(os.urandom(1 << 19))
            fh.write(bytes(rnd.randrange(8) for _ in range(1 << 10)) * 512)


def build_image(work, layers, scale):
    layout = os.path.join(work, "layout")
    bundle = os.path.join(work, "bundle")
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", layout + ":t0")
    for i in range(1, layers + 1):
        sh("umoci", "unpack", "--image", "%s:t%d" % (layout, i - 1), bundle)
        fill(os.path.join(bundle, "rootfs"), i, scale)
        sh("umoci", "repack", "--image", "%s:t%d" % (layout, i), bundle)
        shutil.rmtree(bundle)
    return layout, "t%d" % layers


# ---- the registry -----------------------------------------------------------------

class Registry:
    def __init__(self, work):
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        cfg = os.path.join(work, "registry.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    "storage:\n  filesystem:\n    rootdirectory: %s/registry\n"
                    "http:\n  addr: %s\n" % (work, self.host))
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("pull_bench: docker-registry did not start")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


# ---- the contenders ---------------------------------------------------------------

def run_layerctl(args, ref, d):
    sh(args.layerctl, "--store", os.path.join(d, "store"), "pull", "-q", "--tls-verify=false",
       ref)


def run_skopeo_umoci(args, ref, d):
    sh("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + ref,
       "oci:%s/oci:img" % d)
    sh("umoci", "unpack", "--image", "%s/oci:img" % d, os.path.join(d, "bundle"))


def podman_env(d):
    conf = os.path.join(d, "containers.conf")
    with open(conf, "w") as f:
        f.write('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                'events_logfile_path = "%s/events.log"\n' % d)
    env = dict(os.environ, CONTAINERS_CONF=conf, TMPDIR=d)
    return env


def run_podman(args, ref, d):
    run_dir = tempfile.mkdtemp(prefix="pb", dir="/run")  # runroot: short path
    try:
        sh("podman", "--root", os.path.join(d, "root"), "--runroot", run_dir,
           "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", "docker://" + ref,
           env=podman_env(d))
        subprocess.run(["podman", "--root", os.path.join(d, "root"), "--runroot", run_dir,
                        "--storage-driver", "overlay", "system", "reset", "-f"],
                       capture_output=True, env=podman_env(d))
    finally:
        subprocess.run(["umount", "-R", os.path.join(d, "root", "overlay")], capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)


CONTENDERS = [("layerctl", run_layerctl), ("skopeo+umoci", run_skopeo_umoci),
              ("podman", run_podman)]


def measure(fn, args, ref, base):
    d = tempfile.mkdtemp(prefix="pull-", dir=base)
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    fn(args, ref, d)
    dt = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    written = (after.ru_oublock - before.ru_oublock) * 512
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    subprocess.run(["umount", "-R", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    os.sync()
    return dt, written, cpu


def fmt(values, unit):
    med = statistics.median(values)
    if unit == "MiB":
        return "%.1f [%.1f-%.1f]" % (med / 2**20, min(values) / 2**20, max(values) / 2**20)
    return "%.2f [%.2f-%.2f]" % (med, min(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--scale", type=float, default=1.0, help="layer size factor")
    ap.add_argument("--quick", action="store_true", help="tiny image, 1 repetition")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--layerctl", default=os.environ.get("LAYERCTL_BIN") or
                    os.path.join(REPO, "build", "tools", "layerctl"))
    ap.add_argument("--table")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.scale, args.layers = 1, 0.05, 3
    if os.geteuid() != 0:
        raise SystemExit("pull_bench: run as root (podman's storage, umoci's owners)")
    work = tempfile.mkdtemp(prefix="pull-bench-", dir="/var/tmp")
    reg = None
    try:
        layout, tag = build_image(work, args.layers, args.scale)
        reg = Registry(work)
        ref = "%s/bench/img:1" % reg.host
        sh("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:%s:%s" % (layout, tag),
           "docker://" + ref)
        size = sum(os.path.getsize(os.path.join(r, f))
                   for r, _, fs in os.walk(os.path.join(work, "registry")) for f in fs)
        results = {name: ([], [], []) for name, _ in CONTENDERS}
        for rep in range(args.reps):
            for name, fn in CONTENDERS:
                t, w, c = measure(fn, args, ref, work)
                results[name][0].append(t)
                results[name][1].append(w)
                results[name][2].append(c)
                print("rep %d %-13s %.2f s, %.1f MiB written" % (rep + 1, name, t, w / 2**20),
                      file=sys.stderr)
        lines = ["pull benchmark %s: %d layers, %.1f MiB in the registry, %d reps, loopback "
                 "registry (docker-registry), median [min-max]"
                 % (time.strftime("%Y-%m-%dT%H:%M:%S"), args.layers, size / 2**20, args.reps),
                 "%-13s %-22s %-8s %-22s %-8s %s" % ("tool", "wall s", "ratio", "written MiB",
                                                     "ratio", "cpu s")]
        base_t = statistics.median(results["layerctl"][0])
        base_w = statistics.median(results["layerctl"][1]) or 1
        for name, _ in CONTENDERS:
            t, w, c = results[name]
            lines.append("%-13s %-22s %-8s %-22s %-8s %s" % (
                name, fmt(t, "s"), "%.2fx" % (statistics.median(t) / base_t), fmt(w, "MiB"),
                "%.2fx" % (statistics.median(w) / base_w), fmt(c, "s")))
        lines.append("ratio: the tool's median over layerctl's (above 1: layerctl is ahead)")
        text = "\n".join(lines)
        print(text)
        if args.table:
            with open(args.table, "w") as f:
                f.write(text + "\n")
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
