/* aufs whiteout naming: see include/layerfs/whiteout.h for the rules. */
#include "layerfs/whiteout.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix, size_t prefix_len)
{
	return s != NULL && strncmp(s, prefix, prefix_len) == 0;
}

/* A name that could appear as one directory entry; the length limit is left
 * to the callers, which know how much room they have. */
static bool is_single_component(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strchr(name, '/') == NULL;
}

bool lfs_is_internal_xattr(const char *name)
{
	return has_prefix(name, "trusted.layerfs.", 16) || has_prefix(name, "user.layerfs.", 13);
}

bool lfs_is_marker_name(const char *name)
{
	return has_prefix(name, LFS_WH_PREFIX, LFS_WH_PREFIX_LEN);
}

bool lfs_is_meta_name(const char *name)
{
	return has_prefix(name, LFS_WH_META_PREFIX, LFS_WH_META_PREFIX_LEN);
}

bool lfs_is_opaque_name(const char *name)
{
	return name != NULL && strcmp(name, LFS_WH_OPAQUE) == 0;
}

/* ".wh.", ".wh.." and ".wh..." would hide "", "." and "..": such entries can
 * only come from a damaged or hostile layer, so they hide nothing. */
const char *lfs_whiteout_target(const char *name)
{
	if (!lfs_is_marker_name(name) || lfs_is_meta_name(name))
		return NULL;
	const char *target = name + LFS_WH_PREFIX_LEN;
	return is_single_component(target) ? target : NULL;
}

int lfs_whiteout_name(const char *name, char *buf, size_t bufsz)
{
	if (buf != NULL && bufsz > 0)
		buf[0] = '\0';
	if (name == NULL || !is_single_component(name) || lfs_is_marker_name(name))
		return -EINVAL;

	/* strnlen: a huge NAME need not be measured to the end. */
	size_t name_len = strnlen(name, NAME_MAX + 1);
	size_t wh_len = LFS_WH_PREFIX_LEN + name_len;
	if (wh_len > NAME_MAX || buf == NULL || wh_len >= bufsz)
		return -ENAMETOOLONG;

	memcpy(buf, LFS_WH_PREFIX, LFS_WH_PREFIX_LEN);
	memcpy(buf + LFS_WH_PREFIX_LEN, name, name_len + 1);
	return 0;
}
