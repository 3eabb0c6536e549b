"""The daemon under valgrind memcheck for a short workload: no invalid
access, no definite leak at unmount (exit status 99 otherwise)."""
import os
import shutil
import subprocess
import time

import pytest

from lfsutil import read, write, ls, mountinfo_entry, wait_unmounted
from hutil import LAYERFS_BIN, cleanup_mount


def test_valgrind_short_workload(union):
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is not installed (apt-get install valgrind)")
    with open(LAYERFS_BIN, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("sanitizer build: valgrind runs only on the plain build")
    rw = union.branch("rw")
    low = union.branch("l1", {"d": {"f%d" % i: "x%d" % i for i in range(20)},
                              "big": "y" * 100000, "ren": {"a": "1", "b": {"c": "2"}}})
    mnt = union.mkdir("vmnt")
    log = os.path.join(union.root, "valgrind.log")
    cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full",
           "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
           "--log-file=" + log, LAYERFS_BIN, "-f", mnt,
           "-o", "br=%s=rw:%s=ro+wh,allow_other" % (rw, low)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while mountinfo_entry(mnt) is None:
            assert proc.poll() is None, open(log).read()[-4000:]
            assert time.monotonic() < deadline, "no mount under valgrind"
            time.sleep(0.1)
        p = lambda *a: os.path.join(mnt, *a)   # noqa: E731
        assert len(ls(p("d"))) == 20
        write(p("new"), "n")
        with open(p("big"), "ab") as f:          # copy-up
            f.write(b"z")
        os.chmod(p("d", "f1"), 0o600)
        os.unlink(p("d", "f2"))                   # whiteout
        os.rename(p("ren"), p("moved"))           # tree copy-up
        os.mkdir(p("d", "f2"))                    # opaque over whiteout
        os.symlink("new", p("lnk"))
        os.link(p("new"), p("hl"))
        os.setxattr(p("new"), "user.k", b"v")
        assert os.getxattr(p("new"), "user.k") == b"v"
        os.truncate(p("new"), 0)
        for i in range(200):
            write(p("t%d" % i), "x")
            os.stat(p("t%d" % i))
            os.unlink(p("t%d" % i))
        assert read(p("moved", "b", "c")) == b"2"
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        r = subprocess.run(["fusermount3", "-u", mnt], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rc = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup_mount(mnt)
    text = open(log).read()
    summary = [l for l in text.splitlines() if "ERROR SUMMARY" in l or "definitely lost" in l]
    print("\n".join(summary))
    assert rc == 0, "valgrind exit %d:\n%s" % (rc, text[-8000:])
    assert "Invalid read" not in text and "Invalid write" not in text, text[-8000:]
