/* The lower-branch directory cache: per directory node, what each lower
 * (not rw) branch in its dirbr holds — names with their d_type and d_ino,
 * and whiteout targets — read once with getdents64, so that lookups answer
 * absent and whited-out names from memory. Lower branches are taken as
 * unchanging while mounted; off with timeout=0. What an entry means is the
 * union rule's (layerfs/union.h); this only remembers what was read. */
#ifndef LAYERFS_DIRCACHE_H
#define LAYERFS_DIRCACHE_H

#include "node.h"

struct dircache;

int lfs_dircaches_init(void);
void lfs_dircaches_free(void);

/* What one branch of the cache says about a name. */
enum lfs_dc_answer {
	LFS_DC_UNKNOWN,      /* not cached: ask the branch */
	LFS_DC_ABSENT,
	LFS_DC_WHITEOUT,     /* hidden from the branches below */
	LFS_DC_PRESENT,
};

/* The cache of directory node dir, built on first use; referenced (release
 * with lfs_dircache_put). NULL when off or dir has no lower branch. */
struct dircache *lfs_dircache_get(struct node *dir);
/* dir's cache if it has one already (referenced), else NULL. */
struct dircache *lfs_dircache_peek(struct node *dir);
void lfs_dircache_put(struct dircache *dc);

/* What branch b says about name; *dtype is set for LFS_DC_PRESENT. hint
 * speeds up top-down walks (start it at 0). */
enum lfs_dc_answer lfs_dircache_query(const struct dircache *dc, int b, const char *name,
				      unsigned *hint, unsigned char *dtype);
/* Calls fn for branch b's entries in getdents order: names present (with
 * d_type and d_ino) and whiteout targets (whiteout true). A non-zero return
 * of fn stops the walk and is returned; -ENODATA when the cache cannot list
 * b (not read, or names without d_type). */
typedef int (*lfs_dc_visit)(void *arg, const char *name, unsigned char dtype, uint64_t ino,
			    bool whiteout);
int lfs_dircache_foreach(const struct dircache *dc, int b, lfs_dc_visit fn, void *arg);

/* The node table's hooks (tree_lock held). */
/* Forget n's cache: its path or branches changed, or it goes unused. */
void lfs_dircache_drop_locked(struct node *n);
/* After n->dirbr changed: drops the cache unless its lower branches are the
 * same (gaining the rw branch changes nothing cached). */
void lfs_dircache_dirbr_changed_locked(struct node *n);
/* n is freed: its cache and its slot go. */
void lfs_dircache_node_gone_locked(struct node *n);
/* Branch indices moved or branch flags changed: every cache goes. */
void lfs_dircache_drop_all_locked(void);

#endif
