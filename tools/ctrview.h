/* A container's lower view: what it started from, its init layer over its
 * image's layers, as directory fds top first (for diff and commit). */
#ifndef LAYERCTL_CTRVIEW_H
#define LAYERCTL_CTRVIEW_H

#include <jansson.h>

#include "mergedwalk.h"
#include "store.h"

struct ctr_view {
	int *fd;            /* O_PATH roots: init, then the layers top to bottom */
	unsigned n;
	struct mw_view view;
};

/* Opens the lower view of container NAME (record ctr). 0, or -1 with a
 * message naming cmd on stderr. */
int ctr_view_open(const struct store *s, const char *name, json_t *ctr, const char *cmd,
		  struct ctr_view *v);
void ctr_view_close(struct ctr_view *v);

#endif
