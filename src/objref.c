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
#include "workdir.h"

/* The rw copy of directory node dir, opened (an fd of the caller's): a dup
 * of the one the node keeps, or opened by its path and kept (while fewer
 * than rwfds_max are kept: a quarter of the fd limit). Saves the walk from
 * the branch root that every change in the directory would repeat. */
int lfs_obj_rw_dir_open(struct node *dir)
{
	/* The root is the branch root: its fd lives as long as the branch set
	 * (a request holds branch_lock). */
	if (dir == lfs->root) {
		int fd = fcntl(lfs->br[0].fd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	lfs_tree_lock();
	int fd = dir->rwfd >= 0 ? fcntl(dir->rwfd, F_DUPFD_CLOEXEC, 0) : -1;
	lfs_tree_unlock();
	if (fd >= 0)
		return fd;
	char *path;
	lfs_tree_lock();
	int ret = lfs_node_path_locked(dir, &path);
	lfs_tree_unlock();
	if (ret)
		return ret;
	fd = lfs_open_dir(0, path);
	free(path);
	if (fd < 0 || dir == lfs->root ||
	    __atomic_load_n(&lfs->rwfds, __ATOMIC_RELAXED) >= lfs->rwfds_max)
		return fd;
	int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	lfs_tree_lock();
	if (keep >= 0 && dir->rwfd < 0 && dir->names && dir->nlookup) {
		dir->rwfd = keep;
		keep = -1;
		__atomic_add_fetch(&lfs->rwfds, 1, __ATOMIC_RELAXED);
	}
	lfs_tree_unlock();
	if (keep >= 0)
		close(keep);
	return fd;
}

int lfs_obj_locate_dir(struct node *dir, int b, struct objref *o)
{
	if (b == 0 && lfs->has_rw && dir == lfs->root) {
		*o = (struct objref){ .dfd = lfs->br[0].fd, .own_dfd = false, .branch = 0, .name = "." };
		return 0;
	}
	if (b == 0 && lfs->has_rw) {
		int fd = lfs_obj_rw_dir_open(dir);
		if (fd < 0)
			return fd;
		*o = (struct objref){ .dfd = fd, .own_dfd = true, .branch = 0, .name = "." };
		return 0;
	}
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
	if (b == 0 && lfs->has_rw && parent == lfs->root) {
		lfs_tree_unlock();
		o->dfd = lfs->br[0].fd;
		o->own_dfd = false;
		o->branch = 0;
		return 0;
	}
	if (b == 0 && lfs->has_rw) {
		lfs_tree_unlock();
		int fd = lfs_obj_rw_dir_open(parent);
		if (fd < 0)
			return fd;
		o->dfd = fd;
		o->own_dfd = true;
		o->branch = 0;
		return 0;
	}
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
