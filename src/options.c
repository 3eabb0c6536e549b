/* layerfs's command line. */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* layerfs's own -o items are taken out of the command line before libfuse
 * sees it: libfuse would strip the backslashes that escape ':' in branch
 * paths. Everything else goes on to libfuse untouched. */
static int set_branch_option(struct cmdline *c, const char *value)
{
	if (c->br) {
		fprintf(stderr, "layerfs: branches given twice (br=/dirs= may appear once)\n");
		return -1;
	}
	c->br = strdup(value);
	return c->br ? 0 : -1;
}

static int set_string(char **dst, const char *value, const char *what)
{
	if (*dst) {
		fprintf(stderr, "layerfs: %s given twice\n", what);
		return -1;
	}
	*dst = strdup(value);
	return *dst ? 0 : -1;
}

/* fuse-overlayfs items that podman, buildah and docker may pass. Those that
 * change nothing for layerfs are taken silently (see layerfs(8)). */
static const char *const ignored_items[] = {
	"volatile", "static_nlink", "userxattr", "fsync=", "fast_ino=",
	"writeback=", "threaded=", "noxattrs=", "plugins=", "xattr_permissions=",
	"index=", "xino=", "nfs_export=", NULL,
};

static bool item_matches(const char *item, const char *pattern)
{
	size_t len = strlen(pattern);
	if (pattern[len - 1] == '=')
		return strncmp(item, pattern, len) == 0;
	return strcmp(item, pattern) == 0;
}

static int parse_id(const char *s, uint32_t *out, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end || v > UINT32_MAX - 1) {
		fprintf(stderr, "layerfs: bad %s '%s'\n", what, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int take_compat_item(struct cmdline *c, const char *item)
{
	for (const char *const *p = ignored_items; *p; p++)
		if (item_matches(item, *p))
			return 1;
	struct lfs_idmap *ids = &c->ids;
	if (!strcmp(item, "noacl")) {
		c->noacl = true;
		return 1;
	}
	if (!strcmp(item, "squash_to_root")) {
		ids->squash_uid = ids->squash_gid = 0;
		ids->squash = true;
		return 1;
	}
	if (!strncmp(item, "squash_to_uid=", 14)) {
		ids->squash = true;
		return parse_id(item + 14, &ids->squash_uid, "squash_to_uid") ? -1 : 1;
	}
	if (!strncmp(item, "squash_to_gid=", 14)) {
		ids->squash = true;
		return parse_id(item + 14, &ids->squash_gid, "squash_to_gid") ? -1 : 1;
	}
	if (!strncmp(item, "uidmapping=", 11) || !strncmp(item, "gidmapping=", 11)) {
		bool uid = item[0] == 'u';
		char err[256];
		if (lfs_idmap_parse(uid ? &ids->uids : &ids->gids, item + 11, err, sizeof(err))) {
			fprintf(stderr, "layerfs: %s\n", err);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* spin=USEC: 0 (never look) up to LFS_SPIN_US_MAX. */
static int take_spin(struct cmdline *c, const char *v)
{
	char *end;
	unsigned long us = strtoul(v, &end, 10);
	if (end == v || *end || *v == '-' || us > LFS_SPIN_US_MAX) {
		fprintf(stderr, "layerfs: bad spin '%s' (microseconds, 0 to %d)\n", v,
			LFS_SPIN_US_MAX);
		return -1;
	}
	c->spin_us = (unsigned)us;
	return 1;
}

/* 1 when item was one of ours (and taken), 0 when it is for libfuse,
 * -1 on error. */
static int take_own_item(struct cmdline *c, const char *item)
{
	if (!strncmp(item, "br=", 3))
		return set_branch_option(c, item + 3) ? -1 : 1;
	if (!strncmp(item, "dirs=", 5))
		return set_branch_option(c, item + 5) ? -1 : 1;
	if (!strncmp(item, "br:", 3))   /* aufs also spells it br:DIR:DIR */
		return set_branch_option(c, item + 3) ? -1 : 1;
	if (!strncmp(item, "lowerdir=", 9))
		return set_string(&c->lowerdir, item + 9, "lowerdir=") ? -1 : 1;
	if (!strncmp(item, "upperdir=", 9))
		return set_string(&c->upperdir, item + 9, "upperdir=") ? -1 : 1;
	if (!strncmp(item, "workdir=", 8))
		return set_string(&c->workdir, item + 8, "workdir=") ? -1 : 1;
	if (!strncmp(item, "timeout=", 8)) {
		char *end;
		c->timeout = strtod(item + 8, &end);
		if (end == item + 8 || *end || c->timeout < 0) {
			fprintf(stderr, "layerfs: bad timeout '%s'\n", item + 8);
			return -1;
		}
		return 1;
	}
	/* overlayfs's name; "on" and "follow" both make and follow redirects,
	 * "nofollow" and "off" make none (they are always followed). */
	if (!strncmp(item, "redirect_dir=", 13)) {
		const char *v = item + 13;
		if (!strcmp(v, "on") || !strcmp(v, "follow"))
			c->redirect_dir = 1;
		else if (!strcmp(v, "off") || !strcmp(v, "nofollow"))
			c->redirect_dir = 0;
		else {
			fprintf(stderr, "layerfs: bad redirect_dir '%s' (on or off)\n", v);
			return -1;
		}
		return 1;
	}
	/* overlayfs's name and meaning (layerfs/metacopy.h). */
	if (!strncmp(item, "metacopy=", 9)) {
		const char *v = item + 9;
		if (strcmp(v, "on") && strcmp(v, "off")) {
			fprintf(stderr, "layerfs: bad metacopy '%s' (on or off)\n", v);
			return -1;
		}
		c->metacopy = !strcmp(v, "on");
		return 1;
	}
	if (!strncmp(item, "passthrough=", 12)) {
		if (lfs_pt_parse_policy(item + 12, &c->passthrough) == 0)
			return 1;
		fprintf(stderr, "layerfs: bad passthrough '%s' (on or off)\n", item + 12);
		return -1;
	}
	if (!strncmp(item, "spin=", 5))
		return take_spin(c, item + 5);
	if (!strcmp(item, "io_uring") || !strcmp(item, "io_uring=on") ||
	    !strcmp(item, "io_uring=off")) {
		c->io_uring = strcmp(item, "io_uring=off") != 0;
		return 1;
	}
	int compat = take_compat_item(c, item);
	if (compat)
		return compat;
	if (!strncmp(item, "fsname=", 7))
		c->has_fsname = true;
	if (!strncmp(item, "max_read=", 9))
		c->max_read = (unsigned)strtoul(item + 9, NULL, 0);
	return 0;
}

/* Splits an -o value at commas not escaped by a backslash; our items are
 * taken, the rest is appended to rest (comma-separated, escapes kept). */
static int split_option_value(struct cmdline *c, const char *value, char *rest)
{
	size_t len = strlen(value);
	char *item = malloc(len + 1);
	if (!item)
		return -1;
	size_t il = 0;
	int ret = 0;
	for (size_t i = 0; i <= len && ret == 0; i++) {
		if (value[i] == '\\' && value[i + 1] == ',') {
			item[il++] = value[++i];
			continue;
		}
		if (value[i] == '\\' && value[i + 1]) {
			item[il++] = value[i++];
			item[il++] = value[i];
			continue;
		}
		if (value[i] != ',' && value[i] != '\0') {
			item[il++] = value[i];
			continue;
		}
		item[il] = '\0';
		il = 0;
		if (!item[0])
			continue;       /* empty items ("a,,b") mean nothing */
		int own = take_own_item(c, item);
		if (own < 0)
			ret = -1;
		else if (own == 0) {
			if (rest[0])
				strcat(rest, ",");
			strcat(rest, item);
		}
	}
	free(item);
	return ret;
}

/* Builds the argument list for libfuse from argv minus our -o items. */
static int extract_own_options(int argc, char *argv[], struct cmdline *c,
			       struct fuse_args *out)
{
	if (fuse_opt_add_arg(out, argv[0]))
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *value = NULL;
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			value = argv[++i];
		else if (!strncmp(argv[i], "-o", 2) && argv[i][2])
			value = argv[i] + 2;
		if (!value) {
			if (fuse_opt_add_arg(out, argv[i]))
				return -1;
			continue;
		}
		/* libfuse turns "\," into ","; ours are already split. */
		char *rest = calloc(1, strlen(value) * 2 + 2);
		if (!rest)
			return -1;
		int ret = split_option_value(c, value, rest);
		if (ret == 0 && rest[0])
			ret = fuse_opt_add_arg(out, "-o") || fuse_opt_add_arg(out, rest) ? -1 : 0;
		free(rest);
		if (ret)
			return -1;
	}
	return 0;
}

/* Non-option arguments: [SOURCE] MOUNTPOINT (mount.fuse3 passes a source). */
static int nonopt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct cmdline *c = data;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (c->nnonopt == 2) {
		fprintf(stderr, "layerfs: too many arguments: '%s'\n", arg);
		return -1;
	}
	c->nonopt[c->nnonopt++] = strdup(arg);
	return 0;
}

/* Our items out of argv, then [SOURCE] MOUNTPOINT: the mountpoint goes
 * back in last for fuse_parse_cmdline. */
int lfs_parse_own_options(int argc, char *argv[], struct cmdline *c, struct fuse_args *args)
{
	c->ids.squash_uid = c->ids.squash_gid = UINT32_MAX;
	if (extract_own_options(argc, argv, c, args) ||
	    fuse_opt_parse(args, c, NULL, nonopt_proc))
		return -1;
	if (c->nnonopt && fuse_opt_add_arg(args, c->nonopt[c->nnonopt - 1]))
		return -1;
	return 0;
}

/* Builds the branch list from whichever syntax was used. */
int lfs_branch_list_from(struct cmdline *c, struct lfs_branch_list *list)
{
	char err[512] = "";
	int ret;
	if (c->br && c->lowerdir) {
		fprintf(stderr, "layerfs: use either br= or lowerdir=, not both\n");
		return -EINVAL;
	}
	if (c->br)
		ret = lfs_parse_aufs_branches(c->br, list, err, sizeof(err));
	else if (c->lowerdir)
		ret = lfs_parse_overlay_branches(c->lowerdir, c->upperdir, list, err, sizeof(err));
	else {
		fprintf(stderr, "layerfs: no branches: give -o br=DIR[=PERM]:... or -o lowerdir=...\n");
		return -EINVAL;
	}
	if (ret == 0 && c->upperdir && !c->lowerdir)
		ret = -EINVAL, snprintf(err, sizeof(err), "upperdir= needs lowerdir=");
	if (ret == 0)
		ret = lfs_branch_list_check(list, err, sizeof(err));
	if (ret)
		fprintf(stderr, "layerfs: %s\n", err);
	return ret;
}

void lfs_cmdline_free(struct cmdline *c)
{
	free(c->br);
	free(c->lowerdir);
	free(c->upperdir);
	free(c->workdir);
	for (int i = 0; i < c->nnonopt; i++)
		free(c->nonopt[i]);
	lfs_idmap_free(&c->ids);
}

