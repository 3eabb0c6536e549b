"""layerctl commit and export, on a store built by hand (ctrutil)."""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctrutil import cstore, sample_image, tar_members, tar_read  # noqa: E402,F401


def sha(data):
    return hashlib.sha256(data).hexdigest()


def changed_container(cstore):
    sample_image(cstore)
    cstore.ctl("create", "test/sample:1", "c1")
    cstore.ctl("mount", "c1")
    mnt = cstore.cdir("c1", "mnt")
    with open(os.path.join(mnt, "newfile"), "w") as f:
        f.write("new\n")
    os.link(os.path.join(mnt, "newfile"), os.path.join(mnt, "newlink"))
    os.symlink("newfile", os.path.join(mnt, "newsym"))
    os.setxattr(os.path.join(mnt, "newfile"), "user.test", b"value")
    os.mkfifo(os.path.join(mnt, "fifo"))
    long = "d" * 120 + "/" + "f" * 120
    os.makedirs(os.path.join(mnt, os.path.dirname(long)))
    open(os.path.join(mnt, long), "w").write("long")
    os.unlink(os.path.join(mnt, "usr/share/doc/a.txt"))
    shutil.rmtree(os.path.join(mnt, "opt/tool"))
    os.mkdir(os.path.join(mnt, "opt/tool"))
    cstore.ctl("umount", "c1")
    return long


def layer_blob_of(cstore, image):
    chain = image["layers"][-1][7:]
    return open(cstore.p("layers", chain, "layer.tar.gz"), "rb").read(), chain


def test_commit_layer_has_exactly_the_changes(cstore):
    long = changed_container(cstore)
    out = cstore.ctl("commit", "c1", "test/new:2").stdout.strip()
    assert out.startswith("sha256:")
    img = cstore.image(out[7:])
    assert img["names"] == ["docker.io/test/new:2"]
    parent = cstore.image(json.load(open(cstore.cdir("c1", "container.json")))["image"][7:])
    assert img["layers"][:-1] == parent["layers"]
    blob, chain = layer_blob_of(cstore, img)
    members = tar_members(blob)
    assert sorted(members) == sorted([
        "newfile", "newlink", "newsym", "fifo", "d" * 120, long,
        "usr", "usr/share", "usr/share/doc", "usr/share/doc/.wh.a.txt",
        "opt", "opt/tool", "opt/tool/.wh..wh..opq",
    ])
    assert members["newlink"].islnk() and members["newlink"].linkname == "newfile"
    assert members["newsym"].issym() and members["newsym"].linkname == "newfile"
    assert members["fifo"].isfifo()
    assert members["newfile"].pax_headers.get("SCHILY.xattr.user.test") == "value"
    assert members["usr/share/doc/.wh.a.txt"].isfile()
    # digests: meta.json, the image config and the blob agree
    meta = json.load(open(cstore.p("layers", chain, "meta.json")))
    assert meta["digest"] == "sha256:" + sha(blob)
    assert meta["diff_id"] == "sha256:" + sha(gzip.decompress(blob))
    cfg = img["config"]
    assert cfg["rootfs"]["diff_ids"][-1] == meta["diff_id"]
    assert cfg["rootfs"]["diff_ids"][:-1] == parent["config"]["rootfs"]["diff_ids"]
    assert len(cfg["history"]) == len(parent["config"]["history"]) + 1
    assert meta["parent"] == parent["layers"][-1]
    # the stored diff is the tarball unpacked, whiteouts kept as files
    diff = cstore.p("layers", chain, "diff")
    assert os.path.isfile(os.path.join(diff, "usr/share/doc/.wh.a.txt"))
    assert os.path.isfile(os.path.join(diff, "opt/tool/.wh..wh..opq"))
    assert not os.path.exists(os.path.join(diff, ".wh..wh.aufs"))
    st1, st2 = (os.stat(os.path.join(diff, n)) for n in ("newfile", "newlink"))
    assert st1.st_ino == st2.st_ino
    assert os.getxattr(os.path.join(diff, "newfile"), "user.test") == b"value"


def test_commit_is_deterministic(cstore):
    changed_container(cstore)
    a = cstore.ctl("commit", "c1", "x:1").stdout.strip()
    blob1, chain1 = layer_blob_of(cstore, cstore.image(a[7:]))
    b = cstore.ctl("commit", "c1", "x:2").stdout.strip()
    blob2, chain2 = layer_blob_of(cstore, cstore.image(b[7:]))
    assert chain1 == chain2 and blob1 == blob2


def test_commit_moves_the_tag(cstore):
    changed_container(cstore)
    a = cstore.ctl("commit", "c1", "x:1").stdout.strip()[7:]
    cstore.ctl("mount", "c1")
    open(cstore.cdir("c1", "mnt", "another"), "w").write("2")
    cstore.ctl("umount", "c1")
    b = cstore.ctl("commit", "c1", "x:1").stdout.strip()[7:]
    assert a != b
    assert cstore.image(b)["names"] == ["docker.io/library/x:1"] and cstore.image(a)["names"] == []


def test_committed_image_mounts_with_the_changes(cstore):
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    cstore.ctl("create", "test/new:2", "c2")
    cstore.ctl("mount", "c2")
    mnt = cstore.cdir("c2", "mnt")
    assert open(os.path.join(mnt, "newfile")).read() == "new\n"
    assert not os.path.exists(os.path.join(mnt, "usr/share/doc/a.txt"))
    assert os.listdir(os.path.join(mnt, "usr/share/doc")) == []
    assert os.listdir(os.path.join(mnt, "opt/tool")) == []
    assert open(os.path.join(mnt, "etc/motd")).read() == "middle motd\n"
    assert cstore.ctl("diff", "c2").stdout == ""


def check_oci(path, n_layers):
    index = json.load(open(os.path.join(path, "index.json")))
    assert json.load(open(os.path.join(path, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"}

    def blob(desc):
        data = open(os.path.join(path, "blobs", "sha256", desc["digest"][7:]), "rb").read()
        assert "sha256:" + sha(data) == desc["digest"] and len(data) == desc["size"]
        return data

    [mdesc] = index["manifests"]
    assert mdesc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    manifest = json.loads(blob(mdesc))
    config = json.loads(blob(manifest["config"]))
    assert len(manifest["layers"]) == n_layers
    diff_ids = []
    for l in manifest["layers"]:
        assert l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        diff_ids.append("sha256:" + sha(gzip.decompress(blob(l))))
    assert config["rootfs"]["diff_ids"] == diff_ids
    return index, manifest, config


def test_export_oci(cstore):
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    out = cstore.p("oci")
    cstore.ctl("export", "test/new:2", "--oci", out)
    index, manifest, config = check_oci(out, 3)
    ann = index["manifests"][0]["annotations"]
    assert ann["org.opencontainers.image.ref.name"] == "2"
    # the committed layer goes out as the stored blob, byte for byte
    img = cstore.image(cstore.ctl("commit", "c1", "test/new:2").stdout.strip()[7:])
    blob, _ = layer_blob_of(cstore, img)
    assert manifest["layers"][-1]["digest"] == "sha256:" + sha(blob)
    top = gzip.decompress(open(os.path.join(out, "blobs/sha256", manifest["layers"][-1]
                                            ["digest"][7:]), "rb").read())
    assert "usr/share/doc/.wh.a.txt" in tar_members(top)
    assert os.listdir(os.path.dirname(out)) .count("oci") == 1
    assert not [n for n in os.listdir(cstore.root) if ".layerctl-" in n]
    r = cstore.ctl("export", "test/new:2", "--oci", out, check=False)   # not empty
    assert r.returncode == 1


def test_export_docker_archive(cstore):
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    out = cstore.p("img.tar")
    cstore.ctl("export", "test/new:2", "--docker-archive", out)
    with tarfile.open(out) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    [m] = json.loads(files["manifest.json"])
    assert m["RepoTags"] == ["test/new:2"]
    config = files[m["Config"]]
    assert m["Config"] == sha(config) + ".json"
    config = json.loads(config)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + sha(files[l]) for l in m["Layers"]]
    assert len(m["Layers"]) == 3
    repos = json.loads(files["repositories"])
    assert list(repos) == ["test/new"] and list(repos["test/new"]) == ["2"]
    assert not [n for n in os.listdir(cstore.root) if ".layerctl-" in n]


def test_export_usage_and_unknown_image(cstore):
    r = cstore.ctl("export", "nope:1", "--oci", cstore.p("o"), check=False)
    assert r.returncode == 1 and "no such image" in r.stderr
    r = cstore.ctl("export", "nope:1", check=False)
    assert r.returncode == 2


def test_skopeo_reads_the_oci_export(cstore):
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed (scripts/deps.sh installs it)")
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    out = cstore.p("oci")
    cstore.ctl("export", "test/new:2", "--oci", out)
    r = subprocess.run(["skopeo", "inspect", "oci:%s:2" % out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert len(info["Layers"]) == 3
    arch = cstore.p("img.tar")
    cstore.ctl("export", "test/new:2", "--docker-archive", arch)
    r = subprocess.run(["skopeo", "inspect", "docker-archive:%s" % arch],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_umoci_unpacks_the_oci_export(cstore):
    if not shutil.which("umoci"):
        pytest.fail("umoci is not installed (scripts/deps.sh installs it)")
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    out = cstore.p("oci")
    cstore.ctl("export", "test/new:2", "--oci", out)
    bundle = cstore.p("bundle")
    r = subprocess.run(["umoci", "unpack", "--image", "%s:2" % out, bundle],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rootfs = os.path.join(bundle, "rootfs")
    assert open(os.path.join(rootfs, "newfile")).read() == "new\n"
    assert not os.path.exists(os.path.join(rootfs, "usr/share/doc/a.txt"))
    assert os.path.exists(os.path.join(rootfs, "usr/share/doc"))
    assert os.listdir(os.path.join(rootfs, "opt/tool")) == []
    assert open(os.path.join(rootfs, "etc/os-release")).read() == "ID=middle\n"


def test_export_unpack_round_trip(cstore):
    """commit -> export (OCI and docker-archive) -> `layerctl unpack` into a
    fresh store -> create -> mount shows the committed changes."""
    changed_container(cstore)
    cstore.ctl("commit", "c1", "test/new:2")
    cstore.ctl("export", "test/new:2", "--oci", cstore.p("oci"))
    cstore.ctl("export", "test/new:2", "--docker-archive", cstore.p("img.tar"))
    from ctrutil import Store
    for i, src in enumerate((cstore.p("oci"), cstore.p("img.tar"))):
        other = Store(cstore.p("other%d" % i))
        r = other.ctl("unpack", src, "--name", "back:%d" % i, check=False)
        if "not implemented" in r.stderr:
            pytest.fail("layerctl unpack is not built")
        assert r.returncode == 0, r.stderr
        try:
            other.ctl("create", "back:%d" % i, "c")
            other.ctl("mount", "c")
            mnt = other.cdir("c", "mnt")
            assert open(os.path.join(mnt, "newfile")).read() == "new\n"
            assert os.listdir(os.path.join(mnt, "usr/share/doc")) == []
            assert os.listdir(os.path.join(mnt, "opt/tool")) == []
            assert os.listdir(os.path.join(mnt, "var/cache")) == ["app.cache"]
            assert other.ctl("diff", "c").stdout == ""
        finally:
            other.cleanup()


def test_renamed_directories_are_written_whole(cstore, tmp_path):
    """A directory the container renamed (a redirect in its rw layer: only
    the directory moved) is shown by diff with everything below it, and
    written whole by commit: an opaque directory with the merged tree, so
    that no image layer depends on the redirect; umoci reads it back."""
    sample_image(cstore)
    cstore.ctl("create", "test/sample:1", "c1")
    mnt = cstore.ctl("mount", "c1").stdout.strip()
    os.rename(os.path.join(mnt, "usr/share/doc"), os.path.join(mnt, "usr/share/docs"))
    os.mkdir(os.path.join(mnt, "moved"))
    os.rename(os.path.join(mnt, "var/cache"), os.path.join(mnt, "moved/cache"))
    with open(os.path.join(mnt, "moved/cache/app.cache"), "a") as f:
        f.write("more\n")                                     # a copy-up inside
    rw = cstore.cdir("c1", "rw")
    assert open(os.path.join(rw, "usr/share/docs/.wh..wh..opq")).read() == "usr/share/doc"
    view = {}
    for root in ("usr/share/docs", "moved/cache"):
        for dirpath, dirs, files in os.walk(os.path.join(mnt, root)):
            for n in dirs + files:
                p = os.path.join(dirpath, n)
                view[os.path.relpath(p, mnt)] = None if n in dirs else open(p, "rb").read()
    diff = cstore.ctl("diff", "c1").stdout.splitlines()
    assert "D /usr/share/doc" in diff and "A /usr/share/docs" in diff
    assert "A /usr/share/docs/a.txt" in diff
    assert "D /var/cache" in diff and "A /moved/cache/app.cache" in diff
    cstore.ctl("umount", "c1")
    out = cstore.ctl("commit", "c1", "test/renamed:1").stdout.strip()
    img = cstore.image(out[7:])
    blob, _ = layer_blob_of(cstore, img)
    members = tar_members(blob)
    assert "usr/share/docs/a.txt" in members and "usr/share/docs/.wh..wh..opq" in members
    assert tar_read(blob, "usr/share/docs/.wh..wh..opq") == b""
    assert tar_read(blob, "moved/cache/app.cache") == b"cache\nmore\n"
    assert "usr/share/.wh.doc" in members
    # the committed image shows the same tree, and so does umoci
    cstore.ctl("create", "test/renamed:1", "c2")
    mnt2 = cstore.ctl("mount", "c2").stdout.strip()
    for rel, data in view.items():
        p = os.path.join(mnt2, rel)
        assert (open(p, "rb").read() if data is not None else os.path.isdir(p)) in (data, True), rel
    assert not os.path.exists(os.path.join(mnt2, "usr/share/doc"))
    assert not os.listdir(cstore.cdir("c2", "rw"))
    cstore.ctl("umount", "c2")
    layout = str(tmp_path / "oci")
    cstore.ctl("export", "test/renamed:1", "--oci", layout)
    bundle = str(tmp_path / "bundle")
    subprocess.run(["umoci", "unpack", "--image", layout + ":1", bundle], check=True,
                   capture_output=True)
    rootfs = os.path.join(bundle, "rootfs")
    assert open(os.path.join(rootfs, "usr/share/docs/a.txt")).read() == "a\n"
    assert not os.path.exists(os.path.join(rootfs, "usr/share/doc"))
    assert open(os.path.join(rootfs, "moved/cache/app.cache")).read() == "cache\nmore\n"


def test_commit_writes_whole_files_for_metadata_only_copies(cstore):
    """A container's mount copies metadata only on chmod/chown (metacopy=on):
    the rw layer then holds sparse, marked files; commit writes their data
    from the layers below, also for one in a directory renamed afterwards
    (a redirect)."""
    sample_image(cstore)
    cstore.ctl("create", "test/sample:1", "c1")
    cstore.ctl("mount", "c1")
    mnt, rw = cstore.cdir("c1", "mnt"), cstore.cdir("c1", "rw")
    try:
        os.chmod(os.path.join(mnt, "usr/bin/hello"), 0o700)
        os.chown(os.path.join(mnt, "etc/os-release"), 1000, 1000)
        os.chmod(os.path.join(mnt, "opt/tool/README"), 0o600)
        os.rename(os.path.join(mnt, "opt/tool"), os.path.join(mnt, "opt/moved"))
        for rel in ("usr/bin/hello", "etc/os-release"):
            assert os.getxattr(os.path.join(rw, rel), "trusted.layerfs.metacopy")[:1] == b"\x01"
        assert open(os.path.join(mnt, "opt/moved/README")).read() == "tool\n"
        assert open(os.path.join(mnt, "etc/os-release")).read() == "ID=middle\n"
    finally:
        cstore.ctl("umount", "c1")
    img = cstore.image(cstore.ctl("commit", "c1", "test/new:2").stdout.strip()[7:])
    blob, _ = layer_blob_of(cstore, img)
    members = tar_members(blob)
    assert tar_read(blob, "usr/bin/hello") == b"#!/bin/sh\necho hello\n"
    assert members["usr/bin/hello"].mode & 0o7777 == 0o700
    assert tar_read(blob, "etc/os-release") == b"ID=middle\n"
    assert (members["etc/os-release"].uid, members["etc/os-release"].gid) == (1000, 1000)
    assert tar_read(blob, "opt/moved/README") == b"tool\n"
    assert members["opt/moved/README"].mode & 0o7777 == 0o600
    assert not any("layerfs" in k for m in members.values() for k in m.pax_headers)


def test_commit_keeps_the_other_names_of_a_changed_hardlinked_file(cstore):
    """The container changes a file of four lower names through one of them
    and removes another, and never looks at the other two: it would see the
    change through them (layerfs's hardlink index), while the rw layer holds
    only the copy. The committed layer links those two names to the copy,
    and not the removed one, so the committed image shows what the
    container would have seen."""
    cstore.add_image("test/links:1", [[
        ("f", "bin/tool", "#!/bin/sh\necho tool\n", 0o755),
        ("h", "bin/tool-alias", "bin/tool"),
        ("h", "sbin/tool", "bin/tool"),
        ("h", "bin/tool-old", "bin/tool"),
        ("f", "bin/other", "other\n"),
    ]])
    cstore.ctl("create", "test/links:1", "hl")
    mnt = cstore.ctl("mount", "hl").stdout.strip()
    try:
        os.chmod(os.path.join(mnt, "bin/tool"), 0o700)
        os.unlink(os.path.join(mnt, "bin/tool-old"))
        assert os.stat(os.path.join(mnt, "bin/tool")).st_nlink == 3
    finally:
        cstore.ctl("umount", "hl")
    rw = cstore.cdir("hl", "rw")
    for rel in ("bin/tool-alias", "sbin/tool"):
        assert not os.path.lexists(os.path.join(rw, rel)), "premise: only the copy is up"
    img = cstore.image(cstore.ctl("commit", "hl", "test/links:2").stdout.strip()[7:])
    blob, _ = layer_blob_of(cstore, img)
    members = tar_members(blob)
    assert tar_read(blob, "bin/tool") == b"#!/bin/sh\necho tool\n"
    assert members["bin/tool"].mode & 0o7777 == 0o700
    for rel in ("bin/tool-alias", "sbin/tool"):
        assert members[rel].islnk() and members[rel].linkname == "bin/tool", rel
    assert "bin/.wh.tool-old" in members and "bin/tool-old" not in members
    assert "bin/other" not in members
    # and mounted again, the committed image is one inode of three names
    cstore.ctl("create", "test/links:2", "hl2")
    mnt = cstore.ctl("mount", "hl2").stdout.strip()
    try:
        inodes = {os.stat(os.path.join(mnt, rel)).st_ino
                  for rel in ("bin/tool", "bin/tool-alias", "sbin/tool")}
        assert len(inodes) == 1
        assert os.stat(os.path.join(mnt, "sbin/tool")).st_mode & 0o7777 == 0o700
        assert not os.path.lexists(os.path.join(mnt, "bin/tool-old"))
    finally:
        cstore.ctl("umount", "hl2")
