/* libFuzzer target: image references (tools/reference.c), with their
 * invariants checked: an accepted reference's normal form parses to itself,
 * its familiar form parses to the same normal form, and a refused one has
 * a one-line reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

static void same(const char *a, const char *b)
{
	if (strcmp(a, b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	struct reference r, again;
	char err[256] = "", normal[1024], familiar[1024], back[1024];
	if (reference_parse(in, &r, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || strchr(err, '\n'))
			abort();
		free(in);
		return 0;
	}
	reference_default_tag(&r);
	if (reference_string(&r, normal, sizeof(normal)) < 0 ||
	    reference_familiar(&r, familiar, sizeof(familiar)) < 0)
		abort();
	if (reference_parse(normal, &again, err, sizeof(err)) < 0)
		abort();
	if (reference_string(&again, back, sizeof(back)) < 0)
		abort();
	same(normal, back);
	if (reference_parse(familiar, &again, err, sizeof(err)) < 0)
		abort();
	reference_default_tag(&again);
	if (reference_string(&again, back, sizeof(back)) < 0)
		abort();
	same(normal, back);
	free(in);
	return 0;
}
