/* Registry manifests: see manifest.h. */
#include "manifest.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

static const char *const image_types[] = { MT_OCI_MANIFEST, MT_DOCKER_MANIFEST, NULL };
static const char *const index_types[] = { MT_OCI_INDEX, MT_DOCKER_LIST, NULL };
static const char *const config_types[] = { MT_OCI_CONFIG, MT_DOCKER_CONFIG, NULL };
static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	MT_OCI_LAYER_GZIP,
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	MT_DOCKER_LAYER_GZIP,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	NULL,
};
static const char *const schema1_types[] = {
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	NULL,
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

static bool in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++) {
		if (strcmp(*list, s) == 0)
			return true;
	}
	return false;
}

bool manifest_is_layer_type(const char *mt)
{
	return in_list(layer_types, mt);
}

bool manifest_is_config_type(const char *mt)
{
	return in_list(config_types, mt);
}

/* The media type without parameters ("...; charset=utf-8"). */
static void bare_type(const char *ct, char *buf, size_t size)
{
	snprintf(buf, size, "%s", ct ? ct : "");
	buf[strcspn(buf, "; \t")] = '\0';
}

static int parse_platform_obj(json_t *p, struct image_platform *out)
{
	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return 0;
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *variant = json_string_value(json_object_get(p, "variant"));
	if (!json_is_object(p) || !os || !arch)
		return -1;
	snprintf(out->os, sizeof(out->os), "%s", os);
	snprintf(out->arch, sizeof(out->arch), "%s", arch);
	snprintf(out->variant, sizeof(out->variant), "%s", variant ? variant : "");
	return 0;
}

static int parse_desc(json_t *d, const char *field, const char *label, struct descriptor *out,
		      char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(d))
		return fail(err, errsz, "%s: %s: not an object", label, field);
	const char *mt = json_string_value(json_object_get(d, "mediaType"));
	const char *digest = json_string_value(json_object_get(d, "digest"));
	json_t *size = json_object_get(d, "size");
	if (!digest || !digest_parse(digest, out->digest))
		return fail(err, errsz, "%s: %s.digest: %s", label, field, digest ?
			    "not a sha256 digest (sha256:<64 hex digits>)" : "missing");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return fail(err, errsz, "%s: %s.size: missing or not a size", label, field);
	out->size = (uint64_t)json_integer_value(size);
	out->media_type = strdup(mt ? mt : "");
	out->has_urls = json_array_size(json_object_get(d, "urls")) > 0;
	if (parse_platform_obj(json_object_get(d, "platform"), &out->platform) < 0)
		return fail(err, errsz, "%s: %s.platform: needs os and architecture", label, field);
	return 0;
}

static int parse_image(json_t *j, const char *label, struct manifest *m, char *err,
		       size_t errsz)
{
	m->kind = MANIFEST_IMAGE;
	if (parse_desc(json_object_get(j, "config"), "config", label, &m->config, err, errsz) < 0)
		return -1;
	if (!manifest_is_config_type(m->config.media_type))
		return fail(err, errsz, "%s: config.mediaType: '%s' is not an image config", label,
			    m->config.media_type);
	json_t *layers = json_object_get(j, "layers");
	if (!json_is_array(layers))
		return fail(err, errsz, "%s: layers: missing or not an array", label);
	m->nlayers = json_array_size(layers);
	m->layers = calloc(m->nlayers ? m->nlayers : 1, sizeof(*m->layers));
	if (m->layers == NULL)
		abort();
	for (size_t i = 0; i < m->nlayers; i++) {
		char field[48];
		snprintf(field, sizeof(field), "layers[%zu]", i);
		struct descriptor *l = &m->layers[i];
		if (parse_desc(json_array_get(layers, i), field, label, l, err, errsz) < 0)
			return -1;
		if (!manifest_is_layer_type(l->media_type))
			return fail(err, errsz, "%s: %s.mediaType: '%s' is not a layer type", label,
				    field, l->media_type);
		if (l->has_urls || strstr(l->media_type, "foreign"))
			return fail(err, errsz, "%s: %s: a foreign layer (its blob is not in the "
				    "registry): not supported", label, field);
	}
	return 0;
}

static int parse_index(json_t *j, const char *label, struct manifest *m, char *err,
		       size_t errsz)
{
	m->kind = MANIFEST_INDEX;
	json_t *list = json_object_get(j, "manifests");
	if (!json_is_array(list))
		return fail(err, errsz, "%s: manifests: missing or not an array", label);
	m->nmanifests = json_array_size(list);
	m->manifests = calloc(m->nmanifests ? m->nmanifests : 1, sizeof(*m->manifests));
	if (m->manifests == NULL)
		abort();
	for (size_t i = 0; i < m->nmanifests; i++) {
		char field[48];
		snprintf(field, sizeof(field), "manifests[%zu]", i);
		if (parse_desc(json_array_get(list, i), field, label, &m->manifests[i], err,
			       errsz) < 0)
			return -1;
	}
	return 0;
}

/* The kind a body is: its mediaType, else the Content-Type, else its shape. */
static const char *kind_of(json_t *j, const char *ct)
{
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	if (mt && (in_list(image_types, mt) || in_list(index_types, mt)))
		return mt;
	if (in_list(image_types, ct) || in_list(index_types, ct))
		return ct;
	if (mt)
		return mt;
	if (json_object_get(j, "manifests"))
		return MT_OCI_INDEX;
	if (json_object_get(j, "config") && json_object_get(j, "layers"))
		return MT_OCI_MANIFEST;
	return ct;
}

int manifest_parse(const char *body, size_t len, const char *content_type,
		   const char *label, struct manifest *m, char *err, size_t errsz)
{
	memset(m, 0, sizeof(*m));
	char ct[128];
	bare_type(content_type, ct, sizeof(ct));
	if (in_list(schema1_types, ct))
		return fail(err, errsz, "%s: a docker schema 1 manifest (%s): not supported; "
			    "push the image again with a current docker, podman or skopeo", label, ct);
	json_error_t je;
	json_t *j = json_loadb(body, len, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return fail(err, errsz, "%s: not a JSON manifest (%s)", label,
			    j ? "not an object" : je.text);
	}
	json_t *ver = json_object_get(j, "schemaVersion");
	const char *kind = kind_of(j, ct);
	int rc;
	if (json_integer_value(ver) == 1 || in_list(schema1_types, kind)) {
		rc = fail(err, errsz, "%s: a docker schema 1 manifest: not supported; push the "
			  "image again with a current docker, podman or skopeo", label);
	} else if (json_integer_value(ver) != 2) {
		rc = fail(err, errsz, "%s: schemaVersion: %s", label, ver ? "not 2" : "missing");
	} else if (in_list(image_types, kind)) {
		rc = parse_image(j, label, m, err, errsz);
	} else if (in_list(index_types, kind)) {
		rc = parse_index(j, label, m, err, errsz);
	} else {
		rc = fail(err, errsz, "%s: mediaType: '%.100s' is not an image manifest or index",
			  label, kind ? kind : "(none)");
	}
	if (rc == 0)
		m->media_type = strdup(kind);
	json_decref(j);
	if (rc < 0)
		manifest_free(m);
	return rc;
}

static void desc_free(struct descriptor *d)
{
	free(d->media_type);
	d->media_type = NULL;
}

void manifest_free(struct manifest *m)
{
	desc_free(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		desc_free(&m->layers[i]);
	for (size_t i = 0; i < m->nmanifests; i++)
		desc_free(&m->manifests[i]);
	free(m->layers);
	free(m->manifests);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

int manifest_choose(const struct manifest *index, const struct image_platform *p, size_t *at,
		    char *err, size_t errsz)
{
	for (size_t i = 0; i < index->nmanifests; i++) {
		const struct descriptor *d = &index->manifests[i];
		if (!in_list(image_types, d->media_type) && !in_list(index_types, d->media_type) &&
		    d->media_type[0])
			continue;
		if (d->platform.os[0] &&
		    image_platform_match(p, d->platform.os, d->platform.arch, d->platform.variant)) {
			*at = i;
			return 0;
		}
	}
	char want[100], list[600] = "";
	image_platform_format(p->os, p->arch, p->variant, want, sizeof(want));
	size_t used = 0;
	for (size_t i = 0; i < index->nmanifests && used < sizeof(list) - 100; i++) {
		const struct image_platform *q = &index->manifests[i].platform;
		char one[100];
		if (q->os[0])
			image_platform_format(q->os, q->arch, q->variant, one, sizeof(one));
		else
			snprintf(one, sizeof(one), "(no platform)");
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", one);
	}
	return fail(err, errsz, "no image for %s in the index; it has: %s (choose one with "
		    "--platform)", want, index->nmanifests ? list : "nothing");
}
