/* The merged listing of a directory: names of every contributing branch,
 * top-down, duplicates collapsed to the topmost, whited-out names and all
 * marker names dropped. */
#include "layerfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/whiteout.h"

/* A set of names (open addressing, FNV-1a). */
struct nameset {
	char **slot;
	size_t cap, used;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int nameset_grow(struct nameset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	char **slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slot[i])
			continue;
		size_t j = name_hash(s->slot[i]) & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

static bool nameset_has(const struct nameset *s, const char *name)
{
	if (!s->cap)
		return false;
	for (size_t j = name_hash(name) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
		if (strcmp(s->slot[j], name) == 0)
			return true;
	return false;
}

/* Adds name (the set keeps the pointer; caller keeps the string alive). */
static int nameset_add(struct nameset *s, char *name)
{
	if ((s->used + 1) * 2 > s->cap && nameset_grow(s) < 0)
		return -ENOMEM;
	size_t j = name_hash(name) & (s->cap - 1);
	while (s->slot[j]) {
		if (strcmp(s->slot[j], name) == 0)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slot[j] = name;
	s->used++;
	return 0;
}

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
	int b;                    /* the branch being read */
	struct nameset seen;      /* listed names and names hidden from below */
	char **whiteouts;         /* targets hidden by the current branch */
	size_t nwh, capwh;
	bool stop_at_first;
};

static int defer_whiteout(struct merge_state *m, const char *target)
{
	if (m->nwh == m->capwh) {
		size_t cap = m->capwh ? m->capwh * 2 : 16;
		char **v = realloc(m->whiteouts, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->whiteouts = v;
		m->capwh = cap;
	}
	char *dup = strdup(target);
	if (!dup)
		return -ENOMEM;
	m->whiteouts[m->nwh++] = dup;
	return 0;
}

static unsigned char dtype_of(int dfd, const struct dirent *de, struct stat *st, bool *have_st)
{
	*have_st = false;
	if (de->d_type != DT_UNKNOWN)
		return de->d_type;
	if (fstatat(dfd, de->d_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	*have_st = true;
	return (unsigned char)IFTODT(st->st_mode);
}

static uint64_t entry_ino(int b, int dfd, const struct dirent *de, struct stat *st, bool have_st)
{
	if (!have_st) {
		st->st_dev = lfs->br[b].dev;
		st->st_ino = de->d_ino;
	}
	(void)dfd;
	return lfs_ino_for(b, st);
}

/* Adds a name no branch above has shown; 1 when that is all we wanted. */
static int list_name(struct merge_state *m, const char *name, uint64_t ino, unsigned char type)
{
	int ret = dirlist_add(m->out, name, ino, type);
	if (ret == 0)
		ret = nameset_add(&m->seen, m->out->v[m->out->n - 1].name);
	return ret == 0 && m->stop_at_first ? 1 : ret;
}

/* One entry of a lower branch, from the directory cache. */
static int visit_cached(void *arg, const char *name, unsigned char type, uint64_t d_ino,
			bool whiteout)
{
	struct merge_state *m = arg;
	if (nameset_has(&m->seen, name))
		return 0;
	if (whiteout)
		return defer_whiteout(m, name);
	struct stat st = { .st_dev = lfs->br[m->b].dev, .st_ino = d_ino };
	return list_name(m, name, lfs_ino_for(m->b, &st), type);
}

/* Reads one branch's part of the directory. */
static int merge_branch(struct merge_state *m, int b, const char *path)
{
	int pfd = lfs_open_dir(b, path);
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
	while (ret == 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (lfs_is_marker_name(name)) {
			const char *target = lfs_whiteout_target(name);
			if (target && lfs->br[b].wh && !nameset_has(&m->seen, target))
				ret = defer_whiteout(m, target);
			continue;
		}
		if (nameset_has(&m->seen, name))
			continue;
		struct stat st;
		bool have_st;
		unsigned char type = dtype_of(pfd, de, &st, &have_st);
		ret = list_name(m, name, entry_ino(b, pfd, de, &st, have_st), type);
	}
	closedir(d);
	close(pfd);
	return ret > 0 ? 0 : ret;
}

/* Whiteouts of a branch hide names only in the branches below it. */
static int commit_whiteouts(struct merge_state *m, char ***owned, size_t *nowned, size_t *capowned)
{
	for (size_t i = 0; i < m->nwh; i++) {
		if (*nowned == *capowned) {
			size_t cap = *capowned ? *capowned * 2 : 16;
			char **v = realloc(*owned, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			*owned = v;
			*capowned = cap;
		}
		(*owned)[(*nowned)++] = m->whiteouts[i];
		int ret = nameset_add(&m->seen, m->whiteouts[i]);
		m->whiteouts[i] = NULL;
		if (ret)
			return ret;
	}
	m->nwh = 0;
	return 0;
}

int lfs_dir_merge(struct node *dir, struct dirlist *out, bool stop_at_first)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char path[PATH_MAX];
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	int ret = lfs_node_path(dir, path, sizeof(path));
	if (ret)
		return ret;
	struct merge_state m = { .out = out, .stop_at_first = stop_at_first };
	char **owned = NULL;
	size_t nowned = 0, capowned = 0;
	/* A listing is mostly followed by lookups of its names: read the
	 * lower branches once, into the cache, and list from there. An
	 * emptiness check uses a cache that exists but builds none. */
	struct dircache *dc = stop_at_first ? lfs_dircache_peek(dir) : lfs_dircache_get(dir);
	for (unsigned i = 0; i < nd && ret == 0; i++) {
		m.b = dirbr[i];
		ret = lfs_branch_is_rw(m.b) ? -ENODATA : lfs_dircache_foreach(dc, m.b, visit_cached, &m);
		if (ret == -ENODATA)
			ret = merge_branch(&m, dirbr[i], path);
		ret = ret > 0 ? 0 : ret;
		if (ret == 0)
			ret = commit_whiteouts(&m, &owned, &nowned, &capowned);
		if (stop_at_first && out->n)
			break;
	}
	for (size_t i = 0; i < m.nwh; i++)
		free(m.whiteouts[i]);
	free(m.whiteouts);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(m.seen.slot);
	lfs_dircache_put(dc);
	return ret;
}
