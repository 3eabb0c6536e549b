/* Inspection and control of a mount, as aufs's /sys/fs/aufs/si_<id>: a
 * runtime directory with br<N> (path=perm), brid<N>, mnt, pid, and a control
 * socket through which layerctl lists, adds, removes and changes branches
 * and asks which branch supplies a path. */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "branchops.h"
#include "entry.h"
#include "layerfs/fdio.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"
#include "nodepath.h"
#include "branch.h"
#include "workdir.h"

#define CTL_MAX_REQUEST 65536

struct lfs_control {
	char base_dir[PATH_MAX];   /* /run/layerfs or the user's */
	char rundir[PATH_MAX];     /* BASE/si_<id> */
	char fresh_dir[PATH_MAX];  /* BASE/.si_<id>.<pid>, while it is made */
	int fd;                    /* the listening socket, -1 */
	pthread_t thread;
	bool started;
	bool stopping;
	pthread_mutex_t lock;      /* a leaf lock: fd and stopping */
};

#define CTL (lfs->control)

void lfs_make_si(void)
{
	unsigned char r[8];
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		uint64_t v = (uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20);
		memcpy(r, &v, sizeof(r));
	}
	for (int i = 0; i < 8; i++)
		snprintf(lfs->si + 2 * i, 3, "%02x", r[i]);
}

/* /run/layerfs as root, $XDG_RUNTIME_DIR/layerfs otherwise. */
static int runtime_base(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (geteuid() == 0)
		n = snprintf(buf, size, "/run/layerfs");
	else if (xdg && *xdg)
		n = snprintf(buf, size, "%s/layerfs", xdg);
	else
		n = snprintf(buf, size, "/tmp/layerfs-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}


/* A runtime directory whose daemon is gone is left-over: remove it. */
static void clean_stale(const char *base)
{
	DIR *d = opendir(base);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		/* ".si_ID.PID" ones are being made (or a daemon was killed while
		 * making one): the maker's pid is in the name, since another
		 * daemon starting at the same time must not take one away before
		 * its pid file is there. */
		bool unfinished = strncmp(de->d_name, ".si_", 4) == 0;
		if (strncmp(de->d_name, "si_", 3) != 0 && !unfinished)
			continue;
		char path[PATH_MAX + NAME_MAX + 8], pidbuf[32] = "";
		const char *dot = unfinished ? strrchr(de->d_name + 1, '.') : NULL;
		if (dot) {
			snprintf(pidbuf, sizeof(pidbuf), "%s", dot + 1);
		} else {
			snprintf(path, sizeof(path), "%s/%s/pid", base, de->d_name);
			FILE *f = fopen(path, "re");
			if (f) {
				if (!fgets(pidbuf, sizeof(pidbuf), f))
					pidbuf[0] = '\0';
				fclose(f);
			}
		}
		long pid = strtol(pidbuf, NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (lfs_remove_tree_at(AT_FDCWD, path) == 0)
			lfs_log("removed stale runtime directory %s", path);
	}
	closedir(d);
}

/* Writes entry name of directory dfd in one write. With replace, through a
 * temporary and a rename, so that a reader never sees it half written (a
 * new runtime directory is made whole before it gets its name instead). */
static int put_entry(int dfd, const char *name, bool replace, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put_entry(int dfd, const char *name, bool replace, const char *fmt, ...)
{
	char text[PATH_MAX + 64], tmp[NAME_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(text))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	const char *target = replace ? tmp : name;
	int fd = openat(dfd, target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int ret = lfs_write_all(fd, text, (size_t)len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && replace && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	if (ret && replace)
		unlinkat(dfd, tmp, 0);
	return ret;
}

/* br<N> and brid<N> for the current branch set (caller holds branch_lock);
 * fresh: dfd is a new directory, nobody reads it yet. */
static void write_branch_entries(int dfd, bool fresh)
{
	if (!fresh) {
		DIR *d = fdopendir(dup(dfd));
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)))
				if (strncmp(de->d_name, "br", 2) == 0)
					unlinkat(dfd, de->d_name, 0);
			closedir(d);
		}
	}
	for (int i = 0; i < lfs->nbr; i++) {
		char name[32];
		snprintf(name, sizeof(name), "br%d", i);
		put_entry(dfd, name, !fresh, "%s=%s\n", lfs->br[i].path,
			  lfs_perm_name(lfs->br[i].perm, lfs->br[i].wh));
		snprintf(name, sizeof(name), "brid%d", i);
		put_entry(dfd, name, !fresh, "%llu\n", (unsigned long long)lfs->br[i].id);
	}
}

static void rewrite_branch_entries(void)
{
	int dfd = open(CTL->rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	write_branch_entries(dfd, false);
	close(dfd);
}

/* ---- requests ---- */

static int branch_by_name(const char *what)
{
	char *end;
	long idx = strtol(what, &end, 10);
	if (*what && !*end)
		return idx >= 0 && idx < lfs->nbr ? (int)idx : -1;
	char *real = realpath(what, NULL);
	int found = -1;
	for (int i = 0; real && i < lfs->nbr && found < 0; i++)
		if (strcmp(lfs->br[i].path, real) == 0)
			found = i;
	free(real);
	return found;
}

static void list_branches(FILE *out)
{
	for (int i = 0; i < lfs->nbr; i++)
		fprintf(out, "%d\t%llu\t%s\t%s\n", i, (unsigned long long)lfs->br[i].id,
			lfs_perm_name(lfs->br[i].perm, lfs->br[i].wh), lfs->br[i].path);
}

/* One branch's say about name in dir (see lfs_control_which). */
static const char *role_name(enum lfs_union_role role)
{
	switch (role) {
	case LFS_UNION_SUPPLIES: return "supplies";
	case LFS_UNION_MERGES: return "merges";
	case LFS_UNION_HIDDEN: return "hidden";
	case LFS_UNION_HIDES: return "whiteout";
	default: return NULL;
	}
}

/* Whether directory name in dfd of branch b is redirected: its opaque
 * marker holds where its lower parts are (followed in a rw branch). */
static bool is_redirect(int b, int dfd, const char *name)
{
	char *target = NULL;
	bool yes = lfs_branch_is_rw(b) && lfs_union_redirect_at(dfd, name, &target) == 1;
	free(target);
	return yes;
}

/* Branch b's line(s) for name in directory dirpath: its role, and the
 * opaque marker that ends a merge. */
static void which_branch(int b, const char *dirpath, const char *name,
			 struct lfs_union_walk *w, FILE *out)
{
	int dfd = lfs_open_dir(b, dirpath);
	if (dfd < 0)
		return;
	enum lfs_union_kind kind;
	if (lfs_union_probe_at(dfd, name, lfs->br[b].wh, NULL, &kind) == 0) {
		enum lfs_union_role role = lfs_union_step(w, kind);
		const char *sep = *dirpath ? "/" : "";
		const char *what = role_name(role);
		if (role == LFS_UNION_HIDES)
			fprintf(out, "whiteout\t%d\t%s/%s%s" LFS_WH_PREFIX "%s\n", b, lfs->br[b].path,
				dirpath, sep, name);
		else if (what)
			fprintf(out, "%s\t%d\t%s/%s%s%s\n", what, b, lfs->br[b].path, dirpath, sep,
				name);
		if (kind == LFS_UNION_OPAQUE_DIR &&
		    (role == LFS_UNION_SUPPLIES || role == LFS_UNION_MERGES))
			fprintf(out, "%s\t%d\t%s/%s%s%s/%s\n",
				is_redirect(b, dfd, name) ? "redirect" : "opaque", b,
				lfs->br[b].path, dirpath, sep, name, LFS_WH_OPAQUE);
	}
	close(dfd);
}

/* The lower directories merged into name in dir when it is a directory
 * redirected in the rw branch (the walk above stops at its opaque marker). */
static int which_redirected(struct node *dir, const char *name, FILE *out)
{
	struct fuse_entry_param e = { 0 };
	int ret = lfs_lookup_entry(dir, name, &e);
	if (ret != 0 || !e.ino)
		return ret == -ENOENT ? 0 : ret;
	struct node *n = lfs_node(e.ino);
	uint16_t dirbr[LFS_MAX_BRANCHES];
	unsigned nd = S_ISDIR(e.attr.st_mode) && n->lower_path ? lfs_node_dirbr(n, dirbr) : 0;
	char *upper = NULL, *lower = NULL;
	if (nd > 1)
		ret = lfs_node_paths(n, &upper, &lower);
	for (unsigned i = 1; ret == 0 && i < nd; i++)
		fprintf(out, "merges\t%d\t%s/%s\n", dirbr[i], lfs->br[dirbr[i]].path,
			lfs_path_in(dirbr[i], upper, lower));
	free(upper);
	free(lower);
	lfs_node_forget(n, 1);
	return ret;
}

/* Which branch supplies relpath, which lower copies it hides, or what hides
 * it: lines "ROLE\tINDEX\tPATH" with ROLE supplies, merges, hidden, opaque or
 * whiteout. Caller holds branch_lock. */
static int which(const char *relpath, FILE *out)
{
	char *copy = strdup(relpath), *save = NULL;
	if (!copy)
		return -ENOMEM;
	/* The directories walked through, referenced until the answer is out
	 * (a path of any depth: a request may be 64 KiB of "a/"). */
	struct node *dir = lfs->root, **held = NULL;
	size_t nheld = 0, capheld = 0;
	char *comp = strtok_r(copy, "/", &save), *last = NULL;
	int ret = 0;
	for (; comp && ret == 0; comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..") || lfs_is_marker_name(comp)) {
			ret = -EINVAL;
			break;
		}
		if (last) {
			struct fuse_entry_param e = { 0 };
			ret = lfs_lookup_entry(dir, last, &e);
			if (ret == 0 && !S_ISDIR(e.attr.st_mode))
				ret = -ENOTDIR;
			if (e.ino && nheld == capheld) {
				capheld = capheld ? 2 * capheld : 16;
				struct node **v = realloc(held, capheld * sizeof(*v));
				if (!v) {
					lfs_node_forget(lfs_node(e.ino), 1);
					ret = -ENOMEM;
					break;
				}
				held = v;
			}
			if (e.ino)
				held[nheld++] = dir = lfs_node(e.ino);
		}
		last = comp;
	}
	if (ret == 0 && !last) {
		for (int b = 0; b < lfs->nbr; b++)
			fprintf(out, "%s\t%d\t%s\n", b ? "merges" : "supplies", b, lfs->br[b].path);
	} else if (ret == 0) {
		uint16_t dirbr[LFS_MAX_BRANCHES];
		char *upper = NULL, *lower = NULL;
		unsigned nd = lfs_node_dirbr(dir, dirbr);
		ret = lfs_node_paths(dir, &upper, &lower);
		struct lfs_union_walk w = LFS_UNION_WALK_INIT;
		for (unsigned i = 0; ret == 0 && i < nd; i++)
			which_branch(dirbr[i], lfs_path_in(dirbr[i], upper, lower), last, &w, out);
		if (ret == 0 && !w.found && ftell(out) == 0)
			ret = -ENOENT;
		if (ret == 0 && w.found)
			ret = which_redirected(dir, last, out);
		free(upper);
		free(lower);
	}
	while (nheld)
		lfs_node_forget(held[--nheld], 1);
	free(held);
	free(copy);
	return ret;
}

static int parse_perm_arg(const char *s, enum lfs_perm *perm, bool *wh, FILE *out)
{
	if (lfs_parse_perm(s, perm, wh) == 0)
		return 0;
	fprintf(out, "bad permission '%s' (rw, ro, ro+wh, rr, rr+wh)", s);
	return -EINVAL;
}

/* Runs a branch change under the exclusive lock, then tells the kernel. */
static int change(const char *op, char **argv, int argc, FILE *out)
{
	char err[PATH_MAX * 2 + 128] = "";
	enum lfs_perm perm = LFS_PERM_RO;
	bool wh = false;
	struct lfs_inval iv = { 0 };
	int ret = -EINVAL;
	lfs_branches_wrlock();
	if (!strcmp(op, "add") && argc == 3) {
		char *end;
		long idx = strtol(argv[0], &end, 10);
		ret = *end ? (fprintf(out, "bad index '%s'", argv[0]), -EINVAL)
			   : parse_perm_arg(argv[2], &perm, &wh, out);
		if (ret == 0)
			ret = lfs_branch_add((int)idx, argv[1], perm, wh, &iv, err, sizeof(err));
	} else if ((!strcmp(op, "append") || !strcmp(op, "prepend")) && argc == 2) {
		ret = parse_perm_arg(argv[1], &perm, &wh, out);
		int idx = op[0] == 'a' ? lfs->nbr : (lfs->has_rw && perm != LFS_PERM_RW ? 1 : 0);
		if (ret == 0)
			ret = lfs_branch_add(idx, argv[0], perm, wh, &iv, err, sizeof(err));
	} else if (!strcmp(op, "del") && argc == 1) {
		int idx = branch_by_name(argv[0]);
		ret = idx < 0 ? (fprintf(out, "no branch '%s'", argv[0]), -ENOENT)
			      : lfs_branch_del(idx, &iv, err, sizeof(err));
	} else if (!strcmp(op, "mod") && argc == 2) {
		int idx = branch_by_name(argv[0]);
		ret = idx < 0 ? (fprintf(out, "no branch '%s'", argv[0]), -ENOENT)
			      : parse_perm_arg(argv[1], &perm, &wh, out);
		if (ret == 0)
			ret = lfs_branch_mod(idx, perm, wh, &iv, err, sizeof(err));
	} else {
		fprintf(out, "bad request '%s' with %d arguments", op, argc);
	}
	if (ret == 0)
		rewrite_branch_entries();
	lfs_branches_unlock();
	lfs_inval_send(&iv);
	if (err[0])
		fputs(err, out);
	if (ret == 0)
		lfs_log("branches changed: %s %s", op, argc ? argv[0] : "");
	return ret;
}

/* Splits the NUL-separated request; returns the field count. */
static int split_request(char *buf, size_t len, char **argv, int max)
{
	int argc = 0;
	for (size_t i = 0; i < len && argc < max; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	return argc;
}

static int dispatch(char **argv, int argc, FILE *out)
{
	if (argc == 0)
		return -EINVAL;
	int ret;
	if (!strcmp(argv[0], "branches") || !strcmp(argv[0], "which")) {
		lfs_branches_rdlock();
		if (argv[0][0] == 'b')
			list_branches(out), ret = 0;
		else
			ret = argc == 2 ? which(argv[1], out) : -EINVAL;
		lfs_branches_unlock();
		return ret;
	}
	return change(argv[0], argv + 1, argc - 1, out);
}

static bool peer_allowed(int fd, uid_t *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	*peer = cred.uid;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void serve_client(int fd)
{
	uid_t peer = (uid_t)-1;
	if (!peer_allowed(fd, &peer)) {
		dprintf(fd, "-%d only the mount's owner (uid %u) or root may use this socket "
			"(you are uid %d)\n", EPERM, (unsigned)geteuid(), (int)peer);
		return;
	}
	char *buf = malloc(CTL_MAX_REQUEST);
	size_t len = 0;
	ssize_t n;
	while (buf && len < CTL_MAX_REQUEST - 1 &&
	       (n = read(fd, buf + len, CTL_MAX_REQUEST - 1 - len)) > 0)
		len += (size_t)n;
	if (!buf)
		return;
	buf[len] = '\0';
	char *argv[8];
	int argc = split_request(buf, len, argv, 8);
	char *text = NULL;
	size_t textlen = 0;
	FILE *out = open_memstream(&text, &textlen);
	int ret = out ? dispatch(argv, argc, out) : -ENOMEM;
	if (out)
		fclose(out);
	if (ret)
		dprintf(fd, "%d %s\n", ret, text && *text ? text : strerror(-ret));
	else
		dprintf(fd, "0\n%s", text ? text : "");
	free(text);
	free(buf);
}

static void serve(void)
{
	for (;;) {
		int fd = accept4(CTL->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;   /* shut down */
		}
		serve_client(fd);
		close(fd);
	}
}

/* A listening socket "ctl" in directory dir (before the directory gets its
 * final name: a bound socket moves with its directory). */
static int open_socket(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl", dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Anyone may connect, to be told clearly that they may not. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0666) < 0 || listen(fd, 8) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}


/* The runtime directory, made whole (entries and a listening socket) under
 * a hidden name and then renamed: readers never see half of it, and one
 * rename replaces one per entry (a hundred branches are two hundred). */
static int make_runtime_dir(void)
{
	clean_stale(CTL->base_dir);
	if (mkdir(CTL->fresh_dir, 0755) < 0)
		return -errno;
	int dfd = open(CTL->fresh_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	lfs_branches_rdlock();
	write_branch_entries(dfd, true);
	lfs_branches_unlock();
	put_entry(dfd, "mnt", false, "%s\n", lfs->mountpoint);
	put_entry(dfd, "pid", false, "%d\n", (int)getpid());
	close(dfd);
	int fd = open_socket(CTL->fresh_dir);
	if (fd < 0)
		return fd;
	lfs_mutex_lock(&CTL->lock, LFS_RANK_LEAF);
	int ret = CTL->stopping ? -ESHUTDOWN : rename(CTL->fresh_dir, CTL->rundir) < 0 ? -errno : 0;
	if (ret == 0)
		CTL->fd = fd;
	lfs_mutex_unlock(&CTL->lock, LFS_RANK_LEAF);
	if (ret)
		close(fd);
	return ret;
}

/* Made in a thread of its own: on a slow /run (this machine's is ext4 with
 * slow creates after deletes) two hundred entries took 25 ms, which the
 * mount's first request would otherwise wait for. layerctl waits for the
 * directory of a mount it finds without one. */
static void *control_main(void *arg)
{
	(void)arg;
	int ret = make_runtime_dir();
	if (ret) {
		if (ret != -ESHUTDOWN)
			lfs_log("runtime directory %s: %s", CTL->rundir, strerror(-ret));
		lfs_remove_tree_at(AT_FDCWD, CTL->fresh_dir);
		return NULL;
	}
	serve();
	return NULL;
}

int lfs_control_start(void)
{
	if (!CTL && !(CTL = calloc(1, sizeof(*CTL))))
		return -ENOMEM;
	CTL->fd = -1;
	pthread_mutex_init(&CTL->lock, NULL);
	int ret = runtime_base(CTL->base_dir, sizeof(CTL->base_dir));
	if (ret)
		return ret;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", CTL->base_dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		mkdir(parent, 0755);
	}
	if (mkdir(CTL->base_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (snprintf(CTL->rundir, sizeof(CTL->rundir), "%s/si_%s", CTL->base_dir, lfs->si) >=
		    (int)sizeof(CTL->rundir) ||
	    snprintf(CTL->fresh_dir, sizeof(CTL->fresh_dir), "%s/.si_%s.%d", CTL->base_dir, lfs->si,
		     (int)getpid()) >= (int)sizeof(CTL->fresh_dir))
		return -ENAMETOOLONG;
	ret = pthread_create(&CTL->thread, NULL, control_main, NULL) ? -EAGAIN : 0;
	CTL->started = ret == 0;
	if (ret)
		lfs_log("control thread: %s", strerror(-ret));
	return ret;
}

void lfs_control_stop(void)
{
	if (!CTL)
		return;
	lfs_mutex_lock(&CTL->lock, LFS_RANK_LEAF);
	CTL->stopping = true;
	if (CTL->fd >= 0)
		shutdown(CTL->fd, SHUT_RDWR);
	lfs_mutex_unlock(&CTL->lock, LFS_RANK_LEAF);
	if (CTL->started) {
		pthread_join(CTL->thread, NULL);
		CTL->started = false;
	}
	if (CTL->fd >= 0)
		close(CTL->fd);
	CTL->fd = -1;
	if (CTL->rundir[0])
		lfs_remove_tree_at(AT_FDCWD, CTL->rundir);
	CTL->rundir[0] = '\0';
	pthread_mutex_destroy(&CTL->lock);
	free(CTL);
	CTL = NULL;
}
