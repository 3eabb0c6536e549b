/* Unit tests for the hardlink index's mark (src/common/plinkmark.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "layerfs/plinkmark.h"

static void test_key_names_the_lower_inode(void **state)
{
	(void)state;
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_dev = 0x803;
	st.st_ino = 0x1234abcd;
	char key[LFS_PLINK_KEY_MAX];
	lfs_plink_key(&st, key, sizeof(key));
	assert_string_equal(key, "803_1234abcd");
	dev_t dev;
	ino_t ino;
	assert_true(lfs_plink_key_inode(key, &dev, &ino));
	assert_true(dev == st.st_dev && ino == st.st_ino);
	static const char *const bad[] = { "", "803", "803_", "_1", "803_1x", "x_1", "803 1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(lfs_plink_key_inode(bad[i], &dev, &ino));
}

static void test_mark_round_trip(void **state)
{
	(void)state;
	char buf[96], key[LFS_PLINK_KEY_MAX];
	struct lfs_plink_count count = { 4, 2 }, back;
	int len = lfs_plink_format_mark("803_1234abcd", &count, buf, sizeof(buf));
	assert_string_equal(buf, "803_1234abcd 4 2");
	assert_int_equal(len, (int)strlen(buf));
	assert_true(lfs_plink_parse_mark(buf, key, sizeof(key), &back));
	assert_string_equal(key, "803_1234abcd");
	assert_true(back.lower == 4 && back.gone == 2);
	/* a mark of an older layerfs says no GONE */
	assert_true(lfs_plink_parse_mark("803_1 3", key, sizeof(key), &back));
	assert_true(back.lower == 3 && back.gone == LFS_PLINK_GONE_UNKNOWN);
	count.gone = LFS_PLINK_GONE_UNKNOWN;
	lfs_plink_format_mark("803_1", &count, buf, sizeof(buf));
	assert_string_equal(buf, "803_1 4");
	assert_false(lfs_plink_parse_mark("803_1", key, sizeof(key), &back));
	assert_false(lfs_plink_parse_mark("", key, sizeof(key), &back));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_names_the_lower_inode),
		cmocka_unit_test(test_mark_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
