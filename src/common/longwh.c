/* Whiteouts of long names: see include/layerfs/longwh.h. */
#include "layerfs/longwh.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/fdio.h"
#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

/* A list longer than this is not ours (a directory holds few such names). */
#define LONGWH_MAX_BYTES (16u << 20)

bool lfs_whiteout_is_long(const char *name)
{
	return strnlen(name, NAME_MAX + 1) + LFS_WH_PREFIX_LEN > NAME_MAX;
}

/* The whole list of dfd into *buf (*len bytes); *buf NULL without a list. */
static int read_list(int dfd, char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	int fd = openat(dfd, LFS_WH_LONG, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	struct stat st;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (!S_ISREG(st.st_mode) || (size_t)st.st_size > LONGWH_MAX_BYTES))
		ret = -EINVAL;
	char *b = ret == 0 ? malloc((size_t)st.st_size + 1) : NULL;
	if (ret == 0 && !b)
		ret = -ENOMEM;
	size_t got = 0;
	while (ret == 0 && got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (ret) {
		free(b);
		return ret;
	}
	b[got] = '\0';     /* a last name without its NUL still ends */
	*buf = b;
	*len = got;
	return 0;
}

/* Walks the names of a list: each valid one goes to fn. */
static int each_name(const char *buf, size_t len, lfs_longwh_fn fn, void *arg)
{
	for (size_t off = 0; off < len;) {
		const char *name = buf + off;
		size_t n = strnlen(name, len - off);
		off += n + 1;
		if (n == 0 || !lfs_name_is_valid(name))
			continue;
		int ret = fn(arg, name);
		if (ret)
			return ret;
	}
	return 0;
}

static int match(void *arg, const char *name)
{
	return strcmp(arg, name) == 0;
}

int lfs_longwh_has(int dfd, const char *name)
{
	char *buf;
	size_t len;
	int ret = read_list(dfd, &buf, &len);
	if (ret == 0 && buf)
		ret = each_name(buf, len, match, (void *)name);
	free(buf);
	return ret;
}

int lfs_longwh_foreach(int dfd, lfs_longwh_fn fn, void *arg)
{
	char *buf;
	size_t len;
	int ret = read_list(dfd, &buf, &len);
	if (ret == 0 && buf)
		ret = each_name(buf, len, fn, arg);
	free(buf);
	return ret;
}

struct rewrite {
	int fd;
	const char *drop;      /* the name to leave out, or NULL */
	size_t kept;
	int err;
};

static int copy_name(void *arg, const char *name)
{
	struct rewrite *r = arg;
	if (r->drop && strcmp(name, r->drop) == 0)
		return 0;
	r->err = lfs_write_all(r->fd, name, strlen(name) + 1);
	r->kept++;
	return r->err;
}

int lfs_longwh_change(int dfd, const char *name, bool add, int tmpdfd, const char *tmpname)
{
	if (!lfs_name_is_valid(name))
		return -EINVAL;
	char *buf;
	size_t len;
	int ret = read_list(dfd, &buf, &len);
	if (ret)
		return ret;
	int present = buf ? each_name(buf, len, match, (void *)name) : 0;
	if (present == (add ? 1 : 0)) {
		free(buf);
		return 0;       /* nothing to change */
	}
	int fd = openat(tmpdfd, tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	struct rewrite r = { .fd = fd, .drop = add ? NULL : name };
	if (buf)
		ret = each_name(buf, len, copy_name, &r);
	if (ret == 0 && add) {
		ret = lfs_write_all(fd, name, strlen(name) + 1);
		r.kept++;
	}
	free(buf);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && r.kept == 0) {
		/* The last name went: no list at all. */
		unlinkat(tmpdfd, tmpname, 0);
		return unlinkat(dfd, LFS_WH_LONG, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	if (ret == 0 && renameat(tmpdfd, tmpname, dfd, LFS_WH_LONG) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpdfd, tmpname, 0);
	return ret;
}
