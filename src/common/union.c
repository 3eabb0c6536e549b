/* The union rule: see include/layerfs/union.h. */
#include "layerfs/union.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/longwh.h"
#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

enum lfs_union_kind lfs_union_kind_of(bool present, mode_t mode, bool whiteout, bool opaque,
				      bool honours_wh)
{
	if (present && !S_ISDIR(mode))
		return LFS_UNION_NONDIR;
	if (present)
		return honours_wh && opaque ? LFS_UNION_OPAQUE_DIR : LFS_UNION_DIR;
	return honours_wh && whiteout ? LFS_UNION_WHITEOUT : LFS_UNION_ABSENT;
}

enum lfs_union_role lfs_union_step(struct lfs_union_walk *w, enum lfs_union_kind k)
{
	if (w->ended)
		return lfs_union_kind_present(k) ? LFS_UNION_HIDDEN : LFS_UNION_SILENT;
	switch (k) {
	case LFS_UNION_ABSENT:
		return LFS_UNION_SILENT;
	case LFS_UNION_WHITEOUT:
		w->ended = true;
		return LFS_UNION_HIDES;
	case LFS_UNION_NONDIR:
		w->ended = true;
		if (w->found)
			return LFS_UNION_HIDDEN;   /* a non-directory ends a directory's merge */
		w->found = true;
		w->is_dir = false;
		return LFS_UNION_SUPPLIES;
	case LFS_UNION_DIR:
	case LFS_UNION_OPAQUE_DIR:
		if (k == LFS_UNION_OPAQUE_DIR)
			w->ended = true;
		if (w->found)
			return LFS_UNION_MERGES;
		w->found = true;
		w->is_dir = true;
		return LFS_UNION_SUPPLIES;
	}
	return LFS_UNION_SILENT;
}

/* ---- reading a branch ---- */

bool lfs_union_dir_opaque_at(int dfd, const char *dirname)
{
	char path[NAME_MAX + sizeof(LFS_WH_OPAQUE) + 2];
	struct stat st;
	if (snprintf(path, sizeof(path), "%s/%s", dirname, LFS_WH_OPAQUE) >= (int)sizeof(path))
		return false;
	return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A redirect longer than this is not ours (paths have no limit, but no
 * directory is that deep). */
#define REDIRECT_MAX (1u << 20)

bool lfs_union_redirect_valid(const char *path)
{
	if (!*path || path[0] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		char comp[NAME_MAX + 1];
		if (len == 0 || len > NAME_MAX)
			return false;
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (!lfs_name_is_valid(comp) || lfs_is_marker_name(comp))
			return false;
		p += len;
		if (*p == '/' && !*++p)
			return false;      /* a trailing slash */
	}
	return true;
}

int lfs_union_redirect_at(int dfd, const char *dirname, char **target)
{
	*target = NULL;
	char path[NAME_MAX + sizeof(LFS_WH_OPAQUE) + 2];
	if (snprintf(path, sizeof(path), "%s/%s", dirname, LFS_WH_OPAQUE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	struct stat st;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (!S_ISREG(st.st_mode) || st.st_size == 0)) {
		close(fd);
		return 0;              /* a plain opaque marker */
	}
	if (ret == 0 && (size_t)st.st_size > REDIRECT_MAX)
		ret = -EINVAL;
	char *buf = ret == 0 ? malloc((size_t)st.st_size + 1) : NULL;
	if (ret == 0 && !buf)
		ret = -ENOMEM;
	ssize_t got = 0;
	while (ret == 0 && got < st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)(st.st_size - got), got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		got += n;
	}
	close(fd);
	if (ret == 0) {
		buf[got] = '\0';
		if (!lfs_union_redirect_valid(buf))
			ret = -EINVAL;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	*target = buf;
	return 1;
}

int lfs_union_opaque_beneath(int rootfd, const char *dirpath, const char *name)
{
	char path[PATH_MAX];
	int len = snprintf(path, sizeof(path), "%s%s%s/%s", dirpath, *dirpath ? "/" : "", name,
			   LFS_WH_OPAQUE);
	if (len < 0 || len >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = lfs_openat_beneath(rootfd, path, O_PATH | O_CLOEXEC, 0, true);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 1 : fd == -ENOENT ? 0 : fd;
}

bool lfs_union_whiteout_at(int dfd, const char *name)
{
	if (lfs_whiteout_is_long(name))
		return lfs_longwh_has(dfd, name) == 1;
	char wh[NAME_MAX + 1];
	struct stat st;
	if (lfs_whiteout_name(name, wh, sizeof(wh)))
		return false;
	return fstatat(dfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int lfs_union_probe_at(int dfd, const char *name, bool honours_wh, struct stat *st,
		       enum lfs_union_kind *kind)
{
	struct stat own;
	if (!st)
		st = &own;
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0) {
		bool opaque = honours_wh && S_ISDIR(st->st_mode) && lfs_union_dir_opaque_at(dfd, name);
		*kind = lfs_union_kind_of(true, st->st_mode, false, opaque, honours_wh);
		return 0;
	}
	/* A name too long for this filesystem is not there (but its whiteout
	 * may be, once long names have a spelling of their own). */
	if (errno != ENOENT && errno != ENAMETOOLONG)
		return -errno;
	*kind = lfs_union_kind_of(false, 0, honours_wh && lfs_union_whiteout_at(dfd, name), false, honours_wh);
	return 0;
}

int lfs_union_probe_fds(void *ctx, unsigned branch, const char *dirpath, const char *name,
			enum lfs_union_kind *kind)
{
	const struct lfs_union_fds *f = ctx;
	int dfd = lfs_openat_beneath(f->fd[branch], dirpath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
				     true);
	if (dfd < 0) {
		*kind = LFS_UNION_ABSENT;
		return dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP ? 0 : dfd;
	}
	int ret = lfs_union_probe_at(dfd, name, f->honours_wh ? f->honours_wh[branch] : true, NULL,
				     kind);
	close(dfd);
	return ret;
}

/* One component through the branches in[0..nin) of its parent: the
 * branches it takes part in go to out. */
static int resolve_component(const struct lfs_union_stack *s, const unsigned *in, unsigned nin,
			     const char *dirpath, const char *name, unsigned *out, unsigned *nout,
			     unsigned *supplier, enum lfs_union_kind *kind)
{
	struct lfs_union_walk w = LFS_UNION_WALK_INIT;
	*nout = 0;
	for (unsigned i = 0; i < nin && !w.ended; i++) {
		enum lfs_union_kind k;
		int ret = s->probe(s->ctx, in[i], dirpath, name, &k);
		if (ret)
			return ret;
		enum lfs_union_role role = lfs_union_step(&w, k);
		if (role == LFS_UNION_SUPPLIES) {
			*supplier = in[i];
			*kind = k;
		}
		if (role == LFS_UNION_SUPPLIES || role == LFS_UNION_MERGES)
			out[(*nout)++] = in[i];
	}
	return w.found ? 0 : -ENOENT;
}

int lfs_union_resolve_path(const struct lfs_union_stack *s, const char *path, unsigned *out,
			   unsigned *nout, unsigned *supplier, enum lfs_union_kind *kind)
{
	size_t len = strlen(path);
	unsigned *cur = malloc((s->n ? s->n : 1) * sizeof(*cur));
	char *comps = strdup(path), *walked = malloc(len + 1);
	int ret = cur && comps && walked ? 0 : -ENOMEM;
	unsigned ncur = s->n;
	for (unsigned i = 0; i < s->n && cur; i++)
		cur[i] = i;
	*supplier = 0;
	*kind = LFS_UNION_DIR;        /* the root: every branch merges */
	if (ret == 0 && s->n == 0)
		ret = -ENOENT;
	size_t wl = 0;
	char *save = NULL;
	for (char *name = ret ? NULL : strtok_r(comps, "/", &save); name;
	     name = strtok_r(NULL, "/", &save)) {
		walked[wl] = '\0';
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			ret = -EINVAL;      /* paths are taken as they stand, never climbed */
			break;
		}
		if (!lfs_union_kind_is_dir(*kind)) {
			ret = -ENOTDIR;
			break;
		}
		ret = resolve_component(s, cur, ncur, walked, name, out, nout, supplier, kind);
		if (ret)
			break;
		memcpy(cur, out, *nout * sizeof(*cur));
		ncur = *nout;
		wl += (size_t)sprintf(walked + wl, "%s%s", wl ? "/" : "", name);
	}
	if (ret == 0) {
		memcpy(out, cur, ncur * sizeof(*out));
		*nout = ncur;
	}
	free(cur);
	free(comps);
	free(walked);
	return ret;
}

/* ---- a merged listing ---- */

enum lfs_union_entry lfs_union_classify(const char *entry, bool honours_wh, const char **target)
{
	*target = NULL;
	if (!strcmp(entry, ".") || !strcmp(entry, ".."))
		return LFS_UNION_ENTRY_IGNORED;
	if (!lfs_is_marker_name(entry))
		return LFS_UNION_ENTRY_NAME;
	if (honours_wh && strcmp(entry, LFS_WH_LONG) == 0)
		return LFS_UNION_ENTRY_LONG_WHITEOUTS;
	const char *t = honours_wh ? lfs_whiteout_target(entry) : NULL;
	if (!t)
		return LFS_UNION_ENTRY_IGNORED;
	*target = t;
	return LFS_UNION_ENTRY_WHITEOUT;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static const char *pool_name(const struct lfs_union_list *l, uint32_t slot)
{
	return l->pool + slot - 1;
}

static size_t find_slot(const struct lfs_union_list *l, const char *name, bool *found)
{
	size_t j = name_hash(name) & (l->cap - 1);
	while (l->slot[j]) {
		if (strcmp(pool_name(l, l->slot[j]), name) == 0) {
			*found = true;
			return j;
		}
		j = (j + 1) & (l->cap - 1);
	}
	*found = false;
	return j;
}

static int grow_table(struct lfs_union_list *l)
{
	size_t cap = l->cap ? l->cap * 2 : 64;
	uint32_t *slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	uint32_t *old = l->slot;
	size_t oldcap = l->cap;
	l->slot = slot;
	l->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i])
			continue;
		bool found;
		l->slot[find_slot(l, pool_name(l, old[i]), &found)] = old[i];
	}
	free(old);
	return 0;
}

/* Copies name into the pool; its offset in *off. */
static int pool_add(struct lfs_union_list *l, const char *name, size_t *off)
{
	size_t len = strlen(name) + 1;
	if (l->poollen + len > UINT32_MAX - 1)
		return -ENOMEM;
	if (l->poollen + len > l->poolcap) {
		size_t cap = l->poolcap ? l->poolcap * 2 : 4096;
		while (cap < l->poollen + len)
			cap *= 2;
		char *p = realloc(l->pool, cap);
		if (!p)
			return -ENOMEM;
		l->pool = p;
		l->poolcap = cap;
	}
	memcpy(l->pool + l->poollen, name, len);
	*off = l->poollen;
	l->poollen += len;
	return 0;
}

/* Adds name to the set; 1 when it is new, 0 when it was there. */
static int set_add(struct lfs_union_list *l, const char *name, size_t off_known, bool have_off)
{
	if ((l->used + 1) * 2 > l->cap && grow_table(l) < 0)
		return -ENOMEM;
	bool found;
	size_t j = find_slot(l, name, &found);
	if (found)
		return 0;
	size_t off = off_known;
	if (!have_off && pool_add(l, name, &off) < 0)
		return -ENOMEM;
	l->slot[j] = (uint32_t)(off + 1);
	l->used++;
	return 1;
}

bool lfs_union_list_has(const struct lfs_union_list *l, const char *name)
{
	bool found = false;
	if (l->cap)
		find_slot(l, name, &found);
	return found;
}

int lfs_union_list_name(struct lfs_union_list *l, const char *name)
{
	return set_add(l, name, 0, false);
}

int lfs_union_list_whiteout(struct lfs_union_list *l, const char *target)
{
	if (lfs_union_list_has(l, target))
		return 0;            /* listed or hidden from above already */
	if (l->npending == l->cappending) {
		size_t cap = l->cappending ? l->cappending * 2 : 16;
		size_t *v = realloc(l->pending, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->pending = v;
		l->cappending = cap;
	}
	size_t off;
	if (pool_add(l, target, &off) < 0)
		return -ENOMEM;
	l->pending[l->npending++] = off;
	return 0;
}


static int list_long(void *arg, const char *name)
{
	return lfs_union_list_whiteout(arg, name);
}

int lfs_union_list_long_whiteouts(struct lfs_union_list *l, int dfd)
{
	return lfs_union_list_foreach_long(dfd, list_long, l);
}

int lfs_union_list_foreach_long(int dfd, int (*fn)(void *arg, const char *target), void *arg)
{
	return lfs_longwh_foreach(dfd, fn, arg);
}

int lfs_union_list_entry(struct lfs_union_list *l, int dfd, const char *entry, bool honours_wh)
{
	const char *target;
	switch (lfs_union_classify(entry, honours_wh, &target)) {
	case LFS_UNION_ENTRY_NAME:
		return lfs_union_list_name(l, entry);
	case LFS_UNION_ENTRY_WHITEOUT:
		return lfs_union_list_whiteout(l, target);
	case LFS_UNION_ENTRY_LONG_WHITEOUTS:
		return dfd >= 0 ? lfs_union_list_long_whiteouts(l, dfd) : 0;
	default:
		return 0;
	}
}

int lfs_union_list_end_branch(struct lfs_union_list *l)
{
	/* A name this branch both holds and whites out was listed from it: the
	 * whiteout then hides only what is below, which the name does anyway. */
	for (size_t i = 0; i < l->npending; i++) {
		size_t off = l->pending[i];
		if (set_add(l, l->pool + off, off, true) < 0)
			return -ENOMEM;
	}
	l->npending = 0;
	return 0;
}

void lfs_union_list_free(struct lfs_union_list *l)
{
	free(l->slot);
	free(l->pool);
	free(l->pending);
	memset(l, 0, sizeof(*l));
}
