"""Deterministic builders of image inputs for the layerctl tests.

Layers are tar streams made with the standard library's tarfile (pax by
default), compressed with gzip, or with the `zstd`/`xz` command-line tools.
Images are built as an ordered dict of member name -> bytes, so that a test
can damage any part of them before writing them out as a directory
(write_dir) or as a tar archive (write_tar).  Hostile entries are made on
purpose: nothing here sanitises names.
"""
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile

MTIME = 1700000000
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZ = OCI_LAYER + "+gzip"
OCI_LAYER_ZST = OCI_LAYER + "+zstd"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids):
    """OCI chain ids (hex) for a list of diff_ids (hex), bottom first."""
    out = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            s = "sha256:%s sha256:%s" % (out[-1], d)
            out.append(sha256(s.encode()))
    return out


# ---- entries -------------------------------------------------------------

def _info(name, type_, mode, uid=0, gid=0, mtime=MTIME, xattrs=None):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    if xattrs:
        # Values are bytes; surrogateescape lets any byte through.
        ti.pax_headers = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
                          for k, v in xattrs.items()}
    return ti


def file(name, data=b"", mode=0o644, **kw):
    ti = _info(name, tarfile.REGTYPE, mode, **kw)
    ti.size = len(data)
    return (ti, data)


def directory(name, mode=0o755, **kw):
    return (_info(name, tarfile.DIRTYPE, mode, **kw), None)


def symlink(name, target, **kw):
    ti = _info(name, tarfile.SYMTYPE, 0o777, **kw)
    ti.linkname = target
    return (ti, None)


def hardlink(name, target, **kw):
    ti = _info(name, tarfile.LNKTYPE, 0o644, **kw)
    ti.linkname = target
    return (ti, None)


def fifo(name, mode=0o644, **kw):
    return (_info(name, tarfile.FIFOTYPE, mode, **kw), None)


def chardev(name, major, minor, mode=0o666, **kw):
    ti = _info(name, tarfile.CHRTYPE, mode, **kw)
    ti.devmajor, ti.devminor = major, minor
    return (ti, None)


def blockdev(name, major, minor, mode=0o660, **kw):
    ti = _info(name, tarfile.BLKTYPE, mode, **kw)
    ti.devmajor, ti.devminor = major, minor
    return (ti, None)


def sparse(name, realsize, chunks, mode=0o644, **kw):
    """A GNU sparse 1.0 (pax) entry: chunks is [(offset, bytes)]."""
    lines = [str(len(chunks))]
    for off, data in chunks:
        lines += [str(off), str(len(data))]
    smap = ("\n".join(lines) + "\n").encode()
    smap += b"\0" * (-len(smap) % 512)
    payload = smap + b"".join(d for _, d in chunks)
    ti = _info("GNUSparseFile.0/" + os.path.basename(name), tarfile.REGTYPE, mode, **kw)
    ti.size = len(payload)
    ti.pax_headers = dict(ti.pax_headers)
    ti.pax_headers.update({
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0",
        "GNU.sparse.name": name, "GNU.sparse.realsize": str(realsize),
    })
    return (ti, payload)


def cap_v2(permitted, effective=True):
    """security.capability value (VFS_CAP_REVISION_2) for a capability mask."""
    magic = 0x02000000 | (1 if effective else 0)
    return struct.pack("<IIIII", magic, permitted & 0xffffffff, 0, permitted >> 32, 0)


# ---- layers -------------------------------------------------------------

def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data, kind):
    if kind in (None, "tar"):
        return data
    if kind == "gz":
        return gzip.compress(data, mtime=0)
    tool = {"zst": ["zstd", "-q", "-c", "-3"], "xz": ["xz", "-c", "-6"]}[kind]
    return subprocess.run(tool, input=data, stdout=subprocess.PIPE, check=True).stdout


class Layer:
    """A layer blob with its digests and OCI media type."""

    def __init__(self, entries, kind=None, fmt=tarfile.PAX_FORMAT, raw=None):
        self.tar = raw if raw is not None else tar_bytes(entries, fmt)
        self.blob = compress(self.tar, kind)
        self.kind = kind
        self.diff_id = sha256(self.tar)
        self.digest = sha256(self.blob)
        self.media_type = {None: OCI_LAYER, "tar": OCI_LAYER, "gz": OCI_LAYER_GZ,
                           "zst": OCI_LAYER_ZST, "xz": OCI_LAYER + "+xz"}[kind]


def config_for(layers, diff_ids=None, **extra):
    cfg = {
        "architecture": "amd64", "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + d for d in
                                (diff_ids or [l.diff_id for l in layers])]},
    }
    cfg.update(extra)
    return json.dumps(cfg, sort_keys=True).encode()


# ---- docker save ---------------------------------------------------------

def docker_members(layers, tags=("test/image:latest",), layout="old", diff_ids=None,
                   config=None):
    """Members of a `docker save` archive: "old" (<id>/layer.tar,
    <hex>.json) or "new" (Docker 25+: blobs/sha256/<hex>, plus index.json
    and oci-layout)."""
    cfg = config if config is not None else config_for(layers, diff_ids)
    cfg_hex = sha256(cfg)
    m = {}
    names = []
    if layout == "old":
        for i, l in enumerate(layers):
            lid = sha256(("layer%d" % i).encode() + l.blob)
            m["%s/VERSION" % lid] = b"1.0"
            m["%s/json" % lid] = json.dumps({"id": lid}).encode()
            m["%s/layer.tar" % lid] = l.blob
            names.append("%s/layer.tar" % lid)
        cfg_name = "%s.json" % cfg_hex
        m[cfg_name] = cfg
    else:
        for l in layers:
            m["blobs/sha256/" + l.digest] = l.blob
            names.append("blobs/sha256/" + l.digest)
        cfg_name = "blobs/sha256/" + cfg_hex
        m[cfg_name] = cfg
        m["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
        m["index.json"] = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    m["manifest.json"] = json.dumps([{"Config": cfg_name, "RepoTags": list(tags),
                                      "Layers": names}]).encode()
    return m


# ---- OCI image layout ------------------------------------------------------

def descriptor(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": "sha256:" + sha256(data), "size": len(data)}
    d.update(extra)
    return d


def oci_members(layers, ref="latest", diff_ids=None, media_types=None, config=None,
                config_type=OCI_CONFIG):
    cfg = config if config is not None else config_for(layers, diff_ids)
    m = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    for l in layers:
        m["blobs/sha256/" + l.digest] = l.blob
    m["blobs/sha256/" + sha256(cfg)] = cfg
    types = media_types or [l.media_type for l in layers]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, cfg),
        "layers": [{"mediaType": t, "digest": "sha256:" + l.digest, "size": len(l.blob)}
                   for t, l in zip(types, layers)],
    }, sort_keys=True).encode()
    m["blobs/sha256/" + sha256(manifest)] = manifest
    ann = {"org.opencontainers.image.ref.name": ref} if ref else {}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [descriptor(OCI_MANIFEST, manifest, annotations=ann)]}
    m["index.json"] = json.dumps(index, sort_keys=True).encode()
    return m


def manifest_name(members):
    """The member holding the OCI manifest of a one-image layout."""
    index = json.loads(members["index.json"])
    return "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]


def config_name(members):
    man = json.loads(members[manifest_name(members)])
    return "blobs/sha256/" + man["config"]["digest"].split(":")[1]


# ---- writing ---------------------------------------------------------------

def write_tar(members, path):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        dirs = set()
        for name in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    tf.addfile(_info(d, tarfile.DIRTYPE, 0o755))
            ti = _info(name, tarfile.REGTYPE, 0o644)
            ti.size = len(members[name])
            tf.addfile(ti, io.BytesIO(members[name]))
    return path


def write_dir(members, path):
    for name, data in members.items():
        p = os.path.join(path, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return path


def write_file(data, path):
    with open(path, "wb") as f:
        f.write(data)
    return path
