/* The work area of the rw branch: see workdir.h. */
#include "workdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs/whiteout.h"

void lfs_tmpname(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "%s.%d.%lu", tag, (int)getpid(),
		 __atomic_fetch_add(&lfs->tmp_counter, 1, __ATOMIC_RELAXED));
}

void lfs_dir_times_save(int dfd, struct lfs_dir_times *t)
{
	struct stat st;
	t->valid = fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0;
	if (t->valid) {
		t->ts[0] = st.st_atim;
		t->ts[1] = st.st_mtim;
	}
}

void lfs_dir_times_restore(int dfd, const struct lfs_dir_times *t)
{
	if (!t->valid)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	if (utimensat(AT_FDCWD, path, t->ts, 0) < 0)
		lfs_dbg("cannot restore directory times: %s", strerror(errno));
}

/* Opens (and with create, makes) a metadata directory of the work area
 * (in the rw root without workdir=, whose times stay the users'). */
static int work_subdir(int *cache, const char *name, bool create)
{
	if (!lfs->has_rw)
		return -EROFS;
	lfs_mutex_lock(&lfs->meta_lock, LFS_RANK_LEAF);
	int fd = *cache;
	if (fd < 0) {
		struct lfs_dir_times t = { .valid = false };
		if (create)
			lfs_dir_times_save(lfs->workfd, &t);
		int made = create ? mkdirat(lfs->workfd, name, 0700) : -1;
		if (made == 0)
			lfs_dir_times_restore(lfs->workfd, &t);
		if (create && made < 0 && errno != EEXIST) {
			fd = -errno;
			lfs_log("cannot create %s/%s: %s", lfs->workdir, name, strerror(errno));
		} else {
			fd = openat(lfs->workfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
			else
				*cache = fd;
		}
	}
	lfs_mutex_unlock(&lfs->meta_lock, LFS_RANK_LEAF);
	return fd;
}

int lfs_work_orph(void)
{
	return work_subdir(&lfs->orphfd, LFS_WH_ORPH_DIR, true);
}

int lfs_work_plink(void)
{
	return work_subdir(&lfs->plinkfd, LFS_WH_PLINK_DIR, true);
}

int lfs_work_plink_if_exists(void)
{
	return work_subdir(&lfs->plinkfd, LFS_WH_PLINK_DIR, false);
}

/* ---- the dirty mark ---- */

static const char *dirty_xattr(void)
{
	return geteuid() == 0 ? "trusted.layerfs.dirty" : "user.layerfs.dirty";
}

static void orph_path(int orphfd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", orphfd);
}

void lfs_mark_dirty(void)
{
	if (__atomic_load_n(&lfs->dirty_marked, __ATOMIC_ACQUIRE))
		return;
	int orph = lfs_work_orph();
	if (orph < 0)
		return;
	char path[64];
	orph_path(orph, path, sizeof(path));
	if (setxattr(path, dirty_xattr(), "1", 1, 0) < 0)
		lfs_dbg("cannot mark the work directory: %s", strerror(errno));
	__atomic_store_n(&lfs->dirty_marked, true, __ATOMIC_RELEASE);
}

void lfs_mark_clean(void)
{
	if (!lfs->dirty_marked || lfs->orphfd < 0)
		return;
	char path[64];
	orph_path(lfs->orphfd, path, sizeof(path));
	removexattr(path, dirty_xattr());
	lfs->dirty_marked = false;
}

bool lfs_work_take_dirty_mark(void)
{
	if (!lfs->has_rw)
		return false;
	int orph = openat(lfs->workfd, LFS_WH_ORPH_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (orph < 0)
		return false;
	char path[64], v;
	orph_path(orph, path, sizeof(path));
	bool dirty = getxattr(path, dirty_xattr(), &v, 1) >= 0;
	if (dirty)
		removexattr(path, dirty_xattr());
	close(orph);
	return dirty;
}

/* ---- removing trees ---- */

static int remove_dir_contents(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = lfs_remove_tree_at(dirfd, de->d_name);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	return ret;
}

int lfs_remove_tree_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	int sub = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return -errno;
	int ret = remove_dir_contents(sub);
	close(sub);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

int lfs_remove_dir_atomic(int dfd, const char *name)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "rm");
	if (renameat(dfd, name, orph, tmp) < 0)
		return -errno;
	int ret = lfs_remove_tree_at(orph, tmp);
	if (ret)
		lfs_log("cannot remove %s/%s/%s: %s", lfs->workdir, LFS_WH_ORPH_DIR, tmp,
			strerror(-ret));
	return 0;
}

int lfs_clean_orph(void)
{
	if (!lfs->has_rw)
		return 0;
	int fd = openat(lfs->workfd, LFS_WH_ORPH_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int ret = remove_dir_contents(fd);
	close(fd);
	return ret;
}
