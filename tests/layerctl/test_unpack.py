"""layerctl unpack: every input format, digest checks, every entry type,
hostile archives, re-unpacking and parallel unpacking."""
import json
import os
import pty
import stat
import subprocess
import tarfile

import pytest

from imagegen import (Layer, cap_v2, chain_ids, chardev, blockdev, compress, config_for,
                      config_name, directory, docker_members, fifo, file, hardlink,
                      manifest_name, oci_members, sha256, sparse, symlink, write_dir,
                      write_file, write_tar, OCI_CONFIG)


def base_layer(kind=None):
    return Layer([directory("etc"), file("etc/hostname", b"box\n"),
                  directory("bin"), file("bin/tool", b"#!/bin/sh\necho hi\n", mode=0o755)],
                 kind)


def top_layer(kind=None):
    return Layer([directory("etc"), file("etc/hostname", b"changed\n"),
                  file("etc/.wh.motd"), directory("var/cache", mode=0o700),
                  file("var/cache/.wh..wh..opq")], kind)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check_two_layers(ctl, l1, l2, out):
    c1, c2 = chain_ids([l1.diff_id, l2.diff_id])
    assert ctl.layers() == sorted([c1, c2])
    assert read(ctl.diff(c1, "etc/hostname")) == b"box\n"
    assert read(ctl.diff(c2, "etc/hostname")) == b"changed\n"
    # whiteouts stay as plain files (aufs style)
    assert stat.S_ISREG(os.lstat(ctl.diff(c2, "etc/.wh.motd")).st_mode)
    assert stat.S_ISREG(os.lstat(ctl.diff(c2, "var/cache/.wh..wh..opq")).st_mode)
    meta = json.load(open(ctl.path("layers", c2, "meta.json")))
    assert meta["chain_id"] == "sha256:" + c2
    assert meta["diff_id"] == "sha256:" + l2.diff_id
    assert meta["parent"] == "sha256:" + c1
    assert meta["digest"] == "sha256:" + l2.digest
    assert meta["size"] == len(b"changed\n")
    assert ctl.tmp_entries() == []
    assert "Loaded image ID: sha256:" in out
    return c1, c2


def image_record(ctl):
    (name,) = ctl.images()
    return json.load(open(ctl.path("images", name)))


# ---- formats -----------------------------------------------------------------

@pytest.mark.parametrize("layout", ["old", "new"])
@pytest.mark.parametrize("kind", [None, "gz"])
def test_docker_save(ctl, work, layout, kind):
    l1, l2 = base_layer(kind), top_layer(kind)
    members = docker_members([l1, l2], tags=["busy/box:1.0", "busy/box:latest"],
                             layout=layout)
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path)
    c1, c2 = check_two_layers(ctl, l1, l2, r.stdout)
    img = image_record(ctl)
    cfg_hex = sha256(config_for([l1, l2]))
    assert img["id"] == "sha256:" + cfg_hex
    assert sorted(img["names"]) == ["docker.io/busy/box:1.0", "docker.io/busy/box:latest"]
    assert img["layers"] == ["sha256:" + c1, "sha256:" + c2]
    assert img["diff_ids"] == ["sha256:" + l1.diff_id, "sha256:" + l2.diff_id]
    assert img["config"]["config"]["Cmd"] == ["/bin/sh"]
    assert img["created"] == "2024-01-02T03:04:05Z"


def test_docker_save_directory(ctl, work):
    l1, l2 = base_layer(), top_layer()
    path = write_dir(docker_members([l1, l2]), os.path.join(work, "extracted"))
    r = ctl("unpack", path)
    check_two_layers(ctl, l1, l2, r.stdout)


@pytest.mark.parametrize("as_archive", [False, True])
@pytest.mark.parametrize("kind", [None, "gz", "zst"])
def test_oci_layout(ctl, work, as_archive, kind):
    l1, l2 = base_layer(kind), top_layer(kind)
    members = oci_members([l1, l2], ref="example.com/app:2")
    if as_archive:
        path = write_tar(members, os.path.join(work, "app.oci.tar"))
    else:
        path = write_dir(members, os.path.join(work, "app"))
    r = ctl("unpack", path)
    check_two_layers(ctl, l1, l2, r.stdout)
    img = image_record(ctl)
    assert img["names"] == ["example.com/app:2"]
    meta = json.load(open(ctl.path("layers", ctl.layers()[0], "meta.json")))
    assert meta["media_type"] == l1.media_type


def test_oci_bare_tag_named_after_layout(ctl, work):
    path = write_dir(oci_members([base_layer()], ref="v3"), os.path.join(work, "myapp"))
    r = ctl("unpack", path)
    assert "Loaded image: myapp:v3" in r.stdout


@pytest.mark.parametrize("kind", ["tar", "gz", "zst", "xz"])
def test_single_layer(ctl, work, kind):
    l1 = base_layer(None if kind == "tar" else kind)
    path = write_file(l1.blob, os.path.join(work, "layer.tar" +
                                            ("" if kind == "tar" else "." + kind)))
    r = ctl("unpack", path, "--name", "single:v1")
    assert ctl.layers() == [l1.diff_id]
    assert read(ctl.diff(l1.diff_id, "bin/tool")).startswith(b"#!/bin/sh")
    img = image_record(ctl)
    assert img["names"] == ["docker.io/library/single:v1"]
    assert img["config"]["rootfs"]["diff_ids"] == ["sha256:" + l1.diff_id]
    assert img["layers"] == ["sha256:" + l1.diff_id]
    meta = json.load(open(ctl.path("layers", l1.diff_id, "meta.json")))
    assert meta["digest"] == "sha256:" + l1.digest
    assert "Loaded image: single:v1" in r.stdout


def test_name_option_replaces_source_names(ctl, work):
    path = write_tar(docker_members([base_layer()]), os.path.join(work, "i.tar"))
    ctl("unpack", path, "--name", "mine")
    assert image_record(ctl)["names"] == ["docker.io/library/mine:latest"]


def test_not_an_image(ctl, work):
    path = write_file(b"hello, this is not a tarball\n" * 10, os.path.join(work, "x.txt"))
    r = ctl("unpack", path, rc=1)
    assert "x.txt" in r.stderr
    ctl.assert_empty()


def test_usage(ctl):
    ctl("unpack", rc=2)
    ctl("unpack", "a", "b", rc=2)


# ---- digests and damaged images -------------------------------------------------

def flip(data, at=None):
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_oci_flipped_byte_in_layer_blob(ctl, work):
    l1, l2 = base_layer("gz"), top_layer("gz")
    members = oci_members([l1, l2])
    name = "blobs/sha256/" + l2.digest
    members[name] = flip(members[name], 20)
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert name in r.stderr and "layers[1].digest" in r.stderr, r.stderr
    ctl.assert_empty()


def test_oci_archive_flipped_byte_uncompressed(ctl, work):
    l1 = base_layer()
    members = oci_members([l1])
    name = "blobs/sha256/" + l1.digest
    # a byte of file data: the tar still reads, the digest does not match
    data = members[name]
    at = data.index(b"box\n")
    members[name] = flip(data, at)
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert name in r.stderr and "layers[0].digest" in r.stderr, r.stderr
    ctl.assert_empty()


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_wrong_diff_id_in_config(ctl, work, fmt):
    l1, l2 = base_layer("gz"), top_layer("gz")
    wrong = [l1.diff_id, sha256(b"something else")]
    if fmt == "docker":
        members = docker_members([l1, l2], diff_ids=wrong)
    else:
        members = oci_members([l1, l2], diff_ids=wrong)
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert "rootfs.diff_ids[1]" in r.stderr, r.stderr
    assert "sha256:" + l2.diff_id in r.stderr
    ctl.assert_empty()


def test_docker_config_named_wrongly(ctl, work):
    members = docker_members([base_layer()])
    man = json.loads(members["manifest.json"])
    cfg = man[0]["Config"]
    members[cfg] = members[cfg].replace(b"/bin/sh", b"/bin/ls")
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert cfg in r.stderr and "name says" in r.stderr, r.stderr
    ctl.assert_empty()


def test_oci_config_digest_mismatch(ctl, work):
    members = oci_members([base_layer()])
    cname = config_name(members)
    members[cname] = members[cname].replace(b"/bin/sh", b"/bin/ls")
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert cname in r.stderr and "config.digest" in r.stderr, r.stderr
    ctl.assert_empty()


def test_missing_layer_blob_oci(ctl, work):
    l1 = base_layer()
    members = oci_members([l1])
    del members["blobs/sha256/" + l1.digest]
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert "layers[0].digest" in r.stderr and "missing" in r.stderr, r.stderr
    ctl.assert_empty()


def test_missing_layer_docker(ctl, work):
    members = docker_members([base_layer(), top_layer()])
    layer = json.loads(members["manifest.json"])[0]["Layers"][1]
    del members[layer]
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert "manifest.json" in r.stderr and "Layers[1]" in r.stderr, r.stderr
    ctl.assert_empty()


def test_missing_config_docker(ctl, work):
    members = docker_members([base_layer()])
    del members[json.loads(members["manifest.json"])[0]["Config"]]
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert "Config" in r.stderr and "missing" in r.stderr
    ctl.assert_empty()


def test_bad_layer_media_type(ctl, work):
    l1 = base_layer()
    members = oci_members([l1], media_types=["application/vnd.example.not-a-layer"])
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert "layers[0].mediaType" in r.stderr and "not-a-layer" in r.stderr, r.stderr
    assert manifest_name(members) in r.stderr
    ctl.assert_empty()


def test_bad_config_media_type(ctl, work):
    members = oci_members([base_layer()], config_type="text/plain")
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert "config.mediaType" in r.stderr
    ctl.assert_empty()


@pytest.mark.parametrize("which", ["manifest.json", "config"])
def test_malformed_json_docker(ctl, work, which):
    members = docker_members([base_layer()])
    if which == "config":
        # a name that does not carry a digest, so only the JSON is wrong
        man = json.loads(members["manifest.json"])
        members["config.json"] = b'{"rootfs": '
        man[0]["Config"] = "config.json"
        members["manifest.json"] = json.dumps(man).encode()
        which = "config.json"
    else:
        members[which] = b'[{"Config": "x.json", '
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert which in r.stderr and "malformed JSON" in r.stderr, r.stderr
    ctl.assert_empty()


def test_malformed_index_json(ctl, work):
    members = oci_members([base_layer()])
    members["index.json"] = b"{not json"
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert "index.json" in r.stderr and "malformed JSON" in r.stderr
    ctl.assert_empty()


def test_diff_ids_count_mismatch(ctl, work):
    l1, l2 = base_layer(), top_layer()
    members = oci_members([l1, l2], config=config_for([l1]))
    path = write_dir(members, os.path.join(work, "img"))
    r = ctl("unpack", path, rc=1)
    assert "rootfs.diff_ids" in r.stderr
    ctl.assert_empty()


def test_truncated_gzip_layer(ctl, work, canary):
    l1 = Layer([file("a", os.urandom(200000))], "gz")
    blob = l1.blob[: len(l1.blob) // 2]
    path = write_file(blob, os.path.join(work, "layer.tar.gz"))
    r = ctl("unpack", path, rc=1)
    assert "layer.tar.gz" in r.stderr
    ctl.assert_empty()


def test_truncated_layer_in_image(ctl, work):
    l1, l2 = base_layer(), Layer([file("big", os.urandom(100000))], "gz")
    members = docker_members([l1, l2])
    layer = json.loads(members["manifest.json"])[0]["Layers"][1]
    members[layer] = members[layer][:5000]
    path = write_tar(members, os.path.join(work, "img.tar"))
    r = ctl("unpack", path, rc=1)
    assert layer in r.stderr
    ctl.assert_empty()


# ---- entry types -----------------------------------------------------------------

def all_types_layer():
    long_dir = "d" * 120
    long_name = long_dir + "/" + "n" * 150
    return Layer([
        directory("dir", mode=0o750, uid=1000, gid=1001),
        file("dir/file", b"data\n", mode=0o640, uid=1000, gid=1001),
        file("setuid", b"x", mode=0o4755),
        file("setgid", b"x", mode=0o2711, gid=50),
        directory("sticky", mode=0o1777),
        symlink("link", "dir/file"),
        symlink("dangling", "/nowhere/at/all"),
        hardlink("dir/hard", "dir/file"),
        fifo("fifo", mode=0o600),
        chardev("null", 1, 3),
        blockdev("loop7", 7, 7),
        file("attrs", b"x", xattrs={"user.one": b"1", "user.bin": b"\x00\x01\x02"}),
        file("ping", b"\x7fELF", mode=0o755,
             xattrs={"security.capability": cap_v2(1 << 13)}),
        file(long_name, b"long\n"),
        sparse("sparse.img", 64 << 20, [(0, b"head"), (32 << 20, b"middle" * 100)]),
        file(".wh.removed"),
        directory("opaque"),
        file("opaque/.wh..wh..opq"),
        directory(".wh..wh.plnk"),
        file(".wh..wh.plnk/123.456", b"aufs pseudo link"),
    ], "gz"), long_name


def test_every_entry_type(ctl, work):
    layer, long_name = all_types_layer()
    ctl("unpack", write_file(layer.blob, os.path.join(work, "l.tar.gz")))
    d = lambda *p: ctl.diff(layer.diff_id, *p)  # noqa: E731
    st = os.lstat(d("dir"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert st.st_mtime == 1700000000
    st = os.lstat(d("dir/file"))
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (1000, 1001)
    assert st.st_nlink == 2 and os.lstat(d("dir/hard")).st_ino == st.st_ino
    assert st.st_mtime == 1700000000
    assert stat.S_IMODE(os.lstat(d("setuid")).st_mode) == 0o4755
    st = os.lstat(d("setgid"))
    assert stat.S_IMODE(st.st_mode) == 0o2711 and st.st_gid == 50
    assert stat.S_IMODE(os.lstat(d("sticky")).st_mode) == 0o1777
    assert os.readlink(d("link")) == "dir/file"
    assert os.readlink(d("dangling")) == "/nowhere/at/all"
    assert os.lstat(d("link")).st_mtime == 1700000000
    assert stat.S_ISFIFO(os.lstat(d("fifo")).st_mode)
    st = os.lstat(d("null"))
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = os.lstat(d("loop7"))
    assert stat.S_ISBLK(st.st_mode) and os.minor(st.st_rdev) == 7
    assert os.getxattr(d("attrs"), "user.one") == b"1"
    assert os.getxattr(d("attrs"), "user.bin") == b"\x00\x01\x02"
    assert os.getxattr(d("ping"), "security.capability") == cap_v2(1 << 13)
    assert read(d(long_name)) == b"long\n"
    st = os.lstat(d("sparse.img"))
    assert st.st_size == 64 << 20
    assert st.st_blocks * 512 < 1 << 20, "holes were filled"
    with open(d("sparse.img"), "rb") as f:
        assert f.read(4) == b"head"
        f.seek(32 << 20)
        assert f.read(600) == b"middle" * 100
        f.seek(16 << 20)
        assert f.read(16) == b"\0" * 16
    assert os.path.isfile(d(".wh.removed"))
    assert os.path.isfile(d("opaque/.wh..wh..opq"))
    assert not os.path.lexists(d(".wh..wh.plnk"))


def test_gnu_long_names(ctl, work):
    name = "g" * 130 + "/" + "h" * 200
    layer = Layer([file(name, b"gnu\n"), symlink("s" * 110, "t" * 180)], None,
                  fmt=tarfile.GNU_FORMAT)
    ctl("unpack", write_file(layer.blob, os.path.join(work, "l.tar")))
    assert read(ctl.diff(layer.diff_id, name)) == b"gnu\n"
    assert os.readlink(ctl.diff(layer.diff_id, "s" * 110)) == "t" * 180


def test_later_entry_replaces_earlier(ctl, work):
    layer = Layer([file("a", b"first"), file("a", b"second"),
                   directory("b"), file("b/x", b"x"), symlink("b", "elsewhere"),
                   symlink("c", "/etc"), directory("c")])
    ctl("unpack", write_file(layer.blob, os.path.join(work, "l.tar")))
    assert read(ctl.diff(layer.diff_id, "a")) == b"second"
    assert os.readlink(ctl.diff(layer.diff_id, "b")) == "elsewhere"
    assert os.path.isdir(ctl.diff(layer.diff_id, "c"))
    assert not os.path.islink(ctl.diff(layer.diff_id, "c"))


def test_setuid_survives_chown(ctl, work):
    layer = Layer([file("su", b"x", mode=0o6755, uid=1234, gid=5678)])
    ctl("unpack", write_file(layer.blob, os.path.join(work, "l.tar")))
    st = os.lstat(ctl.diff(layer.diff_id, "su"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o6755)


# ---- hostile archives -----------------------------------------------------------

def hostile_cases(canary):
    target = os.path.join(canary, "pwned")
    return {
        "absolute": [file(target, b"x")],
        "dotdot": [directory("a"), file("a/../../" + os.path.relpath(target, "/"), b"x")],
        "dotdot-plain": [file("../pwned", b"x")],
        "through-symlink": [symlink("link", canary), file("link/pwned", b"x")],
        "through-relative-symlink": [directory("a"), symlink("a/up", "../../../../../.."),
                                     file("a/up" + target, b"x")],
        "dir-through-symlink": [symlink("link", canary), directory("link/newdir")],
        "symlink-through-symlink": [symlink("link", canary), symlink("link/pwned", "/")],
        "hardlink-outside": [hardlink("h", os.path.join(canary, "keep"))],
        "hardlink-dotdot": [hardlink("h", "../../canary/keep")],
        "hardlink-through-symlink": [symlink("link", canary), hardlink("h", "link/keep")],
        "hardlink-missing": [hardlink("h", "not-there")],
        "whiteout-escape": [file(".wh..", b"")],
        "whiteout-dot": [file("dir/.wh..")],
        "file-below-symlink-dir": [directory("d"), symlink("d/link", canary),
                                   file("d/link/pwned", b"x")],
        "below-whiteout": [file(".wh.x/y")],
        "whiteout-dir": [directory(".wh.x")],
        "fifo-through-symlink": [symlink("link", canary), fifo("link/pwned")],
    }


HOSTILE = sorted(hostile_cases("/c").keys())


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("wrap", ["layer", "oci"])
def test_hostile_archive(ctl, work, canary, case, wrap):
    layer = Layer(hostile_cases(canary)[case], "gz")
    if wrap == "layer":
        path = write_file(layer.blob, os.path.join(work, "evil.tar.gz"))
    else:
        path = write_dir(oci_members([base_layer(), layer]), os.path.join(work, "evil"))
    r = ctl("unpack", path, rc=1)
    assert "entry" in r.stderr or "hardlink" in r.stderr, r.stderr
    assert not os.path.lexists(os.path.join(canary, "pwned"))
    ctl.assert_empty()


@pytest.mark.parametrize("marker", [".wh.keep", ".wh..wh..opq"])
def test_marker_below_a_symlink_of_the_layer_is_dropped(ctl, work, canary, marker):
    """A whiteout (or opaque marker) below an entry the same layer made a
    symlink hides nothing more (umoci writes such whiteouts): dropped, and
    never looked for through the symlink."""
    layer = Layer([symlink("link", canary), file("link/" + marker),
                   file("f", b"x"), symlink("f2", "f"), file("f/.wh.y")], "gz")
    r = ctl("unpack", write_file(layer.blob, os.path.join(work, "l.tar.gz")))
    assert "3 whiteouts below a non-directory" not in r.stderr
    assert "2 whiteouts below a non-directory of the same layer dropped" in r.stderr, r.stderr
    assert os.readlink(ctl.diff(layer.diff_id, "link")) == canary
    assert sorted(os.listdir(ctl.diff(layer.diff_id))) == ["f", "f2", "link"]
    assert sorted(os.listdir(canary)) == ["keep"]


def test_hostile_does_not_leave_other_layers(ctl, work, canary):
    """Good layers unpacked in parallel with a bad one are dropped too."""
    good = [Layer([file("f%d" % i, os.urandom(50000))], "gz") for i in range(4)]
    bad = Layer(hostile_cases(canary)["through-symlink"], "gz")
    path = write_tar(oci_members(good + [bad]), os.path.join(work, "evil.tar"))
    ctl("unpack", path, rc=1)
    ctl.assert_empty()


# ---- store behaviour ---------------------------------------------------------------

def test_reunpack_does_not_unpack_again(ctl, work):
    l1, l2 = base_layer("gz"), top_layer("gz")
    path = write_tar(docker_members([l1, l2]), os.path.join(work, "img.tar"))
    ctl("unpack", path)
    inodes = {c: os.stat(ctl.path("layers", c)).st_ino for c in ctl.layers()}
    files = {c: os.stat(ctl.diff(c, "etc/hostname")).st_ino for c in ctl.layers()}
    ctl("unpack", path)
    assert {c: os.stat(ctl.path("layers", c)).st_ino for c in ctl.layers()} == inodes
    assert {c: os.stat(ctl.diff(c, "etc/hostname")).st_ino for c in ctl.layers()} == files
    assert ctl.tmp_entries() == []


def test_shared_base_layer_reused(ctl, work):
    l1, l2, l3 = base_layer(), top_layer(), Layer([file("other", b"o")])
    ctl("unpack", write_dir(oci_members([l1, l2], ref="a:1"), os.path.join(work, "a")))
    ino = os.stat(ctl.path("layers", l1.diff_id)).st_ino
    ctl("unpack", write_dir(oci_members([l1, l3], ref="b:1"), os.path.join(work, "b")))
    assert os.stat(ctl.path("layers", l1.diff_id)).st_ino == ino
    assert len(ctl.layers()) == 3 and len(ctl.images()) == 2


def test_parallel_multi_layer(ctl, work):
    layers = [Layer([directory("d%d" % i),
                     file("d%d/blob" % i, os.urandom(300000)),
                     file("common", b"layer %d" % i)], "gz") for i in range(8)]
    path = write_tar(oci_members(layers), os.path.join(work, "many.tar"))
    ctl("unpack", path)
    chains = chain_ids([l.diff_id for l in layers])
    assert ctl.layers() == sorted(chains)
    for i, c in enumerate(chains):
        meta = json.load(open(ctl.path("layers", c, "meta.json")))
        assert meta["parent"] == (None if i == 0 else "sha256:" + chains[i - 1])
        assert read(ctl.diff(c, "common")) == b"layer %d" % i
        assert os.path.getsize(ctl.diff(c, "d%d/blob" % i)) == 300000
    assert image_record(ctl)["layers"] == ["sha256:" + c for c in chains]


def test_leftover_tmp_of_dead_process_is_cleaned(ctl, work):
    path = write_file(base_layer().blob, os.path.join(work, "l.tar"))
    ctl("unpack", path)
    stale = ctl.path("tmp", "layer.999999999.abcdef")
    os.makedirs(os.path.join(stale, "diff"))
    ctl("images")
    assert ctl.tmp_entries() == []


def run_on_terminal(ctl, *args):
    """Runs layerctl with stderr on a pseudo-terminal; returns (stdout,
    what the terminal got)."""
    from conftest import LAYERCTL_BIN, ctl_env
    master, slave = pty.openpty()
    try:
        r = subprocess.run([LAYERCTL_BIN, "--store", ctl.store] + list(args),
                           stdout=subprocess.PIPE, stderr=slave, env=ctl_env(), timeout=120)
    finally:
        os.close(slave)
    out = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass  # EIO: the terminal's other side is closed
    finally:
        os.close(master)
    assert r.returncode == 0, out
    return r.stdout, out


def test_progress_only_on_terminal(ctl, work):
    layers = [Layer([file("f", os.urandom(1500000))], "zst") for _ in range(3)]
    path = write_tar(oci_members(layers), os.path.join(work, "img.tar"))
    r = ctl("unpack", path, "--name", "a:1")
    assert "layer " not in r.stderr and "Loaded image: a:1" in r.stdout
    ctl("rmi", "a:1")
    ctl("gc")
    stdout, term = run_on_terminal(ctl, "unpack", path)
    total = sum(len(l.blob) for l in layers) / 2**20
    lines = [ln for ln in term.replace(b"\r", b"\n").split(b"\n") if ln.strip()]
    progress = [ln.replace(b"\x1b[K", b"").decode() for ln in lines if b"layer " in ln]
    assert progress, term
    # layer k/N, done/total, rate; ending at N/N with all bytes read
    import re
    pat = re.compile(r"^layer (\d)/3, ([\d.]+ [KM]?i?B)/([\d.]+ [KM]?i?B), [\d.]+ [KMG]?i?B/s$")
    for ln in progress:
        assert pat.match(ln), ln
    last = pat.match(progress[-1])
    assert last.group(1) == "3" and last.group(2) == last.group(3) == "%.1f MiB" % total, \
        progress
    assert term.endswith(b"\n")
    assert b"Loaded image ID" in stdout
    ctl("rmi", sha256(config_for(layers)))
    ctl("gc")
    stdout, term = run_on_terminal(ctl, "unpack", "-q", path)
    assert b"layer " not in term and b"Loaded image ID" in stdout


def test_compress_helper_roundtrip():
    data = b"x" * 1000
    for kind in ("gz", "zst", "xz"):
        assert compress(data, kind) != data


def test_concurrent_unpacks_of_one_image(ctl, work):
    layers = [Layer([file("f%d" % i, os.urandom(200000))], "gz") for i in range(4)]
    path = write_tar(oci_members(layers), os.path.join(work, "img.tar"))
    from conftest import LAYERCTL_BIN, ctl_env
    procs = [subprocess.Popen([LAYERCTL_BIN, "--store", ctl.store, "unpack", "-q", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ctl_env())
             for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert ctl.layers() == sorted(chain_ids([l.diff_id for l in layers]))
    assert len(ctl.images()) == 1
    assert ctl.tmp_entries() == []


def test_unprivileged_unpack_warns_once(ctl, work, scratch):
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"):
        pytest.fail("needs root and setpriv (util-linux) to drop privileges")
    layer = Layer([chardev("null", 1, 3), chardev("zero", 1, 5), blockdev("sda", 8, 0),
                   file("owned", b"x", uid=123), file("also", b"y", uid=456),
                   file("ok", b"ok", mode=0o4755), fifo("pipe")], "gz")
    path = write_file(layer.blob, os.path.join(work, "l.tar.gz"))
    os.chmod(scratch, 0o755)
    os.chmod(work, 0o755)
    os.chmod(path, 0o644)
    os.makedirs(ctl.store)
    os.chown(ctl.store, 65534, 65534)
    from conftest import LAYERCTL_BIN, ctl_env
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        LAYERCTL_BIN, "--store", ctl.store, "unpack", path],
                       capture_output=True, text=True, env=ctl_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len([ln for ln in lines if "device nodes skipped" in ln]) == 1, r.stderr
    assert len([ln for ln in lines if "ownership not kept" in ln]) == 1, r.stderr
    d = ctl.diff(layer.diff_id)
    assert not os.path.lexists(os.path.join(d, "null"))
    assert stat.S_ISFIFO(os.lstat(os.path.join(d, "pipe")).st_mode)
    assert read(os.path.join(d, "ok")) == b"ok"
    assert os.lstat(os.path.join(d, "owned")).st_uid == 65534


def test_image_made_by_umoci(ctl, work):
    """A real tool's OCI layout: two layers, the second deleting files."""
    import shutil
    if shutil.which("umoci") is None:
        pytest.fail("umoci is not installed (scripts/deps.sh installs it)")
    oci, bundle = os.path.join(work, "oci"), os.path.join(work, "bundle")

    def umoci(*args):
        subprocess.run(["umoci"] + list(args), check=True, capture_output=True)

    umoci("init", "--layout", oci)
    umoci("new", "--image", oci + ":t")
    umoci("unpack", "--image", oci + ":t", bundle)
    root = os.path.join(bundle, "rootfs")
    os.makedirs(os.path.join(root, "etc/sub"))
    write_file(b"hi\n", os.path.join(root, "etc/hi"))
    write_file(b"x\n", os.path.join(root, "etc/sub/x"))
    os.setxattr(os.path.join(root, "etc/hi"), "user.k", b"v")
    umoci("repack", "--refresh-bundle", "--image", oci + ":t", bundle)
    os.unlink(os.path.join(root, "etc/hi"))
    shutil.rmtree(os.path.join(root, "etc/sub"))
    os.mkdir(os.path.join(root, "etc/sub"))
    write_file(b"new\n", os.path.join(root, "etc/sub/y"))
    umoci("repack", "--image", oci + ":t", bundle)
    r = ctl("unpack", oci)
    assert "Loaded image: oci:t" in r.stdout
    img = image_record(ctl)
    c1, c2 = [x.split(":")[1] for x in img["layers"]]
    assert os.getxattr(ctl.diff(c1, "etc/hi"), "user.k") == b"v"
    assert read(ctl.diff(c1, "etc/sub/x")) == b"x\n"
    assert os.path.isfile(ctl.diff(c2, "etc/.wh.hi"))
    assert read(ctl.diff(c2, "etc/sub/y")) == b"new\n"
    # umoci marks the re-made directory opaque or whites out its old content
    assert (os.path.exists(ctl.diff(c2, "etc/sub/.wh.x")) or
            os.path.exists(ctl.diff(c2, "etc/sub/.wh..wh..opq")))


# ---- odd but legal entries (the README's table) -------------------------------------

def test_odd_but_legal_entries(ctl, work):
    layer = Layer([
        directory("./"),                        # the root entry: its attributes
        file("./dot/prefixed", b"p"),           # "./" prefixes
        directory("trailing/", mode=0o711),     # a trailing slash
        file("dup", b"first"), file("dup", b"last", mode=0o600),   # last wins
        file("late/child", b"c"), directory("late", mode=0o700, uid=7),  # dir after child
        directory("twice", mode=0o755), directory("twice", mode=0o750),  # last attributes
        symlink("s", "/etc/passwd"), hardlink("hs", "s"),           # hardlink to a symlink
        file("a", b"x"), file(".wh.a"),         # a name and its whiteout: both kept
        file(".wh.never-there"),                # a whiteout of a name no layer has
        file(".wh..wh..opq"),                   # an opaque marker at the root: kept
        file("d/.wh..wh..opq"), file(".wh.d"),  # a directory whited out and opaque
    ])
    r = ctl("unpack", write_file(layer.blob, os.path.join(work, "odd.tar")))
    d = lambda *p: ctl.diff(layer.diff_id, *p)  # noqa: E731
    assert read(d("dot/prefixed")) == b"p"
    assert stat.S_IMODE(os.lstat(d("trailing")).st_mode) == 0o711
    assert read(d("dup")) == b"last" and stat.S_IMODE(os.lstat(d("dup")).st_mode) == 0o600
    st = os.lstat(d("late"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 7)
    assert read(d("late/child")) == b"c"
    assert stat.S_IMODE(os.lstat(d("twice")).st_mode) == 0o750
    assert os.path.islink(d("hs")) and os.lstat(d("hs")).st_ino == os.lstat(d("s")).st_ino
    assert sorted(os.listdir(d())) == sorted([".wh..wh..opq", ".wh.a", ".wh.d", ".wh.never-there",
                                              "a", "d", "dot", "dup", "hs", "late", "s",
                                              "trailing", "twice"])
    assert os.listdir(d("d")) == [".wh..wh..opq"]
    assert "note" not in r.stderr


@pytest.mark.parametrize("entries,why", [
    ([directory("d"), hardlink("h", "d")], "a directory (cannot be hardlinked)"),
    ([hardlink("h", "later"), file("later", b"x")], "not in the layer before this entry"),
    ([file("f", b"x"), file("f/below", b"y")], "goes through a non-directory"),
    ([symlink(".wh.x", "y")], "whiteout that is not a file"),
])
def test_odd_entries_refused_with_a_reason(ctl, work, entries, why):
    layer = Layer(entries)
    r = ctl("unpack", write_file(layer.blob, os.path.join(work, "odd.tar")), rc=1)
    assert why in r.stderr, r.stderr
    ctl.assert_empty()
