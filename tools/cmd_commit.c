/* layerctl commit NAME NEWNAME[:TAG]: the container's rw layer becomes a
 * new layer (layers/<chain>/ with diff/, meta.json and the gzip blob
 * layer.tar.gz that export hands out as it is) and a new image whose
 * config is the old one with the layer's diff_id and a history entry
 * appended. The rw layer goes through layerwrite, and diff/ is unpacked
 * from that very tarball, so the stored layer is exactly what the blob
 * says. The tag moves to the new image. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctrview.h"
#include "digest.h"
#include "image.h"
#include "unpack.h"
#include "layerctl.h"
#include "layerwrite.h"
#include "reference.h"
#include "store.h"

#define LAYER_MEDIA_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"

/* Unpacks our own layer blob into DIR (an empty directory) with the
 * unpacker every layer goes through (the same rules for whiteouts, long
 * names and paths); *size gets the bytes of its regular files. */
static int unpack_blob(const char *blob, const char *dir, uint64_t *size)
{
	struct image_layer l = { .file = (char *)blob, .label = "the new layer" };
	struct blob_reader *in = NULL;
	char err[PATH_MAX + 256] = "";
	int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = rootfd < 0 ? -1 : blob_open(&l, &in, err, sizeof(err));
	if (rc == 0) {
		struct unpack_result res;
		rc = unpack_layer(in, rootfd, l.label, NULL, &res, err, sizeof(err));
		if (rc == 0)
			*size = res.size;
		unpack_result_free(&res);
	}
	if (in)
		blob_close(in);
	if (rootfd >= 0)
		close(rootfd);
	if (rc < 0)
		fprintf(stderr, "layerctl: commit: unpacking the new layer: %s\n",
			err[0] ? err : strerror(errno));
	return rc;
}

static char *prefixed(const char *hex)
{
	char *s;
	if (asprintf(&s, "%s%s", DIGEST_PREFIX, hex) < 0)
		abort();
	return s;
}

/* tmp/layer/{diff/,meta.json,layer.tar.gz} renamed to layers/<chain>. */
static int store_layer(const struct store *s, const char *tmp, const char *chain,
		       const char *parent, const struct layer_blob *lb)
{
	char ldir[PATH_MAX + 8], diff[PATH_MAX + 16], blob[PATH_MAX + 16], dst[PATH_MAX];
	snprintf(ldir, sizeof(ldir), "%s/layer", tmp);
	snprintf(diff, sizeof(diff), "%s/diff", ldir);
	uint64_t size = 0;
	if (mkdir(ldir, 0700) < 0 || mkdir(diff, 0755) < 0)
		return -1;
	snprintf(blob, sizeof(blob), "%s/blob.tar.gz", tmp);
	if (unpack_blob(blob, diff, &size) < 0)
		return -1;
	char *chain_id = prefixed(chain), *diff_id = prefixed(lb->diff_id),
	     *digest = prefixed(lb->digest), *parent_id = parent ? prefixed(parent) : NULL;
	json_t *meta = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I}", "chain_id", chain_id,
				 "diff_id", diff_id, "parent", parent_id, "digest", digest,
				 "media_type", LAYER_MEDIA_TYPE, "size", (json_int_t)size);
	free(chain_id);
	free(diff_id);
	free(digest);
	free(parent_id);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/meta.json", ldir);
	int rc = meta && json_dump_file(meta, path, JSON_INDENT(2)) == 0 ? 0 : -1;
	json_decref(meta);
	snprintf(path, sizeof(path), "%s/layer.tar.gz", ldir);
	if (rc == 0 && rename(blob, path) < 0)
		rc = -1;
	if (rc == 0 && (store_layer_path(s, chain, dst, sizeof(dst)) < 0 || rename(ldir, dst) < 0))
		rc = errno == EEXIST || errno == ENOTEMPTY ? 0 : -1;   /* made meanwhile */
	return rc;
}

/* The new image: config with diff_id and history appended. */
static json_t *new_image(json_t *image, const char *name, const char *tag, const char *diff_hex,
			 const char *chain_hex, char id_hex[DIGEST_HEX_LEN + 1])
{
	char created[64];
	store_now_rfc3339(created);
	json_t *config = json_deep_copy(json_object_get(image, "config"));
	if (!json_is_object(config)) {
		json_decref(config);
		config = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
	}
	json_t *rootfs = json_object_get(config, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
		json_object_set_new(config, "rootfs", rootfs);
	}
	char *diff_id = prefixed(diff_hex);
	json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(diff_id));
	json_t *history = json_object_get(config, "history");
	if (!json_is_array(history))
		json_object_set_new(config, "history", history = json_array());
	char by[512];
	snprintf(by, sizeof(by), "layerctl commit %s", name);
	json_array_append_new(history, json_pack("{s:s, s:s}", "created", created, "created_by", by));
	json_object_set_new(config, "created", json_string(created));
	char *bytes = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	digest_buffer(bytes, strlen(bytes), id_hex);
	free(bytes);
	/* layers keep the spelling the store already uses */
	json_t *layers = json_deep_copy(json_object_get(image, "layers"));
	if (!json_is_array(layers))
		layers = json_array();
	const char *first = json_string_value(json_array_get(layers, 0));
	char *chain = prefixed(chain_hex);
	bool bare = first && strncmp(first, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0;
	json_array_append_new(layers, json_string(bare ? chain_hex : chain));
	char *id = prefixed(id_hex);
	json_t *img = json_pack("{s:s, s:[s], s:o, s:O, s:s, s:o}", "id", id, "names", tag,
				"layers", layers, "diff_ids", json_object_get(rootfs, "diff_ids"),
				"created", created, "config", config);
	free(id);
	free(chain);
	free(diff_id);
	return img;
}

struct untag {
	const char *tag, *keep;
	json_t *changed;  /* id -> image with the tag dropped */
};

static int untag_one(const char *id_hex, json_t *image, void *arg)
{
	struct untag *u = arg;
	json_t *names = json_object_get(image, "names");
	if (!strcmp(id_hex, u->keep))
		return 0;
	if (store_names_remove(names, u->tag))
		json_object_set(u->changed, id_hex, image);
	return 0;
}

/* The tag now names the new image only. */
static void move_tag(struct store *s, const char *tag, const char *id_hex)
{
	struct untag u = { tag, id_hex, json_object() };
	store_image_each(s, untag_one, &u);
	const char *key;
	json_t *img;
	json_object_foreach(u.changed, key, img)
		store_image_save(s, key, img);
	json_decref(u.changed);
}

static int write_blob(const char *rw, const struct mw_view *view, const char *blob,
		      struct layer_blob *lb)
{
	int rwfd = open(rw, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int out = open(blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int rc = rwfd < 0 || out < 0 ? -1 : layerwrite(rwfd, view, out, lb);
	if (rc == 0 && (fsync(out) < 0 || close(out) < 0))
		rc = -1;
	else if (out >= 0 && rc < 0)
		close(out);
	if (rwfd >= 0)
		close(rwfd);
	if (rc < 0)
		fprintf(stderr, "layerctl: commit: cannot write the layer from %s\n", rw);
	return rc;
}

static int commit_locked(struct store *s, const char *name, json_t *ctr, const char *tag)
{
	char hex[DIGEST_HEX_LEN + 1], tmp[PATH_MAX], rw[PATH_MAX + 8], blob[PATH_MAX + 16];
	const char *image_id = json_string_value(json_object_get(ctr, "image"));
	json_t *image = image_id && store_digest_hex(image_id, hex) ? store_image_load(s, hex) : NULL;
	if (!image) {
		fprintf(stderr, "layerctl: commit: the image of %s is not in the store\n", name);
		return CTL_FAIL;
	}
	struct layer_blob lb;
	char parent[DIGEST_HEX_LEN + 1], chain[DIGEST_HEX_LEN + 1], id[DIGEST_HEX_LEN + 1];
	json_t *layers = json_object_get(ctr, "layers");
	const char *top = json_string_value(json_array_get(layers, json_array_size(layers) - 1));
	bool has_parent = top && store_digest_hex(top, parent);
	int rc = CTL_FAIL;
	store_container_path(s, name, tmp, sizeof(tmp));
	snprintf(rw, sizeof(rw), "%s/rw", tmp);
	if (store_tmpdir(s, "commit", tmp, sizeof(tmp)) < 0)
		goto out;
	snprintf(blob, sizeof(blob), "%s/blob.tar.gz", tmp);
	/* The lower view: directories the container renamed are written whole. */
	struct ctr_view view;
	if (ctr_view_open(s, name, ctr, "commit", &view) < 0)
		goto out;
	int wrote = write_blob(rw, &view.view, blob, &lb);
	ctr_view_close(&view);
	if (wrote < 0)
		goto out;
	digest_chain_id(has_parent ? parent : NULL, lb.diff_id, chain);
	if (!store_has_layer(s, chain) &&
	    store_layer(s, tmp, chain, has_parent ? parent : NULL, &lb) < 0) {
		fprintf(stderr, "layerctl: commit: cannot store layer %s: %s\n", chain, strerror(errno));
		goto out;
	}
	json_t *img = new_image(image, name, tag, lb.diff_id, chain, id);
	if (img && store_image_save(s, id, img) == 0) {
		move_tag(s, tag, id);
		printf("%s%s\n", DIGEST_PREFIX, id);
		rc = CTL_OK;
	}
	json_decref(img);
out:
	json_decref(image);
	return rc;
}

int cmd_commit(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 3 || argv[1][0] == '-' || !*argv[2]) {
		fprintf(stderr, "usage: layerctl commit NAME NEWNAME[:TAG]\n");
		return CTL_USAGE;
	}
	char tag[1024], err[256];
	if (reference_normalize(argv[2], tag, sizeof(tag), err, sizeof(err)) < 0 ||
	    (strchr(tag, '@') && snprintf(err, sizeof(err), "a name takes a tag, not a digest"))) {
		fprintf(stderr, "layerctl: commit: '%s': %s\n", argv[2], err);
		fprintf(stderr, "usage: layerctl commit NAME NEWNAME[:TAG]\n");
		return CTL_USAGE;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, argv[1], "commit");
	if (!ctr)
		return CTL_FAIL;
	int rc = CTL_FAIL;
	if (store_lock(&s) == 0)
		rc = commit_locked(&s, argv[1], ctr, tag);
	json_decref(ctr);
	store_unlock(&s);
	store_close(&s);
	return rc;
}
