/* Unit tests for branch specification parsing (src/common/branchspec.c). */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layerfs/branchspec.h"

/* ---- realloc fault injection ------------------------------------------
 * The executable's realloc overrides libc's (or the sanitizer's) for the
 * library code linked into it; it passes calls on until told to fail. */

static int reallocs_before_failure = -1; /* -1: never fail */

void *realloc(void *ptr, size_t size)
{
	static void *(*next_realloc)(void *, size_t);
	if (next_realloc == NULL)
		next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (reallocs_before_failure == 0)
		return NULL;
	if (reallocs_before_failure > 0)
		reallocs_before_failure--;
	return next_realloc(ptr, size);
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
	struct lfs_branch_list list;
	char err[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	*state = f;
	return f == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	reallocs_before_failure = -1;
	lfs_branch_list_free(&f->list);
	free(f);
	return 0;
}

static void expect_branch(const struct lfs_branch_list *l, size_t i, const char *path,
			  enum lfs_perm perm, bool wh)
{
	assert_true(i < l->n);
	assert_string_equal(l->v[i].path, path);
	assert_int_equal(l->v[i].perm, perm);
	assert_int_equal(l->v[i].wh, wh);
}

static void expect_err_contains(const char *err, const char *needle)
{
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	assert_null(strchr(err, '\n'));
}

/* Parses SPEC expecting -EINVAL and a message naming NEEDLE. */
static void expect_aufs_error(struct fixture *f, const char *spec, const char *needle)
{
	f->err[0] = '\0';
	assert_int_equal(lfs_parse_aufs_branches(spec, &f->list, f->err, sizeof(f->err)),
			 -EINVAL);
	expect_err_contains(f->err, needle);
	lfs_branch_list_free(&f->list);
	assert_null(f->list.v);
	assert_int_equal(f->list.n, 0);
}

/* Fills the list by hand (paths duplicated) to drive the checks directly. */
static void build_list(struct lfs_branch_list *l, size_t n, const char *const *paths,
		       const enum lfs_perm *perms)
{
	lfs_branch_list_free(l);
	l->v = calloc(n, sizeof(l->v[0]));
	assert_non_null(l->v);
	for (size_t i = 0; i < n; i++) {
		l->v[i].path = paths[i] ? strdup(paths[i]) : NULL;
		l->v[i].perm = perms[i];
		l->v[i].wh = true;
	}
	l->n = n;
}

static int check(struct fixture *f)
{
	f->err[0] = '\0';
	return lfs_branch_list_check(&f->list, f->err, sizeof(f->err));
}

/* ---- permissions -------------------------------------------------------- */

static void test_parse_perm_valid(void **state)
{
	(void)state;
	static const struct { const char *s; enum lfs_perm perm; bool wh; } cases[] = {
		{ "rw", LFS_PERM_RW, true },
		{ "ro", LFS_PERM_RO, false },
		{ "ro+wh", LFS_PERM_RO, true },
		{ "rr", LFS_PERM_RR, false },
		{ "rr+wh", LFS_PERM_RR, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum lfs_perm perm = (enum lfs_perm)-1;
		bool wh = !cases[i].wh;
		assert_int_equal(lfs_parse_perm(cases[i].s, &perm, &wh), 0);
		assert_int_equal(perm, cases[i].perm);
		assert_int_equal(wh, cases[i].wh);
		/* The canonical name is the spelling that was parsed. */
		assert_string_equal(lfs_perm_name(perm, wh), cases[i].s);
	}
}

static void test_parse_perm_invalid(void **state)
{
	(void)state;
	const char *bad[] = { "", "RW", "Ro", "rw+wh", "wh", "ro+", "ro+WH", " ro",
			      "ro ", "rx", "ro+wh+wh", "r" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum lfs_perm perm = LFS_PERM_RR;
		bool wh = false;
		assert_int_equal(lfs_parse_perm(bad[i], &perm, &wh), -EINVAL);
		assert_int_equal(perm, LFS_PERM_RR); /* outputs untouched */
		assert_false(wh);
	}
	assert_int_equal(lfs_parse_perm(NULL, NULL, NULL), -EINVAL);
}

static void test_perm_name_rw_ignores_wh(void **state)
{
	(void)state;
	assert_string_equal(lfs_perm_name(LFS_PERM_RW, false), "rw");
	assert_string_equal(lfs_perm_name(LFS_PERM_RW, true), "rw");
	assert_string_equal(lfs_perm_name(LFS_PERM_RO, false), "ro");
	assert_string_equal(lfs_perm_name(LFS_PERM_RR, true), "rr+wh");
}

/* ---- aufs lists ----------------------------------------------------------- */

static void test_aufs_default_perms(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a:/b:/c", &f->list, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 3);
	expect_branch(&f->list, 0, "/a", LFS_PERM_RW, true);
	expect_branch(&f->list, 1, "/b", LFS_PERM_RO, false);
	expect_branch(&f->list, 2, "/c", LFS_PERM_RO, false);
	assert_int_equal(check(f), 0);
}

static void test_aufs_explicit_perms(void **state)
{
	struct fixture *f = *state;
	const char *spec = "/u=rw:/a=ro+wh:/b=rr:/c=rr+wh:/d=ro";
	assert_int_equal(lfs_parse_aufs_branches(spec, &f->list, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 5);
	expect_branch(&f->list, 0, "/u", LFS_PERM_RW, true);
	expect_branch(&f->list, 1, "/a", LFS_PERM_RO, true);
	expect_branch(&f->list, 2, "/b", LFS_PERM_RR, false);
	expect_branch(&f->list, 3, "/c", LFS_PERM_RR, true);
	expect_branch(&f->list, 4, "/d", LFS_PERM_RO, false);
}

static void test_aufs_default_depends_on_whole_list(void **state)
{
	struct fixture *f = *state;
	/* First branch explicitly ro: the next one defaults to ro as well. */
	assert_int_equal(lfs_parse_aufs_branches("/a=ro:/b", &f->list, NULL, 0), 0);
	expect_branch(&f->list, 1, "/b", LFS_PERM_RO, false);
	/* Appending: the list is no longer empty, so no rw default. */
	assert_int_equal(lfs_parse_aufs_branches("/c", &f->list, NULL, 0), 0);
	assert_int_equal(f->list.n, 3);
	expect_branch(&f->list, 2, "/c", LFS_PERM_RO, false);
}

static void test_aufs_escapes(void **state)
{
	struct fixture *f = *state;
	/* Raw text: /a\:b=ro:/c\\d:/e\\:/f\:=rr */
	const char *spec = "/a\\:b=ro:/c\\\\d:/e\\\\:/f\\:=rr";
	assert_int_equal(lfs_parse_aufs_branches(spec, &f->list, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 4);
	expect_branch(&f->list, 0, "/a:b", LFS_PERM_RO, false);
	expect_branch(&f->list, 1, "/c\\d", LFS_PERM_RO, false);
	expect_branch(&f->list, 2, "/e\\", LFS_PERM_RO, false);
	expect_branch(&f->list, 3, "/f:", LFS_PERM_RR, false);
}

static void test_aufs_escaped_colon_only(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("\\:", &f->list, NULL, 0), 0);
	assert_int_equal(f->list.n, 1);
	expect_branch(&f->list, 0, ":", LFS_PERM_RW, true);
}

static void test_aufs_bad_escapes(void **state)
{
	struct fixture *f = *state;
	expect_aufs_error(f, "/ok:/a\\b", "/a\\b");
	expect_aufs_error(f, "/a\\", "/a\\");          /* trailing backslash */
	expect_aufs_error(f, "/a\\=ro", "/a\\=ro");    /* '=' cannot be escaped */
	expect_aufs_error(f, "/a\\n", "backslash");
}

static void test_aufs_equals_rule(void **state)
{
	struct fixture *f = *state;
	const char *spec = "/a=b:/c=d=ro:/x=rx:/y=rw=rr+wh:/z=:/w==ro";
	assert_int_equal(lfs_parse_aufs_branches(spec, &f->list, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 6);
	expect_branch(&f->list, 0, "/a=b", LFS_PERM_RW, true);   /* not a perm: path */
	expect_branch(&f->list, 1, "/c=d", LFS_PERM_RO, false);  /* last '=' splits */
	expect_branch(&f->list, 2, "/x=rx", LFS_PERM_RO, false); /* typo stays path */
	expect_branch(&f->list, 3, "/y=rw", LFS_PERM_RR, true);
	expect_branch(&f->list, 4, "/z=", LFS_PERM_RO, false);
	expect_branch(&f->list, 5, "/w=", LFS_PERM_RO, false);
}

static void test_aufs_perm_without_path(void **state)
{
	struct fixture *f = *state;
	expect_aufs_error(f, "=rw", "empty path");
	expect_aufs_error(f, "/a:=ro", "empty path");
}

static void test_aufs_empty_elements(void **state)
{
	struct fixture *f = *state;
	f->err[0] = '\0';
	assert_int_equal(lfs_parse_aufs_branches("/a::/b", &f->list, f->err, sizeof(f->err)),
			 -EINVAL);
	expect_err_contains(f->err, "after /a");
	/* What was parsed so far stays in the list, and is freed by teardown. */
	assert_int_equal(f->list.n, 1);
	expect_branch(&f->list, 0, "/a", LFS_PERM_RW, true);
	lfs_branch_list_free(&f->list);

	expect_aufs_error(f, ":/a", "start");
	expect_aufs_error(f, "/a:", "trailing");
	expect_aufs_error(f, "/a:/b=ro:", "/b");
	expect_aufs_error(f, ":", "empty branch");
	expect_aufs_error(f, "", "empty branch list");
	expect_aufs_error(f, NULL, "empty branch list");
}

static void test_aufs_no_error_buffer(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a::/b", &f->list, NULL, 0), -EINVAL);
	lfs_branch_list_free(&f->list);
	assert_int_equal(lfs_parse_aufs_branches("/a", NULL, f->err, sizeof(f->err)), -EINVAL);
}

/* ---- overlay options -------------------------------------------------------- */

static void test_overlay_upper_and_lowers(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_overlay_branches("/l1:/l2:/l3", "/u", &f->list,
						    f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 4);
	expect_branch(&f->list, 0, "/u", LFS_PERM_RW, true);
	expect_branch(&f->list, 1, "/l1", LFS_PERM_RO, true);
	expect_branch(&f->list, 2, "/l2", LFS_PERM_RO, true);
	expect_branch(&f->list, 3, "/l3", LFS_PERM_RO, true);
	assert_int_equal(check(f), 0);
}

static void test_overlay_without_upper(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_overlay_branches("/top:/bottom", NULL, &f->list, NULL, 0), 0);
	assert_int_equal(f->list.n, 2);
	expect_branch(&f->list, 0, "/top", LFS_PERM_RO, true);
	expect_branch(&f->list, 1, "/bottom", LFS_PERM_RO, true);
	assert_int_equal(check(f), 0);
}

static void test_overlay_paths_are_literal(void **state)
{
	struct fixture *f = *state;
	/* No perms in overlay syntax; escapes work in both options, and a bare
	 * ':' in upperdir is part of its single path. */
	assert_int_equal(lfs_parse_overlay_branches("/l\\:1=ro:/l2=rw", "/u:x\\\\", &f->list,
						    f->err, sizeof(f->err)), 0);
	assert_int_equal(f->list.n, 3);
	expect_branch(&f->list, 0, "/u:x\\", LFS_PERM_RW, true);
	expect_branch(&f->list, 1, "/l:1=ro", LFS_PERM_RO, true);
	expect_branch(&f->list, 2, "/l2=rw", LFS_PERM_RO, true);
}

static void test_overlay_errors(void **state)
{
	struct fixture *f = *state;
	struct { const char *lower, *upper, *needle; } cases[] = {
		{ NULL, "/u", "lowerdir is required" },
		{ "", "/u", "lowerdir is required" },
		{ "/l", "", "upperdir" },
		{ "/l1::/l2", NULL, "after /l1" },
		{ "/l1::/l2", NULL, "data-only" },
		{ "/l1:", "/u", "trailing" },
		{ ":/l1", "/u", "start" },
		{ "/l\\x", NULL, "/l\\x" },
		{ "/l", "/u\\", "/u\\" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->err[0] = '\0';
		assert_int_equal(lfs_parse_overlay_branches(cases[i].lower, cases[i].upper,
							    &f->list, f->err, sizeof(f->err)),
				 -EINVAL);
		expect_err_contains(f->err, cases[i].needle);
		lfs_branch_list_free(&f->list);
	}
}

/* ---- checks ----------------------------------------------------------------- */

static void test_check_empty_list(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(check(f), -EINVAL);
	expect_err_contains(f->err, "no branches");
	assert_int_equal(lfs_branch_list_check(NULL, NULL, 0), -EINVAL);
}

static void test_check_rw_must_be_first(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a=ro:/b=rw", &f->list, NULL, 0), 0);
	assert_int_equal(check(f), -EINVAL);
	expect_err_contains(f->err, "rw branch must be the first branch");
	expect_err_contains(f->err, "/b");
}

static void test_check_two_rw(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a:/b=ro:/c=rw", &f->list, NULL, 0), 0);
	assert_int_equal(check(f), -EINVAL);
	assert_string_equal(f->err, "two rw branches: /a and /c");
}

static void test_check_no_rw_is_fine(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a=rr:/b=ro+wh", &f->list, NULL, 0), 0);
	assert_int_equal(check(f), 0);
}

static void test_check_empty_path(void **state)
{
	struct fixture *f = *state;
	const char *paths[] = { "/a", "", "/c" };
	const enum lfs_perm perms[] = { LFS_PERM_RW, LFS_PERM_RO, LFS_PERM_RO };
	build_list(&f->list, 3, paths, perms);
	assert_int_equal(check(f), -EINVAL);
	expect_err_contains(f->err, "branch 1 ");
	expect_err_contains(f->err, "empty path");

	const char *null_path[] = { "/a", NULL };
	build_list(&f->list, 2, null_path, perms);
	assert_int_equal(check(f), -EINVAL);
	expect_err_contains(f->err, "empty path");
}

static void test_check_duplicates(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *a, *b; } same[] = {
		{ "/a/b", "/a//b/" },
		{ "/a/b", "/a/./b" },
		{ "/a/b/.", "/a/b" },
		{ "a", "./a/" },
		{ "/", "//" },
		{ "/", "/." },
		{ ".", "./" },
	};
	const enum lfs_perm perms[] = { LFS_PERM_RW, LFS_PERM_RO, LFS_PERM_RO };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		const char *paths[] = { "/other", same[i].a, same[i].b };
		build_list(&f->list, 3, paths, perms);
		assert_int_equal(check(f), -EINVAL);
		expect_err_contains(f->err, "twice");
		expect_err_contains(f->err, same[i].a);
		expect_err_contains(f->err, same[i].b);
	}
}

static void test_check_not_duplicates(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *a, *b; } differ[] = {
		{ "/a/b", "/a/b/c" },
		{ "/a/b", "/a/bb" },
		{ "/a/b", "/a/c" },
		{ "a", "/a" },
		{ "/a/../a", "/a" },   /* ".." is not resolved: lexical only */
		{ "/a/.b", "/a/b" },
		{ "/a/b..", "/a/b" },
	};
	const enum lfs_perm perms[] = { LFS_PERM_RO, LFS_PERM_RO };
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		const char *paths[] = { differ[i].a, differ[i].b };
		build_list(&f->list, 2, paths, perms);
		if (check(f) != 0)
			fail_msg("%s and %s taken as the same: %s", differ[i].a, differ[i].b, f->err);
	}
}

static void test_check_duplicate_from_parse(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/rw:/a/b=ro:/x=rr:/a//b/=ro+wh", &f->list,
						 NULL, 0), 0);
	assert_int_equal(check(f), -EINVAL);
	assert_string_equal(f->err, "branch given twice: /a/b and /a//b/");
}

static void test_check_invalid_perm(void **state)
{
	struct fixture *f = *state;
	const char *paths[] = { "/a", "/b" };
	const enum lfs_perm perms[] = { LFS_PERM_RW, (enum lfs_perm)42 };
	build_list(&f->list, 2, paths, perms);
	assert_int_equal(check(f), -EINVAL);
	expect_err_contains(f->err, "/b");
}

/* ---- error buffers ---------------------------------------------------------- */

static void test_tiny_error_buffers(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lfs_parse_aufs_branches("/a=ro:/long/path/name/x:/b=rw", &f->list,
						 NULL, 0), 0);
	char full[256];
	assert_int_equal(lfs_branch_list_check(&f->list, full, sizeof(full)), -EINVAL);
	size_t full_len = strlen(full);
	assert_true(full_len > 10);

	for (size_t sz = 1; sz <= full_len + 2; sz++) {
		char buf[300];
		memset(buf, '#', sizeof(buf));
		assert_int_equal(lfs_branch_list_check(&f->list, buf, sz), -EINVAL);
		size_t len = strnlen(buf, sz);
		assert_true(len < sz);                  /* NUL inside the buffer */
		assert_int_equal(buf[sz], '#');         /* nothing past it */
		assert_memory_equal(buf, full, len);    /* a prefix of the message */
	}
	assert_int_equal(lfs_branch_list_check(&f->list, NULL, 0), -EINVAL);

	char one = 'x';
	assert_int_equal(lfs_parse_aufs_branches("", &f->list, &one, 1), -EINVAL);
	assert_int_equal(one, '\0');
}

static void test_message_stays_one_line(void **state)
{
	struct fixture *f = *state;
	const char *paths[] = { "/a\nb", "/a\nb/", "/c" };
	const enum lfs_perm perms[] = { LFS_PERM_RW, LFS_PERM_RO, LFS_PERM_RO };
	build_list(&f->list, 3, paths, perms);
	assert_int_equal(check(f), -EINVAL);
	assert_null(strchr(f->err, '\n'));
	expect_err_contains(f->err, "/a?b");
}

/* ---- allocation failure ---------------------------------------------------- */

static void test_realloc_failure(void **state)
{
	struct fixture *f = *state;
	reallocs_before_failure = 2;
	assert_int_equal(lfs_parse_aufs_branches("/a:/b:/c:/d", &f->list,
						 f->err, sizeof(f->err)), -ENOMEM);
	reallocs_before_failure = -1;
	expect_err_contains(f->err, "out of memory");
	/* The first two made it; "/c" was freed when its slot could not grow. */
	assert_int_equal(f->list.n, 2);
	expect_branch(&f->list, 0, "/a", LFS_PERM_RW, true);
	expect_branch(&f->list, 1, "/b", LFS_PERM_RO, false);
	lfs_branch_list_free(&f->list);

	reallocs_before_failure = 0;
	assert_int_equal(lfs_parse_overlay_branches("/l", "/u", &f->list,
						    f->err, sizeof(f->err)), -ENOMEM);
	reallocs_before_failure = 1;
	assert_int_equal(lfs_parse_overlay_branches("/l", "/u", &f->list,
						    f->err, sizeof(f->err)), -ENOMEM);
	reallocs_before_failure = -1;
	assert_int_equal(f->list.n, 1);
	expect_branch(&f->list, 0, "/u", LFS_PERM_RW, true);
}

static void test_free_is_idempotent(void **state)
{
	struct fixture *f = *state;
	lfs_branch_list_free(&f->list);
	assert_int_equal(lfs_parse_aufs_branches("/a", &f->list, NULL, 0), 0);
	lfs_branch_list_free(&f->list);
	lfs_branch_list_free(&f->list);
	lfs_branch_list_free(NULL);
	assert_null(f->list.v);
	assert_int_equal(f->list.n, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_perm_valid),
		T(test_parse_perm_invalid),
		T(test_perm_name_rw_ignores_wh),
		T(test_aufs_default_perms),
		T(test_aufs_explicit_perms),
		T(test_aufs_default_depends_on_whole_list),
		T(test_aufs_escapes),
		T(test_aufs_escaped_colon_only),
		T(test_aufs_bad_escapes),
		T(test_aufs_equals_rule),
		T(test_aufs_perm_without_path),
		T(test_aufs_empty_elements),
		T(test_aufs_no_error_buffer),
		T(test_overlay_upper_and_lowers),
		T(test_overlay_without_upper),
		T(test_overlay_paths_are_literal),
		T(test_overlay_errors),
		T(test_check_empty_list),
		T(test_check_rw_must_be_first),
		T(test_check_two_rw),
		T(test_check_no_rw_is_fine),
		T(test_check_empty_path),
		T(test_check_duplicates),
		T(test_check_not_duplicates),
		T(test_check_duplicate_from_parse),
		T(test_check_invalid_perm),
		T(test_tiny_error_buffers),
		T(test_message_stays_one_line),
		T(test_realloc_failure),
		T(test_free_is_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
