/* Unit tests for reading image sources (tools/image.c): OCI layouts,
 * docker save archives and directories, single layers, and the errors. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"
#include "image.h"

#define OCI_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"

static char dir[64];
static char err[4096];
static struct image_src img;

static void mkdirs_for(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
}

static void put(const char *rel, const char *data)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	mkdirs_for(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(data, 1, strlen(data), f);
	fclose(f);
}

/* Writes data as blobs/sha256/<hex>; hex out. */
static void put_blob(const char *data, char hex[65])
{
	char rel[96];
	digest_buffer(data, strlen(data), hex);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", hex);
	put(rel, data);
}

static char *fmt(const char *f, ...)
{
	static char bufs[8][8192];
	static int n;
	char *b = bufs[n++ % 8];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

struct oci {
	char l1[65], l2[65], d1[65], d2[65], cfg[65], man[65];
	const char *l2_type;
	const char *config_type;
	bool config_diff_ids_short;
};

static const char *descriptor(const char *type, const char *data, const char *hex)
{
	return fmt("{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu}", type, hex,
		   strlen(data));
}

static void build_oci(struct oci *o)
{
	const char *layer1 = "layer one bytes", *layer2 = "layer two bytes";
	put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	put_blob(layer1, o->l1);
	put_blob(layer2, o->l2);
	digest_buffer("diff one", 8, o->d1);
	digest_buffer("diff two", 8, o->d2);
	char *cfg = strdup(o->config_diff_ids_short
		? fmt("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", o->d1)
		: fmt("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		      "\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}", o->d1, o->d2));
	put_blob(cfg, o->cfg);
	char *d1 = strdup(descriptor(OCI_LAYER_GZ, layer1, o->l1));
	char *d2 = strdup(descriptor(o->l2_type ? o->l2_type : OCI_LAYER_GZ, layer2, o->l2));
	char *dc = strdup(descriptor(o->config_type ? o->config_type : OCI_CONFIG, cfg, o->cfg));
	char *man = strdup(fmt("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
			       "\"layers\":[%s,%s]}", OCI_MANIFEST, dc, d1, d2));
	put_blob(man, o->man);
	const char *dm = descriptor(OCI_MANIFEST, man, o->man);
	put("index.json", fmt("{\"schemaVersion\":2,\"manifests\":[%.*s,\"annotations\":"
			      "{\"org.opencontainers.image.ref.name\":\"reg.example/app:7\"}}]}",
			      (int)strlen(dm) - 1, dm));
	free(cfg);
	free(d1);
	free(d2);
	free(dc);
	free(man);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_image.XXXXXX");
	assert_non_null(mkdtemp(dir));
	memset(&img, 0, sizeof(img));
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	image_free(&img);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_oci_layout(void **state)
{
	(void)state;
	struct oci o = { 0 };
	build_oci(&o);
	assert_int_equal(image_read(dir, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.format, IMAGE_OCI);
	assert_int_equal(img.nlayers, 2);
	assert_string_equal(img.config_digest, o.cfg);
	assert_string_equal(img.layers[0].digest, o.l1);
	assert_string_equal(img.layers[1].digest, o.l2);
	assert_string_equal(img.layers[0].diff_id, o.d1);
	assert_string_equal(img.layers[1].diff_id, o.d2);
	assert_string_equal(img.layers[0].media_type, OCI_LAYER_GZ);
	assert_null(img.layers[0].member);
	assert_string_equal(img.layers[1].file, fmt("%s/blobs/sha256/%s", dir, o.l2));
	assert_non_null(strstr(img.layers[1].diff_id_field, "rootfs.diff_ids[1]"));
	assert_non_null(strstr(img.layers[1].digest_field, "layers[1].digest"));
	assert_int_equal(img.nnames, 1);
	assert_string_equal(img.names[0], "reg.example/app:7");
	assert_string_equal(json_string_value(json_object_get(img.config, "os")), "linux");
}

static void expect_error(const char *part1, const char *part2)
{
	assert_int_equal(image_read(dir, NULL, &img, err, sizeof(err)), -1);
	if (strstr(err, part1) == NULL || (part2 && strstr(err, part2) == NULL))
		fail_msg("error '%s' lacks '%s' / '%s'", err, part1, part2 ? part2 : "");
}

static void test_oci_bad_layer_type(void **state)
{
	(void)state;
	struct oci o = { .l2_type = "text/plain" };
	build_oci(&o);
	expect_error("layers[1].mediaType", "text/plain");
}

static void test_oci_bad_config_type(void **state)
{
	(void)state;
	struct oci o = { .config_type = "application/json" };
	build_oci(&o);
	expect_error("config.mediaType", NULL);
}

static void test_oci_diff_ids_count(void **state)
{
	(void)state;
	struct oci o = { .config_diff_ids_short = true };
	build_oci(&o);
	expect_error("rootfs.diff_ids", "1 entries for 2 layers");
}

static void test_oci_missing_blob(void **state)
{
	(void)state;
	struct oci o = { 0 };
	build_oci(&o);
	unlink(fmt("%s/blobs/sha256/%s", dir, o.l1));
	expect_error("layers[0].digest", "missing");
}

static void test_oci_changed_config(void **state)
{
	(void)state;
	struct oci o = { 0 };
	build_oci(&o);
	put(fmt("blobs/sha256/%s", o.cfg), "{\"rootfs\":{}}");
	expect_error(o.cfg, "config.digest");
}

static void test_oci_malformed_index(void **state)
{
	(void)state;
	struct oci o = { 0 };
	build_oci(&o);
	put("index.json", "{\"manifests\": [");
	expect_error("index.json", "malformed JSON");
}

static void test_oci_no_layout_file(void **state)
{
	(void)state;
	put("something", "x");
	expect_error("neither", NULL);
}

static void test_oci_platform_choice(void **state)
{
	(void)state;
	struct oci o = { 0 };
	build_oci(&o);
	/* a second, foreign image first; the host's one second */
	char other[65];
	put_blob("{}", other);
	const char *man = fmt("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
			      "\"digest\":\"sha256:%s\",\"size\":2},\"layers\":[]}", OCI_CONFIG,
			      other);
	char foreign[65];
	put_blob(man, foreign);
	put("index.json", fmt("{\"manifests\":["
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			      "{\"os\":\"linux\",\"architecture\":\"no-such-arch\"}},"
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			      "{\"os\":\"linux\",\"architecture\":\"%s\"}}]}",
			      OCI_MANIFEST, foreign, OCI_MANIFEST, o.man, image_host_arch()));
	assert_int_equal(image_read(dir, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.nlayers, 2);
	image_free(&img);
	put("index.json", fmt("{\"manifests\":["
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			      "{\"os\":\"linux\",\"architecture\":\"no-such-arch\"}},"
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			      "{\"os\":\"windows\",\"architecture\":\"%s\"}}]}",
			      OCI_MANIFEST, foreign, OCI_MANIFEST, o.man, image_host_arch()));
	expect_error("manifests", "none for linux");
}

/* ---- docker save ---- */

struct member {
	const char *name, *data;
};

static void write_archive(const char *path, const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
		archive_write_header(a, e);
		archive_write_data(a, m[i].data, strlen(m[i].data));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static void test_docker_archive_old_layout(void **state)
{
	(void)state;
	char d1[65], d2[65], cfghex[65];
	digest_buffer("one", 3, d1);
	digest_buffer("two", 3, d2);
	char *cfg = strdup(fmt("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
			       "[\"sha256:%s\",\"sha256:%s\"]}}", d1, d2));
	digest_buffer(cfg, strlen(cfg), cfghex);
	char *cfgname = strdup(fmt("%s.json", cfghex));
	char *man = strdup(fmt("[{\"Config\":\"%s\",\"RepoTags\":[\"busybox:1\",\"bb:x\"],"
			       "\"Layers\":[\"aaa/layer.tar\",\"./bbb/layer.tar\"]}]", cfgname));
	struct member m[] = {
		{ "aaa/layer.tar", "first layer" }, { "bbb/layer.tar", "second layer" },
		{ cfgname, cfg }, { "manifest.json", man },
	};
	char *path = strdup(fmt("%s/save.tar", dir));
	write_archive(path, m, 4);
	assert_int_equal(image_read(path, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.format, IMAGE_DOCKER);
	assert_int_equal(img.nlayers, 2);
	assert_string_equal(img.config_digest, cfghex);
	assert_string_equal(img.layers[1].member, "bbb/layer.tar");
	assert_string_equal(img.layers[1].file, path);
	assert_string_equal(img.layers[0].diff_id, d1);
	assert_string_equal(img.layers[0].digest, "");
	assert_null(img.layers[0].media_type);
	assert_int_equal(img.nnames, 2);
	assert_string_equal(img.names[1], "bb:x");
	/* streaming a member */
	struct blob_reader *r;
	char buf[64];
	assert_int_equal(blob_open(&img.layers[1], &r, err, sizeof(err)), 0);
	ssize_t n = blob_read(r, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "second layer", 12);
	assert_int_equal(blob_read(r, buf, sizeof(buf), err, sizeof(err)), 0);
	blob_close(r);
	/* a config whose content does not match its name */
	image_free(&img);
	m[2].data = "{\"rootfs\":{\"diff_ids\":[]}}";
	write_archive(path, m, 4);
	assert_int_equal(image_read(path, NULL, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, cfgname));
	free(cfg);
	free(cfgname);
	free(man);
	free(path);
}

static void test_docker_dir_new_layout(void **state)
{
	(void)state;
	char l1[65], d1[65], cfghex[65];
	put_blob("layer bytes", l1);
	digest_buffer("x", 1, d1);
	char *cfg = strdup(fmt("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
			       d1));
	put_blob(cfg, cfghex);
	put("manifest.json", fmt("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":null,"
				 "\"Layers\":[\"blobs/sha256/%s\"]}]", cfghex, l1));
	/* Docker 25+ also writes an OCI layout; manifest.json wins */
	put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	put("index.json", "{\"manifests\":[]}");
	assert_int_equal(image_read(dir, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.format, IMAGE_DOCKER);
	assert_string_equal(img.layers[0].digest, l1);
	assert_string_equal(img.layers[0].diff_id, d1);
	assert_int_equal(img.nnames, 0);
	free(cfg);
}

static void test_docker_errors(void **state)
{
	(void)state;
	put("manifest.json", "{\"Config\": 1}");
	expect_error("manifest.json", "array");
	image_free(&img);
	put("manifest.json", "[{\"Config\":\"c.json\",\"Layers\":[\"../escape\"]}]");
	put("c.json", "{\"rootfs\":{\"diff_ids\":[]}}");
	expect_error("Layers[0]", NULL);
	image_free(&img);
	put("manifest.json", "[{\"Config\":\"c.json\",\"Layers\":[\"nothere.tar\"]}]");
	expect_error("Layers[0]", "missing");
	image_free(&img);
	put("manifest.json", "[{\"Config\":\"missing.json\",\"Layers\":[]}]");
	expect_error("Config", "missing");
	image_free(&img);
	put("manifest.json", "[{\"Config\":\"c.json\",\"Layers\":[]}]");
	put("c.json", "{\"rootfs\":{\"diff_ids\":[\"md5:abc\"]}}");
	expect_error("c.json", "rootfs.diff_ids");
	image_free(&img);
	put("manifest.json", "[{\"Config\":\"c.json\",\"Layers\":[]}]");
	put("c.json", "{\"rootfs\":{\"diff_ids\":[]}}");
	/* no layers: a scratch image */
	assert_int_equal(image_read(dir, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.nlayers, 0);
	image_free(&img);
	put("c.json", "{\"rootfs\"");
	expect_error("c.json", "malformed JSON");
}

/* ---- choosing an image ---- */

/* index.json with three tagged images, the third a nested index of two
 * platforms; the manifests are o's (two layers) and an empty one. */
static void build_tagged(struct oci *o, char empty[65], char list[65])
{
	build_oci(o);
	char cfg[65];
	put_blob("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", cfg);
	const char *man = fmt("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
			      "\"digest\":\"sha256:%s\",\"size\":%zu},\"layers\":[]}", OCI_CONFIG,
			      cfg, strlen("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"));
	put_blob(man, empty);
	char *idx = strdup(fmt("{\"manifests\":["
			       "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			       "{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
			       "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"platform\":"
			       "{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}",
			       OCI_MANIFEST, o->man, OCI_MANIFEST, empty));
	put_blob(idx, list);
	put("index.json", fmt("{\"manifests\":["
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"annotations\":"
			      "{\"org.opencontainers.image.ref.name\":\"two\"}},"
			      "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"annotations\":"
			      "{\"org.opencontainers.image.ref.name\":\"scratch\"}},"
			      "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
			      "\"digest\":\"sha256:%s\",\"annotations\":"
			      "{\"org.opencontainers.image.ref.name\":\"multi\"}}]}",
			      OCI_MANIFEST, o->man, OCI_MANIFEST, empty, list));
	free(idx);
}

static void read_expect(const char *spelling, const char *platform, int rc)
{
	image_free(&img);
	err[0] = '\0';
	int got = image_read(spelling, platform, &img, err, sizeof(err));
	if (got != rc)
		print_error("%s: %s\n", spelling, err);
	assert_int_equal(got, rc);
}

static void test_oci_choice(void **state)
{
	(void)state;
	struct oci o = { 0 };
	char empty[65], list[65];
	build_tagged(&o, empty, list);
	/* no tag: the tags, one line each */
	read_expect(dir, NULL, -1);
	assert_non_null(strstr(err, "several images"));
	assert_non_null(strstr(err, "\n  two\n  scratch\n  multi"));
	read_expect(fmt("oci:%s:two", dir), NULL, 0);
	assert_int_equal(img.nlayers, 2);
	read_expect(fmt("%s:scratch", dir), NULL, 0);
	assert_int_equal(img.nlayers, 0);
	assert_string_equal(img.names[0] + strlen(img.names[0]) - 8, ":scratch");
	read_expect(fmt("oci:%s:nope", dir), NULL, -1);
	assert_non_null(strstr(err, "no image tagged nope"));
	assert_non_null(strstr(err, "\n  two"));
	/* a nested index: by platform */
	read_expect(fmt("oci:%s:multi", dir), "linux/arm64", 0);
	assert_int_equal(img.nlayers, 2);
	read_expect(fmt("oci:%s:multi", dir), "linux/s390x", 0);
	assert_int_equal(img.nlayers, 0);
	read_expect(fmt("oci:%s:multi", dir), "linux/riscv64", -1);
	assert_non_null(strstr(err, "none for linux/riscv64"));
	assert_non_null(strstr(err, "\n  linux/arm64/v8  multi  sha256:"));
	assert_non_null(strstr(err, "\n  linux/s390x  multi  sha256:"));
	/* by digest: a manifest inside the nested index, or the index itself */
	read_expect(fmt("oci:%s@sha256:%s", dir, empty), NULL, 0);
	assert_int_equal(img.nlayers, 0);
	read_expect(fmt("%s@sha256:%s", dir, list), "linux/arm64/v8", 0);
	assert_int_equal(img.nlayers, 2);
	read_expect(fmt("oci:%s@sha256:%s", dir, o.l1), NULL, -1);
	assert_non_null(strstr(err, "no manifest or index sha256:"));
	/* --platform against a lone manifest's config */
	read_expect(fmt("oci:%s:two", dir), "linux/amd64", 0);
	read_expect(fmt("oci:%s:two", dir), "windows/amd64", -1);
	assert_non_null(strstr(err, "not windows/amd64"));
	read_expect(fmt("docker-archive:%s", dir), NULL, -1);
	assert_non_null(strstr(err, "no manifest.json"));
	read_expect(fmt("oci:%s:two", dir), "linux", -1);
	assert_non_null(strstr(err, "OS/ARCH"));
}

static void test_docker_choice(void **state)
{
	(void)state;
	char cfg[65];
	const char *c = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	put_blob(c, cfg);
	put("manifest.json", fmt("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"a:1\"],"
				 "\"Layers\":[]},{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":"
				 "[\"b:2\",\"bb\"],\"Layers\":[]}]", cfg, cfg));
	read_expect(dir, NULL, -1);
	assert_non_null(strstr(err, "holds 2 images"));
	assert_non_null(strstr(err, "\n  @0: a:1\n  @1: b:2, bb"));
	read_expect(fmt("docker-archive:%s:bb:latest", dir), NULL, 0);
	assert_int_equal(img.nnames, 1);
	assert_string_equal(img.names[0], "bb:latest");
	read_expect(fmt("docker-archive:%s:@0", dir), NULL, 0);
	assert_string_equal(img.names[0], "a:1");
	read_expect(fmt("%s:b:2", dir), NULL, 0);
	read_expect(fmt("docker-archive:%s:c:3", dir), NULL, -1);
	assert_non_null(strstr(err, "no image named c:3"));
	read_expect(fmt("docker-archive:%s:@5", dir), NULL, -1);
	read_expect(fmt("oci:%s", dir), NULL, -1);
	assert_non_null(strstr(err, "no oci-layout"));
}

/* ---- single layers ---- */

static void test_single_layer(void **state)
{
	(void)state;
	struct member m[] = { { "etc/hostname", "box\n" } };
	char *path = strdup(fmt("%s/layer.tar", dir));
	write_archive(path, m, 1);
	assert_int_equal(image_read(path, NULL, &img, err, sizeof(err)), 0);
	assert_int_equal(img.format, IMAGE_LAYER);
	assert_int_equal(img.nlayers, 1);
	assert_null(img.config);
	assert_string_equal(img.layers[0].digest, "");
	assert_string_equal(img.layers[0].diff_id, "");
	char diff[65];
	digest_buffer("anything", 8, diff);
	assert_int_equal(image_layer_config(&img, diff), 0);
	assert_string_equal(img.layers[0].diff_id, diff);
	json_t *ids = json_object_get(json_object_get(img.config, "rootfs"), "diff_ids");
	assert_string_equal(json_string_value(json_array_get(ids, 0)), fmt("sha256:%s", diff));
	char *text = json_dumps(img.config, JSON_COMPACT | JSON_SORT_KEYS);
	char want[65];
	digest_buffer(text, strlen(text), want);
	assert_string_equal(img.config_digest, want);
	free(text);
	free(path);
}

static void test_not_an_archive(void **state)
{
	(void)state;
	put("junk", "this is not a tar file at all, not even close.............\n");
	char *path = strdup(fmt("%s/junk", dir));
	assert_int_equal(image_read(path, NULL, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "junk"));
	image_free(&img);
	assert_int_equal(image_read("/nonexistent/image.tar", NULL, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/image.tar"));
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_oci_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_bad_layer_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_bad_config_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_diff_ids_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_missing_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_changed_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_malformed_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_no_layout_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_platform_choice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_archive_old_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_dir_new_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_choice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_choice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_an_archive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
