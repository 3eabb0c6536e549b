/* Unit tests for the aufs whiteout naming rules (src/common/whiteout.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "layerfs/whiteout.h"

/* A name of exactly len bytes made of 'x'. */
static char *make_name(char *buf, size_t len)
{
	memset(buf, 'x', len);
	buf[len] = '\0';
	return buf;
}

static void test_constants_agree(void **state)
{
	(void)state;
	assert_int_equal(strlen(LFS_WH_PREFIX), LFS_WH_PREFIX_LEN);
	assert_int_equal(strlen(LFS_WH_META_PREFIX), LFS_WH_META_PREFIX_LEN);
	assert_true(lfs_is_meta_name(LFS_WH_BASE));
	assert_true(lfs_is_meta_name(LFS_WH_PLINK_DIR));
	assert_true(lfs_is_meta_name(LFS_WH_ORPH_DIR));
}

static void test_marker_names(void **state)
{
	(void)state;
	assert_true(lfs_is_marker_name(".wh.foo"));
	assert_true(lfs_is_marker_name(".wh."));
	assert_true(lfs_is_marker_name(".wh..wh..opq"));
	assert_true(lfs_is_marker_name(".wh..wh.aufs"));
	assert_false(lfs_is_marker_name(".wh"));
	assert_false(lfs_is_marker_name("wh.foo"));
	assert_false(lfs_is_marker_name(".WH.foo"));
	assert_false(lfs_is_marker_name("x.wh.foo"));
	assert_false(lfs_is_marker_name(""));
	assert_false(lfs_is_marker_name(NULL));
}

static void test_meta_names(void **state)
{
	(void)state;
	assert_true(lfs_is_meta_name(".wh..wh..opq"));
	assert_true(lfs_is_meta_name(".wh..wh.aufs"));
	assert_true(lfs_is_meta_name(".wh..wh."));
	assert_false(lfs_is_meta_name(".wh..wh"));	/* whiteout of ".wh" */
	assert_false(lfs_is_meta_name(".wh.foo"));
	assert_false(lfs_is_meta_name(".wh."));
	assert_false(lfs_is_meta_name(""));
	assert_false(lfs_is_meta_name(NULL));
}

static void test_opaque_name(void **state)
{
	(void)state;
	assert_true(lfs_is_opaque_name(".wh..wh..opq"));
	assert_false(lfs_is_opaque_name(".wh..wh..opq2"));
	assert_false(lfs_is_opaque_name(".wh..wh..op"));
	assert_false(lfs_is_opaque_name(".wh..opq"));
	assert_false(lfs_is_opaque_name(".wh..wh.aufs"));
	assert_false(lfs_is_opaque_name(""));
	assert_false(lfs_is_opaque_name(NULL));
}

static void test_target_of_whiteout(void **state)
{
	(void)state;
	const char *name = ".wh.foo";
	const char *t = lfs_whiteout_target(name);
	assert_non_null(t);
	assert_string_equal(t, "foo");
	assert_ptr_equal(t, name + LFS_WH_PREFIX_LEN); /* points into the argument */

	assert_string_equal(lfs_whiteout_target(".wh..hidden"), ".hidden");
	assert_string_equal(lfs_whiteout_target(".wh..wh"), ".wh");
	assert_string_equal(lfs_whiteout_target(".wh.a.wh.b"), "a.wh.b");
	assert_string_equal(lfs_whiteout_target(".wh...."), "...");
}

static void test_target_of_non_whiteouts(void **state)
{
	(void)state;
	assert_null(lfs_whiteout_target(".wh..wh..opq"));
	assert_null(lfs_whiteout_target(".wh..wh.aufs"));
	assert_null(lfs_whiteout_target(".wh..wh.plnk"));
	assert_null(lfs_whiteout_target(".wh..wh."));
	assert_null(lfs_whiteout_target(".wh."));	/* empty target */
	assert_null(lfs_whiteout_target(".wh.."));	/* would hide "." */
	assert_null(lfs_whiteout_target(".wh..."));	/* would hide ".." */
	assert_null(lfs_whiteout_target("foo"));
	assert_null(lfs_whiteout_target(".wh"));
	assert_null(lfs_whiteout_target(""));
	assert_null(lfs_whiteout_target(NULL));
}

static void test_whiteout_name_ok(void **state)
{
	(void)state;
	char buf[NAME_MAX + 1];
	assert_int_equal(lfs_whiteout_name("foo", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".wh.foo");
	assert_int_equal(lfs_whiteout_name(".hidden", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".wh..hidden");
	assert_int_equal(lfs_whiteout_name("...", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".wh....");
	/* ".wh" is no marker (no trailing dot), so it can be whited out. */
	assert_int_equal(lfs_whiteout_name(".wh", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".wh..wh");
	assert_false(lfs_is_meta_name(buf));
}

static void test_whiteout_name_invalid(void **state)
{
	(void)state;
	char buf[64];
	const char *bad[] = {
		"", ".", "..", "a/b", "/", "foo/", ".wh.foo", ".wh.", ".wh..wh..opq",
		".wh..wh.aufs",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(buf, "junk");
		assert_int_equal(lfs_whiteout_name(bad[i], buf, sizeof(buf)), -EINVAL);
		assert_string_equal(buf, ""); /* no half-written result */
	}
	assert_int_equal(lfs_whiteout_name(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_whiteout_name_max_length(void **state)
{
	(void)state;
	char name[NAME_MAX + 8];
	char buf[NAME_MAX + 8];

	make_name(name, NAME_MAX - LFS_WH_PREFIX_LEN); /* 251 bytes */
	assert_int_equal(lfs_whiteout_name(name, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), NAME_MAX);
	assert_memory_equal(buf, ".wh.", 4);
	assert_string_equal(buf + 4, name);

	make_name(name, NAME_MAX - LFS_WH_PREFIX_LEN + 1); /* 252 bytes */
	assert_int_equal(lfs_whiteout_name(name, buf, sizeof(buf)), -ENAMETOOLONG);

	make_name(name, NAME_MAX + 1); /* not even a valid name */
	assert_int_equal(lfs_whiteout_name(name, buf, sizeof(buf)), -ENAMETOOLONG);
}

static void test_whiteout_name_buffer_size(void **state)
{
	(void)state;
	char buf[16];
	/* ".wh.abc" needs 8 bytes with its NUL. */
	assert_int_equal(lfs_whiteout_name("abc", buf, 8), 0);
	assert_string_equal(buf, ".wh.abc");
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(lfs_whiteout_name("abc", buf, 7), -ENAMETOOLONG);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[7], 'z'); /* nothing written past bufsz */
	assert_int_equal(lfs_whiteout_name("abc", buf, 1), -ENAMETOOLONG);
	assert_int_equal(lfs_whiteout_name("abc", buf, 0), -ENAMETOOLONG);
	assert_int_equal(lfs_whiteout_name("abc", NULL, 0), -ENAMETOOLONG);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *names[] = { "a", "foo", ".hidden", "...", ".wh", "wh.x", "a b", "x=y:z" };
	char buf[NAME_MAX + 1];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(lfs_whiteout_name(names[i], buf, sizeof(buf)), 0);
		assert_true(lfs_is_marker_name(buf));
		assert_false(lfs_is_meta_name(buf));
		assert_false(lfs_is_opaque_name(buf));
		const char *t = lfs_whiteout_target(buf);
		assert_non_null(t);
		assert_string_equal(t, names[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants_agree),
		cmocka_unit_test(test_marker_names),
		cmocka_unit_test(test_meta_names),
		cmocka_unit_test(test_opaque_name),
		cmocka_unit_test(test_target_of_whiteout),
		cmocka_unit_test(test_target_of_non_whiteouts),
		cmocka_unit_test(test_whiteout_name_ok),
		cmocka_unit_test(test_whiteout_name_invalid),
		cmocka_unit_test(test_whiteout_name_max_length),
		cmocka_unit_test(test_whiteout_name_buffer_size),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
