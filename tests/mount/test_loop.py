"""The request loop (src/loop.c) and the device transports (devio.c,
uring.c): one thread serves requests one after another, a standby takes
over when it is stuck, per-thread device fds, and FUSE over io_uring.

Stuck requests are made for real: the rw branch lives on a small ext4
image that the test freezes (fsfreeze), so a copy-up blocks in the daemon
until it is thawed."""
import os
import re
import subprocess
import threading
import time

import pytest

from lfsutil import read, write

ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"


@pytest.fixture
def frozen_rw(union):
    """An rw branch on its own ext4 image; returns (dir, freeze, thaw).
    Thawed, unmounted and detached at the end, also on failure."""
    img = os.path.join(union.root, "rw.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
    dev = subprocess.run(["losetup", "--find", "--show", img], check=True,
                         capture_output=True, text=True).stdout.strip()
    d = union.mkdir("rwfs")
    state = {"frozen": False}
    try:
        subprocess.run(["mount", dev, d], check=True)

        def freeze():
            subprocess.run(["fsfreeze", "-f", d], check=True)
            state["frozen"] = True

        def thaw():
            if state["frozen"]:
                subprocess.run(["fsfreeze", "-u", d], check=True)
                state["frozen"] = False

        rw = os.path.join(d, "rw")
        os.mkdir(rw)
        yield rw, freeze, thaw
    finally:
        if state["frozen"]:
            subprocess.run(["fsfreeze", "-u", d])
        # the union fixture unmounts layerfs after us: lazily, so the image goes
        subprocess.run(["umount", "-l", d])
        subprocess.run(["losetup", "-d", dev])


def daemon_threads(m):
    return len(os.listdir("/proc/%d/task" % m.proc.pid))


def start_appends(m, names):
    """Threads appending to lower files: each copy-up blocks while the rw
    branch is frozen."""
    done = {}

    def append(name):
        with open(m.p(name), "ab") as f:
            f.write(b"+")
        done[name] = True

    threads = [threading.Thread(target=append, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    return threads, done


def timed_reads(m, names, budget, thaw):
    """Reads every name in a thread; fails (after thawing, so that nothing
    stays blocked) if that takes longer than budget seconds."""
    got = {}

    def reads():
        for n in names:
            got[n] = read(m.p(n))

    t = threading.Thread(target=reads, daemon=True)
    t.start()
    t.join(budget)
    if t.is_alive():
        thaw()
        t.join(20)
        pytest.fail("reads did not finish within %.0f s while a request was stuck" % budget)
    assert got == {n: n.encode() for n in names}


def test_stuck_request_does_not_hold_up_the_next(union, frozen_rw):
    rw, freeze, thaw = frozen_rw
    lower = union.branch("l1", {"stuck": "stuck", "a": "a", "b": "b"})
    m = union.mount([(rw, "rw"), (lower, "ro+wh")])
    assert read(m.p("a")) == b"a"
    freeze()
    threads, done = start_appends(m, ["stuck"])
    time.sleep(0.5)
    assert not done, "the copy-up went through although the rw branch is frozen"
    timed_reads(m, ["a", "b"], 3.0, thaw)
    thaw()
    for t in threads:
        t.join(20)
    assert done == {"stuck": True}
    assert read(m.p("stuck")) == b"stuck+"
    assert read(os.path.join(rw, "stuck")) == b"stuck+"


def test_pool_grows_with_stuck_requests(union, frozen_rw):
    """Four stuck copy-ups and still an answer: threads are added as the
    standby takes over, each time."""
    rw, freeze, thaw = frozen_rw
    names = ["s%d" % i for i in range(4)]
    lower = union.branch("l1", dict({n: n for n in names}, a="a"))
    m = union.mount([(rw, "rw"), (lower, "ro+wh")])
    assert read(m.p("a")) == b"a"
    before = daemon_threads(m)
    freeze()
    threads, done = start_appends(m, names)
    time.sleep(1.0)
    assert not done
    timed_reads(m, ["a"], 3.0, thaw)
    assert daemon_threads(m) >= before + 3
    thaw()
    for t in threads:
        t.join(20)
    assert sorted(done) == names
    for n in names:
        assert read(os.path.join(rw, n)) == (n + "+").encode()


def test_single_thread_option_serves_alone(union):
    """-s: one thread for everything (and no standby)."""
    lower = union.branch("l1", {"f%d" % i: "x" for i in range(50)})
    m = union.mount([(union.branch("rw", {}), "rw"), (lower, "ro+wh")], extra_args=("-s",))
    for i in range(50):
        assert read(m.p("f%d" % i)) == b"x"
    # main thread, control socket thread, the one worker
    assert daemon_threads(m) == 3


def test_clone_fd_gives_each_thread_its_device_fd(union, frozen_rw):
    rw, freeze, thaw = frozen_rw
    lower = union.branch("l1", {"stuck": "stuck", "a": "a"})
    m = union.mount([(rw, "rw"), (lower, "ro+wh")], opts=["clone_fd"])
    write(m.p("new"), b"data")
    assert read(m.p("new")) == b"data"
    freeze()
    threads, done = start_appends(m, ["stuck"])
    time.sleep(0.5)
    timed_reads(m, ["a"], 3.0, thaw)
    fds = [os.readlink("/proc/%d/fd/%s" % (m.proc.pid, fd))
           for fd in os.listdir("/proc/%d/fd" % m.proc.pid)]
    assert fds.count("/dev/fuse") >= 3      # the session's and two clones
    thaw()
    for t in threads:
        t.join(20)
    assert read(m.p("stuck")) == b"stuck+"


# ---------------------------------------------------------------- io_uring

@pytest.fixture
def enable_uring():
    """Sets /sys/module/fuse/parameters/enable_uring for the test and puts
    the old value back afterwards, also on failure."""
    assert os.path.exists(ENABLE_URING), "kernel without CONFIG_FUSE_IO_URING"
    with open(ENABLE_URING) as f:
        old = f.read().strip()

    def setval(v):
        with open(ENABLE_URING, "w") as f:
            f.write(v + "\n")
    try:
        yield setval
    finally:
        setval(old)


def ring_uniques(err):
    return set(int(u) for u in re.findall(r"io_uring: queue \d+: unique (\d+)", err))


def requests(err):
    """unique -> opcode name of every request the daemon logged."""
    return {int(u): op for u, op in re.findall(r"unique: (\d+), opcode: (\w+)", err)}


def workload(m, rw):
    """Small files, a 3 MiB file (several 1 MiB requests), a directory of
    200 entries, rename, link, symlink, xattrs, unlink."""
    os.mkdir(m.p("d"))
    for i in range(200):
        write(m.p("d", "f%03d" % i), b"%d" % i)
    assert sorted(os.listdir(m.p("d"))) == ["f%03d" % i for i in range(200)]
    big = os.urandom(3 << 20)
    write(m.p("big"), big)
    assert read(m.p("big")) == big
    assert read(m.p("low")) == b"lower" * 1000
    os.rename(m.p("d", "f000"), m.p("moved"))
    os.link(m.p("moved"), m.p("hard"))
    os.symlink("moved", m.p("sym"))
    assert os.readlink(m.p("sym")) == "moved"
    os.setxattr(m.p("moved"), "user.k", b"v" * 300)
    assert os.getxattr(m.p("moved"), "user.k") == b"v" * 300
    assert "user.k" in os.listxattr(m.p("moved"))
    os.unlink(m.p("hard"))
    with open(m.p("low"), "ab") as f:          # copy-up
        f.write(b"!")
    assert read(os.path.join(rw, "low")) == b"lower" * 1000 + b"!"
    assert read(os.path.join(rw, "big")) == big


def mount_uring(union, extra=()):
    rw = union.branch("rw", {})
    lower = union.branch("l1", {"low": "lower" * 1000})
    # passthrough off: reads and writes are requests too
    m = union.mount([(rw, "rw"), (lower, "ro+wh")],
                    opts=["io_uring", "passthrough=off"] + list(extra), extra_args=("-d",))
    return m, rw


def test_io_uring_carries_the_requests(union, enable_uring):
    enable_uring("Y")
    m, rw = mount_uring(union)
    workload(m, rw)
    problems = m.stop()
    assert not problems, problems
    err = m.stderr()
    reqs = requests(err)
    ring = ring_uniques(err)
    assert len(ring) > 300, err[-3000:]
    # everything after INIT came over the rings but for what the kernel
    # keeps on /dev/fuse (FORGET, INTERRUPT)
    classic = {u: op for u, op in reqs.items() if u not in ring}
    assert set(classic.values()) <= {"INIT", "FORGET", "BATCH_FORGET", "INTERRUPT"}, classic
    for op in ("LOOKUP", "CREATE", "WRITE", "READ", "READDIRPLUS", "RENAME", "SETXATTR",
               "GETXATTR", "UNLINK", "MKDIR", "SYMLINK", "LINK"):
        assert op in {reqs[u] for u in ring if u in reqs}, op
    assert re.search(r"io_uring: (\d+) requests served over the rings", err)


def test_io_uring_falls_back_when_the_kernel_refuses(union, enable_uring):
    enable_uring("N")
    m, rw = mount_uring(union)
    workload(m, rw)
    problems = m.stop()
    assert not problems, problems
    err = m.stderr()
    assert "io_uring: not offered by the kernel" in err
    assert not ring_uniques(err)


def test_io_uring_parallel_readers(union, enable_uring):
    """Processes on every CPU at once: requests land on every queue."""
    enable_uring("Y")
    m, rw = mount_uring(union)
    for i in range(64):
        write(m.p("f%d" % i), b"%d" % i * 1000)
    cpus = os.cpu_count() or 1
    procs = [subprocess.Popen(["sh", "-c", "for r in 1 2 3; do cat %s/f* > /dev/null; done"
                               % m.mnt]) for _ in range(2 * cpus)]
    for p in procs:
        assert p.wait(60) == 0
    for i in range(64):
        assert read(m.p("f%d" % i)) == b"%d" % i * 1000
    problems = m.stop()
    assert not problems, problems
    queues = set(re.findall(r"io_uring: queue (\d+): unique", m.stderr()))
    assert len(queues) >= min(cpus, 2), queues


def test_io_uring_sigterm_ends_cleanly(union, enable_uring):
    enable_uring("Y")
    m, rw = mount_uring(union)
    write(m.p("f"), b"x")
    m.proc.send_signal(15)
    assert m.proc.wait(15) == 0, m.stderr()


def test_io_uring_empty_reply_to_a_request_with_payload(union, enable_uring):
    """The first request a ring entry serves is a GETXATTR (its name is
    payload, so the reply is staged) answered by an error without payload:
    that must reach the caller as the error (it was EIO once)."""
    enable_uring("Y")
    m, rw = mount_uring(union)
    for cpu in sorted(os.sched_getaffinity(0)):
        out = subprocess.run(
            ["/usr/bin/python3", "-c",
             "import os, errno, sys\n"
             "os.sched_setaffinity(0, {%d})\n"
             "for i in range(4):\n"
             "    try:\n"
             "        os.getxattr(sys.argv[1], 'user.none')\n"
             "    except OSError as e:\n"
             "        print(errno.errorcode[e.errno])\n" % cpu, m.mnt],
            capture_output=True, text=True, timeout=30)
        assert out.stdout.split() == ["ENODATA"] * 4, (cpu, out.stdout, out.stderr)
    problems = m.stop()
    assert not problems, problems
    assert "no reply to request" not in m.stderr()
