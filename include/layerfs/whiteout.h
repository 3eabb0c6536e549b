/* The aufs whiteout naming rules, shared by the daemon and layerctl.
 *
 * A branch hides NAME from the branches below it with an entry ".wh.NAME";
 * a directory carrying ".wh..wh..opq" hides everything below it. Names that
 * begin ".wh..wh." are branch metadata (the whiteout base, the hardlink
 * index, the work directory). Every name that begins ".wh." is a marker:
 * never shown through a mount and never creatable through it. */
#ifndef LAYERFS_WHITEOUT_H
#define LAYERFS_WHITEOUT_H

#include <stdbool.h>
#include <stddef.h>

#define LFS_WH_PREFIX ".wh."
#define LFS_WH_PREFIX_LEN 4
#define LFS_WH_META_PREFIX ".wh..wh."
#define LFS_WH_META_PREFIX_LEN 8
/* Marks a directory opaque: nothing below the branch holding it merges in. */
#define LFS_WH_OPAQUE ".wh..wh..opq"
/* In the rw branch root: the file every whiteout is a hardlink of. */
#define LFS_WH_BASE ".wh..wh.aufs"
/* In the rw branch root: index of copied-up hardlinked files ("pseudo links"). */
#define LFS_WH_PLINK_DIR ".wh..wh.plnk"
/* In the rw branch root: work directory where objects are built before they
 * are linked or renamed into place; emptied at every mount. */
#define LFS_WH_ORPH_DIR ".wh..wh.orph"

/* Extended attributes layerfs keeps for itself on objects of the rw branch
 * (the inode number a copy shows, its hardlink index key, the work
 * directory's dirty mark): "trusted.layerfs.*", "user.layerfs.*". Never
 * shown through the mount, never copied up, never written into a layer. */
bool lfs_is_internal_xattr(const char *name);

/* True for every name that starts with ".wh." (whiteouts and metadata). */
bool lfs_is_marker_name(const char *name);
/* True for ".wh..wh.*" (branch metadata, the opaque marker included). */
bool lfs_is_meta_name(const char *name);
/* True for exactly ".wh..wh..opq". */
bool lfs_is_opaque_name(const char *name);
/* For a whiteout ".wh.NAME" (not metadata) returns NAME, else NULL. */
const char *lfs_whiteout_target(const char *name);
/* Writes ".wh.NAME" into buf. Returns 0, -EINVAL when NAME is not a valid
 * single component (empty, ".", "..", contains '/') or is itself a marker,
 * -ENAMETOOLONG when the whiteout would exceed NAME_MAX (255) or bufsz. */
int lfs_whiteout_name(const char *name, char *buf, size_t bufsz);

#endif
