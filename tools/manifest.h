/* Registry manifests, as the OCI distribution API serves them: OCI image
 * manifests and indexes, docker schema 2 manifests and manifest lists.
 * Docker schema 1 is refused with a clear message. A platform
 * (imageref.h) chooses an image from an index. Pure: JSON in,
 * descriptors out, errors as one line naming the field. */
#ifndef LAYERCTL_MANIFEST_H
#define LAYERCTL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imageref.h"   /* struct image_platform */

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* The Accept header of a manifest request: every kind we read. */
#define MANIFEST_ACCEPT \
	MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

/* Manifests, indexes and configs are small: a registry sending more lies. */
#define MANIFEST_MAX (4u << 20)
#define CONFIG_MAX (32u << 20)

struct descriptor {
	char *media_type;
	char digest[65];       /* hex */
	uint64_t size;
	struct image_platform platform;  /* index entries; os "" when none is given */
	bool has_urls;         /* a foreign layer, served elsewhere */
};

enum manifest_kind { MANIFEST_IMAGE, MANIFEST_INDEX };

struct manifest {
	enum manifest_kind kind;
	char *media_type;
	struct descriptor config;          /* an image manifest's */
	struct descriptor *layers;         /* bottom first */
	size_t nlayers;
	struct descriptor *manifests;      /* an index's */
	size_t nmanifests;
};

/* Parses a manifest body. content_type (may be NULL) is the response's
 * Content-Type; the body's own mediaType wins when both are given and
 * they are both known. label names the manifest in messages. 0, or -1
 * with err. */
int manifest_parse(const char *body, size_t len, const char *content_type,
		   const char *label, struct manifest *m, char *err, size_t errsz);
void manifest_free(struct manifest *m);

/* The entry of an index for p (image_platform_match: os and arch equal, a
 * variant asked for the entry's); the first such. 0 and *at, or -1 with
 * err listing the platforms the index has. */
int manifest_choose(const struct manifest *index, const struct image_platform *p, size_t *at,
		    char *err, size_t errsz);

bool manifest_is_layer_type(const char *media_type);
bool manifest_is_config_type(const char *media_type);

#endif
