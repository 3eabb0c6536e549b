/* The hardlink index (aufs's "pseudo links", overlayfs's index): a lower
 * file with several names, copied up through one of them, lives once in
 * the work area's index directory under a key made from the lower inode;
 * every name copied up later is linked to that copy, so writes through one
 * name are seen through the others. Each indexed inode carries an xattr
 * "KEY NLINK GONE" so any rw name finds them: its key, the lower link
 * count, and how many of the lower names have left the lower branch (been
 * linked to the copy, which every name is before it is removed or replaced).
 * The link count shown is then, as overlayfs's index keeps it, the names
 * the copy has plus the lower names still only lower:
 *     (st_nlink of the copy - 1 for the index) + (NLINK - GONE).
 * A mark without GONE (older layerfs) shows the larger of the two counts. */
#ifndef LAYERFS_PLINK_H
#define LAYERFS_PLINK_H

#include "node.h"
#include "layerfs/plinkmark.h"   /* the key and the mark, as layerctl reads them */

/* Whether the index holds a copy of lower (a multiply-linked lower
 * regular file); its stat in *st, its key in key, its mark in *count. */
bool lfs_plink_find(const struct stat *lower, char *key, size_t keysize, struct stat *st,
		    struct lfs_plink_count *count);
/* Whether the rw entry name in rw directory dfd (a multiply-linked regular
 * file) is an indexed copy: its key and mark. */
bool lfs_plink_marked(int dfd, const char *name, char *key, size_t keysize,
		      struct lfs_plink_count *count);
/* Marks the new copy name (in dfd) as the indexed copy of key. */
void lfs_plink_mark(int dfd, const char *name, const char *key,
		    const struct lfs_plink_count *count);
/* Links the indexed copy key as name (a lower name of n until now) in rw
 * directory dstdfd, counts it gone from the lower branch, and notes on n
 * that its data lives in the index. */
int lfs_plink_link(struct node *n, const char *key, int dstdfd, const char *name);
/* Whether removing or replacing a name of n must first link it to the
 * index (so that the count above stays right): a multiply-linked lower
 * regular file, or one in the index already. */
bool lfs_plink_wanted(struct node *n);
/* The link count shown for indexed node n whose copy has upper_nlink
 * links. Caller holds tree_lock. */
nlink_t lfs_plink_nlink(const struct node *n, nlink_t upper_nlink);

#endif
