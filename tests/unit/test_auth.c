/* Unit tests for registry authentication's pure parts (tools/auth.c):
 * base64, WWW-Authenticate challenges, auth.json lookups and changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		char *e = auth_base64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(e, enc[i]);
		free(e);
		char *d;
		size_t len;
		assert_int_equal(auth_base64_decode(enc[i], &d, &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_string_equal(d, plain[i]);
		free(d);
	}
	char *d;
	size_t len;
	assert_int_equal(auth_base64_decode("Zm9vYmFy", &d, &len), 0);  /* no padding */
	free(d);
	assert_int_equal(auth_base64_decode("Zm9v!!", &d, &len), -1);
	assert_int_equal(auth_base64_decode("Z", &d, &len), -1);
	assert_int_equal(auth_base64_decode("Zg===", &d, &len), -1);
}

static void test_challenges(void **state)
{
	(void)state;
	struct auth_challenge c;
	assert_int_equal(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
					      "service=\"registry.docker.io\",scope=\"repository:"
					      "library/busybox:pull\"", &c), 0);
	assert_int_equal(c.scheme, AUTH_BEARER);
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	auth_challenge_free(&c);

	assert_int_equal(auth_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
	assert_int_equal(c.scheme, AUTH_BASIC);
	assert_string_equal(c.realm, "Registry Realm");
	assert_null(c.service);
	auth_challenge_free(&c);

	/* both offered: Bearer wins; unquoted values, odd spacing, escapes */
	assert_int_equal(auth_challenge_parse("Basic realm=\"x\", bearer realm=http://t/tok , "
					      "service = reg, error=\"insufficient_scope\", "
					      "scope=\"a\\\"b\"", &c), 0);
	assert_int_equal(c.scheme, AUTH_BEARER);
	assert_string_equal(c.realm, "http://t/tok");
	assert_string_equal(c.service, "reg");
	assert_string_equal(c.scope, "a\"b");
	auth_challenge_free(&c);

	assert_int_equal(auth_challenge_parse("Negotiate abc", &c), -1);
	auth_challenge_free(&c);
	assert_int_equal(auth_challenge_parse("", &c), -1);
	assert_int_equal(auth_challenge_parse(NULL, &c), -1);
	assert_int_equal(auth_challenge_parse("Bearer realm=\"unterminated", &c), 0);
	assert_string_equal(c.realm, "unterminated");
	auth_challenge_free(&c);
}

static void test_key_normalize(void **state)
{
	(void)state;
	char buf[256];
	auth_key_normalize("https://index.docker.io/v1/", buf, sizeof(buf));
	assert_string_equal(buf, "docker.io");
	auth_key_normalize("registry-1.docker.io", buf, sizeof(buf));
	assert_string_equal(buf, "docker.io");
	auth_key_normalize("http://reg:5000/", buf, sizeof(buf));
	assert_string_equal(buf, "reg:5000");
	auth_key_normalize("reg:5000/team", buf, sizeof(buf));
	assert_string_equal(buf, "reg:5000/team");
	auth_key_normalize("index.docker.io/team", buf, sizeof(buf));
	assert_string_equal(buf, "docker.io/team");
}

static json_t *doc(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	assert_non_null(j);
	return j;
}

static void lookup(json_t *d, const char *host, const char *repo, int want, const char *user,
		   const char *pass)
{
	char *u = NULL, *p = NULL, err[256] = "";
	int rc = auth_json_lookup(d, host, repo, &u, &p, err, sizeof(err));
	if (rc != want)
		fail_msg("%s/%s: %d, expected %d (%s)", host, repo ? repo : "", rc, want, err);
	if (want == 1) {
		assert_string_equal(u, user);
		assert_string_equal(p, pass);
	}
	free(u);
	free(p);
}

static void test_lookup(void **state)
{
	(void)state;
	/* alice:pw1 bob:pw2 carol:p:w3 (a colon in the password) */
	json_t *d = doc("{\"auths\": {"
			"\"https://index.docker.io/v1/\": {\"auth\": \"YWxpY2U6cHcx\"},"
			"\"reg:5000\": {\"auth\": \"Ym9iOnB3Mg==\"},"
			"\"reg:5000/team\": {\"auth\": \"Y2Fyb2w6cDp3Mw==\"},"
			"\"helper.example\": {},"
			"\"bad.example\": {\"auth\": \"bm9jb2xvbg==\"}}}");
	lookup(d, "docker.io", "library/busybox", 1, "alice", "pw1");
	lookup(d, "reg:5000", "other/app", 1, "bob", "pw2");
	lookup(d, "reg:5000", NULL, 1, "bob", "pw2");
	lookup(d, "reg:5000", "team/app", 1, "carol", "p:w3");
	lookup(d, "reg:5000", "team", 1, "carol", "p:w3");
	lookup(d, "reg:5000", "teamster/app", 1, "bob", "pw2");
	lookup(d, "reg", "x", 0, NULL, NULL);
	lookup(d, "reg:500", "x", 0, NULL, NULL);
	lookup(d, "helper.example", "x", 0, NULL, NULL);
	lookup(d, "bad.example", "x", -1, NULL, NULL);
	json_decref(d);
	d = doc("{}");
	lookup(d, "reg:5000", "x", 0, NULL, NULL);
	json_decref(d);
}

static void test_set_and_remove(void **state)
{
	(void)state;
	json_t *d = doc("{\"auths\": {\"http://reg:5000/\": {\"auth\": \"eDp5\"}, "
			"\"other\": {\"auth\": \"eDp5\"}}, \"credHelpers\": {}}");
	auth_json_set(d, "reg:5000", "u", "secret");
	json_t *auths = json_object_get(d, "auths");
	assert_int_equal(json_object_size(auths), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(auths, "reg:5000"),
							      "auth")), "dTpzZWNyZXQ=");
	assert_non_null(json_object_get(d, "credHelpers"));
	lookup(d, "reg:5000", "a", 1, "u", "secret");
	assert_true(auth_json_remove(d, "reg:5000"));
	assert_false(auth_json_remove(d, "reg:5000"));
	lookup(d, "reg:5000", "a", 0, NULL, NULL);
	assert_non_null(json_object_get(auths, "other"));
	json_decref(d);
	d = json_object();
	auth_json_set(d, "h", "a", "b");
	lookup(d, "h", NULL, 1, "a", "b");
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_challenges),
		cmocka_unit_test(test_key_normalize),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_set_and_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
