/* Dropping privileges of changed files: see killpriv.h. */
#include "killpriv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "devio.h"

bool lfs_killpriv_on(void)
{
	return lfs_devio_granted() & LFS_INIT_KILLPRIV_V2;
}

mode_t lfs_killpriv_mode(mode_t mode, bool caller_in_group)
{
	if (!S_ISREG(mode))
		return mode;
	mode &= ~(mode_t)S_ISUID;
	/* setgid without group-exec marks mandatory locking: it stays for
	 * the file's own group (setattr_should_drop_sgid()). */
	if ((mode & S_IXGRP) || !caller_in_group)
		mode &= ~(mode_t)S_ISGID;
	return mode;
}

/* Whether the caller of req is in group gid (its fsgid or a supplementary
 * group; the list is read only for a setgid file without group-exec). */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	if (lfs_id_on_disk(&lfs->ids.gids, ctx->gid) == gid)
		return true;
	gid_t groups[64];
	int n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (lfs_id_on_disk(&lfs->ids.gids, groups[i]) == gid)
			return true;
	return false;
}

/* The mode st should have after a kill by req (st_mode when unchanged). */
static mode_t mode_after_kill(fuse_req_t req, const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || !(st->st_mode & (S_ISUID | S_ISGID)))
		return st->st_mode;
	/* Membership matters only for setgid without group-exec. */
	bool in_group = (st->st_mode & (S_ISGID | S_IXGRP)) == S_ISGID
			? caller_in_group(req, st->st_gid) : true;
	return lfs_killpriv_mode(st->st_mode, in_group);
}

int lfs_killpriv_after_change(fuse_req_t req, int fd, bool *changed)
{
	*changed = false;
	if (!lfs_devio_req_kill_suidgid())
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	mode_t mode = mode_after_kill(req, &st);
	if (mode == st.st_mode)
		return 0;
	if (fchmod(fd, mode & 07777) < 0)
		return -errno;
	*changed = true;
	return 0;
}

int lfs_killpriv_after_chown_at(fuse_req_t req, int dfd, const char *name,
				const struct stat *old)
{
	/* What the daemon's chown left undone: a setgid without group-exec
	 * of a caller that is neither root nor in the old group. */
	if (!lfs_devio_req_kill_suidgid() || !S_ISREG(old->st_mode) ||
	    (old->st_mode & (S_ISGID | S_IXGRP)) != S_ISGID || fuse_req_ctx(req)->uid == 0 ||
	    caller_in_group(req, old->st_gid))
		return 0;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((st.st_mode & S_ISGID) &&
	    fchmodat(dfd, name, st.st_mode & 07777 & ~(mode_t)S_ISGID, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

#define CAP_FOWNER_BIT 3
#define CAP_FSETID_BIT 4

/* Whether the caller of req has capability cap (its /proc status says;
 * when that cannot be read, no: a kill too many is the safer mistake). */
static bool caller_has_cap(fuse_req_t req, int cap)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)fuse_req_ctx(req)->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool has = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			has = caps & (1ULL << cap);
			break;
		}
	}
	fclose(f);
	return has;
}

/* Whether the caller of req holds the file of inode number ino (as the
 * kernel knows it) open for writing: its fdinfo says (no request to this
 * mount for that). When that cannot be read, yes. */
static bool caller_writes(fuse_req_t req, uint64_t ino)
{
	char path[64];
	int pid = (int)fuse_req_ctx(req)->pid;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	DIR *d = opendir(path);
	if (!d)
		return true;
	bool writes = false;
	struct dirent *de;
	while (!writes && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char info[PATH_MAX], line[128];
		snprintf(info, sizeof(info), "%s/%s", path, de->d_name);
		FILE *f = fopen(info, "re");
		if (!f)
			continue;
		unsigned long long flags = 0, fino = 0;
		bool have_flags = false, have_ino = false;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "flags: %llo", &flags) == 1)
				have_flags = true;
			else if (sscanf(line, "ino: %llu", &fino) == 1)
				have_ino = true;
		}
		fclose(f);
		writes = have_flags && have_ino && fino == ino && (flags & O_ACCMODE) != O_RDONLY;
	}
	closedir(d);
	return writes;
}

int lfs_killpriv_on_request(fuse_req_t req, int dfd, const char *name, uint64_t ino)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_ISUID | S_ISGID)))
		return 0;
	bool capable = caller_has_cap(req, CAP_FSETID_BIT);
	bool writing = caller_writes(req, ino);
	if (writing && capable)
		return 0;
	bool in_group = capable || (st.st_mode & (S_ISGID | S_IXGRP)) != S_ISGID ||
			caller_in_group(req, st.st_gid);
	mode_t mode = lfs_killpriv_mode(st.st_mode, in_group);
	if (mode == st.st_mode)
		return 0;
	/* chown turns the kill into a mode change, which only the owner may
	 * make (setattr_prepare()). */
	if (!writing && lfs_id_on_disk(&lfs->ids.uids, fuse_req_ctx(req)->uid) != st.st_uid &&
	    !caller_has_cap(req, CAP_FOWNER_BIT))
		return -EPERM;
	if (fchmodat(dfd, name, mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int lfs_killpriv_after_acl_at(fuse_req_t req, int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!(st.st_mode & S_ISGID) || S_ISLNK(st.st_mode) || caller_in_group(req, st.st_gid) ||
	    caller_has_cap(req, CAP_FSETID_BIT))
		return 0;
	if (fchmodat(dfd, name, st.st_mode & 07777 & ~(mode_t)S_ISGID, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

bool lfs_killpriv_privileged(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return true;           /* unknown: assume the worst */
	if (!S_ISREG(st.st_mode))
		return false;
	if (st.st_mode & (S_ISUID | S_ISGID))
		return true;
	return fgetxattr(fd, "security.capability", NULL, 0) >= 0;
}
