/* FUSE requests on names: lookup, forget, creating, linking, removing and
 * renaming entries. */
#include "ops.h"

#include <errno.h>
#include <string.h>

#include "create.h"
#include "entry.h"
#include "layerfs/whiteout.h"
#include "remove.h"
#include "rename.h"

static void reply_new_entry(fuse_req_t req, int ret, struct node *dir, const char *name)
{
	struct fuse_entry_param e;
	if (ret == 0)
		ret = lfs_lookup_entry(dir, name, &e);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

void lfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int ret;
	if (strlen(name) > NAME_MAX)
		ret = -ENAMETOOLONG;
	else if (lfs_is_marker_name(name))
		ret = -ENOENT;
	else
		ret = lfs_lookup_entry(lfs_node(parent), name, &e);
	if (ret == -ENOENT) {
		/* A negative entry the kernel may keep as long as any other. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = lfs->timeout;
		fuse_reply_entry(req, &e);
	} else if (ret) {
		fuse_reply_err(req, -ret);
	} else {
		fuse_reply_entry(req, &e);
	}
}

void lfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	lfs_node_forget(lfs_node(ino), nlookup);
	fuse_reply_none(req);
}

void lfs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		lfs_node_forget(lfs_node(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

void lfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct node *dir = lfs_node(parent);
	reply_new_entry(req, lfs_create_object(fuse_req_ctx(req), dir, name, mode, rdev, NULL),
			dir, name);
}

void lfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct node *dir = lfs_node(parent);
	reply_new_entry(req, lfs_create_object(fuse_req_ctx(req), dir, name, 0, 0, link), dir,
			name);
}

void lfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node *dir = lfs_node(parent);
	reply_new_entry(req, lfs_create_dir(fuse_req_ctx(req), dir, name, mode), dir, name);
}

void lfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct node *dir = lfs_node(newparent);
	reply_new_entry(req, lfs_create_link(lfs_node(ino), dir, newname), dir, newname);
}

void lfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -lfs_remove_entry(lfs_node(parent), name, false));
}

void lfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -lfs_remove_entry(lfs_node(parent), name, true));
}

void lfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -lfs_rename(lfs_node(parent), name, lfs_node(newparent), newname,
					flags));
}
