/* Putting an image into the store: its layers unpacked in parallel into
 * tmp/, checked against the digests the image promises, renamed into
 * layers/ when complete, then the image record (names move to it, as
 * docker moves a tag). One implementation, in cmd_unpack.c, shared by
 * `unpack` (blobs in files) and `pull` (blobs streamed from a registry). */
#ifndef LAYERCTL_IMAGELOAD_H
#define LAYERCTL_IMAGELOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "image.h"
#include "store.h"

struct image_load {
	char **names;           /* normal-form names the image gets */
	size_t nnames;
	char **digests;         /* "REPO@sha256:<manifest>" for the record's "digests" */
	size_t ndigests;
	unsigned jobs;          /* layers at a time; 0: one per core */
	bool show;              /* unpack's progress line (on stderr) */
	size_t errsz;           /* room for one layer's message; 0: 4096 */
	/* On failure, the layers that finished (from the bottom up to the
	 * first that did not) still go into the store, so that a rerun
	 * reuses them; otherwise a failure leaves the store as it was. */
	bool keep_finished;
	/* Opens layer i's blob; NULL: blob_open (a file or archive member). */
	int (*open)(void *ctx, size_t i, struct blob_reader **out, char *err, size_t errsz);
	/* Layer i failed with err (before its reader is closed): may replace
	 * err by a better explanation. May be NULL. */
	void (*failed)(void *ctx, size_t i, char *err, size_t errsz);
	/* Adds fields to layer i's meta.json. May be NULL. */
	void (*meta)(void *ctx, size_t i, json_t *meta);
	void *ctx;
};

/* 0, or -1 with the errors on stderr (one line each, "layerctl: ..."). */
int image_load(struct store *s, struct image_src *img, const struct image_load *o);

#endif
