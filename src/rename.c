/* rename(2) on the union: see rename.h. */
#include "rename.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copyup.h"
#include "create.h"
#include "dirmerge.h"
#include "entry.h"
#include "lookup.h"
#include "nodepath.h"
#include "plink.h"
#include "remove.h"
#include "whiteout_ops.h"
#include "workdir.h"

struct rename_side {
	struct node *dir;
	const char *name;
	struct resolved r;
	bool exists;
	struct node *node;     /* referenced while we work; forgotten at the end */
};

static int side_resolve(struct rename_side *s)
{
	int ret = lfs_resolve(s->dir, s->name, 0, &s->r);
	s->exists = ret == 0;
	if (ret && ret != -ENOENT)
		return ret;
	if (!s->exists)
		return 0;
	struct fuse_entry_param e;
	ret = lfs_make_entry(s->dir, s->name, &s->r, &e);
	if (ret == 0)
		s->node = lfs_node(e.ino);
	return ret;
}

static void side_release(struct rename_side *s)
{
	if (s->node)
		lfs_node_forget(s->node, 1);
	if (s->exists)
		lfs_resolved_done(&s->r);
}

static int check_types(struct rename_side *src, struct rename_side *dst, unsigned flags)
{
	if (!src->exists)
		return -ENOENT;
	if ((flags & RENAME_NOREPLACE) && dst->exists)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !dst->exists)
		return -ENOENT;
	if (!dst->exists || (flags & RENAME_EXCHANGE))
		return 0;
	bool sdir = S_ISDIR(src->r.st.st_mode), ddir = S_ISDIR(dst->r.st.st_mode);
	if (sdir && !ddir)
		return -ENOTDIR;
	if (!sdir && ddir)
		return -EISDIR;
	if (ddir)
		return lfs_dir_check_empty(dst->dir, dst->name, &dst->r);
	return 0;
}

static bool has_lower_parts(struct rename_side *s)
{
	return s->r.branch != 0 || s->r.ndirbr > 1;
}

/* Both names only in the rw branch: the one case exchange can do as is. */
static int rename_exchange(struct rename_side *src, struct rename_side *dst)
{
	if (has_lower_parts(src) || has_lower_parts(dst) ||
	    lfs_lower_has(src->dir, src->name) || lfs_lower_has(dst->dir, dst->name))
		return -EINVAL;
	struct objref opd, npd;
	int ret = lfs_upper_dir(src->dir, &opd);
	if (ret)
		return ret;
	ret = lfs_upper_dir(dst->dir, &npd);
	if (ret == 0) {
		if (renameat2(opd.dfd, src->name, npd.dfd, dst->name, RENAME_EXCHANGE) < 0)
			ret = -errno;
		lfs_obj_release(&npd);
	}
	lfs_obj_release(&opd);
	if (ret)
		return ret;
	lfs_tree_lock();
	lfs_node_rename(src->node, src->dir, src->name, dst->dir, "\x01tmp");
	lfs_node_rename(dst->node, dst->dir, dst->name, src->dir, src->name);
	lfs_node_rename(src->node, dst->dir, "\x01tmp", dst->dir, dst->name);
	lfs_tree_unlock();
	return 0;
}

/* Copies up a whole directory tree (a merged directory that moves). */
static int copyup_tree(struct node *dir)
{
	int ret = lfs_copyup(dir, true);
	if (ret)
		return ret;
	struct dirlist list = { 0 };
	ret = lfs_dir_merge(dir, &list, false);
	for (size_t i = 0; ret == 0 && i < list.n; i++) {
		struct node *child = lfs_child_node(dir, list.v[i].name);
		if (!child) {
			ret = -EIO;
			break;
		}
		ret = S_ISDIR(child->type) ? copyup_tree(child)
					   : lfs_copyup_at(dir, list.v[i].name, child);
		lfs_node_forget(child, 1);
	}
	lfs_dirlist_free(&list);
	return ret;
}

/* How a directory moves: as it is (only in the rw branch), redirected (its
 * rw copy moves and keeps pointing at its lower parts), or copied whole. */
enum dir_move { MOVE_PLAIN, MOVE_REDIRECT, MOVE_TREE };

/* A directory with lower parts, redirected: its own copy in the rw branch
 * (metadata only) gets a redirect to where its lower parts are now, so
 * that it can move without them. *target gets that path (malloc'ed). */
static int redirect_up(struct rename_side *src, char **target)
{
	int ret = lfs_copyup(src->node, true);
	if (ret)
		return ret;
	lfs_tree_lock();
	ret = lfs_node_path_in_locked(src->node, 1, target);
	bool already = src->node->lower_path != NULL;
	lfs_tree_unlock();
	if (ret || already)
		return ret;      /* redirected before: its marker holds the path already */
	struct objref pd;
	ret = lfs_upper_dir(src->dir, &pd);
	if (ret == 0) {
		ret = lfs_redirect_make(pd.dfd, src->name, *target);
		lfs_obj_release(&pd);
	}
	return ret;
}

/* Brings the source into the rw branch under its own name. */
static int source_up(struct rename_side *src, enum dir_move *how, char **target)
{
	*how = MOVE_PLAIN;
	*target = NULL;
	if (S_ISDIR(src->r.st.st_mode)) {
		if (!has_lower_parts(src))
			return 0;
		if (lfs->redirect_dir) {
			*how = MOVE_REDIRECT;
			return redirect_up(src, target);
		}
		*how = MOVE_TREE;
		return copyup_tree(src->node);
	}
	/* With its data: a metadata-only copy finds it by its name. */
	return lfs_copyup_at(src->dir, src->name, src->node);
}

/* Replaces dst with the source in the rw branch. An rw directory at dst is
 * merged-empty but may hold whiteouts, so it is swapped out, then removed. */
static int move_into_place(struct objref *opd, const char *oldname, struct objref *npd,
			   const char *newname, bool dst_rw_dir)
{
	if (!dst_rw_dir)
		return renameat(opd->dfd, oldname, npd->dfd, newname) < 0 ? -errno : 0;
	if (renameat2(opd->dfd, oldname, npd->dfd, newname, RENAME_EXCHANGE) < 0)
		return -errno;
	return lfs_remove_dir_atomic(opd->dfd, oldname);
}

static int rename_plain(struct rename_side *src, struct rename_side *dst)
{
	bool is_dir = S_ISDIR(src->r.st.st_mode);
	enum dir_move how;
	char *target;
	int ret = source_up(src, &how, &target);
	/* A replaced name of a multiply-linked lower file goes up to the index
	 * first: the other names then count one less (plink.h). */
	if (ret == 0 && dst->exists && dst->node != src->node && lfs_plink_wanted(dst->node))
		ret = lfs_copyup_at(dst->dir, dst->name, dst->node);
	struct objref opd, npd;
	if (ret == 0)
		ret = lfs_upper_dir(src->dir, &opd);
	if (ret) {
		free(target);
		return ret;
	}
	ret = lfs_upper_dir(dst->dir, &npd);
	if (ret) {
		lfs_obj_release(&opd);
		free(target);
		return ret;
	}
	/* A moved directory must not merge with whatever lower branches hold at
	 * its new path (nor lose its copied-up lower content's hiding rules); a
	 * redirected one is opaque already (its marker is the redirect), and
	 * its whiteouts still hide what its lower parts hold. */
	if (is_dir && how != MOVE_REDIRECT &&
	    (how == MOVE_TREE || lfs_lower_has(dst->dir, dst->name))) {
		ret = lfs_opaque_make(opd.dfd, src->name);
		if (ret == 0)
			ret = lfs_drop_whiteouts_below(opd.dfd, src->name);
	}
	if (ret == 0 && lfs_lower_has(src->dir, src->name))
		ret = lfs_whiteout_make(opd.dfd, src->name);
	/* The replaced object leaves the node table before its inode number
	 * can be reused (see lfs_detach). */
	struct stat dst_st;
	bool dst_rw = ret == 0 && fstatat(npd.dfd, dst->name, &dst_st, AT_SYMLINK_NOFOLLOW) == 0;
	bool detached = ret == 0 && dst->exists && dst->node != src->node;
	struct lfs_detached d;
	if (detached)
		lfs_detach(&d, dst->dir, dst->name, dst->node, &dst_st, dst_rw);
	if (ret == 0)
		ret = move_into_place(&opd, src->name, &npd, dst->name,
				      dst_rw && S_ISDIR(dst_st.st_mode));
	if (ret && detached)
		lfs_reattach(&d, dst->dir, dst->name);
	if (ret == 0)
		ret = lfs_whiteout_remove(npd.dfd, dst->name);
	lfs_obj_release(&opd);
	lfs_obj_release(&npd);
	if (ret) {
		free(target);
		return ret;
	}
	lfs_tree_lock();
	/* A redirect first: it keeps every lower path as it is (nodepath.h). */
	if (how == MOVE_REDIRECT)
		lfs_node_set_redirect_locked(src->node, target);
	lfs_node_rename(src->node, src->dir, src->name, dst->dir, dst->name);
	if (how == MOVE_TREE)
		lfs_node_trim_subtree(src->node);
	lfs_tree_unlock();
	free(target);
	return 0;
}

int lfs_rename(struct node *odir, const char *oldname, struct node *ndir, const char *newname,
	       unsigned flags)
{
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	int ret = lfs_check_new_name(newname);
	if (ret)
		return ret;
	struct rename_side *s = calloc(2, sizeof(*s));
	if (!s)
		return -ENOMEM;
	struct rename_side *src = &s[0], *dst = &s[1];
	src->dir = odir;
	src->name = oldname;
	dst->dir = ndir;
	dst->name = newname;
	ret = side_resolve(src);
	if (ret == 0)
		ret = side_resolve(dst);
	if (ret == 0)
		ret = check_types(src, dst, flags);
	if (ret == 0 && dst->exists && src->node == dst->node && !(flags & RENAME_EXCHANGE))
		goto out;       /* two names of one inode: nothing to do */
	if (ret == 0)
		ret = (flags & RENAME_EXCHANGE) ? rename_exchange(src, dst) : rename_plain(src, dst);
out:
	side_release(src);
	side_release(dst);
	free(s);
	return ret;
}
