/* Waiting for the next request by looking for it a short while before
 * sleeping in read(2) (-o spin=USEC).
 *
 * A FUSE round trip wakes the daemon and then the caller. When they run
 * on different CPUs and the daemon's CPU has gone idle, each wake-up pays
 * for leaving the idle state; in a VM without halt polling (as here) that
 * is an exit to the host, and a warm `tar` or `find` over the mount spent
 * most of its time there. A reader that polls the device for a little
 * after each reply finds the caller's next request while still running.
 *
 * It yields its CPU between looks, so a caller that shares the CPU runs
 * at once and sends its next request; when a yield lets some other task
 * run instead (the CPU is busy with other work), polling would only take
 * time from that work, so after a few such yields the reader stops
 * polling for a while. So it does when it had to wait for its CPU for a
 * good share of the time (its schedstat), and while more tasks are
 * runnable than there are CPUs: a reader that keeps a CPU to itself then
 * pushes the caller onto a CPU shared with other work, where an idle
 * reader would have been woken on the caller's CPU and taken turns with
 * it. */
#ifndef LAYERFS_SPINWAIT_H
#define LAYERFS_SPINWAIT_H

#include <stdbool.h>
#include <stdint.h>

struct lfs_spinwait {
	int64_t window_ns;      /* how long to look after a request; 0: never */
	int64_t calm_until_ns;  /* monotonic time before which it does not look */
	int64_t next_load_check_ns;
	int64_t last_check_ns;
	int64_t last_run_delay_ns;  /* this thread's wait for a CPU, at the last check */
	unsigned strikes;       /* yields in a row that gave the CPU to other work */
	uint8_t busy_looks;     /* the last load checks, 1 for busy, newest lowest */
	unsigned ncpus;
	int loadavg_fd;
	int schedstat_fd;       /* this thread's; -2: to be opened */
};

void lfs_spinwait_init(struct lfs_spinwait *s, unsigned window_us);
void lfs_spinwait_free(struct lfs_spinwait *s);
/* Whether the device fd has a request to read (a poll that does not wait). */
bool lfs_request_waiting(int fd);
/* Looks for a request on the device fd for up to the window: true when
 * one is there to read. */
bool lfs_spinwait_for_request(struct lfs_spinwait *s, int fd);

#endif
