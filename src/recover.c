/* Recovery after a crash. Changes that touch two entries cannot be atomic:
 * a whiteout is made before the entry it replaces goes, and a new entry is
 * put in place before the whiteout it replaces goes. A crash in between
 * leaves a whiteout beside a live entry of the same branch: harmless (the
 * entry wins in its branch) but debris. The work directory carries a
 * "dirty" mark from the first change of a mount until its clean unmount;
 * a mount that finds the mark walks the rw branch and drops such whiteouts. */
#include "recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "workdir.h"

static bool is_work_metadata(const char *name)
{
	return !strcmp(name, LFS_WH_ORPH_DIR) || !strcmp(name, LFS_WH_PLINK_DIR) ||
	       !strcmp(name, LFS_WH_BASE);
}

/* Drops whiteouts beside live entries in directory fd, then recurses. */
static unsigned sweep_dir(int dirfd, bool at_root)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	unsigned dropped = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name, *target;
		if (lfs_union_classify(name, true, &target) != LFS_UNION_ENTRY_WHITEOUT)
			target = NULL;
		struct stat st;
		if (!strcmp(name, ".") || !strcmp(name, "..") || (at_root && is_work_metadata(name)))
			continue;
		if (target) {
			if (fstatat(fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    unlinkat(fd, name, 0) == 0)
				dropped++;
		} else if (de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN &&
			   fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))) {
			int sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				dropped += sweep_dir(sub, false);
				close(sub);
			}
		}
	}
	closedir(d);
	return dropped;
}

int lfs_recover(void)
{
	if (!lfs_work_take_dirty_mark())
		return 0;
	unsigned n = sweep_dir(lfs->br[0].fd, true);
	if (n)
		lfs_log("after an unclean stop: removed %u whiteout%s beside live entries in %s",
			n, n == 1 ? "" : "s", lfs->br[0].path);
	return 0;
}
