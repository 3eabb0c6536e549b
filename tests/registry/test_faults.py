"""Registries that fail or lie (issue 14): stopped in the middle of a
layer, a dropped connection resumed with Range, a corrupt blob, more bytes
than the manifest says, a manifest that does not match its digest, a
docker schema 1 manifest. Every failure is one clear line and leaves no
image and nothing in tmp/; finished layers stay (complete) and a rerun
reuses them."""
import json
import os

import test_e2e
from conftest import run

TLS = "--tls-verify=false"
FAST = ("--retry", "2", "--retry-delay", "0.1")


def one_error(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) >= 1 and all(ln.startswith("layerctl: ") for ln in lines), r.stderr
    return lines[0]


def nothing_half_made(cstore):
    assert cstore.images() == {}
    assert os.listdir(cstore.p("tmp")) == []
    for chain in os.listdir(cstore.p("layers")):
        assert os.path.exists(cstore.p("layers", chain, "meta.json"))


def big_layer(images):
    return images.layer_digests("big")[1]


def test_registry_stopped_mid_pull(images, registry, proxy, cstore, env):
    images.copy_to(registry, "big", "big/img:1")
    ref = "%s/big/img:1" % proxy.host
    proxy.target = big_layer(images)
    proxy.cut_after = 5 << 20
    proxy.stop_after_cut = True
    r = run(cstore, env, "pull", TLS, *FAST, "-j", "1", ref, check=False)
    assert r.returncode == 1
    line = one_error(r)
    assert proxy.host in line and "big/img" in line, line
    nothing_half_made(cstore)
    small = images.layer_digests("big")[0]
    kept = [json.load(open(cstore.p("layers", c, "meta.json")))["digest"][7:]
            for c in os.listdir(cstore.p("layers"))]
    assert kept == [small]   # the bottom layer finished: it stays, complete
    # the registry is back: the rerun fetches only the big layer
    proxy.reset()
    proxy.start()
    before = len(registry.blob_gets())
    run(cstore, env, "pull", TLS, ref)
    fetched = registry.blob_gets()[before:]
    assert small not in fetched and big_layer(images) in fetched
    assert len(cstore.images()) == 1 and os.listdir(cstore.p("tmp")) == []
    run(cstore, env, "create", ref, "c1")
    mnt = run(cstore, env, "mount", "c1").stdout.strip()
    assert os.path.getsize(os.path.join(mnt, "big.bin")) == 24 << 20
    run(cstore, env, "umount", "c1")


def test_dropped_connection_resumes_with_range(images, registry, proxy, cstore, env):
    images.copy_to(registry, "big", "big/img:1")
    ref = "%s/big/img:1" % proxy.host
    proxy.target = big_layer(images)
    proxy.cut_after = 7 << 20
    proxy.times = 1  # once: the retry gets the rest
    run(cstore, env, "pull", TLS, *FAST, ref)
    gets = [h for m, p, h in proxy.seen if m == "GET" and big_layer(images) in p]
    assert len(gets) == 2
    assert "Range" not in gets[0] and gets[1].get("Range") == "bytes=%d-" % (7 << 20), gets
    assert len(cstore.images()) == 1


def test_corrupt_blob_is_refused(images, registry, cstore, env):
    images.copy_to(registry, "v2", "bad/img:1")
    layer = images.layer_digests("v2")[1]
    path = registry.blob_path(layer)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x55
    with open(path, "wb") as f:
        f.write(data)
    r = run(cstore, env, "pull", TLS, *FAST, "%s/bad/img:1" % registry.host, check=False)
    assert r.returncode == 1
    line = one_error(r)
    assert "sha256:%s" % layer[:12] in line and "corrupt" in line, line
    nothing_half_made(cstore)
    assert len(os.listdir(cstore.p("layers"))) <= 1


def test_lying_proxy(images, registry, proxy, cstore, env):
    images.copy_to(registry, "v1", "lie/img:1")
    ref = "%s/lie/img:1" % proxy.host
    layer = images.layer_digests("v1")[0]
    cases = [
        (dict(target=layer, corrupt=True), "corrupt"),
        (dict(target=layer, extra=100), "more than the"),
        (dict(target=layer, cut_after=1000), "of %d bytes (after retries)" % images.manifest("v1")["layers"][0]["size"]),
        (dict(target="/manifests/1", swap_body=b'{"schemaVersion":2}'), "registry says"),
        (dict(target="/manifests/1", schema1=True), "schema 1"),
    ]
    for mode, why in cases:
        proxy.reset()
        for k, v in mode.items():
            setattr(proxy, k, v)
        r = run(cstore, env, "pull", TLS, "--retry", "1", "--retry-delay", "0.05", ref,
                check=False)
        assert r.returncode == 1, (mode, r.stdout)
        line = one_error(r)
        assert why in line, (mode, line)
        nothing_half_made(cstore)
        assert os.listdir(cstore.p("layers")) == []
    proxy.reset()
    run(cstore, env, "pull", TLS, ref)


def test_manifest_by_digest_must_match(images, registry, proxy, cstore, env):
    images.copy_to(registry, "v1", "lie/img:1")
    r = run(cstore, env, "pull", TLS, "%s/lie/img:1" % registry.host)
    digest = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("Digest:")][0]
    run(cstore, env, "rmi", "%s/lie/img:1" % registry.host)
    other = images.manifest("v2")
    proxy.target = "/manifests/" + digest
    proxy.swap_body = json.dumps(other).encode()
    r = run(cstore, env, "pull", TLS, "%s/lie/img@%s" % (proxy.host, digest), check=False)
    assert r.returncode == 1 and "digest is sha256:" in one_error(r)
    assert cstore.images() == {}


def test_registry_down_from_the_start(cstore, env):
    import regutil
    port = regutil.free_port()
    r = run(cstore, env, "pull", TLS, *FAST, "127.0.0.1:%d/x/y:1" % port, check=False)
    assert r.returncode == 1 and "cannot reach the registry" in one_error(r)
    assert cstore.images() == {}
