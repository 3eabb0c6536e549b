/* Writing a layer tarball from a directory tree (a container's rw layer or
 * a layer's diff directory): gzip, deterministic (entries sorted by name,
 * depth first, a directory before its contents; mtimes in whole seconds;
 * no user/group names; pax headers only where ustar cannot say it: long
 * names, xattrs), with both digests computed while writing.
 *
 * What goes in: files, directories, symlinks, hardlinks (as hardlink
 * entries after the first name), fifos, char/block devices, owners, modes
 * with setuid/setgid/sticky, xattrs (except layerfs's own
 * trusted.layerfs.* / user.layerfs.*), whiteouts as empty ".wh.NAME"
 * files and opaque directories as an empty ".wh..wh..opq" file. What stays
 * out: branch metadata (.wh..wh.aufs, .wh..wh.orph/, .wh..wh.plnk/; any
 * other ".wh..wh." name), sockets (a warning), the root directory. */
#ifndef LAYERCTL_LAYERWRITE_H
#define LAYERCTL_LAYERWRITE_H

#include <stdint.h>
#include <sys/types.h>

#include "digest.h"

struct layer_blob {
	char diff_id[DIGEST_HEX_LEN + 1]; /* sha256 of the uncompressed tar */
	char digest[DIGEST_HEX_LEN + 1];  /* sha256 of the gzip stream */
	uint64_t tar_size;                /* bytes of the uncompressed tar */
	uint64_t blob_size;               /* bytes written to outfd */
	uint64_t entries;                 /* tar entries written */
};

/* Writes the tree at directory fd ROOTFD to OUTFD as a gzip'd tar. Returns
 * 0, or -1 with a message on stderr. */
int layerwrite(int rootfd, int outfd, struct layer_blob *out);

/* The sorted entry names of directory fd DIRFD ("." and ".." left out):
 * their count, or -1. Free them with lw_free_names. */
ssize_t lw_sorted_names(int dirfd, char ***out);
void lw_free_names(char **v, ssize_t n);
/* strcmp for qsort/bsearch over an array of char *. */
int lw_cmp_strp(const void *a, const void *b);

#endif
