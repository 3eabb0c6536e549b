/* Reading an OCI image layout (directory or tar): index.json and the
 * indexes nested in it down to the image manifests, choosing one by tag
 * (org.opencontainers.image.ref.name), by digest or by platform; then its
 * config and layers.
 *
 * The choice: every image manifest reachable from index.json is a
 * candidate, tagged with the top-level descriptor it was reached from. A
 * digest keeps what lies at or below the descriptors of that digest; a tag
 * keeps what lies below the top-level descriptors of that name; with
 * neither, the candidates must all come from one tag (or none). Of what is
 * left, one candidate is taken as it is; several are chosen between by
 * platform (--platform, else the host's). Errors list what is there, one
 * line each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "imagesrc.h"

#define INDEX_DEPTH 4
#define REF_NAME "org.opencontainers.image.ref.name"

struct cand {
	json_t *desc;     /* the manifest's descriptor (a reference held) */
	json_t *top;      /* the top-level descriptor it was reached from */
	char *where;      /* "FILE: manifests[i]" */
};

struct cands {
	struct cand *v;
	size_t n, cap;
	bool by_digest_found;
};

static void cands_free(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++) {
		json_decref(c->v[i].desc);
		json_decref(c->v[i].top);
		free(c->v[i].where);
	}
	free(c->v);
}

static void cand_add(struct cands *c, json_t *desc, json_t *top, const char *file, size_t i)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (c->v == NULL)
			abort();
	}
	c->v[c->n++] = (struct cand){ json_incref(desc), json_incref(top),
				      image_xasprintf("%s: manifests[%zu]", file, i) };
}

static const char *ref_name(json_t *desc)
{
	return json_string_value(json_object_get(json_object_get(desc, "annotations"), REF_NAME));
}

/* A tag asked for matches a ref.name: the same, or its tag part
 * ("example.com/app:2" for "2"). */
static bool tag_matches(const char *ref, const char *tag)
{
	if (ref == NULL)
		return false;
	if (strcmp(ref, tag) == 0)
		return true;
	const char *colon = strrchr(ref, ':');
	return colon && !strchr(colon, '/') && strcmp(colon + 1, tag) == 0;
}

static bool digest_is(json_t *desc, const char *hex)
{
	char got[65];
	return hex[0] && digest_parse(json_string_value(json_object_get(desc, "digest")), got) &&
	       strcmp(got, hex) == 0;
}

/* One manifest reached twice (by two tags, or at the top and in an index). */
static bool have_digest(const struct cands *c, json_t *desc)
{
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	for (size_t i = 0; dg && i < c->n; i++) {
		const char *other = json_string_value(json_object_get(c->v[i].desc, "digest"));
		if (other && strcmp(other, dg) == 0)
			return true;
	}
	return false;
}

/* Collects the manifests below index (read from file). top: the top-level
 * descriptor above, NULL at the top; keep: whether what is found counts
 * (the digest asked for is at or above it). */
static int walk(struct src *s, json_t *index, const char *file, json_t *top, bool keep,
		int depth, struct cands *c)
{
	json_t *m = json_object_get(index, "manifests");
	if (!json_is_array(m))
		return SFAIL(s, "%s: %s: manifests: missing or not an array", s->path, file);
	const struct image_ref *ref = s->ref;
	size_t i;
	json_t *d;
	json_array_foreach(m, i, d) {
		json_t *t = top ? top : d;
		if (!top && ref->which && !tag_matches(ref_name(d), ref->which))
			continue;
		bool k = keep || digest_is(d, ref->digest);
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		if (image_in_list(image_index_types, mt)) {
			if (depth >= INDEX_DEPTH)
				return SFAIL(s, "%s: %s: indexes nested too deeply", s->path, file);
			char field[160], hex[65], *name = NULL;
			snprintf(field, sizeof(field), "%s: manifests[%zu]", file, i);
			json_t *sub = src_load_blob_json(s, d, field, hex, &name);
			int rc = sub ? walk(s, sub, name, t, k, depth + 1, c) : -1;
			json_decref(sub);
			free(name);
			if (rc < 0)
				return -1;
		} else if (mt == NULL || image_in_list(image_manifest_types, mt)) {
			if ((k || !ref->digest[0]) && !(ref->digest[0] && have_digest(c, d)))
				cand_add(c, d, t, file, i);
		}
		/* other media types (signatures, attestations, ...) are not images */
	}
	return 0;
}

static void platform_of(json_t *desc, char *buf, size_t size)
{
	json_t *p = json_object_get(desc, "platform");
	if (!json_is_object(p)) {
		snprintf(buf, size, "(no platform)");
		return;
	}
	image_platform_format(json_string_value(json_object_get(p, "os")),
			      json_string_value(json_object_get(p, "architecture")),
			      json_string_value(json_object_get(p, "variant")), buf, size);
}

/* The candidates, one line each: "  TAG  PLATFORM  sha256:..." */
static char *list_cands(const struct cands *c, bool tags_only)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		abort();
	for (size_t i = 0; i < c->n; i++) {
		const char *tag = ref_name(c->v[i].top);
		bool seen = false;
		for (size_t k = 0; tags_only && k < i; k++) {
			const char *other = ref_name(c->v[k].top);
			seen |= (tag && other && strcmp(tag, other) == 0) || (!tag && !other);
		}
		if (seen)
			continue;
		char plat[100];
		platform_of(c->v[i].desc, plat, sizeof(plat));
		const char *dg = json_string_value(json_object_get(c->v[i].desc, "digest"));
		if (tags_only)
			fprintf(f, "\n  %s", tag ? tag : "(no tag)");
		else
			fprintf(f, "\n  %s  %s  %s", plat, tag ? tag : "(no tag)", dg ? dg : "");
	}
	fclose(f);
	return out;
}

static bool one_tag(const struct cands *c)
{
	const char *first = ref_name(c->v[0].top);
	for (size_t i = 1; i < c->n; i++) {
		const char *t = ref_name(c->v[i].top);
		if ((t == NULL) != (first == NULL) || (t && strcmp(t, first) != 0))
			return false;
	}
	return true;
}

static bool cand_matches(const struct cand *c, const struct image_platform *want)
{
	json_t *p = json_object_get(c->desc, "platform");
	return image_platform_match(want, json_string_value(json_object_get(p, "os")),
				    json_string_value(json_object_get(p, "architecture")),
				    json_string_value(json_object_get(p, "variant")));
}

/* One of several candidates, by platform. */
static const struct cand *by_platform(struct src *s, const struct cands *c)
{
	const struct image_platform *want = s->platform;
	char wanted[100];
	image_platform_format(want->os, want->arch, want->variant, wanted, sizeof(wanted));
	for (size_t i = 0; i < c->n; i++) {
		if (cand_matches(&c->v[i], want))
			return &c->v[i];
	}
	char *list = list_cands(c, false);
	SFAIL(s, "%s: index.json: manifests: %zu images, none for %s; choose one with "
	      "--platform OS/ARCH[/VARIANT]:%s", s->path, c->n, wanted, list);
	free(list);
	return NULL;
}

static const struct cand *choose(struct src *s, const struct cands *c)
{
	const struct image_ref *ref = s->ref;
	if (c->n == 0)
		return NULL;   /* the caller explains */
	if (!ref->which && !ref->digest[0] && !one_tag(c)) {
		char *list = list_cands(c, true);
		SFAIL(s, "%s: index.json holds several images; choose one with %s%s:TAG:%s",
		      s->path, image_transport_name(ref->transport), s->path, list);
		free(list);
		return NULL;
	}
	/* A lone manifest without a platform in its descriptor is taken; its
	 * config is checked against --platform later. */
	if (c->n == 1 && (!s->platform->given ||
			  !json_is_object(json_object_get(c->v[0].desc, "platform"))))
		return &c->v[0];
	return by_platform(s, c);
}

/* Names for the image: the descriptor's full reference, else its tag with
 * the layout's own name as the repository. */
static void oci_names(struct src *s, struct image_src *img, json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	const char *ref = ref_name(desc);
	if (full) {
		image_add_name(img, full);
	} else if (ref && (strchr(ref, ':') || strchr(ref, '/'))) {
		image_add_name(img, ref);
	} else if (ref) {
		char *path = image_xstrdup(s->path);
		for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
			path[n - 1] = '\0';
		const char *base = strrchr(path, '/');
		char *repo = image_xstrdup(base ? base + 1 : path);
		char *dot = strchr(repo, '.');
		if (dot && dot != repo)
			*dot = '\0';
		char *name = image_xasprintf("%s:%s", repo, ref);
		image_add_name(img, name);
		free(name);
		free(repo);
		free(path);
	}
}

static int oci_layer(struct src *s, struct image_src *img, json_t *desc, const char *man,
		     size_t i)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	char hex[65], name[96];
	if (!image_in_list(image_layer_types, mt))
		return SFAIL(s, "%s: %s: layers[%zu].mediaType: '%s' is not a layer type",
			     s->path, man, i, mt ? mt : "(missing)");
	if (!digest_parse(json_string_value(json_object_get(desc, "digest")), hex))
		return SFAIL(s, "%s: %s: layers[%zu].digest: missing or not a sha256 digest",
			     s->path, man, i);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	if (!src_has(s, name, NULL))
		return SFAIL(s, "%s: %s: layers[%zu].digest: blob %s is missing", s->path, man,
			     i, name);
	struct image_layer *l = image_add_layer(img);
	image_layer_place(s, l, name);
	memcpy(l->digest, hex, 65);
	l->digest_field = image_xasprintf("%s: %s: layers[%zu].digest", s->path, man, i);
	l->media_type = image_xstrdup(mt);
	return 0;
}

/* With --platform, a manifest whose descriptor names no platform must be
 * for that platform by its config. */
static int check_config_platform(struct src *s, struct image_src *img, const char *name)
{
	const struct image_platform *want = s->platform;
	if (!want->given)
		return 0;
	const char *os = json_string_value(json_object_get(img->config, "os"));
	const char *arch = json_string_value(json_object_get(img->config, "architecture"));
	const char *var = json_string_value(json_object_get(img->config, "variant"));
	if (image_platform_match(want, os, arch, var))
		return 0;
	char have[100], wanted[100];
	image_platform_format(os, arch, var, have, sizeof(have));
	image_platform_format(want->os, want->arch, want->variant, wanted, sizeof(wanted));
	return SFAIL(s, "%s: %s: the image is for %s, not %s (--platform)", s->path, name, have,
		     wanted);
}

/* A manifest: its config and its layers. */
static int oci_manifest(struct src *s, struct image_src *img, json_t *man, const char *name,
			bool check_platform)
{
	const char *mt = json_string_value(json_object_get(man, "mediaType"));
	json_t *cfg = json_object_get(man, "config");
	json_t *layers = json_object_get(man, "layers");
	if (mt && !image_in_list(image_manifest_types, mt))
		return SFAIL(s, "%s: %s: mediaType: '%s' is not an image manifest", s->path,
			     name, mt);
	const char *cmt = json_string_value(json_object_get(cfg, "mediaType"));
	if (!image_in_list(image_config_types, cmt))
		return SFAIL(s, "%s: %s: config.mediaType: '%s' is not an image config", s->path,
			     name, cmt ? cmt : "(missing)");
	if (!json_is_array(layers))
		return SFAIL(s, "%s: %s: layers: missing or not an array", s->path, name);
	char field[160], *cfgname = NULL;
	snprintf(field, sizeof(field), "%s: config", name);
	img->config = src_load_blob_json(s, cfg, field, img->config_digest, &cfgname);
	if (img->config == NULL)
		return -1;
	int rc = check_platform ? check_config_platform(s, img, name) : 0;
	size_t i;
	json_t *d;
	json_array_foreach(layers, i, d) {
		if (rc == 0)
			rc = oci_layer(s, img, d, name, i);
	}
	if (rc == 0)
		rc = image_take_diff_ids(s, img, cfgname);
	free(cfgname);
	return rc;
}

/* No candidate: say why, with what there is. */
static int explain_none(struct src *s, json_t *index)
{
	const struct image_ref *ref = s->ref;
	struct image_ref all = { .transport = ref->transport, .index = -1 };
	struct src every = *s;
	every.ref = &all;
	struct cands c = { 0 };
	int rc = walk(&every, index, "index.json", NULL, false, 0, &c);
	if (rc == 0 && c.n == 0)
		rc = SFAIL(s, "%s: index.json: manifests: missing or empty", s->path);
	else if (rc == 0) {
		char *list = list_cands(&c, ref->which != NULL);
		if (ref->which)
			SFAIL(s, "%s: index.json: no image tagged %s; there are:%s", s->path,
			      ref->which, list);
		else
			SFAIL(s, "%s: index.json: no manifest or index sha256:%s; there are:%s",
			      s->path, ref->digest, list);
		free(list);
	}
	cands_free(&c);
	return -1;
}

int image_read_oci(struct src *s, struct image_src *img)
{
	img->format = IMAGE_OCI;
	json_t *layout = src_load_json(s, "oci-layout");
	if (layout == NULL)
		return -1;
	bool ok = json_is_string(json_object_get(layout, "imageLayoutVersion"));
	json_decref(layout);
	if (!ok)
		return SFAIL(s, "%s: oci-layout: imageLayoutVersion: missing", s->path);
	if (!src_has(s, "index.json", NULL))
		return SFAIL(s, "%s: index.json is missing", s->path);
	json_t *index = src_load_json(s, "index.json");
	if (index == NULL)
		return -1;
	struct cands c = { 0 };
	int rc = walk(s, index, "index.json", NULL, false, 0, &c);
	const struct cand *pick = NULL;
	if (rc == 0 && c.n == 0)
		rc = explain_none(s, index);
	else if (rc == 0 && (pick = choose(s, &c)) == NULL)
		rc = -1;
	if (rc == 0) {
		char hex[65], *name = NULL;
		json_t *man = src_load_blob_json(s, pick->desc, pick->where, hex, &name);
		bool lone = !json_is_object(json_object_get(pick->desc, "platform"));
		rc = man ? oci_manifest(s, img, man, name, lone) : -1;
		json_decref(man);
		free(name);
		if (rc == 0)
			oci_names(s, img, pick->top);
	}
	cands_free(&c);
	json_decref(index);
	return rc;
}
