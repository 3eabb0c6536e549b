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
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerctl.h"
#include "layerwrite.h"
#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"
#include "store.h"

struct lower {
	int fd[512];   /* O_PATH roots, top first: init, then layers top to bottom */
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

/* lstat of REL in a branch without following any symlink on the way. */
static bool branch_stat(int root, const char *rel, struct stat *st)
{
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	int pfd = lfs_openat_beneath(root, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, true);
	if (pfd < 0)
		return false;
	bool ok = fstatat(pfd, slash ? slash + 1 : rel, st, AT_SYMLINK_NOFOLLOW) == 0;
	close(pfd);
	return ok;
}

/* The whiteout for REL ("dir/.wh.name") exists in the branch. */
static bool branch_whiteout(int root, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char wh[NAME_MAX + 1], path[PATH_MAX];
	if (lfs_whiteout_name(slash ? slash + 1 : rel, wh, sizeof(wh)) < 0)
		return false;
	snprintf(path, sizeof(path), "%.*s%s%s", slash ? (int)(slash - rel) : 0, rel,
		 slash ? "/" : "", wh);
	struct stat st;
	return branch_stat(root, path, &st);
}

static bool branch_opaque(int root, const char *dir)
{
	char *p = join(dir, LFS_WH_OPAQUE);
	struct stat st;
	bool ok = branch_stat(root, p, &st);
	free(p);
	return ok;
}

/* Indices of the lower branches whose directory DIR takes part in the
 * merged directory, top first; their count. */
static size_t lower_dir_branches(const struct lower *lw, const char *dir, size_t *out)
{
	size_t n = lw->n;
	for (size_t i = 0; i < n; i++)
		out[i] = i;
	if (!*dir)
		return n;
	char *prefix = strdup(dir);
	for (char *p = prefix;; p++) {
		bool last = *p == '\0';
		if (*p != '/' && !last)
			continue;
		*p = '\0';
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			struct stat st;
			int root = lw->fd[out[i]];
			if (branch_stat(root, prefix, &st)) {
				if (!S_ISDIR(st.st_mode))
					break;
				out[m++] = out[i];
				if (branch_opaque(root, prefix))
					break;
			} else if (branch_whiteout(root, prefix)) {
				break;
			}
		}
		n = m;
		if (last || !n)
			break;
		*p = '/';
	}
	free(prefix);
	return n;
}

/* The lower view has REL (any type). */
static bool lower_exists(const struct lower *lw, const char *rel)
{
	size_t idx[sizeof(lw->fd) / sizeof(lw->fd[0])];
	const char *slash = strrchr(rel, '/');
	char *parent = strndup(rel, slash ? (size_t)(slash - rel) : 0);
	size_t n = lower_dir_branches(lw, parent, idx);
	free(parent);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (branch_stat(lw->fd[idx[i]], rel, &st))
			return true;
		if (branch_whiteout(lw->fd[idx[i]], rel))
			return false;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}


static void hide(void **hidden, const char *name)
{
	if (!tfind(name, hidden, cmp_str))
		tsearch(strdup(name), hidden, cmp_str);
}

/* For an opaque directory REL of rw/ (sorted names RWNAMES): D for every
 * name the lower view shows in REL that rw/ does not have. A branch hides
 * from the branches below it the names it whites out and the names it has. */
static void opaque_deletions(const struct lower *lw, const char *rel, char **rwnames,
			     size_t nrw, struct changes *out)
{
	size_t idx[sizeof(lw->fd) / sizeof(lw->fd[0])];
	size_t n = lower_dir_branches(lw, rel, idx);
	void *hidden = NULL;
	for (size_t i = 0; i < n; i++) {
		int fd = lfs_openat_beneath(lw->fd[idx[i]], rel, O_PATH | O_DIRECTORY | O_CLOEXEC,
					    0, true);
		char **names = NULL;
		ssize_t k = fd >= 0 ? lw_sorted_names(fd, &names) : -1;
		if (fd >= 0)
			close(fd);
		for (ssize_t j = 0; j < k; j++) {
			if (lfs_is_marker_name(names[j]) || tfind(names[j], &hidden, cmp_str) ||
			    bsearch(&names[j], rwnames, nrw, sizeof(char *), lw_cmp_strp))
				continue;
			char *p = join(rel, names[j]);
			add_change(out, 'D', p);
			free(p);
		}
		for (ssize_t j = 0; j < k; j++) {
			const char *t = lfs_whiteout_target(names[j]);
			if (t || !lfs_is_marker_name(names[j]))
				hide(&hidden, t ? t : names[j]);
		}
		lw_free_names(names, k);
	}
	tdestroy(hidden, free);
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
	bool opaque = fstatat(dirfd, LFS_WH_OPAQUE, &st, AT_SYMLINK_NOFOLLOW) == 0;
	for (ssize_t i = 0; i < n; i++) {
		const char *target = lfs_whiteout_target(names[i]);
		if (target) {
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
	if (store_open(&s, ctl->store_root, false) < 0)
		return CTL_FAIL;
	json_t *ctr = store_container_load(&s, argv[1]);
	int rc = CTL_FAIL;
	if (!ctr)
		fprintf(stderr, "layerctl: diff: no container named %s\n", argv[1]);
	else
		rc = diff_container(&s, argv[1], ctr);
	json_decref(ctr);
	store_close(&s);
	return rc;
}
