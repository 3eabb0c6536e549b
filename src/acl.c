/* POSIX ACLs: see acl.h. */
#include "acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "lfs.h"

#define ACL_VERSION 2
#define TAG_USER_OBJ 0x01
#define TAG_USER 0x02
#define TAG_GROUP_OBJ 0x04
#define TAG_GROUP 0x08
#define TAG_MASK 0x10
#define TAG_OTHER 0x20
#define HEADER_SIZE 4
#define ENTRY_SIZE 8

/* The xattr form is little-endian; so is every machine layerfs runs on,
 * but spell the byte order out rather than assume it. */
static uint16_t get16(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint16_t)(u[0] | u[1] << 8);
}

static uint32_t get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static void put16(char *p, uint16_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)(v >> 8);
}

static void put32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)((v >> (8 * i)) & 0xff);
}

/* The number of entries, or -EINVAL. */
static int entries(const char *acl, size_t len)
{
	if (len < HEADER_SIZE || (len - HEADER_SIZE) % ENTRY_SIZE || get32(acl) != ACL_VERSION)
		return -EINVAL;
	return (int)((len - HEADER_SIZE) / ENTRY_SIZE);
}

bool lfs_acl_is_xattr(const char *name)
{
	return strcmp(name, LFS_ACL_ACCESS) == 0 || strcmp(name, LFS_ACL_DEFAULT) == 0;
}

int lfs_acl_create_masq(char *acl, size_t len, mode_t *mode)
{
	int n = entries(acl, len);
	if (n < 0)
		return n;
	mode_t m = *mode & 0777;
	bool extended = false;
	char *group_obj = NULL, *mask = NULL;
	for (int i = 0; i < n; i++) {
		char *e = acl + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
		uint16_t perm = get16(e + 2) & 7;
		switch (get16(e)) {
		case TAG_USER_OBJ:
			perm &= (m >> 6) & 7;
			put16(e + 2, perm);
			m &= (mode_t)(perm << 6) | ~(mode_t)0700;
			break;
		case TAG_USER:
		case TAG_GROUP:
			extended = true;
			break;
		case TAG_GROUP_OBJ:
			group_obj = e;
			break;
		case TAG_OTHER:
			perm &= m & 7;
			put16(e + 2, perm);
			m &= perm | ~(mode_t)07;
			break;
		case TAG_MASK:
			mask = e;
			extended = true;
			break;
		default:
			return -EINVAL;
		}
	}
	/* The group class: the mask when there is one, else the owning group. */
	char *gc = mask ? mask : group_obj;
	if (!gc)
		return -EINVAL;
	uint16_t perm = get16(gc + 2) & ((m >> 3) & 7);
	put16(gc + 2, perm);
	m &= (mode_t)(perm << 3) | ~(mode_t)070;
	*mode = (*mode & ~(mode_t)0777) | m;
	return extended ? 1 : 0;
}

int lfs_acl_map_ids(char *acl, size_t len, bool to_disk)
{
	int n = entries(acl, len);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		char *e = acl + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
		uint16_t tag = get16(e);
		if (tag != TAG_USER && tag != TAG_GROUP)
			continue;
		const struct lfs_idranges *r = tag == TAG_USER ? &lfs->ids.uids : &lfs->ids.gids;
		uint32_t id = get32(e + 4);
		uint32_t out = to_disk ? lfs_id_on_disk(r, id) : lfs_id_shown(r, id);
		if (out == UINT32_MAX)
			return -EOVERFLOW;
		put32(e + 4, out);
	}
	return 0;
}

/* The default ACL of directory fd (malloc'ed), or NULL with *len 0. */
static int read_default(int dfd, char **out, size_t *len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	*out = NULL;
	*len = 0;
	for (;;) {
		ssize_t size = getxattr(path, LFS_ACL_DEFAULT, NULL, 0);
		if (size < 0)
			return (errno == ENODATA || errno == EOPNOTSUPP) ? 0 : -errno;
		char *buf = malloc(size ? (size_t)size : 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = getxattr(path, LFS_ACL_DEFAULT, buf, (size_t)size);
		if (got >= 0) {
			*out = buf;
			*len = (size_t)got;
			return 0;
		}
		free(buf);
		if (errno != ERANGE)
			return (errno == ENODATA) ? 0 : -errno;
	}
}

int lfs_acl_for_new(int pdfd, mode_t type, mode_t mode, mode_t umask, struct lfs_acl_new *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = mode;
	if (!lfs->posix_acl || S_ISLNK(type))
		return 0;
	char *dflt;
	size_t len;
	int ret = read_default(pdfd, &dflt, &len);
	if (ret)
		return ret;
	if (!dflt) {
		out->mode = mode & ~(umask & 0777);
		return 0;
	}
	char *access = malloc(len);
	if (!access) {
		free(dflt);
		return -ENOMEM;
	}
	memcpy(access, dflt, len);
	ret = lfs_acl_create_masq(access, len, &out->mode);
	if (ret < 0) {
		/* A default ACL the kernel would refuse to read: as if none. */
		free(access);
		free(dflt);
		out->mode = mode & ~(umask & 0777);
		return 0;
	}
	if (ret == 1) {
		out->access = access;
		out->access_len = len;
	} else {
		free(access);
	}
	if (S_ISDIR(type)) {
		out->dflt = dflt;
		out->dflt_len = len;
	} else {
		free(dflt);
	}
	return 0;
}

int lfs_acl_apply(int dfd, const char *name, const struct lfs_acl_new *a)
{
	if (!a->access && !a->dflt)
		return 0;
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	if (a->access && lsetxattr(path, LFS_ACL_ACCESS, a->access, a->access_len, 0) < 0)
		return -errno;
	if (a->dflt && lsetxattr(path, LFS_ACL_DEFAULT, a->dflt, a->dflt_len, 0) < 0)
		return -errno;
	return 0;
}

void lfs_acl_new_free(struct lfs_acl_new *a)
{
	free(a->access);
	free(a->dflt);
	a->access = a->dflt = NULL;
}
