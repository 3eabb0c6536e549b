/* Resolving a name in a merged directory, top branch down, by the union
 * rule (layerfs/union.h), with the lower branches' answers from the
 * directory cache; and the attributes shown for a node. */
#ifndef LAYERFS_LOOKUP_H
#define LAYERFS_LOOKUP_H

#include "node.h"

struct resolved {
	struct stat st;       /* of the topmost object */
	uint64_t ino;         /* the number it shows (ino.h) */
	int branch;           /* topmost branch */
	uint16_t dirbr[LFS_MAX_BRANCHES];  /* a directory's contributing branches */
	unsigned ndirbr;
	char *redirect;       /* a directory redirected in the rw branch: where its
			       * lower parts are (malloc'ed), else NULL */
	bool metacopy;        /* a metadata-only copy in the rw branch ... */
	int data_branch;      /* ... whose data is there (-1: nowhere) */
};

/* Resolves name in directory node dir using branches >= min_branch. 0, or
 * -ENOENT, or -errno when a branch cannot be read. Release r with
 * lfs_resolved_done (also after a failure). */
int lfs_resolve(struct node *dir, const char *name, int min_branch, struct resolved *r);
void lfs_resolved_done(struct resolved *r);
/* True when a branch below the rw branch would show name in dir. */
bool lfs_lower_has(struct node *dir, const char *name);

/* Attributes shown for node n (stat of its object, ino/nlink adjusted). */
int lfs_node_stat(struct node *n, struct stat *st);
/* Adjusts a stat of n's object to what users see. Caller holds tree_lock. */
void lfs_fix_stat(struct node *n, struct stat *st);

#endif
