/* Open-file handles. A handle opened while its file was still in a lower
 * branch follows the file up when another open copies it up, so readers
 * see what writers write. Each node lists its handles (n->handles, under
 * tree_lock); passthrough.c decides how the kernel serves each. */
#ifndef LAYERFS_HANDLE_H
#define LAYERFS_HANDLE_H

#include "node.h"

struct fhandle {
	int fd;
	int flags;            /* open flags the daemon used */
	unsigned gen;         /* node's copy-up generation when fd was opened */
	int branch;           /* the branch fd is open on (-1: a removed one) */
	int upfd;             /* O_PATH of the copy made while open, or -1 (tree_lock) */
	bool passthrough;     /* the kernel uses the branch file directly */
	bool pt_ro_union;     /* ... opened while the union had no rw branch */
	pthread_mutex_t lock; /* lock order 4 */
	struct node *node;
	struct fhandle *next; /* the node's other open handles */
};

static inline struct fhandle *lfs_handle(struct fuse_file_info *fi)
{
	return (struct fhandle *)(uintptr_t)fi->fh;
}

/* Opens node n's object in its branch: an fd or -errno; its branch. */
int lfs_handle_open_object(struct node *n, int flags, int *branch);
/* Makes the handle of open file fd (on branch) of node n, attached to n,
 * with the kernel's way of serving it chosen (fi->keep_cache; a backing
 * id for the reply in *backing_id, or 0). NULL on ENOMEM (fd closed). */
struct fhandle *lfs_handle_new(struct node *n, int fd, int flags, int branch,
			       struct fuse_file_info *fi, int *backing_id);
/* Detaches and frees h (at release). */
void lfs_handle_free(struct fhandle *h);
/* The handle's fd, reopened first if the file moved up since. */
int lfs_handle_fd(struct fhandle *h, struct node *n);
/* A duplicate of an fd open on n (for an unlinked file that has no name
 * left to reach it by: the copy when it was copied up), or -ENOENT. It may
 * be an O_PATH fd: use it through /proc/self/fd. */
int lfs_node_dup_open_fd(struct node *n);
/* Node n was just copied up to name in rw directory dfd: its handles
 * opened before keep a way to the copy, which their next use reopens
 * (even once no name leads there: renamed, unlinked). */
void lfs_handles_copied_up(struct node *n, int dfd, const char *name);

/* For live branch changes (tree_lock held). */
void lfs_handles_remap_locked(struct node *n, int at, int delta);
bool lfs_handles_on_branch_locked(struct node *n, int b);
/* At unmount: the files whose release never came. */
void lfs_handles_free_all(void);

#endif
