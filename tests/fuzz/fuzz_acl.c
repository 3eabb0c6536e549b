/* libFuzzer target: a default ACL as a lower branch may hold it
 * (system.posix_acl_default, untrusted) applied to a new object
 * (src/acl.c), and ACL ids through an id mapping, with their invariants
 * checked: a malformed ACL is refused whole; otherwise the new mode only
 * loses permission bits, keeps its type and special bits, and the ACL its
 * size; ids mapped to disk and back come back. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"
#include "lfs.h"

struct lfs *lfs;
static struct lfs fs;
static struct lfs_idrange uids = { 0, 100000, 65536 }, gids = { 0, 200000, 65536 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	lfs = &fs;
	/* The first two bytes: the mode asked for; the rest: the ACL. */
	mode_t asked = (mode_t)((data[0] | data[1] << 8) & 07777) | S_IFREG;
	size_t len = size - 2;
	char *acl = malloc(len ? len : 1);
	if (!acl)
		return 0;
	memcpy(acl, data + 2, len);
	mode_t mode = asked;
	int ret = lfs_acl_create_masq(acl, len, &mode);
	if (ret < 0) {
		if (ret != -EINVAL || mode != asked)
			abort();
	} else {
		if (ret > 1 || (mode & ~asked) || (mode & (S_IFMT | 07000)) != (asked & (S_IFMT | 07000)))
			abort();
	}
	fs.ids.uids = (struct lfs_idranges){ &uids, 1 };
	fs.ids.gids = (struct lfs_idranges){ &gids, 1 };
	memcpy(acl, data + 2, len);
	char *copy = malloc(len ? len : 1);
	if (copy) {
		memcpy(copy, acl, len);
		/* Shown ids that all have a mapping go to disk and come back. */
		if (lfs_acl_map_ids(acl, len, true) == 0 && (lfs_acl_map_ids(acl, len, false) != 0 ||
							     memcmp(acl, copy, len) != 0))
			abort();
		free(copy);
	}
	fs.ids.uids = fs.ids.gids = (struct lfs_idranges){ NULL, 0 };
	free(acl);
	return 0;
}
