/* Image source spellings and platforms: see imageref.h. */
#include "imageref.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

__attribute__((format(printf, 3, 4)))
static int ref_fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (d == NULL)
		abort();
	return d;
}

static const struct {
	const char *prefix;
	enum image_transport t;
} transports[] = {
	{ "oci:", IMAGE_T_OCI },
	{ "oci-archive:", IMAGE_T_OCI_ARCHIVE },
	{ "docker-archive:", IMAGE_T_DOCKER_ARCHIVE },
};

const char *image_transport_name(enum image_transport t)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		if (transports[i].t == t)
			return transports[i].prefix;
	}
	return "";
}

/* "...@sha256:HEX" (also "...:@sha256:HEX"): the digest and where the
 * path ends; false when the spelling has no digest. */
static bool split_digest(const char *s, char hex[65], size_t *pathlen)
{
	const char *at = strstr(s, "@sha256:");
	const char *next;
	while (at && (next = strstr(at + 1, "@sha256:")) != NULL)
		at = next;
	if (at == NULL || !digest_parse(at + 1, hex))
		return false;
	size_t n = (size_t)(at - s);
	if (n > 0 && s[n - 1] == ':')
		n--;
	*pathlen = n;
	return true;
}

/* "@N" for docker-archive: the image's index. */
static bool parse_index(const char *which, long *index)
{
	if (which[0] != '@' || !isdigit((unsigned char)which[1]))
		return false;
	char *end;
	long v = strtol(which + 1, &end, 10);
	if (*end != '\0' || v < 0)
		return false;
	*index = v;
	return true;
}

/* After "TRANSPORT:": PATH ends at the first ':' (as in skopeo), unless
 * only the whole rest exists. */
static void split_transport(struct image_ref *ref, const char *rest,
			    bool (*exists)(const char *, void *), void *ctx)
{
	const char *colon = strchr(rest, ':');
	if (colon == NULL) {
		ref->path = dup_n(rest, strlen(rest));
		return;
	}
	char *path = dup_n(rest, (size_t)(colon - rest));
	if (!exists(path, ctx) && exists(rest, ctx)) {
		free(path);
		ref->path = dup_n(rest, strlen(rest));
		return;
	}
	ref->path = path;
	if (colon[1] != '\0')
		ref->which = dup_n(colon + 1, strlen(colon + 1));
}

/* A bare spelling: the whole of it, else the first ':' that leaves an
 * existing path. */
static void split_bare(struct image_ref *ref, const char *s,
		       bool (*exists)(const char *, void *), void *ctx)
{
	if (!exists(s, ctx)) {
		for (const char *c = strchr(s, ':'); c; c = strchr(c + 1, ':')) {
			char *path = dup_n(s, (size_t)(c - s));
			if (path[0] && exists(path, ctx)) {
				ref->path = path;
				if (c[1] != '\0')
					ref->which = dup_n(c + 1, strlen(c + 1));
				return;
			}
			free(path);
		}
	}
	ref->path = dup_n(s, strlen(s));
}

int image_ref_parse(const char *spelling, bool (*exists)(const char *path, void *ctx),
		    void *ctx, struct image_ref *ref, char *err, size_t errsz)
{
	memset(ref, 0, sizeof(*ref));
	ref->index = -1;
	if (spelling == NULL || spelling[0] == '\0')
		return ref_fail(err, errsz, "an empty image source");
	const char *rest = spelling;
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		size_t n = strlen(transports[i].prefix);
		if (strncmp(spelling, transports[i].prefix, n) == 0 && !exists(spelling, ctx)) {
			ref->transport = transports[i].t;
			rest = spelling + n;
			break;
		}
	}
	size_t pathlen;
	if (ref->transport != IMAGE_T_DOCKER_ARCHIVE && !exists(rest, ctx) &&
	    split_digest(rest, ref->digest, &pathlen))
		ref->path = dup_n(rest, pathlen);
	else if (ref->transport == IMAGE_T_AUTO)
		split_bare(ref, rest, exists, ctx);
	else
		split_transport(ref, rest, exists, ctx);
	if (ref->path[0] == '\0') {
		image_ref_free(ref);
		return ref_fail(err, errsz, "%s: no path before the image's name, tag or digest",
				spelling);
	}
	if (ref->which && ref->transport == IMAGE_T_DOCKER_ARCHIVE &&
	    parse_index(ref->which, &ref->index)) {
		free(ref->which);
		ref->which = NULL;
	}
	return 0;
}

void image_ref_free(struct image_ref *ref)
{
	free(ref->path);
	free(ref->which);
	ref->path = ref->which = NULL;
}

/* ---- platforms ---- */

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__i386__)
	return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown";
#endif
}

/* The variant an image for arch is taken to have when it names none. */
static const char *default_variant(const char *arch)
{
	if (strcmp(arch, "arm64") == 0)
		return "v8";
	if (strcmp(arch, "arm") == 0)
		return "v7";
	return "";
}

void image_platform_host(struct image_platform *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->os, sizeof(p->os), "linux");
	snprintf(p->arch, sizeof(p->arch), "%s", host_arch());
}

static bool platform_word(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

int image_platform_parse(const char *text, struct image_platform *p, char *err, size_t errsz)
{
	memset(p, 0, sizeof(*p));
	char *fields[3] = { p->os, p->arch, p->variant };
	const char *s = text ? text : "";
	size_t k = 0;
	for (;;) {
		size_t n = strcspn(s, "/");
		if (k == 3 || !platform_word(s, n) || n >= sizeof(p->os))
			return ref_fail(err, errsz, "--platform '%s': not OS/ARCH[/VARIANT] "
					"(e.g. linux/amd64, linux/arm64/v8)", text ? text : "");
		for (size_t i = 0; i < n; i++)
			fields[k][i] = (char)tolower((unsigned char)s[i]);
		fields[k][n] = '\0';
		k++;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	if (k < 2)
		return ref_fail(err, errsz, "--platform '%s': not OS/ARCH[/VARIANT] "
				"(e.g. linux/amd64, linux/arm64/v8)", text);
	p->given = true;
	return 0;
}

bool image_platform_match(const struct image_platform *want, const char *os,
			  const char *arch, const char *variant)
{
	if (os == NULL || arch == NULL || strcmp(os, want->os) != 0 ||
	    strcmp(arch, want->arch) != 0)
		return false;
	if (want->variant[0] == '\0')
		return true;
	const char *have = variant && variant[0] ? variant : default_variant(arch);
	const char *wanted = want->variant;
	return strcmp(have, wanted) == 0;
}

void image_platform_format(const char *os, const char *arch, const char *variant, char *buf,
			   size_t size)
{
	snprintf(buf, size, "%s/%s%s%s", os ? os : "?", arch ? arch : "?",
		 variant && variant[0] ? "/" : "", variant && variant[0] ? variant : "");
}
