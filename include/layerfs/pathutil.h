/* Path and name containment helpers shared by the daemon and layerctl. */
#ifndef LAYERFS_PATHUTIL_H
#define LAYERFS_PATHUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A single directory-entry name: non-empty, not "." or "..", no '/', no NUL,
 * at most NAME_MAX bytes. */
bool lfs_name_is_valid(const char *name);

/* Lexically normalises a relative path (e.g. from a tar entry): drops "./"
 * components, repeated and trailing slashes and one leading "./"; rejects
 * absolute paths and any ".." component with -EINVAL, over-long results with
 * -ENAMETOOLONG. The empty path or "." normalise to ".". */
int lfs_path_normalize(const char *in, char *out, size_t outsz);

/* True when PATH is BASE or lies below it, comparing whole components
 * ("/a/bc" is not below "/a/b"). Both must be absolute and normalised. */
bool lfs_path_is_beneath(const char *base, const char *path);

/* openat2() beneath dirfd: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, plus
 * RESOLVE_NO_SYMLINKS when no_symlinks is set. An empty relpath means ".".
 * A relpath of PATH_MAX bytes or more (the kernel's limit for one call) is
 * opened a run of components at a time, each beneath the last. Returns an
 * fd or -errno. */
int lfs_openat_beneath(int dirfd, const char *relpath, int flags, mode_t mode,
		       bool no_symlinks);

#endif
