"""layerctl as people learn it: `layerctl help [COMMAND]` and -h/--help on
every command (usage on stdout, exit 0), bad usage of every command (usage
on stderr, exit 2), and error messages that stay whole when a path is very
long (5,000 bytes: the reason is still at the end)."""
import os

import pytest

from imagegen import Layer, file, write_file

COMMANDS = ["unpack", "images", "rmi", "gc", "create", "mount", "umount", "rm", "ps", "inspect",
            "config", "run", "exec", "stop", "kill", "logs", "diff", "commit", "export", "pull",
            "push", "login", "logout", "branches", "which", "branch", "help"]

# For each command, argument lists that are bad usage.
BAD_USAGE = {
    "unpack": [[], ["a", "b"], ["--bogus", "x"], ["--platform"]],
    "images": [["x"], ["--bogus"]],
    "rmi": [[], ["--bogus", "x"]],
    "gc": [["x"], ["--bogus"]],
    "create": [[], ["a"], ["--bogus", "a", "b"]],
    "mount": [[], ["a", "b"], ["--bogus", "a"]],
    "umount": [[], ["a", "b"], ["--bogus", "a"]],
    "rm": [[], ["a", "b"], ["--bogus", "a"]],
    "ps": [["x"], ["--bogus"]],
    "inspect": [[], ["a", "b"]],
    "config": [[], ["a", "b"]],
    "exec": [[], ["a"], ["--bogus", "a", "b"]],
    "stop": [[], ["a", "b"], ["--bogus", "a"]],
    "kill": [[], ["a", "b", "c"]],
    "logs": [[], ["a", "b"]],
    "run": [[], ["--bogus"]],
    "diff": [[], ["a", "b"], ["--bogus"]],
    "commit": [[], ["a"], ["a", "b", "c"]],
    "export": [[], ["img"], ["img", "--oci"], ["img", "--oci", "a", "--docker-archive", "b"]],
    "pull": [[], ["a", "b"], ["--bogus", "x"], ["--platform"], ["--jobs", "0", "x"]],
    "push": [[], ["a", "b", "c"], ["--bogus", "x"]],
    "login": [[], ["a", "b"], ["--bogus", "h"]],
    "logout": [[], ["a", "b"], ["--bogus"]],
    "branches": [[], ["a", "b"], ["--bogus", "m"]],
    "which": [[], ["a", "b"]],
    "branch": [[], ["add", "m"], ["bogus", "m", "x"]],
    "help": [["no-such-command"], ["a", "b"]],
}


def test_help_lists_every_command(ctl):
    r = ctl("help")
    assert r.stderr == ""
    assert r.stdout.startswith("usage: layerctl ")
    listed = [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("  ") and
              not ln.startswith("   ") and not ln.lstrip().startswith("-")]
    assert listed == COMMANDS
    assert ctl("--help").stdout == r.stdout
    assert ctl("-h").stdout == r.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_of_each_command(ctl, cmd):
    spellings = [["help", cmd], [cmd, "--help"], [cmd, "-h"]]
    outs = []
    for args in spellings:
        r = ctl(*args)
        assert r.stderr == "", (args, r.stderr)
        first = r.stdout.splitlines()[0]
        assert first.startswith("usage: layerctl ") and (" %s" % cmd) in first, r.stdout
        assert "--store DIR" in r.stdout
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
    # help never touches a store
    assert not os.path.exists(ctl.store)


def test_help_after_other_arguments(ctl):
    assert ctl("unpack", "x.tar", "--help").stdout.startswith("usage: layerctl ")
    assert ctl("export", "img", "--oci", "d", "-h").stdout.startswith("usage: layerctl ")


def test_run_passes_help_to_the_container(ctl):
    """run NAME CMD...: a --help after NAME belongs to the container's
    command, not to layerctl."""
    ctl("images")   # a store, without the container
    r = ctl("run", "nosuch", "/bin/ls", "--help", rc=1)
    assert "usage" not in r.stdout
    assert "nosuch" in r.stderr


def test_unpack_details(ctl):
    out = ctl("help", "unpack").stdout
    for spelling in ("oci:DIR[:TAG]", "oci-archive:FILE[:TAG]", "docker-archive:FILE[:NAME[:TAG]]",
                     "--platform OS/ARCH[/VARIANT]", "PATH:TAG"):
        assert spelling in out, spelling
    assert "--dev" in ctl("help", "mount").stdout


@pytest.mark.parametrize("cmd", sorted(BAD_USAGE))
def test_bad_usage(ctl, cmd):
    for args in BAD_USAGE[cmd]:
        r = ctl(cmd, *args, rc=2)
        assert r.stdout == "", (args, r.stdout)
        assert "usage: layerctl" in r.stderr, (args, r.stderr)
    assert not os.path.exists(os.path.join(ctl.store, "images"))


def test_unknown_command(ctl):
    r = ctl("frobnicate", rc=2)
    assert "unknown command 'frobnicate'" in r.stderr


LONG = "/tmp/" + "x" * 5000


def assert_whole(stderr, reasons):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-500:]
    assert lines[0].startswith("layerctl"), lines[0][:200]
    assert any(lines[0].endswith(r) for r in reasons), lines[0][-300:]


@pytest.mark.parametrize("args", [
    ["unpack", LONG], ["unpack", "oci:" + LONG + ":tag"], ["unpack", LONG + "/x.tar"],
    ["branches", LONG], ["which", LONG + "/file"], ["branch", "del", LONG, "1"],
    ["create", LONG, "c"], ["diff", "x" * 5000], ["mount", "x" * 5000],
])
def test_long_paths_keep_the_reason(ctl, args):
    ctl("images")   # a store
    r = ctl(*args, rc=1)
    assert_whole(r.stderr, ["File name too long", "not found",
                            "no such image (invalid reference format: too long (%d bytes))"
                            % len(LONG),
                            "no container named " + "x" * 5000] + [
                            "(an image source is a path, or oci:DIR[:TAG], oci-archive:FILE[:TAG],"
                            " docker-archive:FILE[:NAME:TAG])"])


@pytest.mark.parametrize("how", ["--oci", "--docker-archive"])
def test_long_export_target_keeps_the_reason(ctl, work, how):
    layer = Layer([file("a", b"x")], "gz")
    ctl("unpack", "-q", write_file(layer.blob, os.path.join(work, "l.tar.gz")), "--name", "t:1")
    r = ctl("export", "t:1", how, LONG, rc=1)
    assert_whole(r.stderr, ["File name too long"])
