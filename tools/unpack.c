/* Unpacking a layer: see unpack.h.
 *
 * The blob's raw bytes (hashed: the compressed digest) are decompressed by
 * layerstream.c, which checks the compressed stream to its very end; the
 * plain stream (hashed: the diff_id) is read as a tar archive by
 * libarchive. One pass, both digests. */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "digest.h"
#include "layerfs/fdio.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "layerstream.h"
#include "store.h"
#include "tarcheck.h"

#define BUF_SIZE (1u << 17)

struct dir_time {
	char *path;
	struct timespec ts[2];
};

enum warn_kind { WARN_OWNER, WARN_DEVICE, WARN_XATTR, WARN_META, WARN_KINDS };

struct unpacker {
	struct blob_reader *in;
	struct layer_stream *stream;
	struct archive *tar;
	struct digest raw_d, tar_d;
	unsigned char *tarbuf;
	uint64_t *progress;
	const char *label;
	int rootfd;
	char *err;
	size_t errsz;
	bool failed;             /* err holds the first error */
	/* the last parent directory opened, kept open */
	char cache_path[PATH_MAX];
	int cache_fd;
	struct dir_time *times;
	size_t ntimes, captimes;
	bool can_chown, can_mknod;
	bool warned[WARN_KINDS];
	unsigned skipped;        /* aufs metadata entries */
	unsigned dropped;        /* markers below a non-directory of the layer */
	struct unpack_result *res;
};

__attribute__((format(printf, 2, 3)))
static int ufail(struct unpacker *u, const char *fmt, ...)
{
	if (u->failed)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->err, u->errsz, fmt, ap);
	va_end(ap);
	u->failed = true;
	return -1;
}

static void warn_once(struct unpacker *u, enum warn_kind kind, const char *what, int err)
{
	if (u->warned[kind])
		return;
	u->warned[kind] = true;
	fprintf(stderr, "layerctl: warning: %s: %s (%s); further such cases in this layer "
		"are not reported\n", u->label, what, strerror(err));
}

/* ---- the stream chain ---- */

static la_ssize_t plain_read(struct archive *a, void *data, const void **buf)
{
	struct unpacker *u = data;
	ssize_t n = layer_stream_read(u->stream, u->tarbuf, BUF_SIZE);
	if (n < 0) {
		u->failed = true;
		archive_set_error(a, EIO, "%s", u->err);
		return -1;
	}
	digest_update(&u->tar_d, u->tarbuf, (size_t)n);
	*buf = u->tarbuf;
	return n;
}

static int open_chain(struct unpacker *u)
{
	u->tar = archive_read_new();
	if (u->tar == NULL)
		abort();
	if (layer_stream_open(u->in, u->label, &u->raw_d, u->progress, &u->stream, u->err,
			      u->errsz) < 0) {
		u->failed = true;
		return -1;
	}
	archive_read_support_format_tar(u->tar);
	if (archive_read_open(u->tar, u, NULL, plain_read, NULL) != ARCHIVE_OK)
		return ufail(u, "%s: not a tar stream: %s", u->label, archive_error_string(u->tar));
	return 0;
}

/* After the tar's end: the rest of the stream is read to its end, so that
 * a compressed stream's trailer is checked, and still counts for the
 * digests (padding after the end-of-archive blocks). */
static int drain(struct unpacker *u)
{
	ssize_t n;
	while ((n = layer_stream_read(u->stream, u->tarbuf, BUF_SIZE)) > 0)
		digest_update(&u->tar_d, u->tarbuf, (size_t)n);
	if (n < 0 || layer_stream_drain_raw(u->stream) < 0) {
		u->failed = true;
		return -1;
	}
	return 0;
}

/* ---- directories beneath the root ---- */

static void cache_drop(struct unpacker *u)
{
	if (u->cache_fd >= 0)
		close(u->cache_fd);
	u->cache_fd = -1;
	u->cache_path[0] = '\0';
}

static int path_error(struct unpacker *u, const char *path, int err)
{
	const char *why = err == -ELOOP ? "goes through a symlink"
			  : err == -EXDEV ? "escapes the layer"
			  : err == -ENOTDIR ? "goes through a non-directory" : strerror(-err);
	return ufail(u, "%s: entry '%s': %s", u->label, path, why);
}

static void implicit_add(struct unpacker *u, const char *path, size_t len)
{
	struct unpack_result *r = u->res;
	if (r->nimplicit == r->capimplicit) {
		r->capimplicit = r->capimplicit ? 2 * r->capimplicit : 16;
		r->implicit = realloc(r->implicit, r->capimplicit * sizeof(char *));
		if (r->implicit == NULL)
			abort();
	}
	if ((r->implicit[r->nimplicit++] = strndup(path, len)) == NULL)
		abort();
}

/* The layer has an entry of its own for path after all. */
static void implicit_drop(struct unpacker *u, const char *path)
{
	struct unpack_result *r = u->res;
	for (size_t i = 0; i < r->nimplicit; i++) {
		if (strcmp(r->implicit[i], path) == 0) {
			free(r->implicit[i]);
			r->implicit[i] = r->implicit[--r->nimplicit];
			return;
		}
	}
}

/* Opens (O_PATH) the directory dir below the root, one component at a time,
 * making missing ones (0755) when create is set. Returns an fd or -errno. */
static int walk_dirs(struct unpacker *u, const char *dir, bool create)
{
	char comp[NAME_MAX + 1];
	int cur = dup(u->rootfd);
	if (cur < 0)
		return -errno;
	for (const char *p = dir; *p; ) {
		size_t len = strcspn(p, "/");
		if (len > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len + (p[len] == '/');
		int fd = lfs_openat_beneath(cur, comp, O_PATH | O_DIRECTORY, 0, true);
		if (fd == -ENOENT && create) {
			int made = mkdirat(cur, comp, 0755);
			if (made < 0 && errno != EEXIST) {
				fd = -errno;
			} else {
				if (made == 0)
					implicit_add(u, dir, (size_t)(p - dir) - (p[-1] == '/'));
				fd = lfs_openat_beneath(cur, comp, O_PATH | O_DIRECTORY, 0, true);
			}
		}
		close(cur);
		if (fd < 0)
			return fd;
		cur = fd;
	}
	return cur;
}

/* The parent directory dir of an entry ("" for the root); cached; not to
 * close. -errno when it cannot be had (the caller explains). */
static int parent_dir(struct unpacker *u, const char *dir, bool create)
{
	if (dir[0] == '\0')
		return u->rootfd;
	if (u->cache_fd >= 0 && strcmp(u->cache_path, dir) == 0)
		return u->cache_fd;
	int fd = lfs_openat_beneath(u->rootfd, dir, O_PATH | O_DIRECTORY, 0, true);
	if (fd == -ENOENT)
		fd = walk_dirs(u, dir, create);
	if (fd < 0)
		return fd;
	cache_drop(u);
	snprintf(u->cache_path, sizeof(u->cache_path), "%s", dir);
	u->cache_fd = fd;
	return fd;
}

/* Splits "a/b/c" into dir "a/b" and leaf "c". */
static const char *split_path(const char *path, char *dir, size_t dirsz)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	snprintf(dir, dirsz, "%.*s", (int)len, path);
	return slash ? slash + 1 : path;
}

/* ---- metadata ---- */

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e)
						     : archive_entry_mtime(e);
	ts[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e)
						      : archive_entry_mtime_nsec(e);
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
}

static void set_owner(struct unpacker *u, int pfd, const char *leaf, struct archive_entry *e)
{
	if (!u->can_chown)
		return;
	if (fchownat(pfd, leaf, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW) == 0)
		return;
	if (errno == EPERM || errno == EINVAL) {
		u->can_chown = false;
		warn_once(u, WARN_OWNER, "ownership not kept", errno);
	}
}

/* Sets one xattr on fd, or through /proc for an O_PATH fd. */
static int set_xattr(int fd, bool opath, const char *name, const void *val, size_t size)
{
	if (!opath)
		return fsetxattr(fd, name, val, size, 0);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return setxattr(proc, name, val, size, 0);
}

static void set_xattrs(struct unpacker *u, int fd, bool opath, struct archive_entry *e)
{
	const char *name;
	const void *val;
	size_t size;
	if (archive_entry_xattr_reset(e) == 0)
		return;
	while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
		if (set_xattr(fd, opath, name, val, size) < 0)
			warn_once(u, WARN_XATTR, "an extended attribute was not kept", errno);
	}
}

/* Owner, then mode (chown clears setuid bits), then xattrs (chown drops
 * security.capability), then times. fd: the object open (O_PATH or not),
 * or -1 for a symlink. */
static int apply_meta(struct unpacker *u, int pfd, const char *leaf, int fd, bool opath,
		      struct archive_entry *e, bool times)
{
	set_owner(u, pfd, leaf, e);
	mode_t mode = archive_entry_perm(e) & 07777;
	if (fd >= 0) {
		int rc = opath ? fchmodat(pfd, leaf, mode, 0) : fchmod(fd, mode);
		if (rc < 0)
			warn_once(u, WARN_META, "a mode was not kept", errno);
		set_xattrs(u, fd, opath, e);
	}
	if (times) {
		struct timespec ts[2];
		entry_times(e, ts);
		if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
			warn_once(u, WARN_META, "a time was not kept", errno);
	}
	return 0;
}

static int remember_dir_time(struct unpacker *u, const char *path, struct archive_entry *e)
{
	if (u->ntimes == u->captimes) {
		u->captimes = u->captimes ? 2 * u->captimes : 64;
		u->times = realloc(u->times, u->captimes * sizeof(*u->times));
		if (u->times == NULL)
			abort();
	}
	struct dir_time *t = &u->times[u->ntimes++];
	t->path = strdup(path);
	if (t->path == NULL)
		abort();
	entry_times(e, t->ts);
	return 0;
}

/* Directory times last: making entries inside changed them. */
static void apply_dir_times(struct unpacker *u)
{
	char dir[PATH_MAX];
	for (size_t i = 0; i < u->ntimes; i++) {
		struct dir_time *t = &u->times[i];
		if (strcmp(t->path, ".") == 0) {
			futimens(u->rootfd, t->ts);
			continue;
		}
		const char *leaf = split_path(t->path, dir, sizeof(dir));
		int pfd = dir[0] ? lfs_openat_beneath(u->rootfd, dir, O_PATH | O_DIRECTORY, 0, true)
				 : dup(u->rootfd);
		if (pfd < 0)
			continue;
		utimensat(pfd, leaf, t->ts, AT_SYMLINK_NOFOLLOW);
		close(pfd);
	}
}

/* ---- making entries ---- */

/* The entry's data at its offsets: holes of a sparse entry stay holes. */
static int write_data(struct unpacker *u, int fd, const char *path, struct archive_entry *e)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(u->tar, &buf, &size, &off)) == ARCHIVE_OK) {
		int rc = lfs_pwrite_all(fd, buf, size, (off_t)off);
		if (rc < 0)
			return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(-rc));
	}
	if (r != ARCHIVE_EOF)
		return ufail(u, "%s: entry '%s': corrupt layer stream: %s", u->label, path,
			     archive_error_string(u->tar));
	if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	u->res->size += (uint64_t)archive_entry_size(e);
	return 0;
}

static int make_file(struct unpacker *u, int pfd, const char *leaf, const char *path,
		     struct archive_entry *e, bool with_data)
{
	int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	int rc = with_data ? write_data(u, fd, path, e) : 0;
	if (rc == 0)
		apply_meta(u, pfd, leaf, fd, false, e, true);
	close(fd);
	return rc;
}

static int make_dir(struct unpacker *u, int pfd, const char *leaf, const char *path,
		    struct archive_entry *e, bool exists)
{
	if (!exists && mkdirat(pfd, leaf, 0700) < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	if (exists)
		implicit_drop(u, path);
	int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	apply_meta(u, pfd, leaf, fd, false, e, false);
	close(fd);
	return remember_dir_time(u, path, e);
}

static int make_symlink(struct unpacker *u, int pfd, const char *leaf, const char *path,
			struct archive_entry *e)
{
	const char *target = archive_entry_symlink(e);
	if (target == NULL || target[0] == '\0')
		return ufail(u, "%s: entry '%s': symlink without a target", u->label, path);
	if (symlinkat(target, pfd, leaf) < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	return apply_meta(u, pfd, leaf, -1, false, e, true);
}

static int make_special(struct unpacker *u, int pfd, const char *leaf, const char *path,
			struct archive_entry *e, mode_t type)
{
	bool device = type == S_IFCHR || type == S_IFBLK;
	if (device && !u->can_mknod) {
		warn_once(u, WARN_DEVICE, "device nodes skipped", EPERM);
		return 0;
	}
	dev_t dev = device ? makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e)) : 0;
	if (mknodat(pfd, leaf, type | 0600, dev) < 0) {
		if (device && errno == EPERM) {
			u->can_mknod = false;
			warn_once(u, WARN_DEVICE, "device nodes skipped", EPERM);
			return 0;
		}
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	}
	int fd = openat(pfd, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ufail(u, "%s: entry '%s': %s", u->label, path, strerror(errno));
	apply_meta(u, pfd, leaf, fd, true, e, true);
	close(fd);
	return 0;
}

/* A hardlink to an entry made before, found beneath the root without
 * following any symlink; linkat never follows the final name either. */
static int make_hardlink(struct unpacker *u, int pfd, const char *leaf, const char *path,
			 const char *target)
{
	char tdir[PATH_MAX];
	const char *tleaf = split_path(target, tdir, sizeof(tdir));
	int tfd = tdir[0] ? lfs_openat_beneath(u->rootfd, tdir, O_PATH | O_DIRECTORY, 0, true)
			  : dup(u->rootfd);
	if (tfd < 0)
		return ufail(u, "%s: entry '%s': hardlink target '%s' %s", u->label, path, target,
			     tfd == -ENOENT ? "is not in the layer" : "is not reachable");
	int rc = linkat(tfd, tleaf, pfd, leaf, 0);
	int err = errno;
	struct stat st;
	bool dir = rc < 0 && fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		   S_ISDIR(st.st_mode);
	close(tfd);
	if (rc < 0)
		return ufail(u, "%s: entry '%s': hardlink target '%s': %s", u->label, path, target,
			     err == ENOENT ? "not in the layer before this entry"
			     : dir ? "a directory (cannot be hardlinked)" : strerror(err));
	return 0;
}

/* Clears the way for a new entry; *keep_dir when a directory stays. */
static int replace_existing(struct unpacker *u, int pfd, const char *leaf, const char *path,
			    mode_t type, bool *keep_dir)
{
	struct stat st;
	*keep_dir = false;
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ufail(u, "%s: entry '%s': %s", u->label, path,
						   strerror(errno));
	if (S_ISDIR(st.st_mode) && type == S_IFDIR) {
		*keep_dir = true;
		return 0;
	}
	if (S_ISDIR(st.st_mode))
		cache_drop(u);
	int rc = store_remove_tree(pfd, leaf, NULL);
	return rc < 0 ? ufail(u, "%s: entry '%s': %s", u->label, path, strerror(-rc)) : 0;
}

static int make_entry(struct unpacker *u, struct archive_entry *e, const struct tc_result *tc)
{
	mode_t type = archive_entry_filetype(e);
	if (strcmp(tc->path, ".") == 0) {
		apply_meta(u, u->rootfd, ".", u->rootfd, false, e, false);
		return remember_dir_time(u, ".", e);
	}
	if (tc->link[0])
		type = 0;
	char dir[PATH_MAX];
	const char *leaf = split_path(tc->path, dir, sizeof(dir));
	int pfd = parent_dir(u, dir, true);
	/* A whiteout or opaque marker below something this layer made a
	 * non-directory (umoci writes whiteouts of a directory's old children
	 * after making it a symlink) hides nothing that entry does not hide
	 * already: it is dropped, without looking through the symlink. */
	if ((pfd == -ELOOP || pfd == -ENOTDIR) && tc->kind != TC_PLAIN) {
		u->dropped++;
		return 0;
	}
	if (pfd < 0)
		return path_error(u, tc->path, pfd);
	if (tc->link[0] && strcmp(tc->link, tc->path) == 0)
		return 0;
	bool keep_dir;
	if (replace_existing(u, pfd, leaf, tc->path, type, &keep_dir) < 0)
		return -1;
	if (tc->kind != TC_PLAIN)
		return make_file(u, pfd, leaf, tc->path, e, false);
	if (tc->link[0])
		return make_hardlink(u, pfd, leaf, tc->path, tc->link);
	switch (type) {
	case S_IFDIR: return make_dir(u, pfd, leaf, tc->path, e, keep_dir);
	case S_IFLNK: return make_symlink(u, pfd, leaf, tc->path, e);
	case S_IFIFO: case S_IFCHR: case S_IFBLK:
		return make_special(u, pfd, leaf, tc->path, e, type);
	default: return make_file(u, pfd, leaf, tc->path, e, true);
	}
}

static int handle_entry(struct unpacker *u, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	struct tc_result *tc = malloc(sizeof(*tc));
	if (tc == NULL)
		abort();
	int rc = 0;
	switch (tarcheck_entry(name, archive_entry_filetype(e), archive_entry_hardlink(e), tc)) {
	case TC_REJECT:
		rc = ufail(u, "%s: entry '%s': %s", u->label, name ? name : "", tc->reason);
		break;
	case TC_SKIP:
		u->skipped++;
		break;
	case TC_ACCEPT:
		u->res->entries++;
		rc = make_entry(u, e, tc);
		break;
	}
	free(tc);
	return rc;
}

static int read_entries(struct unpacker *u)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(u->tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (handle_entry(u, e) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return ufail(u, "%s: corrupt or truncated layer: %s", u->label,
			     archive_error_string(u->tar));
	return 0;
}

/* After a failure: the digest of the whole blob still tells whether the
 * blob is the one the image promised (then the caller can say so). */
static void raw_digest_anyway(struct unpacker *u)
{
	if (u->stream && layer_stream_drain_raw(u->stream) == 0)
		digest_final_hex(&u->raw_d, u->res->digest);
	else
		u->res->digest[0] = '\0';
}

static void unpacker_free(struct unpacker *u)
{
	cache_drop(u);
	if (u->tar)
		archive_read_free(u->tar);
	layer_stream_close(u->stream);
	for (size_t i = 0; i < u->ntimes; i++)
		free(u->times[i].path);
	free(u->times);
	free(u->tarbuf);
}

int unpack_layer(struct blob_reader *in, int rootfd, const char *label, uint64_t *progress,
		 struct unpack_result *res, char *err, size_t errsz)
{
	struct unpacker u = {
		.in = in, .rootfd = rootfd, .label = label, .progress = progress,
		.err = err, .errsz = errsz, .cache_fd = -1, .res = res,
		.can_chown = true, .can_mknod = geteuid() == 0,
		.tarbuf = malloc(BUF_SIZE),
	};
	if (u.tarbuf == NULL)
		abort();
	memset(res, 0, sizeof(*res));
	digest_init(&u.raw_d);
	digest_init(&u.tar_d);
	int rc = open_chain(&u);
	if (rc == 0)
		rc = read_entries(&u);
	if (rc == 0)
		rc = drain(&u);
	if (rc == 0) {
		apply_dir_times(&u);
		digest_final_hex(&u.raw_d, res->digest);
		digest_final_hex(&u.tar_d, res->diff_id);
		if (u.skipped)
			fprintf(stderr, "layerctl: note: %s: %u aufs metadata entries (.wh..wh.*) "
				"skipped\n", label, u.skipped);
		if (u.dropped)
			fprintf(stderr, "layerctl: note: %s: %u whiteouts below a non-directory of "
				"the same layer dropped (they hide nothing more)\n", label, u.dropped);
	}
	else
		raw_digest_anyway(&u);
	unpacker_free(&u);
	return rc;
}

/* ---- directories a layer left out ---- */

/* The stack for an implicit directory of the layer: the layer on top, the
 * layers below it after. The layer made the directory itself, so its own
 * copy says nothing; only a whiteout of it, or what hides its parents,
 * counts. */
struct inherit_stack {
	struct lfs_union_fds fds;
	const char *dirpath, *leaf;   /* the implicit directory, split */
};

static int inherit_probe(void *ctx, unsigned b, const char *dirpath, const char *name,
			 enum lfs_union_kind *kind)
{
	struct inherit_stack *is = ctx;
	if (b != 0 || strcmp(dirpath, is->dirpath) || strcmp(name, is->leaf))
		return lfs_union_probe_fds(&is->fds, b, dirpath, name, kind);
	int dfd = lfs_openat_beneath(is->fds.fd[0], dirpath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
				     true);
	if (dfd < 0)
		return dfd;
	*kind = lfs_union_whiteout_at(dfd, name) ? LFS_UNION_WHITEOUT : LFS_UNION_ABSENT;
	close(dfd);
	return 0;
}

static void copy_dir_attrs(int src, int dst)
{
	struct stat st;
	if (fstat(src, &st) < 0)
		return;
	if (fchown(dst, st.st_uid, st.st_gid) < 0 && errno != EPERM)
		return;
	fchmod(dst, st.st_mode & 07777);
	char names[1 << 16];
	ssize_t len = flistxattr(src, names, sizeof(names));
	for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
		char val[1 << 16];
		ssize_t n = fgetxattr(src, names + off, val, sizeof(val));
		if (n >= 0)
			fsetxattr(dst, names + off, val, (size_t)n, 0);
	}
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	futimens(dst, ts);
}

void unpack_inherit_dirs(int rootfd, const struct unpack_result *res, const int *lower,
			 size_t nlower)
{
	int *fd = malloc((nlower + 1) * sizeof(*fd));
	unsigned *out = malloc((nlower + 1) * sizeof(*out));
	if (!fd || !out)
		abort();
	fd[0] = rootfd;
	memcpy(fd + 1, lower, nlower * sizeof(*fd));
	struct inherit_stack is = { .fds = { fd, NULL } };
	struct lfs_union_stack stack = { (unsigned)nlower + 1, inherit_probe, &is };
	for (size_t i = 0; i < res->nimplicit; i++) {
		const char *path = res->implicit[i];
		char dir[PATH_MAX];
		is.leaf = split_path(path, dir, sizeof(dir));
		is.dirpath = dir;
		unsigned nout, supplier;
		enum lfs_union_kind kind;
		if (lfs_union_resolve_path(&stack, path, out, &nout, &supplier, &kind) < 0 ||
		    supplier == 0 || !lfs_union_kind_is_dir(kind))
			continue;    /* hidden from below, or not a directory there */
		int src = lfs_openat_beneath(fd[supplier], path, O_RDONLY | O_DIRECTORY, 0, true);
		int dst = lfs_openat_beneath(rootfd, path, O_RDONLY | O_DIRECTORY, 0, true);
		if (src >= 0 && dst >= 0)
			copy_dir_attrs(src, dst);
		if (src >= 0)
			close(src);
		if (dst >= 0)
			close(dst);
	}
	free(fd);
	free(out);
}

void unpack_result_free(struct unpack_result *res)
{
	for (size_t i = 0; i < res->nimplicit; i++)
		free(res->implicit[i]);
	free(res->implicit);
	res->implicit = NULL;
	res->nimplicit = res->capimplicit = 0;
}
