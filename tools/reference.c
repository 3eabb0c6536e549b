/* Image references: see reference.h. The grammar is docker's
 * (distribution/reference), written out as small scanners. */
#include "reference.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TRANSPORT "docker://"
#define DIGEST_ALGO "sha256:"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* A path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*; fold accepts
 * uppercase letters too (to tell "must be lowercase" from other faults). */
static bool valid_component(const char *s, size_t n, bool fold)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		while (i < n && (fold ? is_alnum(s[i]) : is_lower_alnum(s[i])))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		size_t sep = i;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		}
		if (i == sep)
			return false;
	}
}

/* "comp" or "comp-with-dashes" (letters, digits; '-' not at either end). */
static bool valid_domain_label(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

/* label ("." label)* [":" port] */
static bool valid_domain(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t hostlen = colon ? (size_t)(colon - s) : strlen(s);
	if (colon) {
		const char *port = colon + 1;
		if (*port == '\0' || strspn(port, "0123456789") != strlen(port))
			return false;
	}
	size_t i = 0;
	while (i <= hostlen) {
		const char *dot = memchr(s + i, '.', hostlen - i);
		size_t end = dot ? (size_t)(dot - s) : hostlen;
		if (!valid_domain_label(s + i, end - i))
			return false;
		i = end + 1;
	}
	return true;
}

static bool valid_tag(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > REFERENCE_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	}
	return true;
}

static int parse_digest(const char *d, struct reference *r, char *err, size_t errsz)
{
	const char *colon = strchr(d, ':');
	if (colon == NULL || colon == d)
		return fail(err, errsz, "invalid digest '%.80s': expected sha256:<64 hex digits>", d);
	if ((size_t)(colon - d) != strlen(DIGEST_ALGO) - 1 || strncmp(d, DIGEST_ALGO, 7) != 0)
		return fail(err, errsz, "unsupported digest algorithm '%.*s' (only sha256)",
			    (int)(colon - d) > 40 ? 40 : (int)(colon - d), d);
	const char *hex = colon + 1;
	if (strlen(hex) != 64 || !is_hex(hex, 64))
		return fail(err, errsz, "invalid digest '%.80s': expected sha256:<64 lowercase "
			    "hex digits>", d);
	snprintf(r->digest, sizeof(r->digest), "%s", d);
	return 0;
}

/* Whether the first component of a name is a registry's domain. */
static bool is_domain(const char *first, size_t n)
{
	if (memchr(first, '.', n) || memchr(first, ':', n))
		return true;
	if (n == 9 && strncmp(first, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (first[i] >= 'A' && first[i] <= 'Z')
			return true;
	}
	return false;
}

static int parse_path(const char *path, struct reference *r, char *err, size_t errsz)
{
	size_t i = 0, n = strlen(path);
	bool upper = false;
	while (i <= n) {
		const char *slash = strchr(path + i, '/');
		size_t end = slash ? (size_t)(slash - path) : n;
		if (!valid_component(path + i, end - i, false)) {
			if (!valid_component(path + i, end - i, true))
				return fail(err, errsz, "invalid reference format: bad repository "
					    "name component '%.*s'", (int)(end - i) > 80 ? 80
					    : (int)(end - i), path + i);
			upper = true;
		}
		i = end + 1;
	}
	if (upper)
		return fail(err, errsz, "invalid reference format: repository name must be "
			    "lowercase");
	snprintf(r->path, sizeof(r->path), "%s", path);
	return 0;
}

/* name := [domain "/"] path, with docker's defaults filled in. */
static int parse_name(const char *name, struct reference *r, char *err, size_t errsz)
{
	if (name[0] == '\0')
		return fail(err, errsz, "invalid reference format: empty name");
	if (strlen(name) == 64 && is_hex(name, 64))
		return fail(err, errsz, "cannot use a 64-digit hexadecimal string as a name "
			    "(it is an image id)");
	const char *slash = strchr(name, '/');
	const char *path = name;
	if (slash && is_domain(name, (size_t)(slash - name))) {
		size_t dn = (size_t)(slash - name);
		if (dn >= sizeof(r->domain))
			return fail(err, errsz, "repository name must not be more than %d "
				    "characters", REFERENCE_NAME_MAX);
		memcpy(r->domain, name, dn);
		r->domain[dn] = '\0';
		if (!valid_domain(r->domain))
			return fail(err, errsz, "invalid reference format: bad registry "
				    "domain '%.80s'", r->domain);
		path = slash + 1;
		if (strcmp(r->domain, "index.docker.io") == 0)
			strcpy(r->domain, REFERENCE_DOCKER_HUB);
	} else {
		strcpy(r->domain, REFERENCE_DOCKER_HUB);
	}
	char full[2 * REFERENCE_NAME_MAX + 16];
	bool hub = strcmp(r->domain, REFERENCE_DOCKER_HUB) == 0;
	if (strlen(path) > REFERENCE_NAME_MAX)
		return fail(err, errsz, "repository name must not be more than %d characters",
			    REFERENCE_NAME_MAX);
	snprintf(full, sizeof(full), "%s%s", hub && !strchr(path, '/') ? "library/" : "", path);
	if (strlen(r->domain) + 1 + strlen(full) > REFERENCE_NAME_MAX)
		return fail(err, errsz, "repository name must not be more than %d characters",
			    REFERENCE_NAME_MAX);
	return parse_path(full, r, err, errsz);
}

int reference_parse(const char *s, struct reference *r, char *err, size_t errsz)
{
	memset(r, 0, sizeof(*r));
	if (s == NULL)
		return fail(err, errsz, "invalid reference format: empty");
	if (strncmp(s, TRANSPORT, strlen(TRANSPORT)) == 0)
		s += strlen(TRANSPORT);
	size_t len = strlen(s);
	if (len == 0)
		return fail(err, errsz, "invalid reference format: empty");
	if (len > 2 * REFERENCE_NAME_MAX + REFERENCE_TAG_MAX + 80)
		return fail(err, errsz, "invalid reference format: too long (%zu bytes)", len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f)
			return fail(err, errsz, "invalid reference format: a space, control "
				    "or non-ASCII character");
	}
	char buf[2 * REFERENCE_NAME_MAX + REFERENCE_TAG_MAX + 96];
	snprintf(buf, sizeof(buf), "%s", s);
	char *at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (parse_digest(at + 1, r, err, errsz) < 0)
			return -1;
	}
	char *lastslash = strrchr(buf, '/');
	char *colon = strrchr(lastslash ? lastslash : buf, ':');
	if (colon) {
		*colon = '\0';
		if (!valid_tag(colon + 1))
			return fail(err, errsz, "invalid tag '%.40s%s': 1 to %d of [A-Za-z0-9_.-], "
				    "not starting with '.' or '-'", colon + 1,
				    strlen(colon + 1) > 40 ? "..." : "", REFERENCE_TAG_MAX);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	}
	return parse_name(buf, r, err, errsz);
}

void reference_default_tag(struct reference *r)
{
	if (r->tag[0] == '\0' && r->digest[0] == '\0')
		strcpy(r->tag, "latest");
}

/* snprintf's result: 0 when it fit. */
static int put(size_t size, int n)
{
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int reference_name(const struct reference *r, char *buf, size_t size)
{
	return put(size, snprintf(buf, size, "%s/%s", r->domain, r->path));
}

static int with_suffix(const struct reference *r, const char *name, char *buf, size_t size)
{
	return put(size, snprintf(buf, size, "%s%s%s%s%s", name, r->tag[0] ? ":" : "",
				       r->tag, r->digest[0] ? "@" : "", r->digest));
}

int reference_string(const struct reference *r, char *buf, size_t size)
{
	char name[2 * REFERENCE_NAME_MAX + 2];
	if (reference_name(r, name, sizeof(name)) < 0)
		return -1;
	return with_suffix(r, name, buf, size);
}

int reference_familiar_name(const struct reference *r, char *buf, size_t size)
{
	if (strcmp(r->domain, REFERENCE_DOCKER_HUB) != 0)
		return reference_name(r, buf, size);
	const char *p = r->path;
	const char *slash = strchr(p, '/');
	/* a path whose first component reads as a domain keeps docker.io/ */
	if (slash && is_domain(p, (size_t)(slash - p)))
		return reference_name(r, buf, size);
	if (strncmp(p, "library/", 8) == 0 && !strchr(p + 8, '/') &&
	    !(strlen(p + 8) == 64 && is_hex(p + 8, 64)))  /* that would read as an id */
		p += 8;
	return put(size, snprintf(buf, size, "%s", p));
}

int reference_familiar(const struct reference *r, char *buf, size_t size)
{
	char name[2 * REFERENCE_NAME_MAX + 2];
	if (reference_familiar_name(r, name, sizeof(name)) < 0)
		return -1;
	return with_suffix(r, name, buf, size);
}

int reference_normalize(const char *s, char *buf, size_t size, char *err, size_t errsz)
{
	struct reference r;
	if (reference_parse(s, &r, err, errsz) < 0)
		return -1;
	reference_default_tag(&r);
	if (reference_string(&r, buf, size) < 0)
		return fail(err, errsz, "reference too long");
	return 0;
}

const char *reference_api_host(const struct reference *r)
{
	return strcmp(r->domain, REFERENCE_DOCKER_HUB) == 0 ? "registry-1.docker.io" : r->domain;
}
