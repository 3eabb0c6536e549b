/* The hardlink index: see plink.h. */
#include "plink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "workdir.h"

/* On an inode of the index: "KEY NLINK". trusted.* needs root; a workdir=
 * mount as root keeps it there, anyone else in user.*. */
#define PLINK_XATTR_ROOT "trusted.layerfs.plink"
#define PLINK_XATTR_USER "user.layerfs.plink"

static const char *plink_xattr(void)
{
	return lfs->workfd >= 0 && geteuid() == 0 ? PLINK_XATTR_ROOT : PLINK_XATTR_USER;
}

void lfs_plink_key(const struct stat *lower, char *buf, size_t size)
{
	snprintf(buf, size, "%llx_%llx", (unsigned long long)lower->st_dev,
		 (unsigned long long)lower->st_ino);
}

bool lfs_plink_find(const struct stat *lower, char *key, size_t keysize, struct stat *st)
{
	if (!lfs->has_rw || !S_ISREG(lower->st_mode) || lower->st_nlink < 2)
		return false;
	lfs_plink_key(lower, key, keysize);
	int fd = lfs_work_plink_if_exists();
	if (fd < 0)
		return false;
	return fstatat(fd, key, st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool lfs_plink_marked(int dfd, const char *name, char *key, size_t keysize,
		      nlink_t *lower_nlink)
{
	char path[PATH_MAX + 64], value[96];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	ssize_t len = lgetxattr(path, plink_xattr(), value, sizeof(value) - 1);
	if (len <= 0)
		return false;
	value[len] = '\0';
	unsigned long nl = 0;
	char k[LFS_PLINK_KEY_MAX];
	if (sscanf(value, "%63s %lu", k, &nl) != 2)
		return false;
	snprintf(key, keysize, "%s", k);
	*lower_nlink = (nlink_t)nl;
	return true;
}

void lfs_plink_mark(int dfd, const char *name, const char *key, nlink_t lower_nlink)
{
	char path[PATH_MAX], value[96];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	int len = snprintf(value, sizeof(value), "%s %lu", key, (unsigned long)lower_nlink);
	if (lsetxattr(path, plink_xattr(), value, (size_t)len, 0) < 0)
		lfs_dbg("cannot mark '%s' as indexed: %s", name, strerror(errno));
}

int lfs_plink_link(struct node *n, const char *key, int dstdfd, const char *name)
{
	int plink = lfs_work_plink();
	if (plink < 0)
		return plink;
	if (linkat(plink, key, dstdfd, name, 0) < 0 && errno != EEXIST)
		return -errno;
	lfs_tree_lock();
	if (!n->plink)
		n->plink = strdup(key);
	lfs_tree_unlock();
	return 0;
}
