/* The inode numbers users see. Objects of the first device keep their own
 * st_ino; those of other devices carry the device's index in the top bits.
 * A copied-up object keeps the number its lower original had, through a
 * map that lives as long as the mount. */
#ifndef LAYERFS_INO_H
#define LAYERFS_INO_H

#include "lfs.h"

int lfs_inos_init(void);
void lfs_inos_free(void);
/* The st_ino shown for an object with stat st (of any branch). */
uint64_t lfs_ino_for(const struct stat *st);
/* Remembers that the rw object upper (now) stands for ino (after copy-up). */
int lfs_ino_remember(const struct stat *upper, uint64_t ino);
/* The rw object upper is gone: its number may be reused by a new object. */
void lfs_ino_forget(const struct stat *upper);

#endif
