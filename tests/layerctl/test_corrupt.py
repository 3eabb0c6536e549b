"""Corrupt compressed layers are refused, leaving the store as it was: a
gzip member's CRC-32 or ISIZE wrong, bytes after the last gzip member, a
zstd frame checksum or an xz block check wrong; both as OCI blobs (whose
digests are made to match, so only the stream's own check can tell) and as
bare layer tarballs. A valid multi-member gzip is accepted. The layers come
from the image umoci made (realimages.py), recompressed with the zstd and xz
tools where needed."""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import realimages
from damage import (gzip_bad_crc, gzip_bad_isize, gzip_members, xz_bad_check,
                    zstd_bad_checksum)
from realimages import manifest_of, need_tools

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Source:
    """A umoci layout (tag v1) and its first layer, gzip as umoci wrote it."""

    def __init__(self, work):
        self.work = work
        self.layout = realimages.build_layout(work)
        _, man = manifest_of(self.layout, "v1")
        self.layer_desc = man["layers"][0]
        with open(os.path.join(self.layout, "blobs/sha256", self.layer_desc["digest"][7:]),
                  "rb") as f:
            self.gz = f.read()
        self.tar = gzip.decompress(self.gz)

    def zstd(self):
        return subprocess.run(["zstd", "-q", "-c", "--check"], input=self.tar,
                              stdout=subprocess.PIPE, check=True).stdout

    def xz(self):
        return subprocess.run(["xz", "-c", "--check=crc64"], input=self.tar,
                              stdout=subprocess.PIPE, check=True).stdout

    def layout_with(self, blob, media_type):
        """A copy of the layout whose v1 has blob as its first layer, the
        manifest and index rewritten to its digest (the config's diff_id
        stays: the uncompressed tar is the same)."""
        d = tempfile.mkdtemp(dir=self.work)
        out = os.path.join(d, "layout")
        shutil.copytree(self.layout, out, symlinks=True)
        blobs = os.path.join(out, "blobs/sha256")
        with open(os.path.join(blobs, sha(blob)), "wb") as f:
            f.write(blob)
        desc, man = manifest_of(out, "v1")
        man["layers"][0].update(digest="sha256:" + sha(blob), size=len(blob),
                                mediaType=media_type)
        raw = json.dumps(man).encode()
        with open(os.path.join(blobs, sha(raw)), "wb") as f:
            f.write(raw)
        index_path = os.path.join(out, "index.json")
        with open(index_path) as f:
            index = json.load(f)
        index["manifests"] = [dict(desc, digest="sha256:" + sha(raw), size=len(raw))]
        with open(index_path, "w") as f:
            json.dump(index, f)
        return out


@pytest.fixture(scope="module")
def source():
    need_tools("umoci", "tar", "zstd", "xz")
    d = tempfile.mkdtemp(prefix="layerctl-corrupt-", dir="/tmp")
    try:
        yield Source(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def store_state(ctl):
    """What a refused unpack must leave as it was."""
    out = {}
    for root, dirs, files in os.walk(ctl.store):
        for n in dirs + files:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, ctl.store)
            if rel != "lock":
                out[rel] = os.lstat(p).st_mtime_ns if not os.path.isdir(p) else None
    return out


@pytest.fixture
def populated(ctl, work):
    """A store that already holds an image, so that 'unchanged' means more
    than 'empty'."""
    from imagegen import Layer, file, write_file
    good = Layer([file("already", b"here\n")], "gz")
    ctl("unpack", "-q", write_file(good.blob, os.path.join(work, "good.tar.gz")),
        "--name", "good:1")
    return ctl


def damaged(source, kind):
    """(blob, media type, what the message must say)."""
    if kind == "gzip-crc":
        return gzip_bad_crc(source.gz), OCI_LAYER + "+gzip", "CRC-32 mismatch"
    if kind == "gzip-isize":
        return gzip_bad_isize(source.gz), OCI_LAYER + "+gzip", "ISIZE (length) mismatch"
    if kind == "gzip-garbage":
        return source.gz + b"trailing garbage", OCI_LAYER + "+gzip", \
            "bytes after the end of the gzip stream"
    if kind == "gzip-zeros":
        return source.gz + b"\0" * 1024, OCI_LAYER + "+gzip", \
            "bytes after the end of the gzip stream"
    if kind == "zstd-checksum":
        return zstd_bad_checksum(source.zstd()), OCI_LAYER + "+zstd", "corrupt zstd stream"
    if kind == "xz-check":
        return xz_bad_check(source.xz()), None, "corrupt xz stream"
    raise ValueError(kind)


BLOB_KINDS = ["gzip-crc", "gzip-isize", "gzip-garbage", "gzip-zeros", "zstd-checksum"]
BARE_KINDS = BLOB_KINDS + ["xz-check"]


def test_damage_is_only_in_the_trailer(source):
    """Guards the tests: the damaged streams still decompress to the same
    tar when their checks are ignored (so only a reader that checks the
    trailer can tell)."""
    assert source.gz[:2] == b"\x1f\x8b"
    d = zlib_ignore_crc(gzip_bad_crc(source.gz))
    assert d == source.tar
    r = subprocess.run(["xz", "-dc", "--ignore-check"], input=xz_bad_check(source.xz()),
                       stdout=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == source.tar
    for kind in BARE_KINDS:
        blob, _, _ = damaged(source, kind)
        tool = ["gzip", "-t"] if kind.startswith("gzip") else \
            ["zstd", "-t", "-q"] if kind.startswith("zstd") else ["xz", "-t"]
        t = subprocess.run(tool, input=blob, capture_output=True)
        assert t.returncode != 0 or kind == "gzip-zeros", kind   # gzip -t forgives zeros


def zlib_ignore_crc(blob):
    import zlib
    d = zlib.decompressobj(-15)
    return d.decompress(blob[10:])      # a raw deflate stream: no trailer check


@pytest.mark.parametrize("kind", BLOB_KINDS)
def test_corrupt_oci_blob_refused(source, populated, kind):
    ctl = populated
    blob, mt, why = damaged(source, kind)
    before = store_state(ctl)
    r = ctl("unpack", "-q", "oci:%s:v1" % source.layout_with(blob, mt), rc=1)
    assert why in r.stderr and "blobs/sha256/" + sha(blob) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert store_state(ctl) == before


@pytest.mark.parametrize("kind", BARE_KINDS)
def test_corrupt_bare_layer_refused(source, populated, work, kind):
    ctl = populated
    blob, _, why = damaged(source, kind)
    path = os.path.join(work, "layer." + kind.split("-")[0])
    with open(path, "wb") as f:
        f.write(blob)
    before = store_state(ctl)
    r = ctl("unpack", "-q", path, rc=1)
    assert why in r.stderr and path in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert store_state(ctl) == before


@pytest.mark.parametrize("members", [2, 5])
def test_multi_member_gzip_accepted(source, ctl, work, members):
    multi = gzip_members(source.tar, members)
    assert multi != source.gz and gzip.decompress(multi) == source.tar
    ctl("unpack", "-q", "oci:%s:v1" % source.layout, "--name", "plain:1")
    ctl("unpack", "-q", "oci:%s:v1" % source.layout_with(multi, OCI_LAYER + "+gzip"),
        "--name", "multi:1")
    path = os.path.join(work, "multi.tar.gz")
    with open(path, "wb") as f:
        f.write(multi)
    ctl("unpack", "-q", path, "--name", "bare:1")
    images = {}
    for name in os.listdir(ctl.path("images")):
        img = json.load(open(ctl.path("images", name)))
        for n in img["names"]:
            images[n.replace("docker.io/library/", "")] = img
    # the same diff_id, so the same layer in the store
    assert images["multi:1"]["layers"] == images["plain:1"]["layers"]
    assert images["bare:1"]["diff_ids"][0] == images["plain:1"]["diff_ids"][0]
    chain = images["multi:1"]["layers"][0][7:]
    meta = json.load(open(ctl.path("layers", chain, "meta.json")))
    assert meta["digest"] == "sha256:" + source.layer_desc["digest"][7:]  # unpacked first


def test_valid_streams_accepted(source, ctl, work):
    for name, blob in (("z.tar.zst", source.zstd()), ("x.tar.xz", source.xz()),
                       ("g.tar.gz", source.gz)):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(blob)
        ctl("unpack", "-q", path, "--name", name.split(".")[0] + ":1")
    assert len(ctl.layers()) == 1
