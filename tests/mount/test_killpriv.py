"""Issue 15, lever 1: layerfs drops setuid, setgid and file capabilities
itself (FUSE_HANDLE_KILLPRIV_V2), exactly when ext4 does: every case runs
on a file in the mount (in a lower branch and in the rw branch) and on the
same file on ext4 (this test's directory), as root and as other users, and
the modes and capabilities left must be equal. The kernel then asks no
security.capability before every write."""
import os
import subprocess

import pytest

from lfsutil import F, as_user, read

CAP = "cap_net_raw+ep"
OWNER, OTHER = 1000, 65534


def has_cap(p):
    try:
        os.getxattr(p, "security.capability")
        return True
    except OSError:
        return False


def prepare(p, mode, uid=OWNER, gid=OWNER, cap=False):
    os.chown(p, uid, gid)
    os.chmod(p, mode)
    if cap:
        subprocess.run(["setcap", CAP, p], check=True)


def state(p):
    st = os.lstat(p)
    return oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, has_cap(p), st.st_size


# What each change does, run as some user on path p.
def do_write(p):
    with open(p, "ab") as f:
        f.write(b"more\n")


def do_pwrite(p):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, b"X", 1)
    finally:
        os.close(fd)


def do_truncate(p):
    os.truncate(p, 3)


def do_ftruncate(p):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.ftruncate(fd, 2)
    finally:
        os.close(fd)


def do_otrunc(p):
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))


def do_chown_same(p):
    st = os.lstat(p)
    os.chown(p, st.st_uid, st.st_gid)


def do_chown_other(p):
    os.chown(p, 4000, 4000)


def do_chown_none(p):
    os.chown(p, -1, -1)


def do_open_no_write(p):
    os.close(os.open(p, os.O_WRONLY))


CHANGES = {
    "write": do_write, "pwrite": do_pwrite, "truncate": do_truncate,
    "ftruncate": do_ftruncate, "otrunc": do_otrunc, "open-only": do_open_no_write,
    "chown-same": do_chown_same, "chown-other": do_chown_other, "chown-none": do_chown_none,
}
# (mode, caller uid, caller gid): the owner, a stranger (the file lets
# everyone write), root; setgid with and without group-exec.
CASES = [
    (0o4755, OWNER, OWNER), (0o2755, OWNER, OWNER), (0o6755, OWNER, OWNER),
    (0o2745, OWNER, OWNER), (0o6777, OTHER, OTHER), (0o2767, OTHER, OTHER),
    (0o6777, 0, 0), (0o2767, 0, 0), (0o0755, OWNER, OWNER),
]


def run_change(change, p, uid, gid):
    fn = CHANGES[change]
    if uid == 0:
        fn(p)
        return ("ok", None)
    return as_user(uid, gid, fn, p)


@pytest.fixture(params=["lower", "rw"])
def where(request):
    return request.param


def mount_with(union, where, names, setup):
    """Files names in a lower branch or the rw branch, each given its mode
    (and capability) by setup(path, name) before the mount."""
    spec = {n: F("#!/bin/sh\necho hi\n") for n in names}
    rw = union.branch("rw", spec if where == "rw" else {})
    low = union.branch("l1", spec if where == "lower" else {"unrelated": "u"})
    base = low if where == "lower" else rw
    for n in names:
        setup(os.path.join(base, n), n)
    return union.mount([(rw, "rw"), (low, "ro+wh")])


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_setuid_setgid_dropped_as_on_ext4(union, ref, where, change):
    names = ["f%d" % i for i in range(len(CASES))]
    modes = dict(zip(names, (c[0] for c in CASES)))

    def setup(p, n):
        prepare(p, modes[n])
    m = mount_with(union, where, names, setup)
    r = ref("ext4", {n: F("#!/bin/sh\necho hi\n") for n in names})
    for n in names:
        setup(os.path.join(r, n), n)
    for n, (mode, uid, gid) in zip(names, CASES):
        if change in ("chown-same", "chown-other") and uid != 0:
            continue      # only root may give files away
        got = run_change(change, m.p(n), uid, gid)
        want = run_change(change, os.path.join(r, n), uid, gid)
        assert got == want, (n, oct(mode), uid)
        assert state(m.p(n)) == state(os.path.join(r, n)), (change, oct(mode), uid)


@pytest.mark.parametrize("change", ["write", "truncate", "otrunc", "chown-same", "chown-none",
                                    "open-only"])
def test_capability_dropped_as_on_ext4(union, ref, where, change):
    names = ["root-file", "user-file"]

    def setup(p, n):
        if n == "root-file":
            prepare(p, 0o755, uid=0, gid=0, cap=True)
        else:
            prepare(p, 0o777, cap=True)
    m = mount_with(union, where, names, setup)
    r = ref("ext4", {n: F("#!/bin/sh\necho hi\n") for n in names})
    for n in names:
        setup(os.path.join(r, n), n)
    assert has_cap(m.p("root-file"))
    for n, uid in (("root-file", 0), ("user-file", OTHER)):
        if change == "chown-same" and uid != 0:
            continue
        assert run_change(change, m.p(n), uid, uid) == run_change(change, os.path.join(r, n),
                                                                 uid, uid)
        assert state(m.p(n)) == state(os.path.join(r, n)), (n, change)


def requests(m, opcode):
    return m.stderr().count("opcode: %s (" % opcode)


@pytest.mark.parametrize("passthrough", ["on", "off"])
def test_no_capability_question_before_every_write(union, passthrough):
    """With KILLPRIV_V2 the kernel marks an inode that has nothing to drop
    and asks no more: after the first write, 199 more ask nothing (before:
    one GETXATTR security.capability per write)."""
    rw = union.branch("rw", {"plain": F("x", mode=0o666)})
    m = union.mount([(rw, "rw"), (union.branch("l1", {"x": "x"}), "ro+wh")],
                    opts=["passthrough=" + passthrough], extra_args=("-d",))

    def writes():
        fd = os.open(m.p("plain"), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"y")      # lookups, permission checks, the first question
            first = requests(m, "GETXATTR")
            for _ in range(199):
                os.write(fd, b"y")
            return first
        finally:
            os.close(fd)
    res = as_user(OWNER, OWNER, writes)
    assert res[0] == "ok"
    assert requests(m, "GETXATTR") == res[1]
    assert read(os.path.join(rw, "plain")) == b"x" + b"y" * 200
    if passthrough == "off":
        assert requests(m, "WRITE") >= 200


def test_privileged_files_are_not_passed_through(union):
    """Writes through FUSE passthrough never reach layerfs: a setuid file
    is served by the daemon, which drops the bit; a plain one is passed
    through."""
    rw = union.branch("rw", {"suid": F("a", mode=0o4777, uid=0),
                             "capf": F("b", mode=0o777), "plain": F("c", mode=0o777)})
    subprocess.run(["setcap", CAP, os.path.join(rw, "capf")], check=True)
    m = union.mount([(rw, "rw"), (union.branch("l1", {"x": "x"}), "ro+wh")],
                    extra_args=("-d",))
    w0 = requests(m, "WRITE")
    assert as_user(OTHER, OTHER, do_write, m.p("plain"))[0] == "ok"
    assert requests(m, "WRITE") == w0
    assert as_user(OTHER, OTHER, do_write, m.p("suid"))[0] == "ok"
    w1 = requests(m, "WRITE")
    assert w1 > w0
    assert oct(os.stat(m.p("suid")).st_mode & 0o7777) == "0o777"
    assert oct(os.stat(os.path.join(rw, "suid")).st_mode & 0o7777) == "0o777"
    assert as_user(OTHER, OTHER, do_write, m.p("capf"))[0] == "ok"
    assert requests(m, "WRITE") > w1
    assert not has_cap(m.p("capf")) and not has_cap(os.path.join(rw, "capf"))


def test_privileges_gained_while_passed_through_are_dropped(union, ref):
    """A file opened through passthrough (nothing to drop then) that gains
    setgid/setuid while open: a write by another user, through that open
    file or a new one (the kernel passes both through), still drops them
    (the kernel's kill request before the write)."""
    spec = {n: F("x\n", mode=0o777, uid=OWNER, gid=OWNER) for n in ("same", "new")}
    rw = union.branch("rw", spec)
    m = union.mount([(rw, "rw"), (union.branch("l1", {"x": "x"}), "ro+wh")],
                    extra_args=("-d",))
    r = ref("ext4", spec)
    for root in (m.mnt, r):
        for n in spec:
            os.chown(os.path.join(root, n), OWNER, OWNER)
        held = os.open(os.path.join(root, "new"), os.O_WRONLY)   # by root
        os.chmod(os.path.join(root, "new"), 0o6777)

        def through_same(p):
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, b"a")
                os.chmod(p, 0o2777)           # the owner, while it is open
                os.write(fd, b"b")
            finally:
                os.close(fd)
        assert as_user(OWNER, OWNER, through_same, os.path.join(root, "same"))[0] == "ok"
        assert as_user(OTHER, OTHER, do_write, os.path.join(root, "new"))[0] == "ok"
        os.close(held)
    for n in spec:
        assert state(m.p(n)) == state(os.path.join(r, n)), n
        assert state(os.path.join(rw, n)) == state(os.path.join(r, n)), n
    assert requests(m, "WRITE") == 0          # all of it passed through
