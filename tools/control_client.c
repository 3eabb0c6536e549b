/* Finding a layerfs mount's runtime directory and using its control socket. */
#include "control_client.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/vfs.h>

#include "layerfs/pathutil.h"

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	bool ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* statfs(2) f_type of FUSE mounts (linux/magic.h) */
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

static void remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* Calls fn for every runtime directory (with its mountpoint and whether its
 * daemon lives); those of dead daemons are removed after the call. */
static int each_mount(int (*fn)(const char *rundir, const char *mnt, bool alive, void *arg),
		      void *arg)
{
	char bases[3][PATH_MAX];
	int nb = 0;
	snprintf(bases[nb++], PATH_MAX, "/run/layerfs");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		snprintf(bases[nb++], PATH_MAX, "%s/layerfs", xdg);
	snprintf(bases[nb++], PATH_MAX, "/tmp/layerfs-%u", (unsigned)geteuid());
	for (int i = 0; i < nb; i++) {
		DIR *d = opendir(bases[i]);
		if (!d)
			continue;
		struct dirent *de;
		int ret = 0;
		while (ret == 0 && (de = readdir(d))) {
			if (strncmp(de->d_name, "si_", 3) != 0)
				continue;
			char dir[PATH_MAX], pidfile[PATH_MAX], mntfile[PATH_MAX], mnt[PATH_MAX], pid[32];
			if (snprintf(dir, sizeof(dir), "%s/%s", bases[i], de->d_name) >= (int)sizeof(dir) ||
			    snprintf(pidfile, sizeof(pidfile), "%s/pid", dir) >= (int)sizeof(pidfile) ||
			    snprintf(mntfile, sizeof(mntfile), "%s/mnt", dir) >= (int)sizeof(mntfile))
				continue;
			long p = read_line(pidfile, pid, sizeof(pid)) == 0 ? strtol(pid, NULL, 10) : 0;
			bool alive = p > 0 && !(kill((pid_t)p, 0) < 0 && errno == ESRCH);
			if (read_line(mntfile, mnt, sizeof(mnt)) == 0)
				ret = fn(dir, mnt, alive, arg);
			if (!alive)
				remove_stale(dir);
		}
		closedir(d);
		if (ret)
			return ret;
	}
	return 0;
}

struct find_arg {
	const char *want;      /* canonical path asked about */
	bool prefix;           /* any mount containing want */
	char *rundir;
	size_t size;
	size_t best;           /* length of the best mountpoint so far */
	char mnt[PATH_MAX];
	bool dead;             /* the mount's daemon is gone */
};

static int match_mount(const char *rundir, const char *mnt, bool alive, void *arg)
{
	struct find_arg *fa = arg;
	size_t len = strlen(mnt);
	bool hit = fa->prefix ? lfs_path_is_beneath(mnt, fa->want) : strcmp(mnt, fa->want) == 0;
	if (hit && !alive)
		fa->dead = true;
	if (!hit || !alive || (fa->best && len <= fa->best))
		return 0;
	snprintf(fa->rundir, fa->size, "%s", rundir);
	snprintf(fa->mnt, sizeof(fa->mnt), "%s", mnt);
	fa->best = len ? len : 1;
	return 0;
}

int ctl_find_mount(const char *mnt, char *rundir, size_t size, char *mntout, size_t mntsize,
		   char *err, size_t errsz)
{
	struct stat st;
	if (stat(mnt, &st) < 0 && errno == ENOTCONN) {
		snprintf(err, errsz, "%s: the layerfs daemon is gone (transport endpoint not "
			 "connected); clean up with 'layerctl umount --force' or 'umount -l'", mnt);
		return -ENOTCONN;
	}
	char *real = realpath(mnt, NULL);
	if (!real) {
		int e = errno;
		snprintf(err, errsz, "%s: %s", mnt, strerror(e));
		return -e;
	}
	struct find_arg fa = { .want = real, .rundir = rundir, .size = size };
	each_mount(match_mount, &fa);
	/* A daemon makes its runtime directory just after its mount goes live:
	 * on a FUSE mount that has none yet, wait for it (up to 10 s: on a busy
	 * machine with a slow /run that can take seconds). */
	struct statfs sf;
	for (int tries = 0; !fa.best && !fa.dead && tries < 1000 &&
	     statfs(real, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC; tries++) {
		usleep(10000);
		each_mount(match_mount, &fa);
	}
	free(real);
	if (!fa.best && fa.dead) {
		snprintf(err, errsz, "%s: the layerfs daemon is gone; clean up with "
			 "'layerctl umount --force' or 'umount -l'", mnt);
		return -ENOTCONN;
	}
	if (!fa.best) {
		snprintf(err, errsz, "%s: not a layerfs mount (no runtime directory names it)", mnt);
		return -ENOENT;
	}
	if (mntout)
		snprintf(mntout, mntsize, "%s", fa.mnt);
	return 0;
}

/* Canonical form of a path whose last component may not exist. */
static int canonical(const char *path, char *out, size_t size)
{
	char *real = realpath(path, NULL);
	if (real) {
		snprintf(out, size, "%s", real);
		free(real);
		return 0;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	char parentbuf[PATH_MAX] = ".";
	if (slash && slash != dir) {
		*slash = '\0';
		snprintf(parentbuf, sizeof(parentbuf), "%s", dir);
	} else if (slash) {
		snprintf(parentbuf, sizeof(parentbuf), "/");
	}
	char *pr = realpath(parentbuf, NULL);
	if (!pr)
		return -errno;
	int n = snprintf(out, size, "%s/%s", strcmp(pr, "/") ? pr : "", base);
	free(pr);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ctl_find_containing(const char *path, char *rundir, size_t size, char *rel,
			size_t relsize, char *err, size_t errsz)
{
	char want[PATH_MAX];
	int ret = canonical(path, want, sizeof(want));
	if (ret) {
		snprintf(err, errsz, "%s: %s", path, strerror(-ret));
		return ret;
	}
	struct find_arg fa = { .want = want, .prefix = true, .rundir = rundir, .size = size };
	each_mount(match_mount, &fa);
	if (!fa.best) {
		snprintf(err, errsz, "%s: not inside a layerfs mount", path);
		return -ENOENT;
	}
	const char *r = want + strlen(fa.mnt);
	while (*r == '/')
		r++;
	snprintf(rel, relsize, "%s", r);
	return 0;
}

static int connect_socket(const char *rundir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl", rundir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int ctl_request(const char *rundir, const char *const *fields, int n, char **reply,
		char *err, size_t errsz)
{
	int fd = connect_socket(rundir);
	if (fd < 0) {
		snprintf(err, errsz, "control socket in %s: %s", rundir, strerror(-fd));
		return fd;
	}
	/* A daemon that refuses us answers and closes at once: a failed send
	 * is not the end, its answer is still there to read. */
	for (int i = 0; i < n; i++) {
		size_t len = strlen(fields[i]) + 1;   /* with its NUL */
		if (send(fd, fields[i], len, MSG_NOSIGNAL) != (ssize_t)len)
			break;
	}
	shutdown(fd, SHUT_WR);
	char *text = read_all(fd);
	close(fd);
	if (!text) {
		snprintf(err, errsz, "control socket: no answer");
		return -EIO;
	}
	char *nl = strchr(text, '\n');
	long status = strtol(text, NULL, 10);
	if (status == 0 && nl) {
		*reply = text;
		memmove(text, nl + 1, strlen(nl + 1) + 1);
		return 0;
	}
	const char *msg = strchr(text, ' ');
	snprintf(err, errsz, "%s", msg ? msg + 1 : text);
	err[strcspn(err, "\n")] = '\0';
	free(text);
	return status < 0 ? (int)status : -EIO;
}
