/* Unit tests for the tar entry rules (tools/tarcheck.c). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tarcheck.h"

static struct tc_result res;

static enum tc_verdict check(const char *path, mode_t type, const char *link)
{
	return tarcheck_entry(path, type, link, &res);
}

static void test_plain_entries(void **state)
{
	(void)state;
	assert_int_equal(check("etc/passwd", S_IFREG, NULL), TC_ACCEPT);
	assert_string_equal(res.path, "etc/passwd");
	assert_int_equal(res.kind, TC_PLAIN);
	assert_string_equal(res.link, "");
	assert_int_equal(check("./usr//bin/", S_IFDIR, NULL), TC_ACCEPT);
	assert_string_equal(res.path, "usr/bin");
	mode_t types[] = { S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK, 0 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		assert_int_equal(check("a/b", types[i], NULL), TC_ACCEPT);
}

static void test_root_entry(void **state)
{
	(void)state;
	assert_int_equal(check("./", S_IFDIR, NULL), TC_ACCEPT);
	assert_string_equal(res.path, ".");
	assert_int_equal(check(".", S_IFREG, NULL), TC_REJECT);
	assert_int_equal(check("./", S_IFLNK, NULL), TC_REJECT);
	assert_int_equal(check(".", 0, "a"), TC_REJECT);
}

static void test_escapes_rejected(void **state)
{
	(void)state;
	const char *bad[] = { "/etc/passwd", "../x", "a/../../x", "a/..", "..", "//x", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i], S_IFREG, NULL), TC_REJECT);
		assert_non_null(res.reason);
	}
	assert_int_equal(check(NULL, S_IFREG, NULL), TC_REJECT);
}

static void test_types_rejected(void **state)
{
	(void)state;
	assert_int_equal(check("sock", S_IFSOCK, NULL), TC_REJECT);
	assert_int_equal(check("odd", 0170000, NULL), TC_REJECT);
}

static void test_long_names(void **state)
{
	(void)state;
	char name[NAME_MAX + 10];
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	assert_int_equal(check(name, S_IFREG, NULL), TC_ACCEPT);
	name[NAME_MAX] = 'n';
	name[NAME_MAX + 1] = '\0';
	assert_int_equal(check(name, S_IFREG, NULL), TC_REJECT);
	static char path[PATH_MAX + 100];
	for (size_t i = 0; i < sizeof(path) - 1; i++)
		path[i] = i % 100 == 99 ? '/' : 'p';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(check(path, S_IFREG, NULL), TC_REJECT);
}

static void test_hardlinks(void **state)
{
	(void)state;
	assert_int_equal(check("bin/b", 0, "./bin/a"), TC_ACCEPT);
	assert_string_equal(res.link, "bin/a");
	assert_int_equal(check("bin/b", S_IFREG, "bin/a"), TC_ACCEPT);
	assert_int_equal(check("b", 0, "/etc/passwd"), TC_REJECT);
	assert_int_equal(check("b", 0, "../etc/passwd"), TC_REJECT);
	assert_int_equal(check("b", 0, "a/../../x"), TC_REJECT);
	assert_int_equal(check("b", 0, "."), TC_REJECT);
	assert_int_equal(check("b", 0, ""), TC_REJECT);
	assert_int_equal(check("b", 0, ".wh..wh.plnk/1.2"), TC_REJECT);
	assert_int_equal(check("b", 0, ".wh..wh.aufs"), TC_REJECT);
}

static void test_whiteouts(void **state)
{
	(void)state;
	assert_int_equal(check("etc/.wh.motd", S_IFREG, NULL), TC_ACCEPT);
	assert_int_equal(res.kind, TC_WHITEOUT);
	assert_int_equal(check(".wh..wh..opq", S_IFREG, NULL), TC_ACCEPT);
	assert_int_equal(res.kind, TC_OPAQUE);
	assert_int_equal(check("d/.wh..wh..opq", 0, NULL), TC_ACCEPT);
	assert_int_equal(res.kind, TC_OPAQUE);
	/* aufs hardlinks whiteouts to its base file: made as plain files */
	assert_int_equal(check("d/.wh.x", 0, ".wh..wh.aufs"), TC_ACCEPT);
	assert_int_equal(res.kind, TC_WHITEOUT);
	assert_string_equal(res.link, "");
	assert_int_equal(check("d/.wh.x", 0, "../../outside"), TC_ACCEPT);
	assert_string_equal(res.link, "");
}

static void test_bad_whiteouts(void **state)
{
	(void)state;
	/* ".wh..": would hide "." */
	assert_int_equal(check(".wh..", S_IFREG, NULL), TC_REJECT);
	assert_int_equal(check("a/.wh..", S_IFREG, NULL), TC_REJECT);
	assert_int_equal(check(".wh.", S_IFREG, NULL), TC_REJECT);
	assert_int_equal(check(".wh...", S_IFREG, NULL), TC_REJECT);   /* would hide ".." */
	assert_int_equal(check(".wh....", S_IFREG, NULL), TC_ACCEPT);  /* hides "..." */
	assert_int_equal(check(".wh.x", S_IFDIR, NULL), TC_REJECT);
	assert_int_equal(check(".wh.x", S_IFLNK, NULL), TC_REJECT);
	assert_int_equal(check(".wh.x", S_IFCHR, NULL), TC_REJECT);
	assert_int_equal(check(".wh..wh..opq", S_IFDIR, NULL), TC_REJECT);
	assert_int_equal(check(".wh.x/y", S_IFREG, NULL), TC_REJECT);
	assert_int_equal(check("a/.wh.x/b/c", S_IFDIR, NULL), TC_REJECT);
}

static void test_aufs_metadata_skipped(void **state)
{
	(void)state;
	assert_int_equal(check(".wh..wh.plnk", S_IFDIR, NULL), TC_SKIP);
	assert_non_null(res.reason);
	assert_int_equal(check(".wh..wh.plnk/12.34", S_IFREG, NULL), TC_SKIP);
	assert_int_equal(check(".wh..wh.aufs", S_IFREG, NULL), TC_SKIP);
	assert_int_equal(check("sub/.wh..wh.orph/x/y", S_IFREG, NULL), TC_SKIP);
	/* a dangerous entry is refused before anything is skipped */
	assert_int_equal(check("../.wh..wh.plnk", S_IFREG, NULL), TC_REJECT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_entries),
		cmocka_unit_test(test_root_entry),
		cmocka_unit_test(test_escapes_rejected),
		cmocka_unit_test(test_types_rejected),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_bad_whiteouts),
		cmocka_unit_test(test_aufs_metadata_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
