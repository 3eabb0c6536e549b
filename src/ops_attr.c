/* FUSE operations on attributes: getattr, setattr, readlink, statfs. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "copyup.h"
#include "handle.h"
#include "killpriv.h"
#include "lookup.h"
#include "objref.h"
#include "layerfs/fsops.h"

/* An open file whose names are all gone is reached through its fd. */
static int stat_unlinked(struct node *n, struct stat *st)
{
	int fd = lfs_node_dup_open_fd(n);
	if (fd < 0)
		return fd;
	int ret = fstat(fd, st) < 0 ? -errno : 0;
	close(fd);
	if (ret == 0) {
		lfs_tree_lock();
		lfs_fix_stat(n, st);
		lfs_tree_unlock();
	}
	return ret;
}

void lfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = lfs_node(ino);
	struct stat st;
	int ret = 0;
	if (fi && fi->fh) {
		struct fhandle *h = lfs_handle(fi);
		if (fstat(lfs_handle_fd(h, n), &st) < 0)
			ret = -errno;
		else {
			lfs_tree_lock();
			lfs_fix_stat(n, &st);
			lfs_tree_unlock();
		}
	} else {
		ret = lfs_node_stat(n, &st);
		if (ret == -ENOENT)
			ret = stat_unlinked(n, &st);
		if (ret == -ENOENT && lfs_node_last_stat(n, &st))
			ret = 0;
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, lfs->timeout);
}

static struct timespec pick_time(int to_set, int set_flag, int now_flag,
				 const struct timespec *value)
{
	if (to_set & now_flag)
		return (struct timespec){ .tv_nsec = UTIME_NOW };
	if (to_set & set_flag)
		return *value;
	return (struct timespec){ .tv_nsec = UTIME_OMIT };
}

/* Truncates o (through the open file when the kernel names one), then
 * drops setuid/setgid as the kernel's flag says. */
static int truncate_obj(fuse_req_t req, const struct objref *o, struct fuse_file_info *fi,
			struct node *n, off_t size)
{
	bool changed;
	if (fi && fi->fh) {
		int fd = lfs_handle_fd(lfs_handle(fi), n);
		if (ftruncate(fd, size) < 0)
			return -errno;
		return lfs_killpriv_after_change(req, fd, &changed);
	}
	int fd = openat(o->dfd, o->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = ftruncate(fd, size) < 0 ? -errno : 0;
	if (ret == 0)
		ret = lfs_killpriv_after_change(req, fd, &changed);
	close(fd);
	return ret;
}

/* What a SETATTR may change; one that changes none of it is the kernel's
 * request to drop privileges (killpriv.h). */
#define ATTR_CHANGES (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | \
		      FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | \
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)

/* Applies the requested changes to the (rw) object o. Owner before mode:
 * chown drops setuid/setgid. Times last: everything else touches them.
 * setuid/setgid go as the kernel's rules say (killpriv.h). */
static int apply_setattr(fuse_req_t req, const struct objref *o, struct node *n,
			 struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	if (!(to_set & ATTR_CHANGES))
		return lfs_killpriv_on() ? lfs_killpriv_on_request(req, o->dfd, o->name, n->ino)
					 : 0;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		struct stat old;
		if (fstatat(o->dfd, o->name, &old, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? lfs_id_on_disk(&lfs->ids.uids, attr->st_uid)
							 : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? lfs_id_on_disk(&lfs->ids.gids, attr->st_gid)
							 : (gid_t)-1;
		if (((to_set & FUSE_SET_ATTR_UID) && uid == (uid_t)-1) ||
		    ((to_set & FUSE_SET_ATTR_GID) && gid == (gid_t)-1))
			return -EINVAL;   /* no mapping for that id */
		if (fchownat(o->dfd, o->name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		int ret = lfs_killpriv_after_chown_at(req, o->dfd, o->name, &old);
		if (ret)
			return ret;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		int ret = lfs_fchmodat_nofollow(o->dfd, o->name, attr->st_mode & 07777);
		if (ret)
			return ret;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		int ret = truncate_obj(req, o, fi, n, attr->st_size);
		if (ret)
			return ret;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts[2] = {
			pick_time(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, &attr->st_atim),
			pick_time(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, &attr->st_mtim),
		};
		if (utimensat(o->dfd, o->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	return 0;
}

/* An object without names, through an fd of one of its open files (maybe
 * O_PATH: everything goes through its /proc/self/fd link). */
static int setattr_unlinked(fuse_req_t req, struct node *n, struct stat *attr, int to_set)
{
	if (!(to_set & ATTR_CHANGES))
		return 0;      /* a kill request: an unlinked file runs nothing */
	/* Never the lower file itself. */
	int up = lfs_node_is_upper(n) ? 0 : lfs_copyup_orphan(n);
	if (up)
		return up;
	int fd = lfs_node_dup_open_fd(n);
	if (fd < 0)
		return fd;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ret = 0;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) &&
	    chown(path, (to_set & FUSE_SET_ATTR_UID) ? lfs_id_on_disk(&lfs->ids.uids, attr->st_uid)
						   : (uid_t)-1,
		  (to_set & FUSE_SET_ATTR_GID) ? lfs_id_on_disk(&lfs->ids.gids, attr->st_gid)
					       : (gid_t)-1) < 0)
		ret = -errno;
	if (ret == 0 && (to_set & FUSE_SET_ATTR_MODE) && chmod(path, attr->st_mode & 07777) < 0)
		ret = -errno;
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		int wfd = open(path, O_WRONLY | O_CLOEXEC);
		bool changed;
		ret = wfd < 0 ? -errno : ftruncate(wfd, attr->st_size) < 0 ? -errno : 0;
		if (ret == 0)
			ret = lfs_killpriv_after_change(req, wfd, &changed);
		if (wfd >= 0)
			close(wfd);
	}
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		struct timespec ts[2] = {
			pick_time(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, &attr->st_atim),
			pick_time(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, &attr->st_mtim),
		};
		if (utimensat(AT_FDCWD, path, ts, 0) < 0)
			ret = -errno;
	}
	close(fd);
	return ret;
}

void lfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct node *n = lfs_node(ino);
	bool only_truncate_to_zero = (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0;
	/* A new size changes the data; anything else only the metadata. */
	int ret = !lfs->has_rw ? -EROFS
		  : (to_set & FUSE_SET_ATTR_SIZE) ? lfs_copyup(n, !only_truncate_to_zero)
						  : lfs_copyup_meta(n);
	struct objref o;
	if (ret == 0)
		ret = lfs_obj_locate(n, &o);
	if (ret == 0) {
		ret = apply_setattr(req, &o, n, attr, to_set, fi);
		lfs_obj_release(&o);
	}
	if (ret == -ENOENT)
		ret = setattr_unlinked(req, n, attr, to_set);
	struct stat st;
	if (ret == 0)
		ret = lfs_node_stat(n, &st);
	if (ret == -ENOENT)
		ret = stat_unlinked(n, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, lfs->timeout);
}

void lfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct objref o;
	int ret = lfs_obj_locate(lfs_node(ino), &o);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	char buf[PATH_MAX + 1];
	ssize_t len = readlinkat(o.dfd, o.name, buf, sizeof(buf) - 1);
	int err = errno;
	lfs_obj_release(&o);
	if (len < 0) {
		fuse_reply_err(req, err);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}

void lfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs sv;
	if (fstatvfs(lfs->br[0].fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}
