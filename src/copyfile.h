/* Low-level copy helpers for copy-up: moving a file's data, extended
 * attributes and inode attributes from a lower branch into the rw branch.
 *
 * They know nothing about branches or whiteouts; the caller picks the
 * objects and the order. A copy-up should run, in this order:
 *   lfs_copy_data  -> lfs_copy_attrs(_fd)  -> lfs_copy_xattrs
 * because writing data and chown() both drop security.capability, so the
 * xattrs must land after them; setting xattrs leaves atime/mtime alone, so
 * the times set by lfs_copy_attrs survive. */
#ifndef LAYERFS_COPYFILE_H
#define LAYERFS_COPYFILE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Copies the data of regular file src_fd (size bytes) into dst_fd, which is
 * a new empty regular file opened for writing on the destination fs.
 * Tries ioctl(FICLONE) first (reflink, whole file); then walks the data
 * extents with lseek(SEEK_DATA/SEEK_HOLE) and copies each with
 * copy_file_range(), falling back to sendfile() when copy_file_range
 * fails with EXDEV/EINVAL/EOPNOTSUPP/ENOSYS (two filesystems: still one
 * in-kernel copy), and to pread/pwrite when sendfile cannot; holes stay
 * holes; finally the
 * size is set with ftruncate(dst, size) so a trailing hole is kept (not
 * needed, and not done, when the data written ends at size).
 * Handles short copies and EINTR. Returns 0 or -errno.
 *
 * src_fd must be readable, dst_fd writable and not O_APPEND (-EBADF
 * otherwise). Both fds' file offsets may move. If the source turns out
 * shorter than size, the rest of the copy reads as zeros. */
int lfs_copy_data(int src_fd, int dst_fd, off_t size);

/* Copies every extended attribute of the object src_name in directory
 * src_dirfd onto dst_name in dst_dirfd, never following a final symlink
 * (use llistxattr/lgetxattr/lsetxattr on "/proc/self/fd/<dirfd>/<name>";
 * dirfds may be O_PATH). Names for which skip(name) returns true are not
 * copied (skip may be NULL). On the destination, EOPNOTSUPP/ENOTSUP and
 * EPERM are ignored for names outside the "user." namespace (e.g. a
 * security.selinux label the destination can't take) but reported for
 * "user." names. Values of any size (grow the buffer on ERANGE).
 * Returns 0 or -errno.
 *
 * A source fs without xattr support counts as "no xattrs". A dirfd of
 * AT_FDCWD means the name is used as it is. */
int lfs_copy_xattrs(int src_dirfd, const char *src_name,
                    int dst_dirfd, const char *dst_name,
                    bool (*skip)(const char *xattr_name));

/* The same from the object open as src_fd (which may have no name left:
 * an unlinked file still open). */
int lfs_copy_xattrs_from_fd(int src_fd, int dst_dirfd, const char *dst_name,
			    bool (*skip)(const char *xattr_name));

/* Gives dst_name (in dst_dirfd, final symlink never followed) the owner,
 * permission bits (including setuid/setgid/sticky) and atime/mtime (with
 * nanoseconds) of st. Order matters: chown first (it clears setuid/setgid),
 * then chmod (skipped for symlinks), then utimensat last (anything earlier
 * would touch the times). Returns 0 or -errno.
 *
 * When st is not a symlink but dst_name is one, the chmod fails (-EOPNOTSUPP)
 * rather than changing the link's target. */
int lfs_copy_attrs(int dst_dirfd, const char *dst_name, const struct stat *st);

/* Same as lfs_copy_attrs for an open regular file or directory fd
 * (fchown, fchmod, futimens). */
int lfs_copy_attrs_fd(int dst_fd, const struct stat *st);

#endif
