/* Foreground and detached runs, signals, stop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctrlife.h"
#include "ctrstate.h"
#include "layerctl.h"
#include "runtime.h"

static void remove_run_bundle(const struct run_request *rq)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/config.json", rq->bundle);
	unlink(path);
	rmdir(rq->bundle);
}

/* The end of a run: what it mounted goes, its exit status (code >= 0) is
 * recorded, and run.json goes last (the container is no longer running). */
static void finish(const struct run_request *rq, int code)
{
	if (rq->own_bundle)
		remove_run_bundle(rq);
	if (rq->mounted_here && rt_umount(rq->mnt, false) < 0)
		fprintf(stderr, "layerctl: run: %s stays mounted\n", rq->mnt);
	if (code >= 0)
		ctr_exit_write(rq->s, rq->name, code);
	ctr_run_clear(rq->s, rq->name);
}

void ctr_run_abandon(const struct run_request *rq)
{
	finish(rq, -1);
}

static int begin(const struct run_request *rq, struct ctr_run *r, bool detached)
{
	memset(r, 0, sizeof(*r));
	r->pid = getpid();
	r->start = ctr_process_start(r->pid);
	r->detached = detached;
	snprintf(r->runtime, sizeof(r->runtime), "%s", rq->runtime);
	store_now_rfc3339(r->started);
	if (ctr_runtime_id(rq->s, rq->name, r->id, sizeof(r->id)) < 0)
		return -1;
	ctr_exit_clear(rq->s, rq->name);
	int rc = ctr_run_write(rq->s, rq->name, r);
	if (rc < 0)
		fprintf(stderr, "layerctl: run: cannot write %s/run.json: %s\n", rq->ctrdir,
			strerror(-rc));
	return rc < 0 ? -1 : 0;
}

int ctr_run_foreground(const struct run_request *rq)
{
	struct ctr_run r;
	if (begin(rq, &r, false) < 0) {
		finish(rq, -1);
		return CTL_FAIL;
	}
	int code = rt_run_container(rq->runtime, rq->bundle, r.id);
	finish(rq, code);
	if (code < 0) {
		fprintf(stderr, "layerctl: run: %s could not be started\n", rq->runtime);
		return CTL_FAIL;
	}
	return code;
}

/* The exit status of init, which is ours to reap once the runtime that
 * started it has gone (we are the child subreaper). */
static int wait_init(int init)
{
	for (;;) {
		int status;
		pid_t got = waitpid(-1, &status, 0);
		if (got == init)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
		if (got < 0 && errno == ECHILD)
			break;
	}
	/* not our child after all: wait for it to go, status unknown */
	while (kill(init, 0) == 0 || errno == EPERM) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 255;
}

static int read_pid_file(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	unlink(path);
	return pid;
}

/* The monitor: starts the container, tells the parent on fd ready ('0'
 * started, '1' not), then waits for its end. Never returns. */
static void monitor(const struct run_request *rq, int ready, int logfd)
{
	setsid();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (chdir("/") < 0)   /* hold no directory busy; every path here is absolute */
		_exit(1);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dup2(devnull, STDIN_FILENO);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
	if (rq->s->lockfd >= 0)
		close(rq->s->lockfd);
	struct ctr_run r;
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof(pidfile), "%s/.init.pid", rq->ctrdir);
	unlink(pidfile);
	if (begin(rq, &r, true) < 0) {
		finish(rq, -1);
		_exit(1);
	}
	rt_delete_stale(rq->runtime, r.id);
	char *args[] = { "run", "--detach", "--pid-file", pidfile, "--bundle", (char *)rq->bundle,
			 r.id, NULL };
	pid_t pid = rt_runtime_spawn(rq->runtime, args, NULL);
	int st = pid < 0 ? -1 : rt_wait(pid);
	r.init_pid = st == 0 ? read_pid_file(pidfile) : 0;
	if (r.init_pid <= 0) {
		if (st == 0)
			fprintf(stderr, "layerctl: run: %s wrote no pid file\n", rq->runtime);
		rt_delete_stale(rq->runtime, r.id);
		(void)!write(ready, "1", 1);
		finish(rq, -1);
		_exit(1);
	}
	ctr_run_write(rq->s, rq->name, &r);
	(void)!write(ready, "0", 1);
	close(ready);
	int code = wait_init(r.init_pid);
	rt_delete_stale(rq->runtime, r.id);
	finish(rq, code);
	_exit(0);
}

/* What the log got since offset off: the runtime's complaint. */
static void print_log_tail(int logfd, off_t off)
{
	char buf[2048];
	ssize_t n = pread(logfd, buf, sizeof(buf) - 1, off);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "layerctl: run: %s\n", line);
}

int ctr_run_detached(const struct run_request *rq)
{
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/container.log", rq->ctrdir);
	int logfd = open(log, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	int p[2];
	if (logfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "layerctl: run: %s: %s\n", log, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		return CTL_FAIL;
	}
	off_t off = lseek(logfd, 0, SEEK_END);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		monitor(rq, p[1], logfd);
	}
	close(p[1]);
	char c = 0;
	ssize_t n = pid > 0 ? read(p[0], &c, 1) : -1;
	close(p[0]);
	if (n == 1 && c == '0') {
		close(logfd);
		return CTL_OK;
	}
	fprintf(stderr, "layerctl: run: %s could not start container %s\n", rq->runtime, rq->name);
	print_log_tail(logfd, off);
	close(logfd);
	return CTL_FAIL;
}

int ctr_signal(const struct store *s, const char *name, int sig, const char *cmd)
{
	struct ctr_run r;
	if (ctr_run_read(s, name, &r) < 0) {
		fprintf(stderr, "layerctl: %s: container %s is not running\n", cmd, name);
		return -1;
	}
	char num[16];
	snprintf(num, sizeof(num), "%d", sig);
	char *args[] = { "kill", r.id, num, NULL };
	int st = rt_runtime_call(r.runtime, args, false);
	if (st != 0) {
		fprintf(stderr, "layerctl: %s: %s kill %s %s failed (status %d)\n", cmd, r.runtime,
			r.id, num, st);
		return -1;
	}
	return 0;
}

/* Sends sig (again, while the runtime does not know the container yet:
 * a run that is just starting) until the run ends or timeout_ms pass. */
static bool signal_until_gone(const struct ctr_run *r, const char *sig, int timeout_ms)
{
	char *args[] = { "kill", (char *)r->id, (char *)sig, NULL };
	bool sent = false;
	for (int waited = 0;; waited += 50) {
		if (!sent)   /* quiet: the container may also end on its own in between */
			sent = rt_runtime_call(r->runtime, args, true) == 0;
		if (ctr_wait_gone(r, 0))
			return true;
		if (waited >= timeout_ms)
			return false;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int ctr_stop(const struct store *s, const char *name, int timeout, const char *cmd)
{
	struct ctr_run r;
	if (ctr_run_read(s, name, &r) < 0)
		return 0;
	if (timeout > 0 && signal_until_gone(&r, "TERM", timeout * 1000))
		return 0;
	if (signal_until_gone(&r, "KILL", 15000))
		return 0;
	fprintf(stderr, "layerctl: %s: container %s did not end (pid %d)\n", cmd, name, r.pid);
	return -1;
}
