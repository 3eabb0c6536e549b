/* Reading an image source: the entry point (see image.h). The spelling is
 * imageref.c's, the files are reached through imagesrc.c, and the formats
 * are image_docker.c's and image_oci.c's; a single layer tarball is read
 * here. */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "imagesrc.h"

const char *image_host_arch(void)
{
	static struct image_platform host;
	if (host.arch[0] == '\0')
		image_platform_host(&host);
	return host.arch;
}

/* ---- a single layer ---- */

static int read_layer(struct src *s, struct image_src *img)
{
	if (s->ref->which || s->ref->digest[0])
		return SFAIL(s, "%s: a layer tarball has no tags or digests to choose from",
			     s->path);
	img->format = IMAGE_LAYER;
	struct image_layer *l = image_add_layer(img);
	l->file = image_xstrdup(s->path);
	l->label = image_xstrdup(s->path);
	struct stat st;
	if (stat(s->path, &st) == 0)
		l->size = (uint64_t)st.st_size;
	return 0;
}

int image_layer_config(struct image_src *img, const char *diff_hex)
{
	char diff[DIGEST_STR_SIZE];
	digest_format(diff_hex, diff);
	const char *base = strrchr(img->source, '/');
	char *by = image_xasprintf("layerctl unpack %s", base ? base + 1 : img->source);
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
	enum image_transport t = s->ref->transport;
	/* A listing that fails part way through a file that is no image may
	 * be a damaged layer: unpacking it says exactly what is wrong. */
	bool listed = is_dir || src_list(s) == 0;
	bool docker = src_has(s, "manifest.json", NULL), oci = src_has(s, "oci-layout", NULL);
	if (!listed && (docker || oci || t != IMAGE_T_AUTO || s->nmembers == 0))
		return -1;
	if (t == IMAGE_T_DOCKER_ARCHIVE)
		return docker ? image_read_docker(s, img)
			      : SFAIL(s, "%s: not a docker save archive (no manifest.json)",
				      s->path);
	if (t == IMAGE_T_OCI || t == IMAGE_T_OCI_ARCHIVE)
		return oci ? image_read_oci(s, img)
			   : SFAIL(s, "%s: not an OCI image layout (no oci-layout)", s->path);
	/* Docker 25+ writes both manifest.json and an OCI layout: its
	 * manifest.json carries the names (RepoTags). */
	if (docker)
		return image_read_docker(s, img);
	if (oci)
		return image_read_oci(s, img);
	if (is_dir)
		return SFAIL(s, "%s: neither an OCI image layout (oci-layout) nor a docker save "
			     "directory (manifest.json)", s->path);
	return read_layer(s, img);
}

static bool path_exists(const char *path, void *ctx)
{
	(void)ctx;
	struct stat st;
	return stat(path, &st) == 0;
}

static int open_source(struct src *s, struct image_src *img, const struct image_ref *ref)
{
	struct stat st;
	const char *path = ref->path;
	if (stat(path, &st) < 0) {
		int e = errno;
		return image_fail(s->err, s->errsz, "%s: %s%s", path, strerror(e),
				  e == ENOENT ? " (an image source is a path, or oci:DIR[:TAG], "
				  "oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG])" : "");
	}
	if (S_ISDIR(st.st_mode)) {
		s->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0)
			return image_fail(s->err, s->errsz, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		return image_fail(s->err, s->errsz, "%s: not a file or directory", path);
	}
	img->source = image_xstrdup(path);
	return read_source(s, img, S_ISDIR(st.st_mode));
}

int image_read(const char *spelling, const char *platform, struct image_src *img, char *err,
	       size_t errsz)
{
	memset(img, 0, sizeof(*img));
	struct image_platform plat;
	struct image_ref ref;
	if (platform ? image_platform_parse(platform, &plat, err, errsz) < 0
		     : (image_platform_host(&plat), 0))
		return -1;
	if (image_ref_parse(spelling, path_exists, NULL, &ref, err, errsz) < 0)
		return -1;
	struct src s = { .path = ref.path, .dirfd = -1, .err = err, .errsz = errsz,
			 .ref = &ref, .platform = &plat };
	int rc = open_source(&s, img, &ref);
	if (s.dirfd >= 0)
		close(s.dirfd);
	for (size_t i = 0; i < s.nmembers; i++)
		free(s.members[i].name);
	free(s.members);
	image_ref_free(&ref);
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
