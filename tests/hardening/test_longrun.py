"""A long-running mount: one million lookups, creates and unlinks (bounded
in time) must leave the daemon's memory bounded -- nodes the kernel forgot
are freed.  The driver is tests/hardening/churn.c, built here with cc."""
import os
import subprocess

from lfsutil import drop_caches, ls
from hutil import proc_status, rw_debris

HERE = os.path.dirname(os.path.abspath(__file__))
TOTAL = int(os.environ.get("LAYERFS_CHURN_OPS", "1000000"))
SECONDS = float(os.environ.get("LAYERFS_CHURN_SECONDS", "75"))
PROCS = 4


def build_churn(tmp):
    exe = os.path.join(tmp, "churn")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe,
                    os.path.join(HERE, "churn.c")], check=True)
    return exe


def test_memory_bounded_after_million_ops(union, monkeypatch):
    exe = build_churn(union.root)
    # An ASan daemon keeps freed memory in a quarantine (256 MiB by default),
    # which would look like growth: keep it small for this mount.
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":quarantine_size_mb=8:thread_local_quarantine_size_kb=64")
    m = union.std(lowers=[{"d": {"low%d" % i: "l" for i in range(1000)}}],
                  opts=("timeout=0",))
    pid = m.proc.pid
    # warm up: the same workload a little, so allocator pools exist
    r = subprocess.run([exe, m.p("d"), "20000", "30"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    drop_caches()
    before = proc_status(pid)
    procs = []
    for k in range(PROCS):       # four drivers in four directories, in parallel
        os.mkdir(m.p("e%d" % k))
        procs.append(subprocess.Popen([exe, m.p("e%d" % k), str(TOTAL // PROCS),
                                       str(SECONDS)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    ops = 0
    for p in procs:
        out, err = p.communicate(timeout=SECONDS + 120)
        assert p.returncode == 0, err
        ops += int(out.split()[1])
    during = proc_status(pid)
    drop_caches()
    after = proc_status(pid)
    print("churn: %d ops; VmRSS before %d KiB, at end %d KiB, after forget %d KiB; "
          "VmHWM %d KiB" % (ops, before["VmRSS"], during["VmRSS"], after["VmRSS"],
                            after["VmHWM"]))
    assert ops >= min(TOTAL, 200000), "too few operations in %.0fs: %d" % (SECONDS, ops)
    # Every live name costs a node; 1e6 ops over 64 live names must not grow
    # memory with the number of operations: allow 24 MiB (an ASan daemon's
    # allocator keeps shadow memory and caches: 64 MiB, quarantine capped above).
    limit = 24 * 1024
    if b"libasan" in open("/proc/%d/maps" % pid, "rb").read():
        limit = 64 * 1024
    growth = after["VmRSS"] - before["VmRSS"]
    assert growth < limit, "daemon RSS grew by %d KiB over %d ops" % (growth, ops)
    for k in range(PROCS):
        assert len(ls(m.p("e%d" % k))) == 64
    assert rw_debris(m.rw) == []
