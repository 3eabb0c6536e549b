"""podman with layerfs (and fuse-overlayfs) as the overlay mount program:
run, diff, commit and run the committed image, rootful and rootless."""
import json

from ctutil import run
from scenarios import run_commit_scenario


def test_mount_program_version(program, rootful_store):
    name, path, _ = program
    r = run([path, "--version"], timeout=30)
    assert r.stdout.strip() or r.stderr.strip()
    if name == "layerfs":
        assert r.stdout.startswith("layerfs "), r.stdout
    info = json.loads(rootful_store.podman("info", "--format", "json").stdout)
    store = info["store"]
    assert store["graphDriverName"] == "overlay"
    assert store["graphOptions"].get("overlay.mount_program", {}).get("Executable") == path, \
        store["graphOptions"]


def test_rootful_run_diff_commit(program, rootful_store):
    obs = run_commit_scenario(rootful_store, program)
    print(json.dumps(obs, indent=1))


def test_rootless_run_diff_commit(program, rootless_store):
    obs = run_commit_scenario(rootless_store, program)
    print(json.dumps(obs, indent=1))
