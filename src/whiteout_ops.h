/* Making and removing markers in the rw branch: whiteouts and opaque
 * markers are hardlinks of one base file, as on aufs. What markers mean is
 * the union rule's (layerfs/union.h); how they are spelled, whiteout.h's. */
#ifndef LAYERFS_WHITEOUT_OPS_H
#define LAYERFS_WHITEOUT_OPS_H

#include "lfs.h"

/* A whiteout of name in rw directory dfd (0 when there is one already). */
int lfs_whiteout_make(int dfd, const char *name);
int lfs_whiteout_remove(int dfd, const char *name);
/* Marks rw directory dirname (in dfd) opaque. */
int lfs_opaque_make(int dfd, const char *dirname);
/* Marks rw directory dirname (in dfd) as redirected to target (the path of
 * its lower parts, layerfs/union.h): its opaque marker, holding target,
 * put in place in one rename. */
int lfs_redirect_make(int dfd, const char *dirname, const char *target);
/* Under an opaque directory nothing below merges in: its whiteouts (at
 * every depth) say nothing any more and would only clutter a diff. Not so
 * below a redirected directory: its lower parts come from its redirect. */
int lfs_drop_whiteouts_below(int dfd, const char *dirname);

#endif
