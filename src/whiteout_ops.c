/* Markers in the rw branch: see whiteout_ops.h. */
#include "whiteout_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/fdio.h"
#include "layerfs/longwh.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "workdir.h"

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
		struct lfs_dir_times t;
		if (err != ENOENT && err != EMLINK)
			break;
		/* The base lives in the rw root without workdir=. */
		lfs_dir_times_save(lfs->workfd, &t);
		ret = make_empty_file(lfs->workfd, LFS_WH_BASE, err == EMLINK);
		lfs_dir_times_restore(lfs->workfd, &t);
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

/* A name too long for ".wh.NAME" goes in the directory's long-name list,
 * rewritten through the work directory (longwh.h). */
static int change_long(int dfd, const char *name, bool add)
{
	if (!add && faccessat(dfd, LFS_WH_LONG, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;          /* the common case: no list, nothing to take out */
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	if (add)
		lfs_mark_dirty();
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "longwh");
	return lfs_longwh_change(dfd, name, add, orph, tmp);
}

int lfs_whiteout_make(int dfd, const char *name)
{
	if (lfs_whiteout_is_long(name))
		return change_long(dfd, name, true);
	char wh[NAME_MAX + 1];
	int ret = lfs_whiteout_name(name, wh, sizeof(wh));
	if (ret)
		return ret;
	return link_base(dfd, wh);
}

int lfs_whiteout_remove(int dfd, const char *name)
{
	if (lfs_whiteout_is_long(name))
		return change_long(dfd, name, false);
	char wh[NAME_MAX + 1];
	if (lfs_whiteout_name(name, wh, sizeof(wh)))
		return 0;
	if (unlinkat(dfd, wh, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int lfs_opaque_make(int dfd, const char *dirname)
{
	int fd = openat(dfd, dirname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The marker is ours: the directory keeps its times. */
	struct lfs_dir_times t;
	lfs_dir_times_save(fd, &t);
	int ret = link_base(fd, LFS_WH_OPAQUE);
	if (ret == 0)
		lfs_dir_times_restore(fd, &t);
	close(fd);
	return ret;
}

int lfs_redirect_make(int dfd, const char *dirname, const char *target)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	int dir = openat(dfd, dirname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "redir");
	int fd = openat(orph, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	int ret = fd < 0 ? -errno : lfs_write_all(fd, target, strlen(target));
	if (fd >= 0 && close(fd) < 0 && ret == 0)
		ret = -errno;
	/* The marker is not a change users made: the directory keeps its
	 * times (a renamed directory's mtime stays, as on ext4). */
	struct lfs_dir_times t;
	lfs_dir_times_save(dir, &t);
	if (ret == 0 && renameat(orph, tmp, dir, LFS_WH_OPAQUE) < 0)
		ret = -errno;
	if (ret == 0)
		lfs_dir_times_restore(dir, &t);
	if (ret && fd >= 0)
		unlinkat(orph, tmp, 0);
	close(dir);
	return ret;
}

/* A redirected directory's lower parts come from its redirect, not from
 * the tree above it: its whiteouts (and those below it) still hide. */
static bool is_redirected(int dfd, const char *dirname)
{
	char *target = NULL;
	int r = lfs_union_redirect_at(dfd, dirname, &target);
	free(target);
	return r == 1;
}

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
	struct lfs_dir_times t;
	lfs_dir_times_save(fd, &t);
	bool dropped = false;
	while (ret == 0 && (de = readdir(d))) {
		if (lfs_whiteout_target(de->d_name) || !strcmp(de->d_name, LFS_WH_LONG)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
				ret = -errno;
			dropped = true;
		} else if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			   !is_redirected(fd, de->d_name)) {
			ret = lfs_drop_whiteouts_below(fd, de->d_name);
		}
	}
	/* Markers going is no change users made. */
	if (dropped)
		lfs_dir_times_restore(fd, &t);
	closedir(d);
	return ret;
}
