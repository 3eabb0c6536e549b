"""Helpers for the podman/buildah tests: a private container store per test,
run rootful or rootless, with a chosen mount program.

Nothing here touches the host's container configuration or storage:

* every store lives in its own directory under /tmp (graph root, run root,
  containers.conf, storage.conf, TMPDIR, libpod's tmp_dir);
* rootless commands run inside a private mount namespace (`unshare -m`)
  where a 0666 FUSE node, private /etc/subuid and /etc/subgid files (and a
  private /etc/passwd when uid 1000 has no entry) are bind-mounted over the
  host's; the host's files and /dev/fuse are never changed;
* teardown removes containers, unmounts whatever is still mounted under the
  store, ends the processes that carry the store's path (podman's pause
  process, conmon, mount program daemons: all started by this store) by pid,
  and deletes the directory.
"""
import hashlib
import io
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tarfile
import time

ROOTLESS_UID = 1000
ROOTLESS_GID = 1000
SUBID_START = 200000
SUBID_COUNT = 65536

DEFAULT_TIMEOUT = 180          # seconds, any one podman/buildah call
BUILD_TIMEOUT = 420            # seconds, one `buildah bud`

# Files podman itself adds to or bind-mounts into every container; they are
# not changes the test's command makes.
RUNTIME_FILES = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
                 "/run", "/run/.containerenv", "/proc", "/sys", "/dev"}

BUSYBOX_APPLETS = ["sh", "ls", "cat", "rm", "mkdir", "echo", "test", "[", "touch",
                   "find", "stat", "sort", "md5sum", "cut", "readlink", "grep",
                   "tr", "ln", "mv", "cp", "id", "true", "false", "chmod", "sed",
                   "head", "wc", "sleep", "printf", "env", "awk"]


class CmdError(AssertionError):
    pass


def run(argv, timeout=DEFAULT_TIMEOUT, check=True, env=None, input=None):
    """Run argv in its own session; on timeout kill the whole group."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        raise CmdError("timed out after %ss: %s\nstdout:\n%s\nstderr:\n%s"
                       % (timeout, " ".join(argv), _txt(out)[-4000:], _txt(err)[-4000:]))
    res = subprocess.CompletedProcess(argv, p.returncode, _txt(out), _txt(err))
    if check and p.returncode != 0:
        raise CmdError("exit %d: %s\nstdout:\n%s\nstderr:\n%s"
                       % (p.returncode, " ".join(argv), res.stdout[-4000:], res.stderr[-4000:]))
    return res


def _txt(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


# ----------------------------------------------------------------- rootfs --

def make_busybox_tar(path):
    """A small image rootfs: static busybox plus a few files and
    directories the tests change. Owned by root, deterministic."""
    busybox = "/bin/busybox"
    with open(busybox, "rb") as f:
        bb = f.read()
    mtime = 1700000000
    with tarfile.open(path, "w") as t:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = mode
            ti.mtime = mtime
            t.addfile(ti)

        def add_file(name, data, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = mtime
            t.addfile(ti, io.BytesIO(data))

        def add_link(name, target):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            ti.mtime = mtime
            t.addfile(ti)

        for d in ("bin", "etc", "d", "d/sub", "d/sub/deeper", "var", "var/data",
                  "proc", "sys", "dev", "run", "root"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", bb, 0o755)
        for a in BUSYBOX_APPLETS:
            add_link("bin/" + a, "busybox")
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_file("etc/group", b"root:x:0:\n")
        add_file("etc/hello", b"hello\n")
        add_file("etc/keep", b"to be deleted\n")
        add_file("etc/stay", b"unchanged\n")
        add_file("d/a", b"a\n")
        add_file("d/sub/b", b"b\n")
        add_file("d/sub/deeper/c", b"c\n")
        add_file("var/data/file", b"data\n")
        add_link("var/data/link", "file")
    return path


# Prints one line per path: "PATH TYPE [hash|target]". Run inside a container.
MANIFEST_SCRIPT = r"""
find /etc /d /var /newdir /tmp /work -xdev 2>/dev/null | sort | while read -r p; do
  if [ -L "$p" ]; then echo "$p L $(readlink "$p")";
  elif [ -d "$p" ]; then echo "$p D";
  else echo "$p F $(md5sum < "$p" | cut -c1-32)"; fi
done
"""


def parse_manifest(text):
    m = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if parts[0] in RUNTIME_FILES:
            continue
        m[parts[0]] = " ".join(parts[1:])
    return m


def md5(data):
    return hashlib.md5(data).hexdigest()


def mount_line(text):
    """The ' / ' line of a /proc/self/mountinfo dump: (fstype, source)."""
    for line in text.splitlines():
        f = line.split()
        if len(f) > 5 and f[4] == "/" and "-" in f:
            i = f.index("-")
            return f[i + 1], f[i + 2]
    return None


# ----------------------------------------------------------------- stores --

class Store:
    """One private containers/storage root used by podman and buildah.

    program: path of the mount program; rootless: run as uid 1000 inside a
    user namespace (podman's own), from a private mount namespace."""

    def __init__(self, program, rootless, tag):
        self.program = program
        self.rootless = rootless
        # lower-case hex only: podman derives image names from oci: paths
        while True:
            self.dir = "/tmp/lfct-%s-%s" % (tag, secrets.token_hex(4))
            try:
                os.mkdir(self.dir, 0o755)
                break
            except FileExistsError:
                continue
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "root")
        self.runroot = os.path.join(self.dir, "run")  # podman: at most 50 characters
        self.tmp = os.path.join(self.dir, "tmp")
        self.libpodtmp = os.path.join(self.dir, "libpodtmp")
        self.home = os.path.join(self.dir, "home")
        self.xdg = os.path.join(self.dir, "xdg")
        for d in (self.tmp, self.home, self.xdg, self.libpodtmp):
            os.mkdir(d, 0o700)
        self.containers_conf = os.path.join(self.dir, "containers.conf")
        self.storage_conf = os.path.join(self.dir, "storage.conf")
        with open(self.containers_conf, "w") as f:
            f.write('[containers]\n'
                    'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    '[engine]\n'
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n'
                    'events_logfile_path = "%s/events.log"\n'
                    'runtime = "runc"\n'
                    'tmp_dir = "%s"\n'
                    'volume_path = "%s/volumes"\n'
                    % (self.dir, self.libpodtmp, self.dir))
        # podman 4.3 ignores mount_program here when --root is given, hence
        # also --storage-opt on every command line; graphroot/runroot must be
        # set for rootless commit (it reopens the store from this file).
        with open(self.storage_conf, "w") as f:
            f.write('[storage]\n'
                    'driver = "overlay"\n'
                    'graphroot = "%s"\n'
                    'runroot = "%s"\n'
                    '[storage.options.overlay]\n'
                    'mount_program = "%s"\n'
                    % (self.root, self.runroot, program))
        if rootless:
            self._setup_rootless()

    def _setup_rootless(self):
        for p in ("/etc/subuid", "/etc/subgid"):
            if not os.path.exists(p):
                raise CmdError("%s does not exist; the rootless test bind-mounts a private "
                               "copy over it and needs the file to exist" % p)
        for name in ("subuid", "subgid"):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write("%d:%d:%d\n" % (ROOTLESS_UID, SUBID_START, SUBID_COUNT))
            os.chmod(os.path.join(self.dir, name), 0o644)
        passwd = ""
        try:
            pwd.getpwuid(ROOTLESS_UID)
        except KeyError:
            with open("/etc/passwd") as f:
                passwd = f.read()
            passwd += "layerfs-ct:x:%d:%d::%s:/bin/sh\n" % (ROOTLESS_UID, ROOTLESS_GID, self.home)
            with open(os.path.join(self.dir, "passwd"), "w") as f:
                f.write(passwd)
            os.chmod(os.path.join(self.dir, "passwd"), 0o644)
        fuse = os.path.join(self.dir, "fuse")
        os.mknod(fuse, 0o666 | stat.S_IFCHR, os.makedev(10, 229))
        os.chmod(fuse, 0o666)
        self.wrapper = os.path.join(self.dir, "as-user.sh")
        with open(self.wrapper, "w") as f:
            f.write("""#!/bin/sh
# Runs as root in a fresh private mount namespace (unshare -m), then becomes
# uid %(uid)d. Only this namespace sees the bind mounts.
set -e
D=%(dir)s
mount --bind "$D/fuse" /dev/fuse
mount --bind "$D/subuid" /etc/subuid
mount --bind "$D/subgid" /etc/subgid
if [ -f "$D/passwd" ]; then mount --bind "$D/passwd" /etc/passwd; fi
cd "$D"
exec setpriv --reuid=%(uid)d --regid=%(gid)d --clear-groups \\
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  HOME="$D/home" XDG_RUNTIME_DIR="$D/xdg" TMPDIR="$D/tmp" \\
  CONTAINERS_CONF="$D/containers.conf" CONTAINERS_STORAGE_CONF="$D/storage.conf" "$@"
""" % {"dir": self.dir, "uid": ROOTLESS_UID, "gid": ROOTLESS_GID})
        os.chmod(self.wrapper, 0o755)
        for d in (self.dir, self.tmp, self.home, self.xdg, self.libpodtmp):
            os.chown(d, ROOTLESS_UID, ROOTLESS_GID)
        for name in ("containers.conf", "storage.conf"):
            os.chmod(os.path.join(self.dir, name), 0o644)

    # -- commands --

    def _argv(self, tool, args):
        base = [tool, "--root", self.root, "--runroot", self.runroot,
                "--storage-driver", "overlay",
                "--storage-opt", "overlay.mount_program=" + self.program]
        if self.rootless:
            return ["unshare", "-m", "--propagation", "private", self.wrapper] + base + list(args)
        return base + list(args)

    def _env(self):
        env = dict(os.environ)
        env.update(CONTAINERS_CONF=self.containers_conf,
                   CONTAINERS_STORAGE_CONF=self.storage_conf,
                   TMPDIR=self.tmp)
        return env

    def podman(self, *args, timeout=DEFAULT_TIMEOUT, check=True, input=None):
        return run(self._argv("podman", args), timeout=timeout, check=check,
                   env=self._env(), input=input)

    def buildah(self, *args, timeout=DEFAULT_TIMEOUT, check=True):
        return run(self._argv("buildah", args), timeout=timeout, check=check, env=self._env())

    def give(self, path):
        """Make a file or tree the store's user can read (rootless)."""
        if self.rootless:
            for dp, dns, fns in os.walk(path):
                os.chown(dp, ROOTLESS_UID, ROOTLESS_GID)
                for n in fns:
                    os.chown(os.path.join(dp, n), ROOTLESS_UID, ROOTLESS_GID)
            if os.path.isfile(path):
                os.chown(path, ROOTLESS_UID, ROOTLESS_GID)
        return path

    def import_busybox(self, ref="localhost/bb:base"):
        tar = make_busybox_tar(os.path.join(self.dir, "busybox-rootfs.tar"))
        self.give(tar)
        self.podman("import", tar, ref)
        return ref

    # -- teardown --

    def _mounts_under(self):
        res = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == self.dir or mp.startswith(self.dir + "/"):
                    res.append(mp)
        return res

    def _own_pids(self):
        """Processes that carry this store's directory in their command line
        or environment: started by this store's commands."""
        key = self.dir.encode()
        me = os.getpid()
        pids = []
        for e in os.listdir("/proc"):
            if not e.isdigit() or int(e) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % e, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/environ" % e, "rb") as f:
                    envb = f.read()
            except OSError:
                continue
            if key in cmd or key in envb:
                pids.append(int(e))
        return pids

    def cleanup(self):
        problems = []
        for argv in (("rm", "-af", "-t", "0"),):
            try:
                self.podman(*argv, timeout=90, check=False)
            except CmdError as e:
                problems.append(str(e)[:500])
        try:
            self.buildah("rm", "-a", timeout=90, check=False)
        except CmdError as e:
            problems.append(str(e)[:500])
        # mounts (rootful: in our namespace) innermost first
        for mp in sorted(self._mounts_under(), key=len, reverse=True):
            problems.append("left mounted: " + mp)
            subprocess.run(["fusermount3", "-u", "-z", mp], capture_output=True)
            if mp in self._mounts_under():
                subprocess.run(["umount", "-l", mp], capture_output=True)
        # processes of this store: pause process, conmon, mount daemons
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._own_pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 5
            while time.time() < deadline and self._own_pids():
                time.sleep(0.1)
        leftover = self._own_pids()
        if leftover:
            problems.append("processes still alive: %s" % leftover)
        for mp in sorted(self._mounts_under(), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if os.path.exists(self.dir):
            subprocess.run(["rm", "-rf", "--one-file-system", self.dir], capture_output=True)
        return problems


# ------------------------------------------------------------ inspection --

def tree_facts(root):
    """Walk a directory on the host: whiteout files, char devices, overlay
    xattrs. Paths are relative to root."""
    facts = {"wh": [], "chr": [], "xattr": [], "meta": []}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISCHR(st.st_mode):
                facts["chr"].append((rel, os.major(st.st_rdev), os.minor(st.st_rdev)))
            if n.startswith(".wh..wh.") and n != ".wh..wh..opq":
                facts["meta"].append(rel)
            elif n.startswith(".wh."):
                facts["wh"].append(rel)
            try:
                names = os.listxattr(p, follow_symlinks=False)
            except OSError:
                names = []
            for x in names:
                if "overlay" in x:
                    facts["xattr"].append((rel, x))
    for k in facts:
        facts[k].sort()
    return facts


def oci_layers(oci_dir):
    """[(media type, [(name, type)])] of the single image in an OCI layout."""
    with open(os.path.join(oci_dir, "index.json")) as f:
        idx = json.load(f)
    def blob(d):
        return os.path.join(oci_dir, "blobs", *d.split(":", 1))
    with open(blob(idx["manifests"][0]["digest"])) as f:
        man = json.load(f)
    layers = []
    for l in man["layers"]:
        with tarfile.open(blob(l["digest"])) as t:
            ents = []
            for m in t.getmembers():
                name = m.name[2:] if m.name.startswith("./") else m.name
                name = name.rstrip("/")
                ents.append((name, m.type, m.devmajor if m.ischr() else None))
        layers.append((l["mediaType"], ents))
    return layers
