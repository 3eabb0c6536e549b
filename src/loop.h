/* The request loop: nthreads workers, every request under branch_lock as
 * a reader (loop.c). Returns when the mount goes or a signal asks. */
#ifndef LAYERFS_LOOP_H
#define LAYERFS_LOOP_H

#include "lfs.h"

int lfs_session_loop(struct fuse_session *se, unsigned nthreads);

#endif
