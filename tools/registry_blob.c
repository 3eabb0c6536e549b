/* A blob streamed from a registry into the unpacker, without a temporary
 * file: a curl multi handle driven from blob_read, in the caller's thread.
 * The write callback keeps one chunk; while the reader has not taken it,
 * the transfer is paused (CURL_WRITEFUNC_PAUSE), so memory stays bounded
 * and the network waits for the unpacker. Every byte is counted and hashed
 * as it arrives. An interrupted transfer starts again with Range from the
 * bytes already read; a registry that answers 200 to that is read from the
 * start, dropping what was read before. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "registry_priv.h"

#define ERRBODY_MAX (16u << 10)

struct registry_blob {
	struct registry *r;
	char repo[256], digest[65], what[100];
	uint64_t size, *progress;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	char ebuf[CURL_ERROR_SIZE];
	/* the answer being read */
	bool checked, body_ok;
	long status;
	char *content_range;
	char *errbody;
	size_t errlen;
	uint64_t skip;          /* bytes to drop: the registry ignored Range */
	bool finished;
	CURLcode result;
	/* data taken from curl, not yet read */
	char *buf;
	size_t cap, avail, pos;
	bool paused;
	/* the whole blob */
	uint64_t got;
	struct digest d;
	int attempt;
	bool fresh_auth, reauthed;
	bool failed, eof;
	char err[1024];
};

__attribute__((format(printf, 2, 3)))
static void bfail(struct registry_blob *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	b->failed = true;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct registry_blob *b = arg;
	size_t len = size * n;
	char *v = http_header_value(line, len, "Content-Range");
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		free(b->content_range);
		b->content_range = NULL;
	}
	if (v) {
		free(b->content_range);
		b->content_range = v;
	}
	return len;
}

/* The first bytes of an answer: is it the blob, from where we want it? */
static void check_answer(struct registry_blob *b)
{
	b->checked = true;
	curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &b->status);
	if (b->status == 200) {
		b->body_ok = true;
		b->skip = b->got;
	} else if (b->status == 206 && b->got > 0) {
		uint64_t start = UINT64_MAX;
		if (b->content_range)
			sscanf(b->content_range, "bytes %" SCNu64, &start);
		if (start != b->got)
			bfail(b, "%s/%s: %s: asked for bytes from %" PRIu64 ", the registry sent "
			      "'%.60s'", b->r->host, b->repo, b->what, b->got,
			      b->content_range ? b->content_range : "no Content-Range");
		b->body_ok = start == b->got;
	}
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct registry_blob *b = arg;
	size_t len = size * n;
	if (!b->checked)
		check_answer(b);
	if (b->failed)
		return 0;
	if (!b->body_ok) {
		size_t k = len < ERRBODY_MAX - b->errlen ? len : ERRBODY_MAX - b->errlen;
		b->errbody = realloc(b->errbody, b->errlen + k + 1);
		if (b->errbody == NULL)
			abort();
		memcpy(b->errbody + b->errlen, p, k);
		b->errlen += k;
		b->errbody[b->errlen] = '\0';
		return len;
	}
	if (b->avail > b->pos) {
		b->paused = true;
		return CURL_WRITEFUNC_PAUSE;  /* the reader has not taken the last chunk */
	}
	size_t drop = b->skip < len ? (size_t)b->skip : len;
	b->skip -= drop;
	p += drop;
	size_t keep = len - drop;
	if (keep == 0)
		return len;
	if (b->got + keep > b->size) {
		bfail(b, "%s/%s: %s: more than the %" PRIu64 " bytes the manifest says", b->r->host,
		      b->repo, b->what, b->size);
		return 0;
	}
	if (keep > b->cap) {
		b->cap = keep;
		b->buf = realloc(b->buf, b->cap);
		if (b->buf == NULL)
			abort();
	}
	memcpy(b->buf, p, keep);
	b->pos = 0;
	b->avail = keep;
	digest_update(&b->d, p, keep);
	b->got += keep;
	if (b->progress)
		__atomic_fetch_add(b->progress, (uint64_t)keep, __ATOMIC_RELAXED);
	return len;
}

/* (Re)starts the GET, from b->got on. */
static int start(struct registry_blob *b)
{
	if (b->easy) {
		curl_multi_remove_handle(b->multi, b->easy);
		curl_easy_cleanup(b->easy);
	}
	curl_slist_free_all(b->headers);
	b->headers = NULL;
	free(b->errbody);
	b->errbody = NULL;
	b->errlen = 0;
	b->checked = b->body_ok = b->finished = false;
	b->skip = 0;
	char auth[8192], scope[400], range[64], url[1024];
	registry_scope(b->repo, "pull", scope, sizeof(scope));
	if (registry_auth_header(b->r, scope, b->fresh_auth, auth, sizeof(auth), b->err,
				 sizeof(b->err)) < 0) {
		b->failed = true;
		return -1;
	}
	b->fresh_auth = false;
	if (auth[0])
		b->headers = curl_slist_append(b->headers, auth);
	if (b->got > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", b->got);
		b->headers = curl_slist_append(b->headers, range);
	}
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/sha256:%s", b->r->base, b->repo, b->digest);
	b->easy = http_easy(&b->r->tls);
	if (b->easy == NULL)
		abort();
	curl_easy_setopt(b->easy, CURLOPT_URL, url);
	curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->headers);
	curl_easy_setopt(b->easy, CURLOPT_ERRORBUFFER, b->ebuf);
	curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(b->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	b->ebuf[0] = '\0';
	curl_multi_add_handle(b->multi, b->easy);
	return 0;
}

/* Retry (with backoff), when attempts are left: 1 restarted, 0 not. */
static int retry(struct registry_blob *b)
{
	if (b->attempt >= b->r->o.retries)
		return 0;
	registry_backoff(b->r, b->attempt++);
	return start(b) == 0;
}

/* The transfer ended: done, retried, or failed. */
static void ended(struct registry_blob *b)
{
	struct registry *r = b->r;
	if (b->failed)
		return;
	if (b->result != CURLE_OK) {
		if (http_retryable(b->result) && retry(b))
			return;
		bfail(b, "%s/%s: %s: %s after %" PRIu64 " of %" PRIu64 " bytes%s", r->host, b->repo,
		      b->what, b->ebuf[0] ? b->ebuf : curl_easy_strerror(b->result), b->got,
		      b->size, b->attempt ? " (after retries)" : "");
		if (http_retryable(b->result))
			registry_mark_down(r, b->err);
		return;
	}
	if (!b->checked)
		check_answer(b);
	if (b->failed)
		return;
	if (!b->body_ok) {
		if (b->status == 401 && !b->reauthed) {
			b->reauthed = true;  /* the token ran out: a new one, once */
			b->fresh_auth = true;
			start(b);
			return;
		}
		if ((b->status >= 500 || b->status == 429) && retry(b))
			return;
		registry_status_error(r, b->repo, b->what, b->status, b->errbody, b->errlen, b->err,
				      sizeof(b->err));
		b->failed = true;
		return;
	}
	if (b->got < b->size) {
		if (retry(b))
			return;
		bfail(b, "%s/%s: %s: the registry sent %" PRIu64 " of the %" PRIu64 " bytes the "
		      "manifest says", r->host, b->repo, b->what, b->got, b->size);
		return;
	}
	char hex[65];
	digest_final_hex(&b->d, hex);
	if (strcmp(hex, b->digest) != 0)
		bfail(b, "%s/%s: %s: its content is sha256:%s: the registry sent a corrupt or "
		      "wrong blob", r->host, b->repo, b->what, hex);
	else
		b->eof = true;
}

/* Lets curl move data until a chunk is there or the transfer ends. */
static void pump(struct registry_blob *b)
{
	int running = 0;
	curl_multi_perform(b->multi, &running);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == b->easy) {
			b->finished = true;
			b->result = m->data.result;
		}
	}
	if (!b->finished && b->avail == b->pos && !b->failed)
		curl_multi_poll(b->multi, NULL, 0, 1000, NULL);
}

static ssize_t blob_stream_read(void *ctx, void *out, size_t n, char *err, size_t errsz)
{
	struct registry_blob *b = ctx;
	for (;;) {
		if (b->avail > b->pos) {
			size_t k = b->avail - b->pos < n ? b->avail - b->pos : n;
			memcpy(out, b->buf + b->pos, k);
			b->pos += k;
			if (b->pos == b->avail) {
				b->pos = b->avail = 0;
				if (b->paused) {
					b->paused = false;
					curl_easy_pause(b->easy, CURLPAUSE_CONT);
				}
			}
			return (ssize_t)k;
		}
		if (b->failed) {
			snprintf(err, errsz, "%s", b->err);
			return -1;
		}
		if (b->eof)
			return 0;
		if (b->finished)
			ended(b);
		else
			pump(b);
	}
}

static void blob_stream_close(void *ctx)
{
	struct registry_blob *b = ctx;
	if (b->easy) {
		curl_multi_remove_handle(b->multi, b->easy);
		curl_easy_cleanup(b->easy);
	}
	curl_multi_cleanup(b->multi);
	curl_slist_free_all(b->headers);
	free(b->content_range);
	free(b->errbody);
	free(b->buf);
	free(b);
}

static const struct blob_stream_ops stream_ops = { blob_stream_read, blob_stream_close };

int registry_blob_open(struct registry *r, const char *repo, const char *digest_hex,
		       uint64_t size, uint64_t *progress, struct registry_blob **blob,
		       struct blob_reader **out, char *err, size_t errsz)
{
	struct registry_blob *b = calloc(1, sizeof(*b));
	if (b == NULL)
		abort();
	b->r = r;
	snprintf(b->repo, sizeof(b->repo), "%s", repo);
	snprintf(b->digest, sizeof(b->digest), "%s", digest_hex);
	snprintf(b->what, sizeof(b->what), "blob sha256:%.12s", digest_hex);
	b->size = size;
	b->progress = progress;
	digest_init(&b->d);
	b->multi = curl_multi_init();
	if (b->multi == NULL)
		abort();
	if (registry_is_down(r, err, errsz) || start(b) < 0) {
		if (b->failed)
			snprintf(err, errsz, "%s", b->err);
		blob_stream_close(b);
		return -1;
	}
	*blob = b;
	*out = blob_reader_stream(&stream_ops, b);
	return 0;
}

int registry_blob_explain(struct registry_blob *b, char *err, size_t errsz)
{
	char scratch[1 << 16], ignore[256];
	if (!b->failed) {
		/* the unpacker stopped first: is the rest what the digest says? */
		while (blob_stream_read(b, scratch, sizeof(scratch), ignore, sizeof(ignore)) > 0)
			;
	}
	bool wrong = b->failed && (strstr(b->err, "content is sha256:") ||
				   strstr(b->err, "bytes the manifest says"));
	if (wrong)
		snprintf(err, errsz, "%s", b->err);
	return wrong ? 1 : 0;
}
