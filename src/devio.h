/* The session's device I/O, done by our functions rather than libfuse's
 * (fuse_session_custom_io), for what libfuse 3.14's API cannot say or hear:
 *   - INIT reply flags libfuse does not know (FUSE_HANDLE_KILLPRIV_V2,
 *     passthrough's flags2 bit, max_stack_depth);
 *   - the backing id of an OPEN or CREATE reply (passthrough.c);
 *   - the kernel's "drop setuid/setgid" flag of a WRITE, SETATTR, OPEN or
 *     CREATE request (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID,
 *     FUSE_OPEN_KILL_SUIDGID), which libfuse does not pass on.
 * Replies are patched in our writev just before they go to the kernel,
 * requests are read in our read: libfuse reads a request, serves it and
 * sends its reply from one thread, synchronously, so a thread-local note
 * made in the read is the request the operation in that thread serves, and
 * one made right before fuse_reply_*() is read by the writev of that reply.
 * Requests received by splice are not seen: init() turns splice reading off
 * when the request flags matter (KILLPRIV_V2 in force). */
#ifndef LAYERFS_DEVIO_H
#define LAYERFS_DEVIO_H

#include <stdbool.h>
#include <stdint.h>

#include "lfs.h"

/* Wire flags of fuse_init_in/out as one word: flags | flags2 << 32. */
#define LFS_INIT_KILLPRIV_V2 (1ULL << 28)
#define LFS_INIT_PASSTHROUGH (1ULL << 37)

int lfs_devio_init(void);
void lfs_devio_free(void);
/* After the mount, before the first request. -errno when libfuse refuses
 * (then nothing of the above is available: lfs_devio_granted() stays 0). */
int lfs_devio_attach(struct fuse_session *se);
/* The device fd (for passthrough's ioctls), or -1 before attach. */
int lfs_devio_fd(void);

/* What the kernel offered in its INIT request (0 before it came). */
uint64_t lfs_devio_offered(void);
/* From init(): the INIT reply this thread sends next also asks for flags
 * (only those the kernel offered are added) and, when depth > 0, carries
 * max_stack_depth = depth. */
void lfs_devio_note_init_reply(uint64_t flags, uint32_t depth);
/* The flags added to the INIT reply that went to the kernel. */
uint64_t lfs_devio_granted(void);

/* The OPEN or CREATE reply this thread sends next carries backing id id
 * (FOPEN_PASSTHROUGH); 0 clears the note. */
void lfs_devio_note_open_reply(int id);

/* Reads what libfuse drops from the request in buf (len bytes, as read
 * from the device) that this thread is about to serve. Our read hook calls
 * it; a transport of our own (another request loop) must too. */
void lfs_devio_note_request(const void *buf, ssize_t len);
/* Whether the request this thread serves carries the kernel's flag to drop
 * setuid/setgid (see killpriv.h for what it means). */
bool lfs_devio_req_kill_suidgid(void);

#endif
