/* FUSE over io_uring, for libfuse 3.14 (uring.h).
 *
 * The protocol (fs/fuse/dev_uring.c, include/uapi/linux/fuse.h >= 7.42):
 *   - the INIT reply carries FUSE_OVER_IO_URING (a flags2 bit) when the
 *     kernel offered it; from then on the kernel holds new requests back
 *     until every queue has an entry (or a REGISTER fails, which turns the
 *     rings off again and lets requests through /dev/fuse);
 *   - there is one queue per possible CPU; a request goes to the queue of
 *     the CPU its caller runs on;
 *   - an entry is a header buffer (fuse_in_header / fuse_out_header, the
 *     opcode's fixed argument, the entry's commit id and payload size) and
 *     a payload buffer at least as big as the largest request; a REGISTER
 *     command (IORING_OP_URING_CMD on the device fd, SQE128, the queue in
 *     the command area) lends both to the kernel and completes when a
 *     request has been copied into them;
 *   - COMMIT_AND_FETCH hands the reply back (header + payload in the same
 *     buffers) and waits for the next request in one system call;
 *   - FORGET and INTERRUPT still come through read(2) (loop.c), and
 *     notifications still go through write(2).
 *
 * Here each queue has RING_THREADS threads, each with its own io_uring
 * and one entry. The kernel reuses the entry made available last, so the
 * thread that just answered takes the next request of its CPU while the
 * other waits for a request that comes while the first is busy. A request
 * is laid out in front of the payload as read(2) would have returned it
 * (header, fixed argument, payload: the entry keeps room for that in front
 * of the payload buffer) and goes through fuse_session_process_buf(); its
 * reply comes back through devio.c's sink into the entry. */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "devio.h"

/* Kernel ABI newer than this system's <linux/fuse.h> (protocol 7.42). */
#define RING_FLAGS2_OVER_IO_URING (1U << (41 - 32))
#define RING_IN_OUT_HEADER_SZ 128
#define RING_OP_IN_OUT_SZ 128
enum { RING_CMD_REGISTER = 1, RING_CMD_COMMIT_AND_FETCH = 2 };
struct ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};
struct ring_req_header {
	char in_out[RING_IN_OUT_HEADER_SZ];
	char op_in[RING_OP_IN_OUT_SZ];
	struct ring_ent_in_out ent;
};
struct ring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
_Static_assert(sizeof(struct ring_req_header) == 288, "fuse_uring_req_header layout");
_Static_assert(sizeof(struct ring_cmd_req) == 24, "fuse_uring_cmd_req layout");

#define RING_THREADS 2       /* per queue */
#define RING_DEPTH 4         /* SQEs per ring: the entry's command, the stop poll */
/* Room in front of the payload for the header and the fixed argument. */
#define HEADROOM 4096

struct ring_entry {
	struct ring_thread *t;
	struct ring_req_header *hdr;
	char *area;                /* HEADROOM + payload, mmap'd */
	char *payload;
	struct iovec iov[2];       /* what REGISTER lends the kernel */
	uint64_t commit_id;
	/* the request being served */
	struct lfs_devio_sink sink;
	bool has_payload;          /* the request brought payload: stage the reply */
	bool replied;
	char *stage;
	size_t stage_size;
	size_t reply_len;
};

struct ring_thread {
	struct lfs_uring *u;
	unsigned qid;
	int cpu;                   /* to run on, or -1 */
	struct io_uring ring;
	bool ring_made;
	int stopfd;                /* eventfd: lfs_uring_stop() */
	pthread_t thread;
	bool started;
	struct ring_entry ent;
};

struct lfs_uring {
	struct fuse_session *se;
	bool offered;              /* the kernel's INIT asked for it */
	bool announced;            /* our INIT reply said yes */
	size_t payload_size;
	unsigned nqueues;
	unsigned nthreads;
	struct ring_thread *threads;
	atomic_ulong served;
	atomic_bool refused;
};

#define U (lfs->uring)

static void *ring_main(void *arg);

/* The kernel's queue count: its possible CPUs (num_possible_cpus()). */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned n = 0;
	if (f) {
		unsigned a, b;
		int c;
		while (fscanf(f, "%u", &a) == 1) {
			b = a;
			c = fgetc(f);
			if (c == '-' && fscanf(f, "%u", &b) == 1)
				c = fgetc(f);
			n += b >= a ? b - a + 1 : 0;
			if (c != ',')
				break;
		}
		fclose(f);
	}
	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_CONF);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	return n;
}

/* ---- the transport: one entry, its buffers, its commands ---- */

static void prep_cmd(struct ring_thread *t, struct io_uring_sqe *sqe, uint32_t op)
{
	struct ring_entry *e = &t->ent;
	memset(sqe, 0, 2 * sizeof(*sqe));          /* an SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;                               /* the registered device fd */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	struct ring_cmd_req req = { .qid = (uint16_t)t->qid };
	if (op == RING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	} else {
		req.commit_id = e->commit_id;
	}
	memcpy(sqe->cmd, &req, sizeof(req));
	io_uring_sqe_set_data(sqe, e);
}

static int queue_cmd(struct ring_thread *t, uint32_t op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	if (!sqe)
		return -EBUSY;
	prep_cmd(t, sqe, op);
	return 0;
}

static int entry_make(struct ring_thread *t, size_t payload_size)
{
	struct ring_entry *e = &t->ent;
	e->t = t;
	e->hdr = mmap(NULL, sizeof(*e->hdr), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->hdr == MAP_FAILED) {
		e->hdr = NULL;
		return -errno;
	}
	/* Not populated: the pages a request touches are the pages it costs. */
	e->area = mmap(NULL, HEADROOM + payload_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->area == MAP_FAILED) {
		e->area = NULL;
		return -errno;
	}
	e->payload = e->area + HEADROOM;
	e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
	e->iov[1] = (struct iovec){ e->payload, payload_size };
	return 0;
}

static void entry_free(struct ring_entry *e, size_t payload_size)
{
	if (e->hdr)
		munmap(e->hdr, sizeof(*e->hdr));
	if (e->area)
		munmap(e->area, HEADROOM + payload_size);
	free(e->stage);
}

/* ---- a reply caught by devio.c ---- */

static char *reply_room(struct lfs_devio_sink *sink, size_t len)
{
	struct ring_entry *e = (void *)((char *)sink - offsetof(struct ring_entry, sink));
	if (len == 0 || len > e->t->u->payload_size)
		return len ? NULL : e->payload;
	/* The request's own payload (a name, data to write) lives where the
	 * reply goes, and the handler may still read it: stage the reply. */
	if (!e->has_payload)
		return e->payload;
	if (e->stage_size < len) {
		char *p = realloc(e->stage, len);
		if (!p)
			return NULL;
		e->stage = p;
		e->stage_size = len;
	}
	return e->stage;
}

static void reply_done(struct lfs_devio_sink *sink, const struct fuse_out_header *out,
		       size_t len)
{
	struct ring_entry *e = (void *)((char *)sink - offsetof(struct ring_entry, sink));
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + len),
				     .error = out->error, .unique = out->unique };
	memcpy(e->hdr->in_out, &h, sizeof(h));
	e->reply_len = len;
	e->replied = true;
}

static void reply_error(struct ring_entry *e, uint64_t unique, int error)
{
	struct fuse_out_header h = { .len = sizeof(h), .error = error, .unique = unique };
	memcpy(e->hdr->in_out, &h, sizeof(h));
	e->reply_len = 0;
	e->has_payload = false;
	e->replied = true;
}

/* The request in entry e: as read(2) would have returned it, in front of
 * the payload, through libfuse, and its reply into the entry. */
static void serve(struct ring_entry *e)
{
	struct lfs_uring *u = e->t->u;
	struct fuse_in_header in;
	memcpy(&in, e->hdr->in_out, sizeof(in));
	uint32_t psz = e->hdr->ent.payload_sz;
	e->commit_id = e->hdr->ent.commit_id;
	e->replied = false;
	e->has_payload = psz > 0;
	size_t fixed = in.len >= sizeof(in) + psz ? in.len - sizeof(in) - psz : SIZE_MAX;
	if (fixed > RING_OP_IN_OUT_SZ || psz > u->payload_size) {
		lfs_log("io_uring: malformed request (opcode %u, length %u, payload %u)",
			in.opcode, in.len, psz);
		reply_error(e, in.unique, -EIO);
		return;
	}
	char *start = e->payload - fixed - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->hdr->op_in, fixed);
	struct fuse_buf buf = { .mem = start, .size = in.len };
	lfs_dbg("io_uring: queue %u: unique %llu", e->t->qid, (unsigned long long)in.unique);
	e->sink.unique = in.unique;
	lfs_devio_note_request(start, in.len);
	lfs_devio_set_sink(&e->sink);
	lfs_branches_rdlock();
	fuse_session_process_buf(u->se, &buf);
	lfs_branches_unlock();
	lfs_devio_set_sink(NULL);
	if (!e->replied) {
		/* never left without an answer */
		lfs_log("io_uring: no reply to request %llu (opcode %u)",
			(unsigned long long)in.unique, in.opcode);
		reply_error(e, in.unique, -EIO);
	}
	else if (e->has_payload && e->reply_len)
		memcpy(e->payload, e->stage, e->reply_len);
	e->hdr->ent.payload_sz = (uint32_t)e->reply_len;
	atomic_fetch_add_explicit(&u->served, 1, memory_order_relaxed);
}

/* ---- the ring threads ---- */

static bool connection_gone(int res)
{
	return res == -ENOTCONN || res == -ECONNABORTED || res == -ENODEV || res == -ECANCELED;
}

/* One completion: false when the thread is done. */
static bool complete(struct ring_thread *t, struct io_uring_cqe *cqe, uint32_t *last)
{
	if (io_uring_cqe_get_data(cqe) == &t->stopfd)
		return false;
	int res = cqe->res;
	if (res == -EINTR || res == -EAGAIN)
		return queue_cmd(t, *last) == 0;
	if (res < 0) {
		if (!connection_gone(res) && *last == RING_CMD_REGISTER &&
		    !atomic_exchange(&t->u->refused, true))
			lfs_log("io_uring: the kernel refused the rings (%s); "
				"requests go through /dev/fuse", strerror(-res));
		else if (!connection_gone(res))
			lfs_log("io_uring: queue %u: %s", t->qid, strerror(-res));
		return false;
	}
	serve(&t->ent);
	*last = RING_CMD_COMMIT_AND_FETCH;
	return queue_cmd(t, *last) == 0;
}

static void pin(struct ring_thread *t)
{
	if (t->cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		lfs_dbg("io_uring: queue %u stays unpinned: %s", t->qid, strerror(errno));
}

static void *ring_main(void *arg)
{
	struct ring_thread *t = arg;
	pin(t);
	lfs_devio_set_thread_fd(-1);
	uint32_t last = RING_CMD_REGISTER;
	bool going = queue_cmd(t, last) == 0;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	if (sqe) {
		io_uring_prep_poll_add(sqe, t->stopfd, POLLIN);
		io_uring_sqe_set_data(sqe, &t->stopfd);
	}
	while (going) {
		int ret = io_uring_submit_and_wait(&t->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			lfs_log("io_uring: queue %u: %s", t->qid, strerror(-ret));
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&t->ring, head, cqe) {
			seen++;
			if (going)
				going = complete(t, cqe, &last);
		}
		io_uring_cq_advance(&t->ring, seen);
	}
	return NULL;
}

/* ---- setting up, in the INIT reply; starting; stopping ---- */

static void free_threads(struct lfs_uring *u)
{
	for (unsigned i = 0; i < u->nthreads; i++) {
		struct ring_thread *t = &u->threads[i];
		if (t->ring_made)
			io_uring_queue_exit(&t->ring);
		if (t->stopfd >= 0)
			close(t->stopfd);
		entry_free(&t->ent, u->payload_size);
	}
	free(u->threads);
	u->threads = NULL;
	u->nthreads = 0;
}

/* The CPU queue q's threads run on, if this process may run there. */
static int queue_cpu(unsigned q)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && q < CPU_SETSIZE && CPU_ISSET(q, &set))
		return (int)q;
	return -1;
}

static int make_thread(struct lfs_uring *u, struct ring_thread *t, unsigned q)
{
	t->u = u;
	t->qid = q;
	t->cpu = queue_cpu(q);
	t->ent.sink.room = reply_room;
	t->ent.sink.replied = reply_done;
	t->stopfd = eventfd(0, EFD_CLOEXEC);
	if (t->stopfd < 0)
		return -errno;
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	int ret = io_uring_queue_init_params(RING_DEPTH, &t->ring, &p);
	if (ret < 0)
		return ret;
	t->ring_made = true;
	int fd = lfs_devio_fd();
	ret = io_uring_register_files(&t->ring, &fd, 1);
	if (ret < 0)
		return ret;
	return entry_make(t, u->payload_size);
}

/* Every ring, entry and buffer, before the INIT reply says yes: a failure
 * here keeps the session on /dev/fuse. */
static int make_rings(struct lfs_uring *u)
{
	u->nqueues = possible_cpus();
	if (u->nqueues > UINT16_MAX)
		return -EINVAL;
	u->nthreads = u->nqueues * RING_THREADS;
	u->threads = calloc(u->nthreads, sizeof(*u->threads));
	if (!u->threads) {
		u->nthreads = 0;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < u->nthreads; i++)
		u->threads[i].stopfd = -1;
	for (unsigned i = 0; i < u->nthreads; i++) {
		int ret = make_thread(u, &u->threads[i], i / RING_THREADS);
		if (ret < 0) {
			free_threads(u);
			return ret;
		}
	}
	return 0;
}

/* devio.c, on the INIT reply (arg: fuse_init_out). */
static void patch_init(struct iovec *arg)
{
	struct lfs_uring *u = U;
	if (!u || !u->offered || arg->iov_len < offsetof(struct fuse_init_out, flags2) + 4)
		return;
	struct fuse_init_out *out = arg->iov_base;
	/* The kernel's largest request: max(8 KiB, max_write, max_pages). */
	size_t pages = (out->flags & FUSE_MAX_PAGES) ? out->max_pages : 32;
	size_t size = (size_t)out->max_write;
	if (pages * 4096 > size)
		size = pages * 4096;
	if (size < 8192)
		size = 8192;
	u->payload_size = size;
	int ret = make_rings(u);
	if (ret < 0) {
		lfs_log("io_uring: cannot set up the rings (%s); requests go through /dev/fuse",
			strerror(-ret));
		return;
	}
	out->flags |= FUSE_INIT_EXT;
	out->flags2 |= RING_FLAGS2_OVER_IO_URING;
	u->announced = true;
}

void lfs_uring_offer(struct fuse_session *se, const void *arg, size_t len)
{
	const struct fuse_init_in *in = arg;
	bool offered = len >= offsetof(struct fuse_init_in, flags2) + 4 &&
		       (in->flags & FUSE_INIT_EXT) && (in->flags2 & RING_FLAGS2_OVER_IO_URING);
	if (!offered) {
		lfs_log("io_uring: not offered by the kernel (/sys/module/fuse/parameters/"
			"enable_uring is off, or the kernel is older than 6.14); "
			"requests go through /dev/fuse");
		return;
	}
	if (!U) {
		U = calloc(1, sizeof(*U));
		if (!U)
			return;
	}
	U->se = se;
	U->offered = true;
	lfs_devio_note_init(patch_init);
}

/* After the INIT reply said yes, the kernel waits for every queue to get
 * an entry. Should a thread not start, a REGISTER for a queue that does
 * not exist makes the kernel give the rings up (and requests flow through
 * /dev/fuse again) rather than wait for ever. */
static void give_up(struct ring_thread *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	if (!sqe)
		return;
	prep_cmd(t, sqe, RING_CMD_REGISTER);
	struct ring_cmd_req req = { .qid = UINT16_MAX };
	memcpy(sqe->cmd, &req, sizeof(req));
	io_uring_sqe_set_data(sqe, NULL);
	io_uring_submit(&t->ring);
}

void lfs_uring_start(void)
{
	struct lfs_uring *u = U;
	if (!u || !u->announced)
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	unsigned i = 0;
	for (; i < u->nthreads; i++) {
		if (pthread_create(&u->threads[i].thread, NULL, ring_main, &u->threads[i]))
			break;
		u->threads[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < u->nthreads) {
		lfs_log("io_uring: cannot start the ring threads; requests go through /dev/fuse");
		give_up(&u->threads[i]);     /* a ring no thread uses */
	}
	lfs_dbg("io_uring: %u queues, %u threads each, %zu byte payloads", u->nqueues,
		RING_THREADS, u->payload_size);
}

void lfs_uring_stop(void)
{
	struct lfs_uring *u = U;
	if (!u)
		return;
	for (unsigned i = 0; i < u->nthreads; i++) {
		uint64_t one = 1;
		if (u->threads[i].started && write(u->threads[i].stopfd, &one, sizeof(one)) < 0)
			lfs_log("io_uring: waking queue %u: %s", u->threads[i].qid, strerror(errno));
	}
	for (unsigned i = 0; i < u->nthreads; i++)
		if (u->threads[i].started)
			pthread_join(u->threads[i].thread, NULL);
	lfs_dbg("io_uring: %lu requests served over the rings",
		atomic_load(&u->served));
	free_threads(u);
	free(u);
	U = NULL;
}

unsigned long lfs_uring_served(void)
{
	return U ? atomic_load(&U->served) : 0;
}
