/* Making new objects in the rw branch. Each is built in the work directory
 * with the caller as owner and renamed into place (a crash never leaves an
 * object with the daemon's owner visible); a whiteout of the same name is
 * dropped after, and a directory made where a whiteout stands is opaque. */
#ifndef LAYERFS_CREATE_H
#define LAYERFS_CREATE_H

#include "node.h"

/* Rejects names that may not be created through the mount (markers,
 * too long, not one component) and every creation in a read-only union. */
int lfs_check_new_name(const char *name);
/* A non-directory (or, with link_target, a symlink) name in dir. */
int lfs_create_object(const struct fuse_ctx *caller, struct node *dir, const char *name,
		      mode_t mode, dev_t rdev, const char *link_target);
int lfs_create_dir(const struct fuse_ctx *caller, struct node *dir, const char *name,
		   mode_t mode);
/* Opens name in dir with flags, creating it (O_EXCL honoured); an existing
 * file is opened as it is (*existed). The fd, or -errno. */
int lfs_create_file(const struct fuse_ctx *caller, struct node *dir, const char *name,
		    mode_t mode, int flags, bool *existed);
/* A new name newname in dir for node n (copied up first). */
int lfs_create_link(struct node *n, struct node *dir, const char *newname);

#endif
