/* Unpacking one layer stream into a directory, with libarchive. Every path
 * is resolved beneath the layer's directory fd and never through a symlink;
 * whiteouts stay as files (aufs style). The stream's digests are computed
 * in the same pass: the raw (maybe compressed) bytes and the uncompressed
 * tar stream (the diff_id). */
#ifndef LAYERCTL_UNPACK_H
#define LAYERCTL_UNPACK_H

#include <stdint.h>
#include <stddef.h>

#include "image.h"

struct unpack_result {
	char digest[65];     /* sha256 of the raw bytes read from the blob */
	char diff_id[65];    /* sha256 of the uncompressed tar stream */
	uint64_t size;       /* bytes of the regular files made */
	uint64_t entries;
	/* Parent directories the layer needed but has no entry for (made 0755,
	 * owned by us): relative paths, for unpack_inherit_dirs. */
	char **implicit;
	size_t nimplicit, capimplicit;
};

/* Reads the whole blob from in and makes its entries below rootfd (an
 * O_RDONLY directory fd). progress (may be NULL) grows atomically by the
 * raw (compressed) bytes read. label names the layer in messages. 0, or -1
 * with a message in err; the directory is then left half-made for the
 * caller to remove, and res->digest still holds the digest of the whole
 * blob when it could be read to its end ("" otherwise). Warnings (things the caller's privileges cannot keep)
 * go to stderr, one line per kind per layer. */
int unpack_layer(struct blob_reader *in, int rootfd, const char *label, uint64_t *progress,
		 struct unpack_result *res, char *err, size_t errsz);

/* A layer may leave out the entries of directories that exist below it
 * (umoci does): the directories made for it then take mode, owner, xattrs
 * and times from the same directory in the layers below, as the stacked
 * image shows it (and as umoci and containerd unpack it), instead of
 * hiding them under layerfs with 0755 root. rootfd: the layer's diff
 * directory; lower: the diff directories below it, nearest first, already
 * fixed up themselves. A directory a whiteout or opaque marker hides from
 * below keeps its defaults. Best effort: failures are silent. */
void unpack_inherit_dirs(int rootfd, const struct unpack_result *res, const int *lower,
			 size_t nlower);
void unpack_result_free(struct unpack_result *res);

#endif
