/* layerfs daemon: the mount every module works on (struct lfs), the branch
 * type, logging, and the lock order. Each module declares itself in its own
 * header (node.h, lookup.h, ...); ARCHITECTURE.md draws how they stack.
 *
 * Branch 0 is the top. A merged object is a node; the kernel's nodeid is
 * the node's address (the root is FUSE_ROOT_ID). Objects are found in a
 * branch by opening their parent directory beneath the branch root (never
 * through a symlink) and then using *at() calls on the final name.
 *
 * LOCK ORDER. A thread takes these locks only in this order (a lock may be
 * skipped, never taken while holding one below it); debug builds check it
 * (lock.h):
 *   1. lfs->branch_lock (rwlock): shared by every request (loop.c, uring.c),
 *      exclusive while a live branch change runs (control.c).
 *   2. a directory stream's lock (dirstream.c): its listing, while a
 *      readdir fills a reply from it (lookups, copy-up may follow).
 *   3. node->lock: the copy-up of that one node; never two at once (the
 *      parent is copied up before the child's lock is taken).
 *   4. fhandle->lock: reopening one open file after its copy-up.
 *   5. lfs->tree_lock: the node table, names and node locations, and what
 *      other modules keep per node (open handles, passthrough state,
 *      directory caches). Short sections, no system call that waits on
 *      the kernel but one passthrough ioctl.
 *   6. leaf locks, each held alone: lfs->meta_lock (work area fds, the
 *      writes of the hardlink index's counts), the
 *      inode map's (ino.c), the open streams list's (dirstream.c), the
 *      control endpoint's (control.c). */
#ifndef LAYERFS_LFS_H
#define LAYERFS_LFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idmap.h"
#include "layerfs/branchspec.h"

#define LFS_MAX_BRANCHES 1024

struct branch {
	char *path;          /* canonical absolute path */
	int fd;              /* O_PATH|O_DIRECTORY of the branch root */
	enum lfs_perm perm;
	bool wh;             /* honours whiteouts and opaque markers */
	dev_t dev;
	ino_t ino;           /* of the root, to refuse a branch given twice */
	unsigned devidx;     /* index of dev among the branches' devices */
	uint64_t id;         /* brid: unique within the mount, never reused */
};

/* Each module's own share of the mount, defined in that module only. */
struct lfs_nodes;        /* node.c: the node table */
struct lfs_inos;         /* ino.c: inode numbers that outlive copy-up */
struct lfs_dircaches;    /* dircache.c: the caches' LRU and byte budget */
struct lfs_dirstreams;   /* dirstream.c: open directory streams */
struct lfs_pt;           /* passthrough.c: the kernel's backing files */
struct lfs_control;      /* control.c: runtime directory and socket */
struct lfs_devio;        /* devio.c: the session's device I/O */
struct lfs_uring;        /* uring.c: FUSE over io_uring */

struct lfs {
	/* The branch set (branch.c; changed live by branchops.c). */
	struct branch *br;
	int nbr;
	uint64_t next_brid;
	bool has_rw;         /* branch 0 is writable */
	dev_t *devs;         /* distinct devices of the branches */
	unsigned ndevs;
	char *mountpoint;    /* canonical */
	char si[17];         /* mount id, 16 hex digits */

	/* The work area (workdir.c): the rw root or workdir=. */
	char *workdir;
	int workfd;          /* O_PATH of workdir */
	int orphfd;          /* work directory, -1 until first needed */
	int plinkfd;         /* hardlink index directory, -1 until needed */
	bool dirty_marked;   /* the work directory carries the dirty mark */
	unsigned long tmp_counter;

	/* Mount options. */
	double timeout;      /* kernel entry/attr cache timeout */
	struct lfs_idmap ids;
	bool debug;
	bool redirect_dir;   /* a renamed merged directory is redirected, not copied */
	bool metacopy;       /* attribute changes copy metadata only (metacopy.h) */
	unsigned max_read;   /* init() must repeat the mount option */
	bool noacl;          /* -o noacl: no POSIX ACLs from the kernel */
	bool posix_acl;      /* the kernel enforces ACLs (FUSE_POSIX_ACL, init()) */
	struct fuse_conn_info_opts *conn_opts;

	struct fuse_session *se;
	struct node *root;
	unsigned rwfds, rwfds_max;  /* rw directory fds kept open by nodes (objref.c) */
	struct lfs_nodes *nodes;
	struct lfs_inos *inos;
	struct lfs_dircaches *dircaches;
	struct lfs_dirstreams *dirstreams;
	struct lfs_pt *pt;
	struct lfs_control *control;
	struct lfs_devio *devio;
	struct lfs_uring *uring;

	pthread_rwlock_t branch_lock;
	pthread_mutex_t tree_lock;
	pthread_mutex_t meta_lock;
};

/* The one mount of this process. */
extern struct lfs *lfs;

static inline bool lfs_branch_is_rw(int b)
{
	return b == 0 && lfs->has_rw;
}

#define lfs_log(fmt, ...) fuse_log(FUSE_LOG_ERR, "layerfs: " fmt "\n", ##__VA_ARGS__)
#define lfs_dbg(fmt, ...) do { if (lfs->debug) \
	fuse_log(FUSE_LOG_DEBUG, "layerfs: " fmt "\n", ##__VA_ARGS__); } while (0)

#include "lock.h"

#endif
