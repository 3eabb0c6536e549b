"""Image names follow docker's rules everywhere a name is taken (issue 12,
item 3): `busybox` is docker.io/library/busybox:latest, `fixtures/small`
is docker.io/fixtures/small:latest, NAME@sha256:... finds an image by
manifest digest or by id; names are stored in normal form, and `images`
shows docker's familiar form. Stores written before keep working: their
names ("name:tag") are normalised when read."""
import json
import os

import pytest

from imagegen import Layer, config_for, directory, docker_members, file, oci_members, sha256
from imagegen import write_dir, write_tar

HEX = "ab" * 32


def layer(tag):
    return Layer([directory("l"), file("l/" + tag, tag.encode() * 10)], "gz")


def unpack_docker(ctl, work, tags, layers=None, name="img.tar"):
    layers = layers or [layer("a")]
    path = write_tar(docker_members(layers, tags=tags), os.path.join(work, name))
    r = ctl("unpack", path)
    return sha256(config_for(layers)), r


def record(ctl, iid):
    with open(ctl.path("images", iid + ".json")) as f:
        return json.load(f)


def rewrite(ctl, iid, **fields):
    img = record(ctl, iid)
    img.update(fields)
    with open(ctl.path("images", iid + ".json"), "w") as f:
        json.dump(img, f)


def names_shown(ctl):
    lines = ctl("images").stdout.splitlines()[1:]
    return sorted(ln.split()[0] for ln in lines)


def fake_container_ok(ctl, ref, name):
    """`create` needs the layers' diff directories only; this store has them."""
    r = ctl("create", ref, name, rc=None)
    assert r.returncode == 0, r.stderr
    with open(ctl.path("containers", name, "container.json")) as f:
        return json.load(f)["image"][7:]


def test_fixture_name_from_repo_tags(ctl, work):
    """The case of the issue: an image saved as docker.io/fixtures/small:latest
    is found as fixtures/small, and shown so."""
    iid, r = unpack_docker(ctl, work, ["docker.io/fixtures/small:latest"])
    assert "Loaded image: fixtures/small:latest" in r.stdout
    assert record(ctl, iid)["names"] == ["docker.io/fixtures/small:latest"]
    assert names_shown(ctl) == ["fixtures/small:latest"]
    for ref in ("fixtures/small", "fixtures/small:latest", "docker.io/fixtures/small",
                "docker://docker.io/fixtures/small:latest"):
        r = ctl("export", ref, "--oci", os.path.join(work, "o-" + sha256(ref.encode())[:6]))
    assert fake_container_ok(ctl, "fixtures/small", "c1") == iid


def test_busybox_is_docker_hub_library(ctl, work):
    iid, _ = unpack_docker(ctl, work, ["busybox:latest"])
    assert record(ctl, iid)["names"] == ["docker.io/library/busybox:latest"]
    for i, ref in enumerate(("busybox", "busybox:latest", "library/busybox",
                             "docker.io/library/busybox:latest", "docker.io/busybox",
                             "index.docker.io/library/busybox")):
        assert fake_container_ok(ctl, ref, "c%d" % i) == iid
    assert names_shown(ctl) == ["busybox:latest"]
    r = ctl("create", "busybox:1", "other", rc=1)
    assert "no such image" in r.stderr


def test_other_registry_names_stay(ctl, work):
    layers = [layer("r")]
    path = write_dir(oci_members(layers, ref="reg.example:5000/team/app:1.2"),
                     os.path.join(work, "app"))
    r = ctl("unpack", path)
    assert "Loaded image: reg.example:5000/team/app:1.2" in r.stdout
    iid = sha256(config_for(layers))
    assert record(ctl, iid)["names"] == ["reg.example:5000/team/app:1.2"]
    assert names_shown(ctl) == ["reg.example:5000/team/app:1.2"]
    r = ctl("create", "team/app:1.2", "x", rc=1)  # docker.io/team/app is another name
    assert fake_container_ok(ctl, "reg.example:5000/team/app:1.2", "c1") == iid


def test_oci_ref_name_in_full_form(ctl, work):
    layers = [layer("o")]
    path = write_dir(oci_members(layers, ref="docker.io/library/small:2"),
                     os.path.join(work, "small"))
    ctl("unpack", path)
    iid = sha256(config_for(layers))
    assert record(ctl, iid)["names"] == ["docker.io/library/small:2"]
    assert fake_container_ok(ctl, "small:2", "c1") == iid


def test_unpack_name_option_is_normalised_and_checked(ctl, work):
    path = write_tar(docker_members([layer("n")]), os.path.join(work, "i.tar"))
    r = ctl("unpack", path, "--name", "mine")
    assert "Loaded image: mine:latest" in r.stdout
    iid = sha256(config_for([layer("n")]))
    assert record(ctl, iid)["names"] == ["docker.io/library/mine:latest"]
    for bad, why in (("Mine", "lowercase"), ("mine:", "invalid tag"), ("a:-b", "invalid tag"),
                     ("mine:" + "t" * 129, "invalid tag"), ("mine@sha256:" + HEX, "digest"),
                     ("mine@sha256:12", "invalid digest")):
        r = ctl("unpack", path, "--name", bad, rc=2)
        errs = [ln for ln in r.stderr.splitlines() if ln.startswith("layerctl:")]
        assert len(errs) == 1 and why in errs[0], (bad, r.stderr)


def test_moving_a_name_between_spellings(ctl, work):
    """A name moves to the newly unpacked image (as docker does), also when
    the two spell it differently."""
    a, _ = unpack_docker(ctl, work, ["busybox:latest"], [layer("1")], "a.tar")
    b, _ = unpack_docker(ctl, work, ["docker.io/library/busybox"], [layer("2")], "b.tar")
    assert record(ctl, a)["names"] == []
    assert record(ctl, b)["names"] == ["docker.io/library/busybox:latest"]


def test_old_store_spelling_still_found(ctl, work):
    """Records written before names were normalised: "name:tag" as given."""
    iid, _ = unpack_docker(ctl, work, ["x:1"])
    rewrite(ctl, iid, names=["busybox:latest", "fixtures/small:2"])
    assert fake_container_ok(ctl, "docker.io/library/busybox", "c1") == iid
    assert fake_container_ok(ctl, "fixtures/small:2", "c2") == iid
    assert names_shown(ctl) == ["busybox:latest", "fixtures/small:2"]
    ctl("rm", "c1")
    ctl("rm", "c2")
    r = ctl("rmi", "docker.io/library/busybox:latest")
    assert "Untagged: busybox:latest" in r.stdout
    assert record(ctl, iid)["names"] == ["fixtures/small:2"]
    # unpacking a name again replaces the old spelling instead of adding a twin
    b, _ = unpack_docker(ctl, work, ["fixtures/small:2"], [layer("b")], "b.tar")
    assert record(ctl, iid)["names"] == []


def test_digest_references(ctl, work):
    iid, _ = unpack_docker(ctl, work, ["app:1"])
    manifest = "sha256:" + "cd" * 32
    rewrite(ctl, iid, digests=["docker.io/library/app@" + manifest])
    # by manifest digest, recorded for that repository
    assert fake_container_ok(ctl, "app@" + manifest, "c1") == iid
    assert fake_container_ok(ctl, "docker.io/library/app:1@" + manifest, "c2") == iid
    # by image id, for an image of that repository
    assert fake_container_ok(ctl, "app@sha256:" + iid, "c3") == iid
    # not for another repository, and not for an unknown digest
    for ref in ("other@" + manifest, "other@sha256:" + iid, "app@sha256:" + "ef" * 32):
        r = ctl("create", ref, "bad", rc=1)
        assert "no such image" in r.stderr, ref
    r = ctl("create", "app@sha256:xyz", "bad", rc=1)
    assert "invalid digest" in r.stderr


def test_image_pulled_by_digest_only_is_listed_and_removed(ctl, work):
    iid, _ = unpack_docker(ctl, work, ["app:1"])
    manifest = "sha256:" + "cd" * 32
    rewrite(ctl, iid, names=[], digests=["docker.io/library/app@" + manifest])
    assert names_shown(ctl) == ["app@" + manifest]
    r = ctl("rmi", "app@" + manifest)
    assert "Deleted: sha256:" + iid in r.stdout
    assert ctl.images() == []


@pytest.mark.parametrize("ref,why", [("Busybox", "lowercase"), ("busybox:", "invalid tag"),
                                     ("a@md5:" + HEX, "unsupported digest")])
def test_malformed_references_say_why(ctl, work, ref, why):
    unpack_docker(ctl, work, ["app:1"])
    for cmd in (["create", ref, "c"], ["rmi", ref], ["export", ref, "--oci",
                                                      os.path.join(work, "o")]):
        r = ctl(*cmd, rc=1)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], (cmd, r.stderr)


def test_commit_name_follows_docker(ctl, work):
    iid, _ = unpack_docker(ctl, work, ["app:1"])
    ctl("create", "app:1", "c1")
    r = ctl("commit", "c1", "Bad/Name", rc=2)
    assert "lowercase" in r.stderr
    r = ctl("commit", "c1", "x@sha256:" + HEX, rc=2)
    assert "digest" in r.stderr
    new = ctl("commit", "c1", "team/new").stdout.strip()[7:]
    assert record(ctl, new)["names"] == ["docker.io/team/new:latest"]
    assert fake_container_ok(ctl, "docker.io/team/new:latest", "c2") == new
