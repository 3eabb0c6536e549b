/* The operation table, and the session's start (INIT). */
#include "ops.h"

#include "devio.h"
#include "passthrough.h"

/* What libfuse cannot ask for: devio.c adds it to the INIT reply. */
static void want_extra(struct fuse_conn_info *conn)
{
	uint32_t depth = 0;
	uint64_t extra = lfs_pt_init_flags(&depth);
	/* We drop setuid/setgid ourselves (killpriv.c): the kernel stops
	 * asking for security.capability before every write. Its requests'
	 * kill flags are read as they come, which spliced requests are not. */
	if (lfs_devio_offered() & LFS_INIT_KILLPRIV_V2) {
		extra |= LFS_INIT_KILLPRIV_V2;
		conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	}
	lfs_devio_note_init_reply(extra, depth);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (lfs->conn_opts)
		fuse_apply_conn_info_opts(lfs->conn_opts, conn);
	if (lfs->max_read)
		conn->max_read = lfs->max_read;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/* ACLs by the kernel, as on overlayfs: it caches and enforces them;
	 * we keep them, inherit default ACLs and apply the umask (acl.c). */
	if (!lfs->noacl && (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		lfs->posix_acl = true;
	}
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* Big requests: fewer round trips for sequential I/O. */
	conn->max_write = 1U << 20;
	/* Passthrough cannot be combined with the writeback cache (off above). */
	want_extra(conn);
}

/* No flush: nothing to do on close(2) (POSIX locks are the kernel's, data
 * goes straight to the branch file), and without the operation the kernel
 * stops sending one request per close. */
const struct fuse_lowlevel_ops lfs_ops = {
	.init = op_init,
	/* names */
	.lookup = lfs_op_lookup,
	.forget = lfs_op_forget,
	.forget_multi = lfs_op_forget_multi,
	.mknod = lfs_op_mknod,
	.mkdir = lfs_op_mkdir,
	.symlink = lfs_op_symlink,
	.link = lfs_op_link,
	.unlink = lfs_op_unlink,
	.rmdir = lfs_op_rmdir,
	.rename = lfs_op_rename,
	/* attributes */
	.getattr = lfs_op_getattr,
	.setattr = lfs_op_setattr,
	.readlink = lfs_op_readlink,
	.statfs = lfs_op_statfs,
	/* open files */
	.open = lfs_op_open,
	.create = lfs_op_create,
	.read = lfs_op_read,
	.write_buf = lfs_op_write_buf,
	.release = lfs_op_release,
	.fsync = lfs_op_fsync,
	.fallocate = lfs_op_fallocate,
	.copy_file_range = lfs_op_copy_file_range,
	.lseek = lfs_op_lseek,
	/* open directories */
	.opendir = lfs_op_opendir,
	.readdir = lfs_op_readdir,
	.readdirplus = lfs_op_readdirplus,
	.releasedir = lfs_op_releasedir,
	.fsyncdir = lfs_op_fsyncdir,
	/* extended attributes */
	.getxattr = lfs_op_getxattr,
	.listxattr = lfs_op_listxattr,
	.setxattr = lfs_op_setxattr,
	.removexattr = lfs_op_removexattr,
};
