/* fuse-overlayfs's uidmapping=/gidmapping= and squash_to_*: the ids users
 * of the mount see and the ids files keep on disk (idmap.c). */
#ifndef LAYERFS_IDMAP_H
#define LAYERFS_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct lfs_idrange {
	uint32_t inside, outside, count;
};
struct lfs_idranges {
	struct lfs_idrange *v;
	size_t n;
};
struct lfs_idmap {
	bool squash;
	uint32_t squash_uid, squash_gid;   /* UINT32_MAX: not squashed */
	struct lfs_idranges uids, gids;
};

/* Parses "INSIDE:OUTSIDE:COUNT[:...]" into r; -errno with a reason in err. */
int lfs_idmap_parse(struct lfs_idranges *r, const char *spec, char *err, size_t errsz);
uint32_t lfs_id_shown(const struct lfs_idranges *r, uint32_t disk);
/* UINT32_MAX when the id has no mapping. */
uint32_t lfs_id_on_disk(const struct lfs_idranges *r, uint32_t shown);
/* Turns the owner of st from disk ids into the ids shown. */
void lfs_idmap_show(const struct lfs_idmap *m, struct stat *st);
void lfs_idmap_free(struct lfs_idmap *m);

#endif
