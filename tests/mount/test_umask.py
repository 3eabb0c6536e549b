"""New objects get exactly the mode the caller asked for minus the caller's
umask — the daemon's own umask must not take anything more away."""
import os
import stat

import pytest

from lfsutil import as_user


def make_all(base, umask):
    os.umask(umask)
    with open(os.path.join(base, "f"), "w"):
        pass
    os.mkdir(os.path.join(base, "d"), 0o777)
    os.mkfifo(os.path.join(base, "p"), 0o666)
    return [stat.S_IMODE(os.lstat(os.path.join(base, n)).st_mode) for n in ("f", "d", "p")]


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022, 0o077])
def test_modes_follow_the_callers_umask(union, umask):
    m = union.std(lowers=[{}])
    ref = union.mkdir("ref", mode=0o777)
    os.chmod(m.mnt, 0o777)
    got = as_user(1001, 1001, make_all, m.mnt, umask)
    want = as_user(1001, 1001, make_all, ref, umask)
    assert got == want == ("ok", [0o666 & ~umask, 0o777 & ~umask, 0o666 & ~umask])
