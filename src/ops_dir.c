/* FUSE operations on open directories. The merged listing is built when a
 * stream starts (offset 0, so rewinddir sees changes) and kept for it, so
 * offsets stay valid for telldir/seekdir while the directory changes. */
#include "layerfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dirhandle {
	struct dirlist list;
	bool loaded;
	pthread_mutex_t lock;
	struct dirhandle *prev, *next;   /* all open ones, freed at unmount */
};

static struct dirhandle open_dirs = { .prev = &open_dirs, .next = &open_dirs };
static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;

static void dir_handle_track(struct dirhandle *d, bool add)
{
	pthread_mutex_lock(&open_dirs_lock);
	if (add) {
		d->next = &open_dirs;
		d->prev = open_dirs.prev;
		open_dirs.prev->next = d;
		open_dirs.prev = d;
	} else {
		d->prev->next = d->next;
		d->next->prev = d->prev;
	}
	pthread_mutex_unlock(&open_dirs_lock);
}

static void dir_handle_free(struct dirhandle *d)
{
	dir_handle_track(d, false);
	lfs_dirlist_free(&d->list);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Directories still open when the mount went (their release never came). */
void lfs_dir_handles_free_all(void)
{
	while (open_dirs.next != &open_dirs)
		dir_handle_free(open_dirs.next);
}

static struct dirhandle *dir_handle(struct fuse_file_info *fi)
{
	return (struct dirhandle *)(uintptr_t)fi->fh;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dirhandle *d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	dir_handle_track(d, true);
	fi->fh = (uint64_t)(uintptr_t)d;
	/* The kernel may keep listings: every change of a directory goes
	 * through the mount (which drops the kernel's copy) or is a branch
	 * change (which invalidates it explicitly). */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi))
		dir_handle_free(d);
}

static uint64_t parent_ino(struct node *dir)
{
	pthread_mutex_lock(&lfs->tree_lock);
	struct node *p = dir->names ? dir->names->parent : dir;
	uint64_t ino = p->ino;
	pthread_mutex_unlock(&lfs->tree_lock);
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
	struct dirhandle *d = dir_handle(fi);
	pthread_mutex_lock(&d->lock);
	int ret = 0;
	if (off == 0 || !d->loaded) {
		lfs_dirlist_free(&d->list);
		ret = lfs_dir_merge(dir, &d->list, false);
		d->loaded = ret == 0;
	}
	char *buf = ret ? NULL : malloc(size);
	if (!ret && !buf)
		ret = -ENOMEM;
	if (ret) {
		pthread_mutex_unlock(&d->lock);
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
	pthread_mutex_unlock(&d->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dir_handle_free(dir_handle(fi));
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
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

void lfs_ops_dir(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
	ops->releasedir = op_releasedir;
	ops->fsyncdir = op_fsyncdir;
}
