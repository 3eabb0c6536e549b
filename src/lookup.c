/* Resolving a name in a merged directory, top branch down, and the
 * attributes shown for a node. */
#include "layerfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>

#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

static bool dir_is_opaque(int dfd, const char *name)
{
	char path[NAME_MAX + sizeof(LFS_WH_OPAQUE) + 2];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", name, LFS_WH_OPAQUE);
	return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* One branch's say about name: 1 found (st filled), 0 absent, -1 whited out,
 * or -errno. */
static int probe_branch(int b, const char *dirpath, const char *name, struct stat *st,
			bool *opaque)
{
	int dfd = lfs_open_dir(b, dirpath);
	if (dfd < 0)
		return (dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP) ? 0 : dfd;
	int ret;
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0) {
		*opaque = S_ISDIR(st->st_mode) && lfs->br[b].wh && dir_is_opaque(dfd, name);
		ret = 1;
	} else if (errno == ENOENT) {
		ret = lfs->br[b].wh && lfs_whiteout_exists(dfd, name) ? -1 : 0;
	} else {
		ret = -errno;
	}
	close(dfd);
	return ret;
}

/* A name the cache says branch b holds: its attributes are read live (one
 * fstatat). With need_stat false (a lower part of a directory already
 * found above) a known d_type spares even that; only a directory's opaque
 * marker is still looked at. Returns as probe_branch. */
static int probe_cached(int b, const char *dirpath, const char *name, unsigned char dtype,
			bool need_stat, struct stat *st, bool *opaque)
{
	if (!need_stat && dtype != DT_UNKNOWN && dtype != DT_DIR) {
		st->st_mode = DTTOIF(dtype);
		return 1;     /* a non-directory: ends the merge, nothing to read */
	}
	if (need_stat || dtype == DT_UNKNOWN)
		return probe_branch(b, dirpath, name, st, opaque);
	st->st_mode = S_IFDIR;
	*opaque = false;
	if (!lfs->br[b].wh)
		return 1;
	/* One openat2 of DIRPATH/NAME/.wh..wh..opq beneath the branch root.
	 * Anything but "there" or "not there" is left to the full probe. */
	char path[PATH_MAX];
	int len = snprintf(path, sizeof(path), "%s%s%s/%s", dirpath, *dirpath ? "/" : "",
			   name, LFS_WH_OPAQUE);
	int fd = len < (int)sizeof(path) ? lfs_openat_beneath(lfs->br[b].fd, path, O_PATH, 0, true)
					 : -ENAMETOOLONG;
	if (fd >= 0)
		close(fd);
	if (fd >= 0 || fd == -ENOENT) {
		*opaque = fd >= 0;
		return 1;
	}
	return probe_branch(b, dirpath, name, st, opaque);
}

/* Branch b's say about name, from the cache when it knows. */
static int probe(const struct dircache *dc, unsigned *hint, int b, const char *dirpath,
		 const char *name, bool need_stat, struct stat *st, bool *opaque)
{
	unsigned char dtype = DT_UNKNOWN;
	switch (lfs_branch_is_rw(b) ? LFS_DC_UNKNOWN
				    : lfs_dircache_query(dc, b, name, hint, &dtype)) {
	case LFS_DC_ABSENT:
		return 0;
	case LFS_DC_WHITEOUT:
		return -1;
	case LFS_DC_PRESENT:
		return probe_cached(b, dirpath, name, dtype, need_stat, st, opaque);
	default:
		return probe_branch(b, dirpath, name, st, opaque);
	}
}

int lfs_resolve(struct node *dir, const char *name, int min_branch, struct resolved *r)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char path[PATH_MAX];
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	int ret = lfs_node_path(dir, path, sizeof(path));
	if (ret)
		return ret;
	struct dircache *dc = lfs_dircache_get(dir);
	unsigned hint = 0;
	bool found = false;
	r->ndirbr = 0;
	for (unsigned i = 0; i < nd; i++) {
		int b = dirbr[i];
		if (b < min_branch)
			continue;
		struct stat st;
		bool opaque = false;
		int got = probe(dc, &hint, b, path, name, !found, &st, &opaque);
		if (got < 0 && got != -1) {
			lfs_dircache_put(dc);
			return got;
		}
		if (got == -1)
			break;          /* whited out below here */
		if (got == 0)
			continue;
		if (found && !S_ISDIR(st.st_mode))
			break;          /* a non-directory ends a directory's merge */
		if (!found) {
			r->st = st;
			r->branch = b;
			found = true;
			if (!S_ISDIR(st.st_mode))
				break;
		}
		r->dirbr[r->ndirbr++] = (uint16_t)b;
		if (opaque)
			break;
	}
	lfs_dircache_put(dc);
	return found ? 0 : -ENOENT;
}

/* Whether any branch below the rw one shows name: the cache answers
 * without a system call for every branch it holds. */
bool lfs_lower_has(struct node *dir, const char *name)
{
	uint16_t dirbr[LFS_MAX_BRANCHES];
	char path[PATH_MAX];
	unsigned nd = lfs_node_dirbr(dir, dirbr);
	if (lfs_node_path(dir, path, sizeof(path)))
		return false;
	struct dircache *dc = lfs_dircache_get(dir);
	unsigned hint = 0;
	int got = 0;
	for (unsigned i = 0; i < nd && got == 0; i++) {
		int b = dirbr[i];
		if (b < (lfs->has_rw ? 1 : 0))
			continue;
		unsigned char dtype;
		enum lfs_dc_answer a = lfs_dircache_query(dc, b, name, &hint, &dtype);
		struct stat st;
		bool opaque;
		if (a == LFS_DC_UNKNOWN)
			got = probe_branch(b, path, name, &st, &opaque);
		else
			got = a == LFS_DC_PRESENT ? 1 : a == LFS_DC_WHITEOUT ? -1 : 0;
	}
	lfs_dircache_put(dc);
	return got == 1;
}

static void plink_key(const struct stat *st, char *buf, size_t size)
{
	snprintf(buf, size, "%llx_%llx", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino);
}

/* A multiply-linked lower file that was copied up through another name
 * lives in the hardlink index: use that copy. */
static bool plink_lookup(const struct resolved *r, char *key, size_t keysize,
			 struct stat *st)
{
	if (!lfs->has_rw || r->branch == 0 || !S_ISREG(r->st.st_mode) || r->st.st_nlink < 2)
		return false;
	plink_key(&r->st, key, keysize);
	int fd = lfs_work_plink_if_exists();
	if (fd < 0)
		return false;
	return fstatat(fd, key, st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* An rw file with several links may be a copy in the hardlink index. */
static bool plink_marked(struct node *dir, const char *name, const struct resolved *r,
			 char *key, size_t keysize, nlink_t *lower_nlink)
{
	if (!lfs->has_rw || r->branch != 0 || !S_ISREG(r->st.st_mode) || r->st.st_nlink < 2)
		return false;
	struct objref o;
	if (lfs_obj_locate_dir(dir, 0, &o))
		return false;
	char path[PATH_MAX + 64], value[96];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", o.dfd, name);
	ssize_t len = lgetxattr(path, lfs_xattr_plink(), value, sizeof(value) - 1);
	lfs_obj_release(&o);
	if (len <= 0)
		return false;
	value[len] = '\0';
	unsigned long nl = 0;
	char k[64];
	if (sscanf(value, "%63s %lu", k, &nl) != 2)
		return false;
	snprintf(key, keysize, "%s", k);
	*lower_nlink = (nlink_t)nl;
	return true;
}

void lfs_plink_key(const struct stat *lower, char *buf, size_t size)
{
	plink_key(lower, buf, size);
}

void lfs_fix_stat(struct node *n, struct stat *st)
{
	st->st_ino = n->ino;
	lfs_idmap_show(&lfs->ids, st);
	if (n->plink && S_ISREG(st->st_mode)) {
		/* The index holds one link of its own. */
		nlink_t up = st->st_nlink > 1 ? st->st_nlink - 1 : 1;
		st->st_nlink = up > n->lower_nlink ? up : n->lower_nlink;
	}
	if (S_ISDIR(st->st_mode) && n->ndirbr > 1)
		st->st_nlink = 1;   /* merged: the real count is unknown, as on overlayfs */
}

int lfs_make_entry(struct node *dir, const char *name, const struct resolved *r,
		   struct fuse_entry_param *e)
{
	char key[64];
	struct stat pst;
	bool in_index = plink_lookup(r, key, sizeof(key), &pst);
	nlink_t marked_nlink = 0;
	bool marked = !in_index && plink_marked(dir, name, r, key, sizeof(key), &marked_nlink);
	uint64_t ino = in_index ? lfs_ino_for(0, &pst) : lfs_ino_for(r->branch, &r->st);
	memset(e, 0, sizeof(*e));
	e->attr = in_index ? pst : r->st;
	pthread_mutex_lock(&lfs->tree_lock);
	struct node *n = lfs_node_get(dir, name, ino, r->st.st_mode & S_IFMT,
				      in_index ? 0 : r->branch, r->dirbr, r->ndirbr);
	if (!n) {
		pthread_mutex_unlock(&lfs->tree_lock);
		return -ENOMEM;
	}
	if ((in_index || marked) && !n->plink)
		n->plink = strdup(key);
	if (marked)
		n->lower_nlink = marked_nlink;
	if (r->branch != 0 || !lfs->has_rw)
		n->lower_nlink = r->st.st_nlink;
	lfs_fix_stat(n, &e->attr);
	pthread_mutex_unlock(&lfs->tree_lock);
	e->ino = lfs_node_id(n);
	e->attr_timeout = lfs->timeout;
	e->entry_timeout = lfs->timeout;
	/* This name of a copied-up hardlinked file is still only lower: link
	 * it to the copy, so the rw branch matches what users see. */
	if (in_index) {
		int ret = lfs_copyup_at(dir, name, n);
		if (ret)
			lfs_log("linking '%s' to its copied-up inode failed: %s", name,
				strerror(-ret));
	}
	return 0;
}

int lfs_lookup_entry(struct node *dir, const char *name, struct fuse_entry_param *e)
{
	struct resolved r;
	int ret = lfs_resolve(dir, name, 0, &r);
	if (ret)
		return ret;
	return lfs_make_entry(dir, name, &r, e);
}

int lfs_node_stat(struct node *n, struct stat *st)
{
	struct objref o;
	int ret = lfs_obj_locate(n, &o);
	if (ret)
		return ret;
	if (fstatat(o.dfd, o.name, st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	lfs_obj_release(&o);
	if (ret == 0) {
		pthread_mutex_lock(&lfs->tree_lock);
		lfs_fix_stat(n, st);
		pthread_mutex_unlock(&lfs->tree_lock);
	}
	return ret;
}
