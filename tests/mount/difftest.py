"""Differential testing of layerfs against the kernel's overlayfs.

The same lower layers are built twice, in aufs's spelling for layerfs
(`.wh.NAME` files, `.wh..wh..opq` markers) and in overlayfs's (0:0
character devices, the `trusted.overlay.opaque` xattr). layerfs and kernel
overlayfs (index=on, so that hardlinks stay one inode across copy-up as
they do in layerfs; redirect_dir=on, so that lower directories can be
renamed) are mounted over them with empty upper directories, and every
operation of a sequence runs on both. Every result (value or errno) is
compared, and the whole merged tree: types, modes, owners, sizes, contents,
link targets, xattrs, link counts, which mtimes are still the lower
layers' (or set by utimes) and which changed, and which names share an
inode number.

The one list of the differences we accept is DIFFERENCES below; nothing
else is ignored anywhere. README.md's "Differences from ext4" refers here.

Sequences are generated from a seed (difftest_gen.py), so a failing seed
is reproduced exactly; shrink() cuts a failing sequence down to a minimal
one and format_repro() prints it as a test could be written.
"""
import errno
import hashlib
import os
import stat
import subprocess
import time
import traceback

from lfsutil import RENAME_EXCHANGE, renameat2, mountinfo_entry, wait_unmounted

# Times of everything in the lower layers (and the values utimes sets):
# a time at or above NEW_TIME was set by the filesystem ("now").
LOWER_TIME = 1_000_000_000 * 10**9
UTIME_VALUES = [1_100_000_000 * 10**9 + k * 7_000_000_123 for k in range(4)]
NEW_TIME = 1_400_000_000 * 10**9

OVERLAY_OPTIONS = "index=on,redirect_dir=on"
# Both sides with metadata-only copy-up (layerfs's and overlayfs's
# metacopy=on): set by test_differential's metacopy round.
METACOPY = False


# ------------------------------------------------------------------ layers
# A layer is a list of entries (dicts), parents before children:
#   {"t": "dir", "p": path, "mode", "uid", "gid", "opaque": bool}
#   {"t": "file", "p", "data": str, "mode", "uid", "gid"}
#   {"t": "link", "p", "target"}      {"t": "hard", "p", "to": path}
#   {"t": "fifo", "p", "mode"}        {"t": "wh", "p"}   (a whiteout)
#   any entry but wh/hard may carry "xattrs": {name: value}
# Layers are listed top first, as branches are.

def _set_owner_mode(p, e):
    if e.get("uid") is not None or e.get("gid") is not None:
        os.chown(p, e.get("uid", 0) or 0, e.get("gid", 0) or 0, follow_symlinks=False)
    if e["t"] in ("dir", "file", "fifo"):
        os.chmod(p, e["mode"])


def build_layer(root, entries, overlay):
    """Fills ROOT with ENTRIES, in overlayfs's spelling when OVERLAY."""
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    touched = [root]
    for e in entries:
        p = os.path.join(root, e["p"])
        t = e["t"]
        if t == "dir":
            os.mkdir(p)
            if e.get("opaque"):
                if overlay:
                    os.setxattr(p, "trusted.overlay.opaque", b"y")
                else:
                    open(os.path.join(p, ".wh..wh..opq"), "wb").close()
        elif t == "file":
            with open(p, "wb") as f:
                f.write(e["data"].encode())
        elif t == "link":
            os.symlink(e["target"], p)
        elif t == "hard":
            os.link(os.path.join(root, e["to"]), p)
            continue
        elif t == "fifo":
            os.mkfifo(p)
        elif t == "wh":
            d, n = os.path.split(p)
            if overlay:
                os.mknod(p, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            else:
                open(os.path.join(d, ".wh." + n), "wb").close()
            continue
        _set_owner_mode(p, e)
        for k, v in e.get("xattrs", {}).items():
            os.setxattr(p, k, v.encode(), follow_symlinks=False)
        touched.append(p)
    # Times last, deepest first: making children changes a directory's.
    for i, p in enumerate(sorted(touched, key=lambda x: -x.count("/"))):
        os.utime(p, ns=(LOWER_TIME, LOWER_TIME + i * 1000), follow_symlinks=False)


# ------------------------------------------------------------------ mounts
def _umount(mnt):
    if mountinfo_entry(mnt) is None:
        return
    r = subprocess.run(["umount", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        raise AssertionError("umount %s: %s" % (mnt, r.stderr.strip()))
    wait_unmounted(mnt, 5.0)


class Side:
    """One of the two mounts, with its own table of open files."""

    def __init__(self, name, mnt):
        self.name, self.mnt = name, mnt
        self.fds = {}

    def p(self, rel):
        return os.path.join(self.mnt, rel) if rel else self.mnt

    def close_all(self):
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()


class Pair:
    """layerfs and kernel overlayfs over copies of the same layers."""

    serial = 0

    def __init__(self, union, layers, spelling="br"):
        Pair.serial += 1
        self.union = union
        self.layers = layers
        self.spelling = spelling
        self.history = []       # (operation, results) of those run on both sides
        base = union.mkdir("pair-%d" % Pair.serial)
        self.base = base
        self.lfs_layers, self.ovl_layers = [], []
        for i, entries in enumerate(layers):
            a = os.path.join(base, "aufs-L%d" % i)
            o = os.path.join(base, "ovl-L%d" % i)
            build_layer(a, entries, overlay=False)
            build_layer(o, entries, overlay=True)
            self.lfs_layers.append(a)
            self.ovl_layers.append(o)
        for d in ("rw", "lwork", "upper", "work", "mnt-l", "mnt-o"):
            os.mkdir(os.path.join(base, d))
        # The upper roots get a time of the past, like the layers: a change
        # of theirs that users did not make shows.
        for d in ("rw", "upper"):
            os.chmod(os.path.join(base, d), 0o755)
            os.utime(os.path.join(base, d), ns=(LOWER_TIME, LOWER_TIME))
        self.rw = os.path.join(base, "rw")
        self.upper = os.path.join(base, "upper")
        self.mnt_l = os.path.join(base, "mnt-l")
        self.mnt_o = os.path.join(base, "mnt-o")
        self.lfs = None
        self.umask = 0o022
        self._mount_lfs()
        self._mount_ovl()
        self.sides = [Side("layerfs", self.mnt_l), Side("overlay", self.mnt_o)]

    def _mount_lfs(self):
        opts = ("metacopy=on",) if METACOPY else ()
        if self.spelling == "br":
            self.lfs = self.union.mount([(self.rw, "rw")] +
                                        [(d, "ro+wh") for d in self.lfs_layers], mnt=self.mnt_l,
                                        opts=opts)
        else:
            self.lfs = self.union.mount_overlay(self.lfs_layers, upperdir=self.rw,
                                                workdir=os.path.join(self.base, "lwork"),
                                                mnt=self.mnt_l, opts=opts)

    def _mount_ovl(self):
        opts = "lowerdir=%s,upperdir=%s,workdir=%s,%s" % (
            ":".join(self.ovl_layers), self.upper, os.path.join(self.base, "work"),
            OVERLAY_OPTIONS + (",metacopy=on" if METACOPY else ""))
        # Right after an unmount the old superblock may hold the upper
        # directory a moment longer ("in-use as upperdir"): try again.
        deadline = time.monotonic() + 5.0
        while True:
            r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, self.mnt_o],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError("mount -t overlay -o %s: %s" % (opts, r.stderr.strip()))
            time.sleep(0.05)
        if self.mnt_o not in self.union.extra_mounts:
            self.union.extra_mounts.append(self.mnt_o)

    def remount(self):
        for s in self.sides:
            s.close_all()
        problems = self.lfs.stop()
        if problems:
            raise AssertionError("layerfs before remount: " + "\n".join(problems))
        self.lfs.start()
        _umount(self.mnt_o)
        self._mount_ovl()

    def close(self):
        """Unmounts both; returns the daemon's problems (exit status,
        sanitizer reports)."""
        for s in self.sides:
            s.close_all()
        problems = self.lfs.stop() if self.lfs else []
        _umount(self.mnt_o)
        if self.mnt_o in self.union.extra_mounts:
            self.union.extra_mounts.remove(self.mnt_o)
        return problems


# ------------------------------------------------------------------ ops
# An operation is a tuple ("name", args...) of plain values, so that a
# sequence can be printed and pasted back. Paths are relative to the mount.

FLAG_SETS = {
    "r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR, "a": os.O_WRONLY | os.O_APPEND,
    "trunc": os.O_WRONLY | os.O_TRUNC, "rwtrunc": os.O_RDWR | os.O_TRUNC,
    "dir": os.O_RDONLY | os.O_DIRECTORY,
}
CREATE_FLAGS = {"plain": 0, "excl": os.O_EXCL, "trunc": os.O_TRUNC}


def big(n, k=0):
    return bytes((i * 31 + k) & 0xFF for i in range(n))


def _data(d):
    return d.encode() if isinstance(d, str) else big(*d)


def mtime_class(ns):
    return ns if ns < NEW_TIME else "new"


def stat_view(st):
    """What a stat result is compared by (inode numbers: see snapshot)."""
    t = stat.S_IFMT(st.st_mode)
    return (stat.filemode(st.st_mode), st.st_uid, st.st_gid,
            None if t == stat.S_IFDIR else st.st_size, st.st_nlink,
            st.st_rdev if t in (stat.S_IFCHR, stat.S_IFBLK) else 0,
            mtime_class(st.st_mtime_ns))


def _digest(b):
    return "%d:%s" % (len(b), hashlib.sha1(b).hexdigest()[:12])


def _read_all(p):
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not-regular"
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        return _digest(b"".join(chunks))
    finally:
        os.close(fd)


def _open_slot(side, slot, path, how):
    if slot in side.fds:
        os.close(side.fds.pop(slot))
    side.fds[slot] = os.open(side.p(path), FLAG_SETS[how] | os.O_NONBLOCK)


def _fd(side, slot):
    if slot not in side.fds:
        raise OSError(errno.EBADF, "no such slot")
    return side.fds[slot]


def _close_slot(side, slot):
    os.close(_fd(side, slot))
    del side.fds[slot]


def _creat(side, path, mode, how):
    os.close(os.open(side.p(path), os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK | CREATE_FLAGS[how],
                     mode))


def _write(side, path, off, data, append=False):
    fd = os.open(side.p(path), os.O_WRONLY | os.O_NONBLOCK | (os.O_APPEND if append else 0))
    try:
        return os.write(fd, _data(data)) if append else os.pwrite(fd, _data(data), off)
    finally:
        os.close(fd)


def _utime(side, path, atime, mtime):
    now = time.time_ns()
    os.utime(side.p(path), ns=(atime if atime is not None else now,
                                mtime if mtime is not None else now), follow_symlinks=False)


def acl_xattr(entries):
    """The xattr form of an ACL: [(tag, perm, id)] (tags: 1 user::, 2 user:ID,
    4 group::, 8 group:ID, 16 mask::, 32 other::)."""
    out = (2).to_bytes(4, "little")
    for tag, perm, ident in entries:
        out += tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + \
            (ident & 0xFFFFFFFF).to_bytes(4, "little")
    return out


def _xattrs(p):
    names = sorted(n for n in os.listxattr(p, follow_symlinks=False) if not n.startswith("trusted."))
    return tuple((n, os.getxattr(p, n, follow_symlinks=False)) for n in names)


OPS = {
    "creat": lambda s, path, mode, how: _creat(s, path, mode, how),
    "write": lambda s, path, off, data: _write(s, path, off, data),
    "append": lambda s, path, data: _write(s, path, 0, data, append=True),
    "truncate": lambda s, path, size: os.truncate(s.p(path), size),
    "read": lambda s, path: _read_all(s.p(path)),
    "mkdir": lambda s, path, mode: os.mkdir(s.p(path), mode),
    "rmdir": lambda s, path: os.rmdir(s.p(path)),
    "unlink": lambda s, path: os.unlink(s.p(path)),
    "rename": lambda s, a, b, flags: (os.rename(s.p(a), s.p(b)) if flags == 0
                                      else renameat2(s.p(a), s.p(b), flags)),
    "link": lambda s, a, b: os.link(s.p(a), s.p(b), follow_symlinks=False),
    "symlink": lambda s, target, path: os.symlink(target, s.p(path)),
    "mkfifo": lambda s, path, mode: os.mkfifo(s.p(path), mode),
    "chmod": lambda s, path, mode: os.chmod(s.p(path), mode),
    "chown": lambda s, path, uid, gid: os.chown(s.p(path), uid, gid, follow_symlinks=False),
    "utime": lambda s, path, a, m: _utime(s, path, a, m),
    "setxattr": lambda s, path, name, value, flags: os.setxattr(
        s.p(path), name, value.encode(), flags, follow_symlinks=False),
    "removexattr": lambda s, path, name: os.removexattr(s.p(path), name, follow_symlinks=False),
    "getxattr": lambda s, path, name: os.getxattr(s.p(path), name, follow_symlinks=False),
    "listxattr": lambda s, path: sorted(n for n in os.listxattr(s.p(path), follow_symlinks=False)
                                         if not n.startswith("trusted.")),
    "stat": lambda s, path: stat_view(os.lstat(s.p(path))),
    "listdir": lambda s, path: sorted(os.listdir(s.p(path))),
    "readlink": lambda s, path: os.readlink(s.p(path)),
    "open": lambda s, slot, path, how: _open_slot(s, slot, path, how),
    "pread": lambda s, slot, off, n: _digest(os.pread(_fd(s, slot), n, off)),
    "pwrite": lambda s, slot, off, data: os.pwrite(_fd(s, slot), _data(data), off),
    "ftruncate": lambda s, slot, size: os.ftruncate(_fd(s, slot), size),
    "fstat": lambda s, slot: stat_view(os.fstat(_fd(s, slot))),
    "fchmod": lambda s, slot, mode: os.fchmod(_fd(s, slot), mode),
    "fchown": lambda s, slot, uid, gid: os.fchown(_fd(s, slot), uid, gid),
    "futime": lambda s, slot, a, m: os.utime(_fd(s, slot), ns=(a, m)),
    "setacl": lambda s, path, kind, entries: os.setxattr(
        s.p(path), "system.posix_acl_" + kind, acl_xattr(entries), follow_symlinks=False),
    "close": lambda s, slot: _close_slot(s, slot),
}
# Operations that are run once for both sides (they act on the machine or
# on this process).
GLOBAL_OPS = ("remount", "drop_caches", "check", "umask")


def run_op(side, op):
    """('ok', value) or ('err', 'ENAME')."""
    name, args = op[0], op[1:]
    try:
        if name == "as":
            return _run_as(side, args[0], args[1], tuple(args[2]))
        return ("ok", OPS[name](side, *args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, str(e.errno)))


def _run_as(side, uid, gid, op):
    """OP in a child with uid/gid (no supplementary groups, no capabilities)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            res = run_op(side, op)
        except BaseException:
            res = ("exc", traceback.format_exc())
        try:
            os.write(w, repr(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        out += b
    os.close(r)
    os.waitpid(pid, 0)
    res = eval(out.decode())       # our own repr of plain values
    if res[0] == "exc":
        raise AssertionError("child as uid %d: %s" % (uid, res[1]))
    return res


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


# ------------------------------------------------------------------ trees
def snapshot(root):
    """{relpath: description} of the whole merged tree, and the classes of
    names sharing an inode number (a frozenset of frozensets)."""
    out, by_ino = {}, {}

    def rec(rel):
        p = os.path.join(root, rel) if rel else root
        try:
            st = os.lstat(p)
        except OSError as e:     # listed, but not there
            out[rel] = ("lstat: " + errno.errorcode.get(e.errno, "?"),) + (None,) * 8
            return
        t = stat.S_IFMT(st.st_mode)
        extra = None
        if t == stat.S_IFREG:
            extra = _read_all(p)
        elif t == stat.S_IFLNK:
            extra = os.readlink(p)
        out[rel or "."] = stat_view(st) + (extra, _xattrs(p))
        by_ino.setdefault(st.st_ino, set()).add(rel or ".")
        if t == stat.S_IFDIR:
            for n in sorted(os.listdir(p)):
                rec(os.path.join(rel, n) if rel else n)

    rec("")
    return out, frozenset(frozenset(v) for v in by_ino.values())


FIELDS = ("mode", "uid", "gid", "size", "nlink", "rdev", "mtime", "content", "xattrs")


def tree_events(lt, ot, op=None, results=None, pair=None):
    """The differences between two snapshots (taken after op, which gave
    results, on pair), as events."""
    (lmap, lcls), (omap, ocls) = lt, ot
    ctx = {"lfs": lmap, "ovl": omap, "lfs_inodes": lcls, "op": op, "results": results,
           "rw": pair.rw if pair else None, "upper": pair.upper if pair else None}
    evs = []
    for path in sorted(set(lmap) | set(omap)):
        a, b = lmap.get(path), omap.get(path)
        if a is None or b is None:
            evs.append(Event("tree", path=path, field="exists", lfs=a is not None,
                             ovl=b is not None, ctx=ctx))
            continue
        for i, f in enumerate(FIELDS):
            if a[i] != b[i]:
                evs.append(Event("tree", path=path, field=f, lfs=a[i], ovl=b[i], ctx=ctx))
    if lcls != ocls:
        only_l = sorted(sorted(c) for c in lcls - ocls if len(c) > 1 or True)
        only_o = sorted(sorted(c) for c in ocls - lcls)
        evs.append(Event("tree", path=".", field="inodes", lfs=only_l, ovl=only_o, ctx=ctx))
    return evs


# ------------------------------------------------------------------ differences
class Event:
    """A difference seen: an operation's results, or a field of the tree."""

    def __init__(self, kind, op=None, path=None, field=None, lfs=None, ovl=None, ctx=None):
        self.kind, self.op, self.path, self.field = kind, op, path, field
        self.lfs, self.ovl = lfs, ovl
        self.ctx = ctx          # tree events: both snapshots

    def signature(self):
        return (self.kind, self.op[0] if self.op else None, self.field)

    def __repr__(self):
        if self.kind == "op":
            return "op %r: layerfs %r, overlayfs %r" % (self.op, self.lfs, self.ovl)
        return "tree %s [%s]: layerfs %r, overlayfs %r" % (self.path, self.field, self.lfs,
                                                           self.ovl)


class Difference:
    """A documented difference. match(event) says whether an event is it;
    diverges: after it the two trees differ for good, so the sequence ends
    there (counted as clean up to that point). generated=False: the
    generator never produces it (listed so that this table is complete)."""

    def __init__(self, key, why, match=None, diverges=False, generated=True):
        self.key, self.why, self.match = key, why, match
        self.diverges, self.generated = diverges, generated


def _unwrapped(op):
    """The operation itself, also when it is run as another user."""
    return op[3] if op[0] == "as" else op


def _op_is(ev, name, **kw):
    """ev is an operation name (also run as another user) with arguments
    aN == v (N: the index in the operation's tuple)."""
    if ev.kind != "op":
        return False
    op = _unwrapped(ev.op)
    return op[0] == name and all(op[int(k[1:])] == v for k, v in kw.items())


def _index_link_below(ev):
    """Directory ev.path is in layerfs's rw branch because a name below it
    is linked to the hardlink index (a regular file with several links)."""
    top = os.path.join(ev.ctx["rw"], "" if ev.path == "." else ev.path)
    if not ev.ctx["rw"] or not os.path.isdir(top):
        return False
    for dirpath, dirnames, filenames in os.walk(top):
        for n in filenames:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                return True
    return False


def _true_dir_nlink(ev):
    """ev.lfs is what ext4 would say for directory ev.path: 2 + subdirectories."""
    snap = ev.ctx["lfs"]
    prefix = "" if ev.path == "." else ev.path + "/"
    subdirs = sum(1 for p, v in snap.items() if p.startswith(prefix) and p != ev.path and
                  "/" not in p[len(prefix):] and v[0].startswith("d"))
    return ev.lfs == 2 + subdirs


def _redirected_at_or_above(upper, path):
    """Directory path or one above it was renamed in overlayfs's upper
    directory upper (it carries trusted.overlay.redirect: a renamed lower
    directory, which layerfs copied up whole instead)."""
    parts = [] if path in (".", "") else path.split("/")
    for i in range(len(parts), 0, -1):
        try:
            os.getxattr(os.path.join(upper, *parts[:i]), "trusted.overlay.redirect",
                        follow_symlinks=False)
            return True
        except OSError:
            pass
    return False


def _dir_stat_nlink_only(ev):
    """For a stat (or fstat) of a directory whose results differ only in
    st_nlink: (its path, or None for an fstat), else False."""
    op = _unwrapped(ev.op) if ev.kind == "op" else ev.op
    if ev.kind != "op" or op[0] not in ("stat", "fstat") or ev.lfs[0] != "ok" or \
            ev.ovl[0] != "ok":
        return False
    a, b = ev.lfs[1], ev.ovl[1]
    if not (a[0].startswith("d") and a[:4] + a[5:] == b[:4] + b[5:]):
        return False
    return op[1] if op[0] == "stat" else None


def _fd_moved_by_rename(ev):
    """The directory an fstat asks about was opened at a path that a rename
    (which worked on both sides) moved away or moved in: a renamed tree."""
    slot = _unwrapped(ev.op)[1]
    history = ev.ctx.get("history", [])
    opens = [_unwrapped(op)[2] for op, res in history
             if _unwrapped(op)[:2] == ("open", slot) and res[0][0] == "ok"]
    if not opens:
        return False
    path = opens[-1]
    for op, res in history:
        op = _unwrapped(op)
        if op[0] == "rename" and res[0][0] == "ok" and res[1][0] == "ok" and \
                any(path == x or path.startswith(x + "/") for x in (op[1], op[2])):
            return True
    return False


def _stat_in_renamed_tree(ev):
    """A stat of a directory in a renamed tree, overlayfs saying st_nlink 1
    (the tree comparison after the operation checks that layerfs's count is
    ext4's). An fstat names no path: some directory must have been moved,
    or, for one removed since (layerfs saying 0, as ext4 does), the one it
    asks about."""
    path = _dir_stat_nlink_only(ev)
    if path is False or ev.ovl[1][4] != 1:
        return False
    if ev.lfs[1][4] == 0:
        return path is None and _fd_moved_by_rename(ev)
    if ev.lfs[1][4] < 2:
        return False
    upper = ev.ctx["upper"]
    if path is None:
        return any(_redirected_at_or_above(upper, os.path.relpath(os.path.join(d, n), upper))
                   for d, dirs, _ in os.walk(upper) for n in dirs)
    return _redirected_at_or_above(upper, path)


def _stat_above_index_link(ev):
    """A stat of a directory holding a name linked to the hardlink index,
    layerfs saying st_nlink 1."""
    path = _dir_stat_nlink_only(ev)
    if path is False or ev.lfs[1][4] != 1 or ev.ovl[1][4] == 1:
        return False
    if path is None:
        return any(_index_link_below(Event("tree", path=os.path.relpath(d, ev.ctx["rw"]),
                                           ctx=ev.ctx))
                   for d, _, _ in os.walk(ev.ctx["rw"]))
    return _index_link_below(Event("tree", path=path, ctx=ev.ctx))


def _is_dir(ev):
    return ev.ctx["lfs"][ev.path][0].startswith("d")


# THE list of accepted differences (README.md, "Differences from ext4",
# refers to it). Keep it short: every entry is a place where a user can
# tell layerfs from the kernel's overlayfs.
DIFFERENCES = [
    Difference(
        "exchange-lower",
        "RENAME_EXCHANGE works only when both names are in the rw branch alone; "
        "otherwise layerfs says EINVAL (overlayfs exchanges them).",
        match=lambda ev: _op_is(ev, "rename", a3=RENAME_EXCHANGE) and ev.lfs == ("err", "EINVAL"),
        diverges=True),
    Difference(
        "hardlink-parents",
        "When one name of a multiply-linked lower file is copied up (or removed), layerfs "
        "links every other name it knows, or later looks up, to the copy in the rw branch "
        "(so that the rw branch, read as an aufs diff directory, says what the mount "
        "shows); their parent directories are copied up with them and, being in two "
        "branches now, report st_nlink 1 as merged directories do (overlayfs leaves them "
        "in the lower layer, with their real count).",
        match=lambda ev: ((ev.kind == "tree" and ev.field == "nlink" and ev.lfs == 1 and
                           ev.ovl != 1 and _is_dir(ev) and _index_link_below(ev)) or
                          _stat_above_index_link(ev))),
    Difference(
        "renamed-dir-nlink",
        "With redirect_dir=off (the default with upperdir=, the podman spelling) a "
        "renamed lower directory is copied up whole and made opaque, so it and the "
        "directories in it live in the rw branch alone and report their real link count "
        "(2 + subdirectories, as on ext4, and 0 once removed while open); overlayfs "
        "redirects it and reports 1, as for every merged directory.",
        match=lambda ev: ((ev.kind == "tree" and ev.field == "nlink" and ev.ovl == 1 and
                           _is_dir(ev) and _true_dir_nlink(ev) and
                           _redirected_at_or_above(ev.ctx["upper"], ev.path)) or
                          _stat_in_renamed_tree(ev))),
    Difference(
        "failed-rename-copies-up",
        "A rename that fails (ENOTEMPTY, EISDIR, ...) changes nothing in layerfs, as on "
        "ext4; overlayfs copies the source up first, which can change the mtime of lower "
        "directories that were not in the upper layer yet, and makes them merged "
        "directories (st_nlink 1).",
        match=lambda ev: (ev.kind == "tree" and ev.ctx["op"] and ev.ctx["op"][0] == "rename" and
                          ((ev.field == "mtime" and ev.ovl == "new" and ev.lfs != "new") or
                           (ev.field == "nlink" and ev.ovl == 1 and ev.lfs != 1 and
                            _is_dir(ev))) and
                          ev.ctx["results"][0] == ev.ctx["results"][1] and
                          ev.ctx["results"][0][0] == "err"),
        diverges=True),
    Difference(
        "chown-none-while-writing",
        "chown(f, -1, -1) of a setuid/setgid file by a caller that holds f open for "
        "writing is taken for a write: with FUSE_HANDLE_KILLPRIV_V2 the kernel's request "
        "for that chown is the same as the one before a write. So a caller with CAP_FSETID "
        "keeps the bits (ext4 and overlayfs drop them), and one that is neither the owner "
        "nor privileged loses them as its write would (ext4 and overlayfs refuse the chown "
        "with EPERM).",
        match=lambda ev: ((ev.kind == "tree" and ev.field == "mode" and ev.ctx["op"] and
                           _op_is(Event("op", op=ev.ctx["op"]), "chown", a2=-1, a3=-1) and
                           ev.lfs != ev.ovl and
                           (ev.lfs.replace("s", "x").replace("S", "-") == ev.ovl or
                            ev.ovl.replace("s", "x").replace("S", "-") == ev.lfs)) or
                          (_op_is(ev, "chown", a2=-1, a3=-1) and ev.lfs == ("ok", None) and
                           ev.ovl == ("err", "EPERM"))),
        diverges=True),
    Difference(
        "orphan-fchmod",
        "fchmod of an open lower file whose name was removed or replaced changes the open "
        "file, as on ext4 (layerfs copies it up for its open files); overlayfs cannot copy "
        "it up any more and says EEXIST.",
        match=lambda ev: (_op_is(ev, "fchmod") and ev.lfs == ("ok", None) and
                          ev.ovl == ("err", "EEXIST")),
        diverges=True),
    Difference(
        "metacopy-open-mtime",
        "With metacopy=on, opening a metadata-only copy for writing copies its data up; "
        "overlayfs's data copy leaves the copy's mtime at the time of the copy, layerfs keeps "
        "the mtime it had (as ext4 does for an open that writes nothing).",
        match=lambda ev: (METACOPY and ev.kind == "tree" and ev.field == "mtime" and
                          ev.ovl == "new" and ev.lfs != "new" and ev.ctx["op"] and
                          (ev.ctx["op"][0] == "creat" or
                           (ev.ctx["op"][0] == "open" and ev.ctx["op"][3] != "r"))),
        diverges=True),
    Difference(
        "marker-names",
        "Names beginning with .wh. are aufs's markers: layerfs never shows them and refuses "
        "to create them (EINVAL); overlayfs has no such names.", generated=False),
]


def excused(ev):
    for d in DIFFERENCES:
        if d.match and d.match(ev):
            return d
    return None


# ------------------------------------------------------------------ running
class Outcome:
    def __init__(self):
        self.results = []       # (layerfs result, overlayfs result) per operation
        self.ops_run = 0
        self.failure = None     # (index of op, [events])
        self.diverged = None    # (index of op, Difference)
        self.excused = []       # (index, Difference) not diverging


def run_sequence(pair, ops, check_every=True, on_op=None):
    """Runs OPS on both sides of PAIR. Stops at the first unexcused
    difference (Outcome.failure) or at a diverging documented one."""
    out = Outcome()
    lfs, ovl = pair.sides
    history = pair.history
    old_umask = os.umask(pair.umask)
    try:
        for i, op in enumerate(ops):
            if on_op:
                on_op(i, op)
            evs = []
            res = None
            if op[0] in GLOBAL_OPS:
                out.results.append((("ok", None), ("ok", None)))
            if op[0] == "remount":
                pair.remount()
            elif op[0] == "drop_caches":
                drop_caches()
            elif op[0] == "umask":
                pair.umask = op[1]
                os.umask(op[1])
            elif op[0] != "check":
                a, b = run_op(lfs, op), run_op(ovl, op)
                res = (a, b)
                out.results.append((a, b))
                history.append((op, res))
                if a != b:
                    ev = Event("op", op=op, lfs=a, ovl=b, ctx={"rw": pair.rw, "upper": pair.upper,
                                                                "history": list(history)})
                    d = excused(ev)
                    if d and d.diverges:
                        out.ops_run = i + 1
                        out.diverged = (i, d)
                        return out
                    evs.append(ev)
            if check_every or op[0] in GLOBAL_OPS or i == len(ops) - 1:
                evs += tree_events(snapshot(lfs.mnt), snapshot(ovl.mnt), op, res, pair)
            out.ops_run = i + 1
            bad = []
            for ev in evs:
                d = excused(ev)
                if d is None:
                    bad.append(ev)
                elif d.diverges:
                    out.diverged = (i, d)
                else:
                    out.excused.append((i, d))
            if bad:
                out.failure = (i, bad)
                return out
            if out.diverged:
                return out
    finally:
        os.umask(old_umask)
    return out


def replay(union, layers, ops, spelling):
    """Runs OPS on a fresh pair: (Outcome, daemon problems)."""
    pair = Pair(union, layers, spelling)
    try:
        out = run_sequence(pair, ops)
    finally:
        problems = pair.close()
    return out, problems


# ------------------------------------------------------------------ shrinking
def shrink(union, layers, ops, spelling, signature, deadline):
    """Removes operations while the first unexcused difference keeps its
    signature (ddmin over the sequence). Returns the shortest found."""
    def fails(cand):
        try:
            out, problems = replay(union, layers, cand, spelling)
        except AssertionError:
            return False
        if problems:
            return False
        return bool(out.failure and out.failure[1][0].signature() == signature)

    cur = list(ops)
    n = 2
    while len(cur) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(cur) // n)
        reduced = False
        for start in range(0, len(cur), chunk):
            if time.monotonic() >= deadline:
                break
            cand = cur[:start] + cur[start + chunk:]
            if cand and fails(cand):
                cur = cand
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    return cur


def format_repro(seed, layers, ops, spelling, events):
    lines = ["seed %r, layerfs branches spelled %s" % (seed, spelling),
             "layers (top first):"]
    for i, entries in enumerate(layers):
        lines.append("  L%d = %r" % (i, entries))
    lines.append("operations:")
    for op in ops:
        lines.append("  %r," % (op,))
    lines.append("first difference:")
    for ev in events[:6]:
        lines.append("  %r" % (ev,))
    return "\n".join(lines)
