/* Inside image reading (not for the commands; they use image.h): where an
 * image's files come from (a directory or a tar archive), reading its JSON
 * documents and blobs, and building the struct image_src. Shared by
 * image.c (the entry point), image_docker.c and image_oci.c. */
#ifndef LAYERCTL_IMAGESRC_H
#define LAYERCTL_IMAGESRC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "imageref.h"

/* Manifests, indexes and configs are small; refuse anything huge. */
#define JSON_MAX (64u << 20)

extern const char *const image_manifest_types[];
extern const char *const image_index_types[];
extern const char *const image_config_types[];
extern const char *const image_layer_types[];

/* An archive's regular member: its normalised name and size. */
struct src_member {
	char *name;
	uint64_t size;
};

/* Where the image's files come from: a directory or a tar archive. */
struct src {
	const char *path;
	int dirfd;                  /* a directory source, else -1 */
	struct src_member *members; /* an archive's regular members */
	size_t nmembers, cap;
	char *err;
	size_t errsz;
	const struct image_ref *ref;          /* what was asked for */
	const struct image_platform *platform;
};

__attribute__((format(printf, 3, 4)))
int image_fail(char *err, size_t errsz, const char *fmt, ...);
#define SFAIL(s, ...) image_fail((s)->err, (s)->errsz, __VA_ARGS__)
char *image_xstrdup(const char *s);
__attribute__((format(printf, 1, 2)))
char *image_xasprintf(const char *fmt, ...);
bool image_in_list(const char *const *list, const char *s);

/* Lists an archive's members into s; 0 or -1 (message in s->err). */
int src_list(struct src *s);
/* Whether the source has a regular file name; its size into *size. */
bool src_has(struct src *s, const char *name, uint64_t *size);
json_t *src_load_json(struct src *s, const char *name);
json_t *src_parse_json(struct src *s, const char *name, const char *buf, size_t len);
/* Reads name (at most JSON_MAX bytes) into a new buffer. 0 or -1. */
int src_read(struct src *s, const char *name, char **buf, size_t *len);
/* The blob a descriptor's digest names, read, checked and parsed. field
 * says where the digest came from ("FILE: field"); blobname (may be NULL)
 * gets the blob's member name. */
json_t *src_load_blob_json(struct src *s, json_t *desc, const char *field, char hex[65],
			   char **blobname);

/* Building the image. */
struct image_layer *image_add_layer(struct image_src *img);
/* Where a blob lives: a member of the archive, or a file of the directory. */
void image_layer_place(struct src *s, struct image_layer *l, const char *name);
void image_add_name(struct image_src *img, const char *name);
/* Checks config.rootfs.diff_ids against the layers and copies them in. */
int image_take_diff_ids(struct src *s, struct image_src *img, const char *cfgname);

/* The readers: 0 or -1 with a message in s->err. */
int image_read_docker(struct src *s, struct image_src *img);
int image_read_oci(struct src *s, struct image_src *img);

#endif
