/* A client of one OCI distribution (v2) registry: the session (scheme,
 * TLS, credentials, tokens), and the calls pull, push and login need.
 * Authentication: anonymous, Basic, or Bearer tokens got from the realm of
 * the registry's WWW-Authenticate challenge, one per scope
 * ("repository:NAME:pull[,push]"). Connection errors, 429 and 5xx are
 * retried with backoff. Every error is one line naming the registry, the
 * repository and what failed. Thread-safe: layers stream in parallel. */
#ifndef LAYERCTL_REGISTRY_H
#define LAYERCTL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "image.h"

struct registry_opts {
	bool tls_verify;          /* false: no certificate checks, plain HTTP allowed */
	const char *cert_dir;     /* --cert-dir, or NULL (see certsd.h) */
	const char *authfile;     /* --authfile, or NULL (see authfile.h) */
	const char *username;     /* --creds / login: used instead of the files */
	const char *password;
	int retries;              /* attempts after the first (--retry) */
	double retry_delay;       /* seconds; <= 0: exponential from 1 s */
};

struct registry;

/* A session with domain's registry ("docker.io" is registry-1.docker.io)
 * for repository repo. Pings /v2/ (choosing https or, without TLS
 * verification, http) and learns how it authenticates. 0, or -1 with err. */
int registry_open(struct registry **out, const char *domain, const char *repo,
		  const struct registry_opts *o, char *err, size_t errsz);
void registry_close(struct registry *r);
/* "127.0.0.1:5000" for messages. */
const char *registry_host(const struct registry *r);

/* Checks that the credentials are accepted (login): 0, or -1 with err. */
int registry_check_login(struct registry *r, char *err, size_t errsz);

/* GET a manifest by tag or "sha256:<hex>". *body (malloc'd, len bytes),
 * *content_type (malloc'd or NULL), digest_hex: the sha256 of the bytes.
 * A manifest fetched by digest must have that digest; one fetched by tag
 * must match the Docker-Content-Digest the registry sends. 0 or -1. */
int registry_get_manifest(struct registry *r, const char *repo, const char *ref,
			  char **body, size_t *len, char **content_type, char digest_hex[65],
			  char *err, size_t errsz);
/* GET a small blob whole (a config), checked against digest and size. */
int registry_get_blob(struct registry *r, const char *repo, const char *digest_hex,
		      uint64_t size, size_t max, char **body, char *err, size_t errsz);

/* A streamed blob: bytes come as the network delivers them, counted and
 * hashed; more bytes than size, fewer, or another digest are an error at
 * the point they show. An interrupted transfer resumes with Range (or
 * from the start, skipping what was read, when the registry ignores
 * Range). progress (may be NULL) grows by the bytes received. */
struct registry_blob;
int registry_blob_open(struct registry *r, const char *repo, const char *digest_hex,
		       uint64_t size, uint64_t *progress, struct registry_blob **blob,
		       struct blob_reader **out, char *err, size_t errsz);
/* After a failure while reading it (before blob_close): reads the rest (at
 * most its size) to tell whether the blob was not what its digest says.
 * 1 and err replaced by that explanation, 0 when it is the right blob (or
 * when it cannot be told). */
int registry_blob_explain(struct registry_blob *b, char *err, size_t errsz);

/* HEAD a blob: 1 (and *size) when repo has it, 0 when not, -1 on error. */
int registry_blob_exists(struct registry *r, const char *repo, const char *digest_hex,
			 uint64_t *size, char *err, size_t errsz);
/* Cross-repository mount from another repository of the same registry:
 * 1 when mounted, 0 when the registry declined (upload it instead). */
int registry_blob_mount(struct registry *r, const char *repo, const char *from,
			const char *digest_hex, char *err, size_t errsz);
/* Uploads a blob (POST, then one PUT of the whole blob) from fd (read from
 * offset 0, size bytes) or from memory (data != NULL). */
int registry_blob_upload(struct registry *r, const char *repo, const char *digest_hex,
			 int fd, const void *data, uint64_t size, uint64_t *progress, char *err,
			 size_t errsz);
/* PUT a manifest under ref (a tag or its digest). */
int registry_put_manifest(struct registry *r, const char *repo, const char *ref,
			  const char *media_type, const char *body, size_t len, char *err,
			  size_t errsz);

#endif
