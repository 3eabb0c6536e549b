"""layerctl push (issue 14): a committed image goes to the registry with
only the blobs it lacks (HEAD first, cross-repository mount for blobs
pulled from another repository), and skopeo reads it back: same layers,
same digests, and umoci unpacks the committed change."""
import json
import os

import test_e2e
from conftest import run

TLS = "--tls-verify=false"


def committed(images, registry, cstore, env):
    """v2 pulled from base/img, a container changed and committed."""
    images.copy_to(registry, "v2", "base/img:2")
    run(cstore, env, "pull", TLS, "%s/base/img:2" % registry.host)
    run(cstore, env, "create", "%s/base/img:2" % registry.host, "c1")
    mnt = run(cstore, env, "mount", "c1").stdout.strip()
    with open(os.path.join(mnt, "committed.txt"), "w") as f:
        f.write("made in the container\n")
    os.unlink(os.path.join(mnt, "srv/data/hello.txt"))
    run(cstore, env, "umount", "c1")
    out = run(cstore, env, "commit", "c1", "team/app:1").stdout.strip()
    return out[7:]


def test_push_committed_image_and_read_it_back(images, registry, cstore, env, work):
    image_id = committed(images, registry, cstore, env)
    dest = "%s/team/app:1" % registry.host
    r = run(cstore, env, "push", TLS, "team/app:1", "docker://" + dest)
    line = [ln for ln in r.stdout.splitlines() if "digest: sha256:" in ln][0]
    man_digest = line.split("digest: ")[1].split()[0]
    # the two pulled layers were mounted from base/img, only the new one uploaded
    mounts = registry.requests("POST", "mount=")
    assert len(mounts) == 2 and all(code == 201 for _, code in mounts), mounts
    uploads = registry.requests("PUT", "/v2/team/app/blobs/uploads/")
    assert len(uploads) == 2  # the committed layer and the config
    # skopeo's view: the same manifest digest, the layers and config we made
    info = json.loads(test_e2e.sh("skopeo", "inspect", TLS, "docker://" + dest).stdout)
    assert info["Digest"] == man_digest
    store_img = cstore.image(image_id)
    layers = [json.load(open(cstore.p("layers", c[7:], "meta.json")))["digest"]
              for c in store_img["layers"]]
    assert info["Layers"] == layers
    raw = json.loads(test_e2e.sh("skopeo", "inspect", TLS, "--raw", "docker://" + dest).stdout)
    assert raw["config"]["digest"] == "sha256:" + image_id   # the id is kept
    # copied back by skopeo: the same blobs, and umoci sees the change
    out = os.path.join(work, "back")
    test_e2e.sh("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + dest,
                "oci:%s:1" % out)
    for d in layers + ["sha256:" + image_id]:
        assert os.path.exists(os.path.join(out, "blobs/sha256", d[7:]))
    rootfs = test_e2e.umoci_rootfs(out, "1", os.path.join(work, "bundle"))
    assert open(os.path.join(rootfs, "committed.txt")).read() == "made in the container\n"
    assert not os.path.exists(os.path.join(rootfs, "srv/data/hello.txt"))
    assert os.path.exists(os.path.join(rootfs, "srv/data/hello.hardlink"))
    # the registry digest is recorded: NAME@sha256 finds the image
    run(cstore, env, "create", "%s/team/app@%s" % (registry.host, man_digest), "c2")


def test_push_again_sends_nothing_but_the_manifest(images, registry, cstore, env):
    committed(images, registry, cstore, env)
    dest = "%s/team/app:1" % registry.host
    run(cstore, env, "push", TLS, "team/app:1", dest)
    puts = len(registry.requests("PUT"))
    posts = len(registry.requests("POST"))
    run(cstore, env, "push", TLS, "-q", "team/app:1", dest)
    assert len(registry.requests("POST")) == posts
    assert [l for l, _ in registry.requests("PUT")[puts:]] == ["PUT /v2/team/app/manifests/1"]


def test_pull_of_the_pushed_image_into_another_store(images, registry, cstore, env, work):
    """The many-hosts setup: another store pulls what this one pushed."""
    image_id = committed(images, registry, cstore, env)
    dest = "%s/team/app:1" % registry.host
    run(cstore, env, "push", TLS, "team/app:1", dest)
    other = os.path.join(work, "other-store")
    r = test_e2e.sh(test_e2e.LAYERCTL_BIN, "--store", other, "pull", TLS, "-q", dest)
    assert r.stdout.strip() == "sha256:" + image_id
    assert sorted(os.listdir(os.path.join(other, "layers"))) == sorted(
        os.listdir(cstore.p("layers")))


def test_push_errors(images, registry, cstore, env):
    r = run(cstore, env, "push", TLS, "no/such:1", "%s/x:1" % registry.host, check=False)
    assert r.returncode == 1 and "no such image" in r.stderr
    r = run(cstore, env, "push", check=False)
    assert r.returncode == 2 and "usage" in r.stderr
    committed(images, registry, cstore, env)
    r = run(cstore, env, "push", TLS, "team/app:1", "%s/x@sha256:%s" % (registry.host, "0" * 64),
            check=False)
    assert r.returncode == 2 and "a tag, not a digest" in r.stderr
    # push without a destination: the image's own name (here docker.io: unreachable
    # offline, so only the error form is checked)
    r = run(cstore, env, "push", TLS, "--retry", "0", "%s/base/img:2" % registry.host)
    assert "2: digest: sha256:" in r.stdout


def test_a_pushed_layer_is_mounted_by_the_next_push(images, registry, cstore, env):
    """After a push, the committed layer's meta.json names the repository it
    went to: a push to another repository mounts every layer."""
    committed(images, registry, cstore, env)
    run(cstore, env, "push", TLS, "team/app:1", "%s/team/app:1" % registry.host)
    before = len(registry.requests("POST", "mount="))
    run(cstore, env, "push", TLS, "team/app:1", "%s/team/other:1" % registry.host)
    mounts = registry.requests("POST", "mount=")[before:]
    assert len(mounts) == 3 and all(c == 201 for _, c in mounts), mounts
    assert any("from=team/app" in l for l, _ in mounts)
    layer_puts = [l for l, _ in registry.requests("PUT", "/v2/team/other/blobs/uploads/")]
    assert len(layer_puts) == 1   # the config only
