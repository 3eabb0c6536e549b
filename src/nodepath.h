/* A node's path relative to the branch roots (the same in every branch):
 * the names from the root down. */
#ifndef LAYERFS_NODEPATH_H
#define LAYERFS_NODEPATH_H

#include "node.h"

/* Relative path of n ("" for the root) into buf. -ENOENT when n (or a
 * parent) was removed, -ENAMETOOLONG. Caller holds tree_lock. */
int lfs_node_path_locked(struct node *n, char *buf, size_t size);
int lfs_node_path(struct node *n, char *buf, size_t size);
/* The path of name in directory node dir. */
int lfs_child_path(struct node *dir, const char *name, char *buf, size_t size);
/* How many names lie between n and the root. Caller holds tree_lock. */
unsigned lfs_node_depth_locked(struct node *n);

#endif
