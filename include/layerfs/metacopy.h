/* Metadata-only copies (as overlayfs's metacopy): a regular file of the rw
 * branch that carries the metacopy marker holds only its metadata (owner,
 * mode, times, xattrs, size); its data is the file its name resolves to,
 * by the union rule, in the branches below. A chmod, chown, utimes or
 * xattr change of a lower file makes one (with -o metacopy=on) instead of
 * copying the data; the first change of the data copies it in and drops
 * the marker.
 *
 * On disk the copy is a sparse file of the right size (no data blocks),
 * and the marker is the xattr trusted.layerfs.metacopy (user.layerfs.
 * metacopy for a daemon that is not root), whose value fingerprints the
 * lower file it was made from: one version byte (1), then the first 8
 * bytes of the SHA-256 of its inode number, size and mtime (as
 * little-endian 64, 64, 64 and 32 bits). Binary and short so that the
 * marker and the inode-number record fit inside a 256-byte ext4 inode:
 * a readable value spilled both into an xattr block of their own, 4 KiB
 * per copy, half of what copying the data of small files costs. A reader that does
 * not know the marker sees a file of zeros, so a branch that may hold such
 * copies is read as a layer only through something that knows them
 * (layerctl diff, commit and export write whole files); that is why the
 * daemon makes them only when asked to.
 *
 * The lower file must stay the one recorded: a copy whose lower file is
 * gone or another one (a branch removed, a layer changed underneath) has
 * no data to show, and its opens fail with EIO. */
#ifndef LAYERFS_METACOPY_H
#define LAYERFS_METACOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define LFS_METACOPY_XATTR_ROOT "trusted.layerfs.metacopy"
#define LFS_METACOPY_XATTR_USER "user.layerfs.metacopy"

#define LFS_METACOPY_VERSION 1
#define LFS_METACOPY_FINGERPRINT_LEN 8

/* What a copy records of the lower file it was made from. */
struct lfs_metacopy {
	unsigned char fingerprint[LFS_METACOPY_FINGERPRINT_LEN];
};

/* Whether st (of an rw-branch object) may be a metadata-only copy: a
 * regular file that is not empty and has no more blocks than its xattrs
 * may take (64 KiB), or fewer than its size needs. Only those are asked
 * for the marker (a cheap filter for every lookup: files with more data
 * than that pass without). */
bool lfs_metacopy_maybe(const struct stat *st);
/* What to record for lower file st. */
void lfs_metacopy_of(const struct stat *lower, struct lfs_metacopy *mc);
/* Whether lower file st is the one mc was made from. */
bool lfs_metacopy_matches(const struct lfs_metacopy *mc, const struct stat *lower);

/* The marker's value for mc (buf of at least LFS_METACOPY_VALUE_MAX);
 * its length. */
#define LFS_METACOPY_VALUE_MAX 16
int lfs_metacopy_format(const struct lfs_metacopy *mc, char *buf, size_t size);
/* Parses a marker's value (len bytes, not terminated): 0, or -EINVAL. */
int lfs_metacopy_parse(const char *value, size_t len, struct lfs_metacopy *mc);

/* Reads the marker of name in directory dfd (never through a symlink):
 * 1 with *mc filled, 0 when there is none, or -errno. Both namespaces are
 * asked (root's first). */
int lfs_metacopy_read_at(int dfd, const char *name, struct lfs_metacopy *mc);
/* Sets the marker on the file open as fd (in the namespace xattr names). */
int lfs_metacopy_mark_fd(int fd, const char *xattr, const struct lfs_metacopy *mc);
/* Drops the marker from the file open as fd (absent is fine). */
int lfs_metacopy_clear_fd(int fd);

#endif
