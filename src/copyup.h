/* Copy-up: before a lower object changes, it is rebuilt in the rw branch.
 * Everything is built under the work directory and renamed into place only
 * when complete, so a crash never leaves a half-made object visible; the
 * work directory is emptied at the next mount. */
#ifndef LAYERFS_COPYUP_H
#define LAYERFS_COPYUP_H

#include "objref.h"

/* Makes sure node n exists in the rw branch (its parents first), with its
 * data: a metadata-only copy gets its data now. With data false, a regular
 * file is created (or left) empty: the caller truncates it anyway. */
int lfs_copyup(struct node *n, bool data);
/* For a change of metadata only (owner, mode, times, xattrs): with
 * -o metacopy=on a lower regular file gets a metadata-only copy
 * (layerfs/metacopy.h), else the same as lfs_copyup(n, true). */
int lfs_copyup_meta(struct node *n);
/* Makes sure the entry name of dir (naming node n) exists in the rw branch
 * with its data: linked from the hardlink index when n's data lives there;
 * a metadata-only copy gets its data. */
int lfs_copyup_at(struct node *dir, const char *name, struct node *n);
/* A lower file node n that has no name left but is still open gets a copy
 * of its own for its open files (a change through them must not reach the
 * lower branch). */
int lfs_copyup_orphan(struct node *n);
/* Makes sure directory node dir exists in the rw branch; opens it. */
int lfs_upper_dir(struct node *dir, struct objref *o);

#endif
