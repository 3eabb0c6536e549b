/* layerctl diff NAME: the changes in a container's rw layer, like
 * `docker diff`: one line per path, "A /path" added, "C /path" changed,
 * "D /path" deleted, sorted by path.
 *
 * The lower view is what the container started from: its init layer over
 * the image layers, with their whiteouts and opaque markers honoured.
 *   - A name in rw/ is C when the lower view has that path (of any type),
 *     else A; everything below an A directory is A. A directory in rw/ is
 *     there because something below it (or its own metadata) changed, so a
 *     directory the lower view has is always C.
 *   - A whiteout .wh.NAME is "D /.../NAME" when the lower view has NAME
 *     (a deleted directory is one line, as in docker); a whiteout for a name
 *     the lower view lacks changes nothing and is not shown.
 *   - An opaque directory (.wh..wh..opq in rw/) is C (or A) itself, and each
 *     name the lower view had directly inside it that rw/ does not have
 *     again is D (one line per such name; its subtree is not listed).
 *   - Branch metadata (.wh..wh.aufs, .wh..wh.orph/, .wh..wh.plnk/) and
 *     marker names are never shown. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerctl.h"
#include "ctrview.h"
#include "dirnames.h"
#include "layerwrite.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "store.h"

/* The lower view: init, then the layers top to bottom (ctrview.h). */
struct lower {
	const int *fd;
	size_t n;
	const struct mw_view *view;
};

struct change {
	char kind;
	char *path;    /* "/a/b" */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static void add_change(struct changes *c, char kind, const char *rel)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (!c->v)
			abort();
	}
	if (asprintf(&c->v[c->n].path, "/%s", rel) < 0)
		abort();
	c->v[c->n++].kind = kind;
}

static char *join(const char *rel, const char *name)
{
	char *p;
	if (asprintf(&p, "%s%s%s", rel, *rel ? "/" : "", name) < 0)
		abort();
	return p;
}

/* The lower view as a union stack. */
static struct lfs_union_stack lower_stack(const struct lower *lw, struct lfs_union_fds *fds)
{
	*fds = (struct lfs_union_fds){ lw->fd, NULL };
	return (struct lfs_union_stack){ (unsigned)lw->n, lfs_union_probe_fds, fds };
}

/* The lower view has REL (any type). */
static bool lower_exists(const struct lower *lw, const char *rel)
{
	unsigned *out = malloc((lw->n ? lw->n : 1) * sizeof(*out)), nout, supplier;
	if (!out)
		abort();
	enum lfs_union_kind kind;
	struct lfs_union_fds fds;
	struct lfs_union_stack s = lower_stack(lw, &fds);
	bool has = lfs_union_resolve_path(&s, rel, out, &nout, &supplier, &kind) == 0;
	free(out);
	return has;
}

/* For an opaque directory REL of rw/ (sorted names RWNAMES): D for every
 * name the lower view shows in REL that rw/ does not have. */
static void opaque_deletions(const struct lower *lw, const char *rel, char **rwnames,
			     size_t nrw, struct changes *out)
{
	unsigned *idx = malloc((lw->n ? lw->n : 1) * sizeof(*idx)), n, supplier;
	if (!idx)
		abort();
	enum lfs_union_kind kind;
	struct lfs_union_fds fds;
	struct lfs_union_stack s = lower_stack(lw, &fds);
	if (lfs_union_resolve_path(&s, rel, idx, &n, &supplier, &kind) < 0 ||
	    !lfs_union_kind_is_dir(kind)) {
		free(idx);
		return;
	}
	struct lfs_union_list shown = LFS_UNION_LIST_INIT;
	for (unsigned i = 0; i < n; i++) {
		int fd = lfs_openat_beneath(lw->fd[idx[i]], rel, O_PATH | O_DIRECTORY | O_CLOEXEC,
					    0, true);
		char **names = NULL;
		ssize_t k = fd >= 0 ? lw_sorted_names(fd, &names) : -1;
		for (ssize_t j = 0; j < k; j++) {
			int listed = lfs_union_list_entry(&shown, fd, names[j], true);
			if (listed == -ENOMEM)
				abort();
			if (listed <= 0 ||
			    bsearch(&names[j], rwnames, nrw, sizeof(char *), lw_cmp_strp))
				continue;
			char *p = join(rel, names[j]);
			add_change(out, 'D', p);
			free(p);
		}
		lw_free_names(names, k);
		if (fd >= 0)
			close(fd);
		if (lfs_union_list_end_branch(&shown) < 0)
			abort();
	}
	lfs_union_list_free(&shown);
	free(idx);
}

static bool skip_name(const char *name)
{
	return lfs_is_meta_name(name);   /* the opaque marker included: handled apart */
}

/* A whiteout in rw/ directory DIRFD (path REL) of TARGET: D when the lower
 * view has what it hides. */
struct deletion_ctx {
	const struct lower *lw;
	int dirfd;
	const char *rel;
	struct changes *out;
};

static int whiteout_change(void *arg, const char *target)
{
	struct deletion_ctx *c = arg;
	struct stat st;
	char *p = join(c->rel, target);
	if (fstatat(c->dirfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 && lower_exists(c->lw, p))
		add_change(c->out, 'D', p);
	free(p);
	return 0;
}

/* ---- a directory the container renamed (a redirect) ---- */

struct merged_ctx {
	const struct lower *lw;
	const char *rel;
	struct changes *out;
};

/* Everything below a redirected directory comes from its rw copy and its
 * lower parts elsewhere: at its new path each entry is new (A), or changed
 * (C) where the lower view had that path too. */
static int merged_change(void *arg, const char *name, int dfd, const struct stat *st,
			 const struct mw_stack *sub)
{
	(void)dfd;
	(void)st;
	struct merged_ctx *c = arg;
	char *p = join(c->rel, name);
	add_change(c->out, lower_exists(c->lw, p) ? 'C' : 'A', p);
	if (sub) {
		struct merged_ctx below = { c->lw, p, c->out };
		mw_list(c->lw->view, sub, merged_change, &below);
	}
	free(p);
	return 0;
}

/* The merged names of a redirected directory (sorted), for the deletions
 * its opaque marker makes at its new path. */
struct names_ctx {
	char **v;
	size_t n;
};

static int collect_merged(void *arg, const char *name, int dfd, const struct stat *st,
			  const struct mw_stack *sub)
{
	(void)dfd;
	(void)st;
	(void)sub;
	struct names_ctx *c = arg;
	char **v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v || !(v[c->n] = strdup(name)))
		abort();
	c->v = v;
	c->n++;
	return 0;
}

static void walk_redirected(const struct lower *lw, int dirfd, const char *rel, bool is_new,
			    struct changes *out)
{
	struct mw_stack stack;
	if (mw_stack_rw(lw->view, dirfd, &stack) < 0) {
		fprintf(stderr, "layerctl: diff: cannot read /%s\n", rel);
		return;
	}
	struct merged_ctx c = { lw, rel, out };
	mw_list(lw->view, &stack, merged_change, &c);
	if (!is_new) {
		struct names_ctx names = { NULL, 0 };
		mw_list(lw->view, &stack, collect_merged, &names);
		opaque_deletions(lw, rel, names.v, names.n, out);
		lw_free_names(names.v, (ssize_t)names.n);
	}
	mw_stack_free(&stack);
}

/* Walks rw/ directory DIRFD (path REL); is_new: the lower view lacks it. */
static void walk(const struct lower *lw, int dirfd, const char *rel, bool is_new,
		 struct changes *out)
{
	char **names;
	ssize_t n = lw_sorted_names(dirfd, &names);
	if (n < 0) {
		fprintf(stderr, "layerctl: diff: cannot read /%s: %s\n", rel, strerror(errno));
		return;
	}
	struct stat st;
	bool opaque = lfs_union_dir_opaque_at(dirfd, ".");
	struct deletion_ctx del = { lw, dirfd, rel, out };
	for (ssize_t i = 0; i < n; i++) {
		const char *target;
		switch (lfs_union_classify(names[i], true, &target)) {
		case LFS_UNION_ENTRY_WHITEOUT:
			if (!is_new && !opaque)
				whiteout_change(&del, target);
			continue;
		case LFS_UNION_ENTRY_LONG_WHITEOUTS:
			if (!is_new && !opaque)
				lfs_union_list_foreach_long(dirfd, whiteout_change, &del);
			continue;
		default:
			break;
		}
		if (skip_name(names[i]) || fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *p = join(rel, names[i]);
		bool existed = !is_new && lower_exists(lw, p);
		add_change(out, existed ? 'C' : 'A', p);
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			char *redirect = NULL;
			if (fd >= 0 && lfs_union_redirect_at(fd, ".", &redirect) == 1)
				walk_redirected(lw, fd, p, !existed, out);
			else if (fd >= 0)
				walk(lw, fd, p, !existed, out);
			free(redirect);
			if (fd >= 0)
				close(fd);
		}
		free(p);
	}
	if (opaque && !is_new) {
		/* names of rw/ without the markers, still sorted */
		size_t m = 0;
		for (ssize_t i = 0; i < n; i++)
			if (!lfs_is_marker_name(names[i]))
				names[m++] = names[i];
			else
				free(names[i]);
		opaque_deletions(lw, rel, names, m, out);
		n = (ssize_t)m;
	}
	lw_free_names(names, n);
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

static int diff_container(const struct store *s, const char *name, json_t *ctr)
{
	char cdir[PATH_MAX], rw[PATH_MAX + 8];
	struct ctr_view view;
	struct changes out = { 0 };
	if (store_container_path(s, name, cdir, sizeof(cdir)) < 0 ||
	    ctr_view_open(s, name, ctr, "diff", &view) < 0)
		return CTL_FAIL;
	struct lower lw = { view.fd, view.n, &view.view };
	int rc = CTL_FAIL;
	snprintf(rw, sizeof(rw), "%s/rw", cdir);
	int rwfd = open(rw, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rwfd < 0) {
		fprintf(stderr, "layerctl: diff: %s: %s\n", rw, strerror(errno));
		goto done;
	}
	walk(&lw, rwfd, "", false, &out);
	close(rwfd);
	if (out.n > 1)
		qsort(out.v, out.n, sizeof(*out.v), cmp_change);
	for (size_t i = 0; i < out.n; i++)
		printf("%c %s\n", out.v[i].kind, out.v[i].path);
	rc = CTL_OK;
done:
	for (size_t i = 0; i < out.n; i++)
		free(out.v[i].path);
	free(out.v);
	ctr_view_close(&view);
	return rc;
}

int cmd_diff(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: layerctl diff NAME\n");
		return CTL_USAGE;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, argv[1], "diff");
	if (!ctr)
		return CTL_FAIL;
	int rc = diff_container(&s, argv[1], ctr);
	json_decref(ctr);
	store_close(&s);
	return rc;
}
