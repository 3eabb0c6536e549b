"""The generator of the differential test (difftest.py): random lower
layers and random operation sequences, chosen from what the reference
mount (kernel overlayfs) shows at each step, so that most operations meet
names that exist. Everything comes from one seed."""
import os
import random
import stat
import time

from difftest import (CREATE_FLAGS, FLAG_SETS, GLOBAL_OPS, Outcome, Pair, UTIME_VALUES,
                      run_sequence)
from lfsutil import RENAME_EXCHANGE, RENAME_NOREPLACE


NAMES = ["a", "b", "c", "d"]
MODES_FILE = [0o644, 0o644, 0o600, 0o755, 0o4755, 0o2755, 0o6755, 0o2644, 0o666, 0o700]
MODES_DIR = [0o755, 0o755, 0o775, 0o2775, 0o700, 0o1777, 0o777]
USERS = [(0, 0), (0, 0), (1000, 1000), (1000, 100), (65534, 65534)]


def _text(rng, lo=0, hi=24):
    return "".join(rng.choice("abcdefgh\n") for _ in range(rng.randint(lo, hi)))


def generate_layers(rng):
    """A stack of 1-3 layers (top first) with merges, whiteouts, opaque
    directories, type changes, hardlinks, symlinks, fifos and xattrs."""
    nlayers = rng.choice([1, 2, 2, 3])
    view = {}           # merged view so far (bottom up): path -> type
    layers = []
    for li in range(nlayers):
        entries, here = [], {}

        def ensure_dir(path):
            if not path or path in here:
                return here.get(path) == "dir" if path else True
            parent = os.path.dirname(path)
            if not ensure_dir(parent):
                return False
            if view.get(path) not in (None, "dir"):
                return False
            uid, gid = rng.choice(USERS)
            entries.append({"t": "dir", "p": path, "mode": rng.choice(MODES_DIR),
                            "uid": uid, "gid": gid})
            here[path] = "dir"
            return True

        for _ in range(rng.randint(4, 12)):
            depth = rng.choice([1, 1, 2, 2, 3])
            path = "/".join(rng.choice(NAMES) for _ in range(depth))
            parent = os.path.dirname(path)
            if path in here or not ensure_dir(parent):
                continue
            kind = rng.random()
            uid, gid = rng.choice(USERS)
            if li > 0 and path in view and kind < 0.25:
                # Not below an opaque directory of this layer: nothing shows
                # through it to hide (and overlayfs would list the whiteout).
                if any(e.get("opaque") and path.startswith(e["p"] + "/") for e in entries):
                    continue
                entries.append({"t": "wh", "p": path})
                here[path] = "wh"
                continue
            if li > 0 and view.get(path) == "dir" and kind < 0.35 and not any(
                    q.startswith(path + "/") for q in here):
                entries.append({"t": "dir", "p": path, "mode": rng.choice(MODES_DIR),
                                "uid": uid, "gid": gid, "opaque": True})
                here[path] = "dir"
                continue
            if kind < 0.55:
                e = {"t": "file", "p": path, "data": _text(rng), "mode": rng.choice(MODES_FILE),
                     "uid": uid, "gid": gid}
            elif kind < 0.7:
                if not ensure_dir(path):
                    continue
                continue
            elif kind < 0.8:
                files = [x for x, t in here.items() if t == "file"]
                if not files:
                    continue
                e = {"t": "hard", "p": path, "to": rng.choice(files)}
            elif kind < 0.9:
                e = {"t": "link", "p": path, "target": _link_target(rng)}
            else:
                e = {"t": "fifo", "p": path, "mode": 0o644, "uid": uid, "gid": gid}
            if e["t"] in ("file", "dir") and rng.random() < 0.2:
                e["xattrs"] = {"user.k%d" % rng.randint(0, 2): _text(rng, 1, 8)}
            entries.append(e)
            here[path] = "file" if e["t"] == "hard" else e["t"]
        # What this layer shows on top of the view.
        for path, t in here.items():
            if t == "wh":
                for q in [q for q in view if q == path or q.startswith(path + "/")]:
                    del view[q]
            else:
                if t != "dir" or view.get(path) != "dir":
                    for q in [q for q in view if q.startswith(path + "/")]:
                        del view[q]
                view[path] = t
        for e in entries:
            if e.get("opaque"):
                for q in [q for q in view if q.startswith(e["p"] + "/") and q not in here]:
                    del view[q]
        layers.append(entries)
    layers.reverse()
    return layers


def _link_target(rng):
    r = rng.random()
    if r < 0.5:
        return rng.choice(NAMES)
    if r < 0.8:
        return "%s/%s" % (rng.choice(NAMES), rng.choice(NAMES))
    return "/nonexistent-layerfs-difftest/" + rng.choice(NAMES)


def _walk_view(root):
    """{relpath: 'dir'|'file'|'link'|'other'} of a mount (for the generator)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[rel] = ("dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode)
                        else "link" if stat.S_ISLNK(st.st_mode) else "other")
    return out


class Generator:
    """Picks the next operation from what the reference mount shows now."""

    def __init__(self, rng):
        self.rng = rng
        self.open_slots = set()    # slots the last operations left open

    def observe(self, op, result):
        """What op did on the reference mount (open files to pick from)."""
        if op[0] == "remount":
            self.open_slots.clear()
        elif op[0] == "open" and result[0] == "ok":
            self.open_slots.add(op[1])
        elif op[0] in ("open", "close"):
            self.open_slots.discard(op[1])

    def _slot(self):
        if self.open_slots and self.rng.random() < 0.85:
            return self.rng.choice(sorted(self.open_slots))
        return self.rng.randint(0, 3)

    def _path(self, view, kinds=None, fresh=0.25):
        rng = self.rng
        cands = [p for p, t in view.items() if kinds is None or t in kinds]
        if cands and rng.random() > fresh:
            return rng.choice(cands)
        dirs = [""] + [p for p, t in view.items() if t == "dir"]
        d = rng.choice(dirs)
        n = rng.choice(NAMES + ["e", "f"])
        return os.path.join(d, n) if d else n

    def next(self, view):
        rng = self.rng
        r = rng.random()
        P = lambda kinds=None, fresh=0.25: self._path(view, kinds, fresh)
        files = ("file",)
        if r < 0.05:
            return ("creat", P(fresh=0.7), rng.choice([0o644, 0o600, 0o755, 0o2755]),
                    rng.choice(list(CREATE_FLAGS)))
        if r < 0.11:
            if rng.random() < 0.15:
                return ("write", P(files), rng.choice([0, 3, 100]), (rng.choice([5000, 70000]),
                                                                     rng.randint(0, 9)))
            return ("write", P(files), rng.choice([0, 0, 2, 10, 40]), _text(rng, 1, 16))
        if r < 0.14:
            return ("append", P(files), _text(rng, 1, 10))
        if r < 0.18:
            return ("truncate", P(files), rng.choice([0, 0, 1, 5, 100]))
        if r < 0.21:
            return ("read", P(files))
        if r < 0.26:
            return ("mkdir", P(fresh=0.8), rng.choice([0o755, 0o700, 0o2775, 0o777]))
        if r < 0.29:
            return ("rmdir", P(("dir",)))
        if r < 0.34:
            return ("unlink", P(("file", "link", "other")))
        if r < 0.42:
            flags = rng.choice([0, 0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]) if rng.random() < 0.3 else 0
            return ("rename", P(), P(fresh=0.5), flags)
        if r < 0.47:
            return ("link", P(files), P(fresh=0.8))
        if r < 0.50:
            return ("symlink", _link_target(rng), P(fresh=0.8))
        if r < 0.52:
            return ("mkfifo", P(fresh=0.9), 0o644)
        if r < 0.56:
            return ("chmod", P(("file", "dir")), rng.choice(MODES_FILE + MODES_DIR))
        if r < 0.59:
            uid, gid = rng.choice(USERS + [(-1, 1000), (1000, -1), (-1, -1)])
            return ("chown", P(), uid, gid)
        if r < 0.62:
            return ("utime", P(), rng.choice(UTIME_VALUES + [None]), rng.choice(UTIME_VALUES + [None]))
        if r < 0.66:
            return ("setxattr", P(("file", "dir")), "user.k%d" % rng.randint(0, 2), _text(rng, 0, 8),
                    rng.choice([0, 0, os.XATTR_CREATE, os.XATTR_REPLACE]))
        if r < 0.67:
            return ("removexattr", P(("file", "dir")), "user.k%d" % rng.randint(0, 2))
        if r < 0.685:
            kind = rng.choice(["access", "access", "default"])
            return ("setacl", P(("dir",) if kind == "default" else ("file", "dir")), kind,
                    self._acl())
        if r < 0.70:
            return ("getxattr", P(), "user.k%d" % rng.randint(0, 2))
        if r < 0.72:
            return ("listxattr", P())
        if r < 0.75:
            return ("stat", P())
        if r < 0.77:
            return ("listdir", P(("dir",)))
        if r < 0.78:
            return ("readlink", P(("link",)))
        if r < 0.83:
            slot = rng.randint(0, 3)
            how = rng.choice(list(FLAG_SETS))
            return ("open", slot, P(("dir",) if how == "dir" else files), how)
        if r < 0.93:
            slot = self._slot()
            k = rng.random()
            if k < 0.3:
                return ("pread", slot, rng.choice([0, 0, 3]), rng.choice([16, 4096]))
            if k < 0.5:
                return ("pwrite", slot, rng.choice([0, 1, 30]), _text(rng, 1, 12))
            if k < 0.6:
                return ("ftruncate", slot, rng.choice([0, 2, 50]))
            if k < 0.85:
                return ("fstat", slot)
            if k < 0.9:
                return ("fchmod", slot, rng.choice(MODES_FILE))
            return ("close", slot)
        if r < 0.97:
            uid, gid = rng.choice(USERS[2:])
            inner = self.next_simple(view)
            return ("as", uid, gid, inner)
        if r < 0.98:
            return ("drop_caches",)
        if r < 0.99:
            return ("umask", rng.choice([0o022, 0o022, 0o077, 0o002, 0]))
        return ("remount",)

    def _acl(self):
        """A valid ACL: the three base entries, and maybe named ones with a
        mask (sorted by tag, then id, as the kernel wants them)."""
        rng = self.rng
        perm = lambda: rng.randint(0, 7)
        ents = [(1, perm(), -1), (4, perm(), -1), (32, perm(), -1)]
        if rng.random() < 0.7:
            ents += [(2, perm(), rng.choice([1000, 65534]))]
            if rng.random() < 0.5:
                ents += [(8, perm(), rng.choice([100, 1000]))]
            ents += [(16, perm(), -1)]
        return sorted(ents, key=lambda e: (e[0], e[2] & 0xFFFFFFFF))

    def next_simple(self, view):
        """A path operation for another user (no open files, no globals)."""
        while True:
            op = self.next(view)
            if op[0] not in GLOBAL_OPS and op[0] not in ("as", "open", "pread", "pwrite",
                                                         "ftruncate", "fstat", "fchmod",
                                                         "close"):
                return op


def generate_and_run(union, seed, nops, spelling=None, deadline=None):
    """Generates and runs a sequence for SEED: (layers, ops, Outcome, problems)."""
    rng = random.Random(seed)
    layers = generate_layers(rng)
    spelling = spelling or rng.choice(["br", "upperdir"])
    pair = Pair(union, layers, spelling)
    gen = Generator(rng)
    ops = []
    out = Outcome()
    lost = None
    try:
        while len(ops) < nops and (deadline is None or time.monotonic() < deadline):
            op = gen.next(_walk_view(pair.mnt_o))
            ops.append(op)
            step = run_sequence_step(pair, op, len(ops) - 1, out)
            if out.results:
                gen.observe(op, out.results[-1][1])
            if not step:
                break
    except OSError as e:
        # a mount that went away under the comparison (a daemon that died):
        # reported with the operations so far, and the daemon's stderr
        # through pair.close()
        lost = e
    finally:
        problems = pair.close()
    if lost is not None:
        problems = ["a mount went away (%s) at operation %d of %r" % (lost, len(ops) - 1, ops)] + \
            list(problems)
    return layers, ops, spelling, out, problems


def run_sequence_step(pair, op, i, out):
    """One operation of a generated sequence; False when the run ends."""
    sub = run_sequence(pair, [op])
    out.ops_run = i + 1
    out.results += sub.results
    if sub.failure:
        out.failure = (i, sub.failure[1])
        return False
    out.excused += [(i, d) for _, d in sub.excused]
    if sub.diverged:
        out.diverged = (i, sub.diverged[1])
        return False
    return True
