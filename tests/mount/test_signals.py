"""SIGTERM/SIGINT end the daemon cleanly: the mount and the runtime
directory go, and the exit status is 0 (no thread is cancelled mid-request)."""
import os
import signal

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
