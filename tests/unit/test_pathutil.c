/* Unit tests for the path helpers (src/common/pathutil.c). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs/pathutil.h"

/* ---- lfs_name_is_valid ------------------------------------------------ */

static void test_name_is_valid(void **state)
{
	(void)state;
	char name[NAME_MAX + 2];
	assert_true(lfs_name_is_valid("a"));
	assert_true(lfs_name_is_valid("..a"));
	assert_true(lfs_name_is_valid("..."));
	assert_true(lfs_name_is_valid(".hidden"));
	assert_true(lfs_name_is_valid(".wh.x")); /* markers are a whiteout.h matter */
	assert_false(lfs_name_is_valid(""));
	assert_false(lfs_name_is_valid("."));
	assert_false(lfs_name_is_valid(".."));
	assert_false(lfs_name_is_valid("a/b"));
	assert_false(lfs_name_is_valid("/"));
	assert_false(lfs_name_is_valid("a/"));
	assert_false(lfs_name_is_valid(NULL));

	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	assert_true(lfs_name_is_valid(name));
	name[NAME_MAX] = 'n';
	name[NAME_MAX + 1] = '\0';
	assert_false(lfs_name_is_valid(name));
}

/* ---- lfs_path_normalize ----------------------------------------------- */

static void expect_normal(const char *in, const char *want)
{
	char out[PATH_MAX];
	int rc = lfs_path_normalize(in, out, sizeof(out));
	if (rc != 0)
		fail_msg("normalize(\"%s\") failed: %d", in, rc);
	if (strcmp(out, want) != 0)
		fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

static void expect_normalize_error(const char *in, int want)
{
	char out[PATH_MAX];
	strcpy(out, "junk");
	int rc = lfs_path_normalize(in, out, sizeof(out));
	if (rc != want)
		fail_msg("normalize(\"%s\") = %d, want %d", in, rc, want);
	assert_string_equal(out, "");
}

static void test_normalize_simplifies(void **state)
{
	(void)state;
	expect_normal("a//b/./c/", "a/b/c");
	expect_normal("a/b/c", "a/b/c");
	expect_normal("./a", "a");
	expect_normal("././a/./", "a");
	expect_normal("a///", "a");
	expect_normal("a/.//.", "a");
	expect_normal("..a", "..a");
	expect_normal("a/..b/b..", "a/..b/b..");
	expect_normal(".../x", ".../x");
	expect_normal(".wh..wh..opq", ".wh..wh..opq");
}

static void test_normalize_dot(void **state)
{
	(void)state;
	expect_normal("", ".");
	expect_normal(".", ".");
	expect_normal("./", ".");
	expect_normal(".//./", ".");
}

static void test_normalize_rejects_escapes(void **state)
{
	(void)state;
	expect_normalize_error("/etc", -EINVAL);
	expect_normalize_error("/", -EINVAL);
	expect_normalize_error("//a", -EINVAL);
	expect_normalize_error("..", -EINVAL);
	expect_normalize_error("../a", -EINVAL);
	expect_normalize_error("a/../b", -EINVAL);
	expect_normalize_error("a/..", -EINVAL);
	expect_normalize_error("a/../", -EINVAL);
	expect_normalize_error("./..", -EINVAL);
	expect_normalize_error(NULL, -EINVAL);
}

static void test_normalize_lengths(void **state)
{
	(void)state;
	char out[16];
	/* "abc/def" needs 8 bytes with its NUL. */
	assert_int_equal(lfs_path_normalize("abc//def/", out, 8), 0);
	assert_string_equal(out, "abc/def");
	assert_int_equal(lfs_path_normalize("abc//def/", out, 7), -ENAMETOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(lfs_path_normalize("", out, 2), 0);
	assert_string_equal(out, ".");
	assert_int_equal(lfs_path_normalize("", out, 1), -ENAMETOOLONG);
	assert_int_equal(lfs_path_normalize("a", out, 0), -ENAMETOOLONG);
	assert_int_equal(lfs_path_normalize("a", NULL, 0), -ENAMETOOLONG);
	/* ".." wins over the size problem: the path is bad in itself. */
	assert_int_equal(lfs_path_normalize("../abcdefgh", out, 2), -EINVAL);
}

static void test_normalize_long_component(void **state)
{
	(void)state;
	static char in[NAME_MAX + 8];
	char out[PATH_MAX];
	in[0] = 'd';
	in[1] = '/';
	memset(in + 2, 'n', NAME_MAX);
	in[2 + NAME_MAX] = '\0';
	assert_int_equal(lfs_path_normalize(in, out, sizeof(out)), 0);
	strcat(in, "n");
	assert_int_equal(lfs_path_normalize(in, out, sizeof(out)), -ENAMETOOLONG);
}

static void test_normalize_path_max(void **state)
{
	(void)state;
	/* "a/a/a..." of exactly PATH_MAX - 1 bytes fits; one more does not,
	 * however large the output buffer. */
	static char in[PATH_MAX + 8];
	static char out[PATH_MAX * 2];
	for (size_t i = 0; i < PATH_MAX - 1; i++)
		in[i] = (i % 2) ? '/' : 'a';
	in[PATH_MAX - 1] = '\0';
	assert_int_equal(lfs_path_normalize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), PATH_MAX - 1);
	strcat(in, "b");
	assert_int_equal(lfs_path_normalize(in, out, sizeof(out)), -ENAMETOOLONG);
	/* Redundant parts do not count against the limit. */
	memset(in, '/', PATH_MAX + 4);
	memcpy(in, "./", 2);
	in[PATH_MAX + 4] = 'z';
	in[PATH_MAX + 5] = '\0';
	assert_int_equal(lfs_path_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, "z");
}

static void test_normalize_in_place(void **state)
{
	(void)state;
	char buf[32] = "./a//b/./c/";
	assert_int_equal(lfs_path_normalize(buf, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a/b/c");
}

/* ---- lfs_path_is_beneath ---------------------------------------------- */

static void test_is_beneath(void **state)
{
	(void)state;
	assert_true(lfs_path_is_beneath("/a/b", "/a/b/c"));
	assert_true(lfs_path_is_beneath("/a/b", "/a/b/c/d"));
	assert_true(lfs_path_is_beneath("/a/b", "/a/b"));
	assert_true(lfs_path_is_beneath("/", "/x"));
	assert_true(lfs_path_is_beneath("/", "/"));
	assert_false(lfs_path_is_beneath("/a/b", "/a/bc"));
	assert_false(lfs_path_is_beneath("/a/b", "/a"));
	assert_false(lfs_path_is_beneath("/a/b", "/"));
	assert_false(lfs_path_is_beneath("/a/b", "/a/c"));
	assert_false(lfs_path_is_beneath("/a/bc", "/a/b"));
	assert_false(lfs_path_is_beneath("/x", "/"));
}

static void test_is_beneath_odd_input(void **state)
{
	(void)state;
	assert_false(lfs_path_is_beneath("a/b", "a/b/c"));  /* relative */
	assert_false(lfs_path_is_beneath("/a", "a/b"));
	assert_false(lfs_path_is_beneath("", "/a"));
	assert_false(lfs_path_is_beneath(NULL, "/a"));
	assert_false(lfs_path_is_beneath("/a", NULL));
	/* A trailing slash on base is tolerated. */
	assert_true(lfs_path_is_beneath("/a/b/", "/a/b/c"));
	assert_false(lfs_path_is_beneath("/a/b/", "/a/bc"));
}

/* ---- lfs_openat_beneath ----------------------------------------------- */

/* root/
 *   sub/            directory
 *   sub/file        regular file
 *   sub/inner/      directory
 *   sub/up2  -> ../..   escapes root
 *   to_root  -> /       escapes root
 *   link_sub -> sub     stays inside root
 *   link_abs -> ROOT/sub  absolute, though pointing inside */
struct tree {
	char root[64];
	bool created; /* root exists and is ours to remove */
	int dirfd;
};

static int make_tree(struct tree *t)
{
	char target[128];
	snprintf(t->root, sizeof(t->root), "/tmp/layerfs-pathutil-XXXXXX");
	if (mkdtemp(t->root) == NULL)
		return -1;
	t->created = true;
	t->dirfd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return -1;
	snprintf(target, sizeof(target), "%s/sub", t->root);
	int fd = -1;
	int rc = mkdirat(t->dirfd, "sub", 0755) ||
		 mkdirat(t->dirfd, "sub/inner", 0755) ||
		 (fd = openat(t->dirfd, "sub/file", O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 ||
		 symlinkat("../..", t->dirfd, "sub/up2") ||
		 symlinkat("/", t->dirfd, "to_root") ||
		 symlinkat("sub", t->dirfd, "link_sub") ||
		 symlinkat(target, t->dirfd, "link_abs");
	if (fd >= 0)
		close(fd);
	return rc ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path); /* a symlink itself, never what it points to */
}

static int teardown_tree(void **state)
{
	struct tree *t = *state;
	int rc = 0;
	if (t == NULL)
		return 0;
	if (t->dirfd >= 0)
		close(t->dirfd);
	/* FTW_PHYS: never follow the symlinks to "/" and "../..". */
	if (t->created)
		rc = nftw(t->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(t);
	*state = NULL;
	return rc;
}

static int setup_tree(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	t->dirfd = -1;
	*state = t;
	if (make_tree(t) == 0)
		return 0;
	/* cmocka skips the teardown when the setup fails. */
	teardown_tree(state);
	return -1;
}

static void assert_same_inode(int fd, int dirfd, const char *path)
{
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstatat(dirfd, path, &b, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
}

static void assert_refused(int rc, const char *what)
{
	if (rc >= 0) {
		close(rc);
		fail_msg("%s was opened", what);
	}
	if (rc != -EXDEV && rc != -ELOOP)
		fail_msg("%s: got %d, want -EXDEV or -ELOOP", what, rc);
}

/* A path longer than PATH_MAX (20 levels of 250 bytes) opens, a run of
 * components at a time; a symlink on the way is still refused. */
static void test_openat_long_path(void **state)
{
	struct tree *t = *state;
	enum { LEVELS = 20, COMP = 250 };
	char comp[COMP + 1];
	memset(comp, 'c', COMP);
	comp[COMP] = '\0';
	char *path = calloc(1, LEVELS * (COMP + 1) + 16);
	assert_non_null(path);
	int fds[LEVELS], cur = t->dirfd;
	for (int i = 0; i < LEVELS; i++) {
		assert_int_equal(mkdirat(cur, comp, 0755), 0);
		fds[i] = openat(cur, comp, O_PATH | O_DIRECTORY);
		assert_true(fds[i] >= 0);
		cur = fds[i];
		strcat(path, comp);
		strcat(path, "/");
	}
	path[strlen(path) - 1] = '\0';
	assert_true(strlen(path) > PATH_MAX);
	int fd = lfs_openat_beneath(t->dirfd, path, O_PATH | O_DIRECTORY, 0, true);
	assert_true(fd >= 0);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(fds[LEVELS - 1], &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(fd);
	/* a symlink deep down, and a ".." that would climb out: refused */
	assert_int_equal(symlinkat("/", fds[LEVELS - 2], "link"), 0);
	char *bad = malloc(strlen(path) + 16);
	snprintf(bad, strlen(path) + 16, "%.*s/link/x", (int)(strlen(path) - COMP - 1), path);
	fd = lfs_openat_beneath(t->dirfd, bad, O_PATH, 0, true);
	assert_true(fd < 0);
	assert_int_equal(unlinkat(fds[LEVELS - 2], "link", 0), 0);
	free(bad);
	/* away again, from the bottom up (nftw would need the long paths) */
	for (int i = LEVELS - 1; i >= 0; i--) {
		close(fds[i]);
		assert_int_equal(unlinkat(i ? fds[i - 1] : t->dirfd, comp, AT_REMOVEDIR), 0);
	}
	free(path);
}

static void test_openat_plain_subdir(void **state)
{
	struct tree *t = *state;
	int fd = lfs_openat_beneath(t->dirfd, "sub", O_RDONLY | O_DIRECTORY, 0, true);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, "sub");
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	fd = lfs_openat_beneath(t->dirfd, "sub//inner/.", O_RDONLY | O_DIRECTORY, 0, true);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, "sub/inner");
	close(fd);

	/* ".." that stays beneath dirfd is fine. */
	fd = lfs_openat_beneath(t->dirfd, "sub/inner/../file", O_RDONLY, 0, true);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, "sub/file");
	close(fd);
}

static void test_openat_empty_is_dot(void **state)
{
	struct tree *t = *state;
	int fd = lfs_openat_beneath(t->dirfd, "", O_RDONLY | O_DIRECTORY, 0, true);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, ".");
	close(fd);
	assert_int_equal(lfs_openat_beneath(t->dirfd, NULL, O_RDONLY, 0, true), -EINVAL);
}

static void test_openat_refuses_escaping_symlinks(void **state)
{
	struct tree *t = *state;
	for (int no_symlinks = 0; no_symlinks <= 1; no_symlinks++) {
		assert_refused(lfs_openat_beneath(t->dirfd, "to_root", O_RDONLY, 0, no_symlinks),
			       "to_root");
		assert_refused(lfs_openat_beneath(t->dirfd, "to_root/etc", O_RDONLY, 0, no_symlinks),
			       "to_root/etc");
		assert_refused(lfs_openat_beneath(t->dirfd, "sub/up2", O_RDONLY, 0, no_symlinks),
			       "sub/up2");
		assert_refused(lfs_openat_beneath(t->dirfd, "link_abs", O_RDONLY, 0, no_symlinks),
			       "link_abs");
	}
	/* Without the symlink ban the kernel reports the escape itself. */
	assert_int_equal(lfs_openat_beneath(t->dirfd, "to_root", O_RDONLY, 0, false), -EXDEV);
	assert_int_equal(lfs_openat_beneath(t->dirfd, "sub/up2", O_RDONLY, 0, false), -EXDEV);
	/* With it, any symlink is refused before it is looked at. */
	assert_int_equal(lfs_openat_beneath(t->dirfd, "to_root", O_RDONLY, 0, true), -ELOOP);
}

static void test_openat_refuses_dotdot_and_absolute(void **state)
{
	struct tree *t = *state;
	assert_refused(lfs_openat_beneath(t->dirfd, "..", O_RDONLY, 0, false), "..");
	assert_refused(lfs_openat_beneath(t->dirfd, "sub/../..", O_RDONLY, 0, false), "sub/../..");
	assert_refused(lfs_openat_beneath(t->dirfd, "/etc", O_RDONLY, 0, false), "/etc");
}

static void test_openat_follows_inner_symlink(void **state)
{
	struct tree *t = *state;
	int fd = lfs_openat_beneath(t->dirfd, "link_sub/file", O_RDONLY, 0, false);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, "sub/file");
	close(fd);

	fd = lfs_openat_beneath(t->dirfd, "link_sub/file", O_RDONLY, 0, true);
	assert_int_equal(fd, -ELOOP);
	fd = lfs_openat_beneath(t->dirfd, "link_sub", O_RDONLY | O_DIRECTORY, 0, true);
	assert_int_equal(fd, -ELOOP);
}

static void test_openat_nofollow_last_component(void **state)
{
	struct tree *t = *state;
	/* O_PATH | O_NOFOLLOW names the link itself, even with the ban. */
	int fd = lfs_openat_beneath(t->dirfd, "to_root", O_PATH | O_NOFOLLOW, 0, true);
	assert_true(fd >= 0);
	assert_same_inode(fd, t->dirfd, "to_root");
	close(fd);
}

static void test_openat_create_uses_mode(void **state)
{
	struct tree *t = *state;
	mode_t old = umask(0);
	int fd = lfs_openat_beneath(t->dirfd, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0640, true);
	umask(old);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	close(fd);
	assert_int_equal(lfs_openat_beneath(t->dirfd, "sub/new", O_WRONLY | O_CREAT | O_EXCL,
					    0640, true), -EEXIST);
	/* A mode passed along without O_CREAT is ignored, not an error. */
	fd = lfs_openat_beneath(t->dirfd, "sub/new", O_RDONLY, 0644, true);
	assert_true(fd >= 0);
	close(fd);
}

static void test_openat_errors_pass_through(void **state)
{
	struct tree *t = *state;
	assert_int_equal(lfs_openat_beneath(t->dirfd, "missing", O_RDONLY, 0, true), -ENOENT);
	assert_int_equal(lfs_openat_beneath(t->dirfd, "sub/file", O_RDONLY | O_DIRECTORY, 0, true),
			 -ENOTDIR);
	assert_int_equal(lfs_openat_beneath(-1, "sub", O_RDONLY, 0, true), -EBADF);
}

static void test_openat_refuses_magic_links(void **state)
{
	(void)state;
	int proc = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0)
		skip();
	/* "cwd" is a magic link: refused even though symlinks are allowed.
	 * RESOLVE_BENEATH alone would say EXDEV; RESOLVE_NO_MAGICLINKS is
	 * checked first and says ELOOP, which shows the flag is passed. */
	int rc = lfs_openat_beneath(proc, "cwd", O_RDONLY | O_DIRECTORY, 0, false);
	close(proc);
	assert_refused(rc, "/proc/self/cwd");
	assert_int_equal(rc, -ELOOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_valid),
		cmocka_unit_test(test_normalize_simplifies),
		cmocka_unit_test(test_normalize_dot),
		cmocka_unit_test(test_normalize_rejects_escapes),
		cmocka_unit_test(test_normalize_lengths),
		cmocka_unit_test(test_normalize_long_component),
		cmocka_unit_test(test_normalize_path_max),
		cmocka_unit_test(test_normalize_in_place),
		cmocka_unit_test(test_is_beneath),
		cmocka_unit_test(test_is_beneath_odd_input),
		cmocka_unit_test_setup_teardown(test_openat_plain_subdir, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_empty_is_dot, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_refuses_escaping_symlinks,
						setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_refuses_dotdot_and_absolute,
						setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_follows_inner_symlink,
						setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_nofollow_last_component,
						setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_create_uses_mode,
						setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_openat_errors_pass_through,
						setup_tree, teardown_tree),
		cmocka_unit_test(test_openat_refuses_magic_links),
		cmocka_unit_test_setup_teardown(test_openat_long_path, setup_tree, teardown_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
