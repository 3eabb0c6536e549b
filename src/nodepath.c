/* Node paths: see nodepath.h. */
#include "nodepath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lfs_node_path_locked(struct node *n, char **out)
{
	*out = NULL;
	size_t len = 0;
	for (struct node *p = n; p != lfs->root; p = p->names->parent) {
		if (!p->names)
			return -ENOENT;   /* removed while the kernel still holds it */
		len += strlen(p->names->name) + 1;
	}
	char *buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	/* Written from the end: the root's child comes first. */
	size_t end = len ? len - 1 : 0;
	buf[end] = '\0';
	for (struct node *p = n; p != lfs->root; p = p->names->parent) {
		size_t cl = strlen(p->names->name);
		end -= cl;
		memcpy(buf + end, p->names->name, cl);
		if (end)
			buf[--end] = '/';
	}
	*out = buf;
	return 0;
}

/* The path below the nearest redirected directory (n itself or above):
 * its lower path and the names from there down; NULL when there is none. */
static int lower_path_locked(struct node *n, char **out)
{
	*out = NULL;
	struct node *r = n;
	size_t below = 0;
	for (; r != lfs->root && !r->lower_path; r = r->names->parent) {
		if (!r->names)
			return -ENOENT;
		below += strlen(r->names->name) + 1;
	}
	if (r == lfs->root)
		return 0;
	size_t base = strlen(r->lower_path);
	char *buf = malloc(base + below + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, r->lower_path, base);
	size_t end = base + below;
	buf[end] = '\0';
	for (struct node *p = n; p != r; p = p->names->parent) {
		size_t cl = strlen(p->names->name);
		end -= cl;
		memcpy(buf + end, p->names->name, cl);
		buf[--end] = '/';
	}
	*out = buf;
	return 0;
}

int lfs_node_path_in_locked(struct node *n, int b, char **out)
{
	if (b > 0) {
		int ret = lower_path_locked(n, out);
		if (ret || *out)
			return ret;
	}
	return lfs_node_path_locked(n, out);
}

int lfs_node_paths(struct node *n, char **upper, char **lower)
{
	lfs_tree_lock();
	int ret = lfs_node_path_locked(n, upper);
	if (ret == 0 && (ret = lower_path_locked(n, lower)) != 0) {
		free(*upper);
		*upper = NULL;
	}
	lfs_tree_unlock();
	return ret;
}

int lfs_node_path(struct node *n, char **out)
{
	lfs_tree_lock();
	int ret = lfs_node_path_locked(n, out);
	lfs_tree_unlock();
	return ret;
}

unsigned lfs_node_depth_locked(struct node *n)
{
	unsigned d = 0;
	for (struct node *p = n; p && p != lfs->root && p->names; p = p->names->parent)
		d++;
	return d;
}
