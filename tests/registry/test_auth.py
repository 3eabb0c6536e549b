"""Credentials and TLS (issue 14): a registry with htpasswd (bcrypt) auth,
login/logout writing the auth.json format podman and skopeo read, bad
credentials as one clear line; a TLS registry whose CA the test made,
trusted through the certs.d directory ($LAYERCTL_CERTS_DIR/HOST:PORT/ca.crt)
or --cert-dir, refused without it."""
import json
import os
import shutil

import regutil
import test_e2e
from conftest import run


def one_error(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("layerctl: "), r.stderr
    return lines[0]


def auth_copy(images, reg, tag, dest):
    test_e2e.sh("skopeo", "copy", "-q", "--dest-tls-verify=false", "--dest-creds",
                "alice:s3cret", "oci:%s:%s" % (images.layout, tag),
                "docker://%s/%s" % (reg.host, dest))


def test_login_pull_logout(images, auth_registry, cstore, env):
    reg = auth_registry
    auth_copy(images, reg, "v1", "priv/img:1")
    ref = "%s/priv/img:1" % reg.host
    authfile = os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json")
    # anonymous: refused, clearly
    r = run(cstore, env, "pull", "--tls-verify=false", ref, check=False)
    assert r.returncode == 1 and "unauthorized" in one_error(r) and "login" in r.stderr
    # a wrong password: login refuses and writes nothing
    r = run(cstore, env, "login", "--tls-verify=false", "-u", "alice", "--password-stdin",
            reg.host, input="wrong\n", check=False)
    assert r.returncode == 1 and "refused the credentials" in one_error(r)
    assert not os.path.exists(authfile)
    r = run(cstore, env, "login", "--tls-verify=false", "--username", "alice",
            "--password-stdin", reg.host, input="s3cret\n")
    assert "Login Succeeded" in r.stdout
    with open(authfile) as f:
        doc = json.load(f)
    assert doc == {"auths": {reg.host: {"auth": regutil.basic("alice", "s3cret")}}}
    assert os.stat(authfile).st_mode & 0o077 == 0
    # skopeo reads what login wrote, and layerctl pulls with it
    test_e2e.sh("skopeo", "inspect", "--tls-verify=false", "--authfile", authfile,
                "docker://" + ref)
    run(cstore, env, "pull", "--tls-verify=false", ref)
    assert len(cstore.images()) == 1
    r = run(cstore, env, "logout", reg.host)
    assert "Removed login credentials for " + reg.host in r.stdout
    assert json.load(open(authfile)) == {"auths": {}}
    r = run(cstore, env, "logout", reg.host, check=False)
    assert r.returncode == 1 and "not logged in" in one_error(r)
    r = run(cstore, env, "pull", "--tls-verify=false", ref, check=False)
    assert r.returncode == 1 and "unauthorized" in r.stderr


def test_credentials_from_docker_config_and_creds(images, auth_registry, cstore, env):
    reg = auth_registry
    auth_copy(images, reg, "v1", "priv/img:1")
    ref = "%s/priv/img:1" % reg.host
    # a bad --creds: one line, the registry's refusal
    r = run(cstore, env, "pull", "--tls-verify=false", "--creds", "alice:nope", ref,
            check=False)
    assert r.returncode == 1 and "refused the credentials" in one_error(r)
    assert cstore.images() == {} and os.listdir(cstore.p("layers")) == []
    run(cstore, env, "pull", "--tls-verify=false", "--creds", "alice:s3cret", ref)
    # ~/.docker/config.json, in docker's spelling of the key
    os.makedirs(os.path.join(env["HOME"], ".docker"))
    with open(os.path.join(env["HOME"], ".docker", "config.json"), "w") as f:
        json.dump({"auths": {"http://%s/v1/" % reg.host:
                             {"auth": regutil.basic("alice", "s3cret")}}}, f)
    run(cstore, env, "rmi", ref)
    run(cstore, env, "pull", "--tls-verify=false", ref)
    # $REGISTRY_AUTH_FILE comes first: a wrong password there is used (and refused)
    bad = os.path.join(env["HOME"], "bad.json")
    with open(bad, "w") as f:
        json.dump({"auths": {reg.host: {"auth": regutil.basic("alice", "bad")}}}, f)
    e = dict(env, REGISTRY_AUTH_FILE=bad)
    r = run(cstore, e, "pull", "--tls-verify=false", ref, check=False)
    assert r.returncode == 1 and "refused the credentials" in r.stderr
    with open(bad, "w") as f:
        f.write("{not json")
    r = run(cstore, e, "pull", "--tls-verify=false", ref, check=False)
    assert r.returncode == 1 and bad in one_error(r)


def test_push_needs_credentials(images, auth_registry, cstore, env):
    reg = auth_registry
    auth_copy(images, reg, "v1", "priv/img:1")
    ref = "%s/priv/img:1" % reg.host
    run(cstore, env, "pull", "--tls-verify=false", "--creds", "alice:s3cret", ref)
    r = run(cstore, env, "push", "--tls-verify=false", ref, "%s/priv/copy:1" % reg.host,
            check=False)
    assert r.returncode == 1 and "unauthorized" in one_error(r)
    run(cstore, env, "push", "--tls-verify=false", "--creds", "alice:s3cret", ref,
        "%s/priv/copy:1" % reg.host)
    # the layer was mounted from priv/img, not uploaded again
    assert [c for _, c in reg.requests("POST", "mount=")] == [201]


def test_tls_with_the_registry_ca(images, tls_registry, cstore, env, work):
    reg = tls_registry
    certs = os.path.join(work, "mycerts")
    os.makedirs(certs)
    shutil.copy(reg.ca, os.path.join(certs, "ca.crt"))
    test_e2e.sh("skopeo", "copy", "-q", "--dest-cert-dir", certs,
                "oci:%s:v1" % images.layout, "docker://%s/tls/img:1" % reg.host)
    ref = "%s/tls/img:1" % reg.host
    # the CA is not trusted: a clear TLS error, nothing stored
    r = run(cstore, env, "pull", "--retry", "0", ref, check=False)
    assert r.returncode == 1 and "certificate" in one_error(r)
    assert cstore.images() == {}
    # --cert-dir with the CA
    run(cstore, env, "pull", "--cert-dir", certs, ref)
    # the certs.d layout: $LAYERCTL_CERTS_DIR/HOST:PORT/ca.crt
    host_dir = os.path.join(env["LAYERCTL_CERTS_DIR"], reg.host)
    os.makedirs(host_dir)
    shutil.copy(reg.ca, os.path.join(host_dir, "ca.crt"))
    run(cstore, env, "rmi", ref)
    run(cstore, env, "pull", ref)
    assert len(cstore.images()) == 1
    # and push over it
    run(cstore, env, "push", ref, "%s/tls/copy:1" % reg.host)
    # --tls-verify=false: no check at all
    os.unlink(os.path.join(host_dir, "ca.crt"))
    run(cstore, env, "pull", "--tls-verify=false", ref)
