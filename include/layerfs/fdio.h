/* Whole writes to file descriptors, for the daemon and layerctl alike:
 * short writes are continued and EINTR retried. */
#ifndef LAYERFS_FDIO_H
#define LAYERFS_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes of buf to fd. 0, or -errno (-EIO when the kernel
 * takes nothing and reports no error). */
int lfs_write_all(int fd, const void *buf, size_t len);
/* The same at offset off (pwrite: fd's file offset stays). */
int lfs_pwrite_all(int fd, const void *buf, size_t len, off_t off);

#endif
