/* Image references in docker's spelling, and their normal form. Pure.
 *
 *   reference := ["docker://"] name [":" tag] ["@" digest]
 *   name      := [domain "/"] component ("/" component)*
 *   domain    := the first component when it holds '.' or ':', is
 *                "localhost", or has an uppercase letter (docker's rule);
 *                otherwise the domain is docker.io
 *   component := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex digits
 *
 * Normal form, as docker keeps names: "busybox" is
 * "docker.io/library/busybox:latest", "fixtures/small" is
 * "docker.io/fixtures/small:latest", "reg:5000/a/b:1" stays as it is.
 * The familiar form is what docker shows: the normal form without
 * "docker.io/" and "library/". */
#ifndef LAYERCTL_REFERENCE_H
#define LAYERCTL_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#define REFERENCE_NAME_MAX 255  /* domain + "/" + path, as docker limits it */
#define REFERENCE_TAG_MAX 128
#define REFERENCE_DOCKER_HUB "docker.io"

struct reference {
	char domain[REFERENCE_NAME_MAX + 1];  /* "docker.io", "reg:5000", ... */
	char path[REFERENCE_NAME_MAX + 1];    /* "library/busybox", "a/b" */
	char tag[REFERENCE_TAG_MAX + 1];      /* "" when none */
	char digest[7 + 64 + 1];              /* "sha256:<hex>", "" when none */
};

/* Parses s, with or without "docker://", and normalises the domain
 * ("index.docker.io" is docker.io; docker.io names with one component get
 * "library/"). No tag is added: see reference_default_tag. 0, or -1 with a
 * one-line reason in err ("repository name must be lowercase", ...). */
int reference_parse(const char *s, struct reference *r, char *err, size_t errsz);
/* Adds ":latest" when the reference has neither tag nor digest. */
void reference_default_tag(struct reference *r);
/* "domain/path" (the repository). -1 when buf is too small. */
int reference_name(const struct reference *r, char *buf, size_t size);
/* The normal form: "domain/path[:tag][@digest]". */
int reference_string(const struct reference *r, char *buf, size_t size);
/* The familiar form docker shows: "busybox:latest", "fixtures/small:latest",
 * "reg:5000/a/b:1". */
int reference_familiar(const struct reference *r, char *buf, size_t size);
/* The familiar repository alone: "busybox", "fixtures/small". */
int reference_familiar_name(const struct reference *r, char *buf, size_t size);

/* One call: s in normal form with ":latest" implied (what the store keeps
 * as a name). 0, or -1 with the reason in err. */
int reference_normalize(const char *s, char *buf, size_t size, char *err, size_t errsz);

/* The host the registry API of a domain lives on: docker.io's is
 * "registry-1.docker.io", every other domain is its own. */
const char *reference_api_host(const struct reference *r);

#endif
