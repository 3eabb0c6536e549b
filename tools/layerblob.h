/* The compressed blob of a stored layer, for export and push:
 * layers/<chain>/layer.tar.gz when the store keeps one (a committed layer)
 * and its digest is what meta.json says; otherwise the layer is written
 * afresh from diff/ by layerwrite (gzip), with a diff_id of its own. */
#ifndef LAYERCTL_LAYERBLOB_H
#define LAYERCTL_LAYERBLOB_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct layerblob {
	char blob[PATH_MAX];              /* the gzip blob */
	char digest[DIGEST_HEX_LEN + 1];
	char diff_id[DIGEST_HEX_LEN + 1];
	uint64_t size;
};

/* LDIR/layer.tar.gz, when it is there and its digest checks out. */
bool layerblob_stored(const char *ldir, json_t *meta, struct layerblob *x);
/* Writes the layer afresh from LDIR/diff into WORK/layer<i>.tar.gz. 0, or
 * -1 with a message on stderr. */
int layerblob_fresh(const char *ldir, const char *work, size_t i, struct layerblob *x);

#endif
