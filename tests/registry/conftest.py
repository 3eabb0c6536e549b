"""Fixtures of the registry tests (issue 14): a store (ctrutil's, which
unmounts what its containers left mounted), a real docker-registry per
test, the test images (built once per session with umoci from
busybox-static, by tests/layerctl's builders), and an environment in which
layerctl reads no credentials or certificates but the test's own."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "layerctl"))

from ctrutil import cstore  # noqa: E402,F401
import regutil  # noqa: E402
import test_e2e  # noqa: E402

TOOLS = ("umoci", "skopeo", "openssl", "htpasswd", "setcap", "tar", regutil.REGISTRY_BIN)


@pytest.fixture(scope="session", autouse=True)
def _tools():
    if os.geteuid() != 0:
        pytest.fail("needs root (owners, device nodes, FUSE mounts)", pytrace=False)
    for t in TOOLS:
        if shutil.which(t) is None:
            pytest.fail("%s is not installed (scripts/deps.sh installs it)" % t, pytrace=False)


@pytest.fixture
def work():
    d = tempfile.mkdtemp(prefix="layerctl-reg-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(work):
    """layerctl's environment: credentials and CAs only where the test puts them."""
    e = {"HOME": os.path.join(work, "home"), "XDG_RUNTIME_DIR": os.path.join(work, "run"),
         "XDG_CONFIG_HOME": os.path.join(work, "home", ".config"),
         "LAYERCTL_CERTS_DIR": os.path.join(work, "certs.d"), "REGISTRY_AUTH_FILE": ""}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        e[k] = ""
    for d in ("home", "run", "certs.d"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    return e


def _start(work, name, **kw):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return regutil.Registry(d, **kw)


@pytest.fixture
def registry(work):
    r = _start(work, "registry")
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def proxy(registry):
    p = regutil.Proxy(registry.port)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def tls_registry(work):
    d = os.path.join(work, "tls")
    os.makedirs(d)
    ca, crt, key = regutil.make_ca(d)
    r = _start(work, "tls-registry", tls=(crt, key))
    r.ca = ca
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def auth_registry(work):
    pw = regutil.htpasswd_file(os.path.join(work, "htpasswd"), "alice", "s3cret")
    r = _start(work, "auth-registry", htpasswd=pw)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def token_registry(work):
    """A registry with distribution's token auth, and its token server."""
    d = os.path.join(work, "token")
    os.makedirs(d)
    ts = regutil.TokenServer(d, {"alice": "s3cret"})
    try:
        r = _start(work, "token-registry", token=ts)
        r.tokens = ts
        try:
            yield r
        finally:
            r.stop()
    finally:
        ts.stop()


# ---- the images -----------------------------------------------------------------

def _index(layout, tags, out_tag):
    """An image index in the umoci layout over the manifests of tags."""
    blobs = os.path.join(layout, "blobs", "sha256")
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m
              for m in index["manifests"]}
    entries = []
    for t in tags:
        desc = dict(by_tag[t])
        desc.pop("annotations", None)
        with open(os.path.join(blobs, desc["digest"][7:])) as f:
            man = json.load(f)
        with open(os.path.join(blobs, man["config"]["digest"][7:])) as f:
            cfg = json.load(f)
        desc["platform"] = {"os": cfg["os"], "architecture": cfg["architecture"]}
        entries.append(desc)
    body = json.dumps({"schemaVersion": 2, "mediaType": regutil_index_type(),
                       "manifests": entries}).encode()
    hexd = regutil.hashlib.sha256(body).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(body)
    index["manifests"].append({"mediaType": regutil_index_type(), "digest": "sha256:" + hexd,
                               "size": len(body),
                               "annotations": {"org.opencontainers.image.ref.name": out_tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)


def regutil_index_type():
    return "application/vnd.oci.image.index.v1+json"


class Images:
    """The umoci layout with tags v1..v4 (1 to 4 layers, see test_e2e),
    big (v1 + a 24 MiB incompressible layer), arm (v2 as linux/arm64),
    multi (an index: v2 for amd64, arm for arm64); and umoci's view of v4."""

    def __init__(self, d):
        self.dir = d
        test_e2e.build_image(d)
        self.layout = os.path.join(d, "umoci-layout")
        bundle = os.path.join(d, "bundle")

        def big(rootfs):
            with open(os.path.join(rootfs, "big.bin"), "wb") as f:
                f.write(os.urandom(24 << 20))
        test_e2e.umoci_edit(self.layout, "v1", "big", bundle, big)
        test_e2e.sh("umoci", "config", "--image", self.layout + ":v2", "--tag", "arm",
                    "--architecture", "arm64", "--config.env", "ARCH=arm64")
        _index(self.layout, ["v2", "arm"], "multi")
        self.rootfs = test_e2e.umoci_rootfs(self.layout, "v4", os.path.join(d, "umoci-v4"))
        self.tree = test_e2e.snapshot(self.rootfs)
        self.links = test_e2e.hardlink_groups(self.rootfs)

    def copy_to(self, registry, tag, dest, all_=False):
        """skopeo copies tag of the layout to registry (plain HTTP) as dest."""
        argv = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
        if all_:
            argv.append("--all")
        argv += ["oci:%s:%s" % (self.layout, tag), "docker://%s/%s" % (registry.host, dest)]
        test_e2e.sh(*argv)

    def manifest(self, tag):
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
                with open(os.path.join(self.layout, "blobs/sha256", m["digest"][7:])) as f:
                    return json.load(f)
        raise KeyError(tag)

    def layer_digests(self, tag):
        return [l["digest"][7:] for l in self.manifest(tag)["layers"]]


@pytest.fixture(scope="session")
def images():
    d = tempfile.mkdtemp(prefix="layerctl-reg-images-", dir="/tmp")
    try:
        yield Images(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(cstore, env, *args, check=True, input=None, timeout=300):
    """layerctl against the test's store, in the test's environment."""
    if input is None:
        return cstore.ctl(*[str(a) for a in args], check=check, env=env, timeout=timeout)
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run([test_e2e.LAYERCTL_BIN, "--store", cstore.root] + [str(a) for a in args],
                       capture_output=True, text=True, env=e, input=input, timeout=timeout)
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    if check:
        assert r.returncode == 0, "%s: %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr)
    return r
