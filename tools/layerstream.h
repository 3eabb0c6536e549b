/* The uncompressed stream of a layer blob, read to the very end of the
 * compressed stream so that its trailer is checked: gzip (with zlib: every
 * member's CRC-32 and ISIZE, members back to back, nothing after the last
 * one), and whatever else libarchive's read filters undo (zstd and xz with
 * their own checksums, bzip2, lz4, or no compression at all). Every raw
 * byte read from the blob goes into the caller's digest (the compressed
 * digest) and its byte counter (progress). */
#ifndef LAYERCTL_LAYERSTREAM_H
#define LAYERCTL_LAYERSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "image.h"

struct layer_stream;

/* Starts reading in. raw_d gets every raw byte; raw_bytes (may be NULL)
 * grows atomically by their count. 0, or -1 with a message in err
 * (label names the blob). */
int layer_stream_open(struct blob_reader *in, const char *label, struct digest *raw_d,
		      uint64_t *raw_bytes, struct layer_stream **out, char *err, size_t errsz);
/* Uncompressed bytes: >0 read, 0 at the end of a complete, checked stream,
 * -1 with a message in err (a corrupt stream, a failed read). */
ssize_t layer_stream_read(struct layer_stream *ls, void *buf, size_t n);
/* Reads whatever is left of the raw blob into raw_d (after a failure: the
 * digest of the whole blob can still tell whether it is the promised one).
 * 0 when the blob was read to its end. */
int layer_stream_drain_raw(struct layer_stream *ls);
/* The name of the compression found ("gzip", "zstd", "none", ...). */
const char *layer_stream_filter(const struct layer_stream *ls);
void layer_stream_close(struct layer_stream *ls);

#endif
