/* Low-level copy helpers for copy-up; the contract is in copyfile.h. */
#include "copyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs/fdio.h"
#include "layerfs/fsops.h"

/* ---- data ---------------------------------------------------------- */

/* Largest piece asked of one copy_file_range(); the kernel caps a single
 * call a little below 2 GiB anyway. */
#define COPY_CHUNK_MAX ((size_t)1 << 30)
/* Bounce buffer for the pread/pwrite fallback. Heap, not stack: FUSE
 * worker threads may have small stacks. */
#define BOUNCE_SIZE ((size_t)128 * 1024)

struct copy_ctx {
	int src;
	int dst;
	/* How chunks are copied, best first; a way found useless here is
	 * left for the next. sendfile() works between two filesystems
	 * (EXDEV for copy_file_range) and still copies page cache to page
	 * cache in the kernel, one copy where pread/pwrite make two. */
	enum { VIA_CFR, VIA_SENDFILE, VIA_BOUNCE } via;
	char *bounce; /* allocated on first use of the fallback */
	size_t bounce_size; /* no more than the file needs: a small file's
			     * buffer comes from the heap, not a fresh mmap */
};

/* Catches fds that would fail only halfway through (or, for O_APPEND,
 * make pwrite() ignore the offset and silently scramble the copy). */
static int check_fd_modes(int src_fd, int dst_fd)
{
	int sfl = fcntl(src_fd, F_GETFL);
	if (sfl < 0)
		return -errno;
	int dfl = fcntl(dst_fd, F_GETFL);
	if (dfl < 0)
		return -errno;
	if ((sfl & O_PATH) || (sfl & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if ((dfl & O_PATH) || (dfl & O_ACCMODE) == O_RDONLY || (dfl & O_APPEND))
		return -EBADF;
	return 0;
}

/* Reflinks the whole of src into dst. Any failure just means "not here"
 * (ext4, tmpfs, different filesystems, ...); the caller copies instead. */
static bool try_clone(int src_fd, int dst_fd)
{
	for (;;) {
		if (ioctl(dst_fd, FICLONE, src_fd) == 0)
			return true;
		if (errno != EINTR)
			return false;
	}
}

/* The errors with which copy_file_range() says "not between these two
 * files" rather than "the copy failed". */
static bool cfr_unsupported(int err)
{
	return err == EXDEV || err == EINVAL || err == EOPNOTSUPP ||
	       err == ENOTSUP || err == ENOSYS;
}

static ssize_t chunk_cfr(struct copy_ctx *c, off_t off, size_t len)
{
	loff_t in = off, out = off;
	return copy_file_range(c->src, &in, c->dst, &out, len, 0);
}

/* sendfile() writes at dst's file position: put it at off first. */
static ssize_t chunk_sendfile(struct copy_ctx *c, off_t off, size_t len)
{
	if (lseek(c->dst, off, SEEK_SET) != off)
		return -1;
	off_t in = off;
	return sendfile(c->dst, c->src, &in, len);
}

/* Whether err from the current way says "not between these two files"
 * rather than "the copy failed". */
static bool way_unsupported(const struct copy_ctx *c, int err)
{
	if (c->via == VIA_CFR)
		return cfr_unsupported(err);
	return c->via == VIA_SENDFILE &&
	       (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ENOTSUP);
}

/* One bounce-buffer round. Same result convention as copy_file_range(). */
static ssize_t chunk_rw(struct copy_ctx *c, off_t off, size_t len)
{
	if (!c->bounce) {
		c->bounce = malloc(c->bounce_size);
		if (!c->bounce) {
			errno = ENOMEM;
			return -1;
		}
	}
	ssize_t n = pread(c->src, c->bounce, len < c->bounce_size ? len : c->bounce_size, off);
	if (n <= 0)
		return n;
	int ret = lfs_pwrite_all(c->dst, c->bounce, (size_t)n, off);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return n;
}

/* Copies [off, off + len) of src to the same offsets of dst.
 * Returns 0, 1 when the source ended before off + len, or -errno. */
static int copy_range(struct copy_ctx *c, off_t off, off_t len)
{
	while (len > 0) {
		size_t want = len > (off_t)COPY_CHUNK_MAX ? COPY_CHUNK_MAX : (size_t)len;
		ssize_t n = c->via == VIA_CFR ? chunk_cfr(c, off, want)
			    : c->via == VIA_SENDFILE ? chunk_sendfile(c, off, want)
			    : chunk_rw(c, off, want);
		if (n < 0 && errno == EINTR)
			continue;
		/* copy_file_range() and sendfile() also return 0 on some files
		 * that do have data (procfs-like ones); only a 0 from pread()
		 * proves end of file. */
		if ((n < 0 && way_unsupported(c, errno)) || (n == 0 && c->via != VIA_BOUNCE)) {
			c->via++;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return 1;
		off += n;
		len -= n;
	}
	return 0;
}

/* Finds the first data extent at or after off, clipped to size.
 * Returns 1 and sets [*start, *end), 0 when no data is left, or -errno. */
static int next_extent(int src_fd, off_t off, off_t size, off_t *start, off_t *end)
{
	off_t data = lseek(src_fd, off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) /* only a hole up to EOF remains */
			return 0;
		if (errno != EINVAL)
			return -errno;
		data = off; /* no SEEK_DATA on this fs: treat the rest as data */
	}
	if (data >= size)
		return 0;
	off_t hole = lseek(src_fd, data, SEEK_HOLE);
	if (hole < 0) {
		if (errno == ENXIO) /* file shrank under us */
			return 0;
		if (errno != EINVAL)
			return -errno;
		hole = size;
	}
	/* hole <= data only if the file changed between the two calls:
	 * copying plain bytes to the end is always correct. */
	if (hole <= data || hole > size)
		hole = size;
	*start = data;
	*end = hole;
	return 1;
}

/* Copies only the data extents, so holes stay unallocated in dst.
 * Returns 0 when dst got all of size (its data ends there), 1 when it
 * still needs its size set (a trailing hole, or the source ended early),
 * or -errno. */
static int copy_extents(int src_fd, int dst_fd, off_t size)
{
	struct copy_ctx c = { .src = src_fd, .dst = dst_fd, .via = VIA_CFR,
			      .bounce_size = size < (off_t)BOUNCE_SIZE ? (size_t)size : BOUNCE_SIZE };
	off_t off = 0, start = 0, end = 0;
	int ret = 0;

	while (off < size) {
		ret = next_extent(src_fd, off, size, &start, &end);
		if (ret <= 0)
			break;
		ret = copy_range(&c, start, end - start);
		if (ret != 0) /* error, or the source ended early */
			break;
		off = end;
	}
	free(c.bounce);
	if (ret < 0)
		return ret;
	return ret == 0 && off == size ? 0 : 1;
}

static int set_size(int fd, off_t size)
{
	while (ftruncate(fd, size) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int lfs_copy_data(int src_fd, int dst_fd, off_t size)
{
	if (size < 0)
		return -EINVAL;
	int err = check_fd_modes(src_fd, dst_fd);
	if (err)
		return err;
	if (!try_clone(src_fd, dst_fd)) {
		err = copy_extents(src_fd, dst_fd, size);
		if (err <= 0)
			return err;    /* written up to size: nothing to set */
	}
	/* Also after a clone: the source may be longer than size. */
	return set_size(dst_fd, size);
}

/* ---- extended attributes ------------------------------------------- */

/* First guess for a value buffer; larger values grow it. */
#define XATTR_VALUE_INITIAL 1024

struct xbuf {
	char *data;
	size_t cap;
};

/* Names a path for the l*xattr() calls: the "/proc/self/fd/N" magic link
 * is followed (it is not the last component), name itself is not. Works
 * for O_PATH dirfds, which fgetxattr() would not. */
static int at_path(int dirfd, const char *name, char *buf, size_t bufsz)
{
	int n;

	if (name[0] == '\0')
		return -ENOENT; /* like the *at() calls without AT_EMPTY_PATH */
	if (dirfd == AT_FDCWD)
		n = snprintf(buf, bufsz, "%s", name);
	else if (dirfd < 0)
		return -EBADF;
	else
		n = snprintf(buf, bufsz, "/proc/self/fd/%d/%s", dirfd, name);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= bufsz)
		return -ENAMETOOLONG;
	return 0;
}

/* The source of a copy is read without following a final symlink, except
 * an open fd's /proc/self/fd link, which must be followed to the file. */
static ssize_t src_list(const char *path, bool follow, char *buf, size_t size)
{
	return follow ? listxattr(path, buf, size) : llistxattr(path, buf, size);
}

static ssize_t src_get(const char *path, bool follow, const char *name, void *buf, size_t size)
{
	return follow ? getxattr(path, name, buf, size) : lgetxattr(path, name, buf, size);
}

/* Reads the xattr name list of path into a malloc'd *out (caller frees;
 * may be NULL). Returns the list length, 0 for none, or -errno. */
static ssize_t read_name_list(const char *path, bool follow, char **out)
{
	*out = NULL;
	for (;;) {
		ssize_t len = src_list(path, follow, NULL, 0);
		if (len < 0)
			return (errno == EOPNOTSUPP || errno == ENOTSUP) ? 0 : -errno;
		if (len == 0)
			return 0;
		char *buf = malloc((size_t)len);
		if (!buf)
			return -ENOMEM;
		ssize_t got = src_list(path, follow, buf, (size_t)len);
		if (got >= 0) {
			*out = buf;
			return got;
		}
		int err = errno;
		free(buf);
		if (err != ERANGE) /* ERANGE: the list grew; ask again */
			return -err;
	}
}

static int xbuf_reserve(struct xbuf *b, size_t want)
{
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap * 2 > want ? b->cap * 2 : want;
	char *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Reads the value of name on path into b, growing b as needed.
 * Returns the value length or -errno. b->cap must be non-zero: with a
 * zero size lgetxattr() reports the length instead of the value. */
static ssize_t read_value(const char *path, bool follow, const char *name, struct xbuf *b)
{
	for (;;) {
		ssize_t len = src_get(path, follow, name, b->data, b->cap);
		if (len >= 0)
			return len;
		if (errno != ERANGE)
			return -errno;
		len = src_get(path, follow, name, NULL, 0);
		if (len < 0)
			return -errno;
		int err = xbuf_reserve(b, (size_t)len);
		if (err)
			return err;
		/* The value may have grown again meanwhile: loop. */
	}
}

static bool is_user_xattr(const char *name)
{
	return strncmp(name, "user.", 5) == 0;
}

/* Outside "user." a destination may legitimately refuse a name (a label
 * its security module doesn't know, trusted.* without the capability):
 * that is not worth failing a copy-up for. For "user." it is data loss. */
static bool dst_refusal_ignorable(const char *name, int err)
{
	if (is_user_xattr(name))
		return false;
	return err == EOPNOTSUPP || err == ENOTSUP || err == EPERM;
}

static int copy_one_xattr(const char *src, bool follow, const char *dst, const char *name,
			  struct xbuf *b)
{
	ssize_t len = read_value(src, follow, name, b);
	if (len == -ENODATA) /* removed since the listing */
		return 0;
	if (len < 0)
		return (int)len;
	if (lsetxattr(dst, name, b->data, (size_t)len, 0) == 0)
		return 0;
	int err = errno;
	return dst_refusal_ignorable(name, err) ? 0 : -err;
}

static int copy_listed_xattrs(const char *src, bool follow, const char *dst,
			      const char *names, size_t len,
			      bool (*skip)(const char *xattr_name))
{
	struct xbuf b = { .data = malloc(XATTR_VALUE_INITIAL), .cap = XATTR_VALUE_INITIAL };
	const char *end = names + len;
	int err = 0;

	if (!b.data)
		return -ENOMEM;
	for (const char *n = names; n < end; ) {
		size_t nlen = strnlen(n, (size_t)(end - n));
		if (nlen == (size_t)(end - n)) /* unterminated tail: not a name */
			break;
		if (nlen > 0 && !(skip && skip(n))) {
			err = copy_one_xattr(src, follow, dst, n, &b);
			if (err)
				break;
		}
		n += nlen + 1;
	}
	free(b.data);
	return err;
}

int lfs_copy_xattrs(int src_dirfd, const char *src_name,
		    int dst_dirfd, const char *dst_name,
		    bool (*skip)(const char *xattr_name))
{
	char src[PATH_MAX], dst[PATH_MAX];
	int err = at_path(src_dirfd, src_name, src, sizeof(src));
	if (err)
		return err;
	err = at_path(dst_dirfd, dst_name, dst, sizeof(dst));
	if (err)
		return err;

	char *names;
	ssize_t len = read_name_list(src, false, &names);
	if (len > 0)
		err = copy_listed_xattrs(src, false, dst, names, (size_t)len, skip);
	else
		err = (int)len;
	free(names);
	return err;
}

int lfs_copy_xattrs_from_fd(int src_fd, int dst_dirfd, const char *dst_name,
			    bool (*skip)(const char *xattr_name))
{
	char src[64], dst[PATH_MAX];
	snprintf(src, sizeof(src), "/proc/self/fd/%d", src_fd);
	int err = at_path(dst_dirfd, dst_name, dst, sizeof(dst));
	if (err)
		return err;
	char *names;
	ssize_t len = read_name_list(src, true, &names);
	if (len > 0)
		err = copy_listed_xattrs(src, true, dst, names, (size_t)len, skip);
	else
		err = (int)len;
	free(names);
	return err;
}

/* ---- owner, mode, times -------------------------------------------- */

int lfs_copy_attrs(int dst_dirfd, const char *dst_name, const struct stat *st)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchownat(dst_dirfd, dst_name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* Symlinks have no mode of their own to set. AT_SYMLINK_NOFOLLOW
	 * makes a symlink that st says is not one fail instead of chmod'ing
	 * its target. */
	if (!S_ISLNK(st->st_mode)) {
		int ret = lfs_fchmodat_nofollow(dst_dirfd, dst_name, st->st_mode & ALLPERMS);
		if (ret)
			return ret;
	}
	if (utimensat(dst_dirfd, dst_name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int lfs_copy_attrs_fd(int dst_fd, const struct stat *st)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchown(dst_fd, st->st_uid, st->st_gid) < 0)
		return -errno;
	if (fchmod(dst_fd, st->st_mode & ALLPERMS) < 0)
		return -errno;
	if (futimens(dst_fd, times) < 0)
		return -errno;
	return 0;
}
