/* The merged listing of a directory: names of every contributing branch,
 * top-down, by the union rule's listing merge (layerfs/union.h). */
#ifndef LAYERFS_DIRMERGE_H
#define LAYERFS_DIRMERGE_H

#include "node.h"

struct dentry_rec {
	char *name;
	uint64_t ino;
	unsigned char type;   /* DT_* */
};
struct dirlist {
	struct dentry_rec *v;
	size_t n, cap;
};

/* Builds the merged listing of directory node dir ("." and ".." excluded).
 * With stop_at_first, stops after one entry (emptiness checks). */
int lfs_dir_merge(struct node *dir, struct dirlist *out, bool stop_at_first);
void lfs_dirlist_free(struct dirlist *l);

#endif
