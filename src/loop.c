/* The request loop. Our own (rather than libfuse's) so that every request
 * runs under the branch lock as a reader: a branch change takes it as the
 * writer and so never sees a request half done with the old branch set.
 *
 * How many threads wait for requests matters more than how many there
 * are. The kernel hands a request to the thread that has waited longest
 * in read(2) on /dev/fuse, so with many idle threads every request wakes a
 * different, cold thread, often on the other CPU: on a busy machine that
 * doubled the daemon's CPU time per request, and even two threads taking
 * turns cost a third more than one (issue 15). So one thread reads and
 * serves request after request, as a single-threaded daemon would, and a
 * second one stands by: every TICK it looks whether the reader is stuck
 * in one request (a copy-up, an fsync, a cold directory) or requests are
 * piling up while nobody reads, and if so it starts reading itself, and
 * the next parked thread (or a new one, up to max_threads) stands by in
 * its place. A thread that finishes a request while another reads parks
 * (most recently parked first out). When no request came for a while the
 * standby stops ticking until the next one.
 *
 * A reader looks for the next request for spin_us before it sleeps in
 * read(2) (spinwait.h); the standby never does.
 *
 * With -o clone_fd every thread reads from its own clone of the device fd
 * (FUSE_DEV_IOC_CLONE) and replies on it (devio.c). With -o io_uring the
 * requests come over per-CPU rings once INIT is done (uring.c); these
 * threads then serve what still comes through read(2) (FORGET, INTERRUPT,
 * and everything if the kernel refuses the rings). */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fuse.h>

#include "devio.h"
#include "spinwait.h"
#include "uring.h"

/* A request is at most max_write (1 MiB, ops.c) plus its headers; the
 * kernel refuses reads into a buffer shorter than that. */
#define REQ_BUF_SIZE ((1U << 20) + 2 * 4096)

#define TICK_NS (2 * 1000 * 1000)   /* the standby's look */
#define IDLE_TICKS 100              /* then it sleeps until a request comes */

struct worker {
	struct loop *lp;
	pthread_t thread;
	int fd;              /* the thread's device fd (a clone, or the session's) */
	bool cloned;
	bool standby;        /* woken to stand by rather than to read */
	struct lfs_spinwait spin;
	sem_t wake;          /* posted to end a park */
	struct worker *next_parked;
};

struct loop {
	struct fuse_session *se;
	struct lfs_loop_opts opts;
	int devfd;
	atomic_uint readers;  /* threads in (or on their way into) read(2) */
	atomic_uint inflight; /* requests being served */
	atomic_ulong taken;   /* requests taken so far */
	atomic_bool asleep;   /* the standby waits without a timer */
	pthread_mutex_t lock; /* the fields below */
	struct worker **all;  /* every thread started, for the join */
	unsigned nthreads;
	struct worker *standby;
	struct worker *parked;
	int error;
	sem_t finished;       /* posted by a worker that leaves */
};

static void *worker_main(void *arg);

/* Under lp->lock: a new thread, a reader or the standby. */
static int start_worker_locked(struct loop *lp, bool standby)
{
	if (lp->nthreads >= lp->opts.max_threads || fuse_session_exited(lp->se))
		return -EAGAIN;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->lp = lp;
	w->fd = lp->devfd;
	w->standby = standby;
	/* The rings serve requests with io_uring: read(2) gets only the
	 * rare rest, not worth a look. */
	lfs_spinwait_init(&w->spin, lp->opts.io_uring ? 0 : lp->opts.spin_us);
	sem_init(&w->wake, 0, 0);
	if (standby)
		lp->standby = w;
	else
		atomic_fetch_add(&lp->readers, 1);
	/* Workers leave signals to the main thread, which waits for them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int ret = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		if (standby)
			lp->standby = NULL;
		else
			atomic_fetch_sub(&lp->readers, 1);
		lfs_spinwait_free(&w->spin);
		sem_destroy(&w->wake);
		free(w);
		return -ret;
	}
	lp->all[lp->nthreads++] = w;
	return 0;
}

/* Under lp->lock: someone else to stand by (the most recently parked
 * thread, or a new one), as the standby has started reading. */
static void new_standby_locked(struct loop *lp)
{
	lp->standby = NULL;
	struct worker *w = lp->parked;
	if (w) {
		lp->parked = w->next_parked;
		w->standby = true;         /* read under lp->lock in its park */
		lp->standby = w;
		sem_post(&w->wake);
	} else {
		start_worker_locked(lp, true);
	}
}

/* Waits on w->wake until posted (true) or until the deadline (false). */
static bool wait_wake(struct worker *w, const struct timespec *deadline)
{
	for (;;) {
		int ret = deadline ? sem_timedwait(&w->wake, deadline) : sem_wait(&w->wake);
		if (ret == 0)
			return true;
		if (errno != EINTR)
			return false;
	}
}

static void add_tick(struct timespec *at)
{
	at->tv_nsec += TICK_NS;
	if (at->tv_nsec >= 1000000000L) {
		at->tv_sec++;
		at->tv_nsec -= 1000000000L;
	}
}

/* The standby's watch. Returns true when it is to read, false when the
 * session ended. */
static bool stand_by(struct worker *w)
{
	struct loop *lp = w->lp;
	unsigned long last = atomic_load(&lp->taken);
	unsigned idle = 0;
	struct timespec at;
	clock_gettime(CLOCK_REALTIME, &at);
	while (!fuse_session_exited(lp->se)) {
		bool asleep = atomic_load(&lp->asleep);
		if (!asleep)
			add_tick(&at);
		if (wait_wake(w, asleep ? NULL : &at)) {
			clock_gettime(CLOCK_REALTIME, &at);   /* a reader woke us */
			idle = 0;
			continue;
		}
		unsigned long now = atomic_load(&lp->taken);
		bool busy = atomic_load(&lp->inflight) > 0;
		if (atomic_load(&lp->readers) == 0 && busy &&
		    (now == last || lfs_request_waiting(lp->devfd))) {
			pthread_mutex_lock(&lp->lock);
			atomic_fetch_add(&lp->readers, 1);
			w->standby = false;
			if (lp->standby == w)
				new_standby_locked(lp);
			pthread_mutex_unlock(&lp->lock);
			return true;
		}
		idle = now == last && !busy ? idle + 1 : 0;
		if (idle >= IDLE_TICKS)
			atomic_store(&lp->asleep, true);
		last = now;
	}
	return false;
}

/* A request was taken: wake the standby if it sleeps without a timer. */
static void took_request(struct loop *lp)
{
	atomic_fetch_add(&lp->inflight, 1);
	atomic_fetch_add_explicit(&lp->taken, 1, memory_order_relaxed);
	if (atomic_load_explicit(&lp->asleep, memory_order_relaxed) &&
	    atomic_exchange(&lp->asleep, false)) {
		pthread_mutex_lock(&lp->lock);
		if (lp->standby)
			sem_post(&lp->standby->wake);
		pthread_mutex_unlock(&lp->lock);
	}
}

/* After a request: read again, unless another thread reads already; then
 * stand by if nobody does, else park until asked to. Returns false when
 * the session ended. */
static bool park_or_read(struct worker *w)
{
	struct loop *lp = w->lp;
	if (atomic_load(&lp->readers) == 0) {
		atomic_fetch_add(&lp->readers, 1);
		return true;
	}
	pthread_mutex_lock(&lp->lock);
	if (!lp->standby) {
		lp->standby = w;
		w->standby = true;
	} else {
		w->standby = false;
		w->next_parked = lp->parked;
		lp->parked = w;
	}
	while (!w->standby && !fuse_session_exited(lp->se)) {
		pthread_mutex_unlock(&lp->lock);
		wait_wake(w, NULL);
		pthread_mutex_lock(&lp->lock);
	}
	pthread_mutex_unlock(&lp->lock);
	return !fuse_session_exited(lp->se) && stand_by(w);
}

/* Ends the session and wakes every parked thread so that it leaves. */
static void end_session(struct loop *lp, int error)
{
	pthread_mutex_lock(&lp->lock);
	if (error && !lp->error)
		lp->error = error;
	fuse_session_exit(lp->se);
	for (struct worker *w = lp->parked; w; w = w->next_parked)
		sem_post(&w->wake);
	lp->parked = NULL;
	/* Forgotten once woken: the main thread frees a worker as soon as it
	 * has joined it, and a worker that ends later must not post to it. A
	 * worker that stands by after this clears it again on its way out. */
	if (lp->standby)
		sem_post(&lp->standby->wake);
	lp->standby = NULL;
	pthread_mutex_unlock(&lp->lock);
}

/* A device fd of this thread's own (FUSE_DEV_IOC_CLONE): replies must go
 * to the fd the request was read from, which devio.c sees to. */
static void clone_device(struct worker *w)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	uint32_t master = (uint32_t)w->lp->devfd;
	if (fd >= 0 && ioctl(fd, FUSE_DEV_IOC_CLONE, &master) == 0) {
		w->fd = fd;
		w->cloned = true;
		return;
	}
	if (fd >= 0)
		close(fd);
	lfs_dbg("clone_fd: cannot clone the device fd (%s); sharing it", strerror(errno));
}

/* One request from the device: its size, 0 when the session ended, or
 * -errno for an error that ends it. */
static ssize_t receive(struct worker *w, char *buf)
{
	lfs_spinwait_for_request(&w->spin, w->fd);
	for (;;) {
		ssize_t n = read(w->fd, buf, REQ_BUF_SIZE);
		if (n >= (ssize_t)sizeof(struct fuse_in_header))
			return n;
		if (n >= 0)
			return -EIO;
		/* ENOENT: the request was interrupted before we read it. */
		if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
			continue;
		return errno == ENODEV ? 0 : -errno;
	}
}

static void serve(struct worker *w, char *buf, size_t len)
{
	struct loop *lp = w->lp;
	const struct fuse_in_header *in = (const void *)buf;
	bool init = in->opcode == FUSE_INIT;
	if (init && lp->opts.io_uring)
		lfs_uring_offer(lp->se, buf + sizeof(*in), len - sizeof(*in));
	struct fuse_buf fb = { .mem = buf, .size = len };
	lfs_devio_note_request(buf, (ssize_t)len);
	lfs_branches_rdlock();
	fuse_session_process_buf(lp->se, &fb);
	lfs_branches_unlock();
	if (init && lp->opts.io_uring)
		lfs_uring_start();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop *lp = w->lp;
	if (lp->opts.clone_fd)
		clone_device(w);
	lfs_devio_set_thread_fd(w->cloned ? w->fd : -1);
	char *buf = malloc(REQ_BUF_SIZE);
	int error = buf ? 0 : -ENOMEM;
	bool going = !error && (!w->standby || stand_by(w));
	while (going && !fuse_session_exited(lp->se)) {
		ssize_t n = receive(w, buf);
		atomic_fetch_sub(&lp->readers, 1);
		if (n <= 0 || fuse_session_exited(lp->se)) {
			/* Once the session ends, how the read ended is no error. */
			error = (int)(n < 0 && !fuse_session_exited(lp->se) ? n : 0);
			break;
		}
		took_request(lp);
		serve(w, buf, (size_t)n);
		atomic_fetch_sub(&lp->inflight, 1);
		going = park_or_read(w);
	}
	free(buf);
	end_session(lp, error);
	sem_post(&lp->finished);
	return NULL;
}

int lfs_session_loop(struct fuse_session *se, const struct lfs_loop_opts *opts)
{
	/* The workers read from a reference of their own: the unmount below
	 * closes the session's fd while a worker may be between two reads
	 * (serving the FORGETs of the unmount), and its next read must meet
	 * the ended connection (ENODEV), not a closed or reused fd number. */
	int devfd = fcntl(lfs_devio_fd(), F_DUPFD_CLOEXEC, 0);
	if (devfd < 0)
		return -errno;
	struct loop lp = { .se = se, .opts = *opts, .devfd = devfd };
	if (lp.opts.max_threads == 0)
		lp.opts.max_threads = 1;
	pthread_mutex_init(&lp.lock, NULL);
	sem_init(&lp.finished, 0, 0);
	lp.all = calloc(lp.opts.max_threads, sizeof(*lp.all));
	if (!lp.all) {
		close(devfd);
		return -ENOMEM;
	}
	/* One thread reads, one stands by. */
	pthread_mutex_lock(&lp.lock);
	if (start_worker_locked(&lp, false) == 0 && lp.opts.max_threads > 1)
		start_worker_locked(&lp, true);
	unsigned started = lp.nthreads;
	pthread_mutex_unlock(&lp.lock);
	if (started == 0) {
		free(lp.all);
		close(devfd);
		return -EAGAIN;
	}
	/* Ends when a worker leaves (unmount) or a signal handler of
	 * fuse_set_signal_handlers() marks the session exited (EINTR). */
	while (!fuse_session_exited(se))
		sem_wait(&lp.finished);
	end_session(&lp, 0);
	/* Workers blocked in read wake with ENODEV once the mount is gone; on a
	 * signal we unmount ourselves (lazily). No thread is cancelled
	 * mid-request. */
	fuse_session_unmount(se);
	/* No thread starts once the session has ended (start_worker_locked),
	 * so the count cannot grow behind the join. */
	for (unsigned i = 0;; i++) {
		pthread_mutex_lock(&lp.lock);
		struct worker *w = i < lp.nthreads ? lp.all[i] : NULL;
		pthread_mutex_unlock(&lp.lock);
		if (!w)
			break;
		pthread_join(w->thread, NULL);
		if (w->cloned)
			close(w->fd);
		lfs_spinwait_free(&w->spin);
		sem_destroy(&w->wake);
		free(w);
	}
	lfs_uring_stop();
	free(lp.all);
	close(devfd);
	pthread_mutex_destroy(&lp.lock);
	sem_destroy(&lp.finished);
	return lp.error;
}
