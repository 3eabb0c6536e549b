/* Image names in the store: docker's reference rules (reference.h) for
 * every name a command takes, and the lookup of an image by id, name or
 * digest. Names are written in normal form; names an older store wrote in
 * another spelling ("busybox:latest") are normalised when read, so they
 * are still found. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "reference.h"
#include "store.h"

int store_normalize_name(const char *ref, char *buf, size_t size)
{
	struct reference r;
	if (ref == NULL || reference_parse(ref, &r, NULL, 0) < 0 || r.digest[0])
		return -EINVAL;
	reference_default_tag(&r);
	return reference_string(&r, buf, size) < 0 ? -ENAMETOOLONG : 0;
}

bool store_name_equal(const char *stored, const char *normal)
{
	char buf[1024];
	if (stored == NULL || normal == NULL)
		return false;
	if (strcmp(stored, normal) == 0)
		return true;
	return store_normalize_name(stored, buf, sizeof(buf)) == 0 && strcmp(buf, normal) == 0;
}

void store_name_familiar(const char *stored, char *buf, size_t size)
{
	struct reference r;
	if (reference_parse(stored, &r, NULL, 0) < 0 || reference_familiar(&r, buf, size) < 0)
		snprintf(buf, size, "%s", stored);
}

bool store_names_remove(json_t *names, const char *normal)
{
	bool removed = false;
	for (size_t i = json_array_size(names); i-- > 0;) {
		if (store_name_equal(json_string_value(json_array_get(names, i)), normal)) {
			json_array_remove(names, i);
			removed = true;
		}
	}
	return removed;
}

struct find_state {
	const char *name;     /* normal form "repo:tag", or NULL */
	const char *repo;     /* with digest: "domain/path", else NULL */
	const char *digest;   /* "sha256:<hex>", or NULL */
	const char *prefix;   /* hex prefix, or NULL */
	char found[65];
	int matches;
	bool exact;           /* found by name or digest */
};

/* Whether an image record names the repository at all (by a name of any
 * tag or by a digest). */
static bool has_repo(json_t *image, const char *repo)
{
	const char *fields[] = { "names", "digests" };
	for (size_t f = 0; f < 2; f++) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(image, fields[f]), i, v) {
			struct reference r;
			char name[600];
			if (json_is_string(v) &&
			    reference_parse(json_string_value(v), &r, NULL, 0) == 0 &&
			    reference_name(&r, name, sizeof(name)) == 0 && strcmp(name, repo) == 0)
				return true;
		}
	}
	return false;
}

static bool digest_matches(const char *id_hex, json_t *image, const struct find_state *f)
{
	char want[700];
	snprintf(want, sizeof(want), "%s@%s", f->repo, f->digest);
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(image, "digests"), i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return strcmp(id_hex, f->digest + DIGEST_PREFIX_LEN) == 0 && has_repo(image, f->repo);
}

static int find_fn(const char *id_hex, json_t *image, void *arg)
{
	struct find_state *f = arg;
	bool hit = false;
	if (f->digest) {
		hit = digest_matches(id_hex, image, f);
	} else if (f->name) {
		size_t i;
		json_t *n;
		json_array_foreach(json_object_get(image, "names"), i, n)
			hit |= store_name_equal(json_string_value(n), f->name);
	}
	if (hit) {
		memcpy(f->found, id_hex, 65);
		f->exact = true;
		return 1;
	}
	if (f->prefix && strncmp(id_hex, f->prefix, strlen(f->prefix)) == 0) {
		if (f->matches++ == 0)
			memcpy(f->found, id_hex, 65);
	}
	return 0;
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return s[n] == '\0' && n >= 12 && n <= 64;
}

int store_image_find(const struct store *s, const char *ref, char id_hex[65])
{
	char hex[65], name[1024], repo[600];
	if (ref == NULL || ref[0] == '\0')
		return -ENOENT;
	if (store_digest_hex(ref, hex)) {
		json_t *img = store_image_load(s, hex);
		if (img) {
			json_decref(img);
			memcpy(id_hex, hex, 65);
			return 0;
		}
	}
	const char *hexpart = strncmp(ref, DIGEST_PREFIX, DIGEST_PREFIX_LEN) == 0
			      ? ref + DIGEST_PREFIX_LEN : ref;
	struct find_state f = { .prefix = is_hex_prefix(hexpart) ? hexpart : NULL };
	struct reference r;
	if (reference_parse(ref, &r, NULL, 0) == 0) {
		if (r.digest[0] && reference_name(&r, repo, sizeof(repo)) == 0) {
			f.repo = repo;
			f.digest = r.digest;
		} else if (!r.digest[0]) {
			reference_default_tag(&r);
			if (reference_string(&r, name, sizeof(name)) == 0)
				f.name = name;
		}
	} else {
		f.name = ref;  /* not a reference: an old store's spelling, exactly */
	}
	store_image_each(s, find_fn, &f);
	if (f.exact || f.matches == 1) {
		memcpy(id_hex, f.found, 65);
		return 0;
	}
	return f.matches > 1 ? -EEXIST : -ENOENT;
}

void store_image_find_reason(const char *ref, int rc, char *buf, size_t size)
{
	struct reference r;
	char why[256];
	if (rc == -EEXIST)
		snprintf(buf, size, "ambiguous id prefix");
	else if (ref && ref[0] && reference_parse(ref, &r, why, sizeof(why)) < 0 &&
		 strspn(ref, "0123456789abcdef") != strlen(ref) &&
		 strncmp(ref, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0)
		snprintf(buf, size, "no such image (%s)", why);
	else
		snprintf(buf, size, "no such image");
}
