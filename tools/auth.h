/* Registry authentication, the pure parts: base64, the WWW-Authenticate
 * challenge of a registry (Basic, or Bearer with realm/service/scope), and
 * credentials in the auth.json format podman, skopeo and docker share:
 *   {"auths": {"HOST[:PORT]": {"auth": "base64(user:password)"}, ...}}
 * Keys may also be spelled "https://HOST/v1/" (docker) or "HOST/NAMESPACE"
 * (credentials for part of a registry: the longest match wins). */
#ifndef LAYERCTL_AUTH_H
#define LAYERCTL_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* NUL-terminated base64 of data (malloc'd). */
char *auth_base64_encode(const void *data, size_t len);
/* Decodes s (padding optional, no whitespace) into a malloc'd buffer with a
 * NUL after the len bytes. 0, or -1 when s is not base64. */
int auth_base64_decode(const char *s, char **out, size_t *len);

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct auth_challenge {
	enum auth_scheme scheme;
	char *realm, *service, *scope;  /* NULL when not given */
};

/* Parses a WWW-Authenticate value; a Bearer challenge wins over a Basic one
 * when the header offers both. 0, or -1 when it is neither. */
int auth_challenge_parse(const char *header, struct auth_challenge *c);
void auth_challenge_free(struct auth_challenge *c);

/* The registry a credentials key names: "https://index.docker.io/v1/" ->
 * "docker.io", "reg:5000/team" -> "reg:5000/team". */
void auth_key_normalize(const char *key, char *buf, size_t size);

/* Credentials for host (as in a reference: "docker.io", "reg:5000") and
 * repository path ("team/app", may be NULL) in an auth.json document.
 * 1 with *user and *password (malloc'd), 0 when there are none, -1 when
 * the matching entry is malformed (err says which). */
int auth_json_lookup(json_t *doc, const char *host, const char *repo, char **user,
		     char **password, char *err, size_t errsz);
/* Sets (replacing any other spelling of the same key) or removes host's
 * entry. auth_json_remove: true when there was one. */
void auth_json_set(json_t *doc, const char *host, const char *user, const char *password);
bool auth_json_remove(json_t *doc, const char *host);

#endif
