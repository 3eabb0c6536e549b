/* The host side of a propagating volume. A mount made on the host below a
 * volume's source reaches the container (rslave, rshared) only when the
 * source sits on a shared mount (or, for rslave, a slave one); a mount made
 * in the container reaches the host (rshared) only through a shared one.
 * As kubelet does for its root directory, layerctl makes it so when it is
 * not: it bind-mounts the source onto itself and makes that bind shared.
 * Such binds are recorded in STORE/shared-mounts.json
 *   { "mounts": [ { "path": "/abs/src", "mount_id": N,
 *                   "containers": ["name", ...] } ] }
 * and undone by `layerctl rm` of the last container that needs them. The
 * caller holds the store lock. */
#ifndef LAYERCTL_SHAREDMOUNT_H
#define LAYERCTL_SHAREDMOUNT_H

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

/* Makes sure SOURCE (absolute, symlinks resolved) is on a shared mount
 * (need_shared) or on a shared or slave one, binding it onto itself when
 * needed, and records CONTAINER as a user of a bind of ours it relies on.
 * 0, or -1 with a one-line message (naming cmd) on stderr — e.g. when the
 * source has mounts below it, which a bind would hide. */
int sharedmount_ensure(const struct store *s, const char *container, const char *source,
		       bool need_shared, const char *cmd);

/* CONTAINER no longer needs the binds it is recorded for: each one no
 * other container needs is unmounted (a warning, and it stays, when
 * something is mounted below it). */
void sharedmount_release(const struct store *s, const char *container);

/* The paths of the binds CONTAINER is recorded for (new reference). */
json_t *sharedmount_list(const struct store *s, const char *container);

#endif
