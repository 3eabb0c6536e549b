/* The lock order check: see lock.h and lfs.h. */
#include "lfs.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const rank_names[] = {
	[LFS_RANK_BRANCHES] = "branch_lock",
	[LFS_RANK_DIRSTREAM] = "a directory stream's lock",
	[LFS_RANK_NODE] = "a node's copy-up lock",
	[LFS_RANK_HANDLE] = "an open file's lock",
	[LFS_RANK_TREE] = "tree_lock",
	[LFS_RANK_LEAF] = "a leaf lock",
};

#ifndef NDEBUG
static __thread unsigned held;    /* bit r: a lock of rank r is held */

static void order_violation(enum lfs_lock_rank rank)
{
	int top = 0;
	for (int r = LFS_RANK_LEAF; r > 0; r--)
		if (held & (1u << r)) {
			top = r;
			break;
		}
	fprintf(stderr, "layerfs: lock order violated: taking %s while holding %s\n",
		rank_names[rank], rank_names[top]);
	abort();
}

static void took(enum lfs_lock_rank rank)
{
	if (held >> rank)
		order_violation(rank);
	held |= 1u << rank;
}

static void gave(enum lfs_lock_rank rank)
{
	held &= ~(1u << rank);
}
#else
static void took(enum lfs_lock_rank rank) { (void)rank; }
static void gave(enum lfs_lock_rank rank) { (void)rank; }
#endif

void lfs_mutex_lock(pthread_mutex_t *m, enum lfs_lock_rank rank)
{
	took(rank);
	pthread_mutex_lock(m);
}

void lfs_mutex_unlock(pthread_mutex_t *m, enum lfs_lock_rank rank)
{
	pthread_mutex_unlock(m);
	gave(rank);
}

void lfs_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	pthread_cond_wait(c, m);
}

void lfs_branches_rdlock(void)
{
	took(LFS_RANK_BRANCHES);
	pthread_rwlock_rdlock(&lfs->branch_lock);
}

void lfs_branches_wrlock(void)
{
	took(LFS_RANK_BRANCHES);
	pthread_rwlock_wrlock(&lfs->branch_lock);
}

void lfs_branches_unlock(void)
{
	pthread_rwlock_unlock(&lfs->branch_lock);
	gave(LFS_RANK_BRANCHES);
}
