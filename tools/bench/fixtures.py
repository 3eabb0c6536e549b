"""Fixtures of the benchmark: generated, seeded image layers, reused while
their parameters match (see README.md, "Fixtures")."""

import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import time

from benchutil import log, GiB, MiB

GEN_VERSION = 3          # bump when the fixture layout changes
SEED = 20240606


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


def ensure_chtree(fix, tarball, nfiles):
    """A one-layer lower tree of nfiles files (the untar workload's tarball
    unpacked) for chown -R and chmod -R: chtree-N/L000/src/..."""
    root = os.path.join(fix, "chtree-%d" % nfiles)
    layer = os.path.join(root, "L000")
    if os.path.exists(os.path.join(root, "done")):
        return layer
    log("unpacking the %d-file tree for chown/chmod ..." % nfiles)
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(layer)
    with tarfile.open(tarball) as tf:
        tf.extractall(layer, numeric_owner=True)
    open(os.path.join(root, "done"), "w").close()
    os.sync()
    return layer


RENAME_FILES_PER_DIR = 1000
RENAME_SMALL = 10


def ensure_rentree(fix, nfiles):
    """A one-layer lower tree for the rename workload: big/ with nfiles
    empty files in directories of 1000, small/ with 10."""
    root = os.path.join(fix, "rentree-%d" % nfiles)
    layer = os.path.join(root, "L000")
    if os.path.exists(os.path.join(root, "done")):
        return layer
    log("writing the %d-file tree for rename ..." % nfiles)
    if os.path.exists(root):
        shutil.rmtree(root)
    for top, n in (("big", nfiles), ("small", RENAME_SMALL)):
        for i in range(n):
            d = os.path.join(layer, top, "d%03d" % (i // RENAME_FILES_PER_DIR))
            if i % RENAME_FILES_PER_DIR == 0:
                os.makedirs(d)
            open(os.path.join(d, "f%06d" % i), "w").close()
    open(os.path.join(root, "done"), "w").close()
    os.sync()
    return layer


# -- the scale fixtures: 100-layer stacks of 10k .. 1M files, one directory
# of 100k entries from 5 layers; on a loop-mounted ext4 image -------------

SCALE_VERSION = 1
SCALE_LAYERS = 100
FILES_PER_DIR = 1000
BIGDIR_LAYERS = 5


def scale_label(n):
    return "%dM" % (n // 1000000) if n >= 1000000 and n % 1000000 == 0 else "%dk" % (n // 1000)


def scale_estimate(sizes, bigdir):
    """(inodes, bytes) the image needs: every directory of a stack exists in
    every layer, one 4 KiB block each; files are empty (sizes are holes)."""
    inodes = blocks = 0
    for n in sizes:
        dirs = max(1, n // FILES_PER_DIR) * SCALE_LAYERS
        inodes += n + dirs + SCALE_LAYERS
        blocks += dirs + SCALE_LAYERS + n * 64 // 4096
    inodes += bigdir + BIGDIR_LAYERS * 2
    blocks += bigdir * 64 // 4096 + 64
    return inodes, blocks * 4096 + inodes * 256


def write_scale_stack(root, n):
    """root/L000..L099: n files in n/1000 directories, spread uniformly over
    the layers; every directory in the bottom layer (no whiteouts: both
    kinds of system read the same copy)."""
    rng = random.Random("%d/scale/%d" % (SEED, n))
    ndirs = max(1, n // FILES_PER_DIR)
    for i in range(SCALE_LAYERS):
        os.mkdir(os.path.join(root, "L%03d" % i))
    made = set()
    for d in range(ndirs):
        os.mkdir(os.path.join(root, "L%03d" % (SCALE_LAYERS - 1), "d%05d" % d))
        made.add((SCALE_LAYERS - 1, d))
    for f in range(n):
        d, layer = rng.randrange(ndirs), rng.randrange(SCALE_LAYERS)
        dpath = os.path.join(root, "L%03d" % layer, "d%05d" % d)
        if (layer, d) not in made:
            os.mkdir(dpath)
            made.add((layer, d))
        fd = os.open(os.path.join(dpath, "f%07d" % f), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.ftruncate(fd, rng.randrange(16384))
        os.close(fd)


def write_bigdir(root, n):
    """root/L000..L004/big: n names, name i in layer i % 5, every tenth
    also shadowed by a copy in a higher layer: n entries when merged."""
    rng = random.Random("%d/bigdir/%d" % (SEED, n))
    for i in range(BIGDIR_LAYERS):
        os.makedirs(os.path.join(root, "L%03d" % i, "big"))
    for i in range(n):
        layer = i % BIGDIR_LAYERS
        homes = [layer] + ([rng.randrange(layer)] if layer and i % 10 == 0 else [])
        for h in homes:
            fd = os.open(os.path.join(root, "L%03d" % h, "big", "f%06d.js" % i),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.ftruncate(fd, rng.randrange(16384))
            os.close(fd)


class ScaleImage:
    """FIXTURES/scale.img (ext4): the scale stacks sc<label>/ and the big
    directory bigdir<label>/, generated once (a stamp in the image says
    what it holds), mounted read-only for a run."""

    def __init__(self, fix, sizes, bigdir):
        self.img = os.path.join(fix, "scale.img")
        self.sizes, self.bigdir = sizes, bigdir

    def want(self):
        return dict(version=SCALE_VERSION, seed=SEED, layers=SCALE_LAYERS,
                    files_per_dir=FILES_PER_DIR, sizes=self.sizes, bigdir=self.bigdir)

    def parts(self):
        return ["sc" + scale_label(n) for n in self.sizes] + \
               (["bigdir" + scale_label(self.bigdir)] if self.bigdir else [])

    def _stamp(self, mnt):
        try:
            with open(os.path.join(mnt, "stamp.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def mount(self, run, cleanup, mnt, umount_path):
        """Mounts the image read-only on mnt, generating what is missing
        first. Returns mnt."""
        os.makedirs(mnt, exist_ok=True)
        if self._needs_work(run, mnt, umount_path):
            self._generate(run, mnt, umount_path)
        dev = run(["losetup", "--find", "--show", "--read-only", "--direct-io=on",
                   self.img]).stdout.decode().strip()
        cleanup.push("detach " + dev, lambda: run(["losetup", "-d", dev], check=False))
        run(["mount", "-t", "ext4", "-o", "ro,noatime", dev, mnt])
        cleanup.push("umount " + mnt, lambda: umount_path(mnt, False))
        return mnt

    def _rw(self, run, mnt, ro=False):
        dev = run(["losetup", "--find", "--show"] + (["--read-only"] if ro else []) +
                  [self.img]).stdout.decode().strip()
        try:
            run(["mount", "-t", "ext4", "-o", "ro,noatime" if ro else "noatime", dev, mnt])
        except BaseException:
            run(["losetup", "-d", dev], check=False)
            raise
        return dev

    def _needs_work(self, run, mnt, umount_path):
        if not os.path.exists(self.img):
            return True
        dev = self._rw(run, mnt, ro=True)
        try:
            st = self._stamp(mnt)
        finally:
            umount_path(mnt, False)
            run(["losetup", "-d", dev], check=False)
        return not st or st.get("key") != self.want() or st.get("parts") != self.parts()

    def _generate(self, run, mnt, umount_path):
        """A fresh image with every part of this mode (full or quick), so
        that --only never makes it generate again."""
        inodes, size = scale_estimate(self.sizes, self.bigdir)
        free = shutil.disk_usage(os.path.dirname(self.img)).free
        if free < size * 2 + GiB:
            raise OSError("the scale fixtures need about %.1f GiB on %s, %.1f GiB free"
                          % ((size * 2 + GiB) / GiB, os.path.dirname(self.img), free / GiB))
        log("making the scale image (%d inodes, ~%.1f GiB used) ..." % (inodes, size / GiB))
        if os.path.exists(self.img):
            os.unlink(self.img)
        with open(self.img, "wb") as f:
            f.truncate(max(4 * size, 2 * GiB))
        run(["mkfs.ext4", "-q", "-F", "-N", str(int(inodes * 1.2) + 1024), "-m", "0",
             "-E", "lazy_itable_init=0,lazy_journal_init=0", self.img])
        dev = self._rw(run, mnt)
        try:
            for n in self.sizes:
                part = "sc" + scale_label(n)
                t0 = time.monotonic()
                log("generating the scale stack %s (%d files, %d layers) ..." % (part, n, SCALE_LAYERS))
                os.mkdir(os.path.join(mnt, part))
                write_scale_stack(os.path.join(mnt, part), n)
                log("  %s in %.0f s" % (part, time.monotonic() - t0))
            if self.bigdir:
                part = "bigdir" + scale_label(self.bigdir)
                log("generating the big directory %s (%d entries, %d layers) ..."
                    % (part, self.bigdir, BIGDIR_LAYERS))
                os.mkdir(os.path.join(mnt, part))
                write_bigdir(os.path.join(mnt, part), self.bigdir)
            with open(os.path.join(mnt, "stamp.json"), "w") as f:
                json.dump(dict(key=self.want(), parts=self.parts()), f)
            os.sync()
        finally:
            umount_path(mnt, False)
            run(["losetup", "-d", dev], check=False)
