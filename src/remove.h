/* Taking names away: unlink and rmdir (a whiteout where a lower branch
 * still has the name), and the node table's side of every removal. */
#ifndef LAYERFS_REMOVE_H
#define LAYERFS_REMOVE_H

#include "lookup.h"

/* Removes name from dir: a whiteout first when a lower branch has the name
 * (so a crash in between still shows the old state), then the rw entry. */
int lfs_remove_entry(struct node *dir, const char *name, bool is_dir);
/* ENOTEMPTY unless the merged directory name (resolved as r) lists nothing. */
int lfs_dir_check_empty(struct node *dir, const char *name, const struct resolved *r);

/* A name leaves the node table (and its inode number the copy-up map)
 * BEFORE its entry goes from the rw branch: once the entry is gone its
 * number may be reused at once by an object another request creates,
 * which must not find this node any more. A failed removal puts both back.
 * st is the rw entry's stat when in_rw. */
struct lfs_detached {
	struct node *n;
	struct stat st;
	bool unmapped;
};
void lfs_detach(struct lfs_detached *d, struct node *dir, const char *name, struct node *n,
		const struct stat *st, bool in_rw);
void lfs_reattach(struct lfs_detached *d, struct node *dir, const char *name);

#endif
