/* Reading image sources: see image.h. */
#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "layerfs/pathutil.h"

/* Manifests, indexes and configs are small; refuse anything huge. */
#define JSON_MAX (64u << 20)
#define INDEX_DEPTH 4

static const char *const manifest_types[] = {
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", NULL,
};
static const char *const index_types[] = {
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json", NULL,
};
static const char *const config_types[] = {
	"application/vnd.oci.image.config.v1+json",
	"application/vnd.docker.container.image.v1+json", NULL,
};
static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", NULL,
};

/* Where the image's files come from: a directory or a tar archive. */
struct src {
	const char *path;
	int dirfd;            /* a directory source, else -1 */
	char **members;       /* an archive's regular members, normalised */
	size_t nmembers, cap;
	char *err;
	size_t errsz;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

#define SFAIL(s, ...) fail((s)->err, (s)->errsz, __VA_ARGS__)

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL)
		abort();
	return d;
}

__attribute__((format(printf, 1, 2)))
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return out;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++) {
		if (strcmp(*list, s) == 0)
			return true;
	}
	return false;
}

const char *image_host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__i386__)
	return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown";
#endif
}

/* ---- archives ---- */

static struct archive *archive_open_file(const char *path, char *err, size_t errsz)
{
	struct archive *a = archive_read_new();
	if (a == NULL)
		abort();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		fail(err, errsz, "%s: %s", path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* The normalised name of a regular member, or false to ignore it. */
static bool member_name(struct archive_entry *e, char *out, size_t outsz)
{
	const char *name = archive_entry_pathname(e);
	if (name == NULL || archive_entry_hardlink(e) != NULL ||
	    archive_entry_filetype(e) != AE_IFREG)
		return false;
	return lfs_path_normalize(name, out, outsz) == 0;
}

/* Moves a to the member name; 1 found, 0 not there, -1 broken archive. */
static int archive_seek_member(struct archive *a, const char *name)
{
	struct archive_entry *e;
	char norm[PATH_MAX];
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (member_name(e, norm, sizeof(norm)) && strcmp(norm, name) == 0)
			return 1;
	}
	return r == ARCHIVE_EOF ? 0 : -1;
}

static int src_list(struct src *s)
{
	struct archive *a = archive_open_file(s->path, s->err, s->errsz);
	if (a == NULL)
		return -1;
	struct archive_entry *e;
	char norm[PATH_MAX];
	int r, count = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		count++;
		if (!member_name(e, norm, sizeof(norm)))
			continue;
		if (s->nmembers == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->members = realloc(s->members, s->cap * sizeof(char *));
			if (s->members == NULL)
				abort();
		}
		s->members[s->nmembers++] = xstrdup(norm);
	}
	if (r != ARCHIVE_EOF)
		SFAIL(s, "%s: %s: %s", s->path, count ? "corrupt archive" :
		      "not a tar archive (docker save, OCI archive or layer tarball)",
		      archive_error_string(a));
	archive_read_free(a);
	return r == ARCHIVE_EOF ? 0 : -1;
}

static bool src_has(struct src *s, const char *name)
{
	if (s->dirfd >= 0) {
		int fd = lfs_openat_beneath(s->dirfd, name, O_RDONLY, 0, false);
		struct stat st;
		bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		if (fd >= 0)
			close(fd);
		return ok;
	}
	for (size_t i = 0; i < s->nmembers; i++) {
		if (strcmp(s->members[i], name) == 0)
			return true;
	}
	return false;
}

/* Appends up to JSON_MAX bytes from a reader to *buf. */
static int slurp(ssize_t (*rd)(void *ctx, void *buf, size_t n), void *ctx,
		 char **buf, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *b = malloc(cap + 1);
	for (;;) {
		if (b == NULL)
			abort();
		ssize_t n = rd(ctx, b + used, cap - used);
		if (n < 0) {
			free(b);
			return -EIO;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap) {
			if (cap >= JSON_MAX) {
				free(b);
				return -EFBIG;
			}
			cap *= 2;
			b = realloc(b, cap + 1);
		}
	}
	b[used] = '\0';
	*buf = b;
	*len = used;
	return 0;
}

static ssize_t fd_reader(void *ctx, void *buf, size_t n)
{
	return read(*(int *)ctx, buf, n);
}

static ssize_t archive_reader(void *ctx, void *buf, size_t n)
{
	return archive_read_data(ctx, buf, n);
}

/* Reads the member (or file below the directory) name into memory. */
static int src_read(struct src *s, const char *name, char **buf, size_t *len)
{
	int rc;
	if (s->dirfd >= 0) {
		int fd = lfs_openat_beneath(s->dirfd, name, O_RDONLY, 0, false);
		if (fd < 0)
			return SFAIL(s, "%s/%s: %s", s->path, name, strerror(-fd));
		rc = slurp(fd_reader, &fd, buf, len);
		close(fd);
	} else {
		struct archive *a = archive_open_file(s->path, s->err, s->errsz);
		if (a == NULL)
			return -1;
		rc = archive_seek_member(a, name);
		if (rc == 1)
			rc = slurp(archive_reader, a, buf, len);
		else
			rc = rc == 0 ? -ENOENT : -EIO;
		archive_read_free(a);
	}
	if (rc < 0)
		return SFAIL(s, "%s: %s: %s", s->path, name,
			     rc == -EFBIG ? "too big for a JSON document" : strerror(-rc));
	return 0;
}

static json_t *parse_json(struct src *s, const char *name, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, 0, &jerr);
	if (j == NULL)
		SFAIL(s, "%s: %s: malformed JSON: %s (line %d)", s->path, name, jerr.text,
		      jerr.line);
	return j;
}

static json_t *load_json(struct src *s, const char *name)
{
	char *buf;
	size_t len;
	if (src_read(s, name, &buf, &len) < 0)
		return NULL;
	json_t *j = parse_json(s, name, buf, len);
	free(buf);
	return j;
}

/* The blob a descriptor's digest names, read and checked. field says where
 * the digest came from ("FILE: field"). */
static json_t *load_blob_json(struct src *s, json_t *desc, const char *field, char hex[65],
			      char **blobname)
{
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	if (!digest_parse(dg, hex)) {
		SFAIL(s, "%s: %s.digest: missing or not a sha256 digest", s->path, field);
		return NULL;
	}
	char name[96];
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	if (!src_has(s, name)) {
		SFAIL(s, "%s: %s.digest: blob %s is missing", s->path, field, name);
		return NULL;
	}
	char *buf, got[65];
	size_t len;
	if (src_read(s, name, &buf, &len) < 0)
		return NULL;
	digest_buffer(buf, len, got);
	json_t *size = json_object_get(desc, "size");
	json_t *j = NULL;
	if (strcmp(got, hex) != 0)
		SFAIL(s, "%s: %s: sha256:%s does not match %s.digest %s", s->path, name, got,
		      field, dg);
	else if (size && (!json_is_integer(size) || (size_t)json_integer_value(size) != len))
		SFAIL(s, "%s: %s.size: %s is %zu bytes", s->path, field, name, len);
	else
		j = parse_json(s, name, buf, len);
	free(buf);
	if (j && blobname)
		*blobname = xstrdup(name);
	return j;
}

/* ---- the image being built ---- */

static struct image_layer *add_layer(struct image_src *img)
{
	img->layers = realloc(img->layers, (img->nlayers + 1) * sizeof(*img->layers));
	if (img->layers == NULL)
		abort();
	struct image_layer *l = &img->layers[img->nlayers++];
	memset(l, 0, sizeof(*l));
	return l;
}

/* Where a blob lives: a member of the archive, or a file of the directory. */
static void layer_place(struct src *s, struct image_layer *l, const char *name)
{
	if (s->dirfd >= 0) {
		l->file = xasprintf("%s/%s", s->path, name);
	} else {
		l->file = xstrdup(s->path);
		l->member = xstrdup(name);
	}
	l->label = xasprintf("%s: %s", s->path, name);
}

static void add_name(struct image_src *img, const char *name)
{
	img->names = realloc(img->names, (img->nnames + 1) * sizeof(char *));
	if (img->names == NULL)
		abort();
	img->names[img->nnames++] = xstrdup(name);
}

/* Checks config.rootfs.diff_ids against n layers and copies them in. */
static int take_diff_ids(struct src *s, struct image_src *img, const char *cfgname)
{
	json_t *rootfs = json_object_get(img->config, "rootfs");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(img->config))
		return SFAIL(s, "%s: %s: the config is not a JSON object", s->path, cfgname);
	if (!json_is_array(ids))
		return SFAIL(s, "%s: %s: rootfs.diff_ids: missing or not an array", s->path,
			     cfgname);
	const char *type = json_string_value(json_object_get(rootfs, "type"));
	if (type && strcmp(type, "layers") != 0)
		return SFAIL(s, "%s: %s: rootfs.type: '%s' is not \"layers\"", s->path, cfgname,
			     type);
	if (json_array_size(ids) != img->nlayers)
		return SFAIL(s, "%s: %s: rootfs.diff_ids: %zu entries for %zu layers", s->path,
			     cfgname, json_array_size(ids), img->nlayers);
	for (size_t i = 0; i < img->nlayers; i++) {
		struct image_layer *l = &img->layers[i];
		if (!digest_parse(json_string_value(json_array_get(ids, i)), l->diff_id))
			return SFAIL(s, "%s: %s: rootfs.diff_ids[%zu]: not a sha256 digest",
				     s->path, cfgname, i);
		l->diff_id_field = xasprintf("%s: %s: rootfs.diff_ids[%zu]", s->path, cfgname, i);
	}
	return 0;
}

/* ---- docker save ---- */

/* "blobs/sha256/<hex>" or "<hex>.json" carry their digest in the name. */
static bool digest_from_name(const char *name, char hex[65])
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	char buf[80];
	size_t n = strlen(base);
	if (n >= sizeof(buf))
		return false;            /* longer than any digest name */
	memcpy(buf, base, n + 1);
	if (n == 64 + 5 && strcmp(buf + 64, ".json") == 0)
		buf[64] = '\0';
	if (!digest_is_hex(buf))
		return false;
	memcpy(hex, buf, 65);
	return true;
}

static int docker_config(struct src *s, struct image_src *img, const char *cfg)
{
	char *buf, named[65];
	size_t len;
	if (!src_has(s, cfg))
		return SFAIL(s, "%s: manifest.json: [0].Config: '%s' is missing", s->path, cfg);
	if (src_read(s, cfg, &buf, &len) < 0)
		return -1;
	digest_buffer(buf, len, img->config_digest);
	img->config = parse_json(s, cfg, buf, len);
	free(buf);
	if (img->config == NULL)
		return -1;
	if (digest_from_name(cfg, named) && strcmp(named, img->config_digest) != 0)
		return SFAIL(s, "%s: %s: content has sha256:%s, its name says sha256:%s",
			     s->path, cfg, img->config_digest, named);
	return 0;
}

static int docker_layers(struct src *s, struct image_src *img, json_t *layers)
{
	size_t i;
	json_t *v;
	json_array_foreach(layers, i, v) {
		const char *name = json_string_value(v);
		char norm[PATH_MAX];
		if (name == NULL || lfs_path_normalize(name, norm, sizeof(norm)) < 0)
			return SFAIL(s, "%s: manifest.json: [0].Layers[%zu]: not a relative path",
				     s->path, i);
		if (!src_has(s, norm))
			return SFAIL(s, "%s: manifest.json: [0].Layers[%zu]: '%s' is missing",
				     s->path, i, name);
		struct image_layer *l = add_layer(img);
		layer_place(s, l, norm);
		if (digest_from_name(norm, l->digest))
			l->digest_field = xasprintf("%s: manifest.json: [0].Layers[%zu]", s->path, i);
	}
	return 0;
}

static int read_docker(struct src *s, struct image_src *img)
{
	json_t *man = load_json(s, "manifest.json");
	if (man == NULL)
		return -1;
	int rc = -1;
	json_t *e = json_array_get(man, 0);
	const char *cfg = json_string_value(json_object_get(e, "Config"));
	json_t *layers = json_object_get(e, "Layers");
	json_t *tags = json_object_get(e, "RepoTags");
	char cfgnorm[PATH_MAX];
	img->format = IMAGE_DOCKER;
	if (!json_is_object(e))
		SFAIL(s, "%s: manifest.json: expected an array of image objects", s->path);
	else if (cfg == NULL || lfs_path_normalize(cfg, cfgnorm, sizeof(cfgnorm)) < 0)
		SFAIL(s, "%s: manifest.json: [0].Config: missing or not a relative path", s->path);
	else if (!json_is_array(layers))
		SFAIL(s, "%s: manifest.json: [0].Layers: missing or not an array", s->path);
	else if (docker_config(s, img, cfgnorm) == 0 && docker_layers(s, img, layers) == 0)
		rc = take_diff_ids(s, img, cfgnorm);
	if (rc == 0 && json_array_size(man) > 1)
		fprintf(stderr, "layerctl: %s: manifest.json holds %zu images; taking the first\n",
			s->path, json_array_size(man));
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) {
		if (rc == 0 && json_is_string(t))
			add_name(img, json_string_value(t));
	}
	json_decref(man);
	return rc;
}

/* ---- OCI image layout ---- */

/* The manifest descriptor to follow from an index: the only one, or the
 * one for linux on this machine's architecture. */
static json_t *choose_manifest(struct src *s, json_t *index, const char *file, size_t *at)
{
	json_t *m = json_object_get(index, "manifests");
	size_t n = json_array_size(m);
	if (!json_is_array(m) || n == 0) {
		SFAIL(s, "%s: %s: manifests: missing or empty", s->path, file);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_object_get(json_array_get(m, i), "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));
		if (n == 1 || (os && arch && strcmp(os, "linux") == 0 &&
			       strcmp(arch, image_host_arch()) == 0)) {
			*at = i;
			return json_array_get(m, i);
		}
	}
	SFAIL(s, "%s: %s: manifests: %zu images, none for linux/%s", s->path, file, n,
	      image_host_arch());
	return NULL;
}

static void oci_names(struct src *s, struct image_src *img, json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
	if (full) {
		add_name(img, full);
	} else if (ref && (strchr(ref, ':') || strchr(ref, '/'))) {
		add_name(img, ref);
	} else if (ref) {
		/* A bare tag: the layout's own name is the repository. */
		char path[PATH_MAX], repo[256];
		snprintf(path, sizeof(path), "%s", s->path);
		for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
			path[n - 1] = '\0';
		const char *base = strrchr(path, '/');
		snprintf(repo, sizeof(repo), "%.255s", base ? base + 1 : path);
		char *dot = strchr(repo, '.');
		if (dot && dot != repo)
			*dot = '\0';
		char *name = xasprintf("%s:%s", repo, ref);
		add_name(img, name);
		free(name);
	}
}

static int oci_layer(struct src *s, struct image_src *img, json_t *desc, const char *man,
		     size_t i)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	char hex[65], name[96];
	if (!in_list(layer_types, mt))
		return SFAIL(s, "%s: %s: layers[%zu].mediaType: '%s' is not a layer type",
			     s->path, man, i, mt ? mt : "(missing)");
	if (!digest_parse(json_string_value(json_object_get(desc, "digest")), hex))
		return SFAIL(s, "%s: %s: layers[%zu].digest: missing or not a sha256 digest",
			     s->path, man, i);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	if (!src_has(s, name))
		return SFAIL(s, "%s: %s: layers[%zu].digest: blob %s is missing", s->path, man,
			     i, name);
	struct image_layer *l = add_layer(img);
	layer_place(s, l, name);
	memcpy(l->digest, hex, 65);
	l->digest_field = xasprintf("%s: %s: layers[%zu].digest", s->path, man, i);
	l->media_type = xstrdup(mt);
	return 0;
}

/* A manifest: its config and its layers. */
static int oci_manifest(struct src *s, struct image_src *img, json_t *man, const char *name)
{
	const char *mt = json_string_value(json_object_get(man, "mediaType"));
	json_t *cfg = json_object_get(man, "config");
	json_t *layers = json_object_get(man, "layers");
	if (mt && !in_list(manifest_types, mt))
		return SFAIL(s, "%s: %s: mediaType: '%s' is not an image manifest", s->path,
			     name, mt);
	const char *cmt = json_string_value(json_object_get(cfg, "mediaType"));
	if (!in_list(config_types, cmt))
		return SFAIL(s, "%s: %s: config.mediaType: '%s' is not an image config", s->path,
			     name, cmt ? cmt : "(missing)");
	if (!json_is_array(layers))
		return SFAIL(s, "%s: %s: layers: missing or not an array", s->path, name);
	char field[160], *cfgname = NULL;
	snprintf(field, sizeof(field), "%s: config", name);
	img->config = load_blob_json(s, cfg, field, img->config_digest, &cfgname);
	if (img->config == NULL)
		return -1;
	size_t i;
	json_t *d;
	int rc = 0;
	json_array_foreach(layers, i, d) {
		if (rc == 0)
			rc = oci_layer(s, img, d, name, i);
	}
	if (rc == 0)
		rc = take_diff_ids(s, img, cfgname);
	free(cfgname);
	return rc;
}

/* Follows an index (nested indexes too) down to one manifest. */
static int oci_index(struct src *s, struct image_src *img, json_t *index, const char *file,
		     int depth)
{
	size_t at;
	json_t *desc = choose_manifest(s, index, file, &at);
	if (desc == NULL)
		return -1;
	if (depth == 0)
		oci_names(s, img, desc);
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	bool is_index = in_list(index_types, mt);
	if (!is_index && !in_list(manifest_types, mt))
		return SFAIL(s, "%s: %s: manifests[%zu].mediaType: '%s' is not a manifest or index",
			     s->path, file, at, mt ? mt : "(missing)");
	if (is_index && depth >= INDEX_DEPTH)
		return SFAIL(s, "%s: %s: indexes nested too deeply", s->path, file);
	char field[160], hex[65], *name = NULL;
	snprintf(field, sizeof(field), "%s: manifests[%zu]", file, at);
	json_t *j = load_blob_json(s, desc, field, hex, &name);
	if (j == NULL)
		return -1;
	int rc = is_index ? oci_index(s, img, j, name, depth + 1)
			  : oci_manifest(s, img, j, name);
	json_decref(j);
	free(name);
	return rc;
}

static int read_oci(struct src *s, struct image_src *img)
{
	img->format = IMAGE_OCI;
	json_t *layout = load_json(s, "oci-layout");
	if (layout == NULL)
		return -1;
	bool ok = json_is_string(json_object_get(layout, "imageLayoutVersion"));
	json_decref(layout);
	if (!ok)
		return SFAIL(s, "%s: oci-layout: imageLayoutVersion: missing", s->path);
	if (!src_has(s, "index.json"))
		return SFAIL(s, "%s: index.json is missing", s->path);
	json_t *index = load_json(s, "index.json");
	if (index == NULL)
		return -1;
	int rc = oci_index(s, img, index, "index.json", 0);
	json_decref(index);
	return rc;
}

/* ---- a single layer ---- */

static int read_layer(struct src *s, struct image_src *img)
{
	img->format = IMAGE_LAYER;
	struct image_layer *l = add_layer(img);
	l->file = xstrdup(s->path);
	l->label = xstrdup(s->path);
	return 0;
}

int image_layer_config(struct image_src *img, const char *diff_hex)
{
	char diff[DIGEST_STR_SIZE];
	digest_format(diff_hex, diff);
	const char *base = strrchr(img->source, '/');
	char *by = xasprintf("layerctl unpack %s", base ? base + 1 : img->source);
	json_t *cfg = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[s]}, s:[{s:s}]}",
				"architecture", image_host_arch(), "os", "linux", "config",
				"rootfs", "type", "layers", "diff_ids", diff,
				"history", "created_by", by);
	free(by);
	char *text = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (text == NULL) {
		json_decref(cfg);
		return -ENOMEM;
	}
	digest_buffer(text, strlen(text), img->config_digest);
	free(text);
	json_decref(img->config);
	img->config = cfg;
	memcpy(img->layers[0].diff_id, diff_hex, 65);
	return 0;
}

/* ---- entry point ---- */

static int read_source(struct src *s, struct image_src *img, bool is_dir)
{
	/* Docker 25+ writes both manifest.json and an OCI layout: its
	 * manifest.json carries the names (RepoTags). */
	if (!is_dir && src_list(s) < 0)
		return -1;
	if (src_has(s, "manifest.json"))
		return read_docker(s, img);
	if (src_has(s, "oci-layout"))
		return read_oci(s, img);
	if (is_dir)
		return SFAIL(s, "%s: neither an OCI image layout (oci-layout) nor a docker save "
			     "directory (manifest.json)", s->path);
	return read_layer(s, img);
}

int image_read(const char *path, struct image_src *img, char *err, size_t errsz)
{
	memset(img, 0, sizeof(*img));
	struct src s = { .path = path, .dirfd = -1, .err = err, .errsz = errsz };
	struct stat st;
	if (stat(path, &st) < 0)
		return fail(err, errsz, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		s.dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s.dirfd < 0)
			return fail(err, errsz, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		return fail(err, errsz, "%s: not a file or directory", path);
	}
	img->source = xstrdup(path);
	int rc = read_source(&s, img, S_ISDIR(st.st_mode));
	if (s.dirfd >= 0)
		close(s.dirfd);
	for (size_t i = 0; i < s.nmembers; i++)
		free(s.members[i]);
	free(s.members);
	if (rc == 0 && img->format != IMAGE_LAYER && img->nlayers == 0)
		rc = fail(err, errsz, "%s: the image has no layers", path);
	if (rc)
		image_free(img);   /* a failed read leaves nothing to free */
	return rc;
}

void image_free(struct image_src *img)
{
	for (size_t i = 0; i < img->nlayers; i++) {
		struct image_layer *l = &img->layers[i];
		free(l->file);
		free(l->member);
		free(l->label);
		free(l->digest_field);
		free(l->diff_id_field);
		free(l->media_type);
	}
	free(img->layers);
	for (size_t i = 0; i < img->nnames; i++)
		free(img->names[i]);
	free(img->names);
	json_decref(img->config);
	free(img->source);
	memset(img, 0, sizeof(*img));
}

/* ---- streaming blobs ---- */

struct blob_reader {
	int fd;
	struct archive *a;
	const char *label;
	const struct blob_stream_ops *ops;  /* a caller's stream, or NULL */
	void *ctx;
};

struct blob_reader *blob_reader_stream(const struct blob_stream_ops *ops, void *ctx)
{
	struct blob_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->fd = -1;
	r->ops = ops;
	r->ctx = ctx;
	return r;
}

int blob_open(const struct image_layer *l, struct blob_reader **out, char *err, size_t errsz)
{
	struct blob_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->fd = -1;
	r->label = l->label;
	if (l->member == NULL) {
		r->fd = open(l->file, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			free(r);
			return fail(err, errsz, "%s: %s", l->label, strerror(errno));
		}
	} else {
		r->a = archive_open_file(l->file, err, errsz);
		int found = r->a ? archive_seek_member(r->a, l->member) : -1;
		if (found != 1) {
			if (r->a)
				fail(err, errsz, "%s: %s", l->label,
				     found == 0 ? "missing from the archive" : archive_error_string(r->a));
			blob_close(r);
			return -1;
		}
	}
	*out = r;
	return 0;
}

ssize_t blob_read(struct blob_reader *r, void *buf, size_t n, char *err, size_t errsz)
{
	ssize_t got;
	if (r->ops)
		return r->ops->read(r->ctx, buf, n, err, errsz);
	if (r->a) {
		got = archive_read_data(r->a, buf, n);
		if (got < 0)
			fail(err, errsz, "%s: %s", r->label, archive_error_string(r->a));
		return got < 0 ? -1 : got;
	}
	do
		got = read(r->fd, buf, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		fail(err, errsz, "%s: %s", r->label, strerror(errno));
	return got;
}

void blob_close(struct blob_reader *r)
{
	if (r == NULL)
		return;
	if (r->ops && r->ops->close)
		r->ops->close(r->ctx);
	if (r->a)
		archive_read_free(r->a);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
