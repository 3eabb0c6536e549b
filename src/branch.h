/* The branch set of a mount: opening and checking branch roots, the work
 * directory's place, and opening directories beneath a branch. */
#ifndef LAYERFS_BRANCH_H
#define LAYERFS_BRANCH_H

#include "lfs.h"

/* Opens the branches of list (top first) and the work directory into fs
 * (and makes fs the process's mount). 0, or -errno after a one-line
 * message on stderr. */
int lfs_fs_init(struct lfs *fs, const struct lfs_branch_list *list,
		const char *workdir, const char *mountpoint);
void lfs_fs_destroy(struct lfs *fs);

/* Opens and checks one branch root; on failure a one-line reason in err. */
int lfs_branch_open(const char *path, enum lfs_perm perm, bool wh, const char *mnt,
		    struct branch *b, char *err, size_t errsz);
/* -EINVAL when b is one of the mount's branches already. */
int lfs_branch_check_new(const struct branch *b, char *err, size_t errsz);
/* The work area: workdir, or the rw branch's root when NULL. */
int lfs_setup_workdir(struct lfs *fs, const char *workdir, char *err, size_t errsz);
/* Index of dev among the branches' devices (added when new). */
unsigned lfs_dev_index(struct lfs *fs, dev_t dev);

/* Branch index b after a branch was inserted at `at` (delta 1) or the
 * branch at `at` removed (delta -1): -1 for the removed one (and for -1). */
int lfs_branch_remap(int b, int at, int delta);

/* Opens directory relpath ("" = root) of branch b as O_PATH, never through
 * a symlink. Returns an fd or -errno. */
int lfs_open_dir(int b, const char *relpath);

#endif
