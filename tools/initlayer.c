/* The init layer of a container. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "initlayer.h"
#include "layerfs/fdio.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"

static int write_file(int dirfd, const char *rel, const char *text, mode_t mode)
{
	int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = lfs_write_all(fd, text, strlen(text));
	if (fchmod(fd, mode) < 0 || close(fd) < 0)
		rc = -errno;
	return rc;
}

/* The host's resolv.conf without loopback nameservers (a resolver on the
 * host's 127.0.0.x is not reachable from the container's network
 * namespace); public resolvers when no nameserver is left. */
static char *resolv_conf(void)
{
	char *out = NULL, *line = NULL;
	size_t outlen = 0, cap = 0;
	FILE *mem = open_memstream(&out, &outlen);
	FILE *f = fopen("/etc/resolv.conf", "re");
	bool have_ns = false;
	while (mem && f && getline(&line, &cap, f) > 0) {
		char ns[64];
		if (sscanf(line, " nameserver %63s", ns) == 1) {
			if (!strncmp(ns, "127.", 4) || !strcmp(ns, "::1"))
				continue;
			have_ns = true;
		}
		fputs(line, mem);
	}
	if (mem && !have_ns)
		fputs("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", mem);
	free(line);
	if (f)
		fclose(f);
	if (mem)
		fclose(mem);
	return out;
}

/* init/: etc/{hosts,hostname,resolv.conf,mtab -> /proc/mounts},
 * dev/{console,pts/,shm/,mqueue/}, proc/, sys/ (the last three are mount
 * points the runtime needs, kept out of rw/ as docker's init layer does). */
static int make_fixed(int dirfd, const char *hostname)
{
	static const char *const dirs[] = { "init", "init/etc", "init/dev", "init/dev/pts",
					    "init/dev/shm", "init/dev/mqueue", "init/proc",
					    "init/sys" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(dirfd, dirs[i], 0755) < 0 || fchmodat(dirfd, dirs[i], 0755, 0) < 0)
			return -errno;
	char hosts[512], name[256];
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n", hostname);
	snprintf(name, sizeof(name), "%s\n", hostname);
	char *resolv = resolv_conf();
	int rc = write_file(dirfd, "init/etc/hosts", hosts, 0644);
	if (!rc)
		rc = write_file(dirfd, "init/etc/hostname", name, 0644);
	if (!rc)
		rc = write_file(dirfd, "init/etc/resolv.conf", resolv ? resolv : "", 0644);
	free(resolv);
	if (!rc)
		rc = write_file(dirfd, "init/dev/console", "", 0755);
	if (!rc && symlinkat("/proc/mounts", dirfd, "init/etc/mtab") < 0)
		rc = -errno;
	return rc;
}

int initlayer_make(const struct store *s, int dirfd, const char *hostname, json_t *layers,
		   struct initlayer *il)
{
	memset(il, 0, sizeof(*il));
	il->initfd = -1;
	int rc = make_fixed(dirfd, hostname);
	if (rc < 0)
		return rc;
	size_t n = json_array_size(layers);
	il->fd = calloc(n + 1, sizeof(*il->fd));
	if (!il->fd)
		return -ENOMEM;
	il->initfd = il->fd[0] = openat(dirfd, "init", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (il->initfd < 0)
		return -errno;
	il->n = 1;
	for (size_t i = 0; i < n; i++) {
		char hex[65], path[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, n - 1 - i));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, path, sizeof(path) - 5) < 0)
			return -EINVAL;
		strcat(path, "/diff");
		il->fd[il->n] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (il->fd[il->n] < 0)
			return -errno;
		il->n++;
	}
	return 0;
}

void initlayer_close(struct initlayer *il)
{
	for (unsigned i = 0; il->fd && i < il->n; i++)
		close(il->fd[i]);
	free(il->fd);
	memset(il, 0, sizeof(*il));
	il->initfd = -1;
}

/* What the merged view (init over the image) has at rel: 0 with kind and
 * supplying branch, -ENOENT, -ENOTDIR, other -errno. */
static int resolve(struct initlayer *il, const char *rel, unsigned *supplier,
		   enum lfs_union_kind *kind)
{
	struct lfs_union_fds fds = { il->fd, NULL };
	struct lfs_union_stack stack = { il->n, lfs_union_probe_fds, &fds };
	unsigned *out = calloc(il->n, sizeof(*out)), nout;
	if (!out)
		return -ENOMEM;
	int rc = lfs_union_resolve_path(&stack, rel, out, &nout, supplier, kind);
	free(out);
	return rc;
}

/* Makes directory rel in init/, with the attributes branch supplier gives
 * it (supplier 0: it is new, 0755 root). */
static int make_dir(struct initlayer *il, const char *rel, unsigned supplier)
{
	struct stat st = { .st_mode = S_IFDIR | 0755 };
	if (supplier > 0 && fstatat(il->fd[supplier], rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (mkdirat(il->initfd, rel, 0700) < 0)
		return errno == EEXIST ? 0 : -errno;
	/* ownership only as root (a user's store keeps the user's) */
	if (fchmodat(il->initfd, rel, st.st_mode & 07777, 0) < 0 ||
	    (fchownat(il->initfd, rel, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	     errno != EPERM))
		return -errno;
	if (supplier > 0) {
		struct timespec times[2] = { st.st_atim, st.st_mtim };
		utimensat(il->initfd, rel, times, AT_SYMLINK_NOFOLLOW);
	}
	return 0;
}

/* Makes path's parent directories in init/ (those the merged view has,
 * and those it lacks); rel gets path without its leading '/', *leaf the
 * offset of its last component. -ENOTDIR when a parent is something else
 * in the merged view. */
static int make_parents(struct initlayer *il, const char *path, char *rel, size_t *leaf)
{
	snprintf(rel, PATH_MAX, "%s", path + 1);
	char *slash = rel;
	while ((slash = strchr(slash, '/'))) {
		*slash = '\0';
		unsigned supplier;
		enum lfs_union_kind kind;
		int rc = resolve(il, rel, &supplier, &kind);
		if (rc == 0 && !lfs_union_kind_is_dir(kind))
			rc = -ENOTDIR;
		if (rc == 0 || rc == -ENOENT)
			rc = make_dir(il, rel, rc == 0 ? supplier : 0);
		*slash++ = '/';
		if (rc < 0)
			return rc;
	}
	char *last = strrchr(rel, '/');
	*leaf = last ? (size_t)(last - rel + 1) : 0;
	return 0;
}

int initlayer_mountpoint(struct initlayer *il, const char *path, bool dir)
{
	char rel[PATH_MAX];
	unsigned supplier;
	enum lfs_union_kind kind;
	if (strcmp(path, "/") == 0)
		return 0;
	int rc = resolve(il, path + 1, &supplier, &kind);
	if (rc != -ENOENT)   /* there, or beyond a file or link: the runtime's say */
		return rc == -ENOTDIR ? 0 : rc;
	size_t leaf;
	rc = make_parents(il, path, rel, &leaf);
	if (rc == -ENOTDIR)
		return 0;
	if (rc < 0)
		return rc;
	if (dir)
		return make_dir(il, rel, 0);
	int fd = openat(il->initfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

static int copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		int rc = lfs_write_all(out, buf, (size_t)n);
		if (rc < 0)
			return rc;
	}
	return n < 0 ? -errno : 0;
}

int initlayer_copy_file(struct initlayer *il, const char *src, const char *path, char *err,
			size_t errsize)
{
	char rel[PATH_MAX];
	struct stat st;
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "--init-file %s: %s", src,
			 in < 0 ? strerror(errno) : "not a regular file");
		if (in >= 0)
			close(in);
		return -1;
	}
	unsigned supplier;
	enum lfs_union_kind kind;
	size_t leaf;
	int rc = resolve(il, path + 1, &supplier, &kind);
	if (rc == 0 && lfs_union_kind_is_dir(kind))
		rc = -EISDIR;
	else if (rc == 0 || rc == -ENOENT)
		rc = make_parents(il, path, rel, &leaf);
	int out = -1;
	if (rc == 0) {
		if (unlinkat(il->initfd, rel, 0) < 0 && errno != ENOENT)
			rc = -errno;
		else if ((out = openat(il->initfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC, 0600)) < 0)
			rc = -errno;
	}
	if (rc == 0)
		rc = copy_fd(in, out);
	if (rc == 0 && (fchmod(out, st.st_mode & 07777) < 0 ||
			(fchown(out, 0, 0) < 0 && errno != EPERM)))
		rc = -errno;
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = -errno;
	close(in);
	if (rc < 0) {
		snprintf(err, errsize, "--init-file %s:%s: %s", src, path,
			 rc == -ENOTDIR ? "a parent is not a directory in the image"
			 : rc == -EISDIR ? "a directory in the image" : strerror(-rc));
		return -1;
	}
	return 0;
}
