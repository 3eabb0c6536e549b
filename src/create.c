/* Making new objects in the rw branch: see create.h. */
#include "create.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "copyup.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "whiteout_ops.h"
#include "workdir.h"
#include "layerfs/fsops.h"

int lfs_check_new_name(const char *name)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!lfs_name_is_valid(name) || lfs_is_marker_name(name))
		return -EINVAL;
	return lfs->has_rw ? 0 : -EROFS;
}

/* Gives the new object name (in dfd) the caller's uid and the gid the rw
 * parent directory decides (its own under setgid). */
static int set_owner(const struct fuse_ctx *caller, int dfd, const char *name, int parent_dfd)
{
	if (geteuid() != 0)
		return 0;     /* unprivileged daemon: everything is ours anyway */
	struct stat parent, st;
	if (fstatat(parent_dfd, "", &parent, AT_EMPTY_PATH) < 0 ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	uid_t uid = lfs_id_on_disk(&lfs->ids.uids, caller->uid);
	gid_t gid = (parent.st_mode & S_ISGID) ? parent.st_gid
					       : lfs_id_on_disk(&lfs->ids.gids, caller->gid);
	if (uid == (uid_t)UINT32_MAX || gid == (gid_t)UINT32_MAX)
		return -EOVERFLOW;    /* the caller's id has no mapping */
	if (st.st_uid == uid && st.st_gid == gid)
		return 0;
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* chown drops setuid/setgid of non-directories: put them back. */
	if (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)))
		return lfs_fchmodat_nofollow(dfd, name, st.st_mode & 07777);
	return 0;
}

/* What every create begins with: the name checked, the rw copy of dir
 * opened (pd), the work directory (orph) and what a new object of type
 * and mode gets there (a). On failure nothing is left to release. */
static int begin_create(const struct fuse_ctx *caller, struct node *dir, const char *name,
			mode_t type, mode_t mode, struct objref *pd, int *orph,
			struct lfs_acl_new *a)
{
	int ret = lfs_check_new_name(name);
	if (ret == 0)
		ret = lfs_upper_dir(dir, pd);
	if (ret)
		return ret;
	*orph = lfs_work_orph();
	ret = *orph < 0 ? *orph : lfs_acl_for_new(pd->dfd, type, mode, caller->umask, a);
	if (ret)
		lfs_obj_release(pd);
	return ret;
}

/* What the kernel does for objects made in place under a setgid
 * directory: a new directory inherits the setgid bit (and, in set_owner,
 * the group). */
static int inherit_setgid(struct objref *pd, int orph, const char *tmp)
{
	struct stat parent, st;
	if (fstatat(pd->dfd, "", &parent, AT_EMPTY_PATH) == 0 && (parent.st_mode & S_ISGID) &&
	    fstatat(orph, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    fchmodat(orph, tmp, (st.st_mode & 07777) | S_ISGID, 0) < 0)
		return -errno;
	return 0;
}

/* Gives the new object tmp (in the work directory orph) what the kernel
 * gives an object made in pd: setgid and group of a setgid parent, the
 * parent's default ACL (a, from lfs_acl_for_new()), the caller as owner. */
static int finish_new(const struct fuse_ctx *caller, int orph, const char *tmp,
		      struct objref *pd, const struct lfs_acl_new *a)
{
	int ret = inherit_setgid(pd, orph, tmp);
	if (ret == 0)
		ret = lfs_acl_apply(orph, tmp, a);
	if (ret == 0)
		ret = set_owner(caller, orph, tmp, pd->dfd);
	return ret;
}

/* Whether an object the caller makes directly at its name in the rw
 * directory gets exactly what finish_new would give it: no ACL to set
 * (and, for all but symlinks, none of the rw parent's default ACLs left
 * unread, which the rw branch's filesystem would apply), and the caller is
 * the daemon's own uid and gid on disk (or the daemon cannot chown), so no
 * chown follows; setgid inheritance the rw filesystem does itself. Such an
 * object is made in place, as overlayfs does: one call that a crash leaves
 * done or undone, without the work directory and the rename. */
static bool made_in_place(const struct fuse_ctx *caller, mode_t type,
			  const struct lfs_acl_new *a)
{
	if (a->access || a->dflt || (!lfs->posix_acl && !S_ISLNK(type)))
		return false;
	if (geteuid() != 0)
		return true;
	return lfs_id_on_disk(&lfs->ids.uids, caller->uid) == 0 &&
	       lfs_id_on_disk(&lfs->ids.gids, caller->gid) == getegid();
}

/* After an object was made in place: a whiteout of its name goes (the
 * dirty mark, set first, lets recovery finish that after a crash). If the
 * whiteout cannot go, the object goes again. */
static int placed_new(struct objref *pd, const char *name)
{
	int ret = lfs_whiteout_remove(pd->dfd, name);
	if (ret)
		lfs_remove_tree_at(pd->dfd, name);
	return ret;
}

/* Moves a new object, built as tmp in the work directory orph, to name in
 * the rw directory pd once it is finished. A whiteout of the same name is
 * dropped after (the entry wins in its branch). On failure tmp is removed;
 * -EEXIST when name appeared meanwhile. */
static int publish_new(const struct fuse_ctx *caller, int orph, const char *tmp,
		       struct objref *pd, const char *name, const struct lfs_acl_new *a)
{
	lfs_mark_dirty();   /* the whiteout of name goes only after it is placed */
	int ret = finish_new(caller, orph, tmp, pd, a);
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

int lfs_create_object(const struct fuse_ctx *caller, struct node *dir, const char *name,
		      mode_t mode, dev_t rdev, const char *link_target)
{
	mode_t type = link_target ? S_IFLNK : mode & S_IFMT;
	struct objref pd;
	struct lfs_acl_new a;
	int orph;
	int ret = begin_create(caller, dir, name, type, mode, &pd, &orph, &a);
	if (ret)
		return ret;
	bool in_place = made_in_place(caller, type, &a);
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "new");
	int at = in_place ? pd.dfd : orph;
	const char *as = in_place ? name : tmp;
	if (in_place)
		lfs_mark_dirty();
	if (link_target)
		ret = symlinkat(link_target, at, as);
	else
		ret = mknodat(at, as, (mode & S_IFMT) | (a.mode & 07777), rdev);
	if (ret < 0)
		ret = -errno;
	else
		ret = in_place ? placed_new(&pd, name) : publish_new(caller, orph, tmp, &pd, name, &a);
	lfs_acl_new_free(&a);
	lfs_obj_release(&pd);
	return ret;
}

/* mkdir where a whiteout stands: build the directory, opaque, in the work
 * directory and rename it into place, then drop the whiteout. */
static int mkdir_opaque(const struct fuse_ctx *caller, struct objref *pd, const char *name,
			int orph, const char *tmp, const struct lfs_acl_new *a)
{
	int ret = lfs_opaque_make(orph, tmp);
	if (ret == 0)
		ret = finish_new(caller, orph, tmp, pd, a);
	if (ret == 0 && renameat2(orph, tmp, pd->dfd, name, RENAME_NOREPLACE) < 0)
		ret = -errno;
	if (ret) {
		lfs_remove_tree_at(orph, tmp);
		return ret;
	}
	return lfs_whiteout_remove(pd->dfd, name);
}

int lfs_create_dir(const struct fuse_ctx *caller, struct node *dir, const char *name,
		   mode_t mode)
{
	struct objref pd;
	struct lfs_acl_new a;
	int orph;
	int ret = begin_create(caller, dir, name, S_IFDIR, mode, &pd, &orph, &a);
	if (ret)
		return ret;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "mkdir");
	bool whited_out = lfs_union_whiteout_at(pd.dfd, name);
	if (!whited_out && made_in_place(caller, S_IFDIR, &a))
		ret = mkdirat(pd.dfd, name, a.mode & 07777) < 0 ? -errno : 0;
	else if (mkdirat(orph, tmp, a.mode & 07777) < 0)
		ret = -errno;
	else if (whited_out)
		ret = mkdir_opaque(caller, &pd, name, orph, tmp, &a);
	else
		ret = publish_new(caller, orph, tmp, &pd, name, &a);
	lfs_acl_new_free(&a);
	lfs_obj_release(&pd);
	return ret;
}

int lfs_create_file(const struct fuse_ctx *caller, struct node *dir, const char *name,
		    mode_t mode, int flags, bool *existed)
{
	*existed = false;
	struct objref pd;
	struct lfs_acl_new a;
	int orph;
	int ret = begin_create(caller, dir, name, S_IFREG, mode, &pd, &orph, &a);
	if (ret)
		return ret;
	bool in_place = made_in_place(caller, S_IFREG, &a);
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "new");
	if (in_place)
		lfs_mark_dirty();
	int fd = openat(in_place ? pd.dfd : orph, in_place ? name : tmp,
			flags | O_CREAT | O_EXCL, a.mode & 07777);
	if (fd < 0) {
		fd = -errno;
		ret = in_place ? fd : 0;
	} else {
		ret = in_place ? placed_new(&pd, name) : publish_new(caller, orph, tmp, &pd, name, &a);
		if (ret) {
			close(fd);
			fd = ret;
		}
	}
	/* Made by someone else meanwhile: open theirs, as is. */
	if (ret == -EEXIST && !(flags & O_EXCL)) {
		fd = openat(pd.dfd, name, flags);
		if (fd < 0)
			fd = -errno;
		*existed = true;
	}
	lfs_acl_new_free(&a);
	lfs_obj_release(&pd);
	return fd;
}

int lfs_create_link(struct node *n, struct node *dir, const char *newname)
{
	struct objref pd, src;
	int ret = lfs_check_new_name(newname);
	if (ret == 0)
		ret = lfs_copyup(n, true);
	if (ret == 0)
		ret = lfs_upper_dir(dir, &pd);
	if (ret)
		return ret;
	ret = lfs_obj_locate(n, &src);
	if (ret == 0) {
		if (linkat(src.dfd, src.name, pd.dfd, newname, 0) < 0)
			ret = -errno;
		else
			ret = lfs_whiteout_remove(pd.dfd, newname);
		lfs_obj_release(&src);
	}
	lfs_obj_release(&pd);
	return ret;
}
