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

/* A new non-directory replaces a whiteout of the same name: the whiteout is
 * no longer needed once the entry exists (the entry wins in its branch). */
static int finish_create(fuse_req_t req, struct objref *pd, const char *name)
{
	int ret = lfs_set_owner(req, pd->dfd, name, pd->dfd);
	if (ret == 0)
		ret = lfs_whiteout_remove(pd->dfd, name);
	if (ret)
		unlinkat(pd->dfd, name, 0);
	return ret;
}

int lfs_create_object(fuse_req_t req, struct node *dir, const char *name, mode_t mode,
		      dev_t rdev, const char *link_target)
{
	struct objref pd;
	int ret = begin_create(dir, name, &pd);
	if (ret)
		return ret;
	if (link_target)
		ret = symlinkat(link_target, pd.dfd, name);
	else
		ret = mknodat(pd.dfd, name, mode, rdev);
	ret = ret < 0 ? -errno : finish_create(req, &pd, name);
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
	} else if (mkdirat(pd.dfd, name, mode) < 0) {
		ret = -errno;
	} else {
		ret = lfs_set_owner(req, pd.dfd, name, pd.dfd);
		if (ret)
			unlinkat(pd.dfd, name, AT_REMOVEDIR);
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

/* Forgets the name in the node table after the entry went away. */
void lfs_forget_name(struct node *dir, const char *name, uint64_t ino)
{
	pthread_mutex_lock(&lfs->tree_lock);
	struct node *n = lfs_node_find_locked(ino);
	if (n)
		lfs_node_unname(n, dir, name);
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
	uint64_t ino = ret == 0 ? lfs_ino_for(r->branch, &r->st) : 0;
	bool need_wh = ret == 0 && lfs_lower_has(dir, name);
	struct objref pd;
	if (ret == 0)
		ret = lfs_upper_dir(dir, &pd);
	if (ret) {
		free(r);
		return ret;
	}
	struct stat st;
	bool in_rw = fstatat(pd.dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (need_wh)
		ret = lfs_whiteout_make(pd.dfd, name);
	if (ret == 0 && in_rw) {
		if (is_dir)
			ret = lfs_remove_dir_atomic(pd.dfd, name);
		else if (unlinkat(pd.dfd, name, 0) < 0)
			ret = -errno;
		if (ret == 0 && (is_dir || st.st_nlink == 1))
			lfs_ino_forget(&st);
	}
	lfs_obj_release(&pd);
	free(r);
	if (ret == 0)
		lfs_forget_name(dir, name, ino);
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
