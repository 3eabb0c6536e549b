/* Reading a `docker save` archive or directory (manifest.json, old and
 * Docker 25+ layouts), and choosing one of its images: see imageref.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "imagesrc.h"
#include "layerfs/pathutil.h"
#include "store.h"

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

static int docker_config(struct src *s, struct image_src *img, const char *cfg, size_t s_at)
{
	char *buf, named[65];
	size_t len;
	if (!src_has(s, cfg, NULL))
		return SFAIL(s, "%s: manifest.json: [%zu].Config: '%s' is missing", s->path, s_at, cfg);
	if (src_read(s, cfg, &buf, &len) < 0)
		return -1;
	digest_buffer(buf, len, img->config_digest);
	img->config = src_parse_json(s, cfg, buf, len);
	free(buf);
	if (img->config == NULL)
		return -1;
	if (digest_from_name(cfg, named) && strcmp(named, img->config_digest) != 0)
		return SFAIL(s, "%s: %s: content has sha256:%s, its name says sha256:%s",
			     s->path, cfg, img->config_digest, named);
	return 0;
}

static int docker_layers(struct src *s, struct image_src *img, json_t *layers, size_t at)
{
	size_t i;
	json_t *v;
	json_array_foreach(layers, i, v) {
		const char *name = json_string_value(v);
		char norm[PATH_MAX];
		if (name == NULL || lfs_path_normalize(name, norm, sizeof(norm)) < 0)
			return SFAIL(s, "%s: manifest.json: [%zu].Layers[%zu]: not a relative path",
				     s->path, at, i);
		if (!src_has(s, norm, NULL))
			return SFAIL(s, "%s: manifest.json: [%zu].Layers[%zu]: '%s' is missing",
				     s->path, at, i, name);
		struct image_layer *l = image_add_layer(img);
		image_layer_place(s, l, norm);
		if (digest_from_name(norm, l->digest))
			l->digest_field = image_xasprintf("%s: manifest.json: [%zu].Layers[%zu]", s->path, at, i);
	}
	return 0;
}

/* Names compared as the store keeps them ("busybox" = "busybox:latest"). */
static bool same_name(const char *a, const char *b)
{
	char na[1024], nb[1024];
	if (store_normalize_name(a, na, sizeof(na)) < 0 || store_normalize_name(b, nb, sizeof(nb)) < 0)
		return strcmp(a, b) == 0;
	return strcmp(na, nb) == 0;
}

static bool has_tag(json_t *entry, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(entry, "RepoTags"), i, t) {
		if (json_is_string(t) && same_name(json_string_value(t), name))
			return true;
	}
	return false;
}

/* "  @N: name, name" lines, one per image, for the error that lists them. */
static char *list_images(json_t *man)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		abort();
	size_t i, k;
	json_t *e, *t;
	json_array_foreach(man, i, e) {
		fprintf(f, "\n  @%zu:", i);
		size_t n = 0;
		json_array_foreach(json_object_get(e, "RepoTags"), k, t) {
			if (json_is_string(t))
				fprintf(f, "%s %s", n++ ? "," : "", json_string_value(t));
		}
		if (n == 0)
			fprintf(f, " (no name) %s", json_string_value(json_object_get(e, "Config")) ?
				json_string_value(json_object_get(e, "Config")) : "");
	}
	fclose(f);
	return out;
}

/* The image the source names: by NAME[:TAG], by @N, or the only one. */
static int choose_image(struct src *s, json_t *man, size_t *at)
{
	const struct image_ref *ref = s->ref;
	size_t n = json_array_size(man);
	if (!json_is_array(man) || n == 0)
		return SFAIL(s, "%s: manifest.json: expected a non-empty array of image objects",
			     s->path);
	char *list = NULL;
	int rc = 0;
	if (ref && ref->which) {
		for (*at = 0; *at < n && !has_tag(json_array_get(man, *at), ref->which); (*at)++)
			;
		if (*at == n)
			rc = SFAIL(s, "%s: manifest.json: no image named %s; there are:%s", s->path,
				   ref->which, list = list_images(man));
	} else if (ref && ref->index >= 0) {
		*at = (size_t)ref->index;
		if (*at >= n)
			rc = SFAIL(s, "%s: manifest.json: no image @%ld (%zu images, from @0); "
				   "there are:%s", s->path, ref->index, n, list = list_images(man));
	} else if (n > 1) {
		rc = SFAIL(s, "%s: manifest.json holds %zu images; choose one with "
			   "docker-archive:%s:NAME:TAG or docker-archive:%s:@N:%s", s->path, n,
			   s->path, s->path, list = list_images(man));
	} else {
		*at = 0;
	}
	free(list);
	return rc;
}

int image_read_docker(struct src *s, struct image_src *img)
{
	json_t *man = src_load_json(s, "manifest.json");
	if (man == NULL)
		return -1;
	img->format = IMAGE_DOCKER;
	size_t at = 0;
	int rc = choose_image(s, man, &at);
	json_t *e = json_array_get(man, at);
	const char *cfg = json_string_value(json_object_get(e, "Config"));
	json_t *layers = json_object_get(e, "Layers");
	char cfgnorm[PATH_MAX];
	if (rc < 0)
		;
	else if (!json_is_object(e))
		rc = SFAIL(s, "%s: manifest.json: expected an array of image objects", s->path);
	else if (cfg == NULL || lfs_path_normalize(cfg, cfgnorm, sizeof(cfgnorm)) < 0)
		rc = SFAIL(s, "%s: manifest.json: [%zu].Config: missing or not a relative path",
			   s->path, at);
	else if (!json_is_array(layers))
		rc = SFAIL(s, "%s: manifest.json: [%zu].Layers: missing or not an array", s->path,
			   at);
	else if (docker_config(s, img, cfgnorm, at) < 0 || docker_layers(s, img, layers, at) < 0)
		rc = -1;
	else
		rc = image_take_diff_ids(s, img, cfgnorm);
	if (rc == 0 && s->ref && s->ref->which) {
		image_add_name(img, s->ref->which);
	} else if (rc == 0) {
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(e, "RepoTags"), i, t) {
			if (json_is_string(t))
				image_add_name(img, json_string_value(t));
		}
	}
	json_decref(man);
	return rc;
}
