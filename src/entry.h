/* FUSE entries for names: a resolved name becomes a referenced node with
 * the attributes the kernel is given, and a name of a copied-up hardlinked
 * file that is still only lower is linked to the copy on the way, so that
 * the rw branch says what the merged view shows. */
#ifndef LAYERFS_ENTRY_H
#define LAYERFS_ENTRY_H

#include "lookup.h"

/* Fills a FUSE entry for the resolved object and takes a node reference. */
int lfs_make_entry(struct node *dir, const char *name, const struct resolved *r,
		   struct fuse_entry_param *e);
/* Resolves name in dir and fills its entry (a reference taken). */
int lfs_lookup_entry(struct node *dir, const char *name, struct fuse_entry_param *e);
/* The node of name in dir, referenced (forget it), or NULL. */
struct node *lfs_child_node(struct node *dir, const char *name);

#endif
