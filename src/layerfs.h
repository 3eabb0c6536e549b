/* layerfs daemon: the state every part of the daemon shares.
 *
 * Branch 0 is the top. A merged object is a node; the kernel's nodeid is the
 * node's address (the root is FUSE_ROOT_ID). Objects are found in a branch
 * by opening their parent directory beneath the branch root (never through a
 * symlink) and then using *at() calls on the final name with NOFOLLOW. */
#ifndef LAYERFS_H
#define LAYERFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* One name of a node: (parent directory node, entry name). */
struct lname {
	struct node *parent;
	char *name;
	struct lname *next;
};

struct node {
	uint64_t ino;        /* st_ino shown to users; stable for the mount */
	uint64_t nlookup;    /* references the kernel holds */
	uint32_t pins;       /* names of children that point at this node */
	mode_t type;         /* S_IFMT bits */
	int branch;          /* topmost branch holding the object */
	uint16_t *dirbr;     /* directories: branches that contribute, top-down */
	unsigned ndirbr;
	nlink_t lower_nlink; /* link count the lower object had (hardlink index) */
	char *plink;         /* data lives in the hardlink index under this name */
	struct lname *names; /* NULL only for the root */
	bool hashed;         /* reachable from the inode table */
	unsigned gen;        /* bumped when the object moves to the rw branch */
	bool no_xattrs;      /* known to carry no xattrs (ls -l asks for every file) */
	pthread_mutex_t lock; /* serialises copy-up of this node */
	struct node *hnext;
	struct node *all_prev, *all_next; /* every live node, for teardown */
	struct fhandle *handles; /* open files, under tree_lock */
	/* Open files by how the kernel serves them (passthrough.c), under
	 * tree_lock: passthrough ones share backing id pt_id. */
	unsigned pt_open, cached_open;
	int pt_id;
	bool pt_used;         /* ever passed through: cached opens drop the page cache */
	/* dircache.c, under tree_lock: the lower branches' entries. */
	struct dircache *dc;
	unsigned dc_gen;     /* bumped when dc is dropped: stale builds are discarded */
	bool dc_building;    /* a thread is reading the branches for dc */
};

/* fuse-overlayfs's uidmapping=/gidmapping= and squash_to_* (idmap.c). */
struct lfs_idrange {
	uint32_t inside, outside, count;
};
struct lfs_idranges {
	struct lfs_idrange *v;
	size_t n;
};
struct lfs_idmap {
	bool squash;
	uint32_t squash_uid, squash_gid;   /* UINT32_MAX: not squashed */
	struct lfs_idranges uids, gids;
};
int lfs_idmap_parse(struct lfs_idranges *r, const char *spec, char *err, size_t errsz);
uint32_t lfs_id_shown(const struct lfs_idranges *r, uint32_t disk);
/* UINT32_MAX when the id has no mapping. */
uint32_t lfs_id_on_disk(const struct lfs_idranges *r, uint32_t shown);
void lfs_idmap_show(const struct lfs_idmap *m, struct stat *st);
void lfs_idmap_free(struct lfs_idmap *m);

struct lfs {
	struct branch *br;
	int nbr;
	uint64_t next_brid;
	char *mountpoint;    /* canonical */
	char si[17];         /* mount id, 16 hex digits */
	struct fuse_session *se;
	bool has_rw;         /* branch 0 is writable */
	char *workdir;       /* where metadata lives: the rw root or workdir= */
	int workfd;          /* O_PATH of workdir */
	int orphfd;          /* work directory, -1 until first needed */
	int plinkfd;         /* hardlink index directory, -1 until needed */
	pthread_mutex_t meta_lock;
	double timeout;      /* kernel entry/attr cache timeout */
	struct lfs_idmap ids;
	bool debug;
	dev_t *devs;         /* distinct devices of the branches */
	unsigned ndevs;
	struct node *root;
	pthread_mutex_t tree_lock; /* node table, names, node locations */
	/* Held shared by every request, exclusive by branch changes. */
	pthread_rwlock_t branch_lock;
};

extern struct lfs *lfs;

/* ---- fs.c: branches, objects inside branches, inode numbers ---- */
int lfs_fs_init(struct lfs *fs, const struct lfs_branch_list *list,
		const char *workdir, const char *mountpoint);
int lfs_branch_open(const char *path, enum lfs_perm perm, bool wh, const char *mnt,
		    struct branch *b, char *err, size_t errsz);
int lfs_branch_check_new(const struct branch *b, char *err, size_t errsz);
int lfs_setup_workdir(struct lfs *fs, const char *workdir, char *err, size_t errsz);
unsigned lfs_dev_index(struct lfs *fs, dev_t dev);
void lfs_fs_destroy(struct lfs *fs);
/* Opens directory relpath ("" = root) of branch b as O_PATH, never through a
 * symlink. Returns an fd or -errno. */
int lfs_open_dir(int b, const char *relpath);
/* The st_ino shown for an object of branch b with stat st. */
uint64_t lfs_ino_for(int b, const struct stat *st);
/* Remembers that the rw object upper (now) stands for ino (after copy-up). */
int lfs_ino_remember(const struct stat *upper, uint64_t ino);
/* The rw object upper is gone: its number may be reused by a new object. */
void lfs_ino_forget(const struct stat *upper);
void lfs_ino_map_free(void);
static inline bool lfs_branch_is_rw(int b) { return b == 0 && lfs->has_rw; }

/* ---- node.c: the node table ---- */
struct node *lfs_node(fuse_ino_t id);
static inline fuse_ino_t lfs_node_id(struct node *n)
{
	return n == lfs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}
struct node *lfs_node_new_root(void);
/* Looks up or creates the node for a resolved object, adds (parent, name) to
 * its names and takes one kernel reference. Caller holds tree_lock. */
struct node *lfs_node_get(struct node *parent, const char *name, uint64_t ino,
			  mode_t type, int branch, const uint16_t *dirbr,
			  unsigned ndirbr);
void lfs_node_forget(struct node *n, uint64_t count);
struct node *lfs_node_find_locked(uint64_t ino);
/* After a directory moved: it and every directory below it now live only
 * in the rw branch (the moved tree is opaque). Caller holds tree_lock. */
void lfs_node_trim_subtree(struct node *dir);
/* Gives n the name (parent, name) back (after a failed removal). */
int lfs_node_add_name_locked(struct node *n, struct node *parent, const char *name);
/* Drops name (parent, name) from whichever node carries it. Caller holds
 * tree_lock. */
void lfs_node_unname(struct node *n, struct node *parent, const char *name);
/* Moves name (oldparent, oldname) of n to (newparent, newname). */
int lfs_node_rename(struct node *n, struct node *oldparent, const char *oldname,
		    struct node *newparent, const char *newname);
/* Relative path of n in its branches ("" for the root). Caller holds tree_lock. */
int lfs_node_path_locked(struct node *n, char *buf, size_t size);
int lfs_node_path(struct node *n, char *buf, size_t size);
int lfs_child_path(struct node *dir, const char *name, char *buf, size_t size);
/* After copy-up or creation in the rw branch. */
void lfs_node_set_upper(struct node *n);
bool lfs_node_dir_in_rw(struct node *n);
/* Sets the contributing branches of directory node n (its directory cache
 * follows). Caller holds tree_lock. */
int lfs_node_set_dirbr_locked(struct node *n, const uint16_t *dirbr, unsigned ndirbr);
/* Copies dirbr of a directory node (under tree_lock). */
unsigned lfs_node_dirbr(struct node *n, uint16_t *out);
void lfs_node_free_all(void);
/* Every live node (malloc'ed array; caller holds tree_lock). */
size_t lfs_node_list_locked(struct node ***out);
unsigned lfs_node_depth_locked(struct node *n);

/* A located object: the directory holding it (opened beneath a branch) and
 * its name there ("." for a branch root). */
struct objref {
	int dfd;
	bool own_dfd;
	int branch;
	char name[NAME_MAX + 1];
};
/* Locates the object of node n in its topmost branch (or the index). */
int lfs_obj_locate(struct node *n, struct objref *o);
/* Locates the directory node dir in branch b (name "." of a dir fd). */
int lfs_obj_locate_dir(struct node *dir, int b, struct objref *o);
void lfs_obj_release(struct objref *o);
/* "/proc/self/fd/DFD/NAME" for the *xattr calls that have no *at form. */
void lfs_obj_procpath(const struct objref *o, char *buf, size_t size);

/* On an inode of the hardlink index: "KEY NLINK" (its index name and the
 * link count of the lower original), so any upper name can find both. */
#define LFS_XATTR_PLINK_ROOT "trusted.layerfs.plink"
#define LFS_XATTR_PLINK_USER "user.layerfs.plink"
static inline const char *lfs_xattr_plink(void)
{
	return lfs->workfd >= 0 && geteuid() == 0 ? LFS_XATTR_PLINK_ROOT : LFS_XATTR_PLINK_USER;
}

/* ---- lookup.c: resolving a name in a merged directory ---- */
struct resolved {
	struct stat st;       /* of the topmost object */
	int branch;           /* topmost branch */
	uint16_t dirbr[LFS_MAX_BRANCHES];
	unsigned ndirbr;
};
/* Resolves name in directory node dir using branches >= min_branch. */
int lfs_resolve(struct node *dir, const char *name, int min_branch,
		struct resolved *r);
/* True when a branch below the rw branch would show name in dir. */
bool lfs_lower_has(struct node *dir, const char *name);
void lfs_plink_key(const struct stat *lower, char *buf, size_t size);
/* Fills a FUSE entry for the resolved object and takes a node reference. */
int lfs_make_entry(struct node *dir, const char *name, const struct resolved *r,
		   struct fuse_entry_param *e);
/* Looks name up again after a change and fills the entry. */
int lfs_lookup_entry(struct node *dir, const char *name, struct fuse_entry_param *e);
/* Attributes shown for node n (stat of its object, ino/nlink adjusted). */
int lfs_node_stat(struct node *n, struct stat *st);
void lfs_fix_stat(struct node *n, struct stat *st);

/* ---- dircache.c: the lower-branch directory cache ----
 * Per directory node, what each lower (not rw) branch in its dirbr holds:
 * names with their d_type and d_ino and whiteout targets, read once
 * with getdents64, so lfs_resolve answers absent and whited-out names from
 * memory. Lower branches are taken as unchanging; off when timeout=0. */
struct dircache;
enum lfs_dc_answer {
	LFS_DC_UNKNOWN,      /* not cached: ask the branch */
	LFS_DC_ABSENT,
	LFS_DC_WHITEOUT,     /* hidden from the branches below */
	LFS_DC_PRESENT,
};
/* The cache of directory node dir, built on first use; referenced (release
 * with lfs_dircache_put). NULL when off or dir has no lower branch. */
struct dircache *lfs_dircache_get(struct node *dir);
void lfs_dircache_put(struct dircache *dc);
/* What branch b says about name; *dtype is set for LFS_DC_PRESENT. hint
 * speeds up top-down walks (start it at 0). */
enum lfs_dc_answer lfs_dircache_query(const struct dircache *dc, int b, const char *name,
				      unsigned *hint, unsigned char *dtype);
/* n's cache if it has one already (referenced), else NULL. */
struct dircache *lfs_dircache_peek(struct node *dir);
/* Calls fn for branch b's entries in getdents order: names present (with
 * d_type and d_ino) and whiteout targets (whiteout true). A non-zero return
 * of fn stops the walk and is returned; -ENODATA when the cache cannot list
 * b (not read, or names without d_type). */
typedef int (*lfs_dc_visit)(void *arg, const char *name, unsigned char dtype, uint64_t ino,
			    bool whiteout);
int lfs_dircache_foreach(const struct dircache *dc, int b, lfs_dc_visit fn, void *arg);
/* Forget n's cache (its path or branches changed, or it goes). Caller holds
 * tree_lock (or runs alone at teardown). */
void lfs_dircache_drop_locked(struct node *n);
/* After n->dirbr changed: drops the cache unless its lower branches are the
 * same (gaining the rw branch changes nothing cached). tree_lock held. */
void lfs_dircache_dirbr_changed_locked(struct node *n);
/* Branch indices moved or branch flags changed: every cache goes. */
void lfs_dircache_drop_all_locked(void);

/* ---- dirmerge.c: merged listings ---- */
struct dentry_rec {
	char *name;
	uint64_t ino;
	unsigned char type;   /* DT_* */
};
struct dirlist {
	struct dentry_rec *v;
	size_t n, cap;
};
/* Builds the merged listing of directory node dir ("." and ".." excluded).
 * With stop_at_first, stops after one entry (emptiness checks). */
int lfs_dir_merge(struct node *dir, struct dirlist *out, bool stop_at_first);
void lfs_dirlist_free(struct dirlist *l);

/* ---- whiteout_ops.c: whiteouts, opaque markers, the work directory ---- */
int lfs_work_orph(void);     /* fd of the work directory, created on demand */
int lfs_work_plink(void);    /* fd of the hardlink index, created on demand */
int lfs_work_plink_if_exists(void);
void lfs_tmpname(char *buf, size_t size, const char *tag);
int lfs_whiteout_make(int dfd, const char *name);
int lfs_whiteout_remove(int dfd, const char *name);
bool lfs_whiteout_exists(int dfd, const char *name);
int lfs_opaque_make(int dfd, const char *dirname);
int lfs_drop_whiteouts_below(int dfd, const char *dirname);
/* Removes an rw-branch directory tree by first moving it into the work
 * directory (so the name disappears atomically). */
int lfs_remove_dir_atomic(int dfd, const char *name);
int lfs_remove_tree_at(int dfd, const char *name);
int lfs_clean_orph(void);
/* recover.c: a mount's first change marks the work directory dirty, a clean
 * unmount clears it; a mount that finds it marked drops crash debris. */
void lfs_mark_dirty(void);
void lfs_mark_clean(void);
int lfs_recover(void);

/* ---- copyup.c ---- */
/* Makes sure node n exists in the rw branch. With data false, a regular file
 * is created empty (the caller truncates it anyway). */
int lfs_copyup(struct node *n, bool data);
/* Makes sure the entry name of dir (naming node n) exists in the rw branch:
 * linked from the hardlink index when n's data lives there. */
int lfs_copyup_at(struct node *dir, const char *name, struct node *n);
/* Copies up a whole directory tree (for rename of a merged directory). */
int lfs_copyup_tree(struct node *dir);
/* Makes sure directory node dir exists in the rw branch; opens it. */
int lfs_upper_dir(struct node *dir, struct objref *o);

/* ---- creds ---- */
/* Gives a new rw object the caller's uid and the gid the parent decides. */
int lfs_set_owner(fuse_req_t req, int dfd, const char *name, int parent_dfd);

/* ---- branchops.c: live branch changes (caller holds branch_lock as writer)
 * and what the kernel must then forget (sent with no lock held). ---- */
struct lfs_inval {
	fuse_ino_t *inodes;
	size_t ninodes;
	struct { fuse_ino_t parent; char *name; } *entries;
	size_t nentries, capentries;
};
int lfs_branch_add(int index, const char *path, enum lfs_perm perm, bool wh,
		   struct lfs_inval *iv, char *err, size_t errsz);
int lfs_branch_del(int index, struct lfs_inval *iv, char *err, size_t errsz);
int lfs_branch_mod(int index, enum lfs_perm perm, bool wh, struct lfs_inval *iv,
		   char *err, size_t errsz);
void lfs_inval_send(struct lfs_inval *iv);

/* ---- control.c: runtime directory and control socket ---- */
void lfs_make_si(void);
int lfs_control_start(void);
void lfs_control_stop(void);

/* ---- loop.c ---- */
int lfs_session_loop(struct fuse_session *se, unsigned nthreads);

/* ---- operation tables ---- */
void lfs_ops_entry(struct fuse_lowlevel_ops *ops);
void lfs_ops_rename(struct fuse_lowlevel_ops *ops);
void lfs_ops_attr(struct fuse_lowlevel_ops *ops);
void lfs_ops_file(struct fuse_lowlevel_ops *ops);
void lfs_ops_dir(struct fuse_lowlevel_ops *ops);
void lfs_dir_handles_free_all(void);
void lfs_ops_xattr(struct fuse_lowlevel_ops *ops);

/* Rejects names that may not be created through the mount. */
int lfs_check_new_name(const char *name);
/* ENOTEMPTY unless the merged directory name (resolved as r) is empty. */
int lfs_dir_check_empty(struct node *dir, const char *name, const struct resolved *r);
/* Moves new object tmp from the work dir orph to name in rw dir pd, owned by
 * the caller (see ops_entry.c). */
int lfs_publish_new(fuse_req_t req, int orph, const char *tmp, struct objref *pd,
		    const char *name);
/* Taking a name out of the node table (and its inode number out of the
 * copy-up map) before the entry goes from the rw branch; put back when the
 * removal fails. st is the rw entry's stat when in_rw. */
struct lfs_detached {
	struct node *n;
	struct stat st;
	bool unmapped;
};
void lfs_detach(struct lfs_detached *d, struct node *dir, const char *name, struct node *n,
		const struct stat *st, bool in_rw);
void lfs_reattach(struct lfs_detached *d, struct node *dir, const char *name);
/* Creates a non-directory (or, with link_target, a symlink) in dir. */
int lfs_create_object(fuse_req_t req, struct node *dir, const char *name, mode_t mode,
		      dev_t rdev, const char *link_target);

#define lfs_log(fmt, ...) fuse_log(FUSE_LOG_ERR, "layerfs: " fmt "\n", ##__VA_ARGS__)
#define lfs_dbg(fmt, ...) do { if (lfs->debug) \
	fuse_log(FUSE_LOG_DEBUG, "layerfs: " fmt "\n", ##__VA_ARGS__); } while (0)

#endif
