/* Unit tests for the lock order check (src/lock.c): locks taken in the
 * order lfs.h writes down pass; an inversion aborts (in a child process). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lfs.h"

struct lfs *lfs;
static struct lfs fs;

static pthread_mutex_t node_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t leaf_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t leaf_b = PTHREAD_MUTEX_INITIALIZER;

static int setup(void **state)
{
	(void)state;
	lfs = &fs;
	pthread_mutex_init(&fs.tree_lock, NULL);
	pthread_rwlock_init(&fs.branch_lock, NULL);
	return 0;
}

/* Runs fn in a child; returns the signal that ended it (0: exited). */
static int in_child(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", 1);
		dup2(devnull, 2);   /* the checker's message */
		fn();
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void in_order(void)
{
	lfs_branches_rdlock();
	lfs_mutex_lock(&node_lock, LFS_RANK_NODE);
	lfs_tree_lock();
	lfs_mutex_lock(&leaf_a, LFS_RANK_LEAF);
	lfs_mutex_unlock(&leaf_a, LFS_RANK_LEAF);
	lfs_tree_unlock();
	lfs_mutex_unlock(&node_lock, LFS_RANK_NODE);
	/* again after release, in another order of skipping */
	lfs_tree_lock();
	lfs_tree_unlock();
	lfs_mutex_lock(&node_lock, LFS_RANK_NODE);
	lfs_mutex_unlock(&node_lock, LFS_RANK_NODE);
	lfs_branches_unlock();
}

static void tree_then_node(void)
{
	lfs_tree_lock();
	lfs_mutex_lock(&node_lock, LFS_RANK_NODE);
}

static void two_leaves(void)
{
	lfs_mutex_lock(&leaf_a, LFS_RANK_LEAF);
	lfs_mutex_lock(&leaf_b, LFS_RANK_LEAF);
}

static void branches_under_tree(void)
{
	lfs_tree_lock();
	lfs_branches_wrlock();
}

static void test_order_kept(void **state)
{
	(void)state;
	assert_int_equal(in_child(in_order), 0);
}

/* The check is compiled out of NDEBUG builds: there they just lock. */
#ifdef NDEBUG
#define CAUGHT 0
#else
#define CAUGHT SIGABRT
#endif

static void test_inversions_abort(void **state)
{
	(void)state;
	assert_int_equal(in_child(tree_then_node), CAUGHT);
	assert_int_equal(in_child(two_leaves), CAUGHT);
	assert_int_equal(in_child(branches_under_tree), CAUGHT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_inversions_abort),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
