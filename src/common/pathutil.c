/* Path and name containment helpers: see include/layerfs/pathutil.h. */
#include "layerfs/pathutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

bool lfs_name_is_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	if (strchr(name, '/') != NULL)
		return false;
	return strnlen(name, NAME_MAX + 1) <= NAME_MAX;
}

/* Steps *p over slashes and returns the length of the component that starts
 * there (0 at the end of the string). */
static size_t next_component(const char **p)
{
	while (**p == '/')
		(*p)++;
	return strcspn(*p, "/");
}

static bool is_dot(const char *c, size_t len)
{
	return len == 1 && c[0] == '.';
}

static bool is_dotdot(const char *c, size_t len)
{
	return len == 2 && c[0] == '.' && c[1] == '.';
}

/* First pass: everything that makes the path unacceptable whatever the room
 * in the output buffer. Containment errors win over length errors. */
static int check_relative_path(const char *in)
{
	if (in[0] == '/')
		return -EINVAL;
	bool too_long = false;
	const char *p = in;
	for (size_t len; (len = next_component(&p)) > 0; p += len) {
		if (is_dotdot(p, len))
			return -EINVAL;
		if (len > NAME_MAX)
			too_long = true;
	}
	return too_long ? -ENAMETOOLONG : 0;
}

/* Second pass: joins the components that are not "." with single slashes.
 * Writing never overtakes reading, so in == out works too. */
static int join_components(const char *in, char *out, size_t outsz)
{
	size_t limit = outsz < PATH_MAX ? outsz : PATH_MAX;
	size_t used = 0;
	const char *p = in;
	for (size_t len; (len = next_component(&p)) > 0; p += len) {
		if (is_dot(p, len))
			continue;
		size_t sep = used > 0 ? 1 : 0;
		if (used + sep + len >= limit)
			return -ENAMETOOLONG;
		if (sep)
			out[used++] = '/';
		memmove(out + used, p, len);
		used += len;
	}
	if (used == 0) {
		if (limit < 2)
			return -ENAMETOOLONG;
		out[used++] = '.';
	}
	out[used] = '\0';
	return 0;
}

/* Beyond the header: a component longer than NAME_MAX, or a result that
 * does not fit PATH_MAX (or outsz) bytes with its NUL, is -ENAMETOOLONG.
 * On error out holds "" (when outsz allows). */
int lfs_path_normalize(const char *in, char *out, size_t outsz)
{
	int rc = in == NULL ? -EINVAL : check_relative_path(in);
	if (rc == 0 && (out == NULL || outsz == 0))
		return -ENAMETOOLONG;
	if (rc == 0)
		rc = join_components(in, out, outsz);
	if (rc != 0 && out != NULL && outsz > 0)
		out[0] = '\0';
	return rc;
}

bool lfs_path_is_beneath(const char *base, const char *path)
{
	if (base == NULL || path == NULL || base[0] != '/' || path[0] != '/')
		return false;
	size_t blen = strlen(base);
	/* Tolerate a trailing slash on base ("/a/" acts as "/a"). */
	while (blen > 1 && base[blen - 1] == '/')
		blen--;
	if (strncmp(base, path, blen) != 0)
		return false;
	/* blen == 1 is "/": every absolute path lies below the root. */
	return blen == 1 || path[blen] == '\0' || path[blen] == '/';
}

static bool creates_file(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* openat2 fails with EAGAIN when a concurrent rename keeps it from proving
 * that ".." stayed beneath dirfd; a retry normally succeeds. */
#define OPENAT2_ATTEMPTS 8

/* Without openat2 (kernels before 5.6, valgrind, seccomp filters that say
 * ENOSYS): with no symlinks allowed, a walk one component at a time with
 * O_NOFOLLOW stays beneath dirfd as well; ".." is refused (EXDEV, as
 * RESOLVE_BENEATH does for a ".." that would leave). */
static int openat_beneath_walk(int dirfd, const char *relpath, int flags, mode_t mode)
{
	char buf[PATH_MAX];
	if (strlen(relpath) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, relpath);
	int cur = dirfd;
	char *save = NULL;
	char *comp = strtok_r(buf, "/", &save);
	if (comp == NULL)
		comp = ".";
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, "..") == 0) {
			if (cur != dirfd)
				close(cur);
			return -EXDEV;
		}
		int fd = next ? openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			      : openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		int err = errno;
		if (cur != dirfd)
			close(cur);
		if (fd < 0)
			return err == ELOOP ? -ELOOP : -err;
		if (!next)
			return fd;
		cur = fd;
		comp = next;
	}
}

/* The kernel takes paths of PATH_MAX bytes at most. A longer one is opened
 * piece by piece, each piece a run of whole components beneath the
 * directory the previous piece opened: every piece stays beneath its
 * start, so the whole path stays beneath dirfd. */
#define PIECE_MAX (PATH_MAX - NAME_MAX - 2)

static int openat_beneath_one(int dirfd, const char *relpath, int flags, mode_t mode,
			      bool no_symlinks);

static int openat_beneath_long(int dirfd, const char *relpath, int flags, mode_t mode,
			       bool no_symlinks)
{
	char piece[PIECE_MAX + 1];
	int cur = dirfd;
	const char *p = relpath;
	while (strlen(p) >= PATH_MAX) {
		size_t len = PIECE_MAX;
		while (len > 0 && p[len] != '/')
			len--;
		if (len == 0) {
			if (cur != dirfd)
				close(cur);
			return -ENAMETOOLONG;     /* a component longer than a piece */
		}
		memcpy(piece, p, len);
		piece[len] = '\0';
		int next = openat_beneath_one(cur, piece, O_PATH | O_DIRECTORY, 0, no_symlinks);
		if (cur != dirfd)
			close(cur);
		if (next < 0)
			return next;
		cur = next;
		p += len;
		while (*p == '/')
			p++;
	}
	int fd = openat_beneath_one(cur, *p ? p : ".", flags, mode, no_symlinks);
	if (cur != dirfd)
		close(cur);
	return fd;
}

int lfs_openat_beneath(int dirfd, const char *relpath, int flags, mode_t mode,
		       bool no_symlinks)
{
	if (relpath == NULL)
		return -EINVAL;
	if (relpath[0] == '\0')
		relpath = ".";
	if (strnlen(relpath, PATH_MAX) >= PATH_MAX)
		return openat_beneath_long(dirfd, relpath, flags, mode, no_symlinks);
	return openat_beneath_one(dirfd, relpath, flags, mode, no_symlinks);
}

static int openat_beneath_one(int dirfd, const char *relpath, int flags, mode_t mode,
			      bool no_symlinks)
{

	struct open_how how = {
		.flags = (unsigned int)(flags | O_CLOEXEC),
		/* openat2 rejects a mode unless the call can create a file. */
		.mode = creates_file(flags) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
			   (no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
	};

	for (int attempt = 0; attempt < OPENAT2_ATTEMPTS; attempt++) {
		long fd = syscall(SYS_openat2, dirfd, relpath, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == ENOSYS && no_symlinks)
			return openat_beneath_walk(dirfd, relpath, flags, mode);
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return -errno;
}
