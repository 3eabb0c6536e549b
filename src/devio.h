/* The daemon's side of the FUSE device: where replies go.
 *
 * libfuse 3.14 sends every reply through the session's custom I/O hooks
 * (fuse_session_custom_io), from the thread that made it. devio installs
 * them once and decides per thread where a reply goes:
 *   - to the thread's own device fd (a clone of /dev/fuse, loop.c), since
 *     the kernel finds a request's reply only on the fd it was read from;
 *   - into a ring entry (uring.c), when the request came over io_uring;
 *   - else to the session's fd.
 * On the way, passthrough.c patches the INIT and OPEN replies, and a caller
 * that asked for it (lfs_devio_note_init) patches the INIT reply too. */
#ifndef LAYERFS_DEVIO_H
#define LAYERFS_DEVIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/fuse.h>

#include "lfs.h"

/* Where the reply to one request goes instead of a device fd. */
struct lfs_devio_sink {
	uint64_t unique;      /* the request whose reply it takes */
	/* Room for len (> 0) bytes of reply payload (what follows the
	 * header), or NULL when the reply cannot be that long. */
	char *(*room)(struct lfs_devio_sink *sink, size_t len);
	/* The reply is complete: its header, and len bytes written to room. */
	void (*replied)(struct lfs_devio_sink *sink, const struct fuse_out_header *out,
			size_t len);
};

/* Installs the hooks on se, the mount's session (lfs->se), before the
 * first request. 0 or -errno. */
int lfs_devio_attach(struct fuse_session *se);
/* The session's device fd. */
int lfs_devio_session_fd(void);

/* This thread's device fd (-1: the session's). */
void lfs_devio_set_thread_fd(int fd);
/* While set, replies to sink->unique made by this thread go to sink. */
void lfs_devio_set_sink(struct lfs_devio_sink *sink);

/* The reply this thread sends next is the INIT reply: patch(iov[1]) runs on
 * it after passthrough's patch, right before the kernel sees it. */
typedef void lfs_devio_init_patch(struct iovec *arg);
void lfs_devio_note_init(lfs_devio_init_patch *patch);

#endif
