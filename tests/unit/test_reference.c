/* Unit tests for docker image references (tools/reference.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reference.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check_norm(const char *in, const char *normal, const char *familiar)
{
	char err[256] = "", buf[600];
	struct reference r;
	if (reference_parse(in, &r, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", in, err);
	reference_default_tag(&r);
	assert_int_equal(reference_string(&r, buf, sizeof(buf)), 0);
	if (strcmp(buf, normal) != 0)
		fail_msg("'%s': normal form '%s', expected '%s'", in, buf, normal);
	assert_int_equal(reference_familiar(&r, buf, sizeof(buf)), 0);
	if (strcmp(buf, familiar) != 0)
		fail_msg("'%s': familiar form '%s', expected '%s'", in, buf, familiar);
}

static void check_bad(const char *in, const char *reason)
{
	char err[256] = "";
	struct reference r;
	if (reference_parse(in, &r, err, sizeof(err)) == 0)
		fail_msg("'%s' accepted", in);
	if (strstr(err, reason) == NULL)
		fail_msg("'%s': reason '%s' does not mention '%s'", in, err, reason);
	assert_null(strchr(err, '\n'));
}

static void test_docker_hub_defaults(void **state)
{
	(void)state;
	check_norm("busybox", "docker.io/library/busybox:latest", "busybox:latest");
	check_norm("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36");
	check_norm("library/busybox", "docker.io/library/busybox:latest", "busybox:latest");
	check_norm("docker.io/library/busybox:latest", "docker.io/library/busybox:latest",
		   "busybox:latest");
	check_norm("index.docker.io/library/busybox", "docker.io/library/busybox:latest",
		   "busybox:latest");
	check_norm("fixtures/small", "docker.io/fixtures/small:latest", "fixtures/small:latest");
	check_norm("docker.io/fixtures/small:latest", "docker.io/fixtures/small:latest",
		   "fixtures/small:latest");
	check_norm("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest");
	check_norm("a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest");
	check_norm("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest");
	/* a familiar form must mean the same: a path that starts like a domain */
	check_norm("docker.io/docker.io/a.b", "docker.io/docker.io/a.b:latest",
		   "docker.io/docker.io/a.b:latest");
	check_norm("docker.io/localhost/a", "docker.io/localhost/a:latest",
		   "docker.io/localhost/a:latest");
	check_norm("library/" HEX, "docker.io/library/" HEX ":latest", "library/" HEX ":latest");
}

static void test_other_registries(void **state)
{
	(void)state;
	check_norm("reg:5000/a/b:1", "reg:5000/a/b:1", "reg:5000/a/b:1");
	check_norm("docker://reg:5000/a/b:1", "reg:5000/a/b:1", "reg:5000/a/b:1");
	check_norm("localhost/x", "localhost/x:latest", "localhost/x:latest");
	check_norm("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest");
	check_norm("127.0.0.1:5000/team/app:1.2", "127.0.0.1:5000/team/app:1.2",
		   "127.0.0.1:5000/team/app:1.2");
	check_norm("quay.io/a_b__c-d--e.f/g", "quay.io/a_b__c-d--e.f/g:latest",
		   "quay.io/a_b__c-d--e.f/g:latest");
	/* an uppercase first component is a domain, as docker decides */
	check_norm("Reg/app", "Reg/app:latest", "Reg/app:latest");
}

static void test_digests(void **state)
{
	(void)state;
	check_norm("busybox@sha256:" HEX, "docker.io/library/busybox@sha256:" HEX,
		   "busybox@sha256:" HEX);
	check_norm("busybox:1@sha256:" HEX, "docker.io/library/busybox:1@sha256:" HEX,
		   "busybox:1@sha256:" HEX);
	check_norm("reg:5000/a@sha256:" HEX, "reg:5000/a@sha256:" HEX, "reg:5000/a@sha256:" HEX);
	struct reference r;
	char err[128];
	assert_int_equal(reference_parse("busybox@sha256:" HEX, &r, err, sizeof(err)), 0);
	assert_string_equal(r.tag, "");
	assert_string_equal(r.digest, "sha256:" HEX);
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.path, "library/busybox");
}

static void test_malformed(void **state)
{
	(void)state;
	check_bad("", "empty");
	check_bad("docker://", "empty");
	check_bad("Busybox", "lowercase");
	check_bad("fixtures/Small", "lowercase");
	check_bad("reg:5000/Team/app", "lowercase");
	check_bad("busybox:", "invalid tag");
	check_bad("busybox:-x", "invalid tag");
	check_bad("busybox:.x", "invalid tag");
	check_bad("busybox:a+b", "invalid tag");
	char longtag[300];
	snprintf(longtag, sizeof(longtag), "busybox:%0129d", 7);
	check_bad(longtag, "invalid tag");
	snprintf(longtag, sizeof(longtag), "busybox:%0128d", 7);
	struct reference r;
	char err[128];
	assert_int_equal(reference_parse(longtag, &r, err, sizeof(err)), 0);
	check_bad("busybox@sha256:abc", "invalid digest");
	check_bad("busybox@sha256:" HEX "0", "invalid digest");
	check_bad("busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		  "invalid digest");
	check_bad("busybox@md5:" HEX, "unsupported digest algorithm");
	check_bad("busybox@", "invalid digest");
	check_bad(HEX, "64-digit");
	check_bad("a//b", "component");
	check_bad("/a", "component");
	check_bad("a/", "component");
	check_bad("a..b", "component");
	check_bad("a-", "component");
	check_bad("_a", "component");
	check_bad("a___b", "component");
	check_bad("bad_domain.-x/a", "domain");
	check_bad("reg:50x0/a", "domain");
	check_bad("reg:/a", "domain");
	check_bad("bu sybox", "space");
	check_bad("busybox\n", "control");
	char longname[400];
	memset(longname, 'a', 300);
	longname[300] = '\0';
	check_bad(longname, "255");
	snprintf(longname, sizeof(longname), "reg.example/%0250d", 1);
	check_bad(longname, "255");
}

static void test_normalize_and_api_host(void **state)
{
	(void)state;
	char buf[300], err[128];
	assert_int_equal(reference_normalize("busybox", buf, sizeof(buf), err, sizeof(err)), 0);
	assert_string_equal(buf, "docker.io/library/busybox:latest");
	assert_int_equal(reference_normalize("x:", buf, sizeof(buf), err, sizeof(err)), -1);
	assert_int_equal(reference_normalize("busybox", buf, 10, err, sizeof(err)), -1);
	struct reference r;
	assert_int_equal(reference_parse("busybox", &r, err, sizeof(err)), 0);
	assert_string_equal(reference_api_host(&r), "registry-1.docker.io");
	assert_int_equal(reference_parse("127.0.0.1:5000/a", &r, err, sizeof(err)), 0);
	assert_string_equal(reference_api_host(&r), "127.0.0.1:5000");
	assert_int_equal(reference_familiar_name(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127.0.0.1:5000/a");
	assert_int_equal(reference_parse("library/busybox:1", &r, err, sizeof(err)), 0);
	assert_int_equal(reference_familiar_name(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "busybox");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_hub_defaults),
		cmocka_unit_test(test_other_registries),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_normalize_and_api_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
