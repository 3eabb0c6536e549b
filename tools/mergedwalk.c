/* Walking a merged view: see mergedwalk.h. */
#include "mergedwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "dirnames.h"

void mw_stack_free(struct mw_stack *s)
{
	for (unsigned i = 0; i < s->n; i++)
		close(s->fd[i]);
	free(s->fd);
	s->fd = NULL;
	s->n = 0;
}

static int stack_push(struct mw_stack *s, int fd)
{
	int *v = realloc(s->fd, (s->n + 1) * sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = v;
	s->fd[s->n++] = fd;
	return 0;
}

int mw_stack_at(const struct mw_view *view, const char *path, struct mw_stack *out)
{
	*out = (struct mw_stack){ NULL, 0, false };
	if (!view || !view->nroots)
		return 0;
	unsigned *idx = malloc(view->nroots * sizeof(*idx)), n = 0, supplier;
	if (!idx)
		return -ENOMEM;
	enum lfs_union_kind kind;
	struct lfs_union_fds fds = { view->roots, NULL };
	struct lfs_union_stack s = { view->nroots, lfs_union_probe_fds, &fds };
	int ret = lfs_union_resolve_path(&s, path, idx, &n, &supplier, &kind);
	if (ret || !lfs_union_kind_is_dir(kind)) {
		free(idx);
		return ret == -ENOENT || ret == -ENOTDIR || ret == 0 ? 0 : ret;
	}
	for (unsigned i = 0; i < n && ret == 0; i++) {
		int fd = lfs_openat_beneath(view->roots[idx[i]], path, O_PATH | O_DIRECTORY, 0, true);
		ret = fd < 0 ? fd : stack_push(out, fd);
	}
	free(idx);
	if (ret)
		mw_stack_free(out);
	return ret;
}

/* Appends the lower view's copies of path to s. */
static int append_view(const struct mw_view *view, const char *path, struct mw_stack *s)
{
	struct mw_stack low;
	int ret = mw_stack_at(view, path, &low);
	for (unsigned i = 0; ret == 0 && i < low.n; i++) {
		ret = stack_push(s, low.fd[i]);
		low.fd[i] = -1;
	}
	for (unsigned i = 0; i < low.n; i++)
		if (low.fd[i] >= 0)
			close(low.fd[i]);
	free(low.fd);
	return ret;
}

int mw_stack_rw(const struct mw_view *view, int rwdir_fd, struct mw_stack *out)
{
	*out = (struct mw_stack){ NULL, 0, true };
	int fd = fcntl(rwdir_fd, F_DUPFD_CLOEXEC, 0);
	int ret = fd < 0 ? -errno : stack_push(out, fd);
	char *target = NULL;
	if (ret == 0 && lfs_union_redirect_at(rwdir_fd, ".", &target) == 1)
		ret = append_view(view, target, out);
	free(target);
	if (ret)
		mw_stack_free(out);
	return ret;
}

/* The names the merged directory shows, sorted; their count or -errno. */
static ssize_t shown_names(const struct mw_stack *dir, char ***out)
{
	struct lfs_union_list l = LFS_UNION_LIST_INIT;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;
	for (unsigned i = 0; i < dir->n && ret == 0; i++) {
		char **names;
		ssize_t k = lw_sorted_names(dir->fd[i], &names);
		for (ssize_t j = 0; j < k && ret == 0; j++) {
			int shown = lfs_union_list_entry(&l, dir->fd[i], names[j], true);
			if (shown == -ENOMEM)
				ret = shown;
			if (shown != 1)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 32;
				char **w = realloc(v, cap * sizeof(*w));
				if (!w) {
					ret = -ENOMEM;
					break;
				}
				v = w;
			}
			v[n++] = names[j];
			names[j] = NULL;
		}
		lw_free_names(names, k);
		if (ret == 0)
			ret = lfs_union_list_end_branch(&l);
	}
	lfs_union_list_free(&l);
	if (ret) {
		lw_free_names(v, (ssize_t)n);
		return ret;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), lw_cmp_strp);
	*out = v;    /* NULL when empty */
	return (ssize_t)n;
}

/* One shown name: its supplier, and for a directory the stack below it. */
static int visit_name(const struct mw_view *view, const struct mw_stack *dir, const char *name,
		      mw_visit fn, void *arg)
{
	struct lfs_union_walk w = LFS_UNION_WALK_INIT;
	struct mw_stack sub = { NULL, 0, false };
	struct stat st, top;
	int supplier = -1, ret = 0;
	enum lfs_union_kind top_kind = LFS_UNION_ABSENT;
	for (unsigned i = 0; i < dir->n && !w.ended && ret == 0; i++) {
		enum lfs_union_kind kind;
		if (lfs_union_probe_at(dir->fd[i], name, true, &st, &kind))
			continue;
		enum lfs_union_role role = lfs_union_step(&w, kind);
		if (role == LFS_UNION_SUPPLIES) {
			supplier = (int)i;
			top = st;
			top_kind = kind;
			sub.top_is_rw = dir->top_is_rw && i == 0;
		}
		if (w.is_dir && (role == LFS_UNION_SUPPLIES || role == LFS_UNION_MERGES)) {
			int fd = openat(dir->fd[i], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ret = fd < 0 ? -errno : stack_push(&sub, fd);
		}
	}
	/* A redirected directory of the rw layer: its lower parts are where the
	 * redirect says, not below this name. */
	char *target = NULL;
	if (ret == 0 && sub.top_is_rw && top_kind == LFS_UNION_OPAQUE_DIR &&
	    lfs_union_redirect_at(dir->fd[0], name, &target) == 1)
		ret = append_view(view, target, &sub);
	free(target);
	if (ret == 0 && supplier >= 0)
		ret = fn(arg, name, dir->fd[supplier], &top, w.is_dir ? &sub : NULL);
	mw_stack_free(&sub);
	return ret;
}

int mw_list(const struct mw_view *view, const struct mw_stack *dir, mw_visit fn, void *arg)
{
	char **names = NULL;
	ssize_t n = shown_names(dir, &names);
	if (n < 0)
		return (int)n;
	int ret = 0;
	for (ssize_t i = 0; i < n && ret >= 0; i++)
		ret = visit_name(view, dir, names[i], fn, arg);
	lw_free_names(names, n);
	return ret < 0 ? ret : 0;
}
