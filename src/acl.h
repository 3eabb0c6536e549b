/* POSIX ACLs. With FUSE_POSIX_ACL (init() in ops.c asks for it unless
 * -o noacl) the kernel caches and enforces access ACLs, as it does for
 * overlayfs, and leaves to us what a filesystem does when it creates an
 * object: the umask (FUSE_DONT_MASK: the kernel no longer applies it) or,
 * when the parent directory has a default ACL, the default ACL in its
 * place (the new object's access ACL, and a new directory's default ACL).
 * New objects are built in the work directory, which has no default ACL,
 * so the parent's is applied explicitly (create.c).
 *
 * The xattr form of an ACL (system.posix_acl_access/_default): a 4-byte
 * version (2), then entries of a 2-byte tag, 2-byte permission bits and a
 * 4-byte id, all little-endian. */
#ifndef LAYERFS_ACL_H
#define LAYERFS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LFS_ACL_ACCESS "system.posix_acl_access"
#define LFS_ACL_DEFAULT "system.posix_acl_default"

/* What a new object gets: the mode to create it with and the ACLs to set
 * on it before it is published. */
struct lfs_acl_new {
	mode_t mode;
	char *access;         /* NULL: the mode says it all */
	size_t access_len;
	char *dflt;           /* a new directory's default ACL, or NULL */
	size_t dflt_len;
};

/* The mode and ACLs of a new object of type (S_IFMT bits) and requested
 * mode in the directory pdfd (an fd of the rw parent), for a caller with
 * umask. Without kernel ACLs the kernel has applied the umask already and
 * mode stays as it is. 0 or -errno. */
int lfs_acl_for_new(int pdfd, mode_t type, mode_t mode, mode_t umask, struct lfs_acl_new *out);
/* Sets a's ACLs on the object name in dfd (never through a symlink). */
int lfs_acl_apply(int dfd, const char *name, const struct lfs_acl_new *a);
void lfs_acl_new_free(struct lfs_acl_new *a);

/* Whether name is one of the two ACL xattrs. */
bool lfs_acl_is_xattr(const char *name);
/* What ext4's posix_acl_create_masq does to a default ACL for a new
 * object of mode: the entries are masked by mode's permission bits and
 * mode by the entries (pure; on the xattr form, in place). Returns 1 when
 * the ACL says more than mode (it must be set), 0 when mode says it all,
 * -EINVAL for a malformed ACL. */
int lfs_acl_create_masq(char *acl, size_t len, mode_t *mode);
/* Maps the ids of a USER/GROUP entry between disk and shown (uidmapping=,
 * gidmapping=), in place; to_disk picks the direction. -EINVAL for a
 * malformed ACL, -EOVERFLOW for an id without a mapping. */
int lfs_acl_map_ids(char *acl, size_t len, bool to_disk);

#endif
