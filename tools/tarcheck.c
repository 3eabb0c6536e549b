/* The acceptance rules for tar entries: see tarcheck.h. */
#include "tarcheck.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

static bool type_allowed(mode_t type)
{
	switch (type) {
	case S_IFREG: case S_IFDIR: case S_IFLNK:
	case S_IFIFO: case S_IFCHR: case S_IFBLK:
		return true;
	default:
		return false;
	}
}

static enum tc_verdict verdict(struct tc_result *res, enum tc_verdict v, const char *why)
{
	res->reason = why;
	return v;
}

/* A last component ".wh.NAME" longer than NAME_MAX is a whiteout of a
 * long name (layerfs/longwh.h): the one entry a layer may hold that no
 * filesystem could. Its length, or 0. */
static size_t long_whiteout_leaf(const char *in)
{
	size_t len = strlen(in);
	while (len > 0 && in[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && in[start - 1] != '/')
		start--;
	size_t leaf = len - start;
	if (leaf <= NAME_MAX || leaf > NAME_MAX + LFS_WH_PREFIX_LEN ||
	    strncmp(in + start, LFS_WH_PREFIX, LFS_WH_PREFIX_LEN) != 0)
		return 0;
	return leaf;
}

/* Normalises a path from the archive into out; reason on failure. */
static const char *normalize(const char *in, char *out, size_t outsz)
{
	if (in == NULL || in[0] == '\0')
		return "empty name";
	if (in[0] == '/')
		return "absolute path";
	int rc = lfs_path_normalize(in, out, outsz);
	size_t leaf = rc == -ENAMETOOLONG ? long_whiteout_leaf(in) : 0;
	if (leaf) {
		/* The directory part on its own, then the long leaf after it. */
		size_t len = strlen(in);
		while (in[len - 1] == '/')
			len--;
		char dir[PATH_MAX];
		size_t dlen = len - leaf;
		if (dlen >= sizeof(dir))
			return "name too long";
		memcpy(dir, in, dlen);
		dir[dlen] = '\0';
		rc = dlen ? lfs_path_normalize(dir, out, outsz) : 0;
		if (rc == 0 && !dlen && outsz > 1)
			strcpy(out, ".");
		size_t used = strlen(out);
		bool root = strcmp(out, ".") == 0;
		if (rc == 0 && (root ? 0 : used + 1) + leaf + 1 > outsz)
			rc = -ENAMETOOLONG;
		if (rc == 0) {
			if (root)
				used = 0;
			else
				out[used++] = '/';
			memcpy(out + used, in + len - leaf, leaf);
			out[used + leaf] = '\0';
		}
	}
	if (rc == -EINVAL)
		return "path with a '..' component";
	if (rc != 0)
		return "name too long";
	return NULL;
}

/* Looks at every directory component (all but the last): a whiteout cannot
 * have children, and anything inside aufs metadata is skipped. */
static enum tc_verdict check_dirs(struct tc_result *res, const char *path)
{
	char comp[NAME_MAX + 1];
	const char *p = path;
	const char *slash;
	while ((slash = strchr(p, '/')) != NULL) {
		size_t len = (size_t)(slash - p);
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (lfs_is_meta_name(comp))
			return verdict(res, TC_SKIP, "inside aufs metadata (.wh..wh.*): skipped");
		if (lfs_is_marker_name(comp))
			return verdict(res, TC_REJECT, "entry below a whiteout");
		p = slash + 1;
	}
	return TC_ACCEPT;
}

static const char *last_component(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The final component when it is a marker: whiteout, opaque or metadata. */
static enum tc_verdict check_marker(struct tc_result *res, const char *leaf, mode_t type)
{
	if (lfs_is_opaque_name(leaf))
		res->kind = TC_OPAQUE;
	else if (lfs_is_meta_name(leaf))
		return verdict(res, TC_SKIP, "aufs metadata (.wh..wh.*): skipped");
	else if (lfs_whiteout_target(leaf) != NULL)
		res->kind = TC_WHITEOUT;
	else
		return verdict(res, TC_REJECT, "whiteout of an invalid name");
	if (type != S_IFREG)
		return verdict(res, TC_REJECT, "whiteout that is not a file");
	return TC_ACCEPT;
}

static enum tc_verdict check_hardlink(struct tc_result *res, const char *target)
{
	const char *why = normalize(target, res->link, sizeof(res->link));
	if (why != NULL)
		return verdict(res, TC_REJECT, strcmp(why, "absolute path") == 0
				   ? "hardlink to an absolute path"
				   : "hardlink target outside the layer");
	if (strcmp(res->link, ".") == 0)
		return verdict(res, TC_REJECT, "hardlink to the layer's root");
	struct tc_result tmp;
	if (check_dirs(&tmp, res->link) != TC_ACCEPT ||
	    lfs_is_meta_name(last_component(res->link)))
		return verdict(res, TC_REJECT, "hardlink into aufs metadata");
	return TC_ACCEPT;
}

enum tc_verdict tarcheck_entry(const char *path, mode_t type, const char *hardlink,
			       struct tc_result *res)
{
	res->kind = TC_PLAIN;
	res->path[0] = res->link[0] = '\0';
	res->reason = NULL;
	const char *why = normalize(path, res->path, sizeof(res->path));
	if (why != NULL)
		return verdict(res, TC_REJECT, why);
	if (hardlink != NULL)
		type = S_IFREG;
	if (type == 0)
		type = S_IFREG;
	if (!type_allowed(type))
		return verdict(res, TC_REJECT, "entry type not allowed (socket or unknown)");
	if (strcmp(res->path, ".") == 0)
		return type == S_IFDIR && hardlink == NULL
		       ? TC_ACCEPT
		       : verdict(res, TC_REJECT, "the layer's root must be a directory");
	enum tc_verdict v = check_dirs(res, res->path);
	if (v != TC_ACCEPT)
		return v;
	const char *leaf = last_component(res->path);
	if (lfs_is_marker_name(leaf)) {
		v = check_marker(res, leaf, type);
		if (v != TC_ACCEPT)
			return v;
	}
	/* A whiteout hardlinked to aufs's base file is made as a plain empty
	 * file: its target is never looked at. */
	if (hardlink != NULL && res->kind == TC_PLAIN)
		return check_hardlink(res, hardlink);
	return TC_ACCEPT;
}
