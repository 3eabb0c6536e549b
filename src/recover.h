/* Recovery after a crash (recover.c): a mount that finds the work
 * directory marked dirty drops the debris a two-step change can leave. */
#ifndef LAYERFS_RECOVER_H
#define LAYERFS_RECOVER_H

#include "lfs.h"

int lfs_recover(void);

#endif
