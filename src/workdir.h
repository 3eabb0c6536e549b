/* The work area of the rw branch (its root, or workdir=): the work
 * directory where new objects are built before they are renamed into
 * place (emptied at every mount), the hardlink index's directory, the
 * whiteout base, and the "dirty" mark a mount's first change sets and its
 * clean unmount clears (recover.c reads it). */
#ifndef LAYERFS_WORKDIR_H
#define LAYERFS_WORKDIR_H

#include "lfs.h"

int lfs_work_orph(void);     /* fd of the work directory, created on demand */
int lfs_work_plink(void);    /* fd of the hardlink index, created on demand */
int lfs_work_plink_if_exists(void);
/* A name for something new in the work directory, unique in the mount. */
void lfs_tmpname(char *buf, size_t size, const char *tag);

/* A directory's times, kept across a change that is layerfs's own (work
 * entries in the rw root, a copy put in place, markers): users see the
 * times their own changes made, on this mount and the next. */
struct lfs_dir_times {
	struct timespec ts[2];   /* atime, mtime */
	bool valid;
};
void lfs_dir_times_save(int dfd, struct lfs_dir_times *t);
void lfs_dir_times_restore(int dfd, const struct lfs_dir_times *t);

/* The first half of a two-step change is about to happen. */
void lfs_mark_dirty(void);
/* At a clean unmount. */
void lfs_mark_clean(void);
/* Whether the last mount stopped uncleanly; clears the mark. */
bool lfs_work_take_dirty_mark(void);
/* Empties the work directory (at mount). */
int lfs_clean_orph(void);

/* Removes name below dfd and, for a directory, everything in it, never
 * following a symlink. ENOENT counts as done. */
int lfs_remove_tree_at(int dfd, const char *name);
/* Removes an rw-branch directory tree by first moving it into the work
 * directory (so the name disappears atomically). */
int lfs_remove_dir_atomic(int dfd, const char *name);

#endif
