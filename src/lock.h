/* Taking the daemon's locks in the order lfs.h writes down. Builds without
 * NDEBUG check every acquisition against the locks the thread holds (a
 * thread-local mask: a few instructions) and abort with a message naming
 * both, so a test run catches an inversion the first time it happens
 * rather than the day it deadlocks. Included by lfs.h. */
#ifndef LAYERFS_LOCK_H
#define LAYERFS_LOCK_H

#include <pthread.h>

/* The ranks of lfs.h's lock order. */
enum lfs_lock_rank {
	LFS_RANK_BRANCHES = 1,
	LFS_RANK_DIRSTREAM,
	LFS_RANK_NODE,
	LFS_RANK_HANDLE,
	LFS_RANK_TREE,
	LFS_RANK_LEAF,
};

void lfs_mutex_lock(pthread_mutex_t *m, enum lfs_lock_rank rank);
void lfs_mutex_unlock(pthread_mutex_t *m, enum lfs_lock_rank rank);
/* Waits on c with m (taken with rank) held before and after. */
void lfs_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);

void lfs_branches_rdlock(void);
void lfs_branches_wrlock(void);
void lfs_branches_unlock(void);

/* lfs.h includes this header after struct lfs. */
static inline void lfs_tree_lock(void)
{
	lfs_mutex_lock(&lfs->tree_lock, LFS_RANK_TREE);
}

static inline void lfs_tree_unlock(void)
{
	lfs_mutex_unlock(&lfs->tree_lock, LFS_RANK_TREE);
}

#endif
