/* Reading an image source: a `docker save` archive (old and new layouts),
 * an OCI image layout (directory or oci-archive tar), or a single layer
 * tarball, spelled as a path or as skopeo spells its transports. The result lists the layers bottom first, with where each blob
 * lives and the digests the image promises for it; blobs are then streamed
 * with blob_open/blob_read. Errors name the file and the field. */
#ifndef LAYERCTL_IMAGE_H
#define LAYERCTL_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum image_format { IMAGE_DOCKER, IMAGE_OCI, IMAGE_LAYER };

struct image_layer {
	char *file;          /* the blob's file, or the archive holding it */
	char *member;        /* the blob's member in that archive, or NULL */
	char *label;         /* "SOURCE: NAME" for messages */
	char digest[65];     /* promised compressed digest (hex), "" if none */
	char diff_id[65];    /* promised diff_id (hex), "" if none */
	char *digest_field;  /* where the digest was promised ("FILE: field") */
	char *diff_id_field; /* where the diff_id was promised */
	char *media_type;    /* NULL when the source gives none */
	uint64_t size;       /* the blob's size in bytes, 0 when unknown */
};

struct image_src {
	enum image_format format;
	char *source;             /* the path as given */
	size_t nlayers;
	struct image_layer *layers;
	json_t *config;           /* NULL for a single layer until image_layer_config */
	char config_digest[65];   /* hex sha256 of the config's bytes: the image id */
	size_t nnames;
	char **names;             /* "name:tag" from the source */
};

/* source: a path or a transport spelling (see imageref.h); platform:
 * "OS/ARCH[/VARIANT]" to take from an index, NULL for the host's. An
 * image may have no layers (a scratch image). 0, or -1 with a message in
 * err (and nothing left to free); a message listing what a source holds
 * has one line per choice after its first. */
int image_read(const char *source, const char *platform, struct image_src *img, char *err,
	       size_t errsz);
void image_free(struct image_src *img);
/* For a single layer: makes the synthetic config once the layer's diff_id
 * is known (rootfs.diff_ids = [diff_id]) and sets config_digest. */
int image_layer_config(struct image_src *img, const char *diff_hex);
/* "amd64", "arm64", ... for the machine we run on. */
const char *image_host_arch(void);

/* Streaming a layer's blob: the raw (maybe compressed) bytes. */
struct blob_reader;
int blob_open(const struct image_layer *l, struct blob_reader **out, char *err, size_t errsz);
/* Bytes read, 0 at the end, -1 with a message in err. */
ssize_t blob_read(struct blob_reader *r, void *buf, size_t n, char *err, size_t errsz);
void blob_close(struct blob_reader *r);
/* A blob_reader over a caller's stream (a registry download): blob_read
 * calls ops->read, blob_close calls ops->close (may be NULL) with ctx. */
struct blob_stream_ops {
	ssize_t (*read)(void *ctx, void *buf, size_t n, char *err, size_t errsz);
	void (*close)(void *ctx);
};
struct blob_reader *blob_reader_stream(const struct blob_stream_ops *ops, void *ctx);

#endif
