/* Reading an image's files: see imagesrc.h. */
#include "imagesrc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "layerfs/pathutil.h"

const char *const image_manifest_types[] = {
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", NULL,
};
const char *const image_index_types[] = {
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json", NULL,
};
const char *const image_config_types[] = {
	"application/vnd.oci.image.config.v1+json",
	"application/vnd.docker.container.image.v1+json", NULL,
};
const char *const image_layer_types[] = {
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


__attribute__((format(printf, 3, 4)))
int image_fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

char *image_xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL)
		abort();
	return d;
}

__attribute__((format(printf, 1, 2)))
char *image_xasprintf(const char *fmt, ...)
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

bool image_in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++) {
		if (strcmp(*list, s) == 0)
			return true;
	}
	return false;
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
		image_fail(err, errsz, "%s: %s", path, archive_error_string(a));
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

int src_list(struct src *s)
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
			s->members = realloc(s->members, s->cap * sizeof(*s->members));
			if (s->members == NULL)
				abort();
		}
		struct src_member *m = &s->members[s->nmembers++];
		m->name = image_xstrdup(norm);
		m->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
	}
	if (r != ARCHIVE_EOF)
		SFAIL(s, "%s: %s: %s", s->path, count ? "corrupt archive" :
		      "not a tar archive (docker save, OCI archive or layer tarball)",
		      archive_error_string(a));
	archive_read_free(a);
	return r == ARCHIVE_EOF ? 0 : -1;
}

bool src_has(struct src *s, const char *name, uint64_t *size)
{
	if (s->dirfd >= 0) {
		int fd = lfs_openat_beneath(s->dirfd, name, O_RDONLY, 0, false);
		struct stat st;
		bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		if (ok && size)
			*size = (uint64_t)st.st_size;
		if (fd >= 0)
			close(fd);
		return ok;
	}
	for (size_t i = 0; i < s->nmembers; i++) {
		if (strcmp(s->members[i].name, name) == 0) {
			if (size)
				*size = s->members[i].size;
			return true;
		}
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
int src_read(struct src *s, const char *name, char **buf, size_t *len)
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

json_t *src_parse_json(struct src *s, const char *name, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, 0, &jerr);
	if (j == NULL)
		SFAIL(s, "%s: %s: malformed JSON: %s (line %d)", s->path, name, jerr.text,
		      jerr.line);
	return j;
}

json_t *src_load_json(struct src *s, const char *name)
{
	char *buf;
	size_t len;
	if (src_read(s, name, &buf, &len) < 0)
		return NULL;
	json_t *j = src_parse_json(s, name, buf, len);
	free(buf);
	return j;
}

/* The blob a descriptor's digest names, read and checked. field says where
 * the digest came from ("FILE: field"). */
json_t *src_load_blob_json(struct src *s, json_t *desc, const char *field, char hex[65],
			   char **blobname)
{
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	if (!digest_parse(dg, hex)) {
		SFAIL(s, "%s: %s.digest: missing or not a sha256 digest", s->path, field);
		return NULL;
	}
	char name[96];
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	if (!src_has(s, name, NULL)) {
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
		j = src_parse_json(s, name, buf, len);
	free(buf);
	if (j && blobname)
		*blobname = image_xstrdup(name);
	return j;
}

/* ---- the image being built ---- */

struct image_layer *image_add_layer(struct image_src *img)
{
	img->layers = realloc(img->layers, (img->nlayers + 1) * sizeof(*img->layers));
	if (img->layers == NULL)
		abort();
	struct image_layer *l = &img->layers[img->nlayers++];
	memset(l, 0, sizeof(*l));
	return l;
}

/* Where a blob lives: a member of the archive, or a file of the directory. */
void image_layer_place(struct src *s, struct image_layer *l, const char *name)
{
	if (s->dirfd >= 0) {
		l->file = image_xasprintf("%s/%s", s->path, name);
	} else {
		l->file = image_xstrdup(s->path);
		l->member = image_xstrdup(name);
	}
	l->label = image_xasprintf("%s: %s", s->path, name);
	src_has(s, name, &l->size);
}

void image_add_name(struct image_src *img, const char *name)
{
	img->names = realloc(img->names, (img->nnames + 1) * sizeof(char *));
	if (img->names == NULL)
		abort();
	img->names[img->nnames++] = image_xstrdup(name);
}

/* Checks config.rootfs.diff_ids against n layers and copies them in. */
int image_take_diff_ids(struct src *s, struct image_src *img, const char *cfgname)
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
		l->diff_id_field = image_xasprintf("%s: %s: rootfs.diff_ids[%zu]", s->path, cfgname, i);
	}
	return 0;
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
			return image_fail(err, errsz, "%s: %s", l->label, strerror(errno));
		}
	} else {
		r->a = archive_open_file(l->file, err, errsz);
		int found = r->a ? archive_seek_member(r->a, l->member) : -1;
		if (found != 1) {
			if (r->a)
				image_fail(err, errsz, "%s: %s", l->label,
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
			image_fail(err, errsz, "%s: %s", r->label, archive_error_string(r->a));
		return got < 0 ? -1 : got;
	}
	do
		got = read(r->fd, buf, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		image_fail(err, errsz, "%s: %s", r->label, strerror(errno));
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
