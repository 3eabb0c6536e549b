/* Progress of a pull or a push on a terminal: one line per layer
 * ("a1b2c3d4e5f6: Downloading  3.1/12.0 MiB") and a total line ("layer
 * k/N, done/total MiB, rate"), redrawn five times a second by a thread of
 * its own. Rows are filled by the caller; their counters grow from other
 * threads. */
#ifndef LAYERCTL_XFERPROGRESS_H
#define LAYERCTL_XFERPROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xfer_state { XFER_WAITING, XFER_ACTIVE, XFER_DONE, XFER_EXISTS, XFER_MOUNTED,
		  XFER_FAILED };

struct xfer_row {
	char id[13];           /* the first 12 hex digits of the blob */
	uint64_t total;        /* bytes, 0 when unknown */
	uint64_t done;         /* grows atomically */
	int state;             /* enum xfer_state, set atomically */
};

struct xfer_progress {
	struct xfer_row *rows;
	size_t n;
	const char *verb;      /* "Downloading", "Pushing" */
	bool on;               /* drawing at all (a terminal, not -q) */
	bool stop;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	double started;
};

/* n rows, zeroed; draws only when on. */
void xfer_progress_init(struct xfer_progress *p, size_t n, const char *verb, bool on);
void xfer_progress_start(struct xfer_progress *p);
/* Stops the thread and draws the final state. */
void xfer_progress_stop(struct xfer_progress *p);
void xfer_progress_free(struct xfer_progress *p);
void xfer_set_state(struct xfer_row *row, enum xfer_state s);

#endif
