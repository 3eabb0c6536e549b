/* A node's path relative to the branch roots (the same in every branch):
 * the names from the root down, of any length. */
#ifndef LAYERFS_NODEPATH_H
#define LAYERFS_NODEPATH_H

#include "node.h"

/* The relative path of n ("" for the root), malloc'ed, into *out. 0,
 * -ENOENT when n (or a parent) was removed, -ENOMEM. Caller holds tree_lock
 * for the _locked form. */
int lfs_node_path_locked(struct node *n, char **out);
int lfs_node_path(struct node *n, char **out);
/* Where directory node n is in the branches: *upper its union path, the
 * same in every branch, unless n or a directory above it was redirected
 * (renamed without moving its lower parts): then *lower is the path in
 * the branches below the rw one, else NULL. Both malloc'ed. 0 or -errno. */
int lfs_node_paths(struct node *n, char **upper, char **lower);
/* n's path in branch b alone (malloc'ed). Caller holds tree_lock. */
int lfs_node_path_in_locked(struct node *n, int b, char **out);

/* The one of the two that branch b uses. */
static inline const char *lfs_path_in(int b, const char *upper, const char *lower)
{
	return b > 0 && lower ? lower : upper;
}

/* How many names lie between n and the root. Caller holds tree_lock. */
unsigned lfs_node_depth_locked(struct node *n);

#endif
