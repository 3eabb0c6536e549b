/* libFuzzer target: what a registry sends that layerctl parses before
 * trusting anything (tools/manifest.c, tools/auth.c): manifests and
 * indexes under every Content-Type, WWW-Authenticate challenges, base64.
 * Invariants: a refusal has a one-line reason; a parsed manifest has sane
 * descriptors; base64 round-trips. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "manifest.h"

static const char *const types[] = {
	NULL, MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST,
	"application/vnd.docker.distribution.manifest.v1+prettyjws", "text/plain",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	struct manifest m;
	char err[1024] = "";
	const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	if (manifest_parse(in + 1, size - 1, ct, "fuzz", &m, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || strchr(err, '\n'))
			abort();
	} else {
		for (size_t i = 0; i < m.nlayers; i++)
			if (strlen(m.layers[i].digest) != 64 || !m.layers[i].media_type)
				abort();
		if (m.kind == MANIFEST_INDEX) {
			struct image_platform p;
			size_t at;
			image_platform_host(&p);
			if (manifest_choose(&m, &p, &at, err, sizeof(err)) == 0 && at >= m.nmanifests)
				abort();
		}
		manifest_free(&m);
	}
	struct auth_challenge c;
	if (auth_challenge_parse(in, &c) == 0 && c.scheme == AUTH_NONE)
		abort();
	auth_challenge_free(&c);
	char *enc = auth_base64_encode(in, size), *dec;
	size_t len;
	if (auth_base64_decode(enc, &dec, &len) < 0 || len != size || memcmp(dec, in, size) != 0)
		abort();
	free(dec);
	free(enc);
	if (auth_base64_decode(in, &dec, &len) == 0)
		free(dec);
	free(in);
	return 0;
}
