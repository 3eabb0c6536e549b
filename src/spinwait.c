/* Polling for the next request before sleeping: see spinwait.h. */
#include "spinwait.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

/* How often the reader looks whether the machine has a CPU to spare. */
#define LOAD_CHECK_NS (5 * 1000 * 1000)
/* Waiting for a CPU more than 1/RUN_DELAY_SHARE of the time since the
 * last look means another task wants this one. */
#define RUN_DELAY_SHARE 10
/* Calm when that many of the last four looks found the CPUs busy. */
#define BUSY_LOOKS_MASK 0xf
#define BUSY_LOOKS_TO_CALM 2
/* After this many yields in a row that let some other task run and
 * brought no request, the CPU is taken to be busy with other work. */
#define STRIKES_TO_CALM 2
/* Either way the reader then stops looking for this long: other work
 * that keeps CPUs busy usually goes on for a while. */
#define CALM_NS (1000 * 1000 * 1000)

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

bool lfs_request_waiting(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Times this thread left its CPU while runnable: a yield that handed the
 * CPU to another task counts one (time the host takes from the VM or
 * interrupts do not). */
static long involuntary_switches(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
}

/* Whether more tasks are runnable right now than there are CPUs (the
 * fourth field of /proc/loadavg, "running/total", counts this reader
 * too): then a polling reader keeps some task from a CPU, often the
 * caller itself. */
static bool cpus_oversubscribed(struct lfs_spinwait *s)
{
	char buf[128];
	ssize_t n = s->loadavg_fd >= 0 ? pread(s->loadavg_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	unsigned running;
	if (sscanf(buf, "%*s %*s %*s %u/", &running) != 1)
		return false;
	return running > s->ncpus;
}

/* The time this thread has waited on a runqueue so far (the second field
 * of its schedstat), or -1. */
static int64_t run_delay_ns(struct lfs_spinwait *s)
{
	if (s->schedstat_fd == -2)   /* opened by the reading thread itself */
		s->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	char buf[96];
	ssize_t n = s->schedstat_fd >= 0 ? pread(s->schedstat_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long long delay;
	return sscanf(buf, "%*s %lld", &delay) == 1 ? delay : -1;
}

/* Whether this reader had to wait for its CPU for a good share of the
 * time since the last look: some other task runs there too. */
static bool cpu_shared(struct lfs_spinwait *s, int64_t now)
{
	int64_t delay = run_delay_ns(s);
	/* No earlier look (last_run_delay_ns -1): nothing to compare yet. */
	bool shared = delay >= 0 && s->last_run_delay_ns >= 0 &&
		      (delay - s->last_run_delay_ns) * RUN_DELAY_SHARE > now - s->last_check_ns;
	s->last_run_delay_ns = delay;
	s->last_check_ns = now;
	return shared;
}

void lfs_spinwait_init(struct lfs_spinwait *s, unsigned window_us)
{
	s->window_ns = (int64_t)window_us * 1000;
	s->calm_until_ns = 0;
	s->next_load_check_ns = 0;
	s->strikes = 0;
	s->busy_looks = 0;
	s->last_check_ns = 0;
	s->last_run_delay_ns = -1;
	s->schedstat_fd = window_us ? -2 : -1;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	s->ncpus = n > 0 ? (unsigned)n : 1;
	s->loadavg_fd = window_us ? open("/proc/loadavg", O_RDONLY | O_CLOEXEC) : -1;
	/* One CPU: polling could only keep the caller from running. */
	if (s->ncpus == 1)
		s->window_ns = 0;
}

void lfs_spinwait_free(struct lfs_spinwait *s)
{
	if (s->loadavg_fd >= 0)
		close(s->loadavg_fd);
	if (s->schedstat_fd >= 0)
		close(s->schedstat_fd);
	s->loadavg_fd = s->schedstat_fd = -1;
}

/* A yield let another task run and no request came of it. */
static void strike(struct lfs_spinwait *s, int64_t now)
{
	if (++s->strikes < STRIKES_TO_CALM)
		return;
	s->strikes = 0;
	s->calm_until_ns = now + CALM_NS;
}

/* Whether to look at all now. */
static bool may_spin(struct lfs_spinwait *s, int64_t now)
{
	if (now < s->calm_until_ns)
		return false;
	if (now >= s->next_load_check_ns) {
		s->next_load_check_ns = now + LOAD_CHECK_NS;
		/* Either test alone is sometimes true on an idle machine (1 look
		 * in 100 here) and mostly true beside a busy CPU (7 in 10). */
		bool busy = cpu_shared(s, now) || cpus_oversubscribed(s);
		s->busy_looks = (uint8_t)((s->busy_looks << 1) | busy);
		if (__builtin_popcount(s->busy_looks & BUSY_LOOKS_MASK) >= BUSY_LOOKS_TO_CALM) {
			s->busy_looks = 0;
			s->calm_until_ns = now + CALM_NS;
			return false;
		}
	}
	return true;
}

bool lfs_spinwait_for_request(struct lfs_spinwait *s, int fd)
{
	if (s->window_ns == 0)
		return false;
	int64_t start = now_ns();
	if (!may_spin(s, start))
		return false;
	long switches = involuntary_switches();
	for (int64_t now = start; now - start < s->window_ns; now = now_ns()) {
		if (lfs_request_waiting(fd)) {
			s->strikes = 0;
			return true;
		}
		sched_yield();
		if (involuntary_switches() == switches)
			continue;
		/* Whoever ran may have been the caller, now waiting for us. */
		if (lfs_request_waiting(fd))
			return true;
		strike(s, now_ns());
		return false;
	}
	return false;
}
