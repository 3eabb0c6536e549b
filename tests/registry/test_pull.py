"""layerctl pull against a real docker-registry (issue 14): the tree of a
pulled image equals `umoci unpack` of the same image; layers the store has
are not fetched (counted in the registry's access log); indexes and
platforms; digests; bad references."""
import json
import os

import pytest

import test_e2e
from conftest import run

TLS = "--tls-verify=false"


def pull(cstore, env, ref, *opts, check=True):
    return run(cstore, env, "pull", TLS, *opts, ref, check=check)


def one_error(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("layerctl: "), r.stderr
    return lines[0]


def test_pull_and_mount_equals_umoci_unpack(images, registry, cstore, env):
    images.copy_to(registry, "v4", "e2e/img:4")
    r = pull(cstore, env, "%s/e2e/img:4" % registry.host)
    assert "Pulled: %s/e2e/img:4" % registry.host in r.stdout
    assert len(os.listdir(cstore.p("layers"))) == 4
    assert os.listdir(cstore.p("tmp")) == []
    run(cstore, env, "create", "%s/e2e/img:4" % registry.host, "c1")
    mnt = run(cstore, env, "mount", "c1").stdout.strip()
    every, files = test_e2e.init_entries(cstore, "c1")
    got, links = test_e2e.mounted_tree(cstore, "c1")
    expected = test_e2e.without(images.tree, every)
    diff = test_e2e.compare_trees(expected, got)
    assert not diff, "pull + mount differs from umoci unpack:\n" + diff
    assert links == images.links
    run(cstore, env, "umount", "c1")
    assert not test_e2e.is_mounted(mnt)
    # every layer's meta.json says where its blob came from
    for chain in os.listdir(cstore.p("layers")):
        with open(cstore.p("layers", chain, "meta.json")) as f:
            meta = json.load(f)
        assert meta["source"] == {"registry": registry.host, "repository": "e2e/img"}
        assert meta["digest"][7:] in images.layer_digests("v4")


def test_layers_in_the_store_are_not_fetched(images, registry, cstore, env):
    images.copy_to(registry, "v3", "share/img:3")
    images.copy_to(registry, "v4", "share/img:4")
    pull(cstore, env, "%s/share/img:3" % registry.host)
    before = registry.blob_gets()
    cfg3 = images.manifest("v3")["config"]["digest"][7:]
    assert sorted(before) == sorted(images.layer_digests("v3") + [cfg3])
    pull(cstore, env, "%s/share/img:4" % registry.host)
    new = registry.blob_gets()[len(before):]
    cfg4 = images.manifest("v4")["config"]["digest"][7:]
    assert sorted(new) == sorted([images.layer_digests("v4")[3], cfg4]), new
    assert len(os.listdir(cstore.p("layers"))) == 4
    # the same image again: only its config
    pull(cstore, env, "%s/share/img:4" % registry.host)
    assert registry.blob_gets()[len(before) + 2:] == [cfg4]


def test_pull_by_digest_and_lookups(images, registry, cstore, env):
    images.copy_to(registry, "v2", "dig/img:2")
    r = pull(cstore, env, "%s/dig/img:2" % registry.host)
    digest = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("Digest:")][0]
    image_id = [ln.split()[2] for ln in r.stdout.splitlines() if ln.startswith("Image ID:")][0]
    store2 = "%s/dig/img@%s" % (registry.host, digest)
    r = pull(cstore, env, "docker://" + store2, "-q")
    assert r.stdout.strip() == image_id
    run(cstore, env, "create", store2, "c1")
    with open(cstore.cdir("c1", "container.json")) as f:
        assert json.load(f)["image"] == image_id
    rows = run(cstore, env, "images").stdout
    assert "%s/dig/img:2" % registry.host in rows
    # a digest the registry does not have
    r = pull(cstore, env, "%s/dig/img@sha256:%s" % (registry.host, "0" * 64), check=False)
    assert r.returncode == 1 and "not found" in one_error(r)


def test_index_and_platforms(images, registry, cstore, env):
    images.copy_to(registry, "multi", "multi/img:1", all_=True)
    ref = "%s/multi/img:1" % registry.host
    pull(cstore, env, ref)
    img = list(cstore.images().values())
    assert len(img) == 1 and img[0]["config"]["architecture"] == "amd64"
    pull(cstore, env, ref, "--platform", "linux/arm64")
    arm = [i for i in cstore.images().values() if i["config"]["architecture"] == "arm64"]
    assert len(arm) == 1 and "ARCH=arm64" in arm[0]["config"]["config"]["Env"]
    # the same layers: nothing fetched again but the config and manifests
    assert len(os.listdir(cstore.p("layers"))) == 2
    # the tag moved to the image pulled last, as docker moves it
    assert arm[0]["names"] == [ref]
    r = pull(cstore, env, ref, "--platform", "linux/s390x", check=False)
    line = one_error(r)
    assert r.returncode == 1 and "linux/s390x" in line and "linux/amd64, linux/arm64" in line
    r = pull(cstore, env, ref, "--platform", "s390x", check=False)
    assert r.returncode == 2 and "OS/ARCH" in r.stderr


def test_bad_references_and_usage(cstore, env, registry):
    for ref, why in (("%s/Bad/Name" % registry.host, "lowercase"),
                     ("%s/a:-x" % registry.host, "invalid tag"),
                     ("%s/a@sha256:12" % registry.host, "digest")):
        r = pull(cstore, env, ref, check=False)
        assert r.returncode == 2 and why in r.stderr, r.stderr
    r = run(cstore, env, "pull", check=False)
    assert r.returncode == 2 and "usage" in r.stderr
    r = run(cstore, env, "pull", "--help")
    assert "usage: layerctl" in r.stdout and " pull " in r.stdout
    r = pull(cstore, env, "%s/no/such:1" % registry.host, check=False)
    assert r.returncode == 1 and "not found (HTTP 404)" in one_error(r)
    # the registry speaks plain HTTP: with TLS verification on, a clear hint
    r = run(cstore, env, "pull", "--retry", "0", "%s/no/such:1" % registry.host, check=False)
    assert r.returncode == 1 and "--tls-verify=false" in one_error(r)
    assert cstore.images() == {}


def test_progress_on_a_terminal(images, registry, cstore, env):
    """Per-layer lines and a total on a terminal; nothing but the result
    otherwise (checked in the other tests)."""
    import pty
    import subprocess
    images.copy_to(registry, "v2", "tty/img:1")
    master, slave = pty.openpty()
    e = dict(os.environ)
    e.update(env)
    p = subprocess.Popen([test_e2e.LAYERCTL_BIN, "--store", cstore.root, "pull", TLS,
                          "%s/tty/img:1" % registry.host], stdout=slave, stderr=slave, env=e)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(timeout=120) == 0
    os.close(master)
    text = out.decode(errors="replace")
    for d in images.layer_digests("v2"):
        assert d[:12] in text
    assert "layer 2/2" in text and "Pulled:" in text
