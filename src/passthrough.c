/* FUSE passthrough, added to libfuse 3.14 from the outside.
 *
 * The kernel (>= 6.9) lets a daemon hand it a "backing file" for an open
 * FUSE file: reads, writes, splice and mmap then go straight to that file.
 * Three things are needed, none of which libfuse 3.14 can say: the INIT
 * reply must carry FUSE_PASSTHROUGH (a flags2 bit) and a max_stack_depth;
 * the backing file is registered with the FUSE_DEV_IOC_BACKING_OPEN ioctl
 * on the device fd, which returns a backing id; the OPEN/CREATE reply
 * carries FOPEN_PASSTHROUGH and that id. devio.c patches the replies.
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

#include "devio.h"
#include "handle.h"
#include "killpriv.h"

/* Backing files may not themselves be on a stacked filesystem (overlayfs,
 * another passthrough FUSE mount): those opens fall back (ELOOP). Our own
 * stack depth becomes 1, so overlayfs can still be mounted on top of us. */
#define PT_MAX_STACK_DEPTH 1
/* Kernel ABI newer than the headers on this system (protocol 7.40). */
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct lfs_pt {
	enum lfs_pt_policy policy;
	int refused;         /* errno of a refusal that holds for every file */
	unsigned ro_union_open; /* passthrough handles made without an rw branch */
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

void lfs_pt_set_policy(enum lfs_pt_policy policy)
{
	PT->policy = policy;
}

uint64_t lfs_pt_init_flags(uint32_t *depth)
{
	if (PT->policy == LFS_PT_OFF || lfs_devio_fd() < 0)
		return 0;
	*depth = PT_MAX_STACK_DEPTH;
	return LFS_INIT_PASSTHROUGH;
}

void lfs_pt_note_open_reply(int id)
{
	lfs_devio_note_open_reply(id);
}

/* Whether passthrough may still be tried (false after the kernel refused). */
static bool pt_usable(void)
{
	return PT->policy != LFS_PT_OFF && (lfs_devio_granted() & LFS_INIT_PASSTHROUGH) &&
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
	int id = ioctl(lfs_devio_fd(), PT_IOC_BACKING_OPEN, &map);
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
	if (id > 0 && ioctl(lfs_devio_fd(), PT_IOC_BACKING_CLOSE, &bid) < 0)
		lfs_log("passthrough: closing backing id %d: %s", id, strerror(errno));
}

/* ---- which opens are passed through ---- */

int lfs_pt_choose(struct node *n, struct fhandle *h, struct fuse_file_info *fi)
{
	int id = 0;
	/* See passthrough.h for why only rw files, and every file of a union
	 * without an rw branch. Such a file stays one file (it is never
	 * copied up again), so its opens can share one backing id for as long
	 * as any of them is open. */
	bool ro_union = !lfs->has_rw;
	bool want = pt_usable() && S_ISREG(n->type) && (ro_union || h->branch == 0);
	/* Writes to it would never reach us, nor drop its privileges. */
	if (want && !ro_union && lfs_killpriv_on() && lfs_killpriv_privileged(h->fd))
		want = false;
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
	h->pt_ro_union = id > 0 && ro_union;
	if (h->pt_ro_union)
		PT->ro_union_open++;
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

bool lfs_pt_ro_union_files_open(void)
{
	lfs_tree_lock();
	bool open = PT->ro_union_open > 0;
	lfs_tree_unlock();
	return open;
}

int lfs_pt_handle_gone_locked(struct node *n, struct fhandle *h)
{
	struct lfs_pt_node *p = n->pt;
	if (!p)
		return 0;
	if (h->pt_ro_union && PT->ro_union_open)
		PT->ro_union_open--;
	if (!h->passthrough && p->cached_open) {
		p->cached_open--;
	} else if (h->passthrough && p->pt_open && --p->pt_open == 0) {
		int id = p->id;
		p->id = 0;
		return id;
	}
	return 0;
}
