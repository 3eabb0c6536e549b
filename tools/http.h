/* HTTP for the registry client, over libcurl: one shared connection cache
 * (threads may run requests at once), TLS settings per registry, and a
 * request/response pair for the small exchanges (pings, tokens, manifests,
 * HEADs, uploads). Streamed blob downloads build on http_easy too
 * (registry_blob.c). Only http and https, also after a redirect. */
#ifndef LAYERCTL_HTTP_H
#define LAYERCTL_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_tls {
	bool verify;          /* check the server's certificate and name */
	char *ca_blob;        /* PEM: the system CAs plus the registry's own, or NULL */
	size_t ca_len;
	char *client_cert;    /* PEM files of a client certificate, or NULL */
	char *client_key;
};

/* The headers a registry answer may carry that the client reads. */
struct http_resp {
	long status;
	char *body;           /* NUL-terminated; NULL for HEAD */
	size_t len;
	bool truncated;       /* the body was longer than asked for */
	char *content_type, *location, *www_authenticate, *digest, *content_range;
	int64_t content_length;  /* -1 when not given */
};

struct http_req {
	const char *method;        /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
	const char *url;
	struct curl_slist *headers;  /* extra headers (Authorization, Accept, ...) */
	const void *body;          /* request body in memory, or NULL */
	size_t body_len;
	int body_fd;               /* or a file (pread from 0), -1 for none */
	uint64_t body_size;
	uint64_t *progress;        /* grows by the bytes sent (may be NULL) */
	size_t max_body;           /* keep at most this much of the response */
};

/* Once per process, before threads. 0 or -1. */
int http_global_init(void);
/* A new easy handle with the shared cache, the TLS settings, timeouts and
 * the http/https-only rule. NULL on out of memory. */
CURL *http_easy(const struct http_tls *tls);
/* Runs one request. 0 with resp filled (any status), or a CURLcode with a
 * one-line reason in err (connection refused, TLS failure, ...). */
int http_do(const struct http_tls *tls, const struct http_req *req, struct http_resp *resp,
	    char *err, size_t errsz);
void http_resp_free(struct http_resp *resp);
/* Whether a curl failure is worth a retry (the network, not the request). */
bool http_retryable(int curl_code);
/* Whether a curl failure means the server does not speak TLS. */
bool http_tls_mismatch(int curl_code);

/* Header-callback helper: "Name: value\r\n" -> a malloc'd value when name
 * matches (case-insensitive), else NULL. */
char *http_header_value(const char *line, size_t len, const char *name);

#endif
