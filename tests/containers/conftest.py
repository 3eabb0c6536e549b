"""layerfs as the mount program of podman and buildah (issue 7).

Every test runs twice: with layerfs ($LAYERFS_BIN, default build/layerfs)
and with fuse-overlayfs, the reference mount program, so that a failure
that shows with both is the test's fault and one that shows only with
layerfs is layerfs's. Each test gets its own private store (see ctutil);
teardown always cleans it up and fails the test when something was left
behind. Nothing is ever skipped: a missing tool is a failure.

The buildah build times of both programs are printed at the end of the run
(and written to $LAYERFS_CONTAINERS_REPORT when that is set).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
pytest.register_assert_rewrite("ctutil", "scenarios")

from ctutil import Store  # noqa: E402

LAYERFS_BIN = os.path.abspath(os.environ.get("LAYERFS_BIN")
                              or os.path.join(REPO, "build", "layerfs"))
FUSE_OVERLAYFS_BIN = "/usr/bin/fuse-overlayfs"

PROGRAMS = {
    "layerfs": (LAYERFS_BIN, "fuse.layerfs"),
    "fuse-overlayfs": (FUSE_OVERLAYFS_BIN, "fuse.fuse-overlayfs"),
}
TOOLS = ["podman", "buildah", "runc", "newuidmap", "newgidmap", "fusermount3",
         "unshare", "setpriv", "busybox"]

TIMINGS = {}


def pytest_sessionstart(session):
    problems = []
    if os.geteuid() != 0:
        problems.append("the container tests must run as root")
    missing = [t for t in TOOLS + [FUSE_OVERLAYFS_BIN] if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        # Installs only what is missing; returns at once when all is there.
        r = subprocess.run([os.path.join(REPO, "scripts", "containers-deps.sh")],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            problems.append("scripts/containers-deps.sh failed: " + r.stderr[-2000:])
        missing = [t for t in TOOLS + [FUSE_OVERLAYFS_BIN] if shutil.which(t) is None]
    if missing:
        problems.append("missing tools: %s (run scripts/containers-deps.sh)" % missing)
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    if not os.access(LAYERFS_BIN, os.X_OK):
        problems.append("layerfs binary %r is not executable (set LAYERFS_BIN)" % LAYERFS_BIN)
    if not _is_static("/bin/busybox"):
        problems.append("/bin/busybox is not a static binary (apt-get install busybox-static)")
    session.config._ct_problems = problems


def _is_static(path):
    """True when the ELF file has no PT_INTERP program header."""
    import struct
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    end = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(end + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    for i in range(phnum):
        ptype, = struct.unpack_from(end + "I", data, phoff + i * phentsize)
        if ptype == 3:  # PT_INTERP
            return False
    return True


@pytest.fixture(autouse=True)
def _environment_ok(request):
    problems = request.config._ct_problems
    if problems:
        pytest.fail("test environment unusable: " + "; ".join(problems), pytrace=False)


@pytest.fixture(params=sorted(PROGRAMS), ids=lambda p: p)
def program(request):
    """(name, path, expected fstype of the container's rootfs)."""
    path, fstype = PROGRAMS[request.param]
    return request.param, path, fstype


def _store(request, program, rootless):
    name, path, _ = program
    st = Store(path, rootless, "%s-%s" % (name, "u" if rootless else "r"))
    yield st
    problems = st.cleanup()
    if problems and not _failed(request):
        pytest.fail("cleanup: " + "; ".join(problems), pytrace=False)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def rootful_store(request, program):
    yield from _store(request, program, False)


@pytest.fixture
def rootless_store(request, program):
    yield from _store(request, program, True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def record_timing(key, program_name, seconds):
    TIMINGS.setdefault(key, {})[program_name] = seconds


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    tr = terminalreporter
    tr.section("mount program timings")
    for key in sorted(TIMINGS):
        t = TIMINGS[key]
        line = "%s: %s" % (key, ", ".join("%s %.2fs" % (k, v) for k, v in sorted(t.items())))
        if "layerfs" in t and "fuse-overlayfs" in t and t["fuse-overlayfs"] > 0:
            line += " (layerfs/fuse-overlayfs = %.2f)" % (t["layerfs"] / t["fuse-overlayfs"])
        tr.write_line(line)
    out = os.environ.get("LAYERFS_CONTAINERS_REPORT")
    if out:
        with open(out, "w") as f:
            json.dump(TIMINGS, f, indent=1, sort_keys=True)
