/* See include/layerfs/fsops.h. */
#include "layerfs/fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The same number on every architecture (the unified syscall table). */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static bool no_fchmodat2;    /* the kernel said ENOSYS once */

int lfs_fchmodat_nofollow(int dfd, const char *name, mode_t mode)
{
	if (!__atomic_load_n(&no_fchmodat2, __ATOMIC_RELAXED)) {
		if (syscall(SYS_fchmodat2, dfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
		if (errno != ENOSYS)
			return -errno;
		__atomic_store_n(&no_fchmodat2, true, __ATOMIC_RELAXED);
	}
	return fchmodat(dfd, name, mode, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}
