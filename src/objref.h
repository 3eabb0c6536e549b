/* Locating a node's object: the directory that holds it, opened beneath
 * its branch (or the hardlink index), and its name there. */
#ifndef LAYERFS_OBJREF_H
#define LAYERFS_OBJREF_H

#include "node.h"

struct objref {
	int dfd;
	bool own_dfd;
	struct lfs_sharedfd *shared; /* dfd is a node's kept fd, referenced */
	int branch;
	char name[NAME_MAX + 1];   /* "." for a branch root or a directory */
};

/* Locates the object of node n in its topmost branch (or the index). */
int lfs_obj_locate(struct node *n, struct objref *o);
/* Locates the object that holds n's data: its lower file for a metadata-
 * only copy (-EIO when it has none), else what lfs_obj_locate finds. */
int lfs_obj_locate_data(struct node *n, struct objref *o);
/* Locates the directory node dir in branch b (name "." of a dir fd). */
int lfs_obj_locate_dir(struct node *dir, int b, struct objref *o);
void lfs_obj_release(struct objref *o);
/* "/proc/self/fd/DFD/NAME" for the *xattr calls that have no *at form. */
void lfs_obj_procpath(const struct objref *o, char *buf, size_t size);

#endif
