/* The request loop. Our own (rather than libfuse's) so that every request
 * runs under the branch lock as a reader: a branch change takes it as the
 * writer and so never sees a request half done with the old branch set. */
#include "loop.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct loop {
	struct fuse_session *se;
	pthread_t *threads;
	unsigned nthreads;
	int error;
	pthread_mutex_t lock;
	sem_t finished;      /* posted by a worker that leaves */
};

static void *worker(void *arg)
{
	struct loop *lp = arg;
	struct fuse_buf buf = { 0 };
	while (!fuse_session_exited(lp->se)) {
		int res = fuse_session_receive_buf(lp->se, &buf);
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0) {
				pthread_mutex_lock(&lp->lock);
				lp->error = res;
				pthread_mutex_unlock(&lp->lock);
			}
			fuse_session_exit(lp->se);
			break;
		}
		lfs_branches_rdlock();
		fuse_session_process_buf(lp->se, &buf);
		lfs_branches_unlock();
	}
	free(buf.mem);
	sem_post(&lp->finished);
	return NULL;
}

int lfs_session_loop(struct fuse_session *se, unsigned nthreads)
{
	struct loop lp = { .se = se, .nthreads = nthreads ? nthreads : 1 };
	pthread_mutex_init(&lp.lock, NULL);
	sem_init(&lp.finished, 0, 0);
	lp.threads = calloc(lp.nthreads, sizeof(*lp.threads));
	if (!lp.threads)
		return -ENOMEM;
	/* Workers leave signals to the main thread, which waits for them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	unsigned started = 0;
	for (; started < lp.nthreads; started++)
		if (pthread_create(&lp.threads[started], NULL, worker, &lp))
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started == 0) {
		free(lp.threads);
		return -EAGAIN;
	}
	/* Ends when a worker leaves (unmount) or a signal handler of
	 * fuse_set_signal_handlers() marks the session exited (EINTR). */
	while (!fuse_session_exited(se))
		sem_wait(&lp.finished);
	/* Workers blocked in read wake with ENODEV once the mount is gone; on a
	 * signal we unmount ourselves (lazily: files still open keep being
	 * served until closed). No thread is cancelled mid-request. */
	fuse_session_unmount(se);
	for (unsigned i = 0; i < started; i++)
		pthread_join(lp.threads[i], NULL);
	free(lp.threads);
	pthread_mutex_destroy(&lp.lock);
	sem_destroy(&lp.finished);
	return lp.error;
}
