"""Fixtures for the layerctl tests.

Every test gets its own store and its own work directory under /tmp.  The
`ctl` fixture runs the layerctl binary (LAYERCTL_BIN) against that store and
fails the test when a sanitizer reported anything.  `canary` is a directory
outside the store that hostile archives aim at: it must stay untouched.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

LAYERCTL_BIN = os.environ.get("LAYERCTL_BIN") or os.path.join(REPO, "build", "tools",
                                                               "layerctl")
LAYERFS_BIN = os.environ.get("LAYERFS_BIN") or os.path.join(REPO, "build", "layerfs")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer")


def pytest_sessionstart(session):
    problems = []
    if not os.access(LAYERCTL_BIN, os.X_OK):
        problems.append("layerctl binary %r is not executable (set LAYERCTL_BIN)"
                        % LAYERCTL_BIN)
    session.config._layerctl_problems = problems


@pytest.fixture(autouse=True)
def _layerctl_ok(request):
    problems = request.config._layerctl_problems
    if problems:
        pytest.fail("test environment unusable: " + "; ".join(problems), pytrace=False)


def ctl_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=24")
    env.pop("LAYERCTL_STORE", None)
    return env


class Ctl:
    """Runs layerctl against one store."""

    def __init__(self, store):
        self.store = store

    def run(self, *args, rc=0, stdout=subprocess.PIPE, **kw):
        cmd = [LAYERCTL_BIN, "--store", self.store] + [str(a) for a in args]
        r = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True,
                           env=ctl_env(), timeout=300, **kw)
        assert not any(m in r.stderr for m in SANITIZER_MARKERS), r.stderr
        if rc is not None:
            assert r.returncode == rc, "%s -> %d\nstdout: %s\nstderr: %s" % (
                cmd, r.returncode, r.stdout, r.stderr)
        return r

    def __call__(self, *args, **kw):
        return self.run(*args, **kw)

    # -- looking at the store --
    def path(self, *parts):
        return os.path.join(self.store, *parts)

    def layers(self):
        d = self.path("layers")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def images(self):
        d = self.path("images")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def tmp_entries(self):
        d = self.path("tmp")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def diff(self, chain_hex, *parts):
        return self.path("layers", chain_hex, "diff", *parts)

    def assert_empty(self):
        """Nothing made: no layer, no image, nothing left in tmp/."""
        assert self.layers() == []
        assert self.images() == []
        assert self.tmp_entries() == []


@pytest.fixture
def scratch():
    d = tempfile.mkdtemp(prefix="layerctl-test-")
    yield d
    subprocess.run(["chattr", "-R", "-i", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ctl(scratch):
    store = os.path.join(scratch, "store")
    return Ctl(store)


@pytest.fixture
def work(scratch):
    d = os.path.join(scratch, "work")
    os.mkdir(d)
    return d


def tree_state(path):
    """Everything below path: names, types, sizes, modes (to compare)."""
    out = {}
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def canary(scratch):
    """A directory hostile archives aim at; checked unchanged afterwards."""
    d = os.path.join(scratch, "canary")
    os.mkdir(d)
    with open(os.path.join(d, "keep"), "w") as f:
        f.write("original\n")
    before = tree_state(d)
    yield d
    assert tree_state(d) == before, "something was written outside the layer"
