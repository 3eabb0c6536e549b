/* A directory tree -> a deterministic gzip'd layer tarball; see layerwrite.h.
 * libarchive writes the tar (pax, restricted to ustar where that suffices)
 * into our callback, which hashes it (diff_id), gzips it with zlib (no name,
 * no timestamp in the gzip header) and hashes and writes the result. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "layerfs/fdio.h"
#include "layerfs/longwh.h"
#include "layerfs/metacopy.h"
#include "layerfs/plinkmark.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "dirnames.h"
#include "layerwrite.h"
#include "mergedwalk.h"

struct lw {
	int outfd;
	struct digest tar, blob;
	z_stream z;
	unsigned char zbuf[1 << 16];
	struct layer_blob *out;
	struct archive *a;
	void *links;        /* tsearch tree of struct link */
	int failed;
	const struct mw_view *view;  /* the lower view, for redirects (or NULL) */
	int rootfd;         /* the rw layer */
	unsigned aliases;   /* indexed copies among the links */
};

/* A multiply-linked file already in the tar, by inode; or (alias) the
 * lower inode an indexed copy in the tar stands for. */
struct link {
	dev_t dev;
	ino_t ino;
	char *path;
	bool alias;
};

/* Deflates what is in z's input (finishing when flush is Z_FINISH). */
static int deflate_out(struct lw *w, int flush)
{
	int zrc;
	do {
		w->z.next_out = w->zbuf;
		w->z.avail_out = sizeof(w->zbuf);
		zrc = deflate(&w->z, flush);
		if (zrc == Z_STREAM_ERROR)
			return -1;
		size_t have = sizeof(w->zbuf) - w->z.avail_out;
		digest_update(&w->blob, w->zbuf, have);
		w->out->blob_size += have;
		if (have && lfs_write_all(w->outfd, w->zbuf, have) < 0)
			return -1;
	} while (w->z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
	return 0;
}

static la_ssize_t tar_write(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct lw *w = arg;
	digest_update(&w->tar, buf, len);
	w->out->tar_size += len;
	w->z.next_in = (unsigned char *)buf;
	w->z.avail_in = (uInt)len;
	if (deflate_out(w, Z_NO_FLUSH) < 0) {
		archive_set_error(a, EIO, "writing the layer blob: %s", strerror(errno));
		return -1;
	}
	return (la_ssize_t)len;
}

static int tar_close(struct archive *a, void *arg)
{
	struct lw *w = arg;
	w->z.avail_in = 0;
	if (deflate_out(w, Z_FINISH) < 0) {
		archive_set_error(a, EIO, "finishing the layer blob: %s", strerror(errno));
		return ARCHIVE_FATAL;
	}
	return ARCHIVE_OK;
}

static int cmp_link(const void *a, const void *b)
{
	const struct link *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void free_link(void *p)
{
	struct link *l = p;
	free(l->path);
	free(l);
}


/* Adds the xattrs of DIRFD/NAME (not following a symlink), sorted. */
static void add_xattrs(struct archive_entry *e, int dirfd, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	ssize_t len = llistxattr(path, NULL, 0);
	if (len <= 0)
		return;
	char *list = malloc((size_t)len + 1);
	len = list ? llistxattr(path, list, (size_t)len) : -1;
	size_t n = 0;
	const char *names[1024];
	for (ssize_t off = 0; off < len && n < 1024; off += (ssize_t)strlen(list + off) + 1)
		if (!lfs_is_internal_xattr(list + off))
			names[n++] = list + off;
	qsort(names, n, sizeof(*names), lw_cmp_strp);
	for (size_t i = 0; i < n; i++) {
		ssize_t vlen = lgetxattr(path, names[i], NULL, 0);
		char *val = vlen >= 0 ? malloc((size_t)vlen + 1) : NULL;
		if (val && (vlen = lgetxattr(path, names[i], val, (size_t)vlen)) >= 0)
			archive_entry_xattr_add_entry(e, names[i], val, (size_t)vlen);
		free(val);
	}
	free(list);
}

/* The file name resolves to, by the union rule, in the copies
 * dir->fd[from..] of its directory, opened, if it is the lower file mc
 * names; else -1 (told). */
static int open_lower_copy(const struct mw_stack *dir, unsigned from, const char *name,
			   const struct lfs_metacopy *mc, const char *rel)
{
	for (unsigned i = from; i < dir->n; i++) {
		struct stat st;
		enum lfs_union_kind kind;
		if (lfs_union_probe_at(dir->fd[i], name, true, &st, &kind) < 0)
			break;
		if (kind == LFS_UNION_ABSENT)
			continue;
		if (!lfs_union_kind_present(kind) || !lfs_metacopy_matches(mc, &st))
			break;
		int fd = openat(dir->fd[i], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		break;
	}
	fprintf(stderr, "layerctl: %s: a metadata-only copy whose lower file is gone or changed; "
		"its data is lost\n", rel);
	return -1;
}

/* The data of a metadata-only copy (layerfs/metacopy.h) in dirfd: the
 * lower view's file of that name, in the copies below dirfd in dir (the
 * stack of its directory) or, without one, in the view's directory of rel. */
static int open_metacopy_data(struct lw *w, const struct mw_stack *dir, int dirfd,
			      const char *name, const char *rel, const struct lfs_metacopy *mc)
{
	for (unsigned i = 0; dir && i < dir->n; i++)
		if (dir->fd[i] == dirfd)
			return open_lower_copy(dir, i + 1, name, mc, rel);
	struct mw_stack below = { 0 };
	char *parent = strdup(rel);
	if (!parent)
		abort();
	char *slash = strrchr(parent, '/');
	*(slash ? slash : parent) = '\0';
	int ret = w->view ? mw_stack_at(w->view, parent, &below) : -ENOENT;
	free(parent);
	int fd = ret == 0 ? open_lower_copy(&below, 0, name, mc, rel) : -1;
	if (ret)
		fprintf(stderr, "layerctl: %s: a metadata-only copy without its lower layers\n", rel);
	mw_stack_free(&below);
	return fd;
}

static int copy_data(struct lw *w, int dirfd, const char *name, const char *rel,
		     const struct stat *st, const struct mw_stack *dir)
{
	struct lfs_metacopy mc;
	int marked = lfs_metacopy_maybe(st) ? lfs_metacopy_read_at(dirfd, name, &mc) : 0;
	if (marked < 0) {
		fprintf(stderr, "layerctl: %s: an unreadable metadata-only copy marker: %s\n", rel,
			strerror(-marked));
		return -1;
	}
	int fd = marked ? open_metacopy_data(w, dir, dirfd, name, rel, &mc)
			: openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (!marked)
			fprintf(stderr, "layerctl: %s: %s\n", rel, strerror(errno));
		return -1;
	}
	char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(w->a, buf, (size_t)n) < 0)
			break;
	int err = n < 0 ? errno : 0;
	close(fd);
	if (n != 0) {
		fprintf(stderr, "layerctl: %s: %s\n", rel,
			err ? strerror(err) : archive_error_string(w->a));
		return -1;
	}
	return 0;
}

static struct link *find_link(struct lw *w, dev_t dev, ino_t ino)
{
	struct link key = { .dev = dev, .ino = ino };
	void *found = tfind(&key, &w->links, cmp_link);
	return found ? *(struct link **)found : NULL;
}

static void add_link(struct lw *w, dev_t dev, ino_t ino, const char *rel, bool alias)
{
	struct link *l = malloc(sizeof(*l));
	if (!l || !(l->path = strdup(rel)))
		abort();
	l->dev = dev;
	l->ino = ino;
	l->alias = alias;
	tsearch(l, &w->links, cmp_link);
}

/* An indexed copy (layerfs/plinkmark.h) written as rel: its lower inode
 * becomes an alias of rel, for the lower names written after the walk. */
static void note_indexed_copy(struct lw *w, int dirfd, const char *name, const char *rel)
{
	char key[LFS_PLINK_KEY_MAX];
	struct lfs_plink_count count;
	dev_t dev;
	ino_t ino;
	if (!lfs_plink_read_mark_at(dirfd, name, key, sizeof(key), &count) ||
	    !lfs_plink_key_inode(key, &dev, &ino) || find_link(w, dev, ino))
		return;
	add_link(w, dev, ino, rel, true);
	w->aliases++;
}

/* For a multiply-linked regular file: the path of its first name in the
 * tar (then it becomes a hardlink entry) or NULL (this is the first). */
static const char *first_link(struct lw *w, int dirfd, const char *name,
			      const struct stat *st, const char *rel)
{
	struct link *l = find_link(w, st->st_dev, st->st_ino);
	if (l)
		return l->path;
	add_link(w, st->st_dev, st->st_ino, rel, false);
	note_indexed_copy(w, dirfd, name, rel);
	return NULL;
}

static void fill_entry(struct archive_entry *e, const struct stat *st, const char *rel)
{
	archive_entry_set_pathname(e, rel);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	archive_entry_set_size(e, 0);
}

static int walk(struct lw *w, int dirfd, const char *prefix);

/* The tar entry of DIRFD/NAME (stat st), path REL, with its data; dir is
 * the stack DIRFD belongs to when known (for a metadata-only copy's data). */
static int write_entry(struct lw *w, int dirfd, const char *name, const struct stat *st,
		       const char *rel, const struct mw_stack *dir)
{
	bool marker = lfs_is_marker_name(name);
	if (S_ISSOCK(st->st_mode) || (marker && !S_ISREG(st->st_mode))) {
		fprintf(stderr, "layerctl: warning: %s: %s cannot go in a layer; left out\n", rel,
			marker ? "a marker that is not a file" : "a socket");
		return 0;
	}
	struct archive_entry *e = archive_entry_new();
	fill_entry(e, st, rel);
	const char *link = NULL;
	char target[PATH_MAX];
	if (S_ISREG(st->st_mode) && !marker) {
		link = st->st_nlink > 1 ? first_link(w, dirfd, name, st, rel) : NULL;
		if (link)
			archive_entry_set_hardlink(e, link);
		else
			archive_entry_set_size(e, st->st_size);
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
	}
	if (!marker && !link)
		add_xattrs(e, dirfd, name);
	int rc = archive_write_header(w->a, e) < ARCHIVE_WARN ? -1 : 0;
	archive_entry_free(e);
	if (rc < 0) {
		fprintf(stderr, "layerctl: %s: %s\n", rel, archive_error_string(w->a));
		return -1;
	}
	w->out->entries++;
	if (S_ISREG(st->st_mode) && !marker && !link && st->st_size > 0)
		rc = copy_data(w, dirfd, name, rel, st, dir);
	return rc;
}

static char *join_rel(const char *prefix, const char *name)
{
	char *rel;
	if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", name) < 0)
		abort();
	return rel;
}

/* ---- a directory the container renamed (a redirect): written whole ---- */

struct merged_ctx {
	struct lw *w;
	const char *prefix;
	const struct mw_stack *dir;
};

static int write_merged(struct lw *w, const struct mw_stack *dir, const char *prefix);

static int merged_entry(void *arg, const char *name, int dfd, const struct stat *st,
			const struct mw_stack *sub)
{
	struct merged_ctx *c = arg;
	char *rel = join_rel(c->prefix, name);
	int rc = write_entry(c->w, dfd, name, st, rel, c->dir);
	if (rc == 0 && sub)
		rc = write_merged(c->w, sub, rel);
	free(rel);
	return rc;
}

static int write_merged(struct lw *w, const struct mw_stack *dir, const char *prefix)
{
	struct merged_ctx c = { w, prefix, dir };
	int rc = mw_list(w->view, dir, merged_entry, &c);
	if (rc < 0 && rc != -1)
		fprintf(stderr, "layerctl: %s: %s\n", prefix, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* An rw directory redirected to its lower parts elsewhere: in the layer it
 * is an opaque directory holding the whole merged tree, so that the layer
 * never depends on the redirect. */
static int write_redirected(struct lw *w, int dirfd, const char *rel)
{
	struct stat st;
	if (fstatat(dirfd, LFS_WH_OPAQUE, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	char *opq = join_rel(rel, LFS_WH_OPAQUE);
	struct archive_entry *e = archive_entry_new();
	fill_entry(e, &st, opq);
	int rc = archive_write_header(w->a, e) < ARCHIVE_WARN ? -1 : 0;
	archive_entry_free(e);
	free(opq);
	if (rc == 0)
		w->out->entries++;
	struct mw_stack stack;
	if (rc == 0 && (rc = mw_stack_rw(w->view, dirfd, &stack)) == 0) {
		rc = write_merged(w, &stack, rel);
		mw_stack_free(&stack);
	}
	return rc < 0 ? -1 : 0;
}

/* One entry DIRFD/NAME, path REL in the tar (a directory with its tree). */
static int write_one(struct lw *w, int dirfd, const char *name, const char *rel)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = write_entry(w, dirfd, name, &st, rel, NULL);
	if (rc == 0 && S_ISDIR(st.st_mode) && !lfs_is_marker_name(name)) {
		int sub = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char *redirect = NULL;
		if (sub < 0)
			rc = -1;
		else if (w->view && lfs_union_redirect_at(sub, ".", &redirect) == 1)
			rc = write_redirected(w, sub, rel);
		else
			rc = walk(w, sub, rel);
		free(redirect);
		if (sub >= 0)
			close(sub);
	}
	return rc;
}

/* The long-name whiteouts of DIRFD (layerfs/longwh.h) as the standard
 * ".wh.NAME" entries of up to 259 bytes (pax long names), sorted, with the
 * list file's owner, mode and time. */
struct long_names {
	char **v;
	size_t n;
};

static int collect_name(void *arg, const char *name)
{
	struct long_names *l = arg;
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v || !(v[l->n] = strdup(name)))
		abort();
	l->v = v;
	l->n++;
	return 0;
}

static int write_long_whiteouts(struct lw *w, int dirfd, const char *prefix)
{
	struct stat st;
	if (fstatat(dirfd, LFS_WH_LONG, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	struct long_names l = { 0 };
	int err = lfs_union_list_foreach_long(dirfd, collect_name, &l);
	if (err < 0) {
		fprintf(stderr, "layerctl: %s%s" LFS_WH_LONG ": %s\n", prefix, *prefix ? "/" : "",
			strerror(-err));
		return -1;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), lw_cmp_strp);
	int rc = 0;
	for (size_t i = 0; i < l.n; i++) {
		char *rel;
		if (rc == 0 && asprintf(&rel, "%s%s" LFS_WH_PREFIX "%s", prefix, *prefix ? "/" : "",
					l.v[i]) >= 0) {
			struct archive_entry *e = archive_entry_new();
			fill_entry(e, &st, rel);
			archive_entry_set_mode(e, S_IFREG | (st.st_mode & 07777));
			rc = archive_write_header(w->a, e) < ARCHIVE_WARN ? -1 : 0;
			if (rc < 0)
				fprintf(stderr, "layerctl: %s: %s\n", rel, archive_error_string(w->a));
			else
				w->out->entries++;
			archive_entry_free(e);
			free(rel);
		}
		free(l.v[i]);
	}
	free(l.v);
	return rc;
}

/* Writes the entries of DIRFD, whose tar path is PREFIX ("" at the root). */
static int walk(struct lw *w, int dirfd, const char *prefix)
{
	char **names;
	ssize_t n = lw_sorted_names(dirfd, &names);
	if (n < 0) {
		fprintf(stderr, "layerctl: cannot read %s: %s\n", *prefix ? prefix : "/",
			strerror(errno));
		return -1;
	}
	int rc = 0;
	for (ssize_t i = 0; i < n && rc == 0; i++) {
		if (strcmp(names[i], LFS_WH_LONG) == 0) {
			rc = write_long_whiteouts(w, dirfd, prefix);
			continue;
		}
		if (lfs_is_meta_name(names[i]) && !lfs_is_opaque_name(names[i]))
			continue;
		char *rel;
		if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", names[i]) < 0)
			abort();
		rc = write_one(w, dirfd, names[i], rel);
		free(rel);
	}
	lw_free_names(names, n);
	return rc;
}

/* ---- lower names of indexed copies ---------------------------------- */

/* The container saw every lower name of a file it changed through one
 * name as that one changed file (the daemon's hardlink index); the rw layer
 * holds only the names it touched. Each other lower name that the rw layer
 * leaves visible (by the union rule, rw layer on top) goes into the tar as
 * a link of the copy, so that the layer shows what the container saw. */
struct alias_ctx {
	struct lw *w;
	const char *prefix;
};

static int visible_below_rw(struct lw *w, const char *rel)
{
	unsigned n = 1 + w->view->nroots;
	int fds[n];
	fds[0] = w->rootfd;
	for (unsigned i = 1; i < n; i++)
		fds[i] = w->view->roots[i - 1];
	struct lfs_union_fds ctx = { fds, NULL };
	struct lfs_union_stack stack = { n, lfs_union_probe_fds, &ctx };
	unsigned out[n], nout, supplier;
	enum lfs_union_kind kind;
	int ret = lfs_union_resolve_path(&stack, rel, out, &nout, &supplier, &kind);
	return ret == 0 && supplier > 0 && kind == LFS_UNION_NONDIR;
}

static int alias_walk(struct lw *w, const struct mw_stack *dir, const char *prefix);

static int alias_entry(void *arg, const char *name, int dfd, const struct stat *st,
		       const struct mw_stack *sub)
{
	(void)dfd;
	struct alias_ctx *c = arg;
	char *rel = join_rel(c->prefix, name);
	int rc = 0;
	struct link *l = S_ISREG(st->st_mode) && st->st_nlink > 1
			 ? find_link(c->w, st->st_dev, st->st_ino) : NULL;
	if (l && l->alias && strcmp(l->path, rel) != 0 && visible_below_rw(c->w, rel)) {
		struct archive_entry *e = archive_entry_new();
		fill_entry(e, st, rel);
		archive_entry_set_hardlink(e, l->path);
		rc = archive_write_header(c->w->a, e) < ARCHIVE_WARN ? -1 : 0;
		archive_entry_free(e);
		if (rc < 0)
			fprintf(stderr, "layerctl: %s: %s\n", rel, archive_error_string(c->w->a));
		else
			c->w->out->entries++;
	}
	if (rc == 0 && sub)
		rc = alias_walk(c->w, sub, rel);
	free(rel);
	return rc;
}

static int alias_walk(struct lw *w, const struct mw_stack *dir, const char *prefix)
{
	struct alias_ctx c = { w, prefix };
	int rc = mw_list(w->view, dir, alias_entry, &c);
	if (rc < 0 && rc != -1)
		fprintf(stderr, "layerctl: %s: %s\n", *prefix ? prefix : "/", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int write_lower_names(struct lw *w)
{
	if (!w->aliases || !w->view)
		return 0;
	struct mw_stack root;
	int rc = mw_stack_at(w->view, "", &root);
	if (rc < 0) {
		fprintf(stderr, "layerctl: the lower layers: %s\n", strerror(-rc));
		return -1;
	}
	rc = alias_walk(w, &root, "");
	mw_stack_free(&root);
	return rc;
}

int layerwrite(int rootfd, const struct mw_view *view, int outfd, struct layer_blob *out)
{
	struct lw *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->view = view;
	w->rootfd = rootfd;
	memset(out, 0, sizeof(*out));
	w->outfd = outfd;
	w->out = out;
	digest_init(&w->tar);
	digest_init(&w->blob);
	int rc = -1;
	if (deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(w);
		return -1;
	}
	w->a = archive_write_new();
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(w->a, w, NULL, tar_write, tar_close, NULL) != ARCHIVE_OK) {
		fprintf(stderr, "layerctl: cannot start a tar stream: %s\n",
			archive_error_string(w->a));
		goto done;
	}
	rc = walk(w, rootfd, "");
	if (rc == 0)
		rc = write_lower_names(w);
	if (archive_write_close(w->a) != ARCHIVE_OK && rc == 0) {
		fprintf(stderr, "layerctl: writing the layer: %s\n", archive_error_string(w->a));
		rc = -1;
	}
	digest_final_hex(&w->tar, out->diff_id);
	digest_final_hex(&w->blob, out->digest);
done:
	archive_write_free(w->a);
	deflateEnd(&w->z);
	tdestroy(w->links, free_link);
	free(w);
	return rc;
}
