/* Where registry credentials live, as podman, skopeo and docker keep them
 * (containers-auth.json(5)): the auth file is --authfile, else
 * $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json, else
 * /run/containers/<uid>/auth.json; `login` writes there. Credentials are
 * read from it, then from ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json
 * and ~/.docker/config.json: the first file with an entry wins. */
#ifndef LAYERCTL_AUTHFILE_H
#define LAYERCTL_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>

/* The auth file login and logout change (authfile: --authfile or NULL). */
int authfile_primary(const char *authfile, char *buf, size_t size);
/* Credentials for host/repo: 1 with *user, *password (malloc'd), 0 when no
 * file has any, -1 with err for an unreadable or malformed file. */
int authfile_lookup(const char *authfile, const char *host, const char *repo, char **user,
		    char **password, char *err, size_t errsz);
/* Sets host's credentials in the auth file (password NULL: removes them;
 * *had tells whether there were any). The file is replaced atomically,
 * mode 0600, its directory made 0700. 0, or -1 with err. */
int authfile_update(const char *authfile, const char *host, const char *user,
		    const char *password, bool *had, char *err, size_t errsz);

/* Removes every registry's credentials from the auth file (logout --all). */
int authfile_clear(const char *authfile, char *err, size_t errsz);

#endif
