/* ID mapping of fuse-overlayfs's uidmapping=/gidmapping= ("INSIDE:OUTSIDE:
 * COUNT[:INSIDE:OUTSIDE:COUNT...]"): files keep OUTSIDE ids on disk, users
 * of the mount see INSIDE ids. squash_to_* only changes what is shown. */
#include "idmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVERFLOW_ID 65534

int lfs_idmap_parse(struct lfs_idranges *r, const char *spec, char *err, size_t errsz)
{
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return -ENOMEM;
	uint32_t v[3];
	int k = 0, ret = 0;
	for (char *tok = strtok_r(copy, ":", &save); tok && ret == 0; tok = strtok_r(NULL, ":", &save)) {
		char *end;
		unsigned long x = strtoul(tok, &end, 10);
		if (end == tok || *end || x > UINT32_MAX) {
			snprintf(err, errsz, "bad id mapping '%s': '%s' is not a number", spec, tok);
			ret = -EINVAL;
			break;
		}
		v[k++] = (uint32_t)x;
		if (k < 3)
			continue;
		k = 0;
		struct lfs_idrange *n = realloc(r->v, (r->n + 1) * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		r->v = n;
		r->v[r->n++] = (struct lfs_idrange){ .inside = v[0], .outside = v[1], .count = v[2] };
	}
	if (ret == 0 && (k != 0 || r->n == 0)) {
		snprintf(err, errsz, "bad id mapping '%s': want INSIDE:OUTSIDE:COUNT triples", spec);
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

uint32_t lfs_id_shown(const struct lfs_idranges *r, uint32_t disk)
{
	if (!r->n)
		return disk;
	for (size_t i = 0; i < r->n; i++)
		if (disk >= r->v[i].outside && disk - r->v[i].outside < r->v[i].count)
			return r->v[i].inside + (disk - r->v[i].outside);
	return OVERFLOW_ID;
}

uint32_t lfs_id_on_disk(const struct lfs_idranges *r, uint32_t shown)
{
	if (!r->n)
		return shown;
	for (size_t i = 0; i < r->n; i++)
		if (shown >= r->v[i].inside && shown - r->v[i].inside < r->v[i].count)
			return r->v[i].outside + (shown - r->v[i].inside);
	return UINT32_MAX;
}

void lfs_idmap_show(const struct lfs_idmap *m, struct stat *st)
{
	st->st_uid = lfs_id_shown(&m->uids, st->st_uid);
	st->st_gid = lfs_id_shown(&m->gids, st->st_gid);
	if (m->squash_uid != UINT32_MAX)
		st->st_uid = m->squash_uid;
	if (m->squash_gid != UINT32_MAX)
		st->st_gid = m->squash_gid;
}

void lfs_idmap_free(struct lfs_idmap *m)
{
	free(m->uids.v);
	free(m->gids.v);
	m->uids = m->gids = (struct lfs_idranges){ 0 };
}
