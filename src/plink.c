/* The hardlink index: see plink.h. */
#include "plink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "workdir.h"

/* trusted.* needs root; a workdir= mount as root keeps it there, anyone
 * else in user.*. */
static const char *plink_xattr(void)
{
	return lfs->workfd >= 0 && geteuid() == 0 ? LFS_PLINK_XATTR_ROOT : LFS_PLINK_XATTR_USER;
}

bool lfs_plink_marked(int dfd, const char *name, char *key, size_t keysize,
		      struct lfs_plink_count *count)
{
	return lfs_plink_read_mark_in(dfd, name, plink_xattr(), key, keysize, count);
}

bool lfs_plink_find(const struct stat *lower, char *key, size_t keysize, struct stat *st,
		    struct lfs_plink_count *count)
{
	if (!lfs->has_rw || !S_ISREG(lower->st_mode) || lower->st_nlink < 2)
		return false;
	lfs_plink_key(lower, key, keysize);
	int fd = lfs_work_plink_if_exists();
	if (fd < 0 || fstatat(fd, key, st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	char k[LFS_PLINK_KEY_MAX];
	if (!lfs_plink_marked(fd, key, k, sizeof(k), count)) {
		count->lower = lower->st_nlink;
		count->gone = LFS_PLINK_GONE_UNKNOWN;
	}
	return true;
}

void lfs_plink_mark(int dfd, const char *name, const char *key,
		    const struct lfs_plink_count *count)
{
	char path[PATH_MAX], value[96];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	int len = lfs_plink_format_mark(key, count, value, sizeof(value));
	if (lsetxattr(path, plink_xattr(), value, (size_t)len, 0) < 0)
		lfs_dbg("cannot mark '%s' as indexed: %s", name, strerror(errno));
}

int lfs_plink_link(struct node *n, const char *key, int dstdfd, const char *name)
{
	int plink = lfs_work_plink();
	if (plink < 0)
		return plink;
	bool linked = linkat(plink, key, dstdfd, name, 0) == 0;
	if (!linked && errno != EEXIST)
		return -errno;
	lfs_tree_lock();
	if (!n->plink)
		n->plink = strdup(key);
	bool counted = linked && n->lower_gone != LFS_PLINK_GONE_UNKNOWN;
	nlink_t lower = n->lower_nlink;
	if (counted)
		__atomic_add_fetch(&n->lower_gone, 1, __ATOMIC_RELAXED);
	lfs_tree_unlock();
	if (counted) {
		/* Writers of the mark take turns and each writes the count as
		 * it is then: the last one written is the latest. */
		lfs_mutex_lock(&lfs->meta_lock, LFS_RANK_LEAF);
		struct lfs_plink_count count = {
			lower, __atomic_load_n(&n->lower_gone, __ATOMIC_RELAXED) };
		lfs_plink_mark(plink, key, key, &count);
		lfs_mutex_unlock(&lfs->meta_lock, LFS_RANK_LEAF);
	}
	return 0;
}

bool lfs_plink_wanted(struct node *n)
{
	lfs_tree_lock();
	bool wanted = lfs->has_rw && S_ISREG(n->type) &&
		      (n->plink || (n->branch != 0 && n->lower_nlink > 1));
	lfs_tree_unlock();
	return wanted;
}

nlink_t lfs_plink_nlink(const struct node *n, nlink_t upper_nlink)
{
	/* The index holds one link of its own. */
	nlink_t names = upper_nlink > 0 ? upper_nlink - 1 : 0;
	if (n->lower_gone == LFS_PLINK_GONE_UNKNOWN) {
		names = names ? names : 1;
		return names > n->lower_nlink ? names : n->lower_nlink;
	}
	nlink_t still_lower = n->lower_nlink > n->lower_gone ? n->lower_nlink - n->lower_gone : 0;
	return names + still_lower;
}
