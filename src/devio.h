/* The session's device I/O, done by our functions rather than libfuse's
 * (fuse_session_custom_io), for what libfuse 3.14's API cannot say or hear:
 *   - INIT reply flags libfuse does not know (FUSE_HANDLE_KILLPRIV_V2,
 *     passthrough's flags2 bit, max_stack_depth, FUSE over io_uring);
 *   - the backing id of an OPEN or CREATE reply (passthrough.c);
 *   - the kernel's "drop setuid/setgid" flag of a WRITE, SETATTR, OPEN or
 *     CREATE request (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID,
 *     FUSE_OPEN_KILL_SUIDGID), which libfuse does not pass on;
 *   - where a reply goes: the kernel finds a request's reply only on the fd
 *     it was read from (a thread's clone of /dev/fuse, loop.c) or in the
 *     ring entry it came in (uring.c); else the session's fd.
 * libfuse serves a request and sends its reply from one thread,
 * synchronously, so a thread-local note made when the request is read is
 * the request the operation in that thread serves, and one made right
 * before fuse_reply_*() is read by the writev of that reply. The request
 * loops (loop.c, uring.c) read requests themselves and hand each to
 * lfs_devio_note_request() before libfuse processes it. */
#ifndef LAYERFS_DEVIO_H
#define LAYERFS_DEVIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <linux/fuse.h>

#include "lfs.h"

/* Wire flags of fuse_init_in/out as one word: flags | flags2 << 32. */
#define LFS_INIT_KILLPRIV_V2 (1ULL << 28)
#define LFS_INIT_PASSTHROUGH (1ULL << 37)

int lfs_devio_init(void);
void lfs_devio_free(void);
/* After the mount, before the first request. 0 or -errno when libfuse
 * refuses (the mount cannot be served then). */
int lfs_devio_attach(struct fuse_session *se);
/* The session's device fd (passthrough's ioctls, the request loops), or -1
 * before attach. */
int lfs_devio_fd(void);

/* ---- requests ---- */

/* The request in buf (len bytes, as read from the device) that this thread
 * is about to serve: what libfuse drops from it is noted. */
void lfs_devio_note_request(const void *buf, ssize_t len);
/* Whether the request this thread serves carries the kernel's flag to drop
 * setuid/setgid (see killpriv.h for what it means). */
bool lfs_devio_req_kill_suidgid(void);
/* What the kernel offered in its INIT request (0 before it came). */
uint64_t lfs_devio_offered(void);

/* ---- replies ---- */

/* From init(): the INIT reply this thread sends next also asks for flags
 * (only those the kernel offered are added) and, when depth > 0, carries
 * max_stack_depth = depth. */
void lfs_devio_note_init_reply(uint64_t flags, uint32_t depth);
/* The flags added to the INIT reply that went to the kernel. */
uint64_t lfs_devio_granted(void);
/* Before the INIT request is processed: patch(iov[1]) also runs on its
 * reply, right before the kernel sees it (uring.c's flag). */
typedef void lfs_devio_init_patch(struct iovec *arg);
void lfs_devio_note_init(lfs_devio_init_patch *patch);
/* The OPEN or CREATE reply this thread sends next carries backing id id
 * (FOPEN_PASSTHROUGH); 0 clears the note. */
void lfs_devio_note_open_reply(int id);

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
/* This thread's device fd (-1: the session's). */
void lfs_devio_set_thread_fd(int fd);
/* While set, replies to sink->unique made by this thread go to sink. */
void lfs_devio_set_sink(struct lfs_devio_sink *sink);

#endif
