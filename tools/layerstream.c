/* The uncompressed stream of a layer blob: see layerstream.h.
 *
 * gzip goes through zlib rather than libarchive's gzip filter, which does
 * not check a member's trailer (CRC-32, ISIZE) and takes bytes after the
 * last member for the end of the stream. zlib's inflate in gzip mode checks
 * both; here the members are chained and anything after the last one is an
 * error, as Go's gzip reader (docker, containerd) has it. The first raw
 * block is read before choosing: its first two bytes tell gzip. */
#include "layerstream.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define RAW_BUF (1u << 17)

struct layer_stream {
	struct blob_reader *in;
	const char *label;
	struct digest *raw_d;
	uint64_t *raw_bytes;
	uint64_t raw_total;      /* raw bytes read so far */
	char *err;
	size_t errsz;
	bool failed;
	unsigned char *raw;      /* the current raw block */
	size_t rawlen, rawoff;   /* its length, and how much was handed on */
	bool raw_eof;
	/* gzip */
	bool gzip;
	z_stream zs;
	bool zs_ready, member_end, ended;
	unsigned members;
	/* everything else */
	struct archive *a;
};

__attribute__((format(printf, 2, 3)))
static int ls_fail(struct layer_stream *ls, const char *fmt, ...)
{
	if (ls->failed)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ls->err, ls->errsz, fmt, ap);
	va_end(ap);
	ls->failed = true;
	return -1;
}

/* The next raw block into ls->raw (rawoff 0). 0 (raw_eof at the end) or -1. */
static int next_block(struct layer_stream *ls)
{
	ls->rawlen = ls->rawoff = 0;
	if (ls->raw_eof)
		return 0;
	ssize_t n = blob_read(ls->in, ls->raw, RAW_BUF, ls->err, ls->errsz);
	if (n < 0) {
		ls->failed = true;
		return -1;
	}
	if (n == 0) {
		ls->raw_eof = true;
		return 0;
	}
	digest_update(ls->raw_d, ls->raw, (size_t)n);
	if (ls->raw_bytes)
		__atomic_fetch_add(ls->raw_bytes, (uint64_t)n, __ATOMIC_RELAXED);
	ls->raw_total += (uint64_t)n;
	ls->rawlen = (size_t)n;
	return 0;
}

/* ---- gzip ---- */

static const char *zlib_reason(const char *msg)
{
	if (msg == NULL)
		return "corrupt data";
	if (strcmp(msg, "incorrect data check") == 0)
		return "CRC-32 mismatch in a member's trailer";
	if (strcmp(msg, "incorrect length check") == 0)
		return "ISIZE (length) mismatch in a member's trailer";
	return msg;
}

/* At the end of a member: the next one, the end, or an error for bytes
 * that do not start a member. 1 another member, 0 the end, -1. */
static int gz_next_member(struct layer_stream *ls)
{
	if (ls->zs.avail_in == 0) {
		if (next_block(ls) < 0)
			return -1;
		ls->zs.next_in = ls->raw;
		ls->zs.avail_in = (uInt)ls->rawlen;
		if (ls->rawlen == 0)
			return 0;
	}
	if (ls->zs.next_in[0] != 0x1f) {
		uint64_t at = ls->raw_total - ls->zs.avail_in;
		return ls_fail(ls, "%s: bytes after the end of the gzip stream (at offset %llu, "
			       "after %u member%s)", ls->label, (unsigned long long)at,
			       ls->members, ls->members == 1 ? "" : "s");
	}
	if (inflateReset(&ls->zs) != Z_OK)
		return ls_fail(ls, "%s: gzip: %s", ls->label, zlib_reason(ls->zs.msg));
	ls->member_end = false;
	return 1;
}

static ssize_t gz_read(struct layer_stream *ls, void *buf, size_t n)
{
	if (ls->ended || n == 0)
		return 0;
	ls->zs.next_out = buf;
	ls->zs.avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
	uInt want = ls->zs.avail_out;
	while (ls->zs.avail_out == want) {
		if (ls->member_end) {
			int more = gz_next_member(ls);
			if (more < 0)
				return -1;
			if (more == 0) {
				ls->ended = true;
				break;
			}
		}
		if (ls->zs.avail_in == 0) {
			if (next_block(ls) < 0)
				return -1;
			if (ls->rawlen == 0)
				return ls_fail(ls, "%s: truncated gzip stream (it ends inside member "
					       "%u, before its trailer)", ls->label, ls->members + 1);
			ls->zs.next_in = ls->raw;
			ls->zs.avail_in = (uInt)ls->rawlen;
		}
		int r = inflate(&ls->zs, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			ls->members++;
			ls->member_end = true;
		} else if (r != Z_OK && !(r == Z_BUF_ERROR && ls->zs.avail_in == 0)) {
			return ls_fail(ls, "%s: corrupt gzip stream: %s", ls->label,
				       zlib_reason(ls->zs.msg));
		}
	}
	return (ssize_t)(want - ls->zs.avail_out);
}

static int gz_open(struct layer_stream *ls)
{
	ls->gzip = true;
	memset(&ls->zs, 0, sizeof(ls->zs));
	/* 16 + 15: a gzip wrapper only, with its trailer checked. */
	if (inflateInit2(&ls->zs, 16 + MAX_WBITS) != Z_OK)
		return ls_fail(ls, "%s: gzip: cannot start zlib", ls->label);
	ls->zs_ready = true;
	ls->zs.next_in = ls->raw;
	ls->zs.avail_in = (uInt)ls->rawlen;
	ls->rawoff = ls->rawlen;
	return 0;
}

/* ---- libarchive's filters ---- */

static la_ssize_t la_raw_read(struct archive *a, void *data, const void **buf)
{
	struct layer_stream *ls = data;
	if (ls->rawoff >= ls->rawlen && next_block(ls) < 0) {
		archive_set_error(a, EIO, "%s", ls->err);
		return -1;
	}
	*buf = ls->raw + ls->rawoff;
	la_ssize_t n = (la_ssize_t)(ls->rawlen - ls->rawoff);
	ls->rawoff = ls->rawlen;
	return n;
}

static int la_open(struct layer_stream *ls)
{
	struct archive_entry *e;
	ls->a = archive_read_new();
	if (ls->a == NULL)
		abort();
	archive_read_support_filter_all(ls->a);
	archive_read_support_format_raw(ls->a);
	if (archive_read_open(ls->a, ls, NULL, la_raw_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(ls->a, &e) != ARCHIVE_OK)
		return ls_fail(ls, "%s: unreadable layer: %s", ls->label,
			       archive_error_string(ls->a));
	return 0;
}

static ssize_t la_read(struct layer_stream *ls, void *buf, size_t n)
{
	la_ssize_t got = archive_read_data(ls->a, buf, n);
	if (got < 0)
		return ls_fail(ls, "%s: corrupt %s stream: %s", ls->label,
			       layer_stream_filter(ls), archive_error_string(ls->a));
	return got;
}

/* ---- the interface ---- */

int layer_stream_open(struct blob_reader *in, const char *label, struct digest *raw_d,
		      uint64_t *raw_bytes, struct layer_stream **out, char *err, size_t errsz)
{
	struct layer_stream *ls = calloc(1, sizeof(*ls));
	if (ls == NULL || (ls->raw = malloc(RAW_BUF)) == NULL)
		abort();
	*ls = (struct layer_stream){ .in = in, .label = label, .raw_d = raw_d,
				     .raw_bytes = raw_bytes, .err = err, .errsz = errsz,
				     .raw = ls->raw };
	*out = ls;
	if (next_block(ls) < 0)
		return -1;
	if (ls->rawlen >= 2 && ls->raw[0] == 0x1f && ls->raw[1] == 0x8b)
		return gz_open(ls);
	return la_open(ls);
}

ssize_t layer_stream_read(struct layer_stream *ls, void *buf, size_t n)
{
	if (ls->failed)
		return -1;
	return ls->gzip ? gz_read(ls, buf, n) : la_read(ls, buf, n);
}

int layer_stream_drain_raw(struct layer_stream *ls)
{
	while (!ls->raw_eof) {
		if (next_block(ls) < 0)
			return -1;
	}
	return 0;
}

const char *layer_stream_filter(const struct layer_stream *ls)
{
	if (ls->gzip)
		return "gzip";
	const char *name = ls->a ? archive_filter_name(ls->a, 0) : NULL;
	return name ? name : "none";
}

void layer_stream_close(struct layer_stream *ls)
{
	if (ls == NULL)
		return;
	if (ls->zs_ready)
		inflateEnd(&ls->zs);
	if (ls->a)
		archive_read_free(ls->a);
	free(ls->raw);
	free(ls);
}
