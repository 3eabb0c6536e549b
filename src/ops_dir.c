/* FUSE requests on open directories: each stream keeps the merged
 * listing it started with (dirstream.c). */
#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirstream.h"
#include "entry.h"
#include "objref.h"

static struct dirstream *dir_handle(struct fuse_file_info *fi)
{
	return (struct dirstream *)(uintptr_t)fi->fh;
}

void lfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dirstream *d = lfs_dirstream_new();
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* The kernel may keep listings: every change of a directory goes
	 * through the mount (which drops the kernel's copy) or is a branch
	 * change (which invalidates it explicitly). */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi))
		lfs_dirstream_free(d);
}

static uint64_t parent_ino(struct node *dir)
{
	lfs_tree_lock();
	struct node *p = dir->names ? dir->names->parent : dir;
	uint64_t ino = p->ino;
	lfs_tree_unlock();
	return ino;
}

/* Name, inode number and type of entry number idx (0 ".", 1 "..", then
 * the listing). */
static const char *entry_basics(struct node *dir, const struct dirlist *l, size_t idx,
				struct stat *st)
{
	if (idx < 2) {
		st->st_ino = idx == 0 ? dir->ino : parent_ino(dir);
		st->st_mode = S_IFDIR;
		return idx == 0 ? "." : "..";
	}
	const struct dentry_rec *r = &l->v[idx - 2];
	st->st_ino = r->ino;
	st->st_mode = (mode_t)DTTOIF(r->type);
	return r->name;
}

/* Adds entry number idx to buf; returns the bytes used, or 0 when it does
 * not fit. */
static size_t add_entry(fuse_req_t req, char *buf, size_t room, struct node *dir,
			const struct dirlist *l, size_t idx)
{
	struct stat st = { 0 };
	const char *name = entry_basics(dir, l, idx, &st);
	size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	if (need > room)
		return 0;
	return fuse_add_direntry(req, buf, room, name, &st, (off_t)idx + 1);
}

/* The readdirplus form: each entry with its attributes and a node
 * reference, which saves the kernel a LOOKUP per name (ls -l, stat walks).
 * "." and ".." take no reference (the kernel does not link them); a name
 * gone since the listing was made goes as a plain entry (nodeid 0: the
 * kernel looks it up itself if asked). */
static size_t add_entry_plus(fuse_req_t req, char *buf, size_t room, struct node *dir,
			     const struct dirlist *l, size_t idx)
{
	struct fuse_entry_param e = { 0 };
	const char *name = entry_basics(dir, l, idx, &e.attr);
	size_t need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
	if (need > room)
		return 0;
	struct fuse_entry_param found;
	if (idx >= 2 && lfs_lookup_entry(dir, name, &found) == 0)
		e = found;
	return fuse_add_direntry_plus(req, buf, room, name, &e, (off_t)idx + 1);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct node *dir = lfs_node(ino);
	struct dirstream *d = dir_handle(fi);
	char *buf = malloc(size);
	int ret = buf ? lfs_dirstream_lock_listing(d, dir, off) : -ENOMEM;
	if (ret) {
		free(buf);
		fuse_reply_err(req, -ret);
		return;
	}
	size_t used = 0;
	for (size_t idx = (size_t)off; idx < d->list.n + 2; idx++) {
		size_t n = plus ? add_entry_plus(req, buf + used, size - used, dir, &d->list, idx)
			    : add_entry(req, buf + used, size - used, dir, &d->list, idx);
		if (!n)
			break;
		used += n;
	}
	lfs_dirstream_unlock(d);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void lfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

void lfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

void lfs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	lfs_dirstream_free(dir_handle(fi));
	fuse_reply_err(req, 0);
}

void lfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)fi;
	(void)datasync;
	struct node *dir = lfs_node(ino);
	int ret = 0;
	if (lfs_node_dir_in_rw(dir)) {
		struct objref o;
		ret = lfs_obj_locate_dir(dir, 0, &o);
		if (ret == 0) {
			int fd = openat(o.dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) < 0)
				ret = -errno;
			if (fd >= 0)
				close(fd);
			lfs_obj_release(&o);
		}
	}
	fuse_reply_err(req, -ret);
}
