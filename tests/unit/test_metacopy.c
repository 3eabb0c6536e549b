/* Unit tests for the metadata-only copy marker (src/common/metacopy.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "layerfs/metacopy.h"

static struct stat lower_file(void)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_ino = 123456789;
	st.st_size = 300000;
	st.st_blocks = 592;
	st.st_mtim.tv_sec = 1500000003;
	st.st_mtim.tv_nsec = 333333333;
	return st;
}

static void test_format_parse_round_trip(void **state)
{
	(void)state;
	struct stat st = lower_file();
	struct lfs_metacopy mc, back;
	lfs_metacopy_of(&st, &mc);
	char buf[LFS_METACOPY_VALUE_MAX];
	int len = lfs_metacopy_format(&mc, buf, sizeof(buf));
	assert_string_equal(buf, "v1 ino=123456789 size=300000 mtime=1500000003.333333333");
	assert_int_equal(lfs_metacopy_parse(buf, (size_t)len, &back), 0);
	assert_true(lfs_metacopy_matches(&back, &st));
}

static void test_match_needs_the_same_file(void **state)
{
	(void)state;
	struct stat st = lower_file(), other;
	struct lfs_metacopy mc;
	lfs_metacopy_of(&st, &mc);
	other = st;
	other.st_ino++;
	assert_false(lfs_metacopy_matches(&mc, &other));
	other = st;
	other.st_size--;
	assert_false(lfs_metacopy_matches(&mc, &other));
	other = st;
	other.st_mtim.tv_nsec++;
	assert_false(lfs_metacopy_matches(&mc, &other));
	other = st;
	other.st_mode = S_IFDIR | 0755;
	assert_false(lfs_metacopy_matches(&mc, &other));
}

static void test_parse_refuses_what_is_not_ours(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "v2 ino=1 size=1 mtime=1.000000000", "v1 ino=1 size=1",
		"v1 ino=1 size=-1 mtime=1.000000000", "v1 ino=1 size=1 mtime=1.000000000 extra",
		"v1 ino=x size=1 mtime=1.000000000", "something else",
	};
	struct lfs_metacopy mc;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lfs_metacopy_parse(bad[i], strlen(bad[i]), &mc), -EINVAL);
	char nul[] = "v1 ino=1 size=1 mtime=1.000000000";
	nul[3] = '\0';
	assert_int_equal(lfs_metacopy_parse(nul, sizeof(nul) - 1, &mc), -EINVAL);
	char longv[200];
	memset(longv, '1', sizeof(longv));
	assert_int_equal(lfs_metacopy_parse(longv, sizeof(longv), &mc), -EINVAL);
}

static void test_maybe_filters_files_with_data(void **state)
{
	(void)state;
	struct stat st = lower_file();
	assert_false(lfs_metacopy_maybe(&st));          /* all its blocks */
	st.st_blocks = 8;                                /* one xattr block */
	assert_true(lfs_metacopy_maybe(&st));
	st.st_size = 100;                                /* small: always asked */
	assert_true(lfs_metacopy_maybe(&st));
	st.st_size = 0;                                  /* empty: never one */
	assert_false(lfs_metacopy_maybe(&st));
	st = lower_file();
	st.st_mode = S_IFDIR | 0755;
	st.st_blocks = 0;
	assert_false(lfs_metacopy_maybe(&st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse_round_trip),
		cmocka_unit_test(test_match_needs_the_same_file),
		cmocka_unit_test(test_parse_refuses_what_is_not_ours),
		cmocka_unit_test(test_maybe_filters_files_with_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
