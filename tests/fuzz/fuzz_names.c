/* libFuzzer target: whiteout naming (src/common/whiteout.c) and path
 * normalisation and containment (src/common/pathutil.c), with their
 * invariants checked: a whiteout name round-trips, a normalised path has no
 * "..", no empty or "." component and normalises to itself. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/pathutil.h"
#include "layerfs/whiteout.h"

static void check_normalised(const char *p)
{
	if (strcmp(p, ".") == 0)
		return;
	if (p[0] == '/' || p[0] == '\0')
		abort();
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			abort();
		s += n;
		if (*s == '/') {
			s++;
			if (*s == '\0')
				abort();   /* trailing slash */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';

	/* whiteout naming */
	char wh[NAME_MAX + 1];
	int r = lfs_whiteout_name(in, wh, sizeof(wh));
	if (r == 0) {
		if (!lfs_is_marker_name(wh) || lfs_is_meta_name(wh))
			abort();
		const char *t = lfs_whiteout_target(wh);
		if (!t || strcmp(t, in) != 0)
			abort();
		if (strlen(wh) > NAME_MAX || !lfs_name_is_valid(in))
			abort();
	} else if (r != -EINVAL && r != -ENAMETOOLONG) {
		abort();
	}
	if (lfs_is_opaque_name(in) && !lfs_is_meta_name(in))
		abort();
	if (lfs_is_meta_name(in) && !lfs_is_marker_name(in))
		abort();
	(void)lfs_whiteout_target(in);
	/* a small buffer must be refused cleanly */
	char tiny[6];
	r = lfs_whiteout_name(in, tiny, sizeof(tiny));
	if (r == 0 && strlen(tiny) >= sizeof(tiny))
		abort();

	/* normalisation */
	char out[PATH_MAX], again[PATH_MAX];
	r = lfs_path_normalize(in, out, sizeof(out));
	if (r == 0) {
		check_normalised(out);
		if (lfs_path_normalize(out, again, sizeof(again)) != 0 || strcmp(out, again))
			abort();
	} else if (r != -EINVAL && r != -ENAMETOOLONG) {
		abort();
	}
	char small[16];
	r = lfs_path_normalize(in, small, sizeof(small));
	if (r == 0 && strlen(small) >= sizeof(small))
		abort();

	/* containment: split the input at the first NUL-free '|' into base and path */
	char *bar = strchr(in, '|');
	if (bar) {
		*bar = '\0';
		const char *base = in, *path = bar + 1;
		if (base[0] == '/' && path[0] == '/') {
			bool b = lfs_path_is_beneath(base, path);
			if (strcmp(base, path) == 0 && !b)
				abort();
		}
	}
	free(in);
	return 0;
}
