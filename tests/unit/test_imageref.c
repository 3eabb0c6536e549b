/* Unit tests for image source spellings and platforms (tools/imageref.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imageref.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The paths that "exist" in these tests. */
static const char *const existing[] = { "layout", "/abs/lay:out", "save.tar", "dir/x.tar",
					 "oci:weird", NULL };

static bool fake_exists(const char *path, void *ctx)
{
	(void)ctx;
	for (const char *const *p = existing; *p; p++) {
		if (strcmp(*p, path) == 0)
			return true;
	}
	return false;
}

static struct image_ref ref;
static char err[512];

static void parse_ok(const char *spelling, enum image_transport t, const char *path,
		     const char *which, const char *digest, long index)
{
	assert_int_equal(image_ref_parse(spelling, fake_exists, NULL, &ref, err, sizeof(err)), 0);
	assert_int_equal(ref.transport, t);
	assert_string_equal(ref.path, path);
	if (which)
		assert_string_equal(ref.which, which);
	else
		assert_null(ref.which);
	assert_string_equal(ref.digest, digest ? digest : "");
	assert_int_equal(ref.index, index);
	image_ref_free(&ref);
}

static void test_transports(void **state)
{
	(void)state;
	parse_ok("oci:layout", IMAGE_T_OCI, "layout", NULL, NULL, -1);
	parse_ok("oci:layout:v1", IMAGE_T_OCI, "layout", "v1", NULL, -1);
	parse_ok("oci:layout:", IMAGE_T_OCI, "layout", NULL, NULL, -1);
	parse_ok("oci:layout@sha256:" HEX, IMAGE_T_OCI, "layout", NULL, HEX, -1);
	parse_ok("oci:layout:@sha256:" HEX, IMAGE_T_OCI, "layout", NULL, HEX, -1);
	parse_ok("oci-archive:save.tar:t", IMAGE_T_OCI_ARCHIVE, "save.tar", "t", NULL, -1);
	parse_ok("docker-archive:save.tar", IMAGE_T_DOCKER_ARCHIVE, "save.tar", NULL, NULL, -1);
	parse_ok("docker-archive:save.tar:busybox:1.36", IMAGE_T_DOCKER_ARCHIVE, "save.tar",
		 "busybox:1.36", NULL, -1);
	parse_ok("docker-archive:save.tar:@2", IMAGE_T_DOCKER_ARCHIVE, "save.tar", NULL, NULL, 2);
	/* a colon in the path: only when the whole rest exists */
	parse_ok("oci:/abs/lay:out", IMAGE_T_OCI, "/abs/lay:out", NULL, NULL, -1);
	/* a file that is named like a transport is a file */
	parse_ok("oci:weird", IMAGE_T_AUTO, "oci:weird", NULL, NULL, -1);
}

static void test_bare(void **state)
{
	(void)state;
	parse_ok("layout", IMAGE_T_AUTO, "layout", NULL, NULL, -1);
	parse_ok("layout:v2", IMAGE_T_AUTO, "layout", "v2", NULL, -1);
	parse_ok("layout@sha256:" HEX, IMAGE_T_AUTO, "layout", NULL, HEX, -1);
	parse_ok("/abs/lay:out", IMAGE_T_AUTO, "/abs/lay:out", NULL, NULL, -1);
	parse_ok("/abs/lay:out:t", IMAGE_T_AUTO, "/abs/lay:out", "t", NULL, -1);
	parse_ok("save.tar:repo/name:tag", IMAGE_T_AUTO, "save.tar", "repo/name:tag", NULL, -1);
	/* nothing exists: the whole spelling, for the caller's "no such file" */
	parse_ok("missing:tag", IMAGE_T_AUTO, "missing:tag", NULL, NULL, -1);
	/* not a digest: the '@' is part of the name */
	parse_ok("layout:a@b", IMAGE_T_AUTO, "layout", "a@b", NULL, -1);
}

static void test_bad_spellings(void **state)
{
	(void)state;
	assert_int_equal(image_ref_parse("", fake_exists, NULL, &ref, err, sizeof(err)), -1);
	assert_int_equal(image_ref_parse("oci::tag", fake_exists, NULL, &ref, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "no path"));
	assert_int_equal(image_ref_parse("oci:@sha256:" HEX, fake_exists, NULL, &ref, err,
					 sizeof(err)), -1);
}

static void test_platforms(void **state)
{
	(void)state;
	struct image_platform p;
	assert_int_equal(image_platform_parse("linux/arm64/v8", &p, err, sizeof(err)), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.arch, "arm64");
	assert_string_equal(p.variant, "v8");
	assert_true(p.given);
	assert_true(image_platform_match(&p, "linux", "arm64", NULL));
	assert_true(image_platform_match(&p, "linux", "arm64", "v8"));
	assert_false(image_platform_match(&p, "linux", "arm64", "v9"));
	assert_false(image_platform_match(&p, "linux", "amd64", NULL));
	assert_int_equal(image_platform_parse("Linux/AMD64", &p, err, sizeof(err)), 0);
	assert_string_equal(p.arch, "amd64");
	assert_true(image_platform_match(&p, "linux", "amd64", "v3"));
	assert_false(image_platform_match(&p, "windows", "amd64", NULL));
	assert_false(image_platform_match(&p, NULL, "amd64", NULL));
	const char *bad[] = { "linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(image_platform_parse(bad[i], &p, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "OS/ARCH"));
	}
	image_platform_host(&p);
	assert_string_equal(p.os, "linux");
	assert_false(p.given);
	char buf[64];
	image_platform_format("linux", "arm", "v7", buf, sizeof(buf));
	assert_string_equal(buf, "linux/arm/v7");
	image_platform_format("linux", "amd64", "", buf, sizeof(buf));
	assert_string_equal(buf, "linux/amd64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transports),
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_bad_spellings),
		cmocka_unit_test(test_platforms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
