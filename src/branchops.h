/* Changing the branches of a live mount (aufs's add/del/mod): the branch
 * array, every node's idea of where it lives, and what the kernel cached.
 * The changes run with branch_lock held exclusively (no request in
 * flight); the kernel is told what to forget only after it is released. */
#ifndef LAYERFS_BRANCHOPS_H
#define LAYERFS_BRANCHOPS_H

#include "node.h"

/* What the kernel must forget after a branch change. */
struct lfs_inval {
	fuse_ino_t *inodes;
	size_t ninodes;
	struct { fuse_ino_t parent; char *name; } *entries;
	size_t nentries, capentries;
};

int lfs_branch_add(int index, const char *path, enum lfs_perm perm, bool wh,
		   struct lfs_inval *iv, char *err, size_t errsz);
int lfs_branch_del(int index, struct lfs_inval *iv, char *err, size_t errsz);
int lfs_branch_mod(int index, enum lfs_perm perm, bool wh, struct lfs_inval *iv,
		   char *err, size_t errsz);
/* Sends the invalidations (no lock held) and frees them. */
void lfs_inval_send(struct lfs_inval *iv);

#endif
