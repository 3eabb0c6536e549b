/* The inode numbers users see. Objects of the first device keep their own
 * st_ino; those of other devices carry the device's index (the order of the
 * branches' devices) in the top bits. A copied-up object keeps the number
 * its lower original had: copy-up records it in an xattr of the copy
 * (trusted.layerfs.ino, user.* for an unprivileged daemon), read the first
 * time the copy is looked up in a mount and kept in a map from then on, so
 * numbers are the same across remounts of the same branch set. */
#ifndef LAYERFS_INO_H
#define LAYERFS_INO_H

#include "lfs.h"

int lfs_inos_init(void);
void lfs_inos_free(void);
/* The st_ino shown for an object with stat st (of any branch). */
uint64_t lfs_ino_for(const struct stat *st);
/* The number shown for the rw object name in directory dfd (stat st):
 * the one its copy-up recorded, else its own. */
uint64_t lfs_ino_for_rw(int dfd, const char *name, const struct stat *st);
/* Records on a new copy (name in dfd) the number it shows. 0 or -errno. */
int lfs_ino_record(int dfd, const char *name, uint64_t ino);
/* The same on an object open as fd (no path walk through /proc). */
int lfs_ino_record_fd(int fd, uint64_t ino);
/* Remembers that the rw object upper (now) stands for ino (after copy-up). */
int lfs_ino_remember(const struct stat *upper, uint64_t ino);
/* The rw object upper is gone: its number may be reused by a new object. */
void lfs_ino_forget(const struct stat *upper);

#endif
