"""layerctl images, rmi and gc on a store filled by unpack (containers are
simulated by writing container.json by hand, as tools/store.h lays it out)."""
import json
import os

from imagegen import (Layer, chain_ids, config_for, directory, docker_members, file,
                      oci_members, sha256, write_dir, write_tar)


def layer(tag, size=1000):
    return Layer([directory("l"), file("l/" + tag, tag.encode() * (size // len(tag)))], "gz")


def unpack(ctl, work, layers, name, fmt="oci"):
    if fmt == "oci":
        path = write_dir(oci_members(layers, ref=name), os.path.join(work, sha256(
            name.encode())[:8]))
    else:
        path = write_tar(docker_members(layers, tags=[name]),
                         os.path.join(work, sha256(name.encode())[:8] + ".tar"))
    ctl("unpack", path)
    return sha256(config_for(layers))


def table(ctl):
    lines = ctl("images").stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "IMAGE"]
    return [ln.split() for ln in lines[1:]]


def fake_container(ctl, name, image_id, layers):
    d = ctl.path("containers", name)
    for sub in ("init", "rw", "mnt"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "container.json"), "w") as f:
        json.dump({"name": name, "image": "sha256:" + image_id,
                   "layers": ["sha256:" + c for c in layers],
                   "created": "2024-01-01T00:00:00Z"}, f)


def test_images_table(ctl, work):
    a = [layer("a1", 5000), layer("a2", 3000)]
    ida = unpack(ctl, work, a, "app:1")
    idb = unpack(ctl, work, [layer("b1")], "base:2", fmt="docker")
    rows = table(ctl)
    assert [r[0] for r in rows] == ["app:1", "base:2"]
    assert rows[0][1] == ida[:12] and rows[1][1] == idb[:12]
    assert rows[0][2] == "2" and rows[1][2] == "1"
    assert rows[0][3:5] == ["7.8", "KiB"]   # 8000 bytes of files
    assert rows[0][5] == "2024-01-02"
    ids = ctl("images", "-q").stdout.split()
    assert sorted(ids) == sorted([ida[:12], idb[:12]])


def test_images_empty_store(ctl):
    assert table(ctl) == []


def test_unnamed_image_shows_none(ctl, work):
    path = write_dir(oci_members([layer("x")], ref=None), os.path.join(work, "noname"))
    ctl("unpack", path)
    rows = table(ctl)
    assert rows[0][0] == "<none>"


def test_rmi_untags_then_deletes(ctl, work):
    layers = [layer("x")]
    iid = unpack(ctl, work, layers, "one:1")
    unpack(ctl, work, layers, "two:2")
    assert sorted(r[0] for r in table(ctl)) == ["one:1", "two:2"]
    r = ctl("rmi", "one:1")
    assert "Untagged: one:1" in r.stdout and "Deleted" not in r.stdout
    assert os.path.exists(ctl.path("images", iid + ".json"))
    r = ctl("rmi", "two:2")
    assert "Deleted: sha256:" + iid in r.stdout
    assert ctl.images() == []
    # the layers stay until gc
    assert ctl.layers() == [layers[0].diff_id]


def test_rmi_latest_implied(ctl, work):
    unpack(ctl, work, [layer("x")], "plain:latest")
    ctl("rmi", "plain")
    assert ctl.images() == []


def test_rmi_by_id_and_prefix(ctl, work):
    iid = unpack(ctl, work, [layer("x")], "a:1")
    unpack(ctl, work, [layer("y")], "b:1")
    ctl("rmi", iid[:12])
    ctl("rmi", "sha256:" + sha256(config_for([layer("y")])))
    assert ctl.images() == []


def test_rmi_id_with_several_names_needs_force(ctl, work):
    layers = [layer("x")]
    iid = unpack(ctl, work, layers, "one:1")
    unpack(ctl, work, layers, "two:1")
    r = ctl("rmi", iid, rc=1)
    assert "2 names" in r.stderr
    r = ctl("rmi", "-f", iid)
    assert "Untagged: one:1" in r.stdout and "Untagged: two:1" in r.stdout
    assert ctl.images() == []


def test_rmi_unknown(ctl, work):
    r = ctl("rmi", "nothing:here", rc=1)
    assert "no such image" in r.stderr
    ctl("rmi", rc=2)


def test_rmi_refused_while_container_uses_image(ctl, work):
    layers = [layer("x"), layer("y")]
    iid = unpack(ctl, work, layers, "used:1")
    fake_container(ctl, "web", iid, chain_ids([l.diff_id for l in layers]))
    fake_container(ctl, "db", iid, chain_ids([l.diff_id for l in layers]))
    r = ctl("rmi", "used:1", rc=1)
    assert "db" in r.stderr and "web" in r.stderr and "container" in r.stderr
    assert ctl.images() == [iid + ".json"]
    r = ctl("rmi", iid, rc=1)
    assert ctl.images() == [iid + ".json"]
    # once the containers are gone
    os.unlink(ctl.path("containers", "web", "container.json"))
    os.unlink(ctl.path("containers", "db", "container.json"))
    ctl("rmi", "used:1")
    assert ctl.images() == []


def test_rmi_untag_allowed_while_container_uses_image(ctl, work):
    layers = [layer("x")]
    iid = unpack(ctl, work, layers, "a:1")
    unpack(ctl, work, layers, "b:1")
    fake_container(ctl, "c1", iid, [layers[0].diff_id])
    ctl("rmi", "a:1")
    assert [r[0] for r in table(ctl)] == ["b:1"]


def test_unpack_moves_a_name(ctl, work):
    ida = unpack(ctl, work, [layer("x")], "app:1")
    idb = unpack(ctl, work, [layer("y")], "app:1")
    assert ida != idb
    rows = table(ctl)
    assert sorted((r[0], r[1]) for r in rows) == [("<none>", ida[:12]), ("app:1", idb[:12])]


def test_gc_removes_unused_layers(ctl, work):
    shared = layer("shared", 4000)
    a = [shared, layer("only-a", 100000)]
    b = [shared, layer("only-b", 2000)]
    unpack(ctl, work, a, "a:1")
    unpack(ctl, work, b, "b:1")
    assert len(ctl.layers()) == 3
    r = ctl("gc")
    assert "removed 0 layers" in r.stdout
    ctl("rmi", "a:1")
    r = ctl("gc")
    assert "removed 1 layer," in r.stdout, r.stdout
    removed_bytes = int(r.stdout.split("layer,")[1].split()[0])
    assert removed_bytes >= 100000
    assert sorted(ctl.layers()) == sorted(chain_ids([l.diff_id for l in b]))
    assert ctl.tmp_entries() == []
    ctl("rmi", "b:1")
    r = ctl("gc")
    assert "removed 2 layers" in r.stdout
    assert ctl.layers() == []


def test_gc_keeps_layers_of_containers(ctl, work):
    layers = [layer("x"), layer("y")]
    chains = chain_ids([l.diff_id for l in layers])
    iid = unpack(ctl, work, layers, "img:1")
    fake_container(ctl, "keep", iid, chains)
    # the image record is gone (e.g. removed by hand): the container still holds its layers
    os.unlink(ctl.path("images", iid + ".json"))
    r = ctl("gc")
    assert "removed 0 layers" in r.stdout
    assert ctl.layers() == sorted(chains)


def test_gc_layer_unpacked_again_after_gc(ctl, work):
    layers = [layer("x")]
    unpack(ctl, work, layers, "img:1")
    ctl("rmi", "img:1")
    ctl("gc")
    unpack(ctl, work, layers, "img:1")
    assert ctl.layers() == [layers[0].diff_id]
    assert os.path.isfile(ctl.diff(layers[0].diff_id, "l", "x"))
