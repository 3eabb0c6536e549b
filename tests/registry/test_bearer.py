"""Bearer tokens (issue 14): a registry with distribution's token auth and
a token server made by the test (JWTs signed with openssl). layerctl asks
the realm of the registry's challenge for a token per repository and
action, with the credentials when it has any."""
import os

import test_e2e
from conftest import run

TLS = "--tls-verify=false"


def one_error(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("layerctl: "), r.stderr
    return lines[0]


def copy(images, reg, tag, dest):
    test_e2e.sh("skopeo", "copy", "-q", "--dest-tls-verify=false", "--dest-creds",
                "alice:s3cret", "oci:%s:%s" % (images.layout, tag),
                "docker://%s/%s" % (reg.host, dest))


def test_tokens_per_repository(images, token_registry, cstore, env):
    reg, ts = token_registry, token_registry.tokens
    copy(images, reg, "v1", "private/img:1")
    copy(images, reg, "v1", "public/img:1")
    # anonymous: a token for public/ pulls, none for private/
    run(cstore, env, "pull", TLS, "%s/public/img:1" % reg.host)
    assert (None, ["repository:public/img:pull"], 200) in ts.seen
    r = run(cstore, env, "pull", TLS, "%s/private/img:1" % reg.host, check=False)
    assert r.returncode == 1 and "unauthorized" in one_error(r)
    # wrong credentials: the token server refuses them
    r = run(cstore, env, "pull", TLS, "--creds", "alice:nope", "%s/private/img:1" % reg.host,
            check=False)
    assert r.returncode == 1 and "wrong username or password" in one_error(r)
    run(cstore, env, "pull", TLS, "--creds", "alice:s3cret", "%s/private/img:1" % reg.host)
    assert ("alice", ["repository:private/img:pull"], 200) in ts.seen
    # push: pull,push on the target and pull on the mount's source
    run(cstore, env, "push", TLS, "--creds", "alice:s3cret", "%s/private/img:1" % reg.host,
        "%s/private/copy:1" % reg.host)
    scopes = [tuple(s) for u, s, c in ts.seen if u == "alice"]
    # the layer was pulled from public/img first (its meta.json says so): the
    # mount's token covers push on the target and pull on that source
    assert ("repository:private/copy:pull,push", "repository:public/img:pull") in scopes, scopes
    assert [c for _, c in reg.requests("POST", "/v2/private/copy/blobs/uploads/?mount=")] == [201]
    test_e2e.sh("skopeo", "inspect", TLS, "--creds", "alice:s3cret",
                "docker://%s/private/copy:1" % reg.host)


def test_login_against_the_token_server(token_registry, cstore, env):
    reg, ts = token_registry, token_registry.tokens
    r = run(cstore, env, "login", TLS, "-u", "alice", "--password-stdin", reg.host,
            input="nope", check=False)
    assert r.returncode == 1 and "wrong username or password" in one_error(r)
    authfile = os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json")
    assert not os.path.exists(authfile)
    r = run(cstore, env, "login", TLS, "-u", "alice", "--password-stdin", reg.host,
            input="s3cret")
    assert "Login Succeeded" in r.stdout and os.path.exists(authfile)
    assert ts.seen[-1][0] == "alice" and ts.seen[-1][2] == 200
