/* Open directory streams: see dirstream.h. */
#include "dirstream.h"

#include <errno.h>
#include <stdlib.h>

struct lfs_dirstreams {
	struct dirstream open;       /* sentinel of the list of open streams */
	pthread_mutex_t lock;        /* a leaf lock */
};

int lfs_dirstreams_init(void)
{
	struct lfs_dirstreams *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->open.prev = s->open.next = &s->open;
	pthread_mutex_init(&s->lock, NULL);
	lfs->dirstreams = s;
	return 0;
}

static void track(struct dirstream *d, bool add)
{
	struct lfs_dirstreams *s = lfs->dirstreams;
	lfs_mutex_lock(&s->lock, LFS_RANK_LEAF);
	if (add) {
		d->next = &s->open;
		d->prev = s->open.prev;
		s->open.prev->next = d;
		s->open.prev = d;
	} else {
		d->prev->next = d->next;
		d->next->prev = d->prev;
	}
	lfs_mutex_unlock(&s->lock, LFS_RANK_LEAF);
}

struct dirstream *lfs_dirstream_new(void)
{
	struct dirstream *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	track(d, true);
	return d;
}

void lfs_dirstream_free(struct dirstream *d)
{
	track(d, false);
	lfs_dirlist_free(&d->list);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int lfs_dirstream_lock_listing(struct dirstream *d, struct node *dir, off_t off)
{
	lfs_mutex_lock(&d->lock, LFS_RANK_DIRSTREAM);
	int ret = 0;
	if (off == 0 || !d->loaded) {
		lfs_dirlist_free(&d->list);
		ret = lfs_dir_merge(dir, &d->list, false);
		d->loaded = ret == 0;
	}
	if (ret)
		lfs_mutex_unlock(&d->lock, LFS_RANK_DIRSTREAM);
	return ret;
}

void lfs_dirstream_unlock(struct dirstream *d)
{
	lfs_mutex_unlock(&d->lock, LFS_RANK_DIRSTREAM);
}

void lfs_dirstreams_free_all(void)
{
	struct lfs_dirstreams *s = lfs->dirstreams;
	if (!s)
		return;
	while (s->open.next != &s->open)
		lfs_dirstream_free(s->open.next);
	pthread_mutex_destroy(&s->lock);
	free(s);
	lfs->dirstreams = NULL;
}
