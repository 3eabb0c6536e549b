/* Registry authentication, pure parts: see auth.h. */
#include "auth.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *auth_base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	if (out == NULL)
		abort();
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *at = c ? strchr(b64, c) : NULL;
	return at ? (int)(at - b64) : -1;
}

int auth_base64_decode(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1 || strlen(s) - n > 2)
		return -1;
	char *buf = malloc(n / 4 * 3 + 3), *o = buf;
	if (buf == NULL)
		abort();
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)((acc >> bits) & 0xff);
		}
	}
	*o = '\0';
	*out = buf;
	*len = (size_t)(o - buf);
	return 0;
}

/* ---- WWW-Authenticate ---- */

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

static bool token_char(char c)
{
	return c && !isspace((unsigned char)c) && c != '=' && c != ',' && c != '"';
}

/* Reads a token or a quoted string at *p into a malloc'd string. */
static char *read_value(const char **p)
{
	const char *s = *p;
	size_t cap = strlen(s) + 1, n = 0;
	char *out = malloc(cap);
	if (out == NULL)
		abort();
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			out[n++] = *s;
		}
		if (*s == '"')
			s++;
	} else {
		while (token_char(*s) || *s == '=')
			out[n++] = *s++;
	}
	out[n] = '\0';
	*p = s;
	return out;
}

/* One challenge at *p: "Scheme k=v, k="v"". Stops before the next scheme. */
static void read_challenge(const char **pp, struct auth_challenge *c)
{
	const char *p = skip_space(*pp);
	size_t n = 0;
	while (token_char(p[n]))
		n++;
	if (n == 6 && strncasecmp(p, "bearer", 6) == 0)
		c->scheme = AUTH_BEARER;
	else if (n == 5 && strncasecmp(p, "basic", 5) == 0)
		c->scheme = AUTH_BASIC;
	p += n;
	for (;;) {
		p = skip_space(p);
		size_t k = 0;
		while (token_char(p[k]))
			k++;
		const char *q = p + k;
		while (*q == ' ' || *q == '\t')
			q++;
		if (k == 0 || *q != '=')
			break;  /* the end, or the next challenge's scheme */
		q++;
		while (*q == ' ' || *q == '\t')
			q++;
		char *v = read_value(&q);
		char **slot = NULL;
		if (k == 5 && strncasecmp(p, "realm", 5) == 0)
			slot = &c->realm;
		else if (k == 7 && strncasecmp(p, "service", 7) == 0)
			slot = &c->service;
		else if (k == 5 && strncasecmp(p, "scope", 5) == 0)
			slot = &c->scope;
		if (slot) {
			free(*slot);
			*slot = v;
		} else {
			free(v);
		}
		p = q;
	}
	*pp = p;
}

int auth_challenge_parse(const char *header, struct auth_challenge *c)
{
	memset(c, 0, sizeof(*c));
	const char *p = header ? header : "";
	while (*skip_space(p)) {
		struct auth_challenge one = { 0 };
		const char *before = p;
		read_challenge(&p, &one);
		if (one.scheme > c->scheme) {
			auth_challenge_free(c);
			*c = one;
		} else {
			auth_challenge_free(&one);
		}
		if (p == before)
			break;
	}
	return c->scheme == AUTH_NONE ? -1 : 0;
}

void auth_challenge_free(struct auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* ---- auth.json ---- */

void auth_key_normalize(const char *key, char *buf, size_t size)
{
	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	snprintf(buf, size, "%s", key);
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (n >= 3 && (strcmp(buf + n - 3, "/v1") == 0 || strcmp(buf + n - 3, "/v2") == 0))
		buf[n - 3] = '\0';
	static const char *const hub[] = { "index.docker.io", "registry-1.docker.io" };
	for (size_t i = 0; i < 2; i++) {
		size_t h = strlen(hub[i]);
		if (strncmp(buf, hub[i], h) == 0 && (buf[h] == '\0' || buf[h] == '/')) {
			char rest[512];
			snprintf(rest, sizeof(rest), "%s", buf + h);
			snprintf(buf, size, "docker.io%s", rest);
		}
	}
}

/* How well key names host/repo: its length when it does, else 0. */
static size_t key_match(const char *key, const char *host, const char *repo)
{
	size_t h = strlen(host);
	if (strncmp(key, host, h) != 0)
		return 0;
	if (key[h] == '\0')
		return h;
	if (key[h] != '/' || repo == NULL)
		return 0;
	const char *ns = key + h + 1;
	size_t n = strlen(ns);
	if (strncmp(repo, ns, n) == 0 && (repo[n] == '\0' || repo[n] == '/'))
		return h + 1 + n;
	return 0;
}

static int entry_credentials(json_t *entry, const char *key, char **user, char **password,
			     char *err, size_t errsz)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	if (auth == NULL || auth[0] == '\0')
		return 0;  /* docker leaves {} behind when a helper keeps the secret */
	char *plain;
	size_t len;
	char *colon = NULL;
	if (auth_base64_decode(auth, &plain, &len) == 0)
		colon = strchr(plain, ':');
	else
		plain = NULL;
	if (colon == NULL || strlen(plain) != len) {
		free(plain);
		snprintf(err, errsz, "auths.%.200s.auth: not base64 of USER:PASSWORD", key);
		return -1;
	}
	*colon = '\0';
	*user = strdup(plain);
	*password = strdup(colon + 1);
	free(plain);
	if (*user == NULL || *password == NULL)
		abort();
	return 1;
}

int auth_json_lookup(json_t *doc, const char *host, const char *repo, char **user,
		     char **password, char *err, size_t errsz)
{
	json_t *auths = json_object_get(doc, "auths");
	const char *key, *best_key = NULL;
	json_t *entry, *best = NULL;
	size_t best_len = 0;
	json_object_foreach(auths, key, entry) {
		char norm[512];
		auth_key_normalize(key, norm, sizeof(norm));
		size_t m = key_match(norm, host, repo);
		if (m > best_len) {
			best_len = m;
			best = entry;
			best_key = key;
		}
	}
	if (best == NULL)
		return 0;
	return entry_credentials(best, best_key, user, password, err, errsz);
}

bool auth_json_remove(json_t *doc, const char *host)
{
	json_t *auths = json_object_get(doc, "auths");
	bool removed = false;
	const char *key;
	json_t *entry;
	void *tmp;
	json_object_foreach_safe(auths, tmp, key, entry) {
		char norm[512];
		auth_key_normalize(key, norm, sizeof(norm));
		if (strcmp(norm, host) == 0) {
			json_object_del(auths, key);
			removed = true;
		}
	}
	return removed;
}

void auth_json_set(json_t *doc, const char *host, const char *user, const char *password)
{
	auth_json_remove(doc, host);
	json_t *auths = json_object_get(doc, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(doc, "auths", auths);
	}
	size_t n = strlen(user) + 1 + strlen(password);
	char *plain = malloc(n + 1);
	if (plain == NULL)
		abort();
	snprintf(plain, n + 1, "%s:%s", user, password);
	char *enc = auth_base64_encode(plain, n);
	memset(plain, 0, n);
	free(plain);
	json_object_set_new(auths, host, json_pack("{s:s}", "auth", enc));
	free(enc);
}
