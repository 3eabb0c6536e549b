/* /proc/self/mountinfo, parsed. See proc(5):
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   id parent maj:min root mountpoint options [optional fields...] - fstype source super-options */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/pathutil.h"
#include "mountinfo.h"

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *w = out;
	if (!out)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*w++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return out;
}

/* The next space-separated field of *p: its start and length. */
static bool next_field(const char **p, const char **start, size_t *len)
{
	const char *s = *p;
	while (*s == ' ')
		s++;
	size_t n = strcspn(s, " \n");
	if (n == 0)
		return false;
	*start = s;
	*len = n;
	*p = s + n;
	return true;
}

int mountinfo_parse_line(const char *line, struct mi_entry *e)
{
	memset(e, 0, sizeof(*e));
	const char *p = line, *f[6];
	size_t len[6];
	for (int i = 0; i < 6; i++)
		if (!next_field(&p, &f[i], &len[i]))
			return -1;
	char *end;
	e->id = (int)strtol(f[0], &end, 10);
	if (end != f[0] + len[0])
		return -1;
	e->parent = (int)strtol(f[1], &end, 10);
	if (end != f[1] + len[1])
		return -1;
	const char *opt;
	size_t olen;
	bool dash = false;
	while (!dash && next_field(&p, &opt, &olen)) {
		if (olen == 1 && opt[0] == '-')
			dash = true;
		else if (olen > 7 && !strncmp(opt, "shared:", 7))
			e->shared = atoi(opt + 7);
		else if (olen > 7 && !strncmp(opt, "master:", 7))
			e->master = atoi(opt + 7);
	}
	const char *fs, *src;
	size_t fslen, srclen;
	if (!dash || !next_field(&p, &fs, &fslen) || !next_field(&p, &src, &srclen))
		return -1;
	e->root = unescape(f[3], len[3]);
	e->mountpoint = unescape(f[4], len[4]);
	e->options = unescape(f[5], len[5]);
	e->fstype = unescape(fs, fslen);
	e->source = unescape(src, srclen);
	return 0;
}

void mountinfo_entry_free(struct mi_entry *e)
{
	free(e->root);
	free(e->mountpoint);
	free(e->options);
	free(e->fstype);
	free(e->source);
	memset(e, 0, sizeof(*e));
}

int mountinfo_read(struct mi_table *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path ? path : "/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	while (getline(&line, &cap, f) > 0) {
		if (t->n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			t->v = realloc(t->v, alloc * sizeof(*t->v));
			if (!t->v)
				abort();
		}
		if (mountinfo_parse_line(line, &t->v[t->n]) == 0)
			t->n++;
	}
	free(line);
	fclose(f);
	return 0;
}

void mountinfo_free(struct mi_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		mountinfo_entry_free(&t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct mi_entry *mountinfo_top_at(const struct mi_table *t, const char *mnt)
{
	/* Stacked mounts: each one's parent is the one below it. */
	const struct mi_entry *top = NULL;
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].mountpoint, mnt) != 0)
			continue;
		if (!top || t->v[i].parent == top->id)
			top = &t->v[i];
	}
	return top;
}

const struct mi_entry *mountinfo_holder(const struct mi_table *t, const char *path)
{
	const char *best = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const char *mp = t->v[i].mountpoint;
		if (mp[0] == '/' && lfs_path_is_beneath(mp, path) && (!best || strlen(mp) > strlen(best)))
			best = mp;
	}
	return best ? mountinfo_top_at(t, best) : NULL;
}

bool mountinfo_has_children(const struct mi_table *t, const struct mi_entry *e)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].parent == e->id && &t->v[i] != e)
			return true;
	return false;
}

bool mountinfo_any_below(const struct mi_table *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++) {
		const char *mp = t->v[i].mountpoint;
		if (mp[0] == '/' && strcmp(mp, path) != 0 && lfs_path_is_beneath(path, mp))
			return true;
	}
	return false;
}
