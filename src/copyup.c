/* Copy-up: see copyup.h. */
#include "copyup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>

#include "copyfile.h"
#include "handle.h"
#include "ino.h"
#include "plink.h"
#include "workdir.h"
#include "layerfs/whiteout.h"

/* Moves the finished object from the work directory to its place. Losing a
 * race to another copy-up of the same object is success. */
static int publish(int orph, const char *tmp, int dstdfd, const char *name)
{
	if (renameat2(orph, tmp, dstdfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	int err = errno;
	lfs_remove_tree_at(orph, tmp);
	return err == EEXIST ? 0 : -err;
}

/* The copy keeps the inode number its original shows, across remounts
 * (ino.h). A filesystem without xattrs (or user.* on a symlink, for an
 * unprivileged daemon) keeps it for this mount only. */
static void record_number(struct node *n, int orph, const char *tmp)
{
	int ret = lfs_ino_record(orph, tmp, n->ino);
	if (ret)
		lfs_dbg("copy-up: cannot record the inode number: %s", strerror(-ret));
}

static int fill_regular(const struct objref *src, const struct stat *st, int orph,
			const char *tmp, bool data)
{
	int sfd = openat(src->dfd, src->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	int dfd = openat(orph, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (dfd < 0) {
		int err = errno;
		close(sfd);
		return -err;
	}
	/* xattrs last: chown drops security.capability even for root. */
	int ret = data ? lfs_copy_data(sfd, dfd, st->st_size) : 0;
	if (ret == 0)
		ret = lfs_copy_attrs_fd(dfd, st);
	if (ret == 0)
		ret = lfs_copy_xattrs(src->dfd, src->name, orph, tmp, lfs_is_internal_xattr);
	close(sfd);
	close(dfd);
	return ret;
}

static int copy_regular(struct node *n, const struct objref *src, const struct stat *st,
			int dstdfd, bool data)
{
	char key[LFS_PLINK_KEY_MAX] = "";
	int plink = -1;
	if (st->st_nlink > 1) {
		/* Another name of this inode may have been copied up already. */
		lfs_plink_key(st, key, sizeof(key));
		plink = lfs_work_plink();
		if (plink < 0)
			return plink;
		struct stat ist;
		if (fstatat(plink, key, &ist, AT_SYMLINK_NOFOLLOW) == 0)
			return lfs_plink_link(n, key, dstdfd, src->name);
	}
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "cu");
	int ret = fill_regular(src, st, orph, tmp, data || st->st_nlink > 1);
	if (ret == 0)
		record_number(n, orph, tmp);
	/* The name published below is the first lower name gone up. */
	struct lfs_plink_count count = { st->st_nlink, 1 };
	if (ret == 0 && plink >= 0)
		lfs_plink_mark(orph, tmp, key, &count);
	if (ret == 0 && plink >= 0 && linkat(orph, tmp, plink, key, 0) < 0 && errno != EEXIST)
		ret = -errno;
	if (ret) {
		unlinkat(orph, tmp, 0);
		return ret;
	}
	ret = publish(orph, tmp, dstdfd, src->name);
	if (ret == 0 && plink >= 0) {
		lfs_tree_lock();
		if (!n->plink)
			n->plink = strdup(key);
		n->lower_nlink = count.lower;
		n->lower_gone = count.gone;
		lfs_tree_unlock();
	}
	return ret;
}

static int make_special(const struct objref *src, const struct stat *st, int orph,
			const char *tmp)
{
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t len = readlinkat(src->dfd, src->name, target, sizeof(target) - 1);
		if (len < 0)
			return -errno;
		target[len] = '\0';
		return symlinkat(target, orph, tmp) < 0 ? -errno : 0;
	}
	if (S_ISDIR(st->st_mode))
		return mkdirat(orph, tmp, 0700) < 0 ? -errno : 0;
	return mknodat(orph, tmp, st->st_mode & S_IFMT, st->st_rdev) < 0 ? -errno : 0;
}

static int copy_other(struct node *n, const struct objref *src, const struct stat *st,
		      int dstdfd)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "cu");
	int ret = make_special(src, st, orph, tmp);
	if (ret)
		return ret;
	ret = lfs_copy_attrs(orph, tmp, st);
	if (ret == 0)
		ret = lfs_copy_xattrs(src->dfd, src->name, orph, tmp, lfs_is_internal_xattr);
	if (ret == 0)
		record_number(n, orph, tmp);
	if (ret) {
		lfs_remove_tree_at(orph, tmp);
		return ret;
	}
	return publish(orph, tmp, dstdfd, src->name);
}

/* Putting a copy into an rw directory is not a change users made: the
 * directory keeps the times it had (as on overlayfs). */

static int copyup_locked(struct node *n, struct node *parent, bool data)
{
	struct objref src, dst;
	int ret = lfs_obj_locate(n, &src);
	if (ret)
		return ret;
	struct stat st;
	if (fstatat(src.dfd, src.name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		lfs_obj_release(&src);
		return ret;
	}
	ret = lfs_obj_locate_dir(parent, 0, &dst);
	if (ret) {
		lfs_obj_release(&src);
		return ret;
	}
	struct lfs_dir_times pt;
	lfs_dir_times_save(dst.dfd, &pt);
	if (S_ISREG(st.st_mode))
		ret = copy_regular(n, &src, &st, dst.dfd, data);
	else
		ret = copy_other(n, &src, &st, dst.dfd);
	if (ret == 0)
		lfs_dir_times_restore(dst.dfd, &pt);
	struct stat ust;
	if (ret == 0 && fstatat(dst.dfd, src.name, &ust, AT_SYMLINK_NOFOLLOW) == 0)
		ret = lfs_ino_remember(&ust, n->ino);
	if (ret == 0) {
		lfs_node_set_upper(n);
		lfs_handles_copied_up(n, dst.dfd, src.name);
		/* A directory in two branches now counts as merged (st_nlink 1):
		 * the kernel's cached attributes say otherwise. Attributes only:
		 * no lock a request may hold is taken for that. */
		if (S_ISDIR(st.st_mode) && lfs->se)
			fuse_lowlevel_notify_inval_inode(lfs->se, lfs_node_id(n), -1, 0);
	} else
		lfs_log("copy-up of '%s' from branch %d failed: %s", src.name, src.branch,
			strerror(-ret));
	lfs_obj_release(&src);
	lfs_obj_release(&dst);
	return ret;
}

/* Every known name of a copied-up hardlinked file becomes a link of the
 * upper copy, so the rw branch says the same as the merged view. */
static int link_known_names(struct node *n)
{
	struct { struct node *dir; char *name; } known[16];
	size_t cnt = 0;
	lfs_tree_lock();
	for (struct lname *l = n->names; l && cnt < 16; l = l->next) {
		known[cnt].dir = l->parent;
		known[cnt].name = strdup(l->name);
		if (known[cnt].name)
			l->parent->pins++, cnt++;
	}
	lfs_tree_unlock();
	int ret = 0;
	for (size_t i = 0; i < cnt; i++) {
		if (ret == 0)
			ret = lfs_copyup_at(known[i].dir, known[i].name, n);
		free(known[i].name);
		lfs_tree_lock();
		known[i].dir->pins--;
		lfs_tree_unlock();
	}
	return ret;
}

int lfs_copyup(struct node *n, bool data)
{
	if (!lfs->has_rw)
		return -EROFS;
	if (n == lfs->root || lfs_node_is_upper(n))
		return 0;
	struct node *parent = lfs_node_parent(n);
	if (!parent)
		return -ENOENT;   /* unlinked: nothing left to copy up to */
	int ret = lfs_copyup(parent, true);
	if (ret)
		return ret;
	lfs_mutex_lock(&n->lock, LFS_RANK_NODE);
	bool copied = !lfs_node_is_upper(n);
	ret = copied ? copyup_locked(n, parent, data) : 0;
	lfs_mutex_unlock(&n->lock, LFS_RANK_NODE);
	if (ret == 0 && copied && n->plink)
		ret = link_known_names(n);
	return ret;
}

/* Makes in orph, under tmp, an empty object of the type and attributes of
 * st (a directory, fifo, socket or device). */
static int make_special_copy(int orph, const char *tmp, const struct stat *st)
{
	int ret = S_ISDIR(st->st_mode) ? mkdirat(orph, tmp, 0700)
					: mknodat(orph, tmp, (st->st_mode & S_IFMT) | 0600, st->st_rdev);
	if (ret < 0)
		return -errno;
	return lfs_copy_attrs(orph, tmp, st);
}

/* The copy of a lower directory, fifo, socket or device whose last name
 * went while open: only the fd the node keeps reaches it (node.h). */
static int copy_gone_special_locked(struct node *n, int sfd, const struct stat *st)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "orphan");
	int ret = make_special_copy(orph, tmp, st);
	if (ret == 0)
		ret = lfs_copy_xattrs_from_fd(sfd, orph, tmp, lfs_is_internal_xattr);
	int fd = ret ? -1 : openat(orph, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (ret == 0 && fd < 0)
		ret = -errno;
	unlinkat(orph, tmp, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
	if (ret)
		return ret;
	lfs_tree_lock();
	lfs_node_keep_gone_fd_locked(n, fd);
	lfs_tree_unlock();
	lfs_node_set_upper(n);
	return 0;
}

/* The copy of a lower file that only open files still reach (its names
 * removed or replaced): built in the work directory from one of them, given
 * to every one of them, and unlinked again (it lives on as theirs). */
static int copy_orphan_locked(struct node *n)
{
	int sfd = lfs_node_dup_open_fd(n);
	if (sfd < 0)
		return sfd;
	struct stat st;
	int orph = lfs_work_orph();
	int ret = orph < 0 ? orph : fstat(sfd, &st) < 0 ? -errno : 0;
	if (ret == 0 && !S_ISREG(st.st_mode)) {
		ret = S_ISLNK(st.st_mode) ? -EROFS : copy_gone_special_locked(n, sfd, &st);
		close(sfd);
		return ret;
	}
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "orphan");
	int dfd = ret ? ret : openat(orph, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (ret == 0 && dfd < 0)
		ret = -errno;
	if (ret == 0)
		ret = lfs_copy_data(sfd, dfd, st.st_size);
	if (ret == 0)
		ret = lfs_copy_attrs_fd(dfd, &st);
	if (ret == 0)
		ret = lfs_copy_xattrs_from_fd(sfd, orph, tmp, lfs_is_internal_xattr);
	if (dfd >= 0)
		close(dfd);
	close(sfd);
	if (ret == 0) {
		lfs_node_set_upper(n);
		lfs_handles_copied_up(n, orph, tmp);
	}
	if (dfd >= 0)
		unlinkat(orph, tmp, 0);
	return ret;
}

int lfs_copyup_orphan(struct node *n)
{
	if (!lfs->has_rw)
		return -EROFS;
	lfs_mutex_lock(&n->lock, LFS_RANK_NODE);
	int ret = lfs_node_is_upper(n) ? 0 : copy_orphan_locked(n);
	lfs_mutex_unlock(&n->lock, LFS_RANK_NODE);
	return ret;
}

int lfs_upper_dir(struct node *dir, struct objref *o)
{
	int ret = lfs_copyup(dir, true);
	if (ret)
		return ret;
	return lfs_obj_locate_dir(dir, 0, o);
}

static bool entry_in_rw(int dfd, const char *name)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int lfs_copyup_at(struct node *dir, const char *name, struct node *n)
{
	struct objref pd;
	int ret = lfs_upper_dir(dir, &pd);
	if (ret)
		return ret;
	if (!entry_in_rw(pd.dfd, name)) {
		struct lfs_dir_times pt;
		lfs_dir_times_save(pd.dfd, &pt);
		ret = lfs_copyup(n, true);
		char key[LFS_PLINK_KEY_MAX] = "";
		lfs_tree_lock();
		if (n->plink)
			snprintf(key, sizeof(key), "%s", n->plink);
		lfs_tree_unlock();
		/* Another name of n went up: this one links to the same copy. */
		if (ret == 0 && key[0] && !entry_in_rw(pd.dfd, name))
			ret = lfs_plink_link(n, key, pd.dfd, name);
		if (ret == 0)
			lfs_dir_times_restore(pd.dfd, &pt);
	}
	lfs_obj_release(&pd);
	return ret;
}
