/* The OCI runtime bundle's config.json: built once by `create` from an
 * image's config and the create options, then the user's: `run` takes it
 * as it stands (a command or -t given to run go into a copy for that run). */
#ifndef LAYERCTL_BUNDLE_H
#define LAYERCTL_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "createopts.h"
#include "store.h"

/* The runtime config for container NAME (its container.json is CONTAINER)
 * from IMAGE (images/<id>.json) and the create options O (NULL: none):
 * process.args = Entrypoint + Cmd as docker combines them with the
 * command and --entrypoint; Env with a default PATH, then -e/--env-file;
 * cwd = -w, WorkingDir or "/"; user from -u or User (numeric, or names
 * looked up in the image's etc/passwd and etc/group); hostname
 * --hostname or NAME; root "mnt" (read-only with --read-only); the usual
 * mounts (those at a user mount's destination dropped), then MOUNTS (the
 * user's, OCI form; NULL none) parents first; namespaces; the root
 * propagation the mounts need; masked and read-only paths, capabilities
 * and rlimits (--privileged: every capability, no masked paths). */
json_t *bundle_config(const struct store *s, json_t *image, json_t *container,
		      const char *name, const struct create_opts *o, json_t *mounts);

/* Writes DIR/config.json atomically (DIR/.config.json.tmp + rename).
 * 0 or -1 with a message. */
int bundle_write(const char *dir, json_t *config);

/* DIR/config.json (new reference), or NULL with a message naming cmd
 * (unreadable, malformed, no "process" object). */
json_t *bundle_load(const char *dir, const char *cmd);

/* Whether an OCI mounts[] entry is a bind mount (type, or bind/rbind). */
bool bundle_mount_is_bind(json_t *mount);

/* The bind mounts' propagation against linux.rootfsPropagation: an
 * rshared bind needs an rshared root, an rslave one an rslave or rshared
 * root (else nothing would propagate, silently). 0 or -1 with a message. */
int bundle_check_propagation(json_t *cfg, const char *cmd);

/* For one run: CFG with process.args = ARGS (nargs > 0) and a terminal
 * (terminal), root.path made absolute, written to CTRDIR/.run/config.json;
 * that bundle directory into out. 0 or -1 with a message. */
int bundle_for_run(json_t *cfg, const char *ctrdir, char **args, int nargs, bool terminal,
		   char *out, size_t size);

#endif
