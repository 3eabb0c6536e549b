/* libFuzzer target: layerctl's image JSON readers (tools/image*.c). The input
 * is split at NUL bytes into up to four documents written into a scratch
 * image directory: manifest.json (docker save), the config it may name
 * ("c.json"), index.json (OCI layout) and the blob an index may point at
 * (blobs/sha256/<its digest>, so that manifest parsing is reached too).
 * Whatever image_read decides, it must not crash, leak or read out of
 * bounds; an accepted image must have sane fields. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	if (len && fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
}

/* The scratch directory goes when the fuzzer exits. */
static void scratch_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_image: could not remove %s\n", dir);
}

static void scratch_once(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/fuzz-image.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char path[256];
	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	mkdir(path, 0755);
	put("oci-layout", (const uint8_t *)"{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	atexit(scratch_remove);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	scratch_once();
	const uint8_t *part[4] = { 0 };
	size_t len[4] = { 0 };
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= size && k < 4; i++) {
		if (i == size || data[i] == 0) {
			part[k] = data + start;
			len[k++] = i - start;
			start = i + 1;
		}
	}
	put("manifest.json", part[0], len[0]);
	put("c.json", part[1], len[1]);
	put("index.json", part[2], len[2]);
	char hex[65], name[128];
	digest_buffer(part[3] ? (const void *)part[3] : "", len[3], hex);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	put(name, part[3], len[3]);
	/* docker save wins when manifest.json parses; else the OCI layout. */
	struct image_src img;
	char err[512];
	if (image_read(dir, NULL, &img, err, sizeof(err)) == 0) {
		if (img.nlayers && !img.layers)
			abort();
		for (size_t i = 0; i < img.nlayers; i++)
			if (!img.layers[i].file)
				abort();
		image_free(&img);
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	return 0;
}
