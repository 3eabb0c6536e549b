/* An fd shared by its keeper and the requests that use it for a while:
 * each holds a reference, the last to let go closes it. A request thus
 * uses a directory fd a node keeps without dup'ing it (two system calls
 * saved per operation), and the node may drop it meanwhile. */
#ifndef LAYERFS_SHAREDFD_H
#define LAYERFS_SHAREDFD_H

#include <stdlib.h>
#include <unistd.h>

struct lfs_sharedfd {
	int fd;
	unsigned refs;
};

/* A new shared fd with one reference (the keeper's); takes fd. NULL when
 * out of memory (fd is then still the caller's). */
static inline struct lfs_sharedfd *lfs_sharedfd_new(int fd)
{
	struct lfs_sharedfd *s = malloc(sizeof(*s));
	if (s) {
		s->fd = fd;
		s->refs = 1;
	}
	return s;
}

/* One more reference; the caller must hold one or the keeper's lock. */
static inline struct lfs_sharedfd *lfs_sharedfd_get(struct lfs_sharedfd *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

static inline void lfs_sharedfd_put(struct lfs_sharedfd *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		close(s->fd);
		free(s);
	}
}

#endif
