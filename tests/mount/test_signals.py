"""SIGTERM/SIGINT end the daemon cleanly: the mount and the runtime
directory go, and the exit status is 0 (no thread is cancelled mid-request)."""
import os
import signal
import threading
import time

import pytest

from lfsutil import mountinfo_entry, read, wait_unmounted


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts(union, sig):
    m = union.std(lowers=[{"f": "x"}])
    assert read(m.p("f")) == b"x"
    si = mountinfo_entry(m.mnt)["source"].split("si_")[1]
    m.proc.send_signal(sig)
    assert m.proc.wait(15) == 0, m.stderr()
    wait_unmounted(m.mnt, 10)
    assert mountinfo_entry(m.mnt) is None
    assert not os.path.exists("/run/layerfs/si_" + si)


@pytest.mark.parametrize("round_", range(6))
def test_signal_while_requests_flow_ends_cleanly(union, round_):
    """The unmount after a signal makes the kernel send FORGETs and ends
    the connection while workers are between two reads; none of that may
    count as a failure (exit status 0), whatever a worker was doing."""
    files = {"f%d" % i: "x%d" % i for i in range(200)}
    m = union.std(lowers=[{"d": files}])
    stop = threading.Event()
    served = []

    def hammer():
        while not stop.is_set():
            try:
                for name in os.listdir(m.p("d")):
                    with open(m.p("d", name), "rb") as f:
                        f.read()
                    served.append(name)
            except OSError:
                return        # the mount went away under us: expected

    t = threading.Thread(target=hammer)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while len(served) < 300 + 100 * round_ and time.monotonic() < deadline:
            time.sleep(0.005)
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(15)
    finally:
        stop.set()
        t.join(15)
    assert served, "no request was served before the signal"
    assert rc == 0, m.stderr()
    wait_unmounted(m.mnt, 10)
