/* Whiteouts, opaque markers and the work directory of the rw branch.
 * Whiteouts and opaque markers are hardlinks of one base file, as on aufs. */
#include "layerfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/whiteout.h"

void lfs_tmpname(char *buf, size_t size, const char *tag)
{
	static atomic_ulong counter;
	snprintf(buf, size, "%s.%d.%lu", tag, (int)getpid(),
		 (unsigned long)atomic_fetch_add(&counter, 1));
}

/* Opens (and with create, makes) a metadata directory of the work area. */
static int work_subdir(int *cache, const char *name, bool create)
{
	if (!lfs->has_rw)
		return -EROFS;
	pthread_mutex_lock(&lfs->meta_lock);
	int fd = *cache;
	if (fd < 0) {
		if (create && mkdirat(lfs->workfd, name, 0700) < 0 && errno != EEXIST) {
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
	pthread_mutex_unlock(&lfs->meta_lock);
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

/* Creates an empty file in the work directory and renames it to dst in dfd
 * (replacing what is there when replace is set). */
static int make_empty_file(int dfd, const char *dst, bool replace)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "wh");
	int fd = openat(orph, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	if (renameat2(orph, tmp, dfd, dst, replace ? 0 : RENAME_NOREPLACE) < 0) {
		int err = errno;
		unlinkat(orph, tmp, 0);
		return err == EEXIST ? 0 : -err;
	}
	return 0;
}

/* Links the base file as linkname in dfd; 0 when linkname already exists. */
static int link_base(int dfd, const char *linkname)
{
	lfs_mark_dirty();   /* a whiteout is the first half of a two-step change */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (linkat(lfs->workfd, LFS_WH_BASE, dfd, linkname, 0) == 0 || errno == EEXIST)
			return 0;
		int err = errno;
		int ret;
		if (err == ENOENT)
			ret = make_empty_file(lfs->workfd, LFS_WH_BASE, false);
		else if (err == EMLINK)
			ret = make_empty_file(lfs->workfd, LFS_WH_BASE, true);
		else
			break;
		if (ret)
			return ret;
	}
	/* No hardlinks here: a plain empty file is a whiteout too. */
	int fd = openat(dfd, linkname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

int lfs_whiteout_make(int dfd, const char *name)
{
	char wh[NAME_MAX + 1];
	int ret = lfs_whiteout_name(name, wh, sizeof(wh));
	if (ret)
		return ret;
	return link_base(dfd, wh);
}

int lfs_whiteout_remove(int dfd, const char *name)
{
	char wh[NAME_MAX + 1];
	if (lfs_whiteout_name(name, wh, sizeof(wh)))
		return 0;
	if (unlinkat(dfd, wh, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

bool lfs_whiteout_exists(int dfd, const char *name)
{
	char wh[NAME_MAX + 1];
	struct stat st;
	if (lfs_whiteout_name(name, wh, sizeof(wh)))
		return false;
	return fstatat(dfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int lfs_opaque_make(int dfd, const char *dirname)
{
	int fd = openat(dfd, dirname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = link_base(fd, LFS_WH_OPAQUE);
	close(fd);
	return ret;
}

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

/* Under an opaque directory nothing below merges in: its whiteouts (at
 * every depth) say nothing any more and would only clutter a diff. */
int lfs_drop_whiteouts_below(int dfd, const char *dirname)
{
	int fd = openat(dfd, dirname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (lfs_whiteout_target(de->d_name)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
				ret = -errno;
		} else if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			ret = lfs_drop_whiteouts_below(fd, de->d_name);
		}
	}
	closedir(d);
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
