"""Issue 15, lever 2: POSIX ACLs by the kernel (FUSE_POSIX_ACL). Access ACLs
are enforced, default ACLs are inherited by what is made through the
mount, the umask applies where there is no default ACL; each case is
compared with ext4 (this test's directory) in the same test. The kernel
caches ACLs: a second `ls -l` asks layerfs for none."""
import errno
import os
import subprocess

import pytest

from lfsutil import D, F, as_user, errno_of, read

USER = 1000


def setfacl(*args):
    subprocess.run(["setfacl"] + list(args), check=True)


def getfacl(p):
    out = subprocess.run(["getfacl", "-cpn", p], check=True, capture_output=True,
                         text=True).stdout
    return sorted(line for line in out.splitlines() if line and not line.startswith("#"))


def spec():
    return {"secret": F("s3cret", mode=0o600), "open": F("for all", mode=0o644),
            "shared": D({"inner": F("in", mode=0o640)}, mode=0o750),
            "inherit": D({}, mode=0o755)}


def prepare(root):
    setfacl("-m", "u:%d:r" % USER, os.path.join(root, "secret"))
    setfacl("-m", "u:%d:---" % USER, os.path.join(root, "open"))
    setfacl("-m", "u:%d:rx" % USER, os.path.join(root, "shared"))
    setfacl("-m", "u:%d:r" % USER, os.path.join(root, "shared", "inner"))
    setfacl("-d", "-m", "u:%d:rwx,g::r-x,o::-" % USER, os.path.join(root, "inherit"))


@pytest.fixture(params=["lower", "rw"])
def pair(request, union, ref):
    """(mount, ext4 directory) with the same files and ACLs; the files in a
    lower branch (changes copy up, ACLs with them) or in the rw branch."""
    rw = union.branch("rw", spec() if request.param == "rw" else {})
    low = union.branch("l1", spec() if request.param == "lower" else {"u": "u"})
    prepare(rw if request.param == "rw" else low)
    m = union.mount([(rw, "rw"), (low, "ro+wh")], extra_args=("-d",))
    r = ref("ext4", spec())
    prepare(r)
    return m, r


def both(pair, fn, uid=USER):
    m, r = pair
    return as_user(uid, uid, fn, m.mnt), as_user(uid, uid, fn, r)


def test_access_acl_grants_and_denies(pair):
    def reads(root):
        out = {}
        for rel in ("secret", "open", "shared/inner"):
            try:
                out[rel] = read(os.path.join(root, rel))
            except OSError as e:
                out[rel] = e.errno
        out["list"] = sorted(os.listdir(os.path.join(root, "shared")))
        return out
    got, want = both(pair, reads)
    assert got == want
    assert want[1] == {"secret": b"s3cret", "open": 13, "shared/inner": b"in",
                       "list": ["inner"]}


def test_acl_changed_through_the_mount_is_enforced_at_once(pair):
    m, r = pair
    seen = []
    for root in (m.mnt, r):
        got = [as_user(USER, USER, read, os.path.join(root, "secret"))[0]]
        setfacl("-x", "u:%d" % USER, os.path.join(root, "secret"))
        got.append(as_user(USER, USER, read, os.path.join(root, "secret")))
        # An empty mask: Linux then looks at the mode bits alone.
        os.chmod(os.path.join(root, "open"), 0o604)
        got.append(as_user(USER, USER, read, os.path.join(root, "open")))
        os.chmod(os.path.join(root, "open"), 0o644)
        got.append(as_user(USER, USER, read, os.path.join(root, "open")))
        seen.append(got)
    assert seen[0] == seen[1]
    assert seen[1] == ["ok", ("err", 13), ("ok", b"for all"), ("err", 13)]
    assert getfacl(m.p("secret")) == getfacl(os.path.join(r, "secret"))
    assert getfacl(m.p("open")) == getfacl(os.path.join(r, "open"))


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_default_acl_is_inherited(pair, umask):
    m, r = pair

    def make(root):
        d = os.path.join(root, "inherit")
        os.close(os.open(os.path.join(d, "file"), os.O_CREAT | os.O_WRONLY, 0o666))
        os.mkdir(os.path.join(d, "dir"), 0o777)
        os.mkfifo(os.path.join(d, "fifo"), 0o666)
        os.mkdir(os.path.join(d, "dir", "deeper"), 0o750)
        os.close(os.open(os.path.join(d, "dir", "f2"), os.O_CREAT | os.O_WRONLY, 0o640))
        return None
    for root in (m.mnt, r):
        old = os.umask(umask)
        try:
            make(root)
        finally:
            os.umask(old)
    for rel in ("file", "dir", "fifo", "dir/deeper", "dir/f2"):
        got = getfacl(m.p("inherit", rel))
        assert got == getfacl(os.path.join(r, "inherit", rel)), rel
        assert oct(os.stat(m.p("inherit", rel)).st_mode) == \
            oct(os.stat(os.path.join(r, "inherit", rel)).st_mode), rel
    assert "user:%d:rwx" % USER in "\n".join(getfacl(m.p("inherit", "file")))
    assert any(x.startswith("default:") for x in getfacl(m.p("inherit", "dir", "deeper")))
    # The inherited ACL is enforced: the user may write the new file.
    assert as_user(USER, USER, lambda: open(m.p("inherit", "file"), "ab").close())[0] == "ok"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0])
def test_umask_without_default_acl(pair, umask):
    m, r = pair

    def make(root):
        os.close(os.open(os.path.join(root, "new-%o" % umask), os.O_CREAT | os.O_WRONLY, 0o666))
        os.mkdir(os.path.join(root, "newdir-%o" % umask), 0o777)
        os.mknod(os.path.join(root, "fifo-%o" % umask), 0o10666)
    for root in (m.mnt, r):
        old = os.umask(umask)
        try:
            make(root)
        finally:
            os.umask(old)
    for n in ("new-%o", "newdir-%o", "fifo-%o"):
        n = n % umask
        assert os.stat(m.p(n)).st_mode == os.stat(os.path.join(r, n)).st_mode, n
        assert getfacl(m.p(n)) == getfacl(os.path.join(r, n))


def test_acl_set_by_owner_outside_the_group_drops_setgid(union, ref):
    """Setting an access ACL by a caller neither in the file's group nor
    with CAP_FSETID drops setgid (posix_acl_update_mode), file and
    directory alike, as on ext4."""
    spec = {"f": F("x", mode=0o2775, uid=USER, gid=4242),
            "d": D({}, mode=0o2775, uid=USER, gid=4242),
            "mine": F("y", mode=0o2775, uid=USER, gid=USER)}
    low = union.branch("l1", spec)
    m = union.mount([(union.branch("rw", {}), "rw"), (low, "ro+wh")])
    r = ref("ext4", spec)

    def acl(root):
        for n in ("f", "d", "mine"):
            subprocess.run(["setfacl", "-m", "u:65534:r", os.path.join(root, n)], check=True)
    for root in (m.mnt, r):
        assert as_user(USER, USER, acl, root)[0] == "ok"
    for n in ("f", "d", "mine"):
        assert oct(os.stat(m.p(n)).st_mode) == oct(os.stat(os.path.join(r, n)).st_mode), n
        assert getfacl(m.p(n)) == getfacl(os.path.join(r, n))
    assert not os.stat(m.p("f")).st_mode & 0o2000 and os.stat(m.p("mine")).st_mode & 0o2000


def requests(m, opcode):
    return m.stderr().count("opcode: %s (" % opcode)


def asked(m, name):
    return m.stderr().count("getxattr %s\n" % name)


def test_ls_l_asks_no_acl_per_file(union):
    """The kernel caches ACLs: once each file's was read, `ls -l` of 50
    files (one with an ACL) asks layerfs for no system.posix_acl_access
    (security.selinux, which ls asks too, FUSE cannot cache)."""
    files = {"f%02d" % i: F("x") for i in range(50)}
    low = union.branch("l1", {"d": D(files)})
    setfacl("-m", "u:%d:r" % USER, os.path.join(low, "d", "f07"))
    m = union.mount([(union.branch("rw", {}), "rw"), (low, "ro+wh")], extra_args=("-d",))
    first = subprocess.run(["ls", "-l", m.p("d")], check=True, capture_output=True,
                           text=True).stdout
    acl_first = asked(m, "system.posix_acl_access")
    assert acl_first >= 50
    second = subprocess.run(["ls", "-l", m.p("d")], check=True, capture_output=True,
                            text=True).stdout
    assert first == second and "-rw-r--r--+" in second
    assert asked(m, "system.posix_acl_access") == acl_first


def _host_runs_selinux():
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "selinuxfs" for line in f if line.strip())


def test_ls_l_stops_asking_security_selinux_without_selinux(union):
    """ls -l asks security.selinux of every file (libselinux), which FUSE
    cannot cache. On a host whose kernel runs no SELinux layerfs says "not
    supported" for a file without one, and ls asks no more on this
    filesystem; a file that carries one still shows it. With SELinux the
    answer stays ENODATA."""
    files = {"f%02d" % i: F("x") for i in range(50)}
    low = union.branch("l1", {"d": D(files), "labelled": F("l")})
    os.setxattr(os.path.join(low, "labelled"), "security.selinux", b"system_u:object_r:x:s0")
    m = union.mount([(union.branch("rw", {}), "rw"), (low, "ro+wh")], extra_args=("-d",))
    assert os.getxattr(m.p("labelled"), "security.selinux") == b"system_u:object_r:x:s0"
    selinux = _host_runs_selinux()
    want = errno.ENODATA if selinux else errno.EOPNOTSUPP
    assert errno_of(os.getxattr, m.p("d", "f01"), "security.selinux") == want
    assert errno_of(os.getxattr, m.p("d", "f02"), "user.none") == errno.ENODATA
    before = asked(m, "security.selinux")
    subprocess.run(["ls", "-l", m.p("d")], check=True, capture_output=True)
    during = asked(m, "security.selinux") - before
    if selinux:
        assert during >= 50
    else:
        assert during <= 1, during     # was one per file (50)


def test_noacl_leaves_acls_to_the_mode_bits(union):
    """fuse-overlayfs's noacl: the kernel neither asks nor enforces ACLs."""
    low = union.branch("l1", {"secret": F("s", mode=0o600)})
    setfacl("-m", "u:%d:r" % USER, os.path.join(low, "secret"))
    m = union.mount([(union.branch("rw", {}), "rw"), (low, "ro+wh")], opts=["noacl"])
    assert as_user(USER, USER, read, m.p("secret")) == ("err", 13)
