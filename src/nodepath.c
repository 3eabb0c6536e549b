/* Node paths: see nodepath.h. */
#include "nodepath.h"

#include <errno.h>
#include <string.h>

static int path_append(char *buf, size_t size, size_t *len, const char *comp)
{
	size_t cl = strlen(comp);
	size_t need = *len + (*len ? 1 : 0) + cl;
	if (need + 1 > size)
		return -ENAMETOOLONG;
	if (*len)
		buf[(*len)++] = '/';
	memcpy(buf + *len, comp, cl);
	*len += cl;
	buf[*len] = '\0';
	return 0;
}

int lfs_node_path_locked(struct node *n, char *buf, size_t size)
{
	const char *comps[PATH_MAX / 2];
	size_t depth = 0;
	for (struct node *p = n; p != lfs->root; p = p->names->parent) {
		if (!p->names)
			return -ENOENT;   /* removed while the kernel still holds it */
		if (depth == sizeof(comps) / sizeof(comps[0]))
			return -ENAMETOOLONG;
		comps[depth++] = p->names->name;
	}
	size_t len = 0;
	buf[0] = '\0';
	while (depth) {
		int ret = path_append(buf, size, &len, comps[--depth]);
		if (ret)
			return ret;
	}
	return 0;
}

int lfs_node_path(struct node *n, char *buf, size_t size)
{
	lfs_tree_lock();
	int ret = lfs_node_path_locked(n, buf, size);
	lfs_tree_unlock();
	return ret;
}

int lfs_child_path(struct node *dir, const char *name, char *buf, size_t size)
{
	int ret = lfs_node_path(dir, buf, size);
	if (ret)
		return ret;
	size_t len = strlen(buf);
	return path_append(buf, size, &len, name);
}

unsigned lfs_node_depth_locked(struct node *n)
{
	unsigned d = 0;
	for (struct node *p = n; p && p != lfs->root && p->names; p = p->names->parent)
		d++;
	return d;
}
