/* FUSE operations on names: lookup, forget, creating and removing entries. */
#include "layerfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

int lfs_check_new_name(const char *name)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!lfs_name_is_valid(name) || lfs_is_marker_name(name))
		return -EINVAL;
	return lfs->has_rw ? 0 : -EROFS;
}

int lfs_set_owner(fuse_req_t req, int dfd, const char *name, int parent_dfd)
{
	if (geteuid() != 0)
		return 0;     /* unprivileged daemon: everything is ours anyway */
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat parent, st;
	if (fstatat(parent_dfd, "", &parent, AT_EMPTY_PATH) < 0 ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	uid_t uid = lfs_id_on_disk(&lfs->ids.uids, ctx->uid);
	gid_t gid = (parent.st_mode & S_ISGID) ? parent.st_gid
					       : lfs_id_on_disk(&lfs->ids.gids, ctx->gid);
	if (uid == (uid_t)UINT32_MAX || gid == (gid_t)UINT32_MAX)
		return -EOVERFLOW;    /* the caller's id has no mapping */
	if (st.st_uid == uid && st.st_gid == gid)
		return 0;
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* chown drops setuid/setgid of non-directories: put them back. */
	if (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
	    fchmodat(dfd, name, st.st_mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static void reply_new_entry(fuse_req_t req, struct node *dir, const char *name)
{
	struct fuse_entry_param e;
	int ret = lfs_lookup_entry(dir, name, &e);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *dir = lfs_node(parent);
	struct fuse_entry_param e;
	int ret;
	if (strlen(name) > NAME_MAX)
		ret = -ENAMETOOLONG;
	else if (lfs_is_marker_name(name))
		ret = -ENOENT;
	else
		ret = lfs_lookup_entry(dir, name, &e);
	if (ret == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = lfs->timeout;
		fuse_reply_entry(req, &e);
	} else if (ret) {
		fuse_reply_err(req, -ret);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	lfs_node_forget(lfs_node(ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		lfs_node_forget(lfs_node(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Prepares creating name in dir: the rw copy of dir, opened. */
static int begin_create(struct node *dir, const char *name, struct objref *pd)
{
	int ret = lfs_check_new_name(name);
	if (ret)
		return ret;
	return lfs_upper_dir(dir, pd);
}

/* Moves a new object, built as tmp in the work directory orph, to name in the
 * rw directory pd once it has the caller as owner: a crash never leaves an
 * object with the daemon's owner visible (the next mount empties orph). A
 * whiteout of the same name is dropped after (the entry wins in its branch).
 * On failure tmp is removed; -EEXIST when name appeared meanwhile. */
int lfs_publish_new(fuse_req_t req, int orph, const char *tmp, struct objref *pd,
		    const char *name)
{
	lfs_mark_dirty();   /* the whiteout of name goes only after it is placed */
	/* What the kernel does for objects made in place under a setgid
	 * directory: a new directory inherits the setgid bit (and, below, the
	 * group through lfs_set_owner). */
	struct stat parent, st;
	if (fstatat(pd->dfd, "", &parent, AT_EMPTY_PATH) == 0 && (parent.st_mode & S_ISGID) &&
	    fstatat(orph, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    fchmodat(orph, tmp, (st.st_mode & 07777) | S_ISGID, 0) < 0) {
		int err = errno;
		lfs_remove_tree_at(orph, tmp);
		return -err;
	}
	int ret = lfs_set_owner(req, orph, tmp, pd->dfd);
	if (ret == 0 && renameat2(orph, tmp, pd->dfd, name, RENAME_NOREPLACE) < 0)
		ret = -errno;
	if (ret) {
		lfs_remove_tree_at(orph, tmp);
		return ret;
	}
	ret = lfs_whiteout_remove(pd->dfd, name);
	if (ret)
		lfs_remove_tree_at(pd->dfd, name);
	return ret;
}

int lfs_create_object(fuse_req_t req, struct node *dir, const char *name, mode_t mode,
		      dev_t rdev, const char *link_target)
{
	struct objref pd;
	int ret = begin_create(dir, name, &pd);
	if (ret)
		return ret;
	int orph = lfs_work_orph();
	if (orph < 0) {
		lfs_obj_release(&pd);
		return orph;
	}
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "new");
	if (link_target)
		ret = symlinkat(link_target, orph, tmp);
	else
		ret = mknodat(orph, tmp, mode, rdev);
	ret = ret < 0 ? -errno : lfs_publish_new(req, orph, tmp, &pd, name);
	lfs_obj_release(&pd);
	return ret;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct node *dir = lfs_node(parent);
	int ret = lfs_create_object(req, dir, name, mode, rdev, NULL);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, dir, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct node *dir = lfs_node(parent);
	int ret = lfs_create_object(req, dir, name, 0, 0, link);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, dir, name);
}

/* mkdir where a whiteout stands: build the directory, opaque, in the work
 * directory and rename it into place, then drop the whiteout. */
static int mkdir_opaque(fuse_req_t req, struct objref *pd, const char *name, mode_t mode)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "mkdir");
	if (mkdirat(orph, tmp, mode) < 0)
		return -errno;
	int ret = lfs_opaque_make(orph, tmp);
	if (ret == 0)
		ret = lfs_set_owner(req, orph, tmp, pd->dfd);
	if (ret == 0 && renameat2(orph, tmp, pd->dfd, name, RENAME_NOREPLACE) < 0)
		ret = -errno;
	if (ret) {
		lfs_remove_tree_at(orph, tmp);
		return ret;
	}
	return lfs_whiteout_remove(pd->dfd, name);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node *dir = lfs_node(parent);
	struct objref pd;
	int ret = begin_create(dir, name, &pd);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (lfs_whiteout_exists(pd.dfd, name)) {
		ret = mkdir_opaque(req, &pd, name, mode);
	} else {
		/* Built in the work directory and renamed into place with its
		 * owner set, like every new object (lfs_publish_new). */
		int orph = lfs_work_orph();
		char tmp[64];
		lfs_tmpname(tmp, sizeof(tmp), "mkdir");
		if (orph < 0)
			ret = orph;
		else if (mkdirat(orph, tmp, mode) < 0)
			ret = -errno;
		else
			ret = lfs_publish_new(req, orph, tmp, &pd, name);
	}
	lfs_obj_release(&pd);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, dir, name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct node *n = lfs_node(ino);
	struct node *dir = lfs_node(newparent);
	struct objref pd, src;
	int ret = lfs_check_new_name(newname);
	if (ret == 0)
		ret = lfs_copyup(n, true);
	if (ret == 0)
		ret = lfs_upper_dir(dir, &pd);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = lfs_obj_locate(n, &src);
	if (ret == 0) {
		if (linkat(src.dfd, src.name, pd.dfd, newname, 0) < 0)
			ret = -errno;
		else
			ret = lfs_whiteout_remove(pd.dfd, newname);
		lfs_obj_release(&src);
	}
	lfs_obj_release(&pd);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_new_entry(req, dir, newname);
}

/* The name goes from the node table BEFORE its entry goes from the branch:
 * once the entry is gone its inode number may be reused at once by an
 * object another request creates, which must not find this node (nor a
 * mapping of that number) any more. A failed removal puts both back. */
void lfs_detach(struct lfs_detached *d, struct node *dir, const char *name, struct node *n,
		   const struct stat *st, bool in_rw)
{
	d->n = n;
	d->unmapped = in_rw && (S_ISDIR(st->st_mode) || st->st_nlink == 1);
	if (in_rw)
		d->st = *st;
	if (d->unmapped)
		lfs_ino_forget(st);
	pthread_mutex_lock(&lfs->tree_lock);
	lfs_node_unname(n, dir, name);
	pthread_mutex_unlock(&lfs->tree_lock);
}

void lfs_reattach(struct lfs_detached *d, struct node *dir, const char *name)
{
	if (d->unmapped && d->st.st_ino != d->n->ino)
		lfs_ino_remember(&d->st, d->n->ino);
	pthread_mutex_lock(&lfs->tree_lock);
	lfs_node_add_name_locked(d->n, dir, name);
	pthread_mutex_unlock(&lfs->tree_lock);
}

/* Removes name from dir: a whiteout first when a lower branch has the name
 * (so a crash in between still shows the old state), then the rw entry. */
static int remove_entry(struct node *dir, const char *name, bool is_dir)
{
	if (!lfs->has_rw)
		return -EROFS;
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
		ret = lfs_make_entry(dir, name, r, &e);   /* the node, referenced */
	free(r);
	if (ret)
		return ret;
	struct node *n = lfs_node(e.ino);
	bool need_wh = lfs_lower_has(dir, name);
	struct objref pd;
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

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -remove_entry(lfs_node(parent), name, false));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -remove_entry(lfs_node(parent), name, true));
}

/* ENOTEMPTY unless the merged directory name in dir lists nothing. */
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

void lfs_ops_entry(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->mknod = op_mknod;
	ops->mkdir = op_mkdir;
	ops->symlink = op_symlink;
	ops->link = op_link;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
}
