/* Per-layer progress lines on a terminal: see xferprogress.h. */
#include "xferprogress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void xfer_progress_init(struct xfer_progress *p, size_t n, const char *verb, bool on)
{
	memset(p, 0, sizeof(*p));
	p->rows = calloc(n ? n : 1, sizeof(*p->rows));
	if (p->rows == NULL)
		abort();
	p->n = n;
	p->verb = verb;
	p->on = on;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
}

void xfer_set_state(struct xfer_row *row, enum xfer_state s)
{
	__atomic_store_n(&row->state, (int)s, __ATOMIC_RELAXED);
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static void draw(struct xfer_progress *p, bool first)
{
	if (!first)
		printf("\033[%zuA", p->n + 1);
	uint64_t done = 0, total = 0;
	size_t finished = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct xfer_row *r = &p->rows[i];
		uint64_t d = __atomic_load_n(&r->done, __ATOMIC_RELAXED);
		int s = __atomic_load_n(&r->state, __ATOMIC_RELAXED);
		if (s == XFER_ACTIVE && r->total && d >= r->total)
			s = XFER_DONE;
		printf("\r\033[K%s: ", r->id);
		switch (s) {
		case XFER_WAITING: printf(d ? "%s %7.1f/%.1f MiB" : "Waiting", p->verb, mib(d),
					  mib(r->total)); break;
		case XFER_ACTIVE: printf("%s %7.1f/%.1f MiB", p->verb, mib(d), mib(r->total)); break;
		case XFER_DONE: printf("Done (%.1f MiB)", mib(r->total)); break;
		case XFER_EXISTS: printf("Already exists"); break;
		case XFER_MOUNTED: printf("Mounted from another repository"); break;
		default: printf("Failed"); break;
		}
		printf("\n");
		if (s != XFER_EXISTS && s != XFER_MOUNTED) {
			done += d;
			total += r->total;
		}
		finished += s == XFER_DONE || s == XFER_EXISTS || s == XFER_MOUNTED;
	}
	double dt = now() - p->started;
	printf("\r\033[Klayer %zu/%zu, %.1f/%.1f MiB, %.1f MiB/s\n", finished, p->n, mib(done),
	       mib(total), dt > 0 ? mib(done) / dt : 0.0);
	fflush(stdout);
}

static void *run(void *arg)
{
	struct xfer_progress *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		draw(p, false);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void xfer_progress_start(struct xfer_progress *p)
{
	p->started = now();
	if (!p->on)
		return;
	draw(p, true);
	if (pthread_create(&p->thread, NULL, run, p) != 0)
		p->on = false;
}

void xfer_progress_stop(struct xfer_progress *p)
{
	if (!p->on)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	draw(p, false);
	p->on = false;
}

void xfer_progress_free(struct xfer_progress *p)
{
	xfer_progress_stop(p);
	free(p->rows);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}
