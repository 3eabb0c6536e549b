/* The mark of an indexed copy (the daemon's hardlink index, src/plink.h):
 * a lower file with several names, copied up through one of them, keeps
 * one copy in the rw branch that every name copied up later is linked to.
 * That copy carries the xattr trusted.layerfs.plink (user.layerfs.plink
 * for a daemon that is not root or has no work directory), "KEY NLINK
 * [GONE]": KEY names the lower inode ("<st_dev>_<st_ino>", both in hex),
 * NLINK is its lower link count, GONE how many of its lower names have
 * become names of the copy.
 *
 * The daemon reads it to show one inode through every name; layerctl's
 * commit reads it to write the lower names the rw layer does not hold as
 * links of the copy, so that the committed layer shows what the container
 * saw. */
#ifndef LAYERFS_PLINKMARK_H
#define LAYERFS_PLINKMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define LFS_PLINK_XATTR_ROOT "trusted.layerfs.plink"
#define LFS_PLINK_XATTR_USER "user.layerfs.plink"
#define LFS_PLINK_KEY_MAX 64
/* GONE of a mark that does not say (older layerfs). */
#define LFS_PLINK_GONE_UNKNOWN ((nlink_t)-1)

/* What a mark says besides the key. */
struct lfs_plink_count {
	nlink_t lower;       /* NLINK */
	nlink_t gone;        /* GONE, or LFS_PLINK_GONE_UNKNOWN */
};

/* The key of lower inode st. */
void lfs_plink_key(const struct stat *lower, char *buf, size_t size);
/* The lower inode a key names: true with *dev and *ino set. */
bool lfs_plink_key_inode(const char *key, dev_t *dev, ino_t *ino);
/* A mark's value (NUL-terminated in buf); its length. */
int lfs_plink_format_mark(const char *key, const struct lfs_plink_count *count, char *buf,
			  size_t size);
/* Parses a mark's value (NUL-terminated): true with key and *count set. */
bool lfs_plink_parse_mark(const char *value, char *key, size_t keysize,
			  struct lfs_plink_count *count);
/* The mark of name in directory dfd (never through a symlink) in the
 * xattr named: true with key and *count set. */
bool lfs_plink_read_mark_in(int dfd, const char *name, const char *xattr, char *key,
			    size_t keysize, struct lfs_plink_count *count);
/* The same, in either
 * namespace (root's first): true with key and *count set. */
bool lfs_plink_read_mark_at(int dfd, const char *name, char *key, size_t keysize,
			    struct lfs_plink_count *count);

#endif
