/* Inspection and control of a mount, as aufs's /sys/fs/aufs/si_<id>: a
 * runtime directory with br<N> (path=perm), brid<N>, mnt, pid, and a
 * control socket through which layerctl lists, adds, removes and changes
 * branches and asks which branch supplies a path. */
#ifndef LAYERFS_CONTROL_H
#define LAYERFS_CONTROL_H

#include "lfs.h"

/* A fresh mount id in lfs->si. */
void lfs_make_si(void);
/* Starts the control thread (after the mount is live). */
int lfs_control_start(void);
void lfs_control_stop(void);

#endif
