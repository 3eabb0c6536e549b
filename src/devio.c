/* The session's device I/O hooks: every reply passes here (devio.h). */
#include "devio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "passthrough.h"

static __thread int thread_fd = -1;
static __thread struct lfs_devio_sink *thread_sink;
static __thread lfs_devio_init_patch *init_patch;

void lfs_devio_set_thread_fd(int fd)
{
	thread_fd = fd;
}

void lfs_devio_set_sink(struct lfs_devio_sink *sink)
{
	thread_sink = sink;
}

void lfs_devio_note_init(lfs_devio_init_patch *patch)
{
	init_patch = patch;
}

int lfs_devio_session_fd(void)
{
	return fuse_session_fd(lfs->se);
}

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

static ssize_t devio_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	lfs_pt_patch_reply(iov, count);
	lfs_devio_init_patch *patch = init_patch;
	init_patch = NULL;
	const struct fuse_out_header *out = iov[0].iov_base;
	if (patch && count == 2 && out->error == 0)
		patch(&iov[1]);
	struct lfs_devio_sink *sink = sink_for(out->unique);
	if (sink)
		return to_sink(sink, iov, count);
	return writev(out_fd(fd), iov, count);
}

static ssize_t devio_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(out_fd(fd), buf, len);
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

static ssize_t devio_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				 unsigned int flags, void *userdata)
{
	(void)userdata;
	if (thread_sink)
		return pipe_to_sink(fdin, len);
	return splice(fdin, offin, out_fd(fdout), offout, len, flags);
}

int lfs_devio_attach(struct fuse_session *se)
{
	/* No splice_receive: loop.c and uring.c read requests themselves. */
	static const struct fuse_custom_io io = {
		.writev = devio_writev,
		.read = devio_read,
		.splice_send = devio_splice_send,
	};
	int fd = fuse_session_fd(se);
	int ret = fuse_session_custom_io(se, &io, fd);
	if (ret) {
		lfs_log("cannot hook the device I/O: %s", strerror(ret < 0 ? -ret : EINVAL));
		return ret < 0 ? ret : -EINVAL;
	}
	return 0;
}
