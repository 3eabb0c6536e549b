/* Merged listings: see dirmerge.h. Lower branches are listed from the
 * directory cache where it has them, the rw branch always afresh. */
#include "dirmerge.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "dircache.h"
#include "ino.h"
#include "layerfs/union.h"
#include "nodepath.h"

static int dirlist_add(struct dirlist *l, const char *name, uint64_t ino, unsigned char type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct dentry_rec *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	l->v[l->n++] = (struct dentry_rec){ dup, ino, type };
	return 0;
}

void lfs_dirlist_free(struct dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct merge_state {
	struct dirlist *out;
	struct lfs_union_list names;
	int b;                    /* the branch being read */
	bool stop_at_first;
};

/* Lists name when the union rule shows it from this branch; 1 when that
 * was the one entry wanted. */
static int take_name(struct merge_state *m, const char *name, uint64_t ino, unsigned char type)
{
	int shown = lfs_union_list_name(&m->names, name);
	if (shown <= 0)
		return shown;
	int ret = dirlist_add(m->out, name, ino, type);
	return ret == 0 && m->stop_at_first ? 1 : ret;
}

static uint64_t shown_ino(int b, uint64_t d_ino)
{
	struct stat st = { .st_dev = lfs->br[b].dev, .st_ino = d_ino };
	return lfs_ino_for(&st);
}

/* One entry of a lower branch, from the directory cache. */
static int visit_cached(void *arg, const char *name, unsigned char type, uint64_t d_ino,
			bool whiteout)
{
	struct merge_state *m = arg;
	if (whiteout)
		return lfs_union_list_whiteout(&m->names, name);
	if (lfs_union_list_has(&m->names, name))
		return 0;
	return take_name(m, name, shown_ino(m->b, d_ino), type);
}

/* One entry read from a branch directory (pfd). */
static int visit_read(struct merge_state *m, int pfd, const struct dirent *de)
{
	const char *target;
	switch (lfs_union_classify(de->d_name, lfs->br[m->b].wh, &target)) {
	case LFS_UNION_ENTRY_WHITEOUT:
		return lfs_union_list_whiteout(&m->names, target);
	case LFS_UNION_ENTRY_LONG_WHITEOUTS: {
		int ret = lfs_union_list_long_whiteouts(&m->names, pfd);
		return ret == -ENOMEM ? ret : 0;    /* an unreadable list hides nothing */
	}
	case LFS_UNION_ENTRY_NAME:
		break;
	default:
		return 0;
	}
	if (lfs_union_list_has(&m->names, de->d_name))
		return 0;
	unsigned char type = de->d_type;
	struct stat st = { .st_dev = lfs->br[m->b].dev, .st_ino = de->d_ino };
	if (type == DT_UNKNOWN && fstatat(pfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		type = (unsigned char)IFTODT(st.st_mode);
	/* An rw entry may be a copy that shows its original's number. */
	uint64_t ino = lfs_branch_is_rw(m->b) ? lfs_ino_for_rw(pfd, de->d_name, &st)
					     : lfs_ino_for(&st);
	return take_name(m, de->d_name, ino, type);
}

/* Reads one branch's part of the directory. */
static int merge_branch(struct merge_state *m, const char *path)
{
	int pfd = lfs_open_dir(m->b, path);
	if (pfd < 0)
		return (pfd == -ENOENT || pfd == -ENOTDIR || pfd == -ELOOP) ? 0 : pfd;
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = errno;
	if (fd < 0) {
		close(pfd);
		return -err;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		close(pfd);
		return -ENOMEM;
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d)))
		ret = visit_read(m, pfd, de);
	closedir(d);
	close(pfd);
	return ret;
}

int lfs_dir_merge(struct node *dir, struct dirlist *out, bool stop_at_first)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char *upper, *lower;
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	int ret = lfs_node_paths(dir, &upper, &lower);
	if (ret)
		return ret;
	struct merge_state m = { .out = out, .names = LFS_UNION_LIST_INIT,
				 .stop_at_first = stop_at_first };
	/* A listing is mostly followed by lookups of its names: read the
	 * lower branches once, into the cache, and list from there. An
	 * emptiness check uses a cache that exists but builds none. */
	struct dircache *dc = stop_at_first ? lfs_dircache_peek(dir) : lfs_dircache_get(dir);
	for (unsigned i = 0; i < nd && ret == 0; i++) {
		m.b = dirbr[i];
		ret = lfs_branch_is_rw(m.b) ? -ENODATA : lfs_dircache_foreach(dc, m.b, visit_cached, &m);
		if (ret == -ENODATA)
			ret = merge_branch(&m, lfs_path_in(m.b, upper, lower));
		ret = ret > 0 ? 0 : ret;
		if (ret == 0)
			ret = lfs_union_list_end_branch(&m.names);
		if (stop_at_first && out->n)
			break;
	}
	lfs_union_list_free(&m.names);
	lfs_dircache_put(dc);
	free(upper);
	free(lower);
	return ret;
}
