/* FUSE passthrough, added to libfuse 3.14 from the outside.
 *
 * The kernel (>= 6.9) lets a daemon hand it a "backing file" for an open
 * FUSE file: reads, writes, splice and mmap then go straight to that file.
 * Three things are needed, none of which libfuse 3.14 can say:
 *   1. the INIT reply must carry FUSE_PASSTHROUGH (a flags2 bit) and a
 *      max_stack_depth (a field libfuse still calls unused[0]);
 *   2. the backing file is registered with the FUSE_DEV_IOC_BACKING_OPEN
 *      ioctl on the device fd, which returns a backing id;
 *   3. the OPEN/CREATE reply carries FOPEN_PASSTHROUGH and that id (in what
 *      libfuse still calls padding).
 * libfuse lets a session do its device I/O through our functions
 * (fuse_session_custom_io, installed by devio.c), so (1) and (3) are done by
 * patching the reply there just before it goes to the kernel. Which reply to patch is
 * told by a thread-local note: libfuse sends a reply from the thread that
 * made it, synchronously, so the note set right before fuse_reply_*() is
 * read by the writev of that very reply.
 *
 * The kernel's rules for an inode (fs/fuse/iomode.c): all its open files
 * are either passthrough with one and the same backing file, or cached
 * (a server that breaks this gets EIO for the open). lfs_pt_choose() keeps
 * them. */
#include "passthrough.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/fuse.h>

#include "handle.h"

/* Kernel ABI newer than the headers on this system (protocol 7.40). */
#define PT_FLAGS2_PASSTHROUGH (1U << (37 - 32)) /* FUSE_PASSTHROUGH in flags2 */
#define PT_FOPEN_PASSTHROUGH (1U << 7)
/* Backing files may not themselves be on a stacked filesystem (overlayfs,
 * another passthrough FUSE mount): those opens fall back (ELOOP). Our own
 * stack depth becomes 1, so overlayfs can still be mounted on top of us. */
#define PT_MAX_STACK_DEPTH 1
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* Where the new fields sit in the old structures. */
#define PT_INIT_STACK_DEPTH_OFF offsetof(struct fuse_init_out, unused)
#define PT_OPEN_BACKING_ID_OFF offsetof(struct fuse_open_out, padding)
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "fuse_init_out layout");
_Static_assert(PT_INIT_STACK_DEPTH_OFF == 36, "fuse_init_out layout");
_Static_assert(PT_OPEN_BACKING_ID_OFF == 12 && sizeof(struct fuse_open_out) == 16,
	       "fuse_open_out layout");

enum pt_note { NOTE_NONE, NOTE_INIT, NOTE_OPEN };
static __thread enum pt_note next_reply;
static __thread int next_backing_id;

struct lfs_pt {
	enum lfs_pt_policy policy;
	int devfd;
	bool announced;      /* the INIT reply asked for passthrough */
	int refused;         /* errno of a refusal that holds for every file */
};

/* Per node (n->pt, under tree_lock): its open files by how the kernel
 * serves them; passthrough ones share backing id `id`. */
struct lfs_pt_node {
	unsigned pt_open, cached_open;
	int id;
	bool used;           /* ever passed through: cached opens drop the page cache */
};

#define PT (lfs->pt)

int lfs_pt_init(void)
{
	lfs->pt = calloc(1, sizeof(*lfs->pt));
	if (!lfs->pt)
		return -ENOMEM;
	lfs->pt->policy = LFS_PT_OFF;
	lfs->pt->devfd = -1;
	return 0;
}

void lfs_pt_free(void)
{
	free(lfs->pt);
	lfs->pt = NULL;
}

void lfs_pt_node_gone(struct node *n)
{
	free(n->pt);
	n->pt = NULL;
}

int lfs_pt_parse_policy(const char *s, enum lfs_pt_policy *out)
{
	if (strcmp(s, "on") == 0)
		*out = LFS_PT_ON;
	else if (strcmp(s, "off") == 0)
		*out = LFS_PT_OFF;
	else
		return -1;
	return 0;
}

/* ---- the device I/O hooks ---- */

static void patch_init(struct iovec *arg)
{
	if (arg->iov_len < PT_INIT_STACK_DEPTH_OFF + sizeof(uint32_t))
		return;        /* an old kernel's short INIT reply */
	struct fuse_init_out *out = arg->iov_base;
	uint32_t depth = PT_MAX_STACK_DEPTH;
	out->flags |= FUSE_INIT_EXT;
	out->flags2 |= PT_FLAGS2_PASSTHROUGH;
	memcpy((char *)out + PT_INIT_STACK_DEPTH_OFF, &depth, sizeof(depth));
	__atomic_store_n(&PT->announced, true, __ATOMIC_RELEASE);
}

/* OPEN replies are one fuse_open_out; CREATE replies end with one. */
static void patch_open(struct iovec *arg, int id)
{
	if (arg->iov_len < sizeof(struct fuse_open_out))
		return;
	struct fuse_open_out *out =
		(void *)((char *)arg->iov_base + arg->iov_len - sizeof(struct fuse_open_out));
	out->open_flags |= PT_FOPEN_PASSTHROUGH;
	memcpy((char *)out + PT_OPEN_BACKING_ID_OFF, &id, sizeof(id));
}

void lfs_pt_patch_reply(struct iovec *iov, int count)
{
	enum pt_note note = next_reply;
	next_reply = NOTE_NONE;
	if (note != NOTE_NONE && count == 2 && iov[0].iov_len == sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *h = iov[0].iov_base;
		if (h->error == 0 && note == NOTE_INIT)
			patch_init(&iov[1]);
		else if (h->error == 0 && note == NOTE_OPEN)
			patch_open(&iov[1], next_backing_id);
	}
}

int lfs_pt_attach(struct fuse_session *se, enum lfs_pt_policy policy)
{
	PT->policy = policy;
	if (policy == LFS_PT_OFF)
		return 0;
	PT->devfd = fuse_session_fd(se);
	return 0;
}

void lfs_pt_note_init_reply(void)
{
	if (PT->policy != LFS_PT_OFF)
		next_reply = NOTE_INIT;
}

void lfs_pt_note_open_reply(int id)
{
	next_reply = id > 0 ? NOTE_OPEN : NOTE_NONE;
	next_backing_id = id;
}

/* Whether passthrough may still be tried (false after the kernel refused). */
static bool pt_usable(void)
{
	return PT->policy != LFS_PT_OFF && __atomic_load_n(&PT->announced, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&PT->refused, __ATOMIC_RELAXED);
}

/* Errors that say the kernel will never take a backing file from us (no
 * CAP_SYS_ADMIN, passthrough not enabled, an old kernel) rather than that
 * this one file cannot be one (ELOOP: a stacked filesystem; EINVAL). */
static bool refusal_is_final(int err)
{
	return err == EPERM || err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS;
}

/* Registers fd as a backing file with the kernel: an id > 0, or -errno. */
static int backing_open(int fd)
{
	struct pt_backing_map map = { .fd = fd };
	int id = ioctl(PT->devfd, PT_IOC_BACKING_OPEN, &map);
	if (id > 0)
		return id;
	int err = id < 0 ? errno : EIO;
	if (refusal_is_final(err) &&
	    __atomic_exchange_n(&PT->refused, err, __ATOMIC_RELAXED) == 0) {
		lfs_dbg("passthrough unavailable: %s; reads and writes go through the daemon",
			strerror(err));
	}
	return -err;
}

void lfs_pt_backing_close(int id)
{
	uint32_t bid = (uint32_t)id;
	if (id > 0 && ioctl(PT->devfd, PT_IOC_BACKING_CLOSE, &bid) < 0)
		lfs_log("passthrough: closing backing id %d: %s", id, strerror(errno));
}

/* ---- which opens are passed through ---- */

int lfs_pt_choose(struct node *n, struct fhandle *h, struct fuse_file_info *fi)
{
	int id = 0;
	/* See passthrough.h for why only rw files. An rw file stays one file
	 * (it is never copied up again), so its opens can share one backing
	 * id for as long as any of them is open. */
	bool want = pt_usable() && S_ISREG(n->type) && h->branch == 0 && lfs->has_rw;
	lfs_tree_lock();
	struct lfs_pt_node *p = n->pt ? n->pt : (n->pt = calloc(1, sizeof(*n->pt)));
	if (!p) {
		lfs_tree_unlock();
		h->passthrough = false;
		fi->keep_cache = 0;    /* untracked: never trust the page cache */
		return 0;
	}
	if (p->pt_open) {
		/* The kernel now takes only passthrough opens of this inode. */
		p->pt_open++;
		id = p->id;
	} else if (want && p->cached_open == 0) {
		/* Under tree_lock so that two first opens agree on one id; the
		 * ioctl is short. */
		int got = backing_open(h->fd);
		if (got > 0) {
			p->id = id = got;
			p->pt_open = 1;
			p->used = true;
		}
	}
	h->passthrough = id > 0;
	if (id > 0) {
		/* The kernel refuses passthrough opens with any flag but direct
		 * I/O, parallel direct writes and noflush. */
		fi->keep_cache = 0;
	} else {
		p->cached_open++;
		/* The page cache may hold what passthrough writes made stale. */
		if (p->used)
			fi->keep_cache = 0;
	}
	lfs_tree_unlock();
	return id;
}

int lfs_pt_handle_gone_locked(struct node *n, struct fhandle *h)
{
	struct lfs_pt_node *p = n->pt;
	if (!p)
		return 0;
	if (!h->passthrough && p->cached_open) {
		p->cached_open--;
	} else if (h->passthrough && p->pt_open && --p->pt_open == 0) {
		int id = p->id;
		p->id = 0;
		return id;
	}
	return 0;
}
