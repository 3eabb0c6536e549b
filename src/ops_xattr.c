/* FUSE operations on extended attributes. Changing one copies the object
 * up first. Names layerfs might keep for itself are hidden and refused. */
#include "ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "copyup.h"
#include "killpriv.h"
#include "node.h"
#include "objref.h"
#include "layerfs/whiteout.h"

/* uidmapping=/gidmapping=: ACL entries name ids that need mapping too. */
static bool has_idmap(void)
{
	return lfs->ids.uids.n || lfs->ids.gids.n;
}

static int locate_path(struct node *n, struct objref *o, char *path, size_t size)
{
	int ret = lfs_obj_locate(n, o);
	if (ret == 0)
		lfs_obj_procpath(o, path, size);
	return ret;
}

static void reply_value(fuse_req_t req, ssize_t len, const char *buf, size_t size, int err)
{
	if (len < 0)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
}

static void set_known_bare(struct node *n, bool bare)
{
	lfs_tree_lock();
	n->no_xattrs = bare;
	lfs_tree_unlock();
}

/* Whether the kernel runs SELinux: it registers selinuxfs only then. */
static bool selinux_on;
static pthread_once_t selinux_once = PTHREAD_ONCE_INIT;

static void find_selinux(void)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[128];
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "\tselinuxfs\n"))
			selinux_on = true;
	if (f)
		fclose(f);
}

/* The answer for an xattr the object lacks. ls -l (through libselinux)
 * asks security.selinux of every file, a round trip FUSE cannot cache;
 * on a host without SELinux that name means nothing to the kernel, and
 * "not supported" makes ls stop asking for the rest of the filesystem. An
 * object that carries one still shows it. */
static int missing_errno(const char *name)
{
	if (strcmp(name, "security.selinux") != 0)
		return ENODATA;
	pthread_once(&selinux_once, find_selinux);
	return selinux_on ? ENODATA : EOPNOTSUPP;
}

void lfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct node *n = lfs_node(ino);
	lfs_dbg("getxattr %s", name);   /* which ones the kernel asks (tests count them) */
	if (lfs_is_internal_xattr(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (lfs_node_known_bare(n)) {
		fuse_reply_err(req, missing_errno(name));
		return;
	}
	struct objref o;
	char path[PATH_MAX + 64];
	int ret = locate_path(n, &o, path, sizeof(path));
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	char *buf = size ? malloc(size) : NULL;
	ssize_t len = size && !buf ? (errno = ENOMEM, -1) : lgetxattr(path, name, buf, size);
	int err = errno;
	/* A miss on an object with no xattrs at all: remember, the next
	 * question (ls -l asks two per file) needs no trip to the branch. */
	if (len < 0 && err == ENODATA && llistxattr(path, NULL, 0) == 0)
		set_known_bare(n, true);
	lfs_obj_release(&o);
	if (len < 0 && err == ENODATA)
		err = missing_errno(name);
	if (lfs_acl_is_xattr(name)) {
		/* A branch without ACLs has none: the kernel, which asks for
		 * them before permission checks, must not see an error. */
		if (len < 0 && (err == EOPNOTSUPP || err == ENOTSUP))
			err = ENODATA;
		if (len > 0 && buf && has_idmap() && lfs_acl_map_ids(buf, (size_t)len, false))
			len = -1, err = EIO;
	}
	reply_value(req, len, buf, size, err);
	free(buf);
}

/* Drops internal names from a NUL-separated list in place. */
static size_t filter_list(char *list, size_t len)
{
	size_t out = 0;
	for (size_t i = 0; i < len;) {
		size_t l = strlen(list + i) + 1;
		if (!lfs_is_internal_xattr(list + i)) {
			memmove(list + out, list + i, l);
			out += l;
		}
		i += l;
	}
	return out;
}

void lfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (lfs_node_known_bare(lfs_node(ino))) {
		if (size)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_xattr(req, 0);
		return;
	}
	struct objref o;
	char path[PATH_MAX + 64];
	int ret = locate_path(lfs_node(ino), &o, path, sizeof(path));
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* Read the whole list even for a size query: hidden names must not
	 * count in the size we report. */
	ssize_t len = llistxattr(path, NULL, 0);
	char *buf = len > 0 ? malloc((size_t)len) : NULL;
	if (len > 0 && buf)
		len = llistxattr(path, buf, (size_t)len);
	int err = len > 0 && !buf ? ENOMEM : errno;
	lfs_obj_release(&o);
	if (len > 0 && buf)
		len = (ssize_t)filter_list(buf, (size_t)len);
	if (len >= 0 && size && (size_t)len > size) {
		len = -1;
		err = ERANGE;
	}
	reply_value(req, len, buf, size, err);
	free(buf);
}

static int change_xattr(fuse_req_t req, struct node *n, const char *name, const char *value,
			size_t size, int flags, bool remove)
{
	if (lfs_is_internal_xattr(name))
		return -EPERM;
	struct objref o;
	char path[PATH_MAX + 64];
	/* Removing what a lower object lacks changes nothing: no copy-up
	 * (as on overlayfs). */
	if (remove && lfs->has_rw && !lfs_node_is_upper(n) &&
	    locate_path(n, &o, path, sizeof(path)) == 0) {
		int missing = lgetxattr(path, name, NULL, 0) < 0 ? -errno : 0;
		lfs_obj_release(&o);
		if (missing)
			return missing;
	}
	int ret = lfs->has_rw ? lfs_copyup_meta(n) : -EROFS;
	if (ret == 0)
		ret = locate_path(n, &o, path, sizeof(path));
	if (ret)
		return ret;
	set_known_bare(n, false);
	char *mapped = NULL;
	if (!remove && lfs_acl_is_xattr(name) && has_idmap()) {
		mapped = malloc(size ? size : 1);
		if (!mapped) {
			lfs_obj_release(&o);
			return -ENOMEM;
		}
		memcpy(mapped, value, size);
		if (lfs_acl_map_ids(mapped, size, true)) {
			free(mapped);
			lfs_obj_release(&o);
			return -EINVAL;
		}
		value = mapped;
	}
	int rc = remove ? lremovexattr(path, name) : lsetxattr(path, name, value, size, flags);
	ret = rc < 0 ? -errno : 0;
	if (ret == 0 && !remove && strcmp(name, LFS_ACL_ACCESS) == 0)
		ret = lfs_killpriv_after_acl_at(req, o.dfd, o.name);
	free(mapped);
	lfs_obj_release(&o);
	return ret;
}

void lfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, -change_xattr(req, lfs_node(ino), name, value, size, flags, false));
}

void lfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -change_xattr(req, lfs_node(ino), name, NULL, 0, 0, true));
}
