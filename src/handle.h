/* Open-file handles. A handle opened while its file was still in a lower
 * branch follows the file up when another open copies it up, so readers see
 * what writers write. */
#ifndef LAYERFS_HANDLE_H
#define LAYERFS_HANDLE_H

#include "layerfs.h"

struct fhandle {
	int fd;
	int flags;            /* open flags the daemon used */
	unsigned gen;         /* node's copy-up generation when fd was opened */
	int branch;           /* the branch fd is open on (-1: a removed one) */
	bool passthrough;     /* the kernel uses the branch file directly */
	pthread_mutex_t lock;
	struct node *node;
	struct fhandle *next; /* the node's other open handles */
};

static inline struct fhandle *lfs_handle(struct fuse_file_info *fi)
{
	return (struct fhandle *)(uintptr_t)fi->fh;
}

/* The handle's fd, reopened first if the file moved up since. */
int lfs_handle_fd(struct fhandle *h, struct node *n);

/* Frees a handle no list holds any more (its fd closed). */
void lfs_handle_destroy(struct fhandle *h);

/* A duplicate of an fd open on n (for an unlinked file that has no name
 * left to reach it by), or -ENOENT. */
int lfs_node_dup_open_fd(struct node *n);

#endif
