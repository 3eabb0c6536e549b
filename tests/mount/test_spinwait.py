"""-o spin=USEC: after each request a reader looks for the next one a
while before sleeping in read(2) (src/spinwait.h). What a user can see of
it: the mount serves the same tree with any window, bad values are
refused with one line, and an idle daemon does not keep polling (its CPU
time stays flat once requests stop)."""
import os
import threading
import time

import pytest

from lfsutil import read

SPEC = {"d%d" % d: {"f%d" % f: ("%d-%d\n" % (d, f)).encode() * 50 for f in range(25)}
        for d in range(20)}
FILES = {"%s/%s" % (d, f): data for d, files in SPEC.items() for f, data in files.items()}


def daemon_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_all(m):
    return {rel: read(m.p(rel)) for rel in FILES}


@pytest.mark.parametrize("spin", [None, "0", "1", "10000"])
def test_every_window_serves_the_same_tree(union, spin):
    rw = union.branch("rw", {})
    low = union.branch("low", SPEC)
    opts = [] if spin is None else ["spin=" + spin]
    m = union.mount([(rw, "rw"), (low, "ro+wh")], opts=opts)
    assert read_all(m) == FILES
    assert read_all(m) == FILES          # warm: from the kernel's cache
    with open(m.p("d3", "new"), "wb") as f:
        f.write(b"fresh")
    os.unlink(m.p("d4", "f1"))
    os.rename(m.p("d5", "f2"), m.p("d5", "moved"))
    assert read(os.path.join(rw, "d3", "new")) == b"fresh"
    assert os.path.exists(os.path.join(rw, "d4", ".wh.f1"))
    assert read(os.path.join(rw, "d5", "moved")) == FILES["d5/f2"]
    assert sorted(os.listdir(m.p("d5"))) == sorted(
        ["f%d" % f for f in range(25) if f != 2] + ["moved"])


def test_concurrent_callers_are_all_served(union):
    rw = union.branch("rw", {})
    low = union.branch("low", SPEC)
    m = union.mount([(rw, "rw"), (low, "ro+wh")], opts=["spin=200"])
    results, errors = [], []

    def worker():
        try:
            for _ in range(3):
                results.append(read_all(m) == FILES)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 18 and all(results)


def test_an_idle_daemon_stops_polling(union):
    rw = union.branch("rw", {})
    low = union.branch("low", SPEC)
    m = union.mount([(rw, "rw"), (low, "ro+wh")], opts=["spin=10000"])
    for _ in range(3):
        assert read_all(m) == FILES
    time.sleep(0.2)
    before = daemon_cpu_seconds(m.proc.pid)
    time.sleep(2.0)
    # A reader that kept polling would burn most of those 2 s.
    assert daemon_cpu_seconds(m.proc.pid) - before < 0.2


@pytest.mark.parametrize("value", ["abc", "-1", "10001", "", "5us", "1e3"])
def test_bad_spin_value_is_refused(union, value):
    assert "bad spin" in union.refused_option("spin=" + value)
