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

/* Writes the tree at directory fd ROOTFD to OUTFD as a gzip'd tar. With
 * view (the lower view of a container's rw layer), a directory layerfs
 * redirected (renamed without its lower parts, layerfs/union.h) is written
 * whole: an opaque directory holding the merged tree the container saw.
 * Returns 0, or -1 with a message on stderr. */
struct mw_view;
int layerwrite(int rootfd, const struct mw_view *view, int outfd, struct layer_blob *out);

#endif
