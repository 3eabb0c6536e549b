/* Locating objects: see objref.h. */
#include "objref.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "nodepath.h"
#include "sharedfd.h"
#include "workdir.h"

/* A reference to the rw copy of directory node dir (not the root): the
 * fd the node keeps, or, the first time, opened by its path and kept
 * (while fewer than rwfds_max are kept: a quarter of the fd limit), or
 * when it cannot be kept, an fd of the caller's own. Saves the walk from
 * the branch root that every change in the directory would repeat. */
static int rw_dir_ref(struct node *dir, int *fd, struct lfs_sharedfd **shared)
{
	lfs_tree_lock();
	*shared = dir->rwfd ? lfs_sharedfd_get(dir->rwfd) : NULL;
	lfs_tree_unlock();
	if (*shared) {
		*fd = (*shared)->fd;
		return 0;
	}
	char *path;
	lfs_tree_lock();
	int ret = lfs_node_path_locked(dir, &path);
	lfs_tree_unlock();
	if (ret)
		return ret;
	*fd = lfs_open_dir(0, path);
	free(path);
	if (*fd < 0)
		return *fd;
	if (__atomic_load_n(&lfs->rwfds, __ATOMIC_RELAXED) >= lfs->rwfds_max)
		return 0;
	struct lfs_sharedfd *s = lfs_sharedfd_new(*fd);
	if (!s)
		return 0;
	lfs_tree_lock();
	if (dir->rwfd == NULL && dir->names && dir->nlookup) {
		dir->rwfd = s;
		__atomic_add_fetch(&lfs->rwfds, 1, __ATOMIC_RELAXED);
		*shared = lfs_sharedfd_get(s);
	}
	lfs_tree_unlock();
	if (!*shared)
		free(s);        /* not kept: the fd stays the caller's */
	return 0;
}

/* An objref of the rw copy of directory dir (not the root), name unset. */
static int rw_dir_objref(struct node *dir, struct objref *o)
{
	int fd;
	struct lfs_sharedfd *shared;
	int ret = rw_dir_ref(dir, &fd, &shared);
	if (ret)
		return ret;
	*o = (struct objref){ .dfd = fd, .own_dfd = !shared, .shared = shared, .branch = 0 };
	return 0;
}

/* o->dfd: directory node dir opened in branch b by its path there (its
 * own fd). Called under tree_lock, which it drops. */
static int open_in_branch_locked(struct node *dir, int b, struct objref *o)
{
	char *path;
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
	return 0;
}

int lfs_obj_locate_dir(struct node *dir, int b, struct objref *o)
{
	o->shared = NULL;
	if (b == 0 && lfs->has_rw && dir == lfs->root) {
		*o = (struct objref){ .dfd = lfs->br[0].fd, .own_dfd = false, .branch = 0, .name = "." };
		return 0;
	}
	if (b == 0 && lfs->has_rw) {
		int ret = rw_dir_objref(dir, o);
		if (ret == 0)
			strcpy(o->name, ".");
		return ret;
	}
	lfs_tree_lock();
	int ret = open_in_branch_locked(dir, b, o);
	if (ret == 0)
		strcpy(o->name, ".");
	return ret;
}

int lfs_obj_locate(struct node *n, struct objref *o)
{
	o->shared = NULL;
	lfs_tree_lock();
	int b = n->branch;
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
	if (b == 0 && lfs->has_rw && parent == lfs->root) {
		lfs_tree_unlock();
		o->dfd = lfs->br[0].fd;
		o->own_dfd = false;
		o->branch = 0;
		return 0;
	}
	if (b == 0 && lfs->has_rw) {
		lfs_tree_unlock();
		char name[NAME_MAX + 1];
		memcpy(name, o->name, sizeof(name));
		int ret = rw_dir_objref(parent, o);
		if (ret == 0)
			memcpy(o->name, name, sizeof(name));
		return ret;
	}
	return open_in_branch_locked(parent, b, o);
}

int lfs_obj_locate_data(struct node *n, struct objref *o)
{
	lfs_tree_lock();
	if (!n->metacopy) {
		lfs_tree_unlock();
		return lfs_obj_locate(n, o);
	}
	int b = n->data_branch;
	if (b <= 0 || !n->names) {
		lfs_tree_unlock();
		return b <= 0 ? -EIO : -ENOENT;
	}
	/* A metadata-only copy has one name, the lower file's: renames and
	 * links copy its data first (copyup.c). */
	o->shared = NULL;
	snprintf(o->name, sizeof(o->name), "%s", n->names->name);
	return open_in_branch_locked(n->names->parent, b, o);
}

void lfs_obj_release(struct objref *o)
{
	if (o->own_dfd && o->dfd >= 0)
		close(o->dfd);
	lfs_sharedfd_put(o->shared);
	o->shared = NULL;
	o->dfd = -1;
	o->own_dfd = false;
}

void lfs_obj_procpath(const struct objref *o, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", o->dfd, o->name);
}
