/* The hardlink index (aufs's "pseudo links", overlayfs's index): a lower
 * file with several names, copied up through one of them, lives once in
 * the work area's index directory under a key made from the lower inode;
 * every name copied up later is linked to that copy, so writes through one
 * name are seen through the others. Each indexed inode carries an xattr
 * "KEY NLINK" (its key and the lower link count) so any rw name finds both. */
#ifndef LAYERFS_PLINK_H
#define LAYERFS_PLINK_H

#include "node.h"

#define LFS_PLINK_KEY_MAX 64

/* The index key of a lower object. */
void lfs_plink_key(const struct stat *lower, char *buf, size_t size);
/* Whether the index holds a copy of lower (a multiply-linked lower
 * regular file); its stat in *st and its key in key. */
bool lfs_plink_find(const struct stat *lower, char *key, size_t keysize, struct stat *st);
/* Whether the rw entry name in rw directory dfd (a multiply-linked regular
 * file) is an indexed copy: its key and the lower link count. */
bool lfs_plink_marked(int dfd, const char *name, char *key, size_t keysize,
		      nlink_t *lower_nlink);
/* Marks the new copy name (in dfd) as the indexed copy of key. */
void lfs_plink_mark(int dfd, const char *name, const char *key, nlink_t lower_nlink);
/* Links the indexed copy key as name in rw directory dstdfd, and notes on
 * n that its data lives in the index. */
int lfs_plink_link(struct node *n, const char *key, int dstdfd, const char *name);

#endif
