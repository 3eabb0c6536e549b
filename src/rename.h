/* rename(2) on the union. A lower file is copied up first; a directory with
 * lower parts is copied up whole and made opaque, so it can move anywhere
 * (no EXDEV). The old name gets a whiteout when a lower branch still has
 * it, made before the rename so a crash shows either the old or the new
 * state. */
#ifndef LAYERFS_RENAME_H
#define LAYERFS_RENAME_H

#include "node.h"

/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE (for names only in the rw
 * branch; EINVAL otherwise). */
int lfs_rename(struct node *odir, const char *oldname, struct node *ndir, const char *newname,
	       unsigned flags);

#endif
