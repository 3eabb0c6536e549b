/* layerctl pull [OPTIONS] [docker://]REF: an image from a registry into the
 * store. The manifest (through an index for the platform asked for) and
 * the config are fetched and checked against their digests; the layers
 * the store lacks (by chain id) are streamed, a few at a time, through
 * their digest check and decompression straight into the unpacker
 * (image_load, shared with unpack), their diff_ids checked at the end. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "imageload.h"
#include "layerctl.h"
#include "manifest.h"
#include "reference.h"
#include "registry.h"
#include "regopts.h"
#include "store.h"
#include "xferprogress.h"

#define INDEX_DEPTH 3

struct pull {
	struct registry *reg;
	struct reference ref;
	char repo[300];           /* "domain/path" for names and digests */
	struct manifest man;      /* the image manifest */
	char top_digest[65];      /* what REF names: an index or the manifest */
	char man_digest[65];      /* the image manifest chosen */
	struct registry_blob **blobs;
	struct xfer_progress prog;
};

/* ---- the manifest ---- */

static int fetch(struct pull *p, const char *ref, struct manifest *m, char digest[65],
		 char *err, size_t errsz)
{
	char *body = NULL, *ctype = NULL, label[400];
	size_t len = 0;
	if (registry_get_manifest(p->reg, p->ref.path, ref, &body, &len, &ctype, digest, err,
				  errsz) < 0)
		return -1;
	snprintf(label, sizeof(label), "%s/%s: manifest %.80s", registry_host(p->reg),
		 p->ref.path, ref);
	int rc = manifest_parse(body, len, ctype, label, m, err, errsz);
	free(body);
	free(ctype);
	return rc;
}

/* From REF down through indexes to one image manifest for the platform. */
static int resolve(struct pull *p, const struct image_platform *plat, char *err, size_t errsz)
{
	const char *ref = p->ref.digest[0] ? p->ref.digest : p->ref.tag;
	if (fetch(p, ref, &p->man, p->top_digest, err, errsz) < 0)
		return -1;
	memcpy(p->man_digest, p->top_digest, sizeof(p->man_digest));
	for (int depth = 0; p->man.kind == MANIFEST_INDEX; depth++) {
		size_t at;
		char why[700], child[80];
		if (depth >= INDEX_DEPTH) {
			snprintf(err, errsz, "%s/%s: indexes nested too deeply", registry_host(p->reg),
				 p->ref.path);
			return -1;
		}
		if (manifest_choose(&p->man, plat, &at, why, sizeof(why)) < 0) {
			snprintf(err, errsz, "%s/%s: %s", registry_host(p->reg), p->ref.path, why);
			return -1;
		}
		snprintf(child, sizeof(child), "sha256:%s", p->man.manifests[at].digest);
		manifest_free(&p->man);
		if (fetch(p, child, &p->man, p->man_digest, err, errsz) < 0)
			return -1;
	}
	return 0;
}

/* ---- the config ---- */

static int fetch_config(struct pull *p, json_t **config, char *err, size_t errsz)
{
	char *body = NULL;
	const struct descriptor *c = &p->man.config;
	if (registry_get_blob(p->reg, p->ref.path, c->digest, c->size, CONFIG_MAX, &body, err,
			      errsz) < 0)
		return -1;
	json_error_t je;
	*config = json_loads(body, 0, &je);
	free(body);
	if (!json_is_object(*config)) {
		snprintf(err, errsz, "%s/%s: config sha256:%.12s: not a JSON object (%s)",
			 registry_host(p->reg), p->ref.path, c->digest, *config ? "" : je.text);
		json_decref(*config);
		return -1;
	}
	return 0;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

/* The image as image_load takes it: layers with promised digests. */
static int build_image(struct pull *p, json_t *config, struct image_src *img, char *err,
		       size_t errsz)
{
	const char *host = registry_host(p->reg);
	json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (json_array_size(ids) != p->man.nlayers) {
		snprintf(err, errsz, "%s/%s: config sha256:%.12s: rootfs.diff_ids lists %zu layers, "
			 "the manifest %zu", host, p->ref.path, p->man.config.digest,
			 json_array_size(ids), p->man.nlayers);
		return -1;
	}
	memset(img, 0, sizeof(*img));
	img->format = IMAGE_OCI;
	img->source = xasprintf("%s/%s", host, p->ref.path);
	img->config = json_incref(config);
	memcpy(img->config_digest, p->man.config.digest, 65);
	img->nlayers = p->man.nlayers;
	img->layers = calloc(img->nlayers ? img->nlayers : 1, sizeof(*img->layers));
	if (img->layers == NULL)
		abort();
	for (size_t i = 0; i < img->nlayers; i++) {
		struct image_layer *l = &img->layers[i];
		const struct descriptor *d = &p->man.layers[i];
		if (!digest_parse(json_string_value(json_array_get(ids, i)), l->diff_id)) {
			snprintf(err, errsz, "%s/%s: config: rootfs.diff_ids[%zu]: not a sha256 "
				 "digest", host, p->ref.path, i);
			return -1;
		}
		memcpy(l->digest, d->digest, 65);
		l->size = d->size;
		l->label = xasprintf("%s/%s: layer %zu (sha256:%.12s)", host, p->ref.path, i,
				     d->digest);
		l->digest_field = xasprintf("%s/%s: manifest sha256:%.12s: layers[%zu].digest",
					    host, p->ref.path, p->man_digest, i);
		l->diff_id_field = xasprintf("%s/%s: config sha256:%.12s: rootfs.diff_ids[%zu]",
					     host, p->ref.path, p->man.config.digest, i);
		l->media_type = strdup(d->media_type);
	}
	return 0;
}

/* A warning when the image is not for the platform asked for. */
static void check_platform(json_t *config, const struct image_platform *want)
{
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	if (os && arch && (strcmp(os, want->os) != 0 || strcmp(arch, want->arch) != 0)) {
		char w[100];
		image_platform_format(want->os, want->arch, want->variant, w, sizeof(w));
		fprintf(stderr, "layerctl: warning: the image is for %s/%s, not %s\n", os, arch, w);
	}
}

/* ---- layers ---- */

static int open_layer(void *ctx, size_t i, struct blob_reader **out, char *err, size_t errsz)
{
	struct pull *p = ctx;
	const struct descriptor *d = &p->man.layers[i];
	xfer_set_state(&p->prog.rows[i], XFER_ACTIVE);
	return registry_blob_open(p->reg, p->ref.path, d->digest, d->size, &p->prog.rows[i].done,
				  &p->blobs[i], out, err, errsz);
}

static void layer_failed(void *ctx, size_t i, char *err, size_t errsz)
{
	struct pull *p = ctx;
	xfer_set_state(&p->prog.rows[i], XFER_FAILED);
	if (p->blobs[i])
		registry_blob_explain(p->blobs[i], err, errsz);
	p->blobs[i] = NULL;  /* closed right after */
}

/* Where the blob came from: push mounts it from there. */
static void layer_meta(void *ctx, size_t i, json_t *meta)
{
	struct pull *p = ctx;
	json_object_set_new(meta, "source", json_pack("{s:s, s:s}", "registry", p->ref.domain,
						      "repository", p->ref.path));
	json_object_set_new(meta, "blob_size", json_integer((json_int_t)p->man.layers[i].size));
}

static void mark_present(struct pull *p, const struct store *s, const struct image_src *img)
{
	char chain[65] = "";
	for (size_t i = 0; i < img->nlayers; i++) {
		struct xfer_row *row = &p->prog.rows[i];
		digest_chain_id(i ? chain : NULL, img->layers[i].diff_id, chain);
		snprintf(row->id, sizeof(row->id), "%.12s", img->layers[i].digest);
		row->total = p->man.layers[i].size;
		if (store_has_layer(s, chain))
			xfer_set_state(row, XFER_EXISTS);
	}
}

static int pull_layers(struct pull *p, struct store *s, struct image_src *img, unsigned jobs,
		       bool show)
{
	char name[700], digest[700], manifest[700];
	char *names[1] = { name }, *digests[2] = { digest, manifest };
	struct image_load o = { .names = names, .digests = digests, .jobs = jobs,
				.keep_finished = true, .open = open_layer, .failed = layer_failed,
				.meta = layer_meta, .ctx = p };
	if (p->ref.tag[0]) {
		struct reference tagged = p->ref;
		tagged.digest[0] = '\0';
		reference_string(&tagged, name, sizeof(name));
		o.nnames = 1;
	}
	snprintf(digest, sizeof(digest), "%s@sha256:%s", p->repo, p->top_digest);
	snprintf(manifest, sizeof(manifest), "%s@sha256:%s", p->repo, p->man_digest);
	o.ndigests = strcmp(p->top_digest, p->man_digest) ? 2 : 1;
	p->blobs = calloc(img->nlayers ? img->nlayers : 1, sizeof(*p->blobs));
	if (p->blobs == NULL)
		abort();
	xfer_progress_init(&p->prog, img->nlayers, "Downloading", show);
	mark_present(p, s, img);
	xfer_progress_start(&p->prog);
	int rc = image_load(s, img, &o);
	xfer_progress_free(&p->prog);
	free(p->blobs);
	return rc;
}

/* ---- the command ---- */

static int usage(FILE *out)
{
	fprintf(out, "usage: layerctl pull [OPTIONS] [docker://]NAME[:TAG|@sha256:DIGEST]\n"
		"  --platform OS/ARCH[/VARIANT]  the image to take from an index (default the host's)\n"
		"  -j, --jobs N           layers fetched at a time (default 3)\n"
		REGOPTS_USAGE
		"  -q, --quiet            no progress; print the image id only\n");
	return out == stdout ? CTL_OK : CTL_USAGE;
}

static int run_pull(struct ctl *ctl, struct pull *p, const struct registry_opts *ro,
		    const struct image_platform *plat, unsigned jobs)
{
	char err[2048];
	struct store s;
	json_t *config = NULL;
	struct image_src img = { 0 };
	int rc = CTL_FAIL;
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	if (registry_open(&p->reg, p->ref.domain, p->ref.path, ro, err, sizeof(err)) < 0 ||
	    resolve(p, plat, err, sizeof(err)) < 0 || fetch_config(p, &config, err, sizeof(err)) < 0 ||
	    build_image(p, config, &img, err, sizeof(err)) < 0) {
		fprintf(stderr, "layerctl: %s\n", err);
		goto out;
	}
	check_platform(config, plat);
	bool show = !ctl->quiet && isatty(STDOUT_FILENO);
	if (pull_layers(p, &s, &img, jobs, show) < 0)
		goto out;
	if (ctl->quiet) {
		printf("sha256:%s\n", img.config_digest);
	} else {
		char shown[700];
		reference_familiar(&p->ref, shown, sizeof(shown));
		printf("Pulled: %s\nDigest: sha256:%s\nImage ID: sha256:%s\n", shown, p->top_digest,
		       img.config_digest);
	}
	rc = CTL_OK;
out:
	image_free(&img);
	json_decref(config);
	manifest_free(&p->man);
	registry_close(p->reg);
	store_close(&s);
	return rc;
}

int cmd_pull(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		REGOPTS_LONG,
		{ 0 },
	};
	struct registry_opts ro;
	struct image_platform plat;
	char err[512];
	long jobs = 3;
	int c, bad = 0;
	regopts_init(&ro);
	image_platform_host(&plat);
	while ((c = getopt_long(argc, argv, "qhj:", opts, NULL)) != -1) {
		int r = regopts_handle(&ro, c, optarg);
		if (r != 0) {
			bad |= r < 0;
			continue;
		}
		switch (c) {
		case 'p':
			if (image_platform_parse(optarg, &plat, err, sizeof(err)) < 0) {
				fprintf(stderr, "layerctl: %s\n", err);
				bad = 1;
			}
			break;
		case 'j':
			jobs = strtol(optarg, NULL, 10);
			if (jobs < 1 || jobs > 64) {
				fprintf(stderr, "layerctl: --jobs %s: from 1 to 64\n", optarg);
				bad = 1;
			}
			break;
		case 's': ctl->store_root = optarg; break;
		case 'q': ctl->quiet = true; break;
		case 'h': regopts_free(&ro); return usage(stdout);
		default: bad = 1; break;
		}
	}
	struct pull p = { 0 };
	if (!bad && optind == argc - 1 &&
	    reference_parse(argv[optind], &p.ref, err, sizeof(err)) < 0) {
		fprintf(stderr, "layerctl: pull '%s': %s\n", argv[optind], err);
		regopts_free(&ro);
		return CTL_USAGE;
	}
	if (bad || optind != argc - 1) {
		regopts_free(&ro);
		return usage(stderr);
	}
	reference_default_tag(&p.ref);
	reference_name(&p.ref, p.repo, sizeof(p.repo));
	int rc = run_pull(ctl, &p, &ro, &plat, (unsigned)jobs);
	regopts_free(&ro);
	return rc;
}
