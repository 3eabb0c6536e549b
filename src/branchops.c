/* Changing the branches of a live mount: see branchops.h. */
#include "branchops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "branch.h"
#include "dircache.h"
#include "handle.h"
#include "ino.h"
#include "layerfs/union.h"
#include "lookup.h"
#include "nodepath.h"
#include "passthrough.h"

static void inval_entry_add(struct lfs_inval *iv, fuse_ino_t parent, const char *name)
{
	if (iv->nentries == iv->capentries) {
		size_t cap = iv->capentries ? iv->capentries * 2 : 64;
		void *v = realloc(iv->entries, cap * sizeof(*iv->entries));
		if (!v)
			return;
		iv->entries = v;
		iv->capentries = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return;
	iv->entries[iv->nentries].parent = parent;
	iv->entries[iv->nentries++].name = dup;
}

static void remap_node(struct node *n, int at, int delta)
{
	n->branch = lfs_branch_remap(n->branch, at, delta);
	if (n->data_branch >= 0)
		n->data_branch = lfs_branch_remap(n->data_branch, at, delta);
	unsigned out = 0;
	for (unsigned i = 0; i < n->ndirbr; i++) {
		int b = lfs_branch_remap(n->dirbr[i], at, delta);
		if (b >= 0)
			n->dirbr[out++] = (uint16_t)b;
	}
	n->ndirbr = out;
	lfs_handles_remap_locked(n, at, delta);
}

static int cmp_depth(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	unsigned dx = lfs_node_depth_locked((struct node *)x);
	unsigned dy = lfs_node_depth_locked((struct node *)y);
	return dx < dy ? -1 : dx > dy;
}

static int root_all_branches(void)
{
	uint16_t *all = malloc((size_t)lfs->nbr * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (int i = 0; i < lfs->nbr; i++)
		all[i] = (uint16_t)i;
	free(lfs->root->dirbr);
	lfs->root->dirbr = all;
	lfs->root->ndirbr = (unsigned)lfs->nbr;
	lfs->root->branch = 0;
	return 0;
}

/* Names in branch b's copy of directory node dir: each may now appear,
 * disappear or change, so the kernel forgets what it knew about them. */
static void collect_branch_names(struct node *dir, int b, struct lfs_inval *iv)
{
	char *path;
	lfs_tree_lock();
	int ret = lfs_node_path_in_locked(dir, b, &path);
	lfs_tree_unlock();
	if (ret)
		return;
	int pfd = lfs_open_dir(b, path);
	free(path);
	if (pfd < 0)
		return;
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		/* A name, or the name a whiteout hides (the kernel may know it
		 * from another branch), whatever the branch's flags are. */
		const char *target;
		switch (lfs_union_classify(de->d_name, true, &target)) {
		case LFS_UNION_ENTRY_NAME:
			inval_entry_add(iv, lfs_node_id(dir), de->d_name);
			break;
		case LFS_UNION_ENTRY_WHITEOUT:
			inval_entry_add(iv, lfs_node_id(dir), target);
			break;
		default:
			break;
		}
	}
	closedir(d);
}

/* Looks node n up again by its first name. Directories keep their
 * identity (a shell may sit in one); a file now supplied by another object
 * loses the name, so the kernel's next lookup makes a new node. */
static void reresolve(struct node *n, struct lfs_inval *iv)
{
	lfs_tree_lock();
	struct node *parent = n->names ? n->names->parent : NULL;
	char *name = parent ? strdup(n->names->name) : NULL;
	lfs_tree_unlock();
	if (!name)
		return;
	struct resolved *r = malloc(sizeof(*r));
	int ret = r ? lfs_resolve(parent, name, 0, r) : -ENOMEM;
	lfs_tree_lock();
	n->no_xattrs = false;
	bool same_type = ret == 0 && (r->st.st_mode & S_IFMT) == n->type;
	if (same_type && S_ISDIR(n->type)) {
		n->branch = r->branch;
		lfs_node_set_dirbr_locked(n, r->dirbr, r->ndirbr);
		lfs_node_set_redirect_locked(n, r->redirect);
	} else if (same_type && (n->plink || r->ino == n->ino)) {
		if (!n->plink)
			n->branch = r->branch;
	} else {
		lfs_node_unname(n, parent, name);
		if (n->nlookup)
			inval_entry_add(iv, lfs_node_id(parent), name);
	}
	lfs_tree_unlock();
	if (ret == 0)
		lfs_resolved_done(r);
	free(r);
	free(name);
}

/* After the branch array changed: fix every node, and list what the kernel
 * must forget. changed is the branch whose names to invalidate (an index of
 * the new array, or -1 with changed_fd set for a removed branch). */
static void refresh_nodes(int at, int delta, int changed, struct lfs_inval *iv)
{
	lfs_tree_lock();
	struct node **v;
	size_t cnt = lfs_node_list_locked(&v);
	/* Cached sets are per branch index and honour the old flags; the rw
	 * directories kept open may be another branch's now. */
	lfs_dircache_drop_all_locked();
	for (size_t i = 0; i < cnt; i++) {
		lfs_node_drop_rwfd_locked(v[i]);
		if (v[i] != lfs->root && delta)
			remap_node(v[i], at, delta);
	}
	root_all_branches();
	qsort(v, cnt, sizeof(*v), cmp_depth);
	lfs_tree_unlock();

	/* Names the changed branch holds, looked at before nodes move. */
	for (size_t i = 0; i < cnt; i++)
		if (S_ISDIR(v[i]->type) && v[i]->nlookup && changed >= 0)
			collect_branch_names(v[i], changed, iv);
	for (size_t i = 0; i < cnt; i++)
		if (v[i] != lfs->root)
			reresolve(v[i], iv);
	iv->inodes = malloc(cnt * sizeof(*iv->inodes));
	for (size_t i = 0; iv->inodes && i < cnt; i++)
		if (v[i]->nlookup)
			iv->inodes[iv->ninodes++] = lfs_node_id(v[i]);
	free(v);
}

void lfs_inval_send(struct lfs_inval *iv)
{
	for (size_t i = 0; i < iv->nentries; i++) {
		const char *name = iv->entries[i].name;
		fuse_lowlevel_notify_inval_entry(lfs->se, iv->entries[i].parent, name, strlen(name));
		free(iv->entries[i].name);
	}
	for (size_t i = 0; i < iv->ninodes; i++)
		fuse_lowlevel_notify_inval_inode(lfs->se, iv->inodes[i], 0, 0);
	free(iv->entries);
	free(iv->inodes);
}

static bool branch_has_open_files(int b)
{
	bool busy = false;
	lfs_tree_lock();
	struct node **v;
	size_t cnt = lfs_node_list_locked(&v);
	/* A metadata-only copy known to take its data from b counts too. */
	for (size_t i = 0; i < cnt && !busy; i++)
		busy = lfs_handles_on_branch_locked(v[i], b) ||
		       (v[i]->metacopy && v[i]->data_branch == b);
	free(v);
	lfs_tree_unlock();
	return busy;
}

static int check_add(int index, enum lfs_perm perm, char *err, size_t errsz)
{
	if (index < 0 || index > lfs->nbr) {
		snprintf(err, errsz, "no place %d for a branch (0 to %d)", index, lfs->nbr);
		return -EINVAL;
	}
	if (lfs->nbr >= LFS_MAX_BRANCHES) {
		snprintf(err, errsz, "too many branches (at most %d)", LFS_MAX_BRANCHES);
		return -EINVAL;
	}
	if (perm == LFS_PERM_RW && lfs->has_rw) {
		snprintf(err, errsz, "there is an rw branch already: '%s'", lfs->br[0].path);
		return -EBUSY;
	}
	if (perm == LFS_PERM_RW && index != 0) {
		snprintf(err, errsz, "an rw branch must be branch 0");
		return -EINVAL;
	}
	if (perm == LFS_PERM_RW && lfs_pt_ro_union_files_open()) {
		snprintf(err, errsz, "files of this read-only union are open passed through "
			 "(they would miss copy-ups): close them first");
		return -EBUSY;
	}
	if (perm != LFS_PERM_RW && lfs->has_rw && index == 0) {
		snprintf(err, errsz, "the rw branch stays on top: add below it (index 1 or more)");
		return -EINVAL;
	}
	return 0;
}

int lfs_branch_add(int index, const char *path, enum lfs_perm perm, bool wh,
		   struct lfs_inval *iv, char *err, size_t errsz)
{
	int ret = check_add(index, perm, err, errsz);
	struct branch b;
	if (ret == 0)
		ret = lfs_branch_open(path, perm, wh, lfs->mountpoint, &b, err, errsz);
	if (ret)
		return ret;
	ret = lfs_branch_check_new(&b, err, errsz);
	struct branch *nb = ret ? NULL : realloc(lfs->br, (size_t)(lfs->nbr + 1) * sizeof(*nb));
	if (!nb) {
		close(b.fd);
		free(b.path);
		return ret ? ret : -ENOMEM;
	}
	lfs->br = nb;
	memmove(&nb[index + 1], &nb[index], (size_t)(lfs->nbr - index) * sizeof(*nb));
	b.id = ++lfs->next_brid;
	b.devidx = lfs_dev_index(lfs, b.dev);
	nb[index] = b;
	lfs->nbr++;
	if (perm == LFS_PERM_RW) {
		lfs->has_rw = true;
		ret = lfs_setup_workdir(lfs, NULL, err, errsz);
		if (ret)
			lfs->has_rw = false;
	}
	refresh_nodes(index, 1, index, iv);
	return ret;
}

int lfs_branch_del(int index, struct lfs_inval *iv, char *err, size_t errsz)
{
	if (index < 0 || index >= lfs->nbr) {
		snprintf(err, errsz, "no branch %d", index);
		return -EINVAL;
	}
	if (lfs_branch_is_rw(index)) {
		snprintf(err, errsz, "'%s' is the rw branch", lfs->br[index].path);
		return -EBUSY;
	}
	if (lfs->nbr == 1) {
		snprintf(err, errsz, "'%s' is the last branch", lfs->br[index].path);
		return -EBUSY;
	}
	if (branch_has_open_files(index)) {
		snprintf(err, errsz, "'%s' has open files", lfs->br[index].path);
		return -EBUSY;
	}
	/* Its names go first, while it is still a branch. */
	lfs_tree_lock();
	struct node **v;
	size_t cnt = lfs_node_list_locked(&v);
	lfs_tree_unlock();
	for (size_t i = 0; i < cnt; i++)
		if (S_ISDIR(v[i]->type) && v[i]->nlookup)
			collect_branch_names(v[i], index, iv);
	free(v);
	struct branch gone = lfs->br[index];
	memmove(&lfs->br[index], &lfs->br[index + 1],
		(size_t)(lfs->nbr - index - 1) * sizeof(*lfs->br));
	lfs->nbr--;
	close(gone.fd);
	free(gone.path);
	refresh_nodes(index, -1, -1, iv);
	return 0;
}

int lfs_branch_mod(int index, enum lfs_perm perm, bool wh, struct lfs_inval *iv,
		   char *err, size_t errsz)
{
	if (index < 0 || index >= lfs->nbr) {
		snprintf(err, errsz, "no branch %d", index);
		return -EINVAL;
	}
	struct branch *b = &lfs->br[index];
	bool to_rw = perm == LFS_PERM_RW, was_rw = lfs_branch_is_rw(index);
	if (to_rw && !was_rw && lfs->has_rw) {
		snprintf(err, errsz, "there is an rw branch already: '%s'", lfs->br[0].path);
		return -EBUSY;
	}
	if (to_rw && index != 0) {
		snprintf(err, errsz, "an rw branch must be branch 0");
		return -EINVAL;
	}
	if (to_rw && !was_rw && lfs_pt_ro_union_files_open()) {
		snprintf(err, errsz, "files of this read-only union are open passed through "
			 "(they would miss copy-ups): close them first");
		return -EBUSY;
	}
	b->perm = perm;
	b->wh = wh || to_rw;
	int ret = 0;
	if (to_rw && !was_rw) {
		lfs->has_rw = true;
		ret = lfs_setup_workdir(lfs, NULL, err, errsz);
		if (ret) {
			lfs->has_rw = false;
			b->perm = LFS_PERM_RO;
		}
	} else if (!to_rw && was_rw) {
		lfs->has_rw = false;   /* from now on every write fails with EROFS */
	}
	refresh_nodes(index, 0, index, iv);
	return ret;
}
