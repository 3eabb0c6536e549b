/* Unit tests for the copy-up helpers (src/copyfile.c).
 *
 * They run against real filesystems: a fresh mkdtemp directory under /tmp
 * per test and, for the cross-filesystem cases, one under /dev/shm; both
 * are removed in teardown, which cmocka runs even after a failed assert.
 * Needs root: chown, trusted.* xattrs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "copyfile.h"

#define KiB ((off_t)1024)
#define MiB (1024 * KiB)

#define SCRATCH_DIR_MAX 256

struct scratch {
	char dir[SCRATCH_DIR_MAX]; /* under /tmp */
	int dirfd;          /* O_PATH, as the daemon's branch fds are */
	char shm[SCRATCH_DIR_MAX]; /* under /dev/shm, "" until a test asks for it */
	int shmfd;
};

/* ---- scratch directories ------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_scratch_dir(const char *parent, char *dir, int *fd)
{
	snprintf(dir, SCRATCH_DIR_MAX, "%s/lfs-copyfile-XXXXXX", parent);
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return -1;
	}
	*fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return *fd < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->dirfd = s->shmfd = -1;
	*state = s;
	if (make_scratch_dir("/tmp", s->dir, &s->dirfd) == 0)
		return 0;
	/* cmocka skips teardown after a failed setup: clean up here. */
	remove_tree(s->dir);
	free(s);
	*state = NULL;
	return -1;
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	if (!s)
		return 0;
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->shmfd >= 0)
		close(s->shmfd);
	remove_tree(s->dir);
	remove_tree(s->shm);
	free(s);
	return 0;
}

/* Skips the calling test (with a reason) when /dev/shm is missing or on
 * the same filesystem as /tmp; otherwise returns a dirfd under it. */
static int shm_dirfd_or_skip(struct scratch *s)
{
	struct stat tmp_st, shm_st;

	if (stat("/dev/shm", &shm_st) < 0 || !S_ISDIR(shm_st.st_mode)) {
		print_message("SKIP: /dev/shm does not exist, no second filesystem\n");
		skip();
	}
	assert_int_equal(stat(s->dir, &tmp_st), 0);
	if (tmp_st.st_dev == shm_st.st_dev) {
		print_message("SKIP: /dev/shm and /tmp are the same filesystem\n");
		skip();
	}
	assert_int_equal(make_scratch_dir("/dev/shm", s->shm, &s->shmfd), 0);
	return s->shmfd;
}

/* ---- file helpers --------------------------------------------------- */

static void fill_random(char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)(x >> 32);
	}
}

static void write_at(int dirfd, const char *name, off_t off, const char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void make_file(int dirfd, const char *name, const char *buf, size_t len)
{
	write_at(dirfd, name, 0, buf, len);
}

static void make_empty(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
}

/* Copies src to a new file dst the way copy-up does; returns the result of
 * lfs_copy_data. size < 0 means "the source's st_size". */
static int copy_file(int src_dirfd, const char *src, int dst_dirfd, const char *dst, off_t size)
{
	struct stat st;
	int sfd = openat(src_dirfd, src, O_RDONLY | O_CLOEXEC);
	assert_true(sfd >= 0);
	assert_int_equal(fstat(sfd, &st), 0);
	int dfd = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(dfd >= 0);
	int ret = lfs_copy_data(sfd, dfd, size < 0 ? st.st_size : size);
	assert_int_equal(close(dfd), 0);
	assert_int_equal(close(sfd), 0);
	return ret;
}

static struct stat stat_at(int dirfd, const char *name)
{
	struct stat st;
	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st;
}

/* Byte-for-byte comparison of the first len bytes of two files. */
static void assert_same_bytes(int adirfd, const char *a, int bdirfd, const char *b, off_t len)
{
	const size_t chunk = 1 << 20;
	char *abuf = malloc(chunk), *bbuf = malloc(chunk);
	int afd = openat(adirfd, a, O_RDONLY | O_CLOEXEC);
	int bfd = openat(bdirfd, b, O_RDONLY | O_CLOEXEC);

	assert_non_null(abuf);
	assert_non_null(bbuf);
	assert_true(afd >= 0);
	assert_true(bfd >= 0);
	for (off_t off = 0; off < len; off += (off_t)chunk) {
		size_t want = len - off < (off_t)chunk ? (size_t)(len - off) : chunk;
		assert_int_equal(pread(afd, abuf, want, off), (ssize_t)want);
		assert_int_equal(pread(bfd, bbuf, want, off), (ssize_t)want);
		if (memcmp(abuf, bbuf, want) != 0)
			fail_msg("%s and %s differ in [%lld, +%zu)", a, b, (long long)off, want);
	}
	close(afd);
	close(bfd);
	free(abuf);
	free(bbuf);
}

static void assert_same_file(int adirfd, const char *a, int bdirfd, const char *b)
{
	struct stat ast = stat_at(adirfd, a), bst = stat_at(bdirfd, b);
	assert_int_equal(bst.st_size, ast.st_size);
	assert_same_bytes(adirfd, a, bdirfd, b, ast.st_size);
}

static void assert_bytes_at(int dirfd, const char *name, off_t off, const char *want, size_t len)
{
	char *got = malloc(len);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	assert_non_null(got);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	close(fd);
	free(got);
}

/* ---- shared scenarios (same fs and across filesystems) ------------------ */

#define SPARSE_SIZE (200 * MiB)
#define SPARSE_SECOND (64 * MiB)

/* 4 KiB at 0, 4 KiB at 64 MiB, hole up to 200 MiB. */
static void check_sparse_copy(int src_dirfd, int dst_dirfd)
{
	char a[4096], b[4096];
	fill_random(a, sizeof(a), 11);
	fill_random(b, sizeof(b), 22);
	write_at(src_dirfd, "sparse", 0, a, sizeof(a));
	write_at(src_dirfd, "sparse", SPARSE_SECOND, b, sizeof(b));
	int fd = openat(src_dirfd, "sparse", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SPARSE_SIZE), 0);
	close(fd);
	/* Premise: the source fs keeps holes at all. */
	assert_true(stat_at(src_dirfd, "sparse").st_blocks * 512 < MiB);

	assert_int_equal(copy_file(src_dirfd, "sparse", dst_dirfd, "sparse.copy", -1), 0);

	struct stat st = stat_at(dst_dirfd, "sparse.copy");
	assert_int_equal(st.st_size, SPARSE_SIZE);
	if (st.st_blocks * 512 >= MiB)
		fail_msg("holes filled in: %lld bytes allocated", (long long)st.st_blocks * 512);
	assert_bytes_at(dst_dirfd, "sparse.copy", 0, a, sizeof(a));
	assert_bytes_at(dst_dirfd, "sparse.copy", SPARSE_SECOND, b, sizeof(b));
	assert_same_file(src_dirfd, "sparse", dst_dirfd, "sparse.copy");
}

#define RANDOM_SIZE ((size_t)3 * 1024 * 1024)

static void check_random_copy(int src_dirfd, int dst_dirfd)
{
	char *buf = malloc(RANDOM_SIZE);
	assert_non_null(buf);
	fill_random(buf, RANDOM_SIZE, 0x5eed);
	make_file(src_dirfd, "random", buf, RANDOM_SIZE);
	free(buf);

	assert_int_equal(copy_file(src_dirfd, "random", dst_dirfd, "random.copy", -1), 0);
	assert_same_file(src_dirfd, "random", dst_dirfd, "random.copy");
}

/* ---- lfs_copy_data -------------------------------------------------- */

static void test_data_small(void **state)
{
	struct scratch *s = *state;
	static const char text[] = "hello, lower branch\n";

	make_file(s->dirfd, "small", text, sizeof(text) - 1);
	assert_int_equal(copy_file(s->dirfd, "small", s->dirfd, "small.copy", -1), 0);
	assert_same_file(s->dirfd, "small", s->dirfd, "small.copy");
	assert_int_equal(stat_at(s->dirfd, "small.copy").st_size, sizeof(text) - 1);
}

static void test_data_empty(void **state)
{
	struct scratch *s = *state;

	make_empty(s->dirfd, "empty");
	assert_int_equal(copy_file(s->dirfd, "empty", s->dirfd, "empty.copy", -1), 0);
	struct stat st = stat_at(s->dirfd, "empty.copy");
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
}

static void test_data_sparse(void **state)
{
	struct scratch *s = *state;
	check_sparse_copy(s->dirfd, s->dirfd);
}

static void test_data_random_3mib(void **state)
{
	struct scratch *s = *state;
	check_random_copy(s->dirfd, s->dirfd);
}

/* Across filesystems FICLONE and copy_file_range() refuse (EXDEV), so this
 * runs the pread/pwrite fallback, in both directions. */
static void test_data_cross_fs(void **state)
{
	struct scratch *s = *state;
	int shmfd = shm_dirfd_or_skip(s);

	check_sparse_copy(s->dirfd, shmfd);
	check_random_copy(shmfd, s->dirfd);
}

/* size is what the caller stat'ed: a longer source is cut... */
static void test_data_copies_only_size(void **state)
{
	struct scratch *s = *state;
	char buf[10000];

	fill_random(buf, sizeof(buf), 33);
	make_file(s->dirfd, "long", buf, sizeof(buf));
	assert_int_equal(copy_file(s->dirfd, "long", s->dirfd, "long.copy", 5000), 0);
	assert_int_equal(stat_at(s->dirfd, "long.copy").st_size, 5000);
	assert_bytes_at(s->dirfd, "long.copy", 0, buf, 5000);
}

/* ...and a shorter one is padded with zeros, not an endless loop. */
static void test_data_source_shorter_than_size(void **state)
{
	struct scratch *s = *state;
	char buf[100], zeros[8192 - 100];

	fill_random(buf, sizeof(buf), 44);
	memset(zeros, 0, sizeof(zeros));
	make_file(s->dirfd, "short", buf, sizeof(buf));
	assert_int_equal(copy_file(s->dirfd, "short", s->dirfd, "short.copy", 8192), 0);
	assert_int_equal(stat_at(s->dirfd, "short.copy").st_size, 8192);
	assert_bytes_at(s->dirfd, "short.copy", 0, buf, sizeof(buf));
	assert_bytes_at(s->dirfd, "short.copy", sizeof(buf), zeros, sizeof(zeros));
}

static void test_data_bad_fds(void **state)
{
	struct scratch *s = *state;
	char buf[4096];

	fill_random(buf, sizeof(buf), 55);
	make_file(s->dirfd, "src", buf, sizeof(buf));
	int src_wr = openat(s->dirfd, "src", O_WRONLY | O_CLOEXEC);
	int src_rd = openat(s->dirfd, "src", O_RDONLY | O_CLOEXEC);
	int dst = openat(s->dirfd, "dst", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int dst_rd = openat(s->dirfd, "dst", O_RDONLY | O_CLOEXEC);
	int dst_app = openat(s->dirfd, "dst", O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(src_wr >= 0 && src_rd >= 0 && dst >= 0 && dst_rd >= 0 && dst_app >= 0);

	assert_true(lfs_copy_data(src_wr, dst, sizeof(buf)) < 0);
	assert_int_equal(lfs_copy_data(src_rd, dst_rd, sizeof(buf)), -EBADF);
	assert_int_equal(lfs_copy_data(src_rd, dst_app, sizeof(buf)), -EBADF);
	assert_int_equal(lfs_copy_data(src_rd, dst, -1), -EINVAL);
	assert_int_equal(lfs_copy_data(src_rd, -1, sizeof(buf)), -EBADF);
	/* None of the failures wrote anything. */
	assert_int_equal(stat_at(s->dirfd, "dst").st_size, 0);

	close(src_wr);
	close(src_rd);
	close(dst);
	close(dst_rd);
	close(dst_app);
}

/* ---- lfs_copy_xattrs ------------------------------------------------ */

static void path_in(const struct scratch *s, const char *name, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", s->dir, name);
}

static void set_xattr(const struct scratch *s, const char *name, const char *key,
		      const void *val, size_t len)
{
	char path[PATH_MAX];
	path_in(s, name, path);
	if (lsetxattr(path, key, val, len, 0) != 0)
		fail_msg("lsetxattr(%s, %s): %s", name, key, strerror(errno));
}

/* Asserts that name (not followed) has key with exactly val. */
static void assert_xattr(const struct scratch *s, const char *name, const char *key,
			 const void *val, size_t len)
{
	char path[PATH_MAX];
	char *got = malloc(len + 1);
	path_in(s, name, path);
	assert_non_null(got);
	ssize_t n = lgetxattr(path, key, got, len + 1);
	if (n < 0)
		fail_msg("lgetxattr(%s, %s): %s", name, key, strerror(errno));
	assert_int_equal(n, len);
	assert_memory_equal(got, val, len);
	free(got);
}

static void assert_no_xattr(const struct scratch *s, const char *name, const char *key,
			    bool follow)
{
	char path[PATH_MAX], dummy[64];
	path_in(s, name, path);
	ssize_t n = follow ? getxattr(path, key, dummy, sizeof(dummy))
			   : lgetxattr(path, key, dummy, sizeof(dummy));
	assert_int_equal(n, -1);
	assert_int_equal(errno, ENODATA);
}

/* Sets user.big to the largest of 20000 / 3000 bytes the fs takes and
 * returns that length (ext4 without ea_inode stops near one block). */
static size_t set_big_xattr(const struct scratch *s, const char *name, char *val)
{
	char path[PATH_MAX];
	path_in(s, name, path);
	fill_random(val, 20000, 66);
	if (lsetxattr(path, "user.big", val, 20000, 0) == 0)
		return 20000;
	assert_true(errno == ENOSPC || errno == E2BIG);
	set_xattr(s, name, "user.big", val, 3000);
	return 3000;
}

static void test_xattrs_copied(void **state)
{
	struct scratch *s = *state;
	static char big[20000];

	make_empty(s->dirfd, "src");
	make_empty(s->dirfd, "dst");
	set_xattr(s, "src", "user.a", "alpha", 5);
	set_xattr(s, "src", "user.empty", "", 0);
	set_xattr(s, "src", "trusted.x", "secret", 6);
	size_t biglen = set_big_xattr(s, "src", big);
	print_message("user.big: %zu bytes\n", biglen);

	assert_int_equal(lfs_copy_xattrs(s->dirfd, "src", s->dirfd, "dst", NULL), 0);
	assert_xattr(s, "dst", "user.a", "alpha", 5);
	assert_xattr(s, "dst", "user.empty", "", 0);
	assert_xattr(s, "dst", "trusted.x", "secret", 6);
	assert_xattr(s, "dst", "user.big", big, biglen);
}

/* Also across filesystems, where the destination's limits differ. */
static void test_xattrs_cross_fs(void **state)
{
	struct scratch *s = *state;
	int shmfd = shm_dirfd_or_skip(s);
	char path[PATH_MAX], got[16];

	make_empty(s->dirfd, "src");
	make_empty(shmfd, "dst");
	set_xattr(s, "src", "user.a", "alpha", 5);
	set_xattr(s, "src", "trusted.x", "secret", 6);
	assert_int_equal(lfs_copy_xattrs(s->dirfd, "src", shmfd, "dst", NULL), 0);
	snprintf(path, sizeof(path), "%s/dst", s->shm);
	assert_int_equal(lgetxattr(path, "user.a", got, sizeof(got)), 5);
	assert_memory_equal(got, "alpha", 5);
	assert_int_equal(lgetxattr(path, "trusted.x", got, sizeof(got)), 6);
	assert_memory_equal(got, "secret", 6);
}

static int skip_calls;

static bool skip_trusted(const char *name)
{
	skip_calls++;
	return strncmp(name, "trusted.", 8) == 0;
}

static void test_xattrs_skip(void **state)
{
	struct scratch *s = *state;

	make_empty(s->dirfd, "src");
	make_empty(s->dirfd, "dst");
	set_xattr(s, "src", "user.a", "alpha", 5);
	set_xattr(s, "src", "trusted.x", "secret", 6);
	set_xattr(s, "src", "trusted.y", "other", 5);

	skip_calls = 0;
	assert_int_equal(lfs_copy_xattrs(s->dirfd, "src", s->dirfd, "dst", skip_trusted), 0);
	assert_int_equal(skip_calls, 3);
	assert_xattr(s, "dst", "user.a", "alpha", 5);
	assert_no_xattr(s, "dst", "trusted.x", false);
	assert_no_xattr(s, "dst", "trusted.y", false);
}

/* The links' own xattrs move; neither link's target is read or written. */
static void test_xattrs_symlink_not_followed(void **state)
{
	struct scratch *s = *state;

	make_empty(s->dirfd, "target");
	make_empty(s->dirfd, "target2");
	assert_int_equal(symlinkat("target", s->dirfd, "link"), 0);
	assert_int_equal(symlinkat("target2", s->dirfd, "link2"), 0);
	set_xattr(s, "link", "trusted.onlink", "L", 1);
	set_xattr(s, "target", "trusted.ontarget", "T", 1);

	assert_int_equal(lfs_copy_xattrs(s->dirfd, "link", s->dirfd, "link2", NULL), 0);
	assert_xattr(s, "link2", "trusted.onlink", "L", 1);
	assert_no_xattr(s, "link2", "trusted.ontarget", false);
	assert_no_xattr(s, "link2", "trusted.onlink", true); /* i.e. on target2 */
}

static void test_xattrs_errors(void **state)
{
	struct scratch *s = *state;

	make_empty(s->dirfd, "src");
	set_xattr(s, "src", "user.a", "alpha", 5);
	assert_int_equal(lfs_copy_xattrs(s->dirfd, "missing", s->dirfd, "src", NULL), -ENOENT);
	assert_int_equal(lfs_copy_xattrs(s->dirfd, "src", s->dirfd, "missing", NULL), -ENOENT);
	assert_int_equal(lfs_copy_xattrs(s->dirfd, "", s->dirfd, "src", NULL), -ENOENT);
}

/* ---- lfs_copy_attrs / lfs_copy_attrs_fd -------------------------------- */

static struct stat wanted_attrs(mode_t mode)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_uid = 1234;
	st.st_gid = 5678;
	st.st_atim.tv_sec = 1000000001;
	st.st_atim.tv_nsec = 123456789;
	st.st_mtim.tv_sec = 1200000002;
	st.st_mtim.tv_nsec = 987654321;
	return st;
}

static void assert_attrs(const struct stat *got, const struct stat *want, bool check_mode)
{
	assert_int_equal(got->st_uid, want->st_uid);
	assert_int_equal(got->st_gid, want->st_gid);
	if (check_mode)
		assert_int_equal(got->st_mode, want->st_mode);
	assert_int_equal(got->st_atim.tv_sec, want->st_atim.tv_sec);
	assert_int_equal(got->st_atim.tv_nsec, want->st_atim.tv_nsec);
	assert_int_equal(got->st_mtim.tv_sec, want->st_mtim.tv_sec);
	assert_int_equal(got->st_mtim.tv_nsec, want->st_mtim.tv_nsec);
}

/* The copy starts root-owned: the chown really changes the owner, which
 * would drop the setuid bit had the chmod come first. */
static void test_attrs_regular(void **state)
{
	struct scratch *s = *state;
	struct stat want = wanted_attrs(S_IFREG | 04755);

	make_empty(s->dirfd, "f");
	assert_int_equal(stat_at(s->dirfd, "f").st_uid, 0);
	assert_int_equal(lfs_copy_attrs(s->dirfd, "f", &want), 0);
	struct stat got = stat_at(s->dirfd, "f");
	assert_attrs(&got, &want, true);
}

static void test_attrs_fd(void **state)
{
	struct scratch *s = *state;
	struct stat want = wanted_attrs(S_IFREG | 06755);
	struct stat want_dir = wanted_attrs(S_IFDIR | 03775);

	int fd = openat(s->dirfd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(lfs_copy_attrs_fd(fd, &want), 0);
	close(fd);
	struct stat got = stat_at(s->dirfd, "f");
	assert_attrs(&got, &want, true);

	assert_int_equal(mkdirat(s->dirfd, "d", 0700), 0);
	fd = openat(s->dirfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lfs_copy_attrs_fd(fd, &want_dir), 0);
	close(fd);
	got = stat_at(s->dirfd, "d");
	assert_attrs(&got, &want_dir, true);
}

static void set_times(int dirfd, const char *name, time_t sec)
{
	const struct timespec ts[2] = { { sec, 1 }, { sec, 2 } };
	assert_int_equal(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Owner and times land on the link; the target keeps its own. */
static void test_attrs_symlink(void **state)
{
	struct scratch *s = *state;
	struct stat want = wanted_attrs(S_IFLNK | 0777);

	make_empty(s->dirfd, "target");
	assert_int_equal(fchmodat(s->dirfd, "target", 0640, 0), 0);
	set_times(s->dirfd, "target", 500000000);
	assert_int_equal(symlinkat("target", s->dirfd, "link"), 0);
	struct stat before = stat_at(s->dirfd, "target");

	assert_int_equal(lfs_copy_attrs(s->dirfd, "link", &want), 0);
	struct stat link = stat_at(s->dirfd, "link");
	assert_attrs(&link, &want, false);
	assert_true(S_ISLNK(link.st_mode));
	struct stat after = stat_at(s->dirfd, "target");
	assert_attrs(&after, &before, true);
}

/* st says "regular file" but the destination is a symlink: the chmod must
 * fail rather than reach the target. */
static void test_attrs_symlink_mismatch(void **state)
{
	struct scratch *s = *state;
	struct stat want = wanted_attrs(S_IFREG | 0777);

	make_empty(s->dirfd, "target");
	assert_int_equal(fchmodat(s->dirfd, "target", 0640, 0), 0);
	assert_int_equal(symlinkat("target", s->dirfd, "link"), 0);

	assert_true(lfs_copy_attrs(s->dirfd, "link", &want) < 0);
	assert_int_equal(stat_at(s->dirfd, "target").st_mode, S_IFREG | 0640);
	assert_int_equal(stat_at(s->dirfd, "target").st_uid, 0);
}

static void test_attrs_missing(void **state)
{
	struct scratch *s = *state;
	struct stat want = wanted_attrs(S_IFREG | 0644);

	assert_int_equal(lfs_copy_attrs(s->dirfd, "missing", &want), -ENOENT);
	assert_int_equal(lfs_copy_attrs_fd(-1, &want), -EBADF);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_data_small),
		T(test_data_empty),
		T(test_data_sparse),
		T(test_data_random_3mib),
		T(test_data_cross_fs),
		T(test_data_copies_only_size),
		T(test_data_source_shorter_than_size),
		T(test_data_bad_fds),
		T(test_xattrs_copied),
		T(test_xattrs_cross_fs),
		T(test_xattrs_skip),
		T(test_xattrs_symlink_not_followed),
		T(test_xattrs_errors),
		T(test_attrs_regular),
		T(test_attrs_fd),
		T(test_attrs_symlink),
		T(test_attrs_symlink_mismatch),
		T(test_attrs_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
