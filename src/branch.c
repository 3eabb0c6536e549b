/* The branch set of a mount: see branch.h. */
#include "branch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/pathutil.h"

struct lfs *lfs;

/* Opens directory path as O_PATH and gives its canonical absolute path:
 * the kernel's name of the open directory (one readlink, where realpath(3)
 * reads every component's link; a mount of 100 branches paid 500). */
static int open_canonical_dir(const char *path, char **real)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char proc[64], buf[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(proc, buf, sizeof(buf) - 1);
	if (len > 0 && buf[0] == '/') {
		buf[len] = '\0';
		*real = strdup(buf);
	} else {
		*real = realpath(path, NULL);    /* no /proc */
	}
	if (!*real) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int lfs_branch_open(const char *path, enum lfs_perm perm, bool wh, const char *mnt,
		    struct branch *b, char *err, size_t errsz)
{
	char *real = NULL;
	int fd = open_canonical_dir(path, &real);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errsz, "branch '%s': %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		free(real);
		return -e;
	}
	/* Mounting over a branch itself is fine (its fd is open already), but a
	 * branch below the mountpoint would be hidden by the mount, and a
	 * mountpoint inside a branch would show the union inside itself. */
	bool same = mnt && strcmp(mnt, real) == 0;
	const char *why = NULL;
	if (mnt && !same && lfs_path_is_beneath(mnt, real))
		why = "is inside the mountpoint";
	else if (mnt && !same && lfs_path_is_beneath(real, mnt))
		why = "contains the mountpoint";
	if (why) {
		snprintf(err, errsz, "branch '%s' %s '%s'", path, why, mnt);
		close(fd);
		free(real);
		return -EINVAL;
	}
	*b = (struct branch){ .path = real, .fd = fd, .perm = perm,
			      .wh = wh || perm == LFS_PERM_RW, .dev = st.st_dev,
			      .ino = st.st_ino };
	return 0;
}

int lfs_branch_check_new(const struct branch *b, char *err, size_t errsz)
{
	for (int j = 0; j < lfs->nbr; j++) {
		if (lfs->br[j].dev == b->dev && lfs->br[j].ino == b->ino) {
			snprintf(err, errsz, "the same branch twice: '%s' and '%s'",
				 lfs->br[j].path, b->path);
			return -EINVAL;
		}
	}
	return 0;
}

unsigned lfs_dev_index(struct lfs *fs, dev_t dev)
{
	for (unsigned i = 0; i < fs->ndevs; i++)
		if (fs->devs[i] == dev)
			return i;
	dev_t *n = realloc(fs->devs, (fs->ndevs + 1) * sizeof(*n));
	if (!n)
		return UINT32_MAX;
	fs->devs = n;
	fs->devs[fs->ndevs] = dev;
	return fs->ndevs++;
}

int lfs_setup_workdir(struct lfs *fs, const char *workdir, char *err, size_t errsz)
{
	fs->orphfd = fs->plinkfd = fs->workfd = -1;
	if (!fs->has_rw)
		return 0;
	const char *path = workdir ? workdir : fs->br[0].path;
	char *real = NULL;
	int fd = open_canonical_dir(path, &real);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errsz, "workdir '%s': %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		free(real);
		return -e;
	}
	if (st.st_dev != fs->br[0].dev) {
		snprintf(err, errsz, "workdir '%s' is not on the filesystem of the rw branch '%s'",
			 path, fs->br[0].path);
		close(fd);
		free(real);
		return -EXDEV;
	}
	free(fs->workdir);
	fs->workdir = real;
	fs->workfd = fd;
	return 0;
}

int lfs_fs_init(struct lfs *fs, const struct lfs_branch_list *list,
		const char *workdir, const char *mountpoint)
{
	if (list->n > LFS_MAX_BRANCHES) {
		fprintf(stderr, "layerfs: too many branches (%zu, at most %d)\n",
			list->n, LFS_MAX_BRANCHES);
		return -EINVAL;
	}
	fs->workfd = fs->orphfd = fs->plinkfd = -1;
	lfs = fs;   /* lfs_branch_check_new compares with the branches so far */
	fs->br = calloc(list->n, sizeof(*fs->br));
	if (!fs->br)
		return -ENOMEM;
	char *mnt = mountpoint ? realpath(mountpoint, NULL) : NULL;
	if (mountpoint && !mnt) {
		int err = errno;
		fprintf(stderr, "layerfs: mountpoint '%s': %s\n", mountpoint, strerror(err));
		return -err;
	}
	fs->mountpoint = mnt;
	char err[PATH_MAX * 2 + 128] = "";
	int ret = 0;
	for (size_t i = 0; i < list->n && ret == 0; i++) {
		const struct lfs_branch_spec *sp = &list->v[i];
		struct branch b;
		ret = lfs_branch_open(sp->path, sp->perm, sp->wh, mnt, &b, err, sizeof(err));
		if (ret)
			break;
		ret = lfs_branch_check_new(&b, err, sizeof(err));
		if (ret) {
			close(b.fd);
			free(b.path);
			break;
		}
		b.id = ++fs->next_brid;
		fs->br[fs->nbr++] = b;
	}
	if (ret) {
		fprintf(stderr, "layerfs: %s\n", err);
		return ret;
	}
	fs->has_rw = fs->br[0].perm == LFS_PERM_RW;
	for (int i = 0; i < fs->nbr; i++)
		fs->br[i].devidx = lfs_dev_index(fs, fs->br[i].dev);
	pthread_mutex_init(&fs->meta_lock, NULL);
	pthread_mutex_init(&fs->tree_lock, NULL);
	/* Writers first: a branch change must not starve under load. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fs->branch_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	ret = lfs_setup_workdir(fs, workdir, err, sizeof(err));
	if (ret)
		fprintf(stderr, "layerfs: %s\n", err);
	return ret;
}

void lfs_fs_destroy(struct lfs *fs)
{
	for (int i = 0; i < fs->nbr; i++) {
		close(fs->br[i].fd);
		free(fs->br[i].path);
	}
	free(fs->br);
	if (fs->workfd >= 0)
		close(fs->workfd);
	if (fs->orphfd >= 0)
		close(fs->orphfd);
	if (fs->plinkfd >= 0)
		close(fs->plinkfd);
	free(fs->workdir);
	free(fs->devs);
	free(fs->mountpoint);
}

int lfs_open_dir(int b, const char *relpath)
{
	return lfs_openat_beneath(lfs->br[b].fd, relpath, O_PATH | O_DIRECTORY, 0, true);
}

int lfs_branch_remap(int b, int at, int delta)
{
	if (b < 0)
		return -1;
	if (delta > 0)
		return b >= at ? b + 1 : b;
	if (b == at)
		return -1;
	return b > at ? b - 1 : b;
}
