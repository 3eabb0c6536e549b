/* What a container's runs leave in containers/<name>/:
 *   run.json    while it runs: { "pid" (the process that holds the run:
 *               `layerctl run` in the foreground, its monitor when
 *               detached), "start" (that process's start time, so a reused
 *               pid is not taken for it), "runtime" (path), "id" (the
 *               runtime's container id), "detached", "init_pid",
 *               "started" }
 *   state.json  after a run: { "exit_code", "finished" }
 *   container.log  the output of detached runs
 * The runtime id is "layerctl-NAME-" and 8 hex digits of the store's path,
 * so that containers of one name in two stores never meet in the runtime's
 * state directory or in the cgroup tree. */
#ifndef LAYERCTL_CTRSTATE_H
#define LAYERCTL_CTRSTATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct ctr_run {
	int pid;
	unsigned long long start;
	char runtime[PATH_MAX];
	char id[256];
	bool detached;
	int init_pid;       /* 0 when not known */
	char started[32];
};

/* The runtime's id of container NAME. -ENAMETOOLONG. */
int ctr_runtime_id(const struct store *s, const char *name, char *buf, size_t size);

/* The start time of process pid (/proc/PID/stat), 0 when it is gone. */
unsigned long long ctr_process_start(int pid);

/* Writes run.json (r->pid, r->start must be set). 0 or -errno. */
int ctr_run_write(const struct store *s, const char *name, const struct ctr_run *r);
/* Reads run.json: 0 when the process it names is alive (the container
 * runs), -ENOENT otherwise. */
int ctr_run_read(const struct store *s, const char *name, struct ctr_run *r);
void ctr_run_clear(const struct store *s, const char *name);

/* state.json. ctr_exit_read: 0 with the code, -ENOENT when there is none. */
int ctr_exit_write(const struct store *s, const char *name, int code);
int ctr_exit_read(const struct store *s, const char *name, int *code, char finished[32]);
void ctr_exit_clear(const struct store *s, const char *name);

/* Waits up to timeout_ms for the run to end (its process to go). */
bool ctr_wait_gone(const struct ctr_run *r, int timeout_ms);

#endif
