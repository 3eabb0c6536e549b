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
 * metacopy for a daemon that is not root), whose value names the lower
 * file it was made from: "v1 ino=N size=N mtime=S.NS". A reader that does
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

/* What a copy records of the lower file it was made from. */
struct lfs_metacopy {
	uint64_t ino;
	int64_t size;
	int64_t mtime_sec;
	long mtime_nsec;
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
#define LFS_METACOPY_VALUE_MAX 96
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
