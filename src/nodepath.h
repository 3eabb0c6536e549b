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
/* How many names lie between n and the root. Caller holds tree_lock. */
unsigned lfs_node_depth_locked(struct node *n);

#endif
