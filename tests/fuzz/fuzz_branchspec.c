/* libFuzzer target: the branch-spec parsers and the list checker.
 * Input: first byte selects the parser; the rest is split at the first NUL
 * into two strings (aufs spec, or lowerdir and upperdir). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/branchspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	const char *a = buf;
	size_t alen = strlen(a);
	const char *b = alen + 1 < size ? buf + alen + 1 : NULL;

	struct lfs_branch_list l = { 0 };
	char err[256];
	int ret;
	if (sel & 1)
		ret = lfs_parse_overlay_branches(a, (sel & 2) ? b : NULL, &l, err, sizeof(err));
	else
		ret = lfs_parse_aufs_branches(a, &l, err, sizeof(err));
	if (ret == 0) {
		for (size_t i = 0; i < l.n; i++) {
			/* every result is a real string with a valid permission */
			(void)strlen(l.v[i].path);
			if (!lfs_perm_name(l.v[i].perm, l.v[i].wh))
				abort();
		}
		(void)lfs_branch_list_check(&l, err, sizeof(err));
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
	} else {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
	}
	lfs_branch_list_free(&l);
	/* the permission parser on its own */
	enum lfs_perm perm;
	bool wh;
	if (lfs_parse_perm(a, &perm, &wh) == 0 && strcmp(lfs_perm_name(perm, wh), a) != 0 &&
	    strcmp(a, "rr") && strcmp(a, "ro") && strcmp(a, "rw"))
		; /* aliases may spell differently: only must not crash */
	free(buf);
	return 0;
}
