/* The node table: see node.h. */
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "dircache.h"
#include "ino.h"
#include "passthrough.h"
#include "sharedfd.h"

/* A stat walk keeps one node per file: 184 bytes a node (it was 224, with
 * holes, then 200 with a list of every node beside the table's chains;
 * malloc rounds to 192), a million files 48 MB less. */
_Static_assert(sizeof(struct node) <= 184, "struct node grew: mind its holes");

/* Every live node is in one bucket chain, by inode number; only those with
 * findable set are found by it (a nameless node stays in its chain until the
 * kernel forgets it, so teardown and the branch operations still see it).
 * The table grows with the nodes: a fixed 64k buckets were 512 KiB resident
 * from the first few hundred lookups, and chains of 16 at a million files. */
#define NODE_MIN_BUCKETS 1024
#define NODE_MAX_LOAD 2
struct lfs_nodes {
	struct node **hash;
	size_t nbuckets;     /* a power of two */
	size_t count;        /* nodes in the chains */
};

int lfs_nodes_init(void)
{
	struct lfs_nodes *t = calloc(1, sizeof(*t));
	if (!t || !(t->hash = calloc(NODE_MIN_BUCKETS, sizeof(*t->hash)))) {
		free(t);
		return -ENOMEM;
	}
	t->nbuckets = NODE_MIN_BUCKETS;
	lfs->nodes = t;
	return 0;
}

static size_t node_bucket_of(uint64_t ino, size_t nbuckets)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 32) & (nbuckets - 1);
}

static struct node **node_chain(uint64_t ino)
{
	return &lfs->nodes->hash[node_bucket_of(ino, lfs->nodes->nbuckets)];
}

/* Doubles the buckets; without memory for it, chains just get longer. */
static void node_table_grow(void)
{
	struct lfs_nodes *t = lfs->nodes;
	size_t nb = t->nbuckets * 2;
	struct node **h = calloc(nb, sizeof(*h));
	if (!h)
		return;
	for (size_t b = 0; b < t->nbuckets; b++) {
		while (t->hash[b]) {
			struct node *n = t->hash[b];
			t->hash[b] = n->hnext;
			size_t to = node_bucket_of(n->ino, nb);
			n->hnext = h[to];
			h[to] = n;
		}
	}
	free(t->hash);
	t->hash = h;
	t->nbuckets = nb;
}

static void node_chain_add(struct node *n)
{
	if (lfs->nodes->count >= lfs->nodes->nbuckets * NODE_MAX_LOAD)
		node_table_grow();
	struct node **chain = node_chain(n->ino);
	n->hnext = *chain;
	*chain = n;
	lfs->nodes->count++;
}

static void node_chain_del(struct node *n)
{
	for (struct node **p = node_chain(n->ino); *p; p = &(*p)->hnext) {
		if (*p == n) {
			*p = n->hnext;
			lfs->nodes->count--;
			return;
		}
	}
}

struct node *lfs_node_find_locked(uint64_t ino)
{
	for (struct node *n = *node_chain(ino); n; n = n->hnext)
		if (n->ino == ino && n->findable)
			return n;
	return NULL;
}

int lfs_node_set_dirbr_locked(struct node *n, const uint16_t *dirbr, unsigned ndirbr)
{
	if (ndirbr == n->ndirbr && ndirbr &&
	    memcmp(n->dirbr, dirbr, ndirbr * sizeof(*dirbr)) == 0)
		return 0;
	uint16_t *v = NULL;
	if (ndirbr) {
		v = malloc(ndirbr * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, dirbr, ndirbr * sizeof(*v));
	}
	free(n->dirbr);
	n->dirbr = v;
	n->ndirbr = ndirbr;
	lfs_dircache_dirbr_changed_locked(n);
	return 0;
}

static struct node *node_alloc(uint64_t ino, mode_t type)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = ino;
	n->type = type;
	n->gone_fd = -1;
	n->data_branch = -1;
	pthread_mutex_init(&n->lock, NULL);
	node_chain_add(n);
	return n;
}

static void node_release_memory(struct node *n)
{
	node_chain_del(n);
	while (n->names) {
		struct lname *l = n->names;
		n->names = l->next;
		free(l);
	}
	lfs_dircache_node_gone_locked(n);
	lfs_pt_node_gone(n);
	lfs_node_drop_rwfd_locked(n);
	free(n->dirbr);
	free(n->plink);
	free(n->lower_path);
	free(n->last_st);
	if (n->gone_fd >= 0)
		close(n->gone_fd);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

struct node *lfs_node_new_root(void)
{
	struct stat st;
	if (fstat(lfs->br[0].fd, &st) < 0)
		return NULL;
	struct node *n = node_alloc(lfs_ino_for(&st), S_IFDIR);
	if (!n)
		return NULL;
	uint16_t *all = malloc(lfs->nbr * sizeof(*all));
	if (!all) {
		node_release_memory(n);
		return NULL;
	}
	for (int i = 0; i < lfs->nbr; i++)
		all[i] = (uint16_t)i;
	n->dirbr = all;
	n->ndirbr = (unsigned)lfs->nbr;
	n->branch = 0;
	n->nlookup = 1;
	return n;
}

/* Where n's name (parent, name) is linked in its list, or NULL. */
static struct lname **node_find_name(struct node *n, struct node *parent, const char *name)
{
	for (struct lname **p = &n->names; *p; p = &(*p)->next)
		if ((*p)->parent == parent && strcmp((*p)->name, name) == 0)
			return p;
	return NULL;
}

static struct lname *lname_new(struct node *parent, const char *name)
{
	size_t size = strlen(name) + 1;
	struct lname *l = malloc(sizeof(*l) + size);
	if (!l)
		return NULL;
	l->parent = parent;
	l->next = NULL;
	memcpy(l->name, name, size);
	return l;
}

static int node_add_name(struct node *n, struct node *parent, const char *name)
{
	if (node_find_name(n, parent, name))
		return 0;
	struct lname *l = lname_new(parent, name);
	if (!l)
		return -ENOMEM;
	parent->pins++;
	/* A directory has exactly one name: a new one replaces the old (and
	 * its cache, read at the old path). */
	if (S_ISDIR(n->type)) {
		if (n->names)
			lfs_dircache_drop_locked(n);
		while (n->names) {
			struct lname *old = n->names;
			n->names = old->next;
			old->parent->pins--;
			free(old);
		}
	}
	l->next = n->names;
	n->names = l;
	return 0;
}

static void node_free(struct node *n);

static bool node_unused(const struct node *n)
{
	return n != lfs->root && n->nlookup == 0 && n->pins == 0;
}

static void node_maybe_free(struct node *n)
{
	if (node_unused(n))
		node_free(n);
}

/* Frees n, then every parent its names leave unused, and so on up. A
 * worklist, not recursion: a tree may be thousands of levels deep, and a
 * parent reached twice (a hardlink's names in a directory and in one of
 * its subdirectories) is freed once, when its last pin goes. */
static void node_free(struct node *n)
{
	struct node *first[16], **todo = first;
	size_t ntodo = 0, cap = sizeof(first) / sizeof(first[0]);
	todo[ntodo++] = n;
	while (ntodo) {
		struct node *x = todo[--ntodo];
		for (struct lname *l = x->names; l; l = l->next) {
			struct node *p = l->parent;
			if (--p->pins || !node_unused(p))
				continue;
			if (ntodo == cap) {
				struct node **grown = malloc(2 * cap * sizeof(*grown));
				if (!grown)
					continue;   /* out of memory: p stays until unmount */
				memcpy(grown, todo, ntodo * sizeof(*grown));
				if (todo != first)
					free(todo);
				todo = grown;
				cap *= 2;
			}
			todo[ntodo++] = p;
		}
		node_release_memory(x);
	}
	if (todo != first)
		free(todo);
}

struct node *lfs_node_get(struct node *parent, const char *name, uint64_t ino,
			  mode_t type, int branch, const uint16_t *dirbr,
			  unsigned ndirbr)
{
	struct node *n = lfs_node_find_locked(ino);
	if (n && n->type != type) {
		/* The number now belongs to another object: retire the old node. */
		n->findable = false;
		n = NULL;
	}
	/* A directory has one name. Found under another one, the node belongs
	 * to an object that is gone (its number reused): answering with it
	 * would make the kernel move that directory's dentry here. */
	if (n && S_ISDIR(type) && n->names &&
	    (n->names->parent != parent || strcmp(n->names->name, name) != 0)) {
		lfs_log("directory number %llu met again as '%s' (was '%s'): new node",
			(unsigned long long)ino, name, n->names->name);
		n->findable = false;
		n = NULL;
	}
	bool fresh = !n;
	if (fresh) {
		n = node_alloc(ino, type);
		if (!n)
			return NULL;
	}
	if (node_add_name(n, parent, name) < 0 ||
	    lfs_node_set_dirbr_locked(n, dirbr, S_ISDIR(type) ? ndirbr : 0) < 0) {
		if (fresh)
			node_free(n);
		return NULL;
	}
	n->branch = branch;
	if (fresh)
		n->findable = true;
	n->nlookup++;
	return n;
}

static bool node_below(struct node *n, struct node *dir)
{
	for (struct node *p = n; p && p != lfs->root; p = p->names ? p->names->parent : NULL)
		if (p == dir)
			return true;
	return false;
}

/* Runs fn on every directory node with a name at or below dir. */
static void for_dirs_below(struct node *dir, void (*fn)(struct node *))
{
	for (size_t b = 0; b < lfs->nodes->nbuckets; b++)
		for (struct node *n = lfs->nodes->hash[b]; n; n = n->hnext)
			if (n->findable && S_ISDIR(n->type) && node_below(n, dir))
				fn(n);
}

/* A directory of a moved tree: its path changed (its cache goes) and it
 * lives in the rw branch alone. */
static void trim_moved_dir(struct node *n)
{
	lfs_dircache_drop_locked(n);
	if (n->ndirbr && n->dirbr[0] == 0)
		n->ndirbr = 1;
}

void lfs_node_trim_subtree(struct node *dir)
{
	for_dirs_below(dir, trim_moved_dir);
}

void lfs_node_set_redirect_locked(struct node *n, const char *lower_path)
{
	if ((!n->lower_path && !lower_path) ||
	    (n->lower_path && lower_path && strcmp(n->lower_path, lower_path) == 0))
		return;
	char *dup = lower_path ? strdup(lower_path) : NULL;
	if (lower_path && !dup)
		return;      /* keeps the old one: the next lookup tries again */
	bool moved = n->lower_path != NULL;
	free(n->lower_path);
	n->lower_path = dup;
	/* A first redirect (set by a rename, with n's path of before) leaves
	 * every lower path the same; a changed one moves those of the whole
	 * subtree, and their caches go. */
	lfs_dircache_drop_locked(n);
	if (moved)
		for_dirs_below(n, lfs_dircache_drop_locked);
}

void lfs_node_forget(struct node *n, uint64_t count)
{
	lfs_tree_lock();
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	/* Unknown to the kernel: no lookups will come in it for a while. */
	if (n->nlookup == 0) {
		lfs_dircache_drop_locked(n);
		lfs_node_drop_rwfd_locked(n);
	}
	node_maybe_free(n);
	lfs_tree_unlock();
}

int lfs_node_add_name_locked(struct node *n, struct node *parent, const char *name)
{
	int ret = node_add_name(n, parent, name);
	if (ret == 0)
		lfs_node_keep_gone_fd_locked(n, -1);
	if (ret == 0 && !n->findable && !lfs_node_find_locked(n->ino))
		n->findable = true;
	return ret;
}

void lfs_node_unname(struct node *n, struct node *parent, const char *name)
{
	struct lname **p = node_find_name(n, parent, name);
	if (p) {
		struct lname *l = *p;
		*p = l->next;
		free(l);
		parent->pins--;
	}
	/* A node without names is gone from the tree: its number may be reused
	 * by an object created later, which must get a node of its own. */
	if (!n->names) {
		n->findable = false;
		lfs_dircache_drop_locked(n);
		lfs_node_drop_rwfd_locked(n);
	}
}

void lfs_node_drop_rwfd_locked(struct node *n)
{
	if (!n->rwfd)
		return;
	lfs_sharedfd_put(n->rwfd);
	n->rwfd = NULL;
	__atomic_sub_fetch(&lfs->rwfds, 1, __ATOMIC_RELAXED);
}

int lfs_node_rename(struct node *n, struct node *oldparent, const char *oldname,
		    struct node *newparent, const char *newname)
{
	if (S_ISDIR(n->type))
		lfs_dircache_drop_locked(n);   /* read at the old path */
	struct lname **p = node_find_name(n, oldparent, oldname);
	if (!p)
		return node_add_name(n, newparent, newname);
	struct lname *old = *p, *l = lname_new(newparent, newname);
	if (!l)
		return -ENOMEM;
	l->next = old->next;
	*p = l;
	newparent->pins++;
	old->parent->pins--;
	free(old);
	return 0;
}

void lfs_node_keep_last_stat_locked(struct node *n, const struct stat *st)
{
	if (!n->last_st)
		n->last_st = malloc(sizeof(*n->last_st));
	if (n->last_st)
		*n->last_st = *st;
}

void lfs_node_keep_gone_fd_locked(struct node *n, int fd)
{
	if (n->gone_fd >= 0)
		close(n->gone_fd);
	n->gone_fd = fd;
}

bool lfs_node_last_stat(struct node *n, struct stat *st)
{
	lfs_tree_lock();
	bool kept = n->last_st && !n->names;
	if (kept)
		*st = *n->last_st;
	lfs_tree_unlock();
	return kept;
}

void lfs_node_set_metacopy_locked(struct node *n, bool metacopy, int data_branch,
				  blkcnt_t blocks)
{
	n->metacopy = metacopy;
	n->data_branch = data_branch;
	n->data_blocks = blocks;
	n->metacopy_known = true;
}

bool lfs_node_known_bare(struct node *n)
{
	lfs_tree_lock();
	bool bare = n->no_xattrs;
	lfs_tree_unlock();
	return bare;
}

bool lfs_node_is_metacopy(struct node *n)
{
	lfs_tree_lock();
	bool mc = n->metacopy;
	lfs_tree_unlock();
	return mc;
}

void lfs_node_set_upper(struct node *n)
{
	lfs_tree_lock();
	n->branch = 0;
	n->no_xattrs = false;
	__atomic_add_fetch(&n->gen, 1, __ATOMIC_RELEASE);
	if (S_ISDIR(n->type) && (n->ndirbr == 0 || n->dirbr[0] != 0) &&
	    n->ndirbr < LFS_MAX_BRANCHES) {
		uint16_t v[LFS_MAX_BRANCHES];
		v[0] = 0;
		if (n->ndirbr)
			memcpy(v + 1, n->dirbr, n->ndirbr * sizeof(*v));
		lfs_node_set_dirbr_locked(n, v, n->ndirbr + 1);
	}
	lfs_tree_unlock();
}

bool lfs_node_is_upper(struct node *n)
{
	lfs_tree_lock();
	bool up = S_ISDIR(n->type) ? (n->ndirbr && n->dirbr[0] == 0) : n->branch == 0;
	lfs_tree_unlock();
	return up;
}

bool lfs_node_dir_in_rw(struct node *n)
{
	lfs_tree_lock();
	bool up = lfs->has_rw && n->ndirbr && n->dirbr[0] == 0;
	lfs_tree_unlock();
	return up;
}

struct node *lfs_node_parent(struct node *n)
{
	lfs_tree_lock();
	struct node *p = n->names ? n->names->parent : NULL;
	lfs_tree_unlock();
	return p;
}

unsigned lfs_node_dirbr(struct node *n, uint16_t *out)
{
	lfs_tree_lock();
	unsigned cnt = n->ndirbr;
	memcpy(out, n->dirbr, cnt * sizeof(*out));
	lfs_tree_unlock();
	return cnt;
}

size_t lfs_node_list_locked(struct node ***out)
{
	struct lfs_nodes *t = lfs->nodes;
	struct node **v = malloc((t->count ? t->count : 1) * sizeof(*v));
	size_t n = 0;
	for (size_t b = 0; v && b < t->nbuckets; b++)
		for (struct node *p = t->hash[b]; p; p = p->hnext)
			v[n++] = p;
	*out = v;
	return n;
}

void lfs_node_free_all(void)
{
	/* At unmount the kernel forgets nothing more: free every node. */
	if (!lfs->nodes)
		return;
	for (size_t b = 0; b < lfs->nodes->nbuckets; b++)
		while (lfs->nodes->hash[b])
			node_release_memory(lfs->nodes->hash[b]);
	free(lfs->nodes->hash);
	free(lfs->nodes);
	lfs->nodes = NULL;
	lfs->root = NULL;
}
