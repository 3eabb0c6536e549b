/* Inode numbers shown to users: see ino.h. */
#include "ino.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "branch.h"

struct ino_ent {
	dev_t dev;
	ino_t ino;
	uint64_t vino;
	struct ino_ent *next;
};

/* The map: (dev, ino) of an rw object -> the number it shows. Grows as it
 * fills (every rw object looked up has an entry, most of them saying "its
 * own number", so that its xattr is read once a mount). */
#define INO_MIN_BUCKETS 4096
struct lfs_inos {
	struct ino_ent **map;
	size_t nbuckets, count;
	pthread_mutex_t lock;        /* a leaf lock */
	uint64_t next_synthetic;
};

int lfs_inos_init(void)
{
	struct lfs_inos *m = calloc(1, sizeof(*m));
	if (!m || !(m->map = calloc(INO_MIN_BUCKETS, sizeof(*m->map)))) {
		free(m);
		return -ENOMEM;
	}
	m->nbuckets = INO_MIN_BUCKETS;
	pthread_mutex_init(&m->lock, NULL);
	m->next_synthetic = 1ULL << 63;
	lfs->inos = m;
	return 0;
}

static size_t bucket_of(dev_t dev, ino_t ino, size_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)dev;
	return (size_t)(h >> 24) & (nbuckets - 1);
}

static size_t ino_bucket(dev_t dev, ino_t ino)
{
	return bucket_of(dev, ino, lfs->inos->nbuckets);
}

/* Doubles the buckets when entries outnumber them twice; no failure: a
 * map that cannot grow just gets longer chains. */
static void maybe_grow(void)
{
	struct lfs_inos *m = lfs->inos;
	if (m->count < 2 * m->nbuckets)
		return;
	size_t n = m->nbuckets * 2;
	struct ino_ent **map = calloc(n, sizeof(*map));
	if (!map)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		while (m->map[i]) {
			struct ino_ent *e = m->map[i];
			m->map[i] = e->next;
			size_t b = bucket_of(e->dev, e->ino, n);
			e->next = map[b];
			map[b] = e;
		}
	}
	free(m->map);
	m->map = map;
	m->nbuckets = n;
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
	lfs->inos->count++;
	maybe_grow();
	return 0;
}

/* The number an object shows by itself (no copy-up behind it). Caller
 * holds the map's lock. */
static uint64_t own_number(const struct stat *st)
{
	unsigned idx = lfs_dev_index(lfs, st->st_dev);
	if (idx == 0 && st->st_ino < (1ULL << 56))
		return st->st_ino;
	if (idx < 127 && st->st_ino < (1ULL << 56))
		return st->st_ino | ((uint64_t)idx << 56);
	uint64_t vino = lfs->inos->next_synthetic++;
	ino_insert(st->st_dev, st->st_ino, vino);
	return vino;
}

uint64_t lfs_ino_for(const struct stat *st)
{
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	struct ino_ent *e = ino_find(st->st_dev, st->st_ino);
	uint64_t vino = e ? e->vino : own_number(st);
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
	return vino;
}

/* The xattr a copy-up leaves on its copy: the number it shows, in hex.
 * trusted.* needs root (and is the one that works on symlinks). */
static const char *ino_xattr(void)
{
	return geteuid() == 0 ? "trusted.layerfs.ino" : "user.layerfs.ino";
}

/* The recorded value: the number in hex. Its length. */
static int ino_value(uint64_t ino, char *buf, size_t size)
{
	return snprintf(buf, size, "%llx", (unsigned long long)ino);
}

int lfs_ino_record(int dfd, const char *name, uint64_t ino)
{
	char path[64 + NAME_MAX], value[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	int len = ino_value(ino, value, sizeof(value));
	return lsetxattr(path, ino_xattr(), value, (size_t)len, 0) < 0 ? -errno : 0;
}

int lfs_ino_record_fd(int fd, uint64_t ino)
{
	char value[32];
	int len = ino_value(ino, value, sizeof(value));
	return fsetxattr(fd, ino_xattr(), value, (size_t)len, 0) < 0 ? -errno : 0;
}

uint64_t lfs_ino_for_rw(int dfd, const char *name, const struct stat *st)
{
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	struct ino_ent *e = ino_find(st->st_dev, st->st_ino);
	uint64_t vino = e ? e->vino : 0;
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
	if (e)
		return vino;
	char path[64 + NAME_MAX], value[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	ssize_t len = lgetxattr(path, ino_xattr(), value, sizeof(value) - 1);
	char *end = value;
	if (len > 0) {
		value[len] = '\0';
		vino = strtoull(value, &end, 16);
	}
	lfs_mutex_lock(&lfs->inos->lock, LFS_RANK_LEAF);
	if (len <= 0 || *end || vino == 0)
		vino = own_number(st);
	/* Remembered either way: its xattr is read once a mount. */
	if (!ino_find(st->st_dev, st->st_ino))
		ino_insert(st->st_dev, st->st_ino, vino);
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
			lfs->inos->count--;
			break;
		}
	}
	lfs_mutex_unlock(&lfs->inos->lock, LFS_RANK_LEAF);
}

void lfs_inos_free(void)
{
	if (!lfs->inos)
		return;
	for (size_t i = 0; i < lfs->inos->nbuckets; i++) {
		while (lfs->inos->map[i]) {
			struct ino_ent *e = lfs->inos->map[i];
			lfs->inos->map[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&lfs->inos->lock);
	free(lfs->inos->map);
	free(lfs->inos);
	lfs->inos = NULL;
}
