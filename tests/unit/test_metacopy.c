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
	/* Version 1, then SHA-256("<le64 ino><le64 size><le64 sec><le32 nsec>")
	 * cut to 8 bytes (worked out with python3's hashlib and struct). */
	static const unsigned char want[] = { 0x01, 0xcb, 0x3f, 0x3b, 0x3b,
					      0xac, 0xa9, 0x62, 0xee };
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(lfs_metacopy_parse(buf, (size_t)len, &back), 0);
	assert_true(lfs_metacopy_matches(&back, &st));
	assert_int_equal(lfs_metacopy_format(&mc, buf, 8), -ERANGE);
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
	static const struct { const char *v; size_t len; } bad[] = {
		{ "", 0 },
		{ "\x01\x01\x02\x03\x04\x05\x06\x07", 8 },          /* short */
		{ "\x01\x01\x02\x03\x04\x05\x06\x07\x08\x09", 10 },  /* long */
		{ "\x02\x01\x02\x03\x04\x05\x06\x07\x08", 9 },      /* a later version */
		{ "v1 ino=1 size=1 mtime=1.000000000", 33 },             /* the old spelling */
	};
	struct lfs_metacopy mc;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lfs_metacopy_parse(bad[i].v, bad[i].len, &mc), -EINVAL);
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
