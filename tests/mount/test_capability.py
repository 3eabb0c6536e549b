"""File capabilities survive copy-up."""
import os
import subprocess


def test_copyup_keeps_file_capability(union):
    """security.capability survives copy-up (chown would drop it if it ran
    after the xattrs were copied)."""
    low = union.branch("low", {"prog": "#!/bin/sh\n"})
    prog = os.path.join(low, "prog")
    os.chown(prog, 1000, 1000)
    os.chmod(prog, 0o4755)
    subprocess.run(["setcap", "cap_net_raw+ep", prog], check=True)
    cap = os.getxattr(prog, "security.capability")
    rw = union.branch("rw", {})
    m = union.mount([(rw, "rw"), (low, "ro+wh")])
    os.utime(m.p("prog"), ns=(10**9, 2 * 10**9))
    up = os.path.join(rw, "prog")
    assert os.getxattr(up, "security.capability") == cap
    st = os.lstat(up)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o4755, 1000, 1000)
    assert os.getxattr(m.p("prog"), "security.capability") == cap
