/* Unit tests for layerctl's sha256 helpers and chain ids (tools/digest.c). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"

#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_known_vectors(void **state)
{
	(void)state;
	char hex[65];
	digest_buffer("", 0, hex);
	assert_string_equal(hex, EMPTY);
	digest_buffer("abc", 3, hex);
	assert_string_equal(hex, ABC);
}

static void test_streaming_equals_one_shot(void **state)
{
	(void)state;
	struct digest d;
	char hex[65];
	digest_init(&d);
	char *a = malloc(1000);
	memset(a, 'a', 1000);
	for (int i = 0; i < 1000; i++)
		digest_update(&d, a, 1000);
	digest_final_hex(&d, hex);
	assert_string_equal(hex, MILLION_A);
	/* the context starts afresh after final */
	digest_update(&d, "abc", 3);
	digest_final_hex(&d, hex);
	assert_string_equal(hex, ABC);
	free(a);
}

static void test_digest_fd(void **state)
{
	(void)state;
	char path[] = "/tmp/test_digest.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "abc", 3), 3);
	lseek(fd, 0, SEEK_SET);
	char hex[65];
	assert_int_equal(digest_fd(fd, hex), 0);
	assert_string_equal(hex, ABC);
	close(fd);
	assert_true(digest_fd(-1, hex) < 0);
}

static void test_is_hex(void **state)
{
	(void)state;
	assert_true(digest_is_hex(EMPTY));
	assert_false(digest_is_hex(NULL));
	assert_false(digest_is_hex(""));
	assert_false(digest_is_hex("abc"));
	char upper[] = EMPTY;
	upper[0] = 'E';
	assert_false(digest_is_hex(upper));
	assert_false(digest_is_hex(EMPTY "0"));
	char bad[] = EMPTY;
	bad[10] = 'g';
	assert_false(digest_is_hex(bad));
}

static void test_parse_and_format(void **state)
{
	(void)state;
	char hex[65], str[DIGEST_STR_SIZE];
	assert_true(digest_parse("sha256:" EMPTY, hex));
	assert_string_equal(hex, EMPTY);
	assert_false(digest_parse(EMPTY, hex));
	assert_false(digest_parse("sha512:" EMPTY, hex));
	assert_false(digest_parse("sha256:" EMPTY "a", hex));
	assert_false(digest_parse("sha256:", hex));
	assert_false(digest_parse(NULL, hex));
	digest_format(ABC, str);
	assert_string_equal(str, "sha256:" ABC);
	assert_int_equal(strlen(str) + 1, DIGEST_STR_SIZE);
}

static void test_chain_id(void **state)
{
	(void)state;
	char c0[65], c1[65], c2[65], want[65];
	digest_chain_id(NULL, ABC, c0);
	assert_string_equal(c0, ABC);
	digest_chain_id(c0, EMPTY, c1);
	const char *s = "sha256:" ABC " sha256:" EMPTY;
	digest_buffer(s, strlen(s), want);
	assert_string_equal(c1, want);
	digest_chain_id(c1, ABC, c2);
	char buf[200];
	snprintf(buf, sizeof(buf), "sha256:%s sha256:%s", c1, ABC);
	digest_buffer(buf, strlen(buf), want);
	assert_string_equal(c2, want);
	/* the output may be the parent's buffer */
	digest_chain_id(c1, ABC, c1);
	assert_string_equal(c1, c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_streaming_equals_one_shot),
		cmocka_unit_test(test_digest_fd),
		cmocka_unit_test(test_is_hex),
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_chain_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
