"""A real registry for the tests: Debian's docker-registry (distribution
2.8) on 127.0.0.1 with its own config and storage in a temporary directory
- plain HTTP, TLS with a CA the test makes (openssl), or htpasswd (bcrypt)
auth - and a small HTTP proxy in front of it that can cut a transfer, stop
answering, or lie (corrupt bytes, extra bytes, a schema 1 manifest). Every
server started here is stopped by its fixture, also when the test fails
(its whole process group is killed).
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import threading
import time

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*argv, input=None, timeout=300):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, input=input,
                       timeout=timeout)
    assert r.returncode == 0, "%s -> %d\n%s%s" % (" ".join(map(str, argv)), r.returncode,
                                                r.stdout, r.stderr)
    return r


def make_ca(d, host="127.0.0.1"):
    """A CA and a server certificate for host (an IP SAN). Returns
    (ca.crt, server.crt, server.key)."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "san.cnf")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
       "-out", ca_crt, "-days", "2", "-subj", "/CN=layerctl test CA")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
       "-subj", "/CN=" + host)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n" % host)
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
       "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


class Registry:
    """docker-registry serve CONFIG, in a process group of its own."""

    def __init__(self, root, tls=None, htpasswd=None, token=None):
        self.root = root
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.storage = os.path.join(root, "storage")
        self.log = os.path.join(root, "registry.log")
        os.makedirs(self.storage, exist_ok=True)
        lines = ["version: 0.1",
                 "log:", "  level: info", "  accesslog:", "    disabled: false",
                 "storage:", "  filesystem:", "    rootdirectory: " + self.storage,
                 "  delete:", "    enabled: true",
                 "http:", "  addr: " + self.host]
        if tls:
            lines += ["  tls:", "    certificate: " + tls[0], "    key: " + tls[1]]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: layerctl-test",
                      "    path: " + htpasswd]
        if token:
            lines += ["auth:", "  token:", "    realm: " + token.realm,
                      "    service: " + token.service, "    issuer: " + token.issuer,
                      "    rootcertbundle: " + token.cert]
        self.config = os.path.join(root, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.scheme = "https" if tls else "http"
        self.proc = None
        self.start()

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config], stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("docker-registry exited:\n" + open(self.log).read()[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("docker-registry did not listen on " + self.host)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.proc = None

    def requests(self, method="GET", pattern=""):
        """Request lines of the access log: 'GET /v2/...'."""
        with open(self.log, errors="replace") as f:
            text = f.read()
        lines = re.findall(r'"(%s /v2/[^ "]*) HTTP/1\.[01]" (\d+)' % method, text)
        return [(l, int(code)) for l, code in lines if pattern in l]

    def blob_gets(self, repo=None):
        """Successful GETs of blobs (config or layer), as digests."""
        out = []
        for line, code in self.requests("GET", "/blobs/sha256:"):
            if code in (200, 206) and (repo is None or "/v2/%s/blobs/" % repo in line):
                out.append(line.rsplit("sha256:", 1)[1])
        return out

    def blob_path(self, hex_digest):
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hex_digest[:2],
                            hex_digest, "data")


def htpasswd_file(path, user, password):
    r = sh("htpasswd", "-Bbn", user, password)
    with open(path, "w") as f:
        f.write(r.stdout)
    return path


# ---- the proxy -----------------------------------------------------------------

class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of a plain-HTTP registry. Modes
    (set by the test, for requests whose path contains `target`):
      cut_after=N   send N body bytes of the answer, then drop the connection;
                    with stop=True the proxy then stops listening (a registry
                    gone away), until start() again
      corrupt=True  flip a byte in the middle of the body
      extra=N       send N more bytes than the body has
      schema1=True  answer manifests with a docker schema 1 one
      swap_body     replace the body by these bytes (headers kept)
    `seen` lists (method, path, headers) of every request."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.seen = []
        self.reset()
        self.server = None
        self.start()

    def reset(self):
        self.target = None
        self.cut_after = None
        self.stop_after_cut = False
        self.corrupt = False
        self.extra = 0
        self.schema1 = False
        self.swap_body = None
        self.times = 1 << 30   # how many answers the mode applies to

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self.forward()

            do_HEAD = do_GET

            def forward(self):
                proxy.seen.append((self.command, self.path, dict(self.headers)))
                up = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                up.request(self.command, self.path, headers=headers)
                resp = up.getresponse()
                body = resp.read() if self.command != "HEAD" else b""
                hit = proxy.target and proxy.target in self.path and proxy.times > 0
                if hit:
                    proxy.times -= 1
                body, cut = proxy.mangle(self.path, body, hit)
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() in ("content-length", "transfer-encoding", "connection"):
                        continue
                    if hit and proxy.schema1 and k.lower() == "content-type":
                        v = "application/vnd.docker.distribution.manifest.v1+prettyjws"
                    if hit and proxy.schema1 and k.lower() == "docker-content-digest":
                        v = "sha256:" + hashlib.sha256(body).hexdigest()  # a consistent liar
                    self.send_header(k, v)
                length = len(body)   # a cut answer promises all of it
                if self.command == "HEAD":
                    length = int(resp.getheader("Content-Length") or 0)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if cut is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                if proxy.stop_after_cut:
                    threading.Thread(target=proxy.stop).start()

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mangle(self, path, body, hit):
        """(body to send, bytes after which to cut or None)."""
        if not hit:
            return body, None
        if self.swap_body is not None:
            return self.swap_body, None
        if self.schema1 and "/manifests/" in path:
            return json.dumps({"schemaVersion": 1, "name": "x", "tag": "1",
                               "fsLayers": [], "history": []}).encode(), None
        if self.corrupt and body:
            b = bytearray(body)
            b[len(b) // 2] ^= 0xff
            return bytes(b), None
        if self.extra:
            return body + b"\0" * self.extra, None
        if self.cut_after is not None:
            return body, min(self.cut_after, len(body))
        return body, None

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


# ---- a token server ---------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The Bearer token server of distribution's token auth: GET
    /token?service=..&scope=.. (Basic credentials optional) answers a JWT
    signed RS256 (openssl) with the signing certificate in x5c, granting
    pull and push to alice, and pull of public/* to anyone."""

    service, issuer = "layerctl-test", "layerctl-test-issuer"

    def __init__(self, d, users):
        self.users = users
        self.key = os.path.join(d, "token.key")
        self.cert = os.path.join(d, "token.crt")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
           "-out", self.cert, "-days", "2", "-subj", "/CN=layerctl test token issuer")
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.port = free_port()
        self.realm = "http://127.0.0.1:%d/token" % self.port
        self.seen = []   # (user or None, [scopes], status)
        ts = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import parse_qs, urlparse
                q = parse_qs(urlparse(self.path).query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if ts.users.get(u) != p:
                        ts.seen.append((u, q.get("scope", []), 401))
                        return self.answer(401, b'{"details":"bad credentials"}')
                    user = u
                ts.seen.append((user, q.get("scope", []), 200))
                token = ts.sign(user, q.get("service", [""])[0], q.get("scope", []))
                self.answer(200, json.dumps({"token": token, "access_token": token,
                                             "expires_in": 300}).encode())

            def answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sign(self, user, service, scopes):
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                want = parts[2].split(",")
                allowed = ["pull", "push"] if user else (
                    ["pull"] if parts[1].startswith("public/") else [])
                access.append({"type": "repository", "name": parts[1],
                               "actions": [a for a in want if a in allowed]})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": user or "", "aud": service, "exp": now + 300,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing.encode(), capture_output=True, check=True).stdout
        return signing + "." + b64url(sig)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
