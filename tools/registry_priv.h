/* What registry.c shares with registry_blob.c (the streamed download):
 * the session and its authorization, retry and error helpers. */
#ifndef LAYERCTL_REGISTRY_PRIV_H
#define LAYERCTL_REGISTRY_PRIV_H

#include <pthread.h>
#include <time.h>

#include "auth.h"
#include "http.h"
#include "registry.h"

struct token {
	char *scope, *value;
	time_t expires;
};

struct registry {
	char host[256];          /* as in the reference: "127.0.0.1:5000" */
	char base[320];          /* "https://API-HOST" or "http://API-HOST" */
	struct http_tls tls;
	struct registry_opts o;
	char *user, *password;   /* NULL: anonymous */
	struct auth_challenge challenge;  /* AUTH_NONE: the registry wants none */
	pthread_mutex_t mu;      /* tokens, challenge, down */
	struct token *tokens;
	size_t ntokens;
	bool down;               /* unreachable after every retry: fail fast */
	char down_err[512];
};

/* "Authorization: ..." for scope ("" when none is needed); fresh: do not
 * use a cached token (the registry refused it). 0, or -1 with err. */
int registry_auth_header(struct registry *r, const char *scope, bool fresh, char *buf,
			 size_t size, char *err, size_t errsz);
/* Learns a challenge from a 401 answer (the scheme may be new). */
void registry_learn_challenge(struct registry *r, const char *www_authenticate);
/* Sleeps before retry attempt (0-based). */
void registry_backoff(const struct registry *r, int attempt);
/* Marks the registry unreachable with err; registry_is_down copies it. */
void registry_mark_down(struct registry *r, const char *err);
bool registry_is_down(struct registry *r, char *err, size_t errsz);
/* One line for a failed answer: "HOST/REPO: WHAT: not found (404):
 * MANIFEST_UNKNOWN: manifest unknown". Returns -1. */
int registry_status_error(const struct registry *r, const char *repo, const char *what,
			  long status, const char *body, size_t len, char *err, size_t errsz);
/* "repository:REPO:pull". */
void registry_scope(const char *repo, const char *actions, char *buf, size_t size);

#endif
