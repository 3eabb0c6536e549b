/* The request loop: worker threads, every request under branch_lock as a
 * reader (loop.c). Returns when the mount goes or a signal asks. */
#ifndef LAYERFS_LOOP_H
#define LAYERFS_LOOP_H

#include "lfs.h"

struct lfs_loop_opts {
	unsigned max_threads;  /* threads serving requests, at most */
	unsigned max_idle;     /* threads waiting in read(2), at most */
	bool clone_fd;         /* a device fd per thread */
	bool io_uring;         /* -o io_uring: requests over per-CPU rings */
	unsigned spin_us;      /* -o spin=USEC: look for the next request first */
};

int lfs_session_loop(struct fuse_session *se, const struct lfs_loop_opts *opts);

#endif
