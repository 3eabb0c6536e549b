/* The session's device I/O: see devio.h. */
#include "devio.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The INIT reply's max_stack_depth sits where these headers still have
 * unused[0]. */
#define INIT_STACK_DEPTH_OFF offsetof(struct fuse_init_out, unused)
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "fuse_init_out layout");
_Static_assert(INIT_STACK_DEPTH_OFF == 36, "fuse_init_out layout");
/* The OPEN reply's backing id sits in what these headers call padding. */
#define OPEN_BACKING_ID_OFF offsetof(struct fuse_open_out, padding)
_Static_assert(OPEN_BACKING_ID_OFF == 12 && sizeof(struct fuse_open_out) == 16,
	       "fuse_open_out layout");
#define FOPEN_PASSTHROUGH_FLAG (1U << 7)

enum reply_note { NOTE_NONE, NOTE_INIT, NOTE_OPEN };

/* Per thread: the reply it sends next, the request it serves, and where
 * its replies go. */
static __thread enum reply_note next_reply;
static __thread int next_backing_id;
static __thread uint64_t init_extra;
static __thread uint32_t init_depth;
static __thread lfs_devio_init_patch *init_patch;
static __thread bool req_kill;
static __thread int thread_fd = -1;
static __thread struct lfs_devio_sink *thread_sink;

/* Per mount (lfs->devio): the device and what INIT settled, each written
 * once, read atomically. */
struct lfs_devio {
	int fd;
	uint64_t offered, granted;
};

#define DEVIO (lfs->devio)

int lfs_devio_init(void)
{
	lfs->devio = calloc(1, sizeof(*lfs->devio));
	if (!lfs->devio)
		return -ENOMEM;
	lfs->devio->fd = -1;
	return 0;
}

void lfs_devio_free(void)
{
	free(lfs->devio);
	lfs->devio = NULL;
}

int lfs_devio_fd(void)
{
	return DEVIO->fd;
}

uint64_t lfs_devio_offered(void)
{
	return __atomic_load_n(&DEVIO->offered, __ATOMIC_ACQUIRE);
}

uint64_t lfs_devio_granted(void)
{
	return __atomic_load_n(&DEVIO->granted, __ATOMIC_ACQUIRE);
}

void lfs_devio_note_init_reply(uint64_t flags, uint32_t depth)
{
	if (DEVIO->fd < 0)
		return;
	next_reply = NOTE_INIT;
	init_extra = flags & lfs_devio_offered();
	init_depth = depth;
}

void lfs_devio_note_init(lfs_devio_init_patch *patch)
{
	init_patch = patch;
}

void lfs_devio_note_open_reply(int id)
{
	next_reply = id > 0 ? NOTE_OPEN : NOTE_NONE;
	next_backing_id = id;
}

void lfs_devio_set_thread_fd(int fd)
{
	thread_fd = fd;
}

void lfs_devio_set_sink(struct lfs_devio_sink *sink)
{
	thread_sink = sink;
}

bool lfs_devio_req_kill_suidgid(void)
{
	return req_kill;
}

/* ---- requests ---- */

static uint32_t u32_at(const char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void note_init_request(const char *arg, size_t len)
{
	if (len < offsetof(struct fuse_init_in, flags2))
		return;
	uint64_t flags = u32_at(arg + offsetof(struct fuse_init_in, flags));
	if ((flags & FUSE_INIT_EXT) && len >= offsetof(struct fuse_init_in, unused))
		flags |= (uint64_t)u32_at(arg + offsetof(struct fuse_init_in, flags2)) << 32;
	__atomic_store_n(&DEVIO->offered, flags, __ATOMIC_RELEASE);
}

/* The kill flag of the request in buf (len bytes), if it has one. */
static bool request_kills(uint32_t opcode, const char *arg, size_t len)
{
	switch (opcode) {
	case FUSE_WRITE:
		return len >= offsetof(struct fuse_write_in, lock_owner) &&
		       (u32_at(arg + offsetof(struct fuse_write_in, write_flags)) &
			FUSE_WRITE_KILL_SUIDGID);
	case FUSE_SETATTR:
		return len >= sizeof(uint32_t) &&
		       (u32_at(arg + offsetof(struct fuse_setattr_in, valid)) & FATTR_KILL_SUIDGID);
	case FUSE_OPEN:
		return len >= sizeof(struct fuse_open_in) &&
		       (u32_at(arg + offsetof(struct fuse_open_in, open_flags)) &
			FUSE_OPEN_KILL_SUIDGID);
	case FUSE_CREATE:
		return len >= sizeof(struct fuse_create_in) &&
		       (u32_at(arg + offsetof(struct fuse_create_in, open_flags)) &
			FUSE_OPEN_KILL_SUIDGID);
	default:
		return false;
	}
}

void lfs_devio_note_request(const void *request, ssize_t len)
{
	const char *buf = request;
	req_kill = false;
	if (len < (ssize_t)sizeof(struct fuse_in_header))
		return;
	uint32_t opcode = u32_at(buf + offsetof(struct fuse_in_header, opcode));
	const char *arg = buf + sizeof(struct fuse_in_header);
	size_t alen = (size_t)len - sizeof(struct fuse_in_header);
	if (opcode == FUSE_INIT)
		note_init_request(arg, alen);
	else
		req_kill = request_kills(opcode, arg, alen);
}

/* ---- replies: what they say ---- */

static void patch_init(struct iovec *arg)
{
	if (arg->iov_len < INIT_STACK_DEPTH_OFF + sizeof(uint32_t))
		return;        /* an old kernel's short INIT reply: nothing added */
	struct fuse_init_out *out = arg->iov_base;
	out->flags |= (uint32_t)init_extra;
	if (init_extra >> 32) {
		out->flags |= FUSE_INIT_EXT;
		out->flags2 |= (uint32_t)(init_extra >> 32);
	}
	if (init_depth)
		memcpy((char *)out + INIT_STACK_DEPTH_OFF, &init_depth, sizeof(init_depth));
	__atomic_store_n(&DEVIO->granted, init_extra, __ATOMIC_RELEASE);
}

/* OPEN replies are one fuse_open_out; CREATE replies end with one. */
static void patch_open(struct iovec *arg, int id)
{
	if (arg->iov_len < sizeof(struct fuse_open_out))
		return;
	struct fuse_open_out *out =
		(void *)((char *)arg->iov_base + arg->iov_len - sizeof(struct fuse_open_out));
	out->open_flags |= FOPEN_PASSTHROUGH_FLAG;
	memcpy((char *)out + OPEN_BACKING_ID_OFF, &id, sizeof(id));
}

/* The notes this thread made, applied to the reply it sends now. */
static void patch_reply(struct iovec *iov, int count)
{
	enum reply_note note = next_reply;
	lfs_devio_init_patch *patch = init_patch;
	next_reply = NOTE_NONE;
	init_patch = NULL;
	if (count != 2 || iov[0].iov_len != sizeof(struct fuse_out_header))
		return;
	const struct fuse_out_header *h = iov[0].iov_base;
	if (h->error != 0)
		return;
	if (note == NOTE_INIT)
		patch_init(&iov[1]);
	else if (note == NOTE_OPEN)
		patch_open(&iov[1], next_backing_id);
	if (patch)
		patch(&iov[1]);
}

/* ---- replies: where they go ---- */

static int out_fd(int fd)
{
	return thread_fd >= 0 ? thread_fd : fd;
}

static struct lfs_devio_sink *sink_for(uint64_t unique)
{
	struct lfs_devio_sink *s = thread_sink;
	return s && s->unique == unique ? s : NULL;
}

/* A reply for a sink: its payload copied into the sink's room. */
static ssize_t to_sink(struct lfs_devio_sink *sink, const struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	size_t len = 0;
	for (int i = 1; i < count; i++)
		len += iov[i].iov_len;
	char *room = len ? sink->room(sink, len) : NULL;
	if (len && !room) {
		errno = EINVAL;
		return -1;
	}
	size_t at = 0;
	for (int i = 1; i < count; i++) {
		memmove(room + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	sink->replied(sink, out, len);
	return (ssize_t)(sizeof(*out) + len);
}

/* Reads exactly len bytes from a pipe. */
static int read_pipe(int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* A reply libfuse built in a pipe (header, then data spliced from a file)
 * for a sink: read out of the pipe straight into the sink's room. */
static ssize_t pipe_to_sink(int pipefd, size_t len)
{
	struct fuse_out_header out;
	if (len < sizeof(out) || read_pipe(pipefd, &out, sizeof(out)))
		return -1;
	struct lfs_devio_sink *sink = sink_for(out.unique);
	size_t dlen = len - sizeof(out);
	char *room = sink && dlen ? sink->room(sink, dlen) : NULL;
	if (!sink || (dlen && !room)) {
		errno = EINVAL;
		return -1;
	}
	int ret = dlen ? read_pipe(pipefd, room, dlen) : 0;
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	sink->replied(sink, &out, dlen);
	return (ssize_t)len;
}

/* ---- the hooks ---- */

static ssize_t dev_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	patch_reply(iov, count);
	struct lfs_devio_sink *sink = sink_for(((const struct fuse_out_header *)iov[0].iov_base)->unique);
	if (sink)
		return to_sink(sink, iov, count);
	return writev(out_fd(fd), iov, count);
}

/* libfuse's own loops read through here; ours read themselves (devio.h). */
static ssize_t dev_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(out_fd(fd), buf, len);
	lfs_devio_note_request(buf, n);
	return n;
}

static ssize_t dev_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			       unsigned int flags, void *userdata)
{
	(void)userdata;
	if (thread_sink)
		return pipe_to_sink(fdin, len);
	return splice(fdin, offin, out_fd(fdout), offout, len, flags);
}

int lfs_devio_attach(struct fuse_session *se)
{
	/* No splice_receive: requests are read whole (and noted) in dev_read
	 * or by our loops. */
	static const struct fuse_custom_io io = {
		.writev = dev_writev,
		.read = dev_read,
		.splice_send = dev_splice_send,
	};
	int fd = fuse_session_fd(se);
	int ret = fuse_session_custom_io(se, &io, fd);
	if (ret) {
		lfs_log("cannot hook the device I/O: %s", strerror(ret < 0 ? -ret : EINVAL));
		return ret < 0 ? ret : -EINVAL;
	}
	DEVIO->fd = fd;
	return 0;
}
