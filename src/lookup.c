/* Resolving a name in a merged directory, and the attributes shown for a
 * node: see lookup.h. What hides what is the union rule's; this file only
 * asks each branch, as cheaply as it can, and feeds the answers to it. */
#include "lookup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "dircache.h"
#include "idmap.h"
#include "ino.h"
#include "layerfs/metacopy.h"
#include "layerfs/union.h"
#include "nodepath.h"
#include "objref.h"
#include "plink.h"

/* What the rw branch adds to a probe: the number an object shows, and the
 * redirect of a directory (where its lower parts are). */
struct rw_probe {
	uint64_t shown;
	char *redirect;
	bool metacopy;
	struct lfs_metacopy mc;
};

/* Branch b's kind for name, read from the branch (st filled when the name
 * is present; rw, when asked for, filled for an object of the rw branch).
 * A directory path the branch lacks says nothing. */
static int probe_branch(struct node *dir, int b, const char *dirpath, const char *name,
			struct stat *st, enum lfs_union_kind *kind, struct rw_probe *rw)
{
	/* the rw directory by the fd its node keeps (objref.c) */
	bool by_node = dir && lfs_branch_is_rw(b);
	struct objref pd;
	int dfd = by_node ? lfs_obj_locate_dir(dir, b, &pd) : lfs_open_dir(b, dirpath);
	if (by_node && dfd == 0)
		dfd = pd.dfd;
	if (dfd < 0) {
		*kind = LFS_UNION_ABSENT;
		return (dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP) ? 0 : dfd;
	}
	int ret = lfs_union_probe_at(dfd, name, lfs->br[b].wh, st, kind);
	if (ret == 0 && rw && lfs_union_kind_present(*kind))
		rw->shown = lfs_ino_for_rw(dfd, name, st);
	/* Only a file with fewer blocks than its size can be one (one xattr
	 * read for those, none for the rest). */
	if (ret == 0 && rw && *kind == LFS_UNION_NONDIR && lfs_metacopy_maybe(st))
		rw->metacopy = lfs_metacopy_read_at(dfd, name, &rw->mc) != 0;
	/* Redirects are followed in the rw branch (layerfs writes them there). */
	if (ret == 0 && rw && *kind == LFS_UNION_OPAQUE_DIR &&
	    lfs_union_redirect_at(dfd, name, &rw->redirect) < 0)
		lfs_dbg("'%s': a redirect that cannot be read: taken as opaque", name);
	if (by_node)
		lfs_obj_release(&pd);
	else
		close(dfd);
	return ret;
}

/* A name the cache says branch b holds. With need_stat false (a lower part
 * of a directory already found above) a known d_type spares the fstatat;
 * only a directory's opaque marker is still looked at. */
static int probe_cached(int b, const char *dirpath, const char *name, unsigned char dtype,
			bool need_stat, struct stat *st, enum lfs_union_kind *kind)
{
	if (!need_stat && dtype != DT_UNKNOWN && dtype != DT_DIR) {
		st->st_mode = DTTOIF(dtype);
		*kind = LFS_UNION_NONDIR;     /* ends the merge, nothing to read */
		return 0;
	}
	if (need_stat || dtype == DT_UNKNOWN)
		return probe_branch(NULL, b, dirpath, name, st, kind, NULL);
	st->st_mode = S_IFDIR;
	if (!lfs->br[b].wh) {
		*kind = LFS_UNION_DIR;
		return 0;
	}
	/* Anything but "there" or "not there" is left to the full probe. */
	int opaque = lfs_union_opaque_beneath(lfs->br[b].fd, dirpath, name);
	if (opaque >= 0) {
		*kind = lfs_union_kind_of(true, S_IFDIR, false, opaque, true);
		return 0;
	}
	return probe_branch(NULL, b, dirpath, name, st, kind, NULL);
}

/* Branch b's kind for name, from the cache when it knows; rw gets what the
 * rw branch adds (the cache never holds that branch). */
static int probe(struct node *dir, const struct dircache *dc, unsigned *hint, int b,
		 const char *dirpath, const char *name, bool need_stat, struct stat *st,
		 enum lfs_union_kind *kind, struct rw_probe *rw)
{
	unsigned char dtype = DT_UNKNOWN;
	if (lfs_branch_is_rw(b))
		return probe_branch(dir, b, dirpath, name, st, kind, need_stat ? rw : NULL);
	switch (lfs_dircache_query(dc, b, name, hint, &dtype)) {
	case LFS_DC_ABSENT:
		*kind = LFS_UNION_ABSENT;
		return 0;
	case LFS_DC_WHITEOUT:
		*kind = LFS_UNION_WHITEOUT;
		return 0;
	case LFS_DC_PRESENT:
		return probe_cached(b, dirpath, name, dtype, need_stat, st, kind);
	default:
		return probe_branch(NULL, b, dirpath, name, st, kind, NULL);
	}
}

/* The probe of the branches below the rw one, for a redirect's path. */
static int lower_probe(void *ctx, unsigned i, const char *dirpath, const char *name,
		       enum lfs_union_kind *kind)
{
	(void)ctx;
	int b = (int)i + 1;
	struct stat st;
	return probe_branch(NULL, b, dirpath, name, &st, kind, NULL);
}

/* A directory of the rw branch redirected to path: its lower parts are the
 * branches below the rw one where path is a merging directory. */
static int redirect_parts(const char *path, struct resolved *r)
{
	unsigned n = (unsigned)lfs->nbr - 1, nout = 0, supplier;
	unsigned *out = malloc((n ? n : 1) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	enum lfs_union_kind kind;
	struct lfs_union_stack s = { n, lower_probe, NULL };
	int ret = lfs_union_resolve_path(&s, path, out, &nout, &supplier, &kind);
	if (ret == 0 && lfs_union_kind_is_dir(kind))
		for (unsigned i = 0; i < nout && r->ndirbr < LFS_MAX_BRANCHES; i++)
			r->dirbr[r->ndirbr++] = (uint16_t)(out[i] + 1);
	free(out);
	/* Nothing there (any more): the directory is just opaque. */
	return ret == -ENOENT || ret == -ENOTDIR ? 0 : ret;
}

/* A metadata-only copy's data: what name resolves to below the rw branch,
 * if it is the file the copy was made from (layerfs/metacopy.h). */
static void find_data(struct node *dir, const char *name, const struct lfs_metacopy *mc,
		      struct resolved *r)
{
	struct resolved d;
	int ret = lfs_resolve(dir, name, 1, &d);
	if (ret == 0 && d.branch > 0 && lfs_metacopy_matches(mc, &d.st)) {
		r->data_branch = d.branch;
		r->st.st_blocks = d.st.st_blocks;   /* what du counts, as on overlayfs */
	} else {
		lfs_log("'%s': a metadata-only copy whose lower file is %s: its data is lost "
			"(opens fail with EIO)", name, ret ? "gone" : "another one");
	}
	if (ret == 0)
		lfs_resolved_done(&d);
}

int lfs_resolve(struct node *dir, const char *name, int min_branch, struct resolved *r)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char *upper, *lower;
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	r->redirect = NULL;
	r->ndirbr = 0;
	r->metacopy = false;
	r->data_branch = -1;
	struct lfs_metacopy mc = { 0 };
	int ret = lfs_node_paths(dir, &upper, &lower);
	if (ret)
		return ret;
	struct dircache *dc = lfs_dircache_get(dir);
	unsigned hint = 0;
	struct lfs_union_walk w = LFS_UNION_WALK_INIT;
	for (unsigned i = 0; i < nd && !w.ended && ret == 0; i++) {
		int b = dirbr[i];
		if (b < min_branch)
			continue;
		struct stat st;
		enum lfs_union_kind kind;
		struct rw_probe rw = { 0, NULL, false, { { 0 } } };
		/* Only the supplier's attributes are shown. */
		ret = probe(dir, dc, &hint, b, lfs_path_in(b, upper, lower), name, !w.found, &st,
			    &kind, &rw);
		if (ret)
			break;
		switch (lfs_union_step(&w, kind)) {
		case LFS_UNION_SUPPLIES:
			r->st = st;
			r->ino = rw.shown ? rw.shown : lfs_ino_for(&st);
			r->branch = b;
			if (w.is_dir)
				r->dirbr[r->ndirbr++] = (uint16_t)b;
			r->redirect = rw.redirect;
			rw.redirect = NULL;
			r->metacopy = rw.metacopy;
			mc = rw.mc;
			break;
		case LFS_UNION_MERGES:
			r->dirbr[r->ndirbr++] = (uint16_t)b;
			break;
		default:
			break;
		}
		free(rw.redirect);
	}
	if (ret == 0 && r->redirect)
		ret = redirect_parts(r->redirect, r);
	lfs_dircache_put(dc);
	if (ret == 0 && r->metacopy)
		find_data(dir, name, &mc, r);
	free(upper);
	free(lower);
	if (ret) {
		lfs_resolved_done(r);
		return ret;
	}
	return w.found ? 0 : -ENOENT;
}

void lfs_resolved_done(struct resolved *r)
{
	free(r->redirect);
	r->redirect = NULL;
}

bool lfs_lower_has(struct node *dir, const char *name)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char *upper, *lower;
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	if (lfs_node_paths(dir, &upper, &lower))
		return false;
	struct dircache *dc = lfs_dircache_get(dir);
	unsigned hint = 0;
	struct lfs_union_walk w = LFS_UNION_WALK_INIT;
	/* The first branch below the rw one that says anything decides. */
	for (unsigned i = 0; i < nd && !w.ended && !w.found; i++) {
		int b = dirbr[i];
		if (b < (lfs->has_rw ? 1 : 0))
			continue;
		/* Presence is all that counts here: a cached name needs no
		 * system call (not even its opaque marker's). */
		unsigned char dtype;
		enum lfs_union_kind kind = LFS_UNION_ABSENT;
		switch (lfs_dircache_query(dc, b, name, &hint, &dtype)) {
		case LFS_DC_PRESENT:
			kind = dtype == DT_DIR ? LFS_UNION_DIR : LFS_UNION_NONDIR;
			break;
		case LFS_DC_WHITEOUT:
			kind = LFS_UNION_WHITEOUT;
			break;
		case LFS_DC_ABSENT:
			break;
		default: {
			struct stat st;
			if (probe_branch(dir, b, lfs_path_in(b, upper, lower), name, &st, &kind, NULL))
				goto out;    /* unreadable: say no */
		}
		}
		lfs_union_step(&w, kind);
	}
out:
	lfs_dircache_put(dc);
	free(upper);
	free(lower);
	return w.found;
}

void lfs_fix_stat(struct node *n, struct stat *st)
{
	st->st_ino = n->ino;
	lfs_idmap_show(&lfs->ids, st);
	/* A metadata-only copy has no blocks of its own: du counts its data's. */
	if (n->metacopy && S_ISREG(st->st_mode))
		st->st_blocks = n->data_blocks;
	if (n->plink && S_ISREG(st->st_mode))
		st->st_nlink = lfs_plink_nlink(n, st->st_nlink);
	if (S_ISDIR(st->st_mode) && n->ndirbr > 1)
		st->st_nlink = 1;   /* merged: the real count is unknown, as on overlayfs */
}

int lfs_node_stat(struct node *n, struct stat *st)
{
	struct objref o;
	int ret = lfs_obj_locate(n, &o);
	if (ret)
		return ret;
	if (fstatat(o.dfd, o.name, st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	lfs_obj_release(&o);
	if (ret == 0) {
		lfs_tree_lock();
		lfs_fix_stat(n, st);
		lfs_tree_unlock();
	}
	return ret;
}
