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
#include "layerwrite.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "store.h"

#define LOWER_MAX 512
struct lower {
	int fd[LOWER_MAX]; /* O_PATH roots, top first: init, then layers top to bottom */
	size_t n;
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
	unsigned out[LOWER_MAX], nout, supplier;
	enum lfs_union_kind kind;
	struct lfs_union_fds fds;
	struct lfs_union_stack s = lower_stack(lw, &fds);
	return lfs_union_resolve_path(&s, rel, out, &nout, &supplier, &kind) == 0;
}

/* For an opaque directory REL of rw/ (sorted names RWNAMES): D for every
 * name the lower view shows in REL that rw/ does not have. */
static void opaque_deletions(const struct lower *lw, const char *rel, char **rwnames,
			     size_t nrw, struct changes *out)
{
	unsigned idx[LOWER_MAX], n, supplier;
	enum lfs_union_kind kind;
	struct lfs_union_fds fds;
	struct lfs_union_stack s = lower_stack(lw, &fds);
	if (lfs_union_resolve_path(&s, rel, idx, &n, &supplier, &kind) < 0 ||
	    !lfs_union_kind_is_dir(kind))
		return;
	struct lfs_union_list shown = LFS_UNION_LIST_INIT;
	for (unsigned i = 0; i < n; i++) {
		int fd = lfs_openat_beneath(lw->fd[idx[i]], rel, O_PATH | O_DIRECTORY | O_CLOEXEC,
					    0, true);
		char **names = NULL;
		ssize_t k = fd >= 0 ? lw_sorted_names(fd, &names) : -1;
		if (fd >= 0)
			close(fd);
		for (ssize_t j = 0; j < k; j++) {
			int listed = lfs_union_list_entry(&shown, names[j], true);
			if (listed < 0)
				abort();
			if (listed == 0 ||
			    bsearch(&names[j], rwnames, nrw, sizeof(char *), lw_cmp_strp))
				continue;
			char *p = join(rel, names[j]);
			add_change(out, 'D', p);
			free(p);
		}
		lw_free_names(names, k);
		if (lfs_union_list_end_branch(&shown) < 0)
			abort();
	}
	lfs_union_list_free(&shown);
}

static bool skip_name(const char *name)
{
	return lfs_is_meta_name(name);   /* the opaque marker included: handled apart */
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
	for (ssize_t i = 0; i < n; i++) {
		const char *target;
		if (lfs_union_classify(names[i], true, &target) == LFS_UNION_ENTRY_WHITEOUT) {
			char *p = join(rel, target);
			if (!is_new && !opaque && fstatat(dirfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
			    lower_exists(lw, p))
				add_change(out, 'D', p);
			free(p);
			continue;
		}
		if (skip_name(names[i]) || fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *p = join(rel, names[i]);
		bool existed = !is_new && lower_exists(lw, p);
		add_change(out, existed ? 'C' : 'A', p);
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				walk(lw, fd, p, !existed, out);
				close(fd);
			}
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

static int open_branch(const char *path, struct lower *lw)
{
	if (lw->n == sizeof(lw->fd) / sizeof(lw->fd[0])) {
		fprintf(stderr, "layerctl: diff: too many layers\n");
		return -1;
	}
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "layerctl: diff: %s: %s\n", path, strerror(errno));
		return -1;
	}
	lw->fd[lw->n++] = fd;
	return 0;
}

/* init/, then the layers top to bottom. */
static int open_lower(const struct store *s, const char *cdir, json_t *ctr, struct lower *lw)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/init", cdir);
	if (open_branch(path, lw) < 0)
		return -1;
	json_t *layers = json_object_get(ctr, "layers");
	for (size_t i = json_array_size(layers); i-- > 0;) {
		char hex[65], dir[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, i));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, dir, sizeof(dir)) < 0) {
			fprintf(stderr, "layerctl: diff: bad layer id in container.json\n");
			return -1;
		}
		snprintf(path, sizeof(path), "%s/diff", dir);
		if (open_branch(path, lw) < 0)
			return -1;
	}
	return 0;
}

static int diff_container(const struct store *s, const char *name, json_t *ctr)
{
	char cdir[PATH_MAX], rw[PATH_MAX + 8];
	struct lower lw = { .n = 0 };
	struct changes out = { 0 };
	int rc = CTL_FAIL;
	if (store_container_path(s, name, cdir, sizeof(cdir)) < 0 || open_lower(s, cdir, ctr, &lw) < 0)
		goto done;
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
	for (size_t i = 0; i < lw.n; i++)
		close(lw.fd[i]);
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
