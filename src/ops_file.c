/* FUSE operations on open files. Data moves with splice where the kernel
 * allows (fuse_buf with an fd), never through a per-request copy we make. */
#include "layerfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle.h"
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

static int open_object(struct node *n, int flags, int *branch)
{
	struct objref o;
	int ret = lfs_obj_locate(n, &o);
	if (ret)
		return ret;
	int fd = openat(o.dfd, o.name, flags);
	ret = fd < 0 ? -errno : fd;
	*branch = o.branch;
	lfs_obj_release(&o);
	return ret;
}

static struct fhandle *handle_new(int fd, int flags, struct node *n)
{
	struct fhandle *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->fd = fd;
	h->flags = flags;
	h->gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

int lfs_handle_fd(struct fhandle *h, struct node *n)
{
	unsigned gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	if (gen == h->gen)
		return h->fd;
	pthread_mutex_lock(&h->lock);
	if (h->gen != gen) {
		int branch = -1;
		int fd = open_object(n, h->flags & ~O_TRUNC, &branch);
		if (fd >= 0) {
			h->branch = branch;
			/* The old fd may be in use by a concurrent read: keep it
			 * valid by duplicating the new file over it. */
			dup3(fd, h->fd, O_CLOEXEC);
			close(fd);
			h->gen = gen;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return h->fd;
}

static void handle_free(struct fhandle *h)
{
	pthread_mutex_lock(&lfs->tree_lock);
	for (struct fhandle **p = &h->node->handles; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
	int backing_id = lfs_pt_handle_gone_locked(h->node, h);
	pthread_mutex_unlock(&lfs->tree_lock);
	if (backing_id)
		lfs_pt_backing_close(backing_id);
	lfs_handle_destroy(h);
}

void lfs_handle_destroy(struct fhandle *h)
{
	close(h->fd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void reply_open(fuse_req_t req, struct fuse_file_info *fi, int fd, int flags,
		       int branch, struct node *n, const struct fuse_entry_param *e)
{
	struct fhandle *h = handle_new(fd, flags, n);
	if (h)
		h->branch = branch;
	if (!h) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Every write goes through the mount, so the kernel's page cache of a
	 * file is never stale: keep it across opens (lfs_pt_choose says when
	 * passthrough writes made it stale after all). */
	fi->keep_cache = 1;
	h->node = n;
	int backing_id = lfs_pt_choose(n, h, fi);
	pthread_mutex_lock(&lfs->tree_lock);
	h->next = n->handles;
	n->handles = h;
	pthread_mutex_unlock(&lfs->tree_lock);
	lfs_pt_note_open_reply(backing_id);
	int ret = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	lfs_pt_note_open_reply(0);
	if (ret)
		handle_free(h);
}

int lfs_node_dup_open_fd(struct node *n)
{
	pthread_mutex_lock(&lfs->tree_lock);
	int fd = n->handles ? fcntl(n->handles->fd, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&lfs->tree_lock);
	return fd < 0 ? -ENOENT : fd;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = lfs_node(ino);
	int ret = 0;
	if (opens_for_change(fi->flags))
		ret = lfs->has_rw ? lfs_copyup(n, !(fi->flags & O_TRUNC)) : -EROFS;
	int flags = branch_open_flags(fi->flags);
	int branch = 0;
	int fd = ret ? ret : open_object(n, flags, &branch);
	if (fd < 0)
		fuse_reply_err(req, -fd);
	else
		reply_open(req, fi, fd, flags, branch, n, NULL);
}

/* Opens name in rw dir pd, creating it; an existing file is opened as is
 * (only a file we made gets the caller as owner). A new file is made in the
 * work directory and renamed into place with its owner set (crash safety). */
static int create_file(fuse_req_t req, struct objref *pd, const char *name, mode_t mode,
		       int flags)
{
	int orph = lfs_work_orph();
	if (orph < 0)
		return orph;
	char tmp[64];
	lfs_tmpname(tmp, sizeof(tmp), "new");
	int fd = openat(orph, tmp, flags | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return -errno;
	int ret = lfs_publish_new(req, orph, tmp, pd, name);
	if (ret == 0)
		return fd;
	close(fd);
	if (ret == -EEXIST && !(flags & O_EXCL)) {
		fd = openat(pd->dfd, name, flags);
		return fd < 0 ? -errno : fd;
	}
	return ret;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct node *dir = lfs_node(parent);
	struct objref pd;
	int ret = lfs_check_new_name(name);
	if (ret == 0)
		ret = lfs_upper_dir(dir, &pd);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	int flags = branch_open_flags(fi->flags);
	int fd = create_file(req, &pd, name, mode, flags);
	lfs_obj_release(&pd);
	struct fuse_entry_param e;
	ret = fd < 0 ? fd : lfs_lookup_entry(dir, name, &e);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, fi, fd, flags, 0, lfs_node(e.ino), &e);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	out.buf[0].pos = off;
	ssize_t res = fuse_buf_copy(&out, in, 0);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free(lfs_handle(fi));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	int ret = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, ret < 0 ? errno : 0);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	fuse_reply_err(req, fallocate(fd, mode, off, len) < 0 ? errno : 0);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
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

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int fd = lfs_handle_fd(lfs_handle(fi), lfs_node(ino));
	off_t res = lseek(fd, off, whence);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

void lfs_ops_file(struct fuse_lowlevel_ops *ops)
{
	ops->open = op_open;
	ops->create = op_create;
	ops->read = op_read;
	ops->write_buf = op_write_buf;
	/* No flush: nothing to do on close(2) (POSIX locks are the kernel's,
	 * data goes straight to the branch file), and without the operation
	 * the kernel stops sending one request per close. */
	ops->release = op_release;
	ops->fsync = op_fsync;
	ops->fallocate = op_fallocate;
	ops->copy_file_range = op_copy_file_range;
	ops->lseek = op_lseek;
}
