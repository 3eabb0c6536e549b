/* layerctl push [OPTIONS] IMAGE [[docker://]REF]: an image of the store to
 * a registry, as an OCI manifest. Each layer's blob is asked for first
 * (HEAD) and sent only when the repository lacks it: a blob the layer was
 * pulled as (meta.json "digest", "source") is mounted from its repository
 * when it is in the same registry, a committed layer's layer.tar.gz is
 * uploaded as it is, and any other layer is written afresh from diff/
 * (layerblob, as export does; its diff_id then changes, and the config
 * says so). Then the config, then the manifest under the tag. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "layerblob.h"
#include "layerctl.h"
#include "manifest.h"
#include "reference.h"
#include "registry.h"
#include "regopts.h"
#include "store.h"
#include "xferprogress.h"

struct player {
	char digest[65], diff_id[65];
	uint64_t size;
	const char *media_type;   /* OCI spelling */
};

struct push {
	struct store *s;
	struct registry *reg;
	struct reference dest;
	json_t *image;            /* the store's record */
	size_t n;
	struct player *l;
	bool rewritten;           /* a diff_id changed: the config changes */
	char work[PATH_MAX];      /* fresh blobs, "" until needed */
	struct xfer_progress prog;
	char err[2048];
};

/* The OCI media type of a layer's blob as meta.json records it; NULL when
 * it is not known (then the blob is not reused by digest). */
static const char *oci_layer_type(const char *mt)
{
	if (mt == NULL)
		return NULL;
	if (strcmp(mt, MT_DOCKER_LAYER_GZIP) == 0 || strcmp(mt, MT_OCI_LAYER_GZIP) == 0)
		return MT_OCI_LAYER_GZIP;
	if (strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0 ||
	    strcmp(mt, "application/vnd.oci.image.layer.v1.tar") == 0)
		return "application/vnd.oci.image.layer.v1.tar";
	if (strcmp(mt, "application/vnd.oci.image.layer.v1.tar+zstd") == 0)
		return mt;
	return NULL;
}

/* The blob the layer was made from is in the registry already (or can be
 * mounted there): 1, 0 when not, -1 on error. */
static int reuse(struct push *p, size_t i, json_t *meta, const char *mt)
{
	const char *digest = json_string_value(json_object_get(meta, "digest"));
	const char *diff = json_string_value(json_object_get(meta, "diff_id"));
	struct player *l = &p->l[i];
	if (!mt || !store_digest_hex(digest, l->digest) || !store_digest_hex(diff, l->diff_id))
		return 0;
	int rc = registry_blob_exists(p->reg, p->dest.path, l->digest, &l->size, p->err,
				      sizeof(p->err));
	if (rc != 0) {
		if (rc == 1)
			xfer_set_state(&p->prog.rows[i], XFER_EXISTS);
		return rc;
	}
	json_t *src = json_object_get(meta, "source");
	const char *reg = json_string_value(json_object_get(src, "registry"));
	const char *repo = json_string_value(json_object_get(src, "repository"));
	if (!reg || !repo || strcmp(reg, p->dest.domain) != 0 || strcmp(repo, p->dest.path) == 0)
		return 0;
	rc = registry_blob_mount(p->reg, p->dest.path, repo, l->digest, p->err, sizeof(p->err));
	if (rc == 1)
		rc = registry_blob_exists(p->reg, p->dest.path, l->digest, &l->size, p->err,
					  sizeof(p->err));
	if (rc == 1)
		xfer_set_state(&p->prog.rows[i], XFER_MOUNTED);
	return rc;
}

static int upload_file(struct push *p, size_t i, const struct layerblob *b)
{
	struct player *l = &p->l[i];
	memcpy(l->digest, b->digest, sizeof(l->digest));
	memcpy(l->diff_id, b->diff_id, sizeof(l->diff_id));
	l->size = b->size;
	struct xfer_row *row = &p->prog.rows[i];
	snprintf(row->id, sizeof(row->id), "%.12s", l->digest);
	row->total = b->size;
	int rc = registry_blob_exists(p->reg, p->dest.path, l->digest, NULL, p->err,
				      sizeof(p->err));
	if (rc != 0) {
		xfer_set_state(row, XFER_EXISTS);
		return rc < 0 ? -1 : 0;
	}
	int fd = open(b->blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(p->err, sizeof(p->err), "%.1024s: %s", b->blob, strerror(errno));
		return -1;
	}
	xfer_set_state(row, XFER_ACTIVE);
	rc = registry_blob_upload(p->reg, p->dest.path, l->digest, fd, NULL, b->size, &row->done,
				  p->err, sizeof(p->err));
	close(fd);
	xfer_set_state(row, rc < 0 ? XFER_FAILED : XFER_DONE);
	return rc;
}

/* A layer pushed as the blob its meta.json names, and from nowhere else so
 * far: it is in this repository now, so that a later push elsewhere in the
 * registry mounts it from here. */
static void remember_source(struct push *p, size_t i, const char *hex, json_t *meta)
{
	char ldir[PATH_MAX], want[65];
	const char *digest = json_string_value(json_object_get(meta, "digest"));
	if (json_object_get(meta, "source") || !store_digest_hex(digest, want) ||
	    strcmp(want, p->l[i].digest) != 0 ||
	    store_layer_path(p->s, hex, ldir, sizeof(ldir)) < 0 || store_lock(p->s) < 0)
		return;
	int fd = open(ldir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	json_object_set_new(meta, "source", json_pack("{s:s, s:s}", "registry", p->dest.domain,
						      "repository", p->dest.path));
	if (fd >= 0) {
		store_json_write_at(p->s, fd, "meta.json", meta);
		close(fd);
	}
	store_unlock(p->s);
}

static int push_layer(struct push *p, size_t i)
{
	char hex[65], ldir[PATH_MAX];
	const char *chain = json_string_value(json_array_get(json_object_get(p->image, "layers"),
							     i));
	if (!chain || !store_digest_hex(chain, hex) || !store_has_layer(p->s, hex) ||
	    store_layer_path(p->s, hex, ldir, sizeof(ldir)) < 0) {
		snprintf(p->err, sizeof(p->err), "layer %zu (%s) is not in the store", i,
			 chain ? chain : "?");
		return -1;
	}
	json_t *meta = store_layer_meta(p->s, hex);
	const char *mt = oci_layer_type(json_string_value(json_object_get(meta, "media_type")));
	struct xfer_row *row = &p->prog.rows[i];
	snprintf(row->id, sizeof(row->id), "%.12s",
		 json_string_value(json_object_get(meta, "digest")) ?
		 json_string_value(json_object_get(meta, "digest")) + DIGEST_PREFIX_LEN : hex);
	int rc = reuse(p, i, meta, mt);
	struct layerblob b;
	if (rc == 0 && layerblob_stored(ldir, meta, &b)) {
		p->l[i].media_type = MT_OCI_LAYER_GZIP;
		rc = upload_file(p, i, &b) < 0 ? -1 : 1;
		if (rc == 1)
			remember_source(p, i, hex, meta);
	} else if (rc == 1) {
		p->l[i].media_type = mt;
	}
	json_decref(meta);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* written afresh: the diff_id is the new tarball's */
	if (!p->work[0] && store_tmpdir(p->s, "push", p->work, sizeof(p->work)) < 0) {
		snprintf(p->err, sizeof(p->err), "%s/tmp: cannot make a directory", p->s->root);
		p->work[0] = '\0';
		return -1;
	}
	if (layerblob_fresh(ldir, p->work, i, &b) < 0) {
		snprintf(p->err, sizeof(p->err), "cannot write layer %zu (sha256:%.12s)", i, hex);
		return -1;
	}
	p->rewritten = true;
	p->l[i].media_type = MT_OCI_LAYER_GZIP;
	rc = upload_file(p, i, &b);
	unlink(b.blob);
	return rc;
}

/* The config's bytes: the stored config, with the pushed diff_ids. */
static char *config_bytes(struct push *p)
{
	json_t *config = json_deep_copy(json_object_get(p->image, "config"));
	if (!json_is_object(config)) {
		json_decref(config);
		return NULL;
	}
	if (p->rewritten) {
		json_t *ids = json_array();
		for (size_t i = 0; i < p->n; i++) {
			char id[DIGEST_STR_SIZE];
			digest_format(p->l[i].diff_id, id);
			json_array_append_new(ids, json_string(id));
		}
		json_object_set_new(config, "rootfs", json_pack("{s:s, s:o}", "type", "layers",
								 "diff_ids", ids));
	}
	char *bytes = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(config);
	return bytes;
}

static char *manifest_bytes(struct push *p, const char *config_hex, size_t config_len)
{
	json_t *layers = json_array();
	for (size_t i = 0; i < p->n; i++) {
		char d[DIGEST_STR_SIZE];
		digest_format(p->l[i].digest, d);
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
							p->l[i].media_type, "digest", d, "size",
							(json_int_t)p->l[i].size));
	}
	char cd[DIGEST_STR_SIZE];
	digest_format(config_hex, cd);
	json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
			      "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG,
			      "digest", cd, "size", (json_int_t)config_len, "layers", layers);
	char *bytes = json_dumps(m, JSON_INDENT(3));
	json_decref(m);
	return bytes;
}

/* The manifest's digest goes into the image record, as pull records it. */
static void record_digest(struct push *p, const char *id_hex, const char *config_hex,
			  const char *man_hex)
{
	char repo[600], entry[700];
	if (strcmp(id_hex, config_hex) != 0 || reference_name(&p->dest, repo, sizeof(repo)) < 0 ||
	    store_lock(p->s) < 0)
		return;
	snprintf(entry, sizeof(entry), "%s@sha256:%s", repo, man_hex);
	json_t *image = store_image_load(p->s, id_hex);
	json_t *digests = json_object_get(image, "digests");
	if (image && !json_is_array(digests))
		json_object_set_new(image, "digests", digests = json_array());
	size_t i;
	json_t *v;
	bool have = false;
	json_array_foreach(digests, i, v)
		have |= json_is_string(v) && strcmp(json_string_value(v), entry) == 0;
	if (image && !have) {
		json_array_append_new(digests, json_string(entry));
		store_image_save(p->s, id_hex, image);
	}
	json_decref(image);
	store_unlock(p->s);
}

static int push_image(struct push *p, const char *id_hex, bool quiet)
{
	p->n = json_array_size(json_object_get(p->image, "layers"));
	p->l = calloc(p->n ? p->n : 1, sizeof(*p->l));
	if (p->l == NULL)
		abort();
	xfer_progress_init(&p->prog, p->n, "Pushing", !quiet && isatty(STDOUT_FILENO));
	for (size_t i = 0; i < p->n; i++)
		snprintf(p->prog.rows[i].id, sizeof(p->prog.rows[i].id), "layer %u",
			 (unsigned)(i % 10000));
	xfer_progress_start(&p->prog);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		rc = push_layer(p, i);
	xfer_progress_free(&p->prog);
	char *config = rc == 0 ? config_bytes(p) : NULL;
	char config_hex[65], man_hex[65];
	if (rc == 0 && config == NULL) {
		snprintf(p->err, sizeof(p->err), "the image has no config");
		rc = -1;
	}
	if (rc == 0) {
		size_t len = strlen(config);
		digest_buffer(config, len, config_hex);
		int have = registry_blob_exists(p->reg, p->dest.path, config_hex, NULL, p->err,
						sizeof(p->err));
		rc = have < 0 ? -1 : have ? 0
		     : registry_blob_upload(p->reg, p->dest.path, config_hex, -1, config, len, NULL,
					    p->err, sizeof(p->err));
		char *man = rc == 0 ? manifest_bytes(p, config_hex, len) : NULL;
		if (man) {
			digest_buffer(man, strlen(man), man_hex);
			rc = registry_put_manifest(p->reg, p->dest.path, p->dest.tag, MT_OCI_MANIFEST,
						   man, strlen(man), p->err, sizeof(p->err));
			if (rc == 0 && !quiet)
				printf("%s: digest: sha256:%s size: %zu\n", p->dest.tag, man_hex,
				       strlen(man));
			free(man);
		}
	}
	if (rc == 0)
		record_digest(p, id_hex, config_hex, man_hex);
	free(config);
	free(p->l);
	return rc;
}

static int usage(FILE *out)
{
	fprintf(out, "usage: layerctl push [OPTIONS] IMAGE [[docker://]NAME[:TAG]]\n"
		"  IMAGE: an image of the store (name, id); pushed to NAME:TAG, or to IMAGE's own\n"
		"         name when no destination is given\n"
		REGOPTS_USAGE
		"  -q, --quiet            no progress\n");
	return out == stdout ? CTL_OK : CTL_USAGE;
}

static int run_push(struct ctl *ctl, struct push *p, const char *src,
		    const struct registry_opts *ro)
{
	struct store s;
	char id[65], why[400];
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	p->s = &s;
	int rc = store_image_find(&s, src, id);
	if (rc < 0) {
		store_image_find_reason(src, rc, why, sizeof(why));
		fprintf(stderr, "layerctl: push: image %s: %s\n", src, why);
		store_close(&s);
		return CTL_FAIL;
	}
	p->image = store_image_load(&s, id);
	rc = p->image ? 0 : -1;
	if (rc < 0)
		snprintf(p->err, sizeof(p->err), "image %s: cannot read its record", id);
	if (rc == 0)
		rc = registry_open(&p->reg, p->dest.domain, p->dest.path, ro, p->err,
				   sizeof(p->err));
	if (rc == 0)
		rc = push_image(p, id, ctl->quiet);
	if (rc < 0)
		fprintf(stderr, "layerctl: %s\n", p->err);
	if (p->work[0]) {
		int tfd = openat(s.fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
		const char *base = strrchr(p->work, '/');
		if (tfd >= 0)
			store_remove_tree(tfd, base ? base + 1 : p->work, NULL);
		if (tfd >= 0)
			close(tfd);
	}
	registry_close(p->reg);
	json_decref(p->image);
	store_close(&s);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}

int cmd_push(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		REGOPTS_LONG,
		{ 0 },
	};
	struct registry_opts ro;
	int c, bad = 0;
	regopts_init(&ro);
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int r = regopts_handle(&ro, c, optarg);
		if (r != 0) {
			bad |= r < 0;
			continue;
		}
		switch (c) {
		case 's': ctl->store_root = optarg; break;
		case 'q': ctl->quiet = true; break;
		case 'h': regopts_free(&ro); return usage(stdout);
		default: bad = 1; break;
		}
	}
	int left = argc - optind;
	if (bad || left < 1 || left > 2) {
		regopts_free(&ro);
		return usage(stderr);
	}
	struct push p = { 0 };
	char err[512];
	const char *dest = argv[argc - 1];
	if (reference_parse(dest, &p.dest, err, sizeof(err)) < 0 || p.dest.digest[0]) {
		fprintf(stderr, "layerctl: push: destination '%s': %s\n", dest,
			p.dest.digest[0] ? "a tag, not a digest" : err);
		regopts_free(&ro);
		return CTL_USAGE;
	}
	reference_default_tag(&p.dest);
	int rc = run_push(ctl, &p, argv[optind], &ro);
	regopts_free(&ro);
	return rc;
}
