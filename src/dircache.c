/* The lower-branch directory cache: what each read-only branch holds in a
 * merged directory, read once with getdents64, so that lookups (and negative
 * lookups) need no openat2/fstatat walk through every lower branch.
 *
 * Lower branches are treated as unchanging while mounted (the kernel caches
 * their names for lfs->timeout anyway); with timeout=0 the cache is off. The
 * rw branch is never cached: it changes under us. A cache belongs to one
 * directory node (n->dc) and one state of it: it is dropped when the node's
 * path or lower branches change, when the kernel forgets the node, and all
 * at once when a branch is added, removed or modified (indices shift).
 *
 * Locking: a node's slot (n->dc), the LRU list and the byte count are
 * protected by tree_lock. A cache is read without the lock while the
 * reader holds a reference (refs); it is immutable once published. */
#include "dircache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "branch.h"
#include "layerfs/union.h"
#include "nodepath.h"

/* Past this many bytes in all caches, the least recently used go. The
 * 20-layer benchmark's 50k-file tree needs about 3 MiB. (Overridable at
 * build time so tests can run with constant eviction.) */
#ifndef LFS_DIRCACHE_MAX_BYTES
#define LFS_DIRCACHE_MAX_BYTES (6u << 20)
#endif
#define DC_MAX_BYTES LFS_DIRCACHE_MAX_BYTES
#define DC_GETDENTS_BUF 32768

/* A directory's cache is one pool of records, in getdents order branch by
 * branch, and one hash table over (branch, name): few allocations however
 * many branches (most branches hold a handful of a directory's names).
 * Record: set index (u16), flags (u8), d_type (u8), d_ino (u64), name. */
#define DC_PRESENT 1u
#define DC_WHITEOUT 2u
#define DC_HDR 12

/* One lower branch's copy of the directory: records [start, end). */
struct dc_set {
	uint16_t b;
	bool valid;          /* false: could not be read, ask the branch */
	bool untyped;        /* some name came without d_type */
	uint32_t start, end;
};

struct dircache {
	struct node *owner;                /* NULL once dropped from the node */
	struct dircache *prev, *next;      /* LRU list, most recent first */
	unsigned refs;
	size_t bytes;
	uint32_t mask;                     /* table size - 1 */
	uint32_t *tab;                     /* record offset + 1; 0 = empty slot */
	char *pool;
	size_t poolsz;
	uint32_t count;
	unsigned nsets;
	struct dc_set sets[];
};

/* What a node keeps (n->dc): its cache, and the state of a build. */
struct lfs_dc_slot {
	struct dircache *dc;
	unsigned gen;        /* bumped when dc is dropped: stale builds are discarded */
	bool building;       /* a thread is reading the branches for dc */
};

struct lfs_dircaches {
	struct dircache lru;     /* sentinel: most recently used first */
	size_t total_bytes;
	pthread_cond_t built;    /* a build finished (with tree_lock) */
};

#define LRU (&lfs->dircaches->lru)

int lfs_dircaches_init(void)
{
	struct lfs_dircaches *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->lru.prev = d->lru.next = &d->lru;
	pthread_cond_init(&d->built, NULL);
	lfs->dircaches = d;
	return 0;
}

void lfs_dircaches_free(void)
{
	if (!lfs->dircaches)
		return;
	pthread_cond_destroy(&lfs->dircaches->built);
	free(lfs->dircaches);
	lfs->dircaches = NULL;
}

static bool dircache_enabled(void)
{
	return lfs->timeout > 0;
}

static uint32_t key_hash(unsigned set, const char *s)
{
	uint32_t h = 2166136261u ^ (set * 0x9E3779B1u);
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h ^ (h >> 15);
}

static unsigned rec_set(const char *rec)
{
	uint16_t v;
	memcpy(&v, rec, sizeof(v));
	return v;
}

static const char *rec_name(const char *rec)
{
	return rec + DC_HDR;
}

/* ---- building ---- */

struct pool_buf {
	char *p;
	size_t len, cap;
	uint32_t count;
};

static int pool_add(struct pool_buf *pb, unsigned set, unsigned flags, unsigned char dtype,
		    uint64_t ino, const char *name)
{
	size_t nl = strlen(name) + 1;
	if (pb->len + DC_HDR + nl > pb->cap) {
		size_t cap = pb->cap ? pb->cap * 2 : 4096;
		while (cap < pb->len + DC_HDR + nl)
			cap *= 2;
		if (cap > UINT32_MAX - 1)
			return -EOVERFLOW;
		char *p = realloc(pb->p, cap);
		if (!p)
			return -ENOMEM;
		pb->p = p;
		pb->cap = cap;
	}
	char *rec = pb->p + pb->len;
	uint16_t s16 = (uint16_t)set;
	memcpy(rec, &s16, sizeof(s16));
	rec[2] = (char)flags;
	rec[3] = (char)dtype;
	memcpy(rec + 4, &ino, sizeof(ino));
	memcpy(rec + DC_HDR, name, nl);
	pb->len += DC_HDR + nl;
	pb->count++;
	return 0;
}

/* One getdents64 record: a name or a whiteout (as the union rule reads the
 * entry for this branch). Other markers are never looked up or listed
 * through the cache, so they are not kept; the opaque marker of a directory
 * matters to its parent's lookups, which check it with one fstatat (only
 * for names that are directories), so it is not kept either. */
struct long_ctx {
	struct pool_buf *pb;
	unsigned set;
};

static int take_long(void *arg, const char *target)
{
	struct long_ctx *c = arg;
	return pool_add(c->pb, c->set, DC_WHITEOUT, DT_UNKNOWN, 0, target);
}

static int take_entry(struct pool_buf *pb, unsigned set, struct dc_set *s, bool wh, int fd,
		      const char *name, unsigned char dtype, uint64_t ino)
{
	const char *target;
	switch (lfs_union_classify(name, wh, &target)) {
	case LFS_UNION_ENTRY_LONG_WHITEOUTS: {
		struct long_ctx c = { pb, set };
		int ret = lfs_union_list_foreach_long(fd, take_long, &c);
		return ret == -ENOMEM || ret == -EOVERFLOW ? ret : 0;
	}
	case LFS_UNION_ENTRY_NAME:
		s->untyped |= dtype == DT_UNKNOWN;
		return pool_add(pb, set, DC_PRESENT, dtype, ino, name);
	case LFS_UNION_ENTRY_WHITEOUT:
		return pool_add(pb, set, DC_WHITEOUT, DT_UNKNOWN, 0, target);
	default:
		return 0;
	}
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int read_entries(int fd, struct pool_buf *pb, unsigned set, struct dc_set *s,
			bool wh, char *buf)
{
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, DC_GETDENTS_BUF);
		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		for (long off = 0; off < got;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
			int ret = take_entry(pb, set, s, wh, fd, de->d_name, de->d_type, de->d_ino);
			if (ret)
				return ret;
			off += de->d_reclen;
		}
	}
}

/* Reads branch b's copy of directory path into set number set. A directory
 * missing from the branch reads as empty, as a failed open does for
 * probe_branch; a branch that cannot be read is left to live probes. */
static int set_build(struct dircache *dc, unsigned set, struct pool_buf *pb, int b,
		     const char *path, char *buf)
{
	struct dc_set *s = &dc->sets[set];
	s->b = (uint16_t)b;
	s->start = s->end = (uint32_t)pb->len;
	int pfd = lfs_open_dir(b, path);
	if (pfd < 0) {
		s->valid = pfd == -ENOENT || pfd == -ENOTDIR || pfd == -ELOOP;
		return 0;
	}
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return 0;
	size_t len0 = pb->len;
	uint32_t count0 = pb->count;
	int ret = read_entries(fd, pb, set, s, lfs->br[b].wh, buf);
	close(fd);
	if (ret) {
		pb->len = len0;          /* drop a partial read */
		pb->count = count0;
		s->untyped = false;
		return ret == -ENOMEM ? ret : 0;
	}
	s->end = (uint32_t)pb->len;
	s->valid = true;
	return 0;
}

/* The record of (set, name), or NULL. */
static const char *dc_find(const struct dircache *dc, unsigned set, const char *name)
{
	if (!dc->tab)
		return NULL;
	for (uint32_t j = key_hash(set, name) & dc->mask; dc->tab[j]; j = (j + 1) & dc->mask) {
		const char *rec = dc->pool + dc->tab[j] - 1;
		if (rec_set(rec) == set && strcmp(rec_name(rec), name) == 0)
			return rec;
	}
	return NULL;
}

/* Indexes the pool in one pass, the table at most 70 % full. A name both
 * present and whited out in one branch counts as present (as fstatat of
 * the name would find it). */
static int dc_index(struct dircache *dc)
{
	if (!dc->count)
		return 0;
	uint32_t size = 8;
	while ((uint64_t)size * 7 < (uint64_t)dc->count * 10)
		size *= 2;
	dc->tab = calloc(size, sizeof(*dc->tab));
	if (!dc->tab)
		return -ENOMEM;
	dc->mask = size - 1;
	for (size_t off = 0; off < dc->poolsz;) {
		const char *rec = dc->pool + off;
		const char *name = rec_name(rec);
		unsigned set = rec_set(rec);
		uint32_t j = key_hash(set, name) & dc->mask;
		for (; dc->tab[j]; j = (j + 1) & dc->mask) {
			const char *old = dc->pool + dc->tab[j] - 1;
			if (rec_set(old) == set && strcmp(rec_name(old), name) == 0)
				break;
		}
		if (!dc->tab[j] || (rec[2] & DC_PRESENT))
			dc->tab[j] = (uint32_t)off + 1;
		off += DC_HDR + strlen(name) + 1;
	}
	return 0;
}

static void dc_free(struct dircache *dc)
{
	free(dc->tab);
	free(dc->pool);
	free(dc);
}

/* Reads every lower branch in dirbr; NULL when there is none or on ENOMEM. */
static struct dircache *dc_build(const char *upper, const char *lower, const uint16_t *dirbr,
				 unsigned nd)
{
	unsigned nlower = 0;
	for (unsigned i = 0; i < nd; i++)
		nlower += !lfs_branch_is_rw(dirbr[i]);
	if (!nlower)
		return NULL;
	struct dircache *dc = calloc(1, sizeof(*dc) + nlower * sizeof(dc->sets[0]));
	char *buf = malloc(DC_GETDENTS_BUF);
	struct pool_buf pb = { 0 };
	int ret = dc && buf ? 0 : -ENOMEM;
	for (unsigned i = 0; i < nd && ret == 0; i++)
		if (!lfs_branch_is_rw(dirbr[i]))
			ret = set_build(dc, dc->nsets++, &pb, dirbr[i],
					lfs_path_in(dirbr[i], upper, lower), buf);
	free(buf);
	if (ret == 0 && pb.len) {
		char *p = realloc(pb.p, pb.len);   /* caches live long: no slack */
		pb.p = p ? p : pb.p;
	}
	if (dc) {
		dc->pool = pb.p;
		dc->poolsz = pb.len;
		dc->count = pb.count;
	} else {
		free(pb.p);
	}
	if (ret == 0)
		ret = dc_index(dc);
	if (ret) {
		if (dc)
			dc_free(dc);
		return NULL;
	}
	dc->refs = 1;
	dc->bytes = sizeof(*dc) + nlower * sizeof(dc->sets[0]) + dc->poolsz +
		    (dc->tab ? (size_t)(dc->mask + 1) * sizeof(*dc->tab) : 0);
	return dc;
}

/* ---- the LRU list and the byte budget (tree_lock held) ---- */

static void lru_unlink(struct dircache *dc)
{
	dc->prev->next = dc->next;
	dc->next->prev = dc->prev;
	dc->prev = dc->next = dc;
}

static void lru_push_front(struct dircache *dc)
{
	dc->next = LRU->next;
	dc->prev = LRU;
	LRU->next->prev = dc;
	LRU->next = dc;
}

void lfs_dircache_put(struct dircache *dc)
{
	if (dc && __atomic_sub_fetch(&dc->refs, 1, __ATOMIC_ACQ_REL) == 0)
		dc_free(dc);
}

/* Takes n's cache away from it; readers still holding it keep it alive. */
static void dc_detach_locked(struct node *n)
{
	struct dircache *dc = n->dc ? n->dc->dc : NULL;
	if (!dc)
		return;
	n->dc->dc = NULL;
	dc->owner = NULL;
	lru_unlink(dc);
	lfs->dircaches->total_bytes -= dc->bytes;
	lfs_dircache_put(dc);
}

void lfs_dircache_drop_locked(struct node *n)
{
	if (!n->dc)
		return;          /* never cached, no build running */
	n->dc->gen++;        /* a build in progress must not publish */
	dc_detach_locked(n);
}

void lfs_dircache_node_gone_locked(struct node *n)
{
	dc_detach_locked(n);
	free(n->dc);
	n->dc = NULL;
}

void lfs_dircache_drop_all_locked(void)
{
	while (LRU->next != LRU)
		lfs_dircache_drop_locked(LRU->next->owner);
}

void lfs_dircache_dirbr_changed_locked(struct node *n)
{
	struct dircache *dc = n->dc ? n->dc->dc : NULL;
	if (!dc)
		return;
	unsigned j = 0;
	bool same = true;
	for (unsigned i = 0; i < n->ndirbr && same; i++) {
		if (lfs_branch_is_rw(n->dirbr[i]))
			continue;
		same = j < dc->nsets && dc->sets[j].b == n->dirbr[i];
		j++;
	}
	if (!same || j != dc->nsets)
		lfs_dircache_drop_locked(n);
}

static void trim_to_budget(struct dircache *keep)
{
	while (lfs->dircaches->total_bytes > DC_MAX_BYTES && LRU->prev != LRU && LRU->prev != keep)
		dc_detach_locked(LRU->prev->owner);
}

/* ---- use ---- */

/* Snapshot under tree_lock of what a build needs. Returns false when the
 * node has no path (removed) or no lower branch. */
static bool snapshot_locked(struct node *dir, char **upper, char **lower, uint16_t *dirbr,
			    unsigned *nd)
{
	*nd = dir->ndirbr;
	memcpy(dirbr, dir->dirbr, *nd * sizeof(*dirbr));
	bool any = false;
	for (unsigned i = 0; i < *nd; i++)
		any |= !lfs_branch_is_rw(dirbr[i]);
	if (!any || lfs_node_path_locked(dir, upper))
		return false;
	if (lfs_node_path_in_locked(dir, 1, lower) == 0)
		return true;
	free(*upper);
	*upper = NULL;
	return false;
}

/* Publishes a new cache unless the node changed since the snapshot. */
static struct dircache *publish_locked(struct node *dir, struct dircache *dc, unsigned gen)
{
	struct lfs_dc_slot *slot = dir->dc;
	if (!dc || slot->gen != gen || slot->dc) {
		lfs_dircache_put(dc);
		dc = NULL;
	} else {
		dc->owner = dir;
		slot->dc = dc;
		lfs->dircaches->total_bytes += dc->bytes;
		lru_push_front(dc);
		trim_to_budget(dc);
	}
	if (slot->dc)
		__atomic_add_fetch(&slot->dc->refs, 1, __ATOMIC_RELAXED);
	return slot->dc;
}

struct dircache *lfs_dircache_get(struct node *dir)
{
	if (!dircache_enabled() || !S_ISDIR(dir->type))
		return NULL;
	lfs_tree_lock();
	if (!dir->dc && !(dir->dc = calloc(1, sizeof(*dir->dc)))) {
		lfs_tree_unlock();
		return NULL;
	}
	struct lfs_dc_slot *slot = dir->dc;
	/* One thread reads the branches; parallel lookups in the same
	 * directory wait for it rather than each reading them again. */
	while (!slot->dc && slot->building)
		lfs_cond_wait(&lfs->dircaches->built, &lfs->tree_lock);
	struct dircache *dc = slot->dc;
	if (dc) {
		__atomic_add_fetch(&dc->refs, 1, __ATOMIC_RELAXED);
		lru_unlink(dc);
		lru_push_front(dc);
		lfs_tree_unlock();
		return dc;
	}
	char *upper = NULL, *lower = NULL;
	uint16_t *dirbr = malloc(LFS_MAX_BRANCHES * sizeof(*dirbr));
	unsigned nd = 0, gen = slot->gen;
	bool want = dirbr && snapshot_locked(dir, &upper, &lower, dirbr, &nd);
	slot->building = want;
	lfs_tree_unlock();
	if (!want) {
		free(dirbr);
		return NULL;
	}
	dc = dc_build(upper, lower, dirbr, nd);
	free(dirbr);
	free(upper);
	free(lower);
	lfs_tree_lock();
	slot->building = false;
	dc = publish_locked(dir, dc, gen);
	pthread_cond_broadcast(&lfs->dircaches->built);
	lfs_tree_unlock();
	return dc;
}

/* The index of branch b's set, or -1; hint: where the last walk was. */
static int set_of(const struct dircache *dc, int b, unsigned *hint)
{
	unsigned i = *hint < dc->nsets ? *hint : 0;
	for (unsigned k = 0; k < dc->nsets; k++) {
		if (dc->sets[i].b == b) {
			*hint = i;
			return dc->sets[i].valid ? (int)i : -1;
		}
		i = i + 1 < dc->nsets ? i + 1 : 0;
	}
	return -1;
}

enum lfs_dc_answer lfs_dircache_query(const struct dircache *dc, int b, const char *name,
				      unsigned *hint, unsigned char *dtype)
{
	const char *target;
	if (!dc || lfs_union_classify(name, true, &target) != LFS_UNION_ENTRY_NAME)
		return LFS_DC_UNKNOWN;     /* markers are never cached as names */
	int set = set_of(dc, b, hint);
	if (set < 0)
		return LFS_DC_UNKNOWN;
	const char *rec = dc_find(dc, (unsigned)set, name);
	if (!rec)
		return LFS_DC_ABSENT;
	if (rec[2] & DC_PRESENT) {
		*dtype = (unsigned char)rec[3];
		return LFS_DC_PRESENT;
	}
	return LFS_DC_WHITEOUT;
}

int lfs_dircache_foreach(const struct dircache *dc, int b, lfs_dc_visit fn, void *arg)
{
	unsigned hint = 0;
	int set = dc ? set_of(dc, b, &hint) : -1;
	if (set < 0 || dc->sets[set].untyped)
		return -ENODATA;
	for (uint32_t off = dc->sets[set].start; off < dc->sets[set].end;) {
		const char *rec = dc->pool + off;
		uint64_t ino;
		memcpy(&ino, rec + 4, sizeof(ino));
		int ret = fn(arg, rec_name(rec), (unsigned char)rec[3], ino,
			     !(rec[2] & DC_PRESENT));
		if (ret)
			return ret;
		off += DC_HDR + (uint32_t)strlen(rec_name(rec)) + 1;
	}
	return 0;
}

struct dircache *lfs_dircache_peek(struct node *dir)
{
	if (!dircache_enabled())
		return NULL;
	lfs_tree_lock();
	struct dircache *dc = dir->dc ? dir->dc->dc : NULL;
	if (dc)
		__atomic_add_fetch(&dc->refs, 1, __ATOMIC_RELAXED);
	lfs_tree_unlock();
	return dc;
}
