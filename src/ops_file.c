/* FUSE operations on open files. Data moves with splice where the kernel
 * allows (fuse_buf with an fd), never through a per-request copy we make. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copyup.h"
#include "create.h"
#include "entry.h"
#include "handle.h"
#include "killpriv.h"
#include "passthrough.h"

/* Flags for the branch file: the kernel created it already or will not
 * let us; O_DIRECT needs aligned buffers we don't get from FUSE. */
static int branch_open_flags(int flags)
{
	return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT)) | O_NOFOLLOW | O_CLOEXEC;
}

static bool opens_for_change(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* After a write, truncate or O_TRUNC open of node n through fd: setuid
 * and setgid go when the kernel says so (killpriv.h). */
static void kill_after_change(fuse_req_t req, struct node *n, int fd)
{
	bool changed;
	int ret = lfs_killpriv_after_change(req, fd, &changed);
	if (ret)
		lfs_log("cannot drop setuid/setgid: %s", strerror(-ret));
	/* The kernel keeps the mode it had: tell it (attributes only; no
	 * lock the writer holds is taken for that). */
	if (changed)
		fuse_lowlevel_notify_inval_inode(lfs->se, lfs_node_id(n), -1, 0);
}

/* Replies to an OPEN or CREATE (with e) with a new handle of fd. */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi, int fd, int flags,
		       int branch, struct node *n, const struct fuse_entry_param *e)
{
	int backing_id;
	struct fhandle *h = lfs_handle_new(n, fd, flags, branch, fi, &backing_id);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	lfs_pt_note_open_reply(backing_id);
	int ret = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	lfs_pt_note_open_reply(0);
	if (ret)
		lfs_handle_free(h);
}

void lfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = lfs_node(ino);
	int ret = 0;
	if (opens_for_change(fi->flags))
		ret = lfs->has_rw ? lfs_copyup(n, !(fi->flags & O_TRUNC)) : -EROFS;
	int flags = branch_open_flags(fi->flags);
	int branch = 0;
	int fd = ret ? ret : lfs_handle_open_object(n, flags, &branch);
	if (fd >= 0 && (flags & O_TRUNC))
		kill_after_change(req, n, fd);
	if (fd < 0)
		fuse_reply_err(req, -fd);
	else
		reply_open(req, fi, fd, flags, branch, n, NULL);
}

void lfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi)
{
	struct node *dir = lfs_node(parent);
	int flags = branch_open_flags(fi->flags);
	bool existed;
	int fd = lfs_create_file(fuse_req_ctx(req), dir, name, mode, flags, &existed);
	struct fuse_entry_param e;
	int ret = fd < 0 ? fd : lfs_lookup_entry(dir, name, &e);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -ret);
		return;
	}
	/* O_TRUNC truncates only a file that was there (the kernel's flag says
	 * nothing of that). */
	if (existed && (flags & O_TRUNC))
		kill_after_change(req, lfs_node(e.ino), fd);
	reply_open(req, fi, fd, flags, 0, lfs_node(e.ino), &e);
}

void lfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void lfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	out.buf[0].pos = off;
	ssize_t res = fuse_buf_copy(&out, in, 0);
	if (res > 0)
		kill_after_change(req, lfs_node(ino), out.buf[0].fd);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

void lfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	lfs_handle_free(lfs_handle(fi));
	fuse_reply_err(req, 0);
}

void lfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	int ret = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, ret < 0 ? errno : 0);
}

void lfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	fuse_reply_err(req, fallocate(fd, mode, off, len) < 0 ? errno : 0);
}

void lfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	int in = lfs_handle_fd(lfs_handle(fi_in), lfs_node(ino_in));
	int out = lfs_handle_fd(lfs_handle(fi_out), lfs_node(ino_out));
	ssize_t res = copy_file_range(in, &off_in, out, &off_out, len, (unsigned)flags);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)res);
}

void lfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	off_t res = lseek(fd, off, whence);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}
