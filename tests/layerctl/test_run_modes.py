"""How containers run, under real runc and crun: the bundle is the user's
(an edited config.json is the one that runs), foreground runs pass the exit
code on, -t gives a terminal, detached runs with exec, stop, kill, logs,
ps and inspect, and the create options that reach the process."""
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runutil import ctr, ctr_runc, mountinfo, LAYERCTL_BIN, SLEEP  # noqa: E402,F401

BB = "/bin/busybox"


def config(c, name):
    with open(c.cdir(name, "config.json")) as f:
        return json.load(f)


def test_edited_config_is_the_one_that_runs(ctr):
    data = ctr.hostpath("data")
    open(os.path.join(data, "file"), "w").write("from an edited bundle\n")
    ctr.create("c1", cmd=[BB, "echo", "original"])
    cfg = config(ctr, "c1")
    cfg["process"]["args"] = [BB, "sh", "-c", "echo $EDITED; cat /edited/file"]
    cfg["process"]["env"].append("EDITED=yes")
    cfg["mounts"].append({"destination": "/edited", "type": "bind", "source": data,
                          "options": ["rbind", "ro"]})
    with open(ctr.cdir("c1", "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    before = open(ctr.cdir("c1", "config.json"), "rb").read()
    r = ctr.run("c1")
    assert r.stdout == "yes\nfrom an edited bundle\n", r.stderr
    assert open(ctr.cdir("c1", "config.json"), "rb").read() == before
    assert ctr.ctl("config", "c1").stdout.encode() == before
    r = ctr.run("c1")                                   # and again: still the user's
    assert r.stdout == "yes\nfrom an edited bundle\n"


def test_a_command_for_one_run_leaves_the_bundle_alone(ctr):
    ctr.create("c1", cmd=[BB, "echo", "from config.json"])
    before = open(ctr.cdir("c1", "config.json"), "rb").read()
    assert ctr.run("c1", BB, "echo", "just this once").stdout == "just this once\n"
    assert open(ctr.cdir("c1", "config.json"), "rb").read() == before
    assert not os.path.exists(ctr.cdir("c1", ".run"))
    assert ctr.run("c1").stdout == "from config.json\n"


def test_exit_code_is_passed_on(ctr):
    ctr.create("c1", cmd=[BB, "sh", "-c", "exit 7"])
    r = ctr.run("c1", check=False)
    assert r.returncode == 7, r.stderr
    assert ctr.state("c1") == "exited(7)"
    assert ctr.inspect("c1")["state"]["exit_code"] == 7


def test_stop_ends_a_foreground_run(ctr):
    ctr.create("c1")
    p = subprocess.Popen([LAYERCTL_BIN, "--store", ctr.store.root, "run", "--runtime",
                          ctr.runtime, "c1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ctr.wait_state("c1", "running")
        ctr.ctl("stop", "--time", "0", "c1")
        assert p.wait(timeout=30) == 137                        # 128 + SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
    assert ctr.state("c1") == "exited(137)"


def test_run_without_a_command(ctr_runc):
    ctr = ctr_runc
    ctr.create("c1", "--entrypoint", "", cmd=[])
    assert config(ctr, "c1")["process"]["args"] == []
    r = ctr.run("c1", check=False)
    assert r.returncode == 1 and "no command" in r.stderr


def test_detached_exec_stop_and_ps(ctr):
    src = ctr.hostpath("src")
    ctr.create("c1", "-v", "%s:/vol" % src, "--tmpfs", "/tmp")
    ctr.run("c1", detach=True)
    assert ctr.state("c1") == "running"
    st = ctr.inspect("c1")["state"]
    assert st["status"] == "running" and st["detached"] is True and st["init_pid"] > 0
    assert st["runtime"] == shutil.which(ctr.runtime) and st["mount"] == "mounted"
    # exec: the container's mount namespace, environment and exit code
    own = ctr.exec("c1", BB, "cat", "/proc/self/mountinfo").stdout
    init = ctr.exec("c1", BB, "cat", "/proc/1/mountinfo").stdout
    assert own == init
    assert {"/", "/proc", "/tmp", "/vol"} <= {m[2] for m in mountinfo(own)}
    ctr.exec("c1", BB, "sh", "-c", "echo via exec > /vol/e")
    assert open(os.path.join(src, "e")).read() == "via exec\n"
    r = ctr.ctl("exec", "-e", "FOO=bar", "-w", "/tmp", "c1", BB, "sh", "-c", "echo $FOO $PWD")
    assert r.stdout == "bar /tmp\n"
    assert ctr.exec("c1", BB, "sh", "-c", "exit 5", check=False).returncode == 5
    assert ctr.run("c1", check=False).returncode == 1          # running already
    # stop: sleep as pid 1 ignores SIGTERM, so SIGKILL after the timeout
    t0 = time.time()
    assert ctr.ctl("stop", "--time", "1", "c1").stdout == "c1\n"
    assert 0.9 < time.time() - t0 < 10
    assert ctr.state("c1") == "exited(137)"
    assert not os.path.exists(ctr.cdir("c1", "run.json"))
    rid = ctr.inspect("c1")["state"]["runtime_id"]
    assert subprocess.run([ctr.runtime, "state", rid], capture_output=True).returncode != 0
    assert [m for m in mountinfo() if m[2] == ctr.cdir("c1", "mnt")] == []
    r = ctr.exec("c1", BB, "true", check=False)
    assert r.returncode == 1 and "not running" in r.stderr
    assert ctr.ctl("stop", "c1").returncode == 0                # stopping a stopped one: fine


def test_stop_that_the_container_honours(ctr):
    ctr.create("c1", cmd=[BB, "sh", "-c",
                          "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"])
    ctr.run("c1", detach=True)
    wait_log(ctr, "c1", "ready\n")                            # its trap is set
    t0 = time.time()
    ctr.ctl("stop", "c1")                                       # --time 10, but it ends at once
    assert time.time() - t0 < 5
    assert ctr.state("c1") == "exited(0)"


def wait_log(ctr, name, want, timeout=20):
    deadline = time.time() + timeout
    while ctr.ctl("logs", name).stdout != want:
        assert time.time() < deadline, ctr.ctl("logs", name).stdout
        time.sleep(0.05)


def test_kill_and_logs(ctr):
    ctr.create("c1", cmd=[BB, "sh", "-c", "trap 'exit 42' USR1; echo out; echo err >&2; "
                          "while :; do sleep 0.1; done"])
    ctr.run("c1", detach=True)
    wait_log(ctr, "c1", "out\nerr\n")                        # (and its trap is set)
    r = ctr.ctl("kill", "c1", "NOSUCHSIGNAL", check=False)
    assert r.returncode == 1 and "not a signal" in r.stderr
    ctr.ctl("kill", "c1", "SIGUSR1")                            # its trap exits 42
    assert ctr.wait_state("c1", "exited") == "exited(42)"
    ctr.run("c1", detach=True)
    ctr.ctl("kill", "c1")                                       # KILL, as docker kill
    assert ctr.wait_state("c1", "exited") == "exited(137)"
    r = ctr.ctl("kill", "c1", check=False)
    assert r.returncode == 1 and "not running" in r.stderr


def test_rm_force_ends_a_running_container(ctr):
    ctr.create("c1")
    ctr.run("c1", detach=True)
    r = ctr.ctl("rm", "c1", check=False)
    assert r.returncode == 1 and "running" in r.stderr
    rid = ctr.inspect("c1")["state"]["runtime_id"]
    ctr.ctl("rm", "--force", "c1")
    assert not os.path.exists(ctr.cdir("c1"))
    assert subprocess.run([ctr.runtime, "state", rid], capture_output=True).returncode != 0


def run_on_pty(argv, timeout=60):
    """Runs argv with a terminal as stdin, stdout and stderr: (status, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                         start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        return p.wait(timeout=max(1, deadline - time.time())), out.decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_run_and_exec_with_a_terminal(ctr):
    ctr.create("c1")
    base = [LAYERCTL_BIN, "--store", ctr.store.root]
    rc, out = run_on_pty(base + ["run", "-t", "--runtime", ctr.runtime, "c1", BB, "sh", "-c",
                                 "tty; exit 3"])
    assert rc == 3, out
    assert "/dev/pts/" in out or "/dev/console" in out, out
    # without a terminal on stdin, -t is refused
    r = ctr.ctl("run", "-t", "--runtime", ctr.runtime, "c1", BB, "true", check=False)
    assert r.returncode == 1 and "-t needs a terminal" in r.stderr
    ctr.run("c1", detach=True)
    rc, out = run_on_pty(base + ["exec", "-t", "c1", BB, "tty"])
    assert rc == 0 and "/dev/pts/" in out, out
    assert ctr.ctl("run", "-d", "-t", "c1", check=False).returncode == 1


def test_create_options_reach_the_process(ctr):
    envfile = os.path.join(ctr.host, "env")
    with open(envfile, "w") as f:
        f.write("# a comment\n\nA=from-file\nB=file\nFROM_HOST\n")
    os.environ["FROM_HOST"] = "host-value"
    try:
        ctr.create("c1", "--env-file", envfile, "-e", "B=flag", "-e", "C", "-w", "/work/dir",
                   "-u", "1000:1000", "--hostname", "box", "--entrypoint", BB,
                   cmd=["sh", "-c", "echo $A $B $FROM_HOST; pwd; id -u; id -g; hostname; "
                        "cat /etc/hostname; grep CapEff /proc/self/status"])
    finally:
        del os.environ["FROM_HOST"]
    cfg = config(ctr, "c1")
    env = cfg["process"]["env"]
    assert "A=from-file" in env and "B=flag" in env and "FROM_HOST=host-value" in env
    assert not any(e.startswith("C=") for e in env)             # unset on the host: left out
    assert cfg["process"]["args"][:2] == [BB, "sh"]
    assert cfg["hostname"] == "box"
    r = ctr.run("c1")
    lines = r.stdout.splitlines()
    assert lines[:6] == ["from-file flag host-value", "/work/dir", "1000", "1000", "box", "box"]
    assert int(lines[6].split()[1], 16) == 0                    # uid 1000: no capabilities
    assert os.path.isdir(ctr.cdir("c1", "init", "work", "dir"))


def test_capabilities(ctr):
    ctr.create("c1", "--cap-add", "sys_admin", "--cap-drop", "NET_RAW",
               cmd=[BB, "grep", "CapEff", "/proc/self/status"])
    caps = config(ctr, "c1")["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_RAW" not in caps and "CAP_CHOWN" in caps
    eff = int(ctr.run("c1").stdout.split()[1], 16)
    assert eff & (1 << 21) and not eff & (1 << 13)              # SYS_ADMIN, NET_RAW
    ctr.create("c2", "--privileged", cmd=[BB, "sh", "-c",
                                          "grep CapEff /proc/self/status"])
    cfg = config(ctr, "c2")
    assert cfg["linux"]["maskedPaths"] == [] and cfg["linux"]["readonlyPaths"] == []
    assert "CAP_SYS_MODULE" in cfg["process"]["capabilities"]["bounding"]
    out = ctr.run("c2", check=False).stdout
    assert int(out.split()[1], 16) & (1 << 21)


def test_inspect_and_config(ctr_runc):
    ctr = ctr_runc
    src = ctr.hostpath("src")
    ctr.create("c1", "-v", "%s:/vol:ro" % src, "--tmpfs", "/tmp:size=1m")
    doc = ctr.inspect("c1")
    img = [v for v in ctr.store.images().values() if "bb:test" in v["names"]][0]
    assert doc["name"] == "c1" and doc["image"] == img["id"] and doc["image_name"] == "bb:test"
    assert doc["layers"] == img["layers"]
    assert doc["state"]["status"] == "created" and doc["state"]["mount"] == "created"
    assert doc["rootfs"] == ctr.cdir("c1", "mnt") and doc["read_only"] is False
    assert doc["rootfs_propagation"] == "rslave"
    mounts = {m["destination"]: m for m in doc["mounts"]}
    assert mounts["/vol"]["source"] == src and "ro" in mounts["/vol"]["options"]
    assert "rprivate" in mounts["/vol"]["options"]
    assert mounts["/tmp"]["type"] == "tmpfs" and "size=1m" in mounts["/tmp"]["options"]
    # the user's mounts come after the defaults, a parent before what is below it
    dests = [m["destination"] for m in doc["mounts"]]
    assert dests.index("/proc") < dests.index("/vol")
    assert json.loads(ctr.ctl("config", "c1").stdout) == config(ctr, "c1")
    r = ctr.ctl("inspect", "nope", check=False)
    assert r.returncode == 1 and "no container" in r.stderr
    ctr.ctl("mount", "c1")
    assert ctr.inspect("c1")["state"]["status"] == "mounted"
    ctr.ctl("umount", "c1")


def test_run_checks_an_edited_propagation(ctr_runc):
    ctr = ctr_runc
    src = ctr.hostpath("src")
    ctr.create("c1", cmd=[BB, "true"])
    cfg = config(ctr, "c1")
    cfg["mounts"].append({"destination": "/vol", "type": "bind", "source": src,
                          "options": ["rbind", "rshared"]})
    with open(ctr.cdir("c1", "config.json"), "w") as f:
        json.dump(cfg, f)
    r = ctr.run("c1", check=False)
    assert r.returncode == 1 and "linux.rootfsPropagation rshared" in r.stderr
    cfg["linux"]["rootfsPropagation"] = "rshared"
    with open(ctr.cdir("c1", "config.json"), "w") as f:
        json.dump(cfg, f)
    ctr.run("c1")                                               # and its source is made shared
    assert any(m[2] == src and any(o.startswith("shared:") for o in m[5]) for m in mountinfo())
    assert ctr.inspect("c1")["shared_mounts"] == [src]
    ctr.ctl("rm", "c1")
    assert not any(m[2] == src for m in mountinfo())


def test_two_stores_one_name(ctr_runc):
    """The runtime ids differ, so a container of the same name in another
    store is another container to the runtime."""
    from runutil import make_ctr, finish_ctr
    top, other = make_ctr("runc")
    try:
        ctr_runc.create("same")
        other.create("same")
        ctr_runc.run("same", detach=True)
        other.run("same", detach=True)
        assert ctr_runc.state("same") == other.state("same") == "running"
        assert ctr_runc.inspect("same")["state"]["runtime_id"] != \
            other.inspect("same")["state"]["runtime_id"]
        other.ctl("stop", "--time", "0", "same")
        assert ctr_runc.state("same") == "running"
    finally:
        finish_ctr(top, other)
