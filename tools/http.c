/* HTTP over libcurl for the registry client: see http.h. */
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static CURLSH *share;
static pthread_mutex_t locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h;
	(void)a;
	(void)u;
	pthread_mutex_lock(&locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h;
	(void)u;
	pthread_mutex_unlock(&locks[d]);
}

static void global_cleanup(void)
{
	if (share)
		curl_share_cleanup(share);
	share = NULL;
	curl_global_cleanup();
}

int http_global_init(void)
{
	if (share)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&locks[i], NULL);
	share = curl_share_init();
	if (share == NULL)
		return -1;
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	atexit(global_cleanup);
	return 0;
}

CURL *http_easy(const struct http_tls *tls)
{
	CURL *c = curl_easy_init();
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_SHARE, share);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "layerctl/" LAYERFS_VERSION);
	/* never file:// or anything else, also where a redirect points */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, tls->verify ? "https" : "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
	/* one request per connection: parallel layers get connections of their own */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer (under 1 byte/s for a minute) is a failed one */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
	if (tls->ca_blob) {
		struct curl_blob blob = { tls->ca_blob, tls->ca_len, CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (tls->client_cert && tls->client_key) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, tls->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, tls->client_key);
	}
	return c;
}

char *http_header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char *out = strndup(v, (size_t)(end - v));
	if (out == NULL)
		abort();
	return out;
}

struct xfer {
	const struct http_req *req;
	struct http_resp *resp;
	size_t cap;
	uint64_t sent;  /* body bytes handed to curl */
	curl_off_t reported;
};

static void keep(char **slot, char *value)
{
	if (value) {
		free(*slot);
		*slot = value;
	}
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	struct http_resp *r = x->resp;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or a 100): forget the last */
		free(r->content_type);
		free(r->location);
		free(r->www_authenticate);
		free(r->digest);
		free(r->content_range);
		r->content_type = r->location = r->www_authenticate = r->digest = NULL;
		r->content_range = NULL;
		r->content_length = -1;
		return len;
	}
	keep(&r->content_type, http_header_value(buf, len, "Content-Type"));
	keep(&r->location, http_header_value(buf, len, "Location"));
	keep(&r->www_authenticate, http_header_value(buf, len, "WWW-Authenticate"));
	keep(&r->digest, http_header_value(buf, len, "Docker-Content-Digest"));
	keep(&r->content_range, http_header_value(buf, len, "Content-Range"));
	char *cl = http_header_value(buf, len, "Content-Length");
	if (cl) {
		r->content_length = strtoll(cl, NULL, 10);
		free(cl);
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct http_resp *r = x->resp;
	size_t len = size * n;
	if (r->len + len > x->req->max_body) {
		r->truncated = true;
		return 0;  /* a registry sending more than such an answer can be */
	}
	if (r->len + len + 1 > x->cap) {
		x->cap = (r->len + len + 1) * 2;
		r->body = realloc(r->body, x->cap);
		if (r->body == NULL)
			abort();
	}
	memcpy(r->body + r->len, buf, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	const struct http_req *q = x->req;
	size_t want = size * n;
	if (q->body) {
		size_t left = q->body_len - x->sent;
		size_t k = want < left ? want : left;
		memcpy(buf, (const char *)q->body + x->sent, k);
		x->sent += k;
		return k;
	}
	ssize_t got;
	do
		got = pread(q->body_fd, buf, want, (off_t)x->sent);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return CURL_READFUNC_ABORT;
	x->sent += (uint64_t)got;
	return (size_t)got;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	struct xfer *x = arg;
	if (x->req->progress && ulnow > x->reported) {
		__atomic_fetch_add(x->req->progress, (uint64_t)(ulnow - x->reported),
				   __ATOMIC_RELAXED);
		x->reported = ulnow;
	}
	return 0;
}

static void set_method(CURL *c, const struct http_req *q, struct xfer *x)
{
	const char *m = q->method ? q->method : "GET";
	bool upload = q->body || q->body_fd >= 0;
	uint64_t size = q->body ? q->body_len : q->body_size;
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "POST") == 0 && !upload) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(m, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, upload ? (curl_off_t)size : 0);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
	}
	if (!upload && strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0)
		return;
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
}

int http_do(const struct http_tls *tls, const struct http_req *req, struct http_resp *resp,
	    char *err, size_t errsz)
{
	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	CURL *c = http_easy(tls);
	if (c == NULL) {
		snprintf(err, errsz, "out of memory");
		return CURLE_OUT_OF_MEMORY;
	}
	struct xfer x = { .req = req, .resp = resp };
	char ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	for (struct curl_slist *p = req->headers; p; p = p->next)
		h = curl_slist_append(h, p->data);
	h = curl_slist_append(h, "Expect:");  /* no 100-continue round trip */
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	set_method(c, req, &x);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (rc == CURLE_WRITE_ERROR && resp->truncated)
		rc = CURLE_OK;
	if (rc != CURLE_OK)
		snprintf(err, errsz, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		http_resp_free(resp);
		return (int)rc;
	}
	return 0;
}

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	free(r->content_type);
	free(r->location);
	free(r->www_authenticate);
	free(r->digest);
	free(r->content_range);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

bool http_retryable(int code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

bool http_tls_mismatch(int code)
{
	return code == CURLE_SSL_CONNECT_ERROR;
}
