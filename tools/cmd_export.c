/* layerctl export IMAGE --oci DIR | --docker-archive FILE
 *
 * Layer blobs: layers/<chain>/layer.tar.gz when the store keeps one (a
 * committed layer) and its digest is what meta.json says; otherwise the
 * layer is written afresh from diff/ by layerwrite. A fresh tarball has its
 * own diff_id, so the exported config's rootfs.diff_ids always lists the
 * diff_ids of the tarballs actually exported (the config, and so the image
 * id, may then differ from the store's). Everything is built in a
 * temporary directory beside the target and renamed into place. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "layerfs/fdio.h"
#include "digest.h"
#include "layerblob.h"
#include "layerctl.h"
#include "layerwrite.h"
#include "reference.h"
#include "store.h"

#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"

struct ximage {
	struct layerblob *l;
	size_t n;
	char *config;                     /* the config's bytes */
	char config_hex[DIGEST_HEX_LEN + 1];
	char name[256], tag[256];         /* from names[0] (familiar); "" when none */
	char full[512];                   /* names[0] in normal form */
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int prepare_layers(const struct store *s, json_t *image, const char *work,
			  struct ximage *x)
{
	json_t *layers = json_object_get(image, "layers");
	x->n = json_array_size(layers);
	x->l = calloc(x->n ? x->n : 1, sizeof(*x->l));
	for (size_t i = 0; i < x->n; i++) {
		char hex[DIGEST_HEX_LEN + 1], ldir[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, i));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, ldir, sizeof(ldir)) < 0 || !store_has_layer(s, hex)) {
			fprintf(stderr, "layerctl: export: layer %zu (%s) is not in the store\n", i,
				chain ? chain : "?");
			return -1;
		}
		json_t *meta = store_layer_meta(s, hex);
		bool ok = layerblob_stored(ldir, meta, &x->l[i]);
		json_decref(meta);
		if (!ok && layerblob_fresh(ldir, work, i, &x->l[i]) < 0)
			return -1;
	}
	return 0;
}

/* The config with rootfs.diff_ids of the exported layers; names[0]. */
static int prepare_config(json_t *image, struct ximage *x)
{
	json_t *config = json_deep_copy(json_object_get(image, "config"));
	if (!json_is_object(config)) {
		fprintf(stderr, "layerctl: export: the image has no config\n");
		json_decref(config);
		return -1;
	}
	json_t *ids = json_array();
	for (size_t i = 0; i < x->n; i++) {
		char id[DIGEST_STR_SIZE];
		digest_format(x->l[i].diff_id, id);
		json_array_append_new(ids, json_string(id));
	}
	json_object_set_new(config, "rootfs", json_pack("{s:s, s:o}", "type", "layers",
							 "diff_ids", ids));
	x->config = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(config);
	digest_buffer(x->config, strlen(x->config), x->config_hex);
	const char *ref = json_string_value(json_array_get(json_object_get(image, "names"), 0));
	struct reference r;
	if (ref && reference_parse(ref, &r, NULL, 0) == 0 && r.tag[0] &&
	    reference_familiar_name(&r, x->name, sizeof(x->name)) == 0) {
		snprintf(x->tag, sizeof(x->tag), "%s", r.tag);
		r.digest[0] = '\0';
		reference_string(&r, x->full, sizeof(x->full));
	}
	return 0;
}

static int write_bytes(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wxe");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

static int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	char buf[1 << 16];
	ssize_t n = -1;
	if (in >= 0 && out >= 0)
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (lfs_write_all(out, buf, (size_t)n) < 0) {
				n = -1;
				break;
			}
	int rc = n == 0 ? 0 : -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	return rc;
}

/* Writes a JSON document as a blob; fills its digest and size. */
static json_t *json_blob(const char *dir, json_t *doc, const char *media_type)
{
	char *bytes = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[DIGEST_HEX_LEN + 1], path[PATH_MAX + 80], id[DIGEST_STR_SIZE];
	digest_buffer(bytes, strlen(bytes), hex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
	int rc = write_bytes(path, bytes, strlen(bytes));
	size_t len = strlen(bytes);
	free(bytes);
	if (rc < 0 && errno != EEXIST)
		return NULL;
	digest_format(hex, id);
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", id, "size",
			 (json_int_t)len);
}

static int write_oci(const char *dir, struct ximage *x)
{
	char path[PATH_MAX + 80], id[DIGEST_STR_SIZE];
	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0755);
	strcat(path, "/sha256");
	if (mkdir(path, 0755) < 0)
		return -1;
	json_t *layers = json_array();
	for (size_t i = 0; i < x->n; i++) {
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, x->l[i].digest);
		if (access(path, F_OK) != 0 && copy_file(x->l[i].blob, path) < 0)
			return json_decref(layers), -1;
		digest_format(x->l[i].digest, id);
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", MT_LAYER,
							"digest", id, "size",
							(json_int_t)x->l[i].size));
	}
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, x->config_hex);
	if (write_bytes(path, x->config, strlen(x->config)) < 0)
		return json_decref(layers), -1;
	digest_format(x->config_hex, id);
	json_t *manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
				     "mediaType", MT_MANIFEST, "config", "mediaType", MT_CONFIG,
				     "digest", id, "size", (json_int_t)strlen(x->config),
				     "layers", layers);
	json_t *desc = json_blob(dir, manifest, MT_MANIFEST);
	json_decref(manifest);
	if (!desc)
		return -1;
	if (*x->tag)
		json_object_set_new(desc, "annotations",
				    json_pack("{s:s, s:s}", "org.opencontainers.image.ref.name",
					      x->tag, "io.containerd.image.name", x->full));
	json_t *index = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", MT_INDEX,
				  "manifests", desc);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	int rc = json_dump_file(index, path, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(index);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	return rc == 0 ? write_bytes(path, layout, strlen(layout)) : -1;
}

/* Adds a file (from disk) or bytes as a regular member of the archive. */
static int tar_add(struct archive *a, const char *member, const char *file, const char *bytes,
		   uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, member);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
	archive_entry_free(e);
	if (rc == 0 && bytes)
		rc = archive_write_data(a, bytes, size) == (la_ssize_t)size ? 0 : -1;
	int fd = rc == 0 && file ? open(file, O_RDONLY | O_CLOEXEC) : -1;
	char buf[1 << 16];
	ssize_t n = 0;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(a, buf, (size_t)n) != n)
			n = -1;
	if (fd >= 0)
		close(fd);
	return rc == 0 && n == 0 && (!file || fd >= 0) ? 0 : -1;
}

/* Decompresses a layer blob to DST, checking it against the diff_id. */
static int gunzip_checked(const struct layerblob *l, const char *dst, uint64_t *size)
{
	gzFile in = gzopen(l->blob, "rb");
	FILE *out = fopen(dst, "wxe");
	struct digest d;
	char buf[1 << 16], hex[DIGEST_HEX_LEN + 1];
	int n = 0;
	digest_init(&d);
	*size = 0;
	while (in && out && (n = gzread(in, buf, sizeof(buf))) > 0) {
		digest_update(&d, buf, (size_t)n);
		*size += (uint64_t)n;
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			n = -1;
	}
	digest_final_hex(&d, hex);
	int rc = in && out && n == 0 && strcmp(hex, l->diff_id) == 0 ? 0 : -1;
	if (in)
		gzclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "layerctl: export: %s does not decompress to diff_id %s\n", l->blob,
			l->diff_id);
	return rc;
}

static int docker_members(struct archive *a, const char *work, struct ximage *x)
{
	char member[200], path[PATH_MAX + 100];
	json_t *layers = json_array();
	int rc = 0;
	for (size_t i = 0; i < x->n && rc == 0; i++) {
		uint64_t size;
		snprintf(member, sizeof(member), "%s/layer.tar", x->l[i].diff_id);
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup = dup || !strcmp(x->l[j].diff_id, x->l[i].diff_id);
		json_array_append_new(layers, json_string(member));
		if (dup)
			continue;
		snprintf(path, sizeof(path), "%s/layer%zu.tar", work, i);
		rc = gunzip_checked(&x->l[i], path, &size);
		if (rc == 0)
			rc = tar_add(a, member, path, NULL, size);
		unlink(path);
	}
	snprintf(member, sizeof(member), "%s.json", x->config_hex);
	if (rc == 0)
		rc = tar_add(a, member, NULL, x->config, strlen(x->config));
	json_t *tags = json_array();
	if (*x->tag)
		json_array_append_new(tags, json_sprintf("%s:%s", x->name, x->tag));
	json_t *manifest = json_pack("[{s:s, s:o, s:o}]", "Config", member, "RepoTags", tags,
				     "Layers", layers);
	json_t *repos = *x->tag && x->n ? json_pack("{s:{s:s}}", x->name, x->tag,
						    x->l[x->n - 1].diff_id) : json_object();
	char *m = json_dumps(manifest, JSON_COMPACT), *r = json_dumps(repos, JSON_COMPACT);
	if (rc == 0)
		rc = tar_add(a, "manifest.json", NULL, m, strlen(m));
	if (rc == 0)
		rc = tar_add(a, "repositories", NULL, r, strlen(r));
	free(m);
	free(r);
	json_decref(manifest);
	json_decref(repos);
	return rc;
}

static int write_docker(const char *work, const char *file, struct ximage *x)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/archive.tar", work);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	int rc = archive_write_open_filename(a, tmp) == ARCHIVE_OK ? docker_members(a, work, x) : -1;
	if (archive_write_close(a) != ARCHIVE_OK)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "layerctl: export: writing %s: %s\n", file,
			archive_error_string(a) ? archive_error_string(a) : strerror(errno));
	archive_write_free(a);
	if (rc == 0 && rename(tmp, file) < 0) {
		fprintf(stderr, "layerctl: export: rename to %s: %s\n", file, strerror(errno));
		rc = -1;
	}
	return rc;
}

static int export_image(const struct store *s, json_t *image, const char *target, bool oci)
{
	char work[PATH_MAX];
	struct ximage x = { 0 };
	struct stat st;
	bool fits = snprintf(work, sizeof(work), "%s.layerctl-XXXXXX", target) < (int)sizeof(work);
	if (!fits || !mkdtemp(work)) {
		fprintf(stderr, "layerctl: export: cannot make a directory beside %s: %s\n", target,
			strerror(fits ? errno : ENAMETOOLONG));
		return CTL_FAIL;
	}
	int rc = prepare_layers(s, image, work, &x) < 0 || prepare_config(image, &x) < 0 ? -1 : 0;
	if (rc == 0 && oci) {
		rc = write_oci(work, &x);
		for (size_t i = 0; i < x.n; i++)   /* fresh blobs were copied */
			if (!strncmp(x.l[i].blob, work, strlen(work)))
				unlink(x.l[i].blob);
		if (rc == 0 && stat(target, &st) == 0 && S_ISDIR(st.st_mode))
			rmdir(target);  /* an empty directory may be replaced */
		if (rc == 0 && rename(work, target) < 0) {
			fprintf(stderr, "layerctl: export: %s: %s\n", target, strerror(errno));
			rc = -1;
		}
		if (rc < 0)
			fprintf(stderr, "layerctl: export: cannot write the OCI layout %s\n", target);
	} else if (rc == 0) {
		rc = write_docker(work, target, &x);
	}
	if (rc < 0 || !oci)
		remove_tree(work);
	free(x.l);
	free(x.config);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}

int cmd_export(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "oci", required_argument, NULL, 'o' },
		{ "docker-archive", required_argument, NULL, 'd' },
		{ 0 },
	};
	const char *target = NULL;
	bool oci = false;
	int c, ntargets = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'o' && c != 'd')
			ntargets = 99;
		target = optarg;
		oci = c == 'o';
		ntargets++;
	}
	if (ntargets != 1 || argc - optind != 1) {
		fprintf(stderr, "usage: layerctl export IMAGE --oci DIR | --docker-archive FILE\n");
		return CTL_USAGE;
	}
	struct store s;
	char hex[DIGEST_HEX_LEN + 1];
	if (store_open(&s, ctl->store_root, false) < 0)
		return CTL_FAIL;
	int rc = CTL_FAIL, found = store_image_find(&s, argv[optind], hex);
	json_t *image = found == 0 ? store_image_load(&s, hex) : NULL;
	char name[1024];
	json_t *names = json_object_get(image, "names");
	/* the name asked for is the one the export carries */
	if (store_normalize_name(argv[optind], name, sizeof(name)) == 0 &&
	    store_names_remove(names, name))
		json_array_insert_new(names, 0, json_string(name));
	if (!image) {
		store_image_find_reason(argv[optind], found, name, sizeof(name));
		fprintf(stderr, "layerctl: export: image %s: %s\n", argv[optind], name);
	}
	else
		rc = export_image(&s, image, target, oci);
	json_decref(image);
	store_close(&s);
	return rc;
}
