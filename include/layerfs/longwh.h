/* Whiteouts of names too long to be spelled ".wh.NAME".
 *
 * A whiteout is an entry ".wh.NAME" (whiteout.h), which cannot exist on a
 * Linux filesystem when NAME has 252 bytes or more: the entry would exceed
 * NAME_MAX (255). Such deletions are legal in images (a tar entry may carry
 * a 259-byte ".wh." name) and through the mount, so they are kept in a
 * list file of the directory, LFS_WH_LONG (".wh..wh.long"): the whited-out
 * names one after the other, each ending in a NUL byte (names can hold any
 * other byte). Being a ".wh..wh." name it is never shown through a mount,
 * and aufs and docker tools skip it as aufs metadata. The union rule reads
 * it as whiteouts of its names, in branches that honour whiteouts; in tar
 * layers (unpack, commit, export) each name is the standard ".wh.NAME"
 * entry again. */
#ifndef LAYERFS_LONGWH_H
#define LAYERFS_LONGWH_H

#include <stdbool.h>

#define LFS_WH_LONG ".wh..wh.long"

/* True when a whiteout of name must go in the list (".wh." + name would
 * exceed NAME_MAX). */
bool lfs_whiteout_is_long(const char *name);

/* Whether directory dfd's list holds name: 1, 0 (no list, or not in it),
 * or -errno when the list cannot be read. */
int lfs_longwh_has(int dfd, const char *name);
/* Calls fn for every name in directory dfd's list, in the list's order; a
 * non-zero return of fn stops and is returned. 0 without a list. Names
 * that are no valid single component are skipped. */
typedef int (*lfs_longwh_fn)(void *arg, const char *name);
int lfs_longwh_foreach(int dfd, lfs_longwh_fn fn, void *arg);
/* Adds (add) or removes name in directory dfd's list. The new list is
 * written as tmpname in directory tmpdfd (same filesystem as dfd) and
 * renamed over the old one, so a crash leaves the old or the new list; a
 * list left empty is removed. 0 or -errno. */
int lfs_longwh_change(int dfd, const char *name, bool add, int tmpdfd, const char *tmpname);

#endif
