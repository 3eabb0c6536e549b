/* The node table: one node per merged object the kernel knows, found by the
 * inode number shown to users (so every hardlink name is the same node),
 * each with the names (parent, entry) it is known by. */
#ifndef LAYERFS_NODE_H
#define LAYERFS_NODE_H

#include "lfs.h"

/* One name of a node: (parent directory node, entry name). One allocation
 * holds both (a million nodes: 16-32 MB less than a separate strdup). */
struct lname {
	struct node *parent;
	struct lname *next;
	char name[];
};

/* Fields are under lfs->tree_lock unless said otherwise. Ordered (and the
 * small ones narrow) so that the struct has no holes: a stat walk of a
 * million files keeps a million nodes. */
struct node {
	uint64_t ino;        /* st_ino shown to users; stable for the mount */
	uint64_t nlookup;    /* references the kernel holds */
	uint32_t pins;       /* names of children that point at this node */
	unsigned gen;        /* bumped (atomically) when the object moves up */
	uint16_t type;       /* S_IFMT bits */
	int16_t branch;      /* topmost branch holding the object */
	uint16_t ndirbr;     /* entries of dirbr */
	int16_t data_branch; /* see metacopy */
	int gone_fd;         /* an object the kernel opens without us (directory,
			      * fifo, socket, device) whose last name went: an
			      * O_PATH fd of it (or of its orphan copy), else -1 */
	bool findable;       /* found by its number (node.c keeps every node in a
			      * chain of its table, findable or not) */
	bool no_xattrs;      /* known to carry no xattrs (ls -l asks for every file) */
	bool metacopy;       /* a metadata-only copy in the rw branch: its data is
			      * the file of the same name in data_branch
			      * (layerfs/metacopy.h), or nowhere (-1: EIO) */
	bool metacopy_known; /* metacopy and data_branch were set (by a lookup or
			      * a copy-up): later lookups leave them alone */
	uint16_t *dirbr;     /* directories: branches that contribute, top-down */
	nlink_t lower_nlink; /* link count the lower object had (hardlink index) */
	nlink_t lower_gone;  /* its names no longer only lower (plink.h) */
	char *plink;         /* data lives in the hardlink index under this name */
	char *lower_path;    /* a directory redirected in the rw branch: where its
			      * lower parts are (from the root), else NULL */
	struct lfs_sharedfd *rwfd; /* a directory's copy in the rw branch, kept
			      * open (O_PATH: it follows renames), or NULL
			      * (objref.c; sharedfd.h) */
	struct lname *names; /* NULL only for the root */
	blkcnt_t data_blocks; /* a metadata-only copy: its lower data's st_blocks
			      * (the lower file never changes) */
	struct stat *last_st; /* a removed object: what fstat of an open one shows */
	pthread_mutex_t lock; /* serialises copy-up of this node (lock order 3) */
	struct node *hnext;  /* its chain in the node table */
	/* What other modules keep per node; their types are theirs alone. */
	struct fhandle *handles;       /* handle.c: the open files */
	struct lfs_pt_node *pt;        /* passthrough.c: how they are served */
	struct lfs_dc_slot *dc;        /* dircache.c: the lower branches' names */
};

static inline struct node *lfs_node(fuse_ino_t id)
{
	return id == FUSE_ROOT_ID ? lfs->root : (struct node *)(uintptr_t)id;
}

static inline fuse_ino_t lfs_node_id(struct node *n)
{
	return n == lfs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

int lfs_nodes_init(void);
struct node *lfs_node_new_root(void);
/* At unmount: every node goes (their handles are gone already). */
void lfs_node_free_all(void);

/* Looks up or creates the node for a resolved object, adds (parent, name)
 * to its names and takes one kernel reference. Caller holds tree_lock. */
struct node *lfs_node_get(struct node *parent, const char *name, uint64_t ino,
			  mode_t type, int branch, const uint16_t *dirbr, unsigned ndirbr);
void lfs_node_forget(struct node *n, uint64_t count);
struct node *lfs_node_find_locked(uint64_t ino);

/* After a directory moved: it and every directory below it now live only
 * in the rw branch (the moved tree is opaque). Caller holds tree_lock. */
void lfs_node_trim_subtree(struct node *dir);
/* Gives n the name (parent, name) back (after a failed removal). */
int lfs_node_add_name_locked(struct node *n, struct node *parent, const char *name);
/* Drops the name (parent, name) of n. Caller holds tree_lock. */
void lfs_node_unname(struct node *n, struct node *parent, const char *name);
/* Moves name (oldparent, oldname) of n to (newparent, newname). tree_lock. */
int lfs_node_rename(struct node *n, struct node *oldparent, const char *oldname,
		    struct node *newparent, const char *newname);

/* n lost its last name while the kernel may hold it open: its last
 * attributes (shown) answer from now on. tree_lock held. */
void lfs_node_keep_last_stat_locked(struct node *n, const struct stat *st);
/* Those attributes, if any. */
bool lfs_node_last_stat(struct node *n, struct stat *st);
/* Gives nameless n the O_PATH fd of its object (taken; closed when n has a
 * name again or goes), replacing an older one. tree_lock held. */
void lfs_node_keep_gone_fd_locked(struct node *n, int fd);

/* Node n is a metadata-only copy whose data is in branch data_branch
 * (-1: nowhere) with blocks blocks, or (data_branch -1, metacopy false)
 * no longer one. tree_lock held. */
void lfs_node_set_metacopy_locked(struct node *n, bool metacopy, int data_branch,
				  blkcnt_t blocks);
/* Whether n is known to carry no xattrs (its getxattr found none). */
bool lfs_node_known_bare(struct node *n);
bool lfs_node_is_metacopy(struct node *n);

/* After copy-up or creation in the rw branch. */
void lfs_node_set_upper(struct node *n);
bool lfs_node_is_upper(struct node *n);
bool lfs_node_dir_in_rw(struct node *n);
/* The first parent of n (NULL for the root and for an unlinked node). */
struct node *lfs_node_parent(struct node *n);
/* Sets the contributing branches of directory node n (its directory cache
 * follows). Caller holds tree_lock. */
int lfs_node_set_dirbr_locked(struct node *n, const uint16_t *dirbr, unsigned ndirbr);
/* Closes n's kept rw directory fd (tree_lock held). */
void lfs_node_drop_rwfd_locked(struct node *n);
/* Sets (or, with NULL, clears) where directory node n's lower parts are
 * when it is redirected; its subdirectories' caches follow. tree_lock. */
void lfs_node_set_redirect_locked(struct node *n, const char *lower_path);
/* Copies dirbr of a directory node (under tree_lock); its count. */
unsigned lfs_node_dirbr(struct node *n, uint16_t *out);
/* Every live node (malloc'ed array; caller holds tree_lock). */
size_t lfs_node_list_locked(struct node ***out);

#endif
