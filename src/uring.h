/* FUSE over io_uring (kernel >= 6.14, CONFIG_FUSE_IO_URING, switched on
 * by /sys/module/fuse/parameters/enable_uring): requests come to per-CPU
 * queues of ring entries instead of read(2) on /dev/fuse. libfuse 3.14
 * knows nothing of it; uring.c is the transport, and hands each request
 * to libfuse's usual dispatch (fuse_session_process_buf), catching the
 * reply in devio.c's hooks. */
#ifndef LAYERFS_URING_H
#define LAYERFS_URING_H

#include <stdbool.h>
#include <stddef.h>

#include "lfs.h"

/* loop.c, before it processes the INIT request (arg: its fuse_init_in):
 * when the kernel offers io_uring, the INIT reply will ask for it if the
 * rings can be made. */
void lfs_uring_offer(struct fuse_session *se, const void *arg, size_t len);
/* loop.c, after the INIT reply went out: the ring threads register their
 * entries (the kernel falls back to read(2) by itself if it refuses). */
void lfs_uring_start(void);
/* After the session: the ring threads leave, the rings go. */
void lfs_uring_stop(void);
/* Requests served over the rings so far (the control directory shows it). */
unsigned long lfs_uring_served(void);

#endif
