/* The registry session and its small exchanges: see registry.h. */
#include "registry.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authfile.h"
#include "certsd.h"
#include "digest.h"
#include "manifest.h"
#include "reference.h"
#include "registry_priv.h"

#define TOKEN_MAX (1u << 20)
#define ERROR_BODY_MAX (64u << 10)

__attribute__((format(printf, 3, 4)))
static int failf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

const char *registry_host(const struct registry *r)
{
	return r->host;
}

void registry_scope(const char *repo, const char *actions, char *buf, size_t size)
{
	snprintf(buf, size, "repository:%s:%s", repo, actions);
}

void registry_backoff(const struct registry *r, int attempt)
{
	double s = r->o.retry_delay > 0 ? r->o.retry_delay : (double)(1 << (attempt < 3 ? attempt : 3));
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void registry_mark_down(struct registry *r, const char *err)
{
	pthread_mutex_lock(&r->mu);
	if (!r->down)
		snprintf(r->down_err, sizeof(r->down_err), "%s", err);
	r->down = true;
	pthread_mutex_unlock(&r->mu);
}

bool registry_is_down(struct registry *r, char *err, size_t errsz)
{
	pthread_mutex_lock(&r->mu);
	bool down = r->down;
	if (down)
		snprintf(err, errsz, "%s", r->down_err);
	pthread_mutex_unlock(&r->mu);
	return down;
}

/* The registry's own words, from {"errors":[{"code":..,"message":..}]}. */
static void error_detail(const char *body, size_t len, char *buf, size_t size)
{
	buf[0] = '\0';
	json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	if (code || msg)
		snprintf(buf, size, ": %.60s%s%.200s", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
	json_decref(j);
	for (char *p = buf; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
}

int registry_status_error(const struct registry *r, const char *repo, const char *what,
			  long status, const char *body, size_t len, char *err, size_t errsz)
{
	const char *why = "unexpected answer";
	if (status == 401)
		why = r->user ? "unauthorized: the registry refused the credentials"
			      : "unauthorized: log in first (layerctl login)";
	else if (status == 403)
		why = "denied: these credentials may not do that";
	else if (status == 404)
		why = "not found";
	else if (status == 429)
		why = "too many requests";
	else if (status >= 500)
		why = "registry error";
	char detail[300];
	error_detail(body, len, detail, sizeof(detail));
	snprintf(err, errsz, "%s%s%s: %s: %s (HTTP %ld)%s", r->host, repo ? "/" : "",
		 repo ? repo : "", what, why, status, detail);
	return -1;
}

/* ---- tokens ---- */

static const char *cached_token(struct registry *r, const char *scope)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < r->ntokens; i++) {
		if (strcmp(r->tokens[i].scope, scope) == 0 && r->tokens[i].expires > now)
			return r->tokens[i].value;
	}
	return NULL;
}

static void store_token(struct registry *r, const char *scope, const char *value, long ttl)
{
	for (size_t i = 0; i < r->ntokens; i++) {
		if (strcmp(r->tokens[i].scope, scope) == 0) {
			free(r->tokens[i].value);
			r->tokens[i].value = strdup(value);
			r->tokens[i].expires = time(NULL) + ttl;
			return;
		}
	}
	r->tokens = realloc(r->tokens, (r->ntokens + 1) * sizeof(*r->tokens));
	if (r->tokens == NULL)
		abort();
	struct token *t = &r->tokens[r->ntokens++];
	t->scope = strdup(scope);
	t->value = strdup(value);
	t->expires = time(NULL) + ttl;
	if (!t->scope || !t->value)
		abort();
}

static struct curl_slist *basic_header(const struct registry *r, struct curl_slist *h)
{
	char *plain = malloc(strlen(r->user) + strlen(r->password) + 2);
	if (plain == NULL)
		abort();
	sprintf(plain, "%s:%s", r->user, r->password);
	char *b64 = auth_base64_encode(plain, strlen(plain));
	char *line = malloc(strlen(b64) + 32);
	if (line == NULL)
		abort();
	sprintf(line, "Authorization: Basic %s", b64);
	h = curl_slist_append(h, line);
	free(line);
	free(b64);
	free(plain);
	return h;
}

/* The token URL: realm?service=...&scope=...&scope=... */
static char *token_url(const struct auth_challenge *c, const char *scope)
{
	size_t cap = strlen(c->realm) + 3 * (strlen(scope) + (c->service ? strlen(c->service) : 0))
		     + 64;
	char *url = malloc(cap), *scopes = strdup(scope), *save = NULL;
	if (url == NULL || scopes == NULL)
		abort();
	snprintf(url, cap, "%s", c->realm);
	char sep = strchr(url, '?') ? '&' : '?';
	if (c->service) {
		char *e = curl_easy_escape(NULL, c->service, 0);
		snprintf(url + strlen(url), cap - strlen(url), "%cservice=%s", sep, e);
		curl_free(e);
		sep = '&';
	}
	for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
		char *e = curl_easy_escape(NULL, s, 0);
		snprintf(url + strlen(url), cap - strlen(url), "%cscope=%s", sep, e);
		curl_free(e);
		sep = '&';
	}
	free(scopes);
	return url;
}

/* GET a token for scope from the challenge's realm (under r->mu). */
static int fetch_token(struct registry *r, const char *scope, char *err, size_t errsz)
{
	if (r->challenge.realm == NULL)
		return failf(err, errsz, "%s: its Bearer challenge names no realm", r->host);
	char *url = token_url(&r->challenge, scope);
	struct curl_slist *h = r->user ? basic_header(r, NULL) : NULL;
	struct http_req q = { .url = url, .headers = h, .body_fd = -1, .max_body = TOKEN_MAX };
	struct http_resp resp;
	char why[512];
	int rc = -1;
	int crc = http_do(&r->tls, &q, &resp, why, sizeof(why));
	for (int attempt = 0; crc != 0 && http_retryable(crc) && attempt < r->o.retries; attempt++) {
		registry_backoff(r, attempt);
		crc = http_do(&r->tls, &q, &resp, why, sizeof(why));
	}
	if (crc != 0) {
		snprintf(err, errsz, "%s: token from %.200s: %s", r->host, r->challenge.realm, why);
	} else if (resp.status == 401 || resp.status == 403) {
		snprintf(err, errsz, "%s: %s: the token server refused %s (HTTP %ld)", r->host,
			 scope, r->user ? "the credentials: wrong username or password?"
					: "an anonymous token: log in first (layerctl login)",
			 resp.status);
	} else if (resp.status != 200) {
		registry_status_error(r, NULL, "token", resp.status, resp.body, resp.len, err, errsz);
	} else {
		json_t *j = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
		const char *tok = json_string_value(json_object_get(j, "token"));
		if (!tok)
			tok = json_string_value(json_object_get(j, "access_token"));
		json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
		if (tok && tok[0] && !strpbrk(tok, "\r\n")) {
			/* a little early, so that no request goes out with a stale one */
			store_token(r, scope, tok, ttl > 90 ? (long)ttl - 30 : 60);
			rc = 0;
		} else {
			snprintf(err, errsz, "%s: token from %.200s: no token in the answer", r->host,
				 r->challenge.realm);
		}
		json_decref(j);
	}
	if (crc == 0)
		http_resp_free(&resp);
	curl_slist_free_all(h);
	free(url);
	return rc;
}

int registry_auth_header(struct registry *r, const char *scope, bool fresh, char *buf,
			 size_t size, char *err, size_t errsz)
{
	buf[0] = '\0';
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	if (r->challenge.scheme == AUTH_BASIC) {
		if (r->user) {
			struct curl_slist *h = basic_header(r, NULL);
			snprintf(buf, size, "%s", h->data);
			curl_slist_free_all(h);
		}
	} else if (r->challenge.scheme == AUTH_BEARER && scope) {
		const char *tok = fresh ? NULL : cached_token(r, scope);
		if (tok == NULL && (rc = fetch_token(r, scope, err, errsz)) == 0)
			tok = cached_token(r, scope);
		if (tok)
			snprintf(buf, size, "Authorization: Bearer %s", tok);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void registry_learn_challenge(struct registry *r, const char *www)
{
	struct auth_challenge c;
	if (auth_challenge_parse(www, &c) < 0)
		return;
	pthread_mutex_lock(&r->mu);
	auth_challenge_free(&r->challenge);
	r->challenge = c;
	pthread_mutex_unlock(&r->mu);
}

/* ---- requests ---- */

struct call {
	const char *method;
	const char *what;          /* for messages: "manifest 1.0" */
	const char *repo;          /* for messages */
	char url[4096];
	char scope[1024];          /* "" for none */
	const char *accept, *content_type;
	const void *body;
	size_t body_len;
	int fd;
	uint64_t size;
	uint64_t *progress;
	size_t max_body;
};

/* One request with authorization, one re-authorization on a 401 and the
 * retries. 0 with resp (any status), or -1 with err. */
static int call(struct registry *r, struct call *c, struct http_resp *resp, char *err,
		size_t errsz)
{
	bool fresh = false;
	for (int attempt = 0;;) {
		if (registry_is_down(r, err, errsz))
			return -1;
		char auth[8192], accept[512], ctype[256];
		if (registry_auth_header(r, c->scope[0] ? c->scope : NULL, fresh, auth,
					 sizeof(auth), err, errsz) < 0)
			return -1;
		struct curl_slist *h = NULL;
		if (auth[0])
			h = curl_slist_append(h, auth);
		if (c->accept) {
			snprintf(accept, sizeof(accept), "Accept: %s", c->accept);
			h = curl_slist_append(h, accept);
		}
		if (c->content_type) {
			snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->content_type);
			h = curl_slist_append(h, ctype);
		}
		struct http_req q = { .method = c->method, .url = c->url, .headers = h,
				      .body = c->body, .body_len = c->body_len, .body_fd = c->fd,
				      .body_size = c->size, .progress = c->progress,
				      .max_body = c->max_body ? c->max_body : ERROR_BODY_MAX };
		char why[512];
		int rc = http_do(&r->tls, &q, resp, why, sizeof(why));
		curl_slist_free_all(h);
		if (rc == 0 && resp->truncated) {
			snprintf(err, errsz, "%s/%s: %s: the answer is larger than %zu bytes", r->host,
				 c->repo, c->what, q.max_body);
			http_resp_free(resp);
			return -1;
		}
		if (rc == 0 && resp->status == 401 && !fresh) {
			registry_learn_challenge(r, resp->www_authenticate);
			fresh = true;  /* a new token (or the first), then once more */
			http_resp_free(resp);
			continue;
		}
		bool busy = rc == 0 && (resp->status >= 500 || resp->status == 429);
		if ((busy || (rc != 0 && http_retryable(rc))) && attempt < r->o.retries) {
			if (rc == 0)
				http_resp_free(resp);
			registry_backoff(r, attempt++);
			continue;
		}
		if (rc == 0)
			return 0;
		snprintf(err, errsz, "%s: %s %s: %s%s", r->host, c->method ? c->method : "GET",
			 c->what, why, attempt ? " (after retries)" : "");
		if (http_retryable(rc))
			registry_mark_down(r, err);
		return -1;
	}
}

static void call_init(struct call *c, const char *method, const char *what, const char *repo)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->what = what;
	c->repo = repo;
	c->fd = -1;
}

/* GET /v2/ on base without credentials: how the registry authenticates. */
static int ping(struct registry *r, char *err, size_t errsz)
{
	char url[400], why[512];
	snprintf(url, sizeof(url), "%s/v2/", r->base);
	struct http_req q = { .url = url, .body_fd = -1, .max_body = ERROR_BODY_MAX };
	struct http_resp resp;
	int crc = http_do(&r->tls, &q, &resp, why, sizeof(why));
	for (int attempt = 0; crc != 0 && http_retryable(crc) && attempt < r->o.retries; attempt++) {
		registry_backoff(r, attempt);
		crc = http_do(&r->tls, &q, &resp, why, sizeof(why));
	}
	if (crc != 0) {
		snprintf(err, errsz, "%s: cannot reach the registry at %s: %s%s", r->host, url, why,
			 http_tls_mismatch(crc) && r->o.tls_verify
			 ? " (a plain HTTP registry? then --tls-verify=false)" : "");
		return -1;
	}
	int rc = 0;
	if (resp.status == 401) {
		registry_learn_challenge(r, resp.www_authenticate);
		if (r->challenge.scheme == AUTH_NONE) {
			snprintf(err, errsz, "%s: /v2/: 401 without a Basic or Bearer challenge",
				 r->host);
			rc = -1;
		}
	} else if (resp.status != 200) {
		rc = registry_status_error(r, NULL, "/v2/ (is this a registry?)", resp.status,
					   resp.body, resp.len, err, errsz);
	}
	http_resp_free(&resp);
	return rc;
}

static int open_scheme(struct registry *r, const char *api, char *err, size_t errsz)
{
	snprintf(r->base, sizeof(r->base), "https://%s", api);
	if (r->o.tls_verify)
		return ping(r, err, errsz);
	/* without verification, plain HTTP too: https first, as podman does */
	int saved = r->o.retries;
	r->o.retries = 0;
	int rc = ping(r, err, errsz);
	r->o.retries = saved;
	if (rc == 0)
		return 0;
	r->down = false;
	snprintf(r->base, sizeof(r->base), "http://%s", api);
	return ping(r, err, errsz);
}

static int credentials(struct registry *r, const char *repo, char *err, size_t errsz)
{
	if (r->o.username) {
		r->user = strdup(r->o.username);
		r->password = strdup(r->o.password ? r->o.password : "");
		return r->user && r->password ? 0 : -1;
	}
	int rc = authfile_lookup(r->o.authfile, r->host, repo, &r->user, &r->password, err,
				 errsz);
	return rc < 0 ? -1 : 0;
}

int registry_open(struct registry **out, const char *domain, const char *repo,
		  const struct registry_opts *o, char *err, size_t errsz)
{
	struct registry *r = calloc(1, sizeof(*r));
	if (r == NULL || http_global_init() < 0)
		abort();
	pthread_mutex_init(&r->mu, NULL);
	r->o = *o;
	snprintf(r->host, sizeof(r->host), "%s", domain);
	struct reference ref = { .domain = "" };
	snprintf(ref.domain, sizeof(ref.domain), "%s", domain);
	int rc = certsd_tls(domain, o->cert_dir, o->tls_verify, &r->tls, err, errsz);
	if (rc == 0)
		rc = credentials(r, repo, err, errsz);
	if (rc == 0)
		rc = open_scheme(r, reference_api_host(&ref), err, errsz);
	if (rc < 0) {
		registry_close(r);
		return -1;
	}
	*out = r;
	return 0;
}

void registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ntokens; i++) {
		free(r->tokens[i].scope);
		free(r->tokens[i].value);
	}
	free(r->tokens);
	auth_challenge_free(&r->challenge);
	certsd_free(&r->tls);
	if (r->password)
		memset(r->password, 0, strlen(r->password));
	free(r->user);
	free(r->password);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int registry_check_login(struct registry *r, char *err, size_t errsz)
{
	if (r->challenge.scheme == AUTH_NONE)
		return 0;  /* the registry asks for no credentials at all */
	if (r->user == NULL) {
		snprintf(err, errsz, "%s: no username and password given", r->host);
		return -1;
	}
	if (r->challenge.scheme == AUTH_BEARER) {
		/* the token server checks them: a token for no repository */
		pthread_mutex_lock(&r->mu);
		int rc = fetch_token(r, "", err, errsz);
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	struct call c;
	call_init(&c, "GET", "/v2/", "");
	snprintf(c.url, sizeof(c.url), "%s/v2/", r->base);
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	if (resp.status != 200)
		rc = registry_status_error(r, NULL, "login", resp.status, resp.body, resp.len, err,
					   errsz);
	http_resp_free(&resp);
	return rc;
}

/* ---- manifests and blobs ---- */

static int path_url(struct registry *r, struct call *c, const char *repo, const char *kind,
		    const char *ref, const char *actions)
{
	int n = snprintf(c->url, sizeof(c->url), "%s/v2/%s/%s/%s", r->base, repo, kind, ref);
	registry_scope(repo, actions, c->scope, sizeof(c->scope));
	return n < 0 || (size_t)n >= sizeof(c->url) ? -1 : 0;
}

int registry_get_manifest(struct registry *r, const char *repo, const char *ref,
			  char **body, size_t *len, char **content_type, char digest_hex[65],
			  char *err, size_t errsz)
{
	char what[200], want[65] = "";
	bool by_digest = digest_parse(ref, want);
	snprintf(what, sizeof(what), "manifest %.100s", ref);
	struct call c;
	call_init(&c, "GET", what, repo);
	path_url(r, &c, repo, "manifests", ref, "pull");
	c.accept = MANIFEST_ACCEPT;
	c.max_body = MANIFEST_MAX;
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	char sent[65];
	if (resp.status != 200) {
		rc = registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err,
					   errsz);
	} else {
		digest_buffer(resp.body ? resp.body : "", resp.len, digest_hex);
		if (by_digest && strcmp(want, digest_hex) != 0)
			rc = failf(err, errsz, "%s/%s: manifest %s: the registry sent one whose "
				      "digest is sha256:%s", r->host, repo, ref, digest_hex);
		else if (!by_digest && resp.digest && digest_parse(resp.digest, sent) &&
			 strcmp(sent, digest_hex) != 0)
			rc = failf(err, errsz, "%s/%s: manifest %s: its content is sha256:%s, but "
				      "the registry says %s", r->host, repo, ref, digest_hex,
				      resp.digest);
	}
	if (rc == 0) {
		*body = resp.body ? resp.body : strdup("");
		*len = resp.len;
		*content_type = resp.content_type;
		resp.body = resp.content_type = NULL;
	}
	http_resp_free(&resp);
	return rc;
}

int registry_get_blob(struct registry *r, const char *repo, const char *digest_hex,
		      uint64_t size, size_t max, char **body, char *err, size_t errsz)
{
	char what[120], ref[80], got[65];
	snprintf(what, sizeof(what), "blob sha256:%.12s", digest_hex);
	snprintf(ref, sizeof(ref), "sha256:%s", digest_hex);
	if (size > max)
		return failf(err, errsz, "%s/%s: %s: %llu bytes, more than %zu", r->host, repo,
				what, (unsigned long long)size, max);
	struct call c;
	call_init(&c, "GET", what, repo);
	path_url(r, &c, repo, "blobs", ref, "pull");
	c.max_body = max;
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = -1;
	if (resp.status != 200) {
		registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err, errsz);
	} else if (resp.len != size) {
		snprintf(err, errsz, "%s/%s: %s: %zu bytes, but the manifest says %llu", r->host,
			 repo, what, resp.len, (unsigned long long)size);
	} else if (digest_buffer(resp.body ? resp.body : "", resp.len, got),
		   strcmp(got, digest_hex) != 0) {
		snprintf(err, errsz, "%s/%s: %s: its content is sha256:%s", r->host, repo, what, got);
	} else {
		*body = resp.body ? resp.body : strdup("");
		resp.body = NULL;
		rc = 0;
	}
	http_resp_free(&resp);
	return rc;
}

int registry_blob_exists(struct registry *r, const char *repo, const char *digest_hex,
			 uint64_t *size, char *err, size_t errsz)
{
	char what[120], ref[80];
	snprintf(what, sizeof(what), "blob sha256:%.12s", digest_hex);
	snprintf(ref, sizeof(ref), "sha256:%s", digest_hex);
	struct call c;
	call_init(&c, "HEAD", what, repo);
	path_url(r, &c, repo, "blobs", ref, "pull,push");
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	if (resp.status == 200) {
		rc = 1;
		if (size)
			*size = resp.content_length >= 0 ? (uint64_t)resp.content_length : 0;
	} else if (resp.status != 404) {
		rc = registry_status_error(r, repo, what, resp.status, NULL, 0, err, errsz);
	}
	http_resp_free(&resp);
	return rc;
}

/* An upload's Location, absolute. */
static void absolute(struct registry *r, const char *loc, char *buf, size_t size)
{
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		snprintf(buf, size, "%s", loc);
	else
		snprintf(buf, size, "%s%s%s", r->base, loc[0] == '/' ? "" : "/", loc);
}

int registry_blob_mount(struct registry *r, const char *repo, const char *from,
			const char *digest_hex, char *err, size_t errsz)
{
	char what[160];
	snprintf(what, sizeof(what), "mount of sha256:%.12s from %.80s", digest_hex, from);
	struct call c;
	call_init(&c, "POST", what, repo);
	snprintf(c.url, sizeof(c.url), "%s/v2/%s/blobs/uploads/?mount=sha256:%s&from=%s", r->base,
		 repo, digest_hex, from);
	snprintf(c.scope, sizeof(c.scope), "repository:%s:pull,push repository:%s:pull", repo,
		 from);
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	if (resp.status == 201) {
		rc = 1;
	} else if (resp.status == 202 && resp.location) {
		/* declined: an upload session was opened instead; close it */
		struct call d;
		call_init(&d, "DELETE", "upload", repo);
		absolute(r, resp.location, d.url, sizeof(d.url));
		registry_scope(repo, "pull,push", d.scope, sizeof(d.scope));
		struct http_resp dr;
		char ignore[256];
		if (call(r, &d, &dr, ignore, sizeof(ignore)) == 0)
			http_resp_free(&dr);
	} else if (resp.status != 202 && resp.status != 404) {
		rc = registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err,
					   errsz);
	}
	http_resp_free(&resp);
	return rc;
}

int registry_blob_upload(struct registry *r, const char *repo, const char *digest_hex,
			 int fd, const void *data, uint64_t size, uint64_t *progress, char *err,
			 size_t errsz)
{
	char what[120];
	snprintf(what, sizeof(what), "upload of sha256:%.12s", digest_hex);
	struct call c;
	call_init(&c, "POST", what, repo);
	snprintf(c.url, sizeof(c.url), "%s/v2/%s/blobs/uploads/", r->base, repo);
	registry_scope(repo, "pull,push", c.scope, sizeof(c.scope));
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	if (resp.status != 202 || !resp.location) {
		registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err, errsz);
		http_resp_free(&resp);
		return -1;
	}
	char loc[3800];
	absolute(r, resp.location, loc, sizeof(loc));
	http_resp_free(&resp);
	call_init(&c, "PUT", what, repo);
	snprintf(c.url, sizeof(c.url), "%s%cdigest=sha256%%3A%s", loc, strchr(loc, '?') ? '&' : '?',
		 digest_hex);
	registry_scope(repo, "pull,push", c.scope, sizeof(c.scope));
	c.content_type = "application/octet-stream";
	c.fd = data ? -1 : fd;
	c.body = data;
	c.body_len = data ? size : 0;
	c.size = size;
	c.progress = progress;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	if (resp.status != 201)
		rc = registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err,
					   errsz);
	http_resp_free(&resp);
	return rc;
}

int registry_put_manifest(struct registry *r, const char *repo, const char *ref,
			  const char *media_type, const char *body, size_t len, char *err,
			  size_t errsz)
{
	char what[200];
	snprintf(what, sizeof(what), "manifest %.100s", ref);
	struct call c;
	call_init(&c, "PUT", what, repo);
	path_url(r, &c, repo, "manifests", ref, "pull,push");
	c.content_type = media_type;
	c.body = body;
	c.body_len = len;
	c.size = len;
	struct http_resp resp;
	if (call(r, &c, &resp, err, errsz) < 0)
		return -1;
	int rc = 0;
	if (resp.status != 201)
		rc = registry_status_error(r, repo, what, resp.status, resp.body, resp.len, err,
					   errsz);
	http_resp_free(&resp);
	return rc;
}
