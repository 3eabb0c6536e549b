/* FUSE entries for names: see entry.h. */
#include "entry.h"

#include <errno.h>
#include <string.h>

#include "copyup.h"
#include "ino.h"
#include "objref.h"
#include "plink.h"
#include "workdir.h"

/* An rw file with several links may be a copy in the hardlink index. */
static bool indexed_rw_name(struct node *dir, const char *name, const struct resolved *r,
			    char *key, size_t keysize, struct lfs_plink_count *count)
{
	if (!lfs->has_rw || r->branch != 0 || !S_ISREG(r->st.st_mode) || r->st.st_nlink < 2)
		return false;
	struct objref o;
	if (lfs_obj_locate_dir(dir, 0, &o))
		return false;
	bool marked = lfs_plink_marked(o.dfd, name, key, keysize, count);
	lfs_obj_release(&o);
	return marked;
}

int lfs_make_entry(struct node *dir, const char *name, const struct resolved *r,
		   struct fuse_entry_param *e)
{
	char key[LFS_PLINK_KEY_MAX];
	struct stat pst;
	struct lfs_plink_count count;
	/* A multiply-linked lower file copied up through another name lives in
	 * the index: this name shows that copy. */
	bool in_index = r->branch != 0 && lfs_plink_find(&r->st, key, sizeof(key), &pst, &count);
	bool marked = !in_index && indexed_rw_name(dir, name, r, key, sizeof(key), &count);
	uint64_t ino = in_index ? lfs_ino_for_rw(lfs_work_plink_if_exists(), key, &pst) : r->ino;
	memset(e, 0, sizeof(*e));
	e->attr = in_index ? pst : r->st;
	lfs_tree_lock();
	struct node *n = lfs_node_get(dir, name, ino, r->st.st_mode & S_IFMT,
				      in_index ? 0 : r->branch, r->dirbr, r->ndirbr);
	if (!n) {
		lfs_tree_unlock();
		return -ENOMEM;
	}
	/* The node's counts are kept from its first meeting with the index on;
	 * what the disk says is read then. */
	if ((in_index || marked) && !n->plink) {
		n->plink = strdup(key);
		n->lower_nlink = count.lower;
		n->lower_gone = count.gone;
	} else if (!in_index && !marked && (r->branch != 0 || !lfs->has_rw)) {
		n->lower_nlink = r->st.st_nlink;
	}
	if (S_ISDIR(n->type))
		lfs_node_set_redirect_locked(n, r->redirect);
	/* From the first meeting on, copy-ups keep it (a lookup racing one
	 * must not bring back what it just changed). */
	if (!n->metacopy_known)
		lfs_node_set_metacopy_locked(n, r->metacopy, r->data_branch, r->st.st_blocks);
	lfs_fix_stat(n, &e->attr);
	lfs_tree_unlock();
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
	ret = lfs_make_entry(dir, name, &r, e);
	lfs_resolved_done(&r);
	return ret;
}

struct node *lfs_child_node(struct node *dir, const char *name)
{
	struct fuse_entry_param e;
	return lfs_lookup_entry(dir, name, &e) == 0 ? lfs_node(e.ino) : NULL;
}
