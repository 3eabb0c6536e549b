/* Metadata-only copies: see layerfs/metacopy.h. */
#include "layerfs/metacopy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/* What a file's xattrs may add to its st_blocks (ext4 counts its external
 * xattr block, XFS its attribute fork). */
#define XATTR_SLACK 65536

bool lfs_metacopy_maybe(const struct stat *st)
{
	int64_t allocated = (int64_t)st->st_blocks * 512;
	return S_ISREG(st->st_mode) && st->st_size > 0 &&
	       (allocated <= XATTR_SLACK || allocated < (int64_t)st->st_size);
}

void lfs_metacopy_of(const struct stat *lower, struct lfs_metacopy *mc)
{
	mc->ino = (uint64_t)lower->st_ino;
	mc->size = (int64_t)lower->st_size;
	mc->mtime_sec = (int64_t)lower->st_mtim.tv_sec;
	mc->mtime_nsec = lower->st_mtim.tv_nsec;
}

bool lfs_metacopy_matches(const struct lfs_metacopy *mc, const struct stat *lower)
{
	return S_ISREG(lower->st_mode) && mc->ino == (uint64_t)lower->st_ino &&
	       mc->size == (int64_t)lower->st_size &&
	       mc->mtime_sec == (int64_t)lower->st_mtim.tv_sec &&
	       mc->mtime_nsec == lower->st_mtim.tv_nsec;
}

int lfs_metacopy_format(const struct lfs_metacopy *mc, char *buf, size_t size)
{
	return snprintf(buf, size, "v1 ino=%" PRIu64 " size=%" PRId64 " mtime=%" PRId64 ".%09ld",
			mc->ino, mc->size, mc->mtime_sec, mc->mtime_nsec);
}

int lfs_metacopy_parse(const char *value, size_t len, struct lfs_metacopy *mc)
{
	char buf[LFS_METACOPY_VALUE_MAX];
	if (len == 0 || len >= sizeof(buf) || memchr(value, '\0', len))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	uint64_t ino;
	int64_t size, sec;
	long nsec;
	int used = -1;
	if (sscanf(buf, "v1 ino=%" SCNu64 " size=%" SCNd64 " mtime=%" SCNd64 ".%9ld%n", &ino,
		   &size, &sec, &nsec, &used) != 4 || used != (int)len || size < 0 || nsec < 0 ||
	    nsec > 999999999)
		return -EINVAL;
	*mc = (struct lfs_metacopy){ ino, size, sec, nsec };
	return 0;
}

int lfs_metacopy_read_at(int dfd, const char *name, struct lfs_metacopy *mc)
{
	char path[64 + 256], value[LFS_METACOPY_VALUE_MAX];
	if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	static const char *const names[] = { LFS_METACOPY_XATTR_ROOT, LFS_METACOPY_XATTR_USER };
	for (size_t i = 0; i < 2; i++) {
		ssize_t len = lgetxattr(path, names[i], value, sizeof(value));
		if (len >= 0)
			return lfs_metacopy_parse(value, (size_t)len, mc) == 0 ? 1 : -EINVAL;
		/* Not there, or a namespace this caller may not read. */
		if (errno != ENODATA && errno != EPERM && errno != EACCES && errno != ENOTSUP)
			return errno == ERANGE ? -EINVAL : -errno;
	}
	return 0;
}

int lfs_metacopy_mark_fd(int fd, const char *xattr, const struct lfs_metacopy *mc)
{
	char value[LFS_METACOPY_VALUE_MAX];
	int len = lfs_metacopy_format(mc, value, sizeof(value));
	return fsetxattr(fd, xattr, value, (size_t)len, 0) < 0 ? -errno : 0;
}

int lfs_metacopy_clear_fd(int fd)
{
	static const char *const names[] = { LFS_METACOPY_XATTR_ROOT, LFS_METACOPY_XATTR_USER };
	for (size_t i = 0; i < 2; i++)
		if (fremovexattr(fd, names[i]) < 0 && errno != ENODATA && errno != EPERM &&
		    errno != ENOTSUP)
			return -errno;
	return 0;
}
