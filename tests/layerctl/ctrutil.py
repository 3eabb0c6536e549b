"""Helpers for the container and commit tests of layerctl.

The store is built by hand, following tools/store.h, so these tests do not
depend on `layerctl unpack`: layers/<chain>/diff + meta.json, and
images/<id>.json holding the image config.  The `cstore` fixture gives each
test its own store under /tmp and, in teardown, always unmounts whatever a
container of that store still has mounted (also a dead daemon's mount).
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAYERFS_BIN = os.environ.get("LAYERFS_BIN") or os.path.join(REPO, "build", "layerfs")
LAYERCTL_BIN = os.environ.get("LAYERCTL_BIN") or os.path.join(REPO, "build", "tools", "layerctl")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def mountpoints():
    """Mountpoints in /proc/self/mountinfo, unescaped."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            out.append(mp.encode().decode("unicode_escape"))
    return out


def is_mounted(path):
    return os.path.realpath(path) in mountpoints()


def force_unmount(path):
    for _ in range(20):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", "-u", path], capture_output=True)
        if not is_mounted(path):
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", path], capture_output=True)


def build_tree(root, spec):
    """SPEC: list of entries:
       ("f", path, content[, mode])   regular file (content str or bytes)
       ("d", path[, mode])            directory
       ("l", path, target)            symlink
       ("h", path, existing)          hardlink to an earlier file
       ("wh", path)                   whiteout .wh.NAME for PATH
       ("opq", dir)                   opaque marker in DIR
    Parent directories are made 0755 as needed."""
    for ent in spec:
        kind, path = ent[0], ent[1]
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if kind == "f":
            data = ent[2].encode() if isinstance(ent[2], str) else ent[2]
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, ent[3] if len(ent) > 3 else 0o644)
        elif kind == "d":
            os.makedirs(full, exist_ok=True)
            os.chmod(full, ent[2] if len(ent) > 2 else 0o755)
        elif kind == "l":
            os.symlink(ent[2], full)
        elif kind == "h":
            os.link(os.path.join(root, ent[2]), full)
        elif kind == "wh":
            d, name = os.path.split(full)
            open(os.path.join(d, ".wh." + name), "w").close()
        elif kind == "opq":
            os.makedirs(full, exist_ok=True)
            open(os.path.join(full, ".wh..wh..opq"), "w").close()
        else:
            raise ValueError(kind)


def tar_of_dir(root):
    """An uncompressed tar of ROOT (sorted), as a layer's diff_id source."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                t.add(full, arcname=os.path.relpath(full, root), recursive=False)
    return buf.getvalue()


class Store:
    def __init__(self, root):
        self.root = root
        for d in ("layers", "images", "containers", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    def p(self, *parts):
        return os.path.join(self.root, *parts)

    # -- building by hand ------------------------------------------------
    def add_layer(self, spec, parent=None):
        """Makes a layer from SPEC on top of chain id PARENT (hex).
        Returns (chain_hex, diff_hex)."""
        tmp = tempfile.mkdtemp(dir=self.p("tmp"))
        diff = os.path.join(tmp, "diff")
        os.mkdir(diff)
        build_tree(diff, spec)
        diff_hex = sha256(tar_of_dir(diff))
        chain = diff_hex if parent is None else sha256(
            ("sha256:%s sha256:%s" % (parent, diff_hex)).encode())
        meta = {"chain_id": "sha256:" + chain, "diff_id": "sha256:" + diff_hex,
                "parent": "sha256:" + parent if parent else None, "digest": None,
                "media_type": "application/vnd.oci.image.layer.v1.tar", "size": 0}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f)
        dst = self.p("layers", chain)
        if os.path.exists(dst):
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, dst)
        return chain, diff_hex

    def add_image(self, name, layer_specs, config=None):
        """An image NAME ("repo:tag") of LAYER_SPECS (bottom first)."""
        chains, diffs, parent = [], [], None
        for spec in layer_specs:
            parent, diff = self.add_layer(spec, parent)
            chains.append(parent)
            diffs.append(diff)
        cfg = {"architecture": "amd64", "os": "linux",
               "created": "2024-01-01T00:00:00Z",
               "config": config if config is not None else {"Cmd": ["/bin/sh"]},
               "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in diffs]},
               "history": [{"created_by": "ctrutil layer %d" % i} for i in range(len(diffs))]}
        raw = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        iid = sha256(raw)
        img = {"id": "sha256:" + iid, "names": [name],
               "layers": ["sha256:" + c for c in chains],
               "diff_ids": ["sha256:" + d for d in diffs],
               "created": cfg["created"], "config": cfg}
        with open(self.p("images", iid + ".json"), "w") as f:
            json.dump(img, f)
        return iid

    def image(self, iid):
        with open(self.p("images", iid + ".json")) as f:
            return json.load(f)

    def images(self):
        out = {}
        for n in os.listdir(self.p("images")):
            if n.endswith(".json") and len(n) == 69:
                out[n[:64]] = self.image(n[:64])
        return out

    # -- running layerctl --------------------------------------------------
    def ctl(self, *args, check=True, env=None, timeout=60):
        e = dict(os.environ)
        e.setdefault("LAYERFS_BIN", LAYERFS_BIN)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=24")
        if env:
            e.update(env)
        r = subprocess.run([LAYERCTL_BIN, "--store", self.root] + list(args),
                           capture_output=True, text=True, env=e, timeout=timeout)
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, "sanitizer report:\n" + r.stderr
        if check:
            assert r.returncode == 0, "layerctl %s: exit %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def cdir(self, name, *parts):
        return self.p("containers", name, *parts)

    def cleanup(self):
        cdir = self.p("containers")
        for name in os.listdir(cdir) if os.path.isdir(cdir) else []:
            force_unmount(os.path.join(cdir, name, "mnt"))
        # anything else of ours still mounted (e.g. a renamed container)
        for mp in mountpoints():
            if mp.startswith(self.root + "/"):
                force_unmount(mp)


@pytest.fixture
def cstore():
    if os.geteuid() != 0:
        pytest.fail("needs root (FUSE mounts, owners)")
    for b in (LAYERFS_BIN, LAYERCTL_BIN):
        if not os.access(b, os.X_OK):
            pytest.fail("%s is not executable (set LAYERFS_BIN / LAYERCTL_BIN)" % b)
    root = tempfile.mkdtemp(prefix="layerctl-ctr-", dir="/tmp")
    s = Store(root)
    try:
        yield s
    finally:
        s.cleanup()
        leftover = [mp for mp in mountpoints() if mp.startswith(root + "/")]
        shutil.rmtree(root, ignore_errors=True)
        assert not leftover, "mounts left behind: %r" % leftover


BASE = [
    ("f", "etc/os-release", "ID=test\n"),
    ("f", "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
    ("f", "etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"),
    ("f", "usr/bin/hello", "#!/bin/sh\necho hello\n", 0o755),
    ("f", "usr/share/doc/a.txt", "a\n"),
    ("f", "usr/share/doc/b.txt", "b\n"),
    ("f", "var/cache/old/index.dat", "old\n"),
    ("f", "var/cache/keep.txt", "keep\n"),
    ("f", "opt/tool/README", "tool\n"),
]
MIDDLE = [
    ("f", "etc/motd", "middle motd\n"),
    ("f", "etc/os-release", "ID=middle\n"),
    ("wh", "usr/share/doc/b.txt"),
    ("opq", "var/cache"),
    ("f", "var/cache/app.cache", "cache\n"),
    ("f", "app/app.sh", "#!/bin/sh\n", 0o755),
    ("l", "usr/bin/app", "../../app/app.sh"),
]


def sample_image(store, name="test/sample:1", config=None):
    """Two layers with a whiteout and an opaque directory."""
    return store.add_image(name, [BASE, MIDDLE], config)


def tar_members(data):
    """name -> TarInfo of a (possibly gzip'd) tar."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return {m.name.rstrip("/"): m for m in t.getmembers()}


def tar_read(data, name):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return t.extractfile(name).read()
