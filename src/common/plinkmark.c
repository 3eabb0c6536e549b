/* The mark of an indexed copy: see layerfs/plinkmark.h. */
#include "layerfs/plinkmark.h"

#include <limits.h>
#include <stdio.h>
#include <sys/xattr.h>

void lfs_plink_key(const struct stat *lower, char *buf, size_t size)
{
	snprintf(buf, size, "%llx_%llx", (unsigned long long)lower->st_dev,
		 (unsigned long long)lower->st_ino);
}

bool lfs_plink_key_inode(const char *key, dev_t *dev, ino_t *ino)
{
	unsigned long long d, i;
	int used = -1;
	if (sscanf(key, "%llx_%llx%n", &d, &i, &used) != 2 || key[used] != '\0')
		return false;
	*dev = (dev_t)d;
	*ino = (ino_t)i;
	return true;
}

int lfs_plink_format_mark(const char *key, const struct lfs_plink_count *count, char *buf,
			  size_t size)
{
	if (count->gone == LFS_PLINK_GONE_UNKNOWN)
		return snprintf(buf, size, "%s %lu", key, (unsigned long)count->lower);
	return snprintf(buf, size, "%s %lu %lu", key, (unsigned long)count->lower,
			(unsigned long)count->gone);
}

bool lfs_plink_parse_mark(const char *value, char *key, size_t keysize,
			  struct lfs_plink_count *count)
{
	unsigned long nl = 0, gone = 0;
	char k[LFS_PLINK_KEY_MAX];
	int n = sscanf(value, "%63s %lu %lu", k, &nl, &gone);
	if (n < 2)
		return false;
	snprintf(key, keysize, "%s", k);
	count->lower = (nlink_t)nl;
	count->gone = n == 3 ? (nlink_t)gone : LFS_PLINK_GONE_UNKNOWN;
	return true;
}

bool lfs_plink_read_mark_in(int dfd, const char *name, const char *xattr, char *key,
			    size_t keysize, struct lfs_plink_count *count)
{
	char path[PATH_MAX + 64], value[96];
	if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name) >= (int)sizeof(path))
		return false;
	ssize_t len = lgetxattr(path, xattr, value, sizeof(value) - 1);
	if (len <= 0)
		return false;
	value[len] = '\0';
	return lfs_plink_parse_mark(value, key, keysize, count);
}

bool lfs_plink_read_mark_at(int dfd, const char *name, char *key, size_t keysize,
			    struct lfs_plink_count *count)
{
	return lfs_plink_read_mark_in(dfd, name, LFS_PLINK_XATTR_ROOT, key, keysize, count) ||
	       lfs_plink_read_mark_in(dfd, name, LFS_PLINK_XATTR_USER, key, keysize, count);
}
