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
#include "layerfs/metacopy.h"
#include "layerfs/whiteout.h"

/* What a copy-up must give the rw branch. */
enum need {
	NEED_EMPTY,   /* the object; a file's data is about to be cut anyway */
	NEED_META,    /* its metadata (a file's data may stay below) */
	NEED_DATA,    /* all of it */
};

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
 * (ino.h): recorded by name (lfs_ino_record) or, for a regular file being
 * filled, on its fd (lfs_ino_record_fd). A filesystem without xattrs (or
 * user.* on a symlink, for an unprivileged daemon) keeps it for this mount
 * only, so a failure is only worth a debug line. */
static void number_recorded(int ret)
{
	if (ret)
		lfs_dbg("copy-up: cannot record the inode number: %s", strerror(-ret));
}

/* The xattrs of n (found at src) onto tmp in the work directory: none to
 * copy when a getxattr of n found it has none (chown asks the kernel's
 * security.capability question first, so chown -R lists each file once). */
static int copy_xattrs(struct node *n, const struct objref *src, int orph, const char *tmp)
{
	if (lfs_node_known_bare(n))
		return 0;
	return lfs_copy_xattrs(src->dfd, src->name, orph, tmp, lfs_is_internal_xattr);
}

static int fill_regular(struct node *n, const struct objref *src, const struct stat *st, int orph,
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
		ret = copy_xattrs(n, src, orph, tmp);
	if (ret == 0)
		number_recorded(lfs_ino_record_fd(dfd, n->ino));
	close(sfd);
	close(dfd);
	return ret;
}

/* The marker's namespace: trusted.* needs root. */
static const char *metacopy_xattr(void)
{
	return geteuid() == 0 ? LFS_METACOPY_XATTR_ROOT : LFS_METACOPY_XATTR_USER;
}

/* A metadata-only copy of src under tmp: a sparse file of its size with
 * its attributes and xattrs, and the marker naming it. */
static int fill_metacopy(struct node *n, const struct objref *src, const struct stat *st, int orph,
			 const char *tmp)
{
	int dfd = openat(orph, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (dfd < 0)
		return -errno;
	struct lfs_metacopy mc;
	lfs_metacopy_of(st, &mc);
	int ret = ftruncate(dfd, st->st_size) < 0 ? -errno : 0;
	if (ret == 0)
		ret = lfs_copy_attrs_fd(dfd, st);
	if (ret == 0)
		ret = copy_xattrs(n, src, orph, tmp);
	if (ret == 0)
		ret = lfs_metacopy_mark_fd(dfd, metacopy_xattr(), &mc);
	if (ret == 0)
		number_recorded(lfs_ino_record_fd(dfd, n->ino));
	close(dfd);
	return ret;
}

/* Whether a copy-up for need makes lower file st a metadata-only copy.
 * Not for hardlinked files (their copy is shared through the index) nor
 * for empty ones (nothing to leave below). */
static bool makes_metacopy(enum need need, const struct stat *st)
{
	return need == NEED_META && S_ISREG(st->st_mode) && st->st_nlink == 1 && st->st_size > 0;
}

static int copy_regular(struct node *n, const struct objref *src, const struct stat *st,
			int dstdfd, enum need need)
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
	bool meta = makes_metacopy(need, st);
	int ret = meta ? fill_metacopy(n, src, st, orph, tmp)
		       : fill_regular(n, src, st, orph, tmp, need != NEED_EMPTY || st->st_nlink > 1);
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
	if (ret == 0 && meta) {
		lfs_tree_lock();
		lfs_node_set_metacopy_locked(n, true, src->branch, st->st_blocks);
		lfs_tree_unlock();
	}
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
		ret = copy_xattrs(n, src, orph, tmp);
	if (ret == 0)
		number_recorded(lfs_ino_record(orph, tmp, n->ino));
	if (ret) {
		lfs_remove_tree_at(orph, tmp);
		return ret;
	}
	return publish(orph, tmp, dstdfd, src->name);
}

/* Putting a copy into an rw directory is not a change users made: the
 * directory keeps the times it had (as on overlayfs). */

static int copyup_locked(struct node *n, struct node *parent, enum need need)
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
		ret = copy_regular(n, &src, &st, dst.dfd, need);
	else
		ret = copy_other(n, &src, &st, dst.dfd);
	if (ret == 0)
		lfs_dir_times_restore(dst.dfd, &pt);
	struct stat ust;
	if (ret == 0 && fstatat(dst.dfd, src.name, &ust, AT_SYMLINK_NOFOLLOW) == 0)
		ret = lfs_ino_remember(&ust, n->ino);
	if (ret == 0) {
		bool meta = lfs_node_is_metacopy(n);
		lfs_node_set_upper(n);
		/* Open files of a metadata-only copy go on reading the lower
		 * data (they reopen it by name). */
		if (!meta)
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

/* The lower data of metadata-only copy n into its copy, open as wfd. The
 * copy keeps its times and file capabilities (writing drops those even
 * for root; the change that follows drops them if it should). */
static int fill_from_lower(struct node *n, int wfd)
{
	struct objref low;
	int ret = lfs_obj_locate_data(n, &low);
	if (ret)
		return ret;
	int sfd = openat(low.dfd, low.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ret = sfd < 0 ? -errno : 0;
	lfs_obj_release(&low);
	struct stat ust;
	if (ret == 0 && fstat(wfd, &ust) < 0)
		ret = -errno;
	char cap[512];
	ssize_t caplen = ret ? -1 : fgetxattr(wfd, "security.capability", cap, sizeof(cap));
	if (ret == 0)
		ret = lfs_copy_data(sfd, wfd, ust.st_size);
	if (sfd >= 0)
		close(sfd);
	if (ret == 0 && caplen > 0 && fsetxattr(wfd, "security.capability", cap, (size_t)caplen, 0) < 0)
		ret = -errno;
	const struct timespec times[2] = { ust.st_atim, ust.st_mtim };
	if (ret == 0 && futimens(wfd, times) < 0)
		ret = -errno;
	return ret;
}

/* Metadata-only copy n gets its data (or, without data, is cut to empty)
 * in place, and then loses its marker: a kill before that leaves the
 * metadata-only copy, whose reads still come from below. */
static int complete_metacopy_locked(struct node *n, bool data)
{
	struct objref up;
	int ret = lfs_obj_locate(n, &up);
	if (ret)
		return ret;
	int wfd = openat(up.dfd, up.name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	ret = wfd < 0 ? -errno : 0;
	if (ret == 0)
		ret = data ? fill_from_lower(n, wfd) : ftruncate(wfd, 0) < 0 ? -errno : 0;
	if (ret == 0)
		ret = lfs_metacopy_clear_fd(wfd);
	if (wfd >= 0)
		close(wfd);
	if (ret == 0) {
		lfs_tree_lock();
		lfs_node_set_metacopy_locked(n, false, -1, 0);
		lfs_tree_unlock();
		lfs_node_set_upper(n);   /* open files reopen: the data is here now */
		lfs_handles_copied_up(n, up.dfd, up.name);
	} else {
		lfs_log("copying the data of '%s' up failed: %s", up.name, strerror(-ret));
	}
	lfs_obj_release(&up);
	return ret;
}

static int complete_metacopy(struct node *n, bool data)
{
	if (!lfs_node_is_metacopy(n))
		return 0;      /* the common case: no node lock taken */
	lfs_mutex_lock(&n->lock, LFS_RANK_NODE);
	int ret = lfs_node_is_metacopy(n) ? complete_metacopy_locked(n, data) : 0;
	lfs_mutex_unlock(&n->lock, LFS_RANK_NODE);
	return ret;
}

static int copyup(struct node *n, enum need need)
{
	if (!lfs->has_rw)
		return -EROFS;
	if (n == lfs->root)
		return 0;
	if (lfs_node_is_upper(n))
		return need == NEED_META ? 0 : complete_metacopy(n, need == NEED_DATA);
	struct node *parent = lfs_node_parent(n);
	if (!parent)
		return -ENOENT;   /* unlinked: nothing left to copy up to */
	int ret = copyup(parent, NEED_DATA);
	if (ret)
		return ret;
	lfs_mutex_lock(&n->lock, LFS_RANK_NODE);
	bool copied = !lfs_node_is_upper(n);
	ret = copied ? copyup_locked(n, parent, need) : 0;
	lfs_mutex_unlock(&n->lock, LFS_RANK_NODE);
	if (ret == 0 && copied && n->plink)
		ret = link_known_names(n);
	/* Another request copied it up first, maybe metadata only. */
	if (ret == 0 && !copied && need != NEED_META)
		ret = complete_metacopy(n, need == NEED_DATA);
	return ret;
}

int lfs_copyup(struct node *n, bool data)
{
	return copyup(n, data ? NEED_DATA : NEED_EMPTY);
}

int lfs_copyup_meta(struct node *n)
{
	return copyup(n, lfs->metacopy ? NEED_META : NEED_DATA);
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
	} else {
		/* There already; a metadata-only copy gets its data, which its
		 * new place (a tree moved whole, a new name) cannot find below. */
		ret = lfs_copyup(n, true);
	}
	lfs_obj_release(&pd);
	return ret;
}
