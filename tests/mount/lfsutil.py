"""Helpers shared by the layerfs mount tests (standard library only)."""
import ctypes
import ctypes.util
import errno
import hashlib
import os
import pickle
import stat
import time
import traceback

WH = ".wh."
WH_BASE = ".wh..wh.aufs"
WH_OPQ = ".wh..wh..opq"
WH_ORPH = ".wh..wh.orph"
WH_PLNK = ".wh..wh.plnk"

NOBODY = 65534
OTHER = 1001


# ------------------------------------------------------------ tree specs
class F:
    """Regular file.  size > len(content) makes a sparse tail (hole);
    data_at = {offset: bytes} writes extra extents (sparse files)."""

    def __init__(self, content=b"", mode=0o644, uid=None, gid=None, mtime_ns=None,
                 atime_ns=None, xattrs=None, size=None, data_at=None):
        self.content = content.encode() if isinstance(content, str) else content
        self.mode, self.uid, self.gid = mode, uid, gid
        self.mtime_ns, self.atime_ns = mtime_ns, atime_ns
        self.xattrs = xattrs or {}
        self.size, self.data_at = size, data_at or {}


class D:
    def __init__(self, children=None, mode=0o755, uid=None, gid=None, mtime_ns=None,
                 atime_ns=None, xattrs=None, opaque=False):
        self.children = children or {}
        self.mode, self.uid, self.gid = mode, uid, gid
        self.mtime_ns, self.atime_ns = mtime_ns, atime_ns
        self.xattrs = xattrs or {}
        self.opaque = opaque


class L:
    def __init__(self, target, uid=None, gid=None, mtime_ns=None):
        self.target, self.uid, self.gid, self.mtime_ns = target, uid, gid, mtime_ns


class FIFO:
    def __init__(self, mode=0o644, uid=None, gid=None):
        self.mode, self.uid, self.gid = mode, uid, gid


class CHR:
    def __init__(self, major, minor, mode=0o600):
        self.major, self.minor, self.mode = major, minor, mode


class HL:
    """Hardlink to another path of the same branch (relative to the branch root);
    the target must come earlier in the spec (dict order)."""

    def __init__(self, relpath):
        self.relpath = relpath


WHITEOUT = F(b"", mode=0o644)   # a .wh.NAME file in a lower branch (name given literally)


def _set_meta(path, obj, is_link=False):
    if getattr(obj, "uid", None) is not None or getattr(obj, "gid", None) is not None:
        os.chown(path, obj.uid if obj.uid is not None else -1,
                 obj.gid if obj.gid is not None else -1, follow_symlinks=not is_link)
    if not is_link and hasattr(obj, "mode"):
        os.chmod(path, obj.mode)
    for k, v in getattr(obj, "xattrs", {}).items():
        os.setxattr(path, k, v.encode() if isinstance(v, str) else v, follow_symlinks=False)


def _set_times(path, obj, is_link=False):
    m = getattr(obj, "mtime_ns", None)
    a = getattr(obj, "atime_ns", None)
    if m is not None or a is not None:
        st = os.lstat(path)
        os.utime(path, ns=(a if a is not None else st.st_atime_ns,
                           m if m is not None else st.st_mtime_ns),
                 follow_symlinks=not is_link)


def build_tree(root, spec):
    """Fills directory ROOT from SPEC: {name: value}; value is a dict or D
    (directory), str/bytes or F (file), L (symlink), FIFO, CHR, HL (hardlink)."""
    root_of_branch = root

    def rec(d, sp):
        for name, v in sp.items():
            p = os.path.join(d, name)
            if isinstance(v, dict):
                v = D(v)
            if isinstance(v, (str, bytes)):
                v = F(v)
            if isinstance(v, D):
                os.mkdir(p)
                if v.opaque:
                    open(os.path.join(p, WH_OPQ), "wb").close()
                rec(p, v.children)
                _set_meta(p, v)
                _set_times(p, v)
            elif isinstance(v, F):
                with open(p, "wb") as f:
                    f.write(v.content)
                    for off, data in sorted(v.data_at.items()):
                        f.seek(off)
                        f.write(data)
                    if v.size is not None:
                        f.truncate(v.size)
                _set_meta(p, v)
                _set_times(p, v)
            elif isinstance(v, L):
                os.symlink(v.target, p)
                _set_meta(p, v, is_link=True)
                _set_times(p, v, is_link=True)
            elif isinstance(v, FIFO):
                os.mkfifo(p)
                _set_meta(p, v)
            elif isinstance(v, CHR):
                os.mknod(p, stat.S_IFCHR | v.mode, os.makedev(v.major, v.minor))
            elif isinstance(v, HL):
                os.link(os.path.join(root_of_branch, v.relpath), p)
            else:
                raise TypeError("bad spec entry %r: %r" % (name, v))

    rec(root, spec)


# ------------------------------------------------------------ snapshots
def _xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return ()
        raise
    return tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False)) for n in names))


def _hash_file(dfd, name):
    h = hashlib.sha256()
    fd = os.open(name, os.O_RDONLY | os.O_NOATIME | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    finally:
        os.close(fd)
    return h.hexdigest()


def snapshot(root):
    """Everything about a tree except atimes: {relpath: tuple}. Walks with
    directory fds, so trees deeper than PATH_MAX are fine."""
    out = {}

    def entry(dfd, name, rel):
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        p = "/proc/self/fd/%d/%s" % (dfd, name)
        extra = None
        if stat.S_ISREG(st.st_mode):
            extra = _hash_file(dfd, name)
        elif stat.S_ISLNK(st.st_mode):
            extra = os.readlink(name, dir_fd=dfd)
        out[rel or "."] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                           st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else None,
                           st.st_mtime_ns, st.st_ctime_ns, st.st_nlink, st.st_rdev,
                           st.st_ino, extra, _xattrs(p))
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                for n in sorted(os.listdir(sub)):
                    entry(sub, n, os.path.join(rel, n) if rel else n)
            finally:
                os.close(sub)

    parent = os.open(os.path.dirname(root.rstrip("/")) or "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        entry(parent, os.path.basename(root.rstrip("/")), "")
    finally:
        os.close(parent)
    return out


def tree(root, content=True):
    """User-level view of a tree (merged or branch): {relpath: description}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
                if os.path.islink(p):
                    out[rel] = ("link", os.readlink(p))
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
                if n in dirnames:
                    dirnames.remove(n)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = read(p) if content else "file"
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode))
    return out


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def ls(p):
    return sorted(os.listdir(p))


def exists(p):
    return os.path.lexists(p)


def errno_of(fn, *a, **kw):
    """Runs fn; returns 0 on success or the errno it failed with."""
    try:
        fn(*a, **kw)
        return 0
    except OSError as e:
        return e.errno


def ename(e):
    return errno.errorcode.get(e, str(e)) if e else "OK"


# ------------------------------------------------------------ mountinfo
def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mountinfo_entries():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.rstrip("\n").split(" - ", 1)
            lf = left.split(" ")
            rf = right.split(" ")
            out.append({"mnt": _unescape(lf[4]), "opts": lf[5], "fstype": rf[0],
                        "source": _unescape(rf[1]), "superopts": rf[2] if len(rf) > 2 else ""})
    return out


def mountinfo_entry(mnt):
    mnt = os.path.realpath(mnt)
    found = None
    for e in mountinfo_entries():
        if e["mnt"] == mnt:
            found = e      # the last one is the top of the stack
    return found


def wait_unmounted(mnt, timeout):
    deadline = time.monotonic() + timeout
    while mountinfo_entry(mnt) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def layerfs_mounts():
    return [e for e in mountinfo_entries() if e["fstype"] == "fuse.layerfs"]


# ------------------------------------------------------------ other users
def as_user(uid, gid, fn, *args, umask=0o022, groups=()):
    """Runs fn(*args) in a forked child with the given credentials.
    Returns ('ok', value) or ('err', errno); other exceptions are re-raised
    in the parent as AssertionError with the child's traceback."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.umask(umask)
            try:
                res = ("ok", fn(*args))
            except OSError as e:
                res = ("err", e.errno)
            except BaseException:
                res = ("exc", traceback.format_exc())
            data = pickle.dumps(res)
        except BaseException:
            data = pickle.dumps(("exc", traceback.format_exc()))
        try:
            os.write(w, data)
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    res = pickle.loads(b"".join(chunks))
    if res[0] == "exc":
        raise AssertionError("child as uid %d failed:\n%s" % (uid, res[1]))
    return res


def outcome(fn, *args):
    """('ok', value) or ('err', errno) for fn(*args) in this process."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", e.errno)


# ------------------------------------------------------------ raw syscalls
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _check(ret, what):
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
    return ret


def renameat2(old, new, flags):
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_uint]
    return _check(libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags),
                  "renameat2")


def fallocate(fd, mode, offset, length):
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    return _check(libc.fallocate(fd, mode, offset, length), "fallocate")


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime, nofollow=False):
    """atime/mtime: (sec, nsec) tuples or UTIME_NOW / UTIME_OMIT."""
    def ts(v):
        if v in (UTIME_NOW, UTIME_OMIT):
            return _Timespec(0, v)
        return _Timespec(v[0], v[1])
    arr = (_Timespec * 2)(ts(atime), ts(mtime))
    libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return _check(libc.utimensat(AT_FDCWD, os.fsencode(path), arr,
                                 0x100 if nofollow else 0), "utimensat")


class _Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


class DirStream:
    """opendir/readdir/telldir/seekdir through libc."""

    def __init__(self, path):
        libc.opendir.restype = ctypes.c_void_p
        libc.opendir.argtypes = [ctypes.c_char_p]
        libc.readdir64.restype = ctypes.POINTER(_Dirent)
        libc.readdir64.argtypes = [ctypes.c_void_p]
        libc.telldir.restype = ctypes.c_long
        libc.telldir.argtypes = [ctypes.c_void_p]
        libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
        libc.seekdir.restype = None
        libc.closedir.argtypes = [ctypes.c_void_p]
        self.d = libc.opendir(os.fsencode(path))
        if not self.d:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)

    def read(self):
        ctypes.set_errno(0)
        ent = libc.readdir64(self.d)
        if not ent:
            e = ctypes.get_errno()
            if e:
                raise OSError(e, os.strerror(e))
            return None
        return ent.contents.d_name.decode()

    def tell(self):
        return libc.telldir(self.d)

    def seek(self, pos):
        libc.seekdir(self.d, pos)

    def close(self):
        if self.d:
            libc.closedir(self.d)
            self.d = None


def drop_caches():
    """Makes the kernel forget cached dentries/inodes (FUSE FORGETs follow)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def data_ls(p):
    """Listing of a branch directory without branch metadata (.wh..wh.* other
    than the opaque marker): user data, whiteouts and opaque markers."""
    return sorted(n for n in os.listdir(p)
                  if not n.startswith(".wh..wh.") or n == WH_OPQ)
