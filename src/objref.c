/* Locating objects: see objref.h. */
#include "objref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "nodepath.h"
#include "workdir.h"

int lfs_obj_locate_dir(struct node *dir, int b, struct objref *o)
{
	char *path;
	lfs_tree_lock();
	int ret = lfs_node_path_in_locked(dir, b, &path);
	lfs_tree_unlock();
	if (ret)
		return ret;
	int fd = lfs_open_dir(b, path);
	free(path);
	if (fd < 0)
		return fd;
	o->dfd = fd;
	o->own_dfd = true;
	o->branch = b;
	strcpy(o->name, ".");
	return 0;
}

int lfs_obj_locate(struct node *n, struct objref *o)
{
	char *path;
	lfs_tree_lock();
	int b = n->branch;
	int ret = 0;
	if (n->plink) {
		snprintf(o->name, sizeof(o->name), "%s", n->plink);
		lfs_tree_unlock();
		int fd = lfs_work_plink();
		if (fd < 0)
			return fd;
		o->dfd = fd;
		o->own_dfd = false;
		o->branch = 0;
		return 0;
	}
	if (n == lfs->root) {
		lfs_tree_unlock();
		o->dfd = lfs->br[b].fd;
		o->own_dfd = false;
		o->branch = b;
		strcpy(o->name, ".");
		return 0;
	}
	if (!n->names) {
		lfs_tree_unlock();
		return -ENOENT;
	}
	struct node *parent = n->names->parent;
	snprintf(o->name, sizeof(o->name), "%s", n->names->name);
	ret = lfs_node_path_in_locked(parent, b, &path);
	lfs_tree_unlock();
	if (ret)
		return ret;
	int fd = lfs_open_dir(b, path);
	free(path);
	if (fd < 0)
		return fd;
	o->dfd = fd;
	o->own_dfd = true;
	o->branch = b;
	return 0;
}

void lfs_obj_release(struct objref *o)
{
	if (o->own_dfd && o->dfd >= 0)
		close(o->dfd);
	o->dfd = -1;
	o->own_dfd = false;
}

void lfs_obj_procpath(const struct objref *o, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", o->dfd, o->name);
}
