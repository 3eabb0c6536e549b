/* Inode numbers shown to users: see ino.h. */
#include "ino.h"

#include <errno.h>
#include <stdlib.h>

#include "branch.h"

struct ino_ent {
	dev_t dev;
	ino_t ino;
	uint64_t vino;
	struct ino_ent *next;
};

#define INO_BUCKETS 4096
struct lfs_inos {
	struct ino_ent *map[INO_BUCKETS];
	pthread_mutex_t lock;        /* a leaf lock */
	uint64_t next_synthetic;
};

int lfs_inos_init(void)
{
	struct lfs_inos *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->next_synthetic = 1ULL << 63;
	lfs->inos = m;
	return 0;
}

static size_t ino_bucket(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)dev;
	return (size_t)(h >> 40) % INO_BUCKETS;
}

static struct ino_ent *ino_find(dev_t dev, ino_t ino)
{
	for (struct ino_ent *e = lfs->inos->map[ino_bucket(dev, ino)]; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e;
	return NULL;
}

static int ino_insert(dev_t dev, ino_t ino, uint64_t vino)
{
	struct ino_ent *e = ino_find(dev, ino);
	if (e) {
		e->vino = vino;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	size_t b = ino_bucket(dev, ino);
	*e = (struct ino_ent){ dev, ino, vino, lfs->inos->map[b] };
	lfs->inos->map[b] = e;
	return 0;
}

uint64_t lfs_ino_for(const struct stat *st)
{
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	uint64_t vino;
	struct ino_ent *e = ino_find(st->st_dev, st->st_ino);
	if (e) {
		vino = e->vino;
	} else {
		unsigned idx = lfs_dev_index(lfs, st->st_dev);
		if (idx == 0 && st->st_ino < (1ULL << 56))
			vino = st->st_ino;
		else if (idx < 127 && st->st_ino < (1ULL << 56))
			vino = st->st_ino | ((uint64_t)idx << 56);
		else {
			vino = lfs->inos->next_synthetic++;
			ino_insert(st->st_dev, st->st_ino, vino);
		}
	}
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
	return vino;
}

int lfs_ino_remember(const struct stat *upper, uint64_t ino)
{
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	int ret = ino_insert(upper->st_dev, upper->st_ino, ino);
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
	return ret;
}

void lfs_ino_forget(const struct stat *upper)
{
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	for (struct ino_ent **p = &lfs->inos->map[ino_bucket(upper->st_dev, upper->st_ino)]; *p;
	     p = &(*p)->next) {
		struct ino_ent *e = *p;
		if (e->dev == upper->st_dev && e->ino == upper->st_ino) {
			*p = e->next;
			free(e);
			break;
		}
	}
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
}

void lfs_inos_free(void)
{
	if (!lfs->inos)
		return;
	for (size_t i = 0; i < INO_BUCKETS; i++) {
		while (lfs->inos->map[i]) {
			struct ino_ent *e = lfs->inos->map[i];
			lfs->inos->map[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&lfs->inos->lock);
	free(lfs->inos);
	lfs->inos = NULL;
}
