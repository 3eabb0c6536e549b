/* Whole writes: see include/layerfs/fdio.h. */
#include "layerfs/fdio.h"

#include <errno.h>
#include <unistd.h>

/* One loop for both: off < 0 means write(2). */
static int write_loop(int fd, const char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;      /* no progress and no error: don't spin */
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int lfs_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, -1);
}

int lfs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	if (off < 0)
		return -EINVAL;
	return write_loop(fd, buf, len, off);
}
