/* Metadata-only copies: see layerfs/metacopy.h. */
#include "layerfs/metacopy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <nettle/sha2.h>

/* What a file's xattrs may add to its st_blocks (ext4 counts its external
 * xattr block, XFS its attribute fork). */
#define XATTR_SLACK 65536

bool lfs_metacopy_maybe(const struct stat *st)
{
	int64_t allocated = (int64_t)st->st_blocks * 512;
	return S_ISREG(st->st_mode) && st->st_size > 0 &&
	       (allocated <= XATTR_SLACK || allocated < (int64_t)st->st_size);
}

/* Fixed little-endian bytes, so that a layer's markers mean the same on
 * every host. */
static void put_le(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void fingerprint(const struct stat *st, unsigned char out[LFS_METACOPY_FINGERPRINT_LEN])
{
	unsigned char in[28], digest[SHA256_DIGEST_SIZE];
	put_le(in, (uint64_t)st->st_ino, 8);
	put_le(in + 8, (uint64_t)st->st_size, 8);
	put_le(in + 16, (uint64_t)st->st_mtim.tv_sec, 8);
	put_le(in + 24, (uint64_t)st->st_mtim.tv_nsec, 4);
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, sizeof(in), in);
	sha256_digest(&ctx, sizeof(digest), digest);
	memcpy(out, digest, LFS_METACOPY_FINGERPRINT_LEN);
}

void lfs_metacopy_of(const struct stat *lower, struct lfs_metacopy *mc)
{
	fingerprint(lower, mc->fingerprint);
}

bool lfs_metacopy_matches(const struct lfs_metacopy *mc, const struct stat *lower)
{
	if (!S_ISREG(lower->st_mode))
		return false;
	unsigned char fp[LFS_METACOPY_FINGERPRINT_LEN];
	fingerprint(lower, fp);
	return memcmp(fp, mc->fingerprint, sizeof(fp)) == 0;
}

int lfs_metacopy_format(const struct lfs_metacopy *mc, char *buf, size_t size)
{
	if (size < 1 + LFS_METACOPY_FINGERPRINT_LEN)
		return -ERANGE;
	buf[0] = LFS_METACOPY_VERSION;
	memcpy(buf + 1, mc->fingerprint, LFS_METACOPY_FINGERPRINT_LEN);
	return 1 + LFS_METACOPY_FINGERPRINT_LEN;
}

int lfs_metacopy_parse(const char *value, size_t len, struct lfs_metacopy *mc)
{
	if (len != 1 + LFS_METACOPY_FINGERPRINT_LEN || value[0] != LFS_METACOPY_VERSION)
		return -EINVAL;
	memcpy(mc->fingerprint, value + 1, LFS_METACOPY_FINGERPRINT_LEN);
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
