"""Two processes create, rename and delete in the same directories of a
merged tree for LAYERFS_STRESS_SECONDS (default 60).  Each owns its own
names (prefix p0_/p1_), so the final tree is determined by the operations
each one logged as done; the merged tree must equal the replay of the logs,
before and after a remount."""
import json
import os
import random
import time

from lfsutil import read, tree, write, WH_ORPH, exists, ls

SHARED_DIRS = ["d0", "d1", "d1/sub", "d2"]
DURATION = float(os.environ.get("LAYERFS_STRESS_SECONDS", "60"))


def lower_spec():
    spec = {"d0": {}, "d1": {"sub": {}}, "d2": {}}
    for who in (0, 1):
        for i, d in enumerate(SHARED_DIRS):
            node = spec
            for part in d.split("/"):
                node = node[part]
            for k in range(4):
                node["p%d_low%d_%d" % (who, i, k)] = "low-%d-%d-%d" % (who, i, k)
            node["p%d_ldir%d" % (who, i)] = {"inner%d" % k: "in-%d-%d-%d" % (who, i, k)
                                             for k in range(3)}
    return spec


def initial_state(spec):
    state = {}

    def rec(prefix, node):
        for n, v in node.items():
            p = prefix + n
            if isinstance(v, dict):
                state[p] = None
                rec(p + "/", v)
            else:
                state[p] = v.encode()
    rec("", spec)
    return state


def apply(state, op):
    kind = op[0]
    if kind == "create":
        state[op[1]] = op[2].encode()
    elif kind == "append":
        state[op[1]] += op[2].encode()
    elif kind == "unlink":
        del state[op[1]]
    elif kind == "mkdir":
        state[op[1]] = None
    elif kind == "rmdir":
        del state[op[1]]
    elif kind == "rename":
        src, dst = op[1], op[2]
        moved = {k: v for k, v in state.items() if k == src or k.startswith(src + "/")}
        for k in list(state):
            if k == dst or k.startswith(dst + "/"):
                del state[k]
        for k in moved:
            del state[k]
        for k, v in moved.items():
            state[dst + k[len(src):]] = v
    else:
        raise ValueError(op)


def worker(who, mnt, state, logpath, duration, seed):
    rnd = random.Random(seed)
    mine = "p%d_" % who
    log = open(logpath, "w")
    failures = 0
    counter = 0
    end = time.monotonic() + duration

    def own(pred):
        return [k for k, v in state.items()
                if os.path.basename(k).startswith(mine) and pred(k, v)]

    while time.monotonic() < end:
        counter += 1
        d = rnd.choice(SHARED_DIRS)
        r = rnd.random()
        files = own(lambda k, v: v is not None)
        dirs = own(lambda k, v: v is None)
        empty_dirs = [k for k in dirs if not any(x.startswith(k + "/") for x in state)]
        op = None
        try:
            if r < 0.30 or not files:
                base = rnd.choice(dirs + SHARED_DIRS) if dirs and rnd.random() < 0.3 else d
                name = "%s/%snew%d" % (base, mine, counter)
                data = "c%d-%d" % (who, counter)
                op = ("create", name, data)
                write(os.path.join(mnt, name), data)
            elif r < 0.40:
                f = rnd.choice(files)
                data = "+%d" % counter
                op = ("append", f, data)
                write(os.path.join(mnt, f), data, "ab")
            elif r < 0.60:
                f = rnd.choice(files)
                op = ("unlink", f)
                os.unlink(os.path.join(mnt, f))
            elif r < 0.80:
                f = rnd.choice(files)
                if rnd.random() < 0.3 and len(files) > 1:
                    dst = rnd.choice(files)      # replace one of my files
                else:
                    dst = "%s/%sren%d" % (d, mine, counter)
                if dst == f:
                    continue
                op = ("rename", f, dst)
                os.rename(os.path.join(mnt, f), os.path.join(mnt, dst))
            elif r < 0.88:
                name = "%s/%sdir%d" % (d, mine, counter)
                op = ("mkdir", name)
                os.mkdir(os.path.join(mnt, name))
            elif r < 0.94 and empty_dirs:
                t = rnd.choice(empty_dirs)
                op = ("rmdir", t)
                os.rmdir(os.path.join(mnt, t))
            elif dirs:
                t = rnd.choice(dirs)
                dst = "%s/%smvd%d" % (d, mine, counter)
                if dst.startswith(t + "/"):
                    continue
                op = ("rename", t, dst)
                os.rename(os.path.join(mnt, t), os.path.join(mnt, dst))
            else:
                continue
        except OSError as e:
            failures += 1
            log.write(json.dumps(["FAILED", counter, op, repr(e)]) + "\n")
            log.flush()
            # the state of this name is now unknown: stop here, report
            break
        apply(state, op)
        log.write(json.dumps(list(op)) + "\n")
    log.close()
    return failures


def test_two_processes_stress(union):
    spec = lower_spec()
    m = union.std(lowers=[spec])
    start = initial_state(spec)
    logs = [os.path.join(union.root, "stress-%d.log" % i) for i in (0, 1)]
    pids = []
    for who in (0, 1):
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                code = 1 if worker(who, m.mnt, dict(start), logs[who], DURATION,
                                   1000 + who) else 0
            finally:
                os._exit(code)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    expect = dict(start)
    nops = 0
    failed = []
    for lp in logs:
        with open(lp) as f:
            for line in f:
                op = json.loads(line)
                if op[0] == "FAILED":
                    failed.append(op)
                    continue
                apply(expect, op)
                nops += 1
    assert not failed and codes == [0, 0], "operations failed: %r (exit codes %r)" % (failed, codes)
    assert nops > 200, "too few operations (%d) in %.0fs" % (nops, DURATION)
    want = {k: ("dir" if v is None else v) for k, v in expect.items()}
    got = tree(m.mnt)
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    assert not diff, "merged tree differs from the logs at %r" % [(k, got.get(k), want.get(k))
                                                                for k in diff[:10]]
    m.remount()
    got = tree(m.mnt)
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    assert not diff, "after remount the tree differs at %r" % [(k, got.get(k), want.get(k))
                                                             for k in diff[:10]]
    if exists(os.path.join(m.rw, WH_ORPH)):
        assert ls(os.path.join(m.rw, WH_ORPH)) == []
