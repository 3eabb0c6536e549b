/* System calls with flags that Debian 12's C library emulates slowly. */
#ifndef LAYERFS_FSOPS_H
#define LAYERFS_FSOPS_H

#include <sys/types.h>

/* fchmodat(dfd, name, mode, AT_SYMLINK_NOFOLLOW): one fchmodat2 call on
 * kernels that have it (6.6+), where glibc 2.36 opens the object with
 * O_PATH, fstats it and chmods its /proc path. Never follows a symlink
 * (-EOPNOTSUPP for one, as the kernel says). 0 or -errno. */
int lfs_fchmodat_nofollow(int dfd, const char *name, mode_t mode);

#endif
