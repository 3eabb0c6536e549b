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
