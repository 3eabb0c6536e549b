/* How an image source is spelled on the command line, as skopeo spells
 * its local transports, and which platform to take from an index. Pure:
 * the only question asked of the file system goes through a callback.
 *
 *   oci:DIR[:TAG]  oci:DIR@sha256:HEX   an OCI image layout (directory or tar)
 *   oci-archive:FILE[:TAG]              the same, in a tar archive
 *   docker-archive:FILE[:NAME[:TAG]]    a `docker save` archive (or directory);
 *   docker-archive:FILE:@N              its N-th image (from 0)
 *   PATH  PATH:WHICH  PATH@sha256:HEX   anything above, found by looking at
 *                                       it; WHICH is a tag (OCI) or NAME:TAG
 *                                       (docker save)
 * As in skopeo, a transport's PATH ends at its first ':'; a bare PATH ends
 * at the first ':' that leaves an existing path (the whole spelling first). */
#ifndef LAYERCTL_IMAGEREF_H
#define LAYERCTL_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

enum image_transport {
	IMAGE_T_AUTO,            /* a bare path: look at what it is */
	IMAGE_T_OCI,             /* oci: */
	IMAGE_T_OCI_ARCHIVE,     /* oci-archive: */
	IMAGE_T_DOCKER_ARCHIVE,  /* docker-archive: */
};

struct image_ref {
	enum image_transport transport;
	char *path;          /* the file or directory */
	char *which;         /* a tag or NAME[:TAG]; NULL when none */
	char digest[65];     /* a manifest or index digest (hex), "" when none */
	long index;          /* docker-archive:FILE:@N, else -1 */
};

/* Parses spelling into ref (free with image_ref_free). exists(path, ctx)
 * tells whether a path exists. 0, or -1 with a message in err. */
int image_ref_parse(const char *spelling, bool (*exists)(const char *path, void *ctx),
		    void *ctx, struct image_ref *ref, char *err, size_t errsz);
void image_ref_free(struct image_ref *ref);
const char *image_transport_name(enum image_transport t);

/* OS/ARCH[/VARIANT], as in docker's --platform. */
struct image_platform {
	char os[32], arch[32], variant[32];
	bool given;          /* from --platform, not the host's default */
};

/* "linux/arm64/v8" -> platform (given = true). 0, or -1 with a message. */
int image_platform_parse(const char *text, struct image_platform *p, char *err, size_t errsz);
/* The machine we run on: linux, its architecture, its usual variant. */
void image_platform_host(struct image_platform *p);
/* Whether an image for os/arch/variant (variant may be NULL or "") runs
 * on want: same os and architecture; a variant, when want names one, the
 * same (arm64's "" is "v8", arm's "" is "v7"). */
bool image_platform_match(const struct image_platform *want, const char *os,
			  const char *arch, const char *variant);
/* "os/arch[/variant]" into buf. */
void image_platform_format(const char *os, const char *arch, const char *variant, char *buf,
			   size_t size);

#endif
