/* Unit tests for registry manifests and platforms (tools/manifest.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char oci_image[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	"\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":100},"
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D3
	"\",\"size\":0}]}";

static int parse(const char *body, const char *ct, struct manifest *m, char *err, size_t n)
{
	return manifest_parse(body, strlen(body), ct, "reg/app:1", m, err, n);
}

static void test_image_manifests(void **state)
{
	(void)state;
	struct manifest m;
	char err[512];
	assert_int_equal(parse(oci_image, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, MANIFEST_IMAGE);
	assert_string_equal(m.config.digest, D1 + 7);
	assert_int_equal(m.config.size, 7);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[0].media_type, MT_OCI_LAYER_GZIP);
	assert_int_equal(m.layers[0].size, 100);
	assert_string_equal(m.layers[1].digest, D3 + 7);
	manifest_free(&m);

	/* docker schema 2 without a mediaType in the body: the Content-Type says */
	const char docker[] =
		"{\"schemaVersion\":2,"
		"\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
		"\"layers\":[{\"mediaType\":\"" MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D2
		"\",\"size\":5}]}";
	assert_int_equal(parse(docker, MT_DOCKER_MANIFEST "; charset=utf-8", &m, err,
			       sizeof(err)), 0);
	assert_string_equal(m.media_type, MT_DOCKER_MANIFEST);
	manifest_free(&m);
	/* and with no type at all, its shape */
	assert_int_equal(parse(docker, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, MANIFEST_IMAGE);
	manifest_free(&m);
}

static void bad(const char *body, const char *ct, const char *why)
{
	struct manifest m;
	char err[512] = "";
	if (parse(body, ct, &m, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", body);
	if (!strstr(err, why))
		fail_msg("'%s' does not say '%s'", err, why);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "reg/app:1"));
}

static void test_refused(void **state)
{
	(void)state;
	bad("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", NULL, "schema 1");
	bad("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1");
	bad("not json", NULL, "not a JSON manifest");
	bad("[1]", NULL, "not an object");
	bad("{\"schemaVersion\":3,\"config\":{},\"layers\":[]}", NULL, "schemaVersion");
	bad("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", NULL, "not an image manifest");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
	    "\"" MT_OCI_CONFIG "\",\"digest\":\"sha512:abc\",\"size\":1},\"layers\":[]}", NULL,
	    "config.digest: not a sha256 digest");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
	    "\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}", NULL,
	    "config.size");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
	    "\"text/plain\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}", NULL,
	    "not an image config");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
	    "\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
	    "\"text/plain\",\"digest\":\"" D2 "\",\"size\":1}]}", NULL,
	    "layers[0].mediaType: 'text/plain' is not a layer type");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
	    "\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
	    "\"" MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[\"http://x\"]}]}",
	    NULL, "foreign layer");
	bad("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}", NULL, "manifests");
}

static const char index_body[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":12,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}]}";

static void choose(const char *want, int rc, size_t at)
{
	struct manifest m;
	struct image_platform p;
	char err[512];
	size_t got = 99;
	assert_int_equal(parse(index_body, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, MANIFEST_INDEX);
	assert_int_equal(m.nmanifests, 3);
	assert_int_equal(image_platform_parse(want, &p, err, sizeof(err)), 0);
	int r = manifest_choose(&m, &p, &got, err, sizeof(err));
	if (r != rc)
		fail_msg("%s: %d (%s)", want, r, err);
	if (rc == 0)
		assert_int_equal(got, at);
	else
		assert_non_null(strstr(err, "linux/arm64/v8, linux/amd64, linux/arm/v6"));
	manifest_free(&m);
}

static void test_platforms(void **state)
{
	(void)state;
	choose("linux/amd64", 0, 1);
	choose("linux/arm64", 0, 0);
	choose("linux/arm64/v8", 0, 0);
	choose("linux/arm/v6", 0, 2);
	choose("linux/arm", 0, 2);     /* no variant asked for: any */
	choose("linux/arm/v7", -1, 0);
	choose("linux/s390x", -1, 0);
	choose("windows/amd64", -1, 0);
	/* an entry without a platform is never chosen by platform */
	struct manifest m;
	struct image_platform p;
	char err[512];
	size_t at;
	const char body[] = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
			    "\",\"digest\":\"" D1 "\",\"size\":1}]}";
	assert_int_equal(parse(body, NULL, &m, err, sizeof(err)), 0);
	image_platform_host(&p);
	assert_int_equal(manifest_choose(&m, &p, &at, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "(no platform)"));
	manifest_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_manifests),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_platforms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
