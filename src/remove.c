/* Taking names away: see remove.h. */
#include "remove.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copyup.h"
#include "dirmerge.h"
#include "entry.h"
#include "ino.h"
#include "plink.h"
#include "whiteout_ops.h"
#include "workdir.h"

/* Objects the kernel opens without asking us for a handle (a directory's
 * handle is its listing): an fchmod or fstat of one whose last name went
 * reaches it only through an fd we keep (node.h, gone_fd). */
static bool opened_without_us(mode_t type)
{
	return !S_ISREG(type) && !S_ISLNK(type);
}

static int open_object(struct node *n)
{
	struct objref o;
	if (lfs_obj_locate(n, &o))
		return -1;
	int fd = openat(o.dfd, o.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	lfs_obj_release(&o);
	return fd;
}

/* Open files of a metadata-only copy read its lower data by its name: when
 * that goes, they need the data in the copy. */
static void keep_data_of_open_metacopy(struct node *n)
{
	lfs_tree_lock();
	bool needed = n->metacopy && n->handles && n->names && !n->names->next;
	lfs_tree_unlock();
	int ret = needed ? lfs_copyup(n, true) : 0;
	if (ret)
		lfs_log("an open file keeps reading a removed name's lower data: %s",
			strerror(-ret));
}

void lfs_detach(struct lfs_detached *d, struct node *dir, const char *name, struct node *n,
		const struct stat *st, bool in_rw)
{
	if (in_rw)
		keep_data_of_open_metacopy(n);
	d->n = n;
	d->unmapped = in_rw && (S_ISDIR(st->st_mode) || st->st_nlink == 1);
	if (in_rw)
		d->st = *st;
	if (d->unmapped)
		lfs_ino_forget(st);
	/* What fstat of an object still open shows once its name is gone (as
	 * on overlayfs): the rw object, one link less (a directory: none), or
	 * the lower one, which stays as it was. Open regular files answer
	 * through their handles; a lower one is not stat'ed here for that. */
	struct stat shown;
	bool keep = in_rw || (!S_ISREG(n->type) && lfs_node_stat(n, &shown) == 0);
	if (keep && in_rw) {
		shown = *st;
		shown.st_nlink = S_ISDIR(st->st_mode) || !st->st_nlink ? 0 : st->st_nlink - 1;
	}
	int gone_fd = opened_without_us(n->type) ? open_object(n) : -1;
	lfs_tree_lock();
	if (keep && in_rw)
		lfs_fix_stat(n, &shown);
	if (keep)
		lfs_node_keep_last_stat_locked(n, &shown);
	lfs_node_unname(n, dir, name);
	if (!n->names && gone_fd >= 0)
		lfs_node_keep_gone_fd_locked(n, gone_fd);
	else if (gone_fd >= 0)
		close(gone_fd);
	lfs_tree_unlock();
}

void lfs_reattach(struct lfs_detached *d, struct node *dir, const char *name)
{
	if (d->unmapped && d->st.st_ino != d->n->ino)
		lfs_ino_remember(&d->st, d->n->ino);
	lfs_tree_lock();
	lfs_node_add_name_locked(d->n, dir, name);
	lfs_tree_unlock();
}

int lfs_dir_check_empty(struct node *dir, const char *name, const struct resolved *r)
{
	struct fuse_entry_param e;
	int ret = lfs_make_entry(dir, name, r, &e);
	if (ret)
		return ret;
	struct node *child = lfs_node(e.ino);
	struct dirlist list = { 0 };
	ret = lfs_dir_merge(child, &list, true);
	if (ret == 0 && list.n)
		ret = -ENOTEMPTY;
	lfs_dirlist_free(&list);
	lfs_node_forget(child, 1);
	return ret;
}

/* The node of the name to remove, referenced, after the checks of its type
 * (and, for a directory, of its emptiness). */
static int removal_target(struct node *dir, const char *name, bool is_dir, struct node **out)
{
	struct resolved *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	int ret = lfs_resolve(dir, name, 0, r);
	if (ret == 0 && is_dir && !S_ISDIR(r->st.st_mode))
		ret = -ENOTDIR;
	if (ret == 0 && !is_dir && S_ISDIR(r->st.st_mode))
		ret = -EISDIR;
	if (ret == 0 && is_dir)
		ret = lfs_dir_check_empty(dir, name, r);
	struct fuse_entry_param e;
	if (ret == 0)
		ret = lfs_make_entry(dir, name, r, &e);
	lfs_resolved_done(r);
	free(r);
	if (ret == 0)
		*out = lfs_node(e.ino);
	return ret;
}

int lfs_remove_entry(struct node *dir, const char *name, bool is_dir)
{
	if (!lfs->has_rw)
		return -EROFS;
	struct node *n;
	int ret = removal_target(dir, name, is_dir, &n);
	if (ret)
		return ret;
	bool need_wh = lfs_lower_has(dir, name);
	/* A name of a multiply-linked lower file goes up to the index first:
	 * the other names then count one less (plink.h). */
	if (!is_dir && lfs_plink_wanted(n))
		ret = lfs_copyup_at(dir, name, n);
	struct objref pd;
	if (ret == 0)
		ret = lfs_upper_dir(dir, &pd);
	if (ret) {
		lfs_node_forget(n, 1);
		return ret;
	}
	struct stat st;
	bool in_rw = fstatat(pd.dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (need_wh)
		ret = lfs_whiteout_make(pd.dfd, name);
	if (ret == 0) {
		struct lfs_detached d;
		lfs_detach(&d, dir, name, n, &st, in_rw);
		if (in_rw && is_dir)
			ret = lfs_remove_dir_atomic(pd.dfd, name);
		else if (in_rw && unlinkat(pd.dfd, name, 0) < 0)
			ret = -errno;
		if (ret)
			lfs_reattach(&d, dir, name);
	}
	lfs_obj_release(&pd);
	lfs_node_forget(n, 1);
	return ret;
}
