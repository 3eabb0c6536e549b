/* The OCI runtime bundle's config.json, built from an image's config. */
#ifndef LAYERCTL_BUNDLE_H
#define LAYERCTL_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

/* The runtime config for container NAME (its container.json is CONTAINER)
 * from IMAGE (images/<id>.json): process.args = Entrypoint + Cmd, or ARGS
 * when nargs > 0; Env with a default PATH; cwd = WorkingDir or "/"; user
 * from User (numeric, or names looked up in the image's etc/passwd and
 * etc/group); hostname NAME; root "mnt"; the usual mounts, namespaces,
 * masked and read-only paths, capabilities and rlimits. NULL with a message
 * on stderr when need_args is set and there is no command at all. */
json_t *bundle_config(const struct store *s, json_t *image, json_t *container,
		      const char *name, char **args, int nargs, bool need_args);

/* Writes DIR/config.json atomically (DIR/.config.json.tmp + rename).
 * 0 or -1 with a message. */
int bundle_write(const char *dir, json_t *config);

#endif
