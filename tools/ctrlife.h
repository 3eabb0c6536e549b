/* A container's runs: in the foreground, detached under a monitor, and
 * their end (signals, stop). What they record is ctrstate.h's. */
#ifndef LAYERCTL_CTRLIFE_H
#define LAYERCTL_CTRLIFE_H

#include <stdbool.h>

#include "store.h"

struct run_request {
	const struct store *s;
	const char *name;
	const char *runtime;    /* path of runc or crun */
	const char *bundle;     /* the bundle directory the runtime gets */
	const char *ctrdir;     /* containers/<name> */
	const char *mnt;
	bool mounted_here;      /* this run mounted the rootfs: unmounted at its end */
	bool own_bundle;        /* bundle is ctrdir/.run, made for this run: removed */
};

/* Runs it in the foreground: the container's exit status, or CTL_FAIL
 * (with a message) when the runtime could not start it. */
int ctr_run_foreground(const struct run_request *rq);

/* Starts it detached and returns once it runs (CTL_OK) or failed to start
 * (CTL_FAIL, with what the runtime said). A monitor process stays: the
 * child subreaper of the container's init, it records the exit status,
 * deletes the runtime's state and unmounts what the run mounted when the
 * container ends. The container's output goes to ctrdir/container.log. */
int ctr_run_detached(const struct run_request *rq);

/* Undoes what a request made that never ran (its own bundle). */
void ctr_run_abandon(const struct run_request *rq);

/* Sends signal sig to the container's init. 0 or -1 with a message
 * naming cmd (also when it is not running). */
int ctr_signal(const struct store *s, const char *name, int sig, const char *cmd);

/* SIGTERM, then after timeout seconds SIGKILL (at once for 0); returns
 * when the run has ended. 0 (also when it was not running) or -1 with a
 * message. */
int ctr_stop(const struct store *s, const char *name, int timeout, const char *cmd);

#endif
