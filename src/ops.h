/* The FUSE low-level operations. Each ops_*.c file adapts one group of
 * requests to the modules below it (and calls no other ops file); ops.c
 * holds the one operation table. */
#ifndef LAYERFS_OPS_H
#define LAYERFS_OPS_H

#include "lfs.h"

/* The table fuse_session_new() takes. */
extern const struct fuse_lowlevel_ops lfs_ops;

/* ops_entry.c: names */
void lfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void lfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void lfs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void lfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void lfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void lfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void lfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void lfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void lfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void lfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags);

/* ops_attr.c: attributes */
void lfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi);
void lfs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void lfs_op_statfs(fuse_req_t req, fuse_ino_t ino);

/* ops_file.c: open files */
void lfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi);
void lfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void lfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		      struct fuse_file_info *fi);
void lfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void lfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		      struct fuse_file_info *fi);
void lfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			    struct fuse_file_info *fi_out, size_t len, int flags);
void lfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi);

/* ops_dir.c: open directories */
void lfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void lfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void lfs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ops_xattr.c: extended attributes */
void lfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void lfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void lfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		     size_t size, int flags);
void lfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
