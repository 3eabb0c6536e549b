"""Helpers of the hardening tests (standard library only)."""
import os
import re
import stat
import subprocess
import time

import layerfs_mount_conftest as mc
from lfsutil import WH, WH_ORPH, WH_PLNK, WH_BASE, WH_OPQ, mountinfo_entry

Mount = mc.Mount
force_unmount = mc.force_unmount
sanitizer_report = mc.sanitizer_report
LAYERFS_BIN = mc.LAYERFS_BIN

# a temporary name the daemon builds objects under ("cu.PID.N", "wh.PID.N", ...)
TMPNAME = re.compile(r"^[a-z]{2,6}\.\d+\.\d+$")


def proc_status(pid):
    """VmRSS/VmHWM/VmSize of PID in KiB, as a dict."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "VmSize", "RssAnon", "Threads"):
                out[k] = int(v.split()[0])
    return out


WH_LONG = ".wh..wh.long"   # whiteouts of long names (layerfs/longwh.h)


def rw_debris(rw):
    """Everything in the rw branch that is neither user data, a whiteout, an
    opaque marker nor branch metadata in its place: temporary names of the
    daemon, metadata names anywhere but the root, whiteouts of nothing
    (a whiteout of a name that exists in the same directory)."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(rw):
        rel = os.path.relpath(dirpath, rw)
        at_root = rel == "."
        if at_root and WH_ORPH in dirnames:
            dirnames.remove(WH_ORPH)      # the work directory may hold anything
        names = set(dirnames) | set(filenames)
        for n in sorted(names):
            p = os.path.join(rel, n) if not at_root else n
            if TMPNAME.match(n):
                bad.append(("tempname", p))
            elif n.startswith(".wh..wh."):
                if n == WH_OPQ:
                    continue
                if n == WH_LONG:
                    with open(os.path.join(dirpath, n), "rb") as f:
                        for t in f.read().split(b"\0")[:-1]:
                            if t.decode("utf-8", "surrogateescape") in names:
                                bad.append(("long whiteout of a live rw name", p))
                    continue
                if not (at_root and n in (WH_BASE, WH_PLNK, WH_ORPH)):
                    bad.append(("metadata out of place", p))
            elif n.startswith(WH):
                target = n[len(WH):]
                if target in names:
                    bad.append(("whiteout of a live rw name", p))
    return bad


def work_dir_entries(rw):
    d = os.path.join(rw, WH_ORPH)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def cleanup_mount(mnt):
    """Last-resort unmount for a mount whose daemon may be dead."""
    if mountinfo_entry(mnt) is None:
        return
    if subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def wait_for(pred, timeout, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def file_kind(p):
    st = os.lstat(p)
    return stat.S_IFMT(st.st_mode)


def traced_calls(m, work, names, log):
    """The calls among NAMES the daemon makes while work() runs, in order:
    [(name, occurrence of that name, the strace line)]. Occurrences are
    counted per thread by strace's fault injection (when=N), so a precise
    replay needs a daemon that serves requests on one thread (-s)."""
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-y", "-e", "trace=" + ",".join(names),
                               "-o", log, "-p", str(m.proc.pid)],
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)                      # attached to every thread
        work()
        time.sleep(0.2)
    finally:
        tracer.terminate()
        tracer.wait()
    seen, calls = {}, []
    for line in open(log):
        name = line.split(None, 1)[1].split("(", 1)[0] if " " in line else ""
        if name in names and "resumed>" not in line:
            seen[name] = seen.get(name, 0) + 1
            calls.append((name, seen[name], line.strip()))
    return calls


def inject(m, name, nth, action):
    """Attaches strace to the daemon, doing ACTION (strace's inject= syntax:
    error=EDQUOT, signal=KILL) at the NTH call of NAME; the tracer, to
    terminate (or wait for) when done."""
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + name,
         "-e", "inject=%s:%s:when=%d" % (name, action, nth), "-p", str(m.proc.pid)],
        stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return tracer
