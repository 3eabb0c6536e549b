/* Open-file handles: see handle.h. */
#include "handle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "branch.h"
#include "objref.h"
#include "passthrough.h"

int lfs_handle_open_object(struct node *n, int flags, int *branch)
{
	struct objref o;
	/* Only reads may reach a metadata-only copy's lower data: opens for
	 * writing copied the data up first. */
	int ret = (flags & O_ACCMODE) == O_RDONLY ? lfs_obj_locate_data(n, &o)
						  : lfs_obj_locate(n, &o);
	if (ret)
		return ret;
	int fd = openat(o.dfd, o.name, flags);
	ret = fd < 0 ? -errno : fd;
	*branch = o.branch;
	lfs_obj_release(&o);
	return ret;
}

static void handle_destroy(struct fhandle *h)
{
	close(h->fd);
	if (h->upfd >= 0)
		close(h->upfd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

struct fhandle *lfs_handle_new(struct node *n, int fd, int flags, int branch,
			       struct fuse_file_info *fi, int *backing_id)
{
	struct fhandle *h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return NULL;
	}
	h->fd = fd;
	h->upfd = -1;
	h->flags = flags;
	h->branch = branch;
	h->node = n;
	h->gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	pthread_mutex_init(&h->lock, NULL);
	/* Every write goes through the mount, so the kernel's page cache of a
	 * file is never stale: keep it across opens (lfs_pt_choose says when
	 * passthrough writes made it stale after all). */
	fi->keep_cache = 1;
	*backing_id = lfs_pt_choose(n, h, fi);
	lfs_tree_lock();
	h->next = n->handles;
	n->handles = h;
	lfs_tree_unlock();
	return h;
}

void lfs_handle_free(struct fhandle *h)
{
	lfs_tree_lock();
	for (struct fhandle **p = &h->node->handles; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
	int backing_id = lfs_pt_handle_gone_locked(h->node, h);
	lfs_tree_unlock();
	if (backing_id)
		lfs_pt_backing_close(backing_id);
	handle_destroy(h);
}

/* Opens n's object for h again: through the copy noted at copy-up when
 * there is one (no name may lead there now), else by its name. */
static int reopen(struct fhandle *h, struct node *n, int *branch)
{
	int flags = h->flags & ~(O_TRUNC | O_NOFOLLOW);
	lfs_tree_lock();
	int up = h->upfd;
	h->upfd = -1;
	lfs_tree_unlock();
	if (up < 0)
		return lfs_handle_open_object(n, h->flags & ~O_TRUNC, branch);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", up);
	int fd = open(path, flags);
	int ret = fd < 0 ? -errno : fd;
	close(up);
	*branch = 0;
	return ret;
}

int lfs_handle_fd(struct fhandle *h, struct node *n)
{
	unsigned gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	if (gen == h->gen)
		return h->fd;
	lfs_mutex_lock(&h->lock, LFS_RANK_HANDLE);
	if (h->gen != gen) {
		int branch = -1;
		int fd = reopen(h, n, &branch);
		if (fd >= 0) {
			h->branch = branch;
			/* The old fd may be in use by a concurrent read: keep it
			 * valid by duplicating the new file over it. */
			dup3(fd, h->fd, O_CLOEXEC);
			close(fd);
			h->gen = gen;
		}
	}
	lfs_mutex_unlock(&h->lock, LFS_RANK_HANDLE);
	return h->fd;
}

int lfs_node_dup_open_fd(struct node *n)
{
	unsigned gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	lfs_tree_lock();
	int src = -1;
	for (struct fhandle *h = n->handles; h && src < 0; h = h->next)
		if (h->gen == gen)
			src = h->fd;
	for (struct fhandle *h = n->handles; h && src < 0; h = h->next)
		if (h->upfd >= 0)
			src = h->upfd;
	if (src < 0 && n->handles)
		src = n->handles->fd;
	if (src < 0)
		src = n->gone_fd;
	int fd = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 0) : -1;
	lfs_tree_unlock();
	return fd < 0 ? -ENOENT : fd;
}

void lfs_handles_copied_up(struct node *n, int dfd, const char *name)
{
	lfs_tree_lock();
	bool any = n->handles != NULL;
	lfs_tree_unlock();
	if (!any)
		return;
	int up = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (up < 0)
		return;     /* the name is still there to reopen by */
	unsigned gen = __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE);
	lfs_tree_lock();
	for (struct fhandle *h = n->handles; h; h = h->next)
		if (h->upfd < 0 && h->gen != gen)
			h->upfd = fcntl(up, F_DUPFD_CLOEXEC, 0);
	lfs_tree_unlock();
	close(up);
}

void lfs_handles_remap_locked(struct node *n, int at, int delta)
{
	for (struct fhandle *h = n->handles; h; h = h->next)
		h->branch = lfs_branch_remap(h->branch, at, delta);
}

bool lfs_handles_on_branch_locked(struct node *n, int b)
{
	for (struct fhandle *h = n->handles; h; h = h->next)
		if (h->branch == b)
			return true;
	return false;
}

void lfs_handles_free_all(void)
{
	if (!lfs->nodes)
		return;
	struct node **v;
	size_t cnt = lfs_node_list_locked(&v);
	for (size_t i = 0; i < cnt; i++) {
		while (v[i]->handles) {
			struct fhandle *h = v[i]->handles;
			v[i]->handles = h->next;
			handle_destroy(h);
		}
	}
	free(v);
}
