/* The compressed blob of a stored layer: see layerblob.h. */
#include "layerblob.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "layerwrite.h"
#include "store.h"

/* The stored blob of a layer, when it is there and its digest checks out. */
bool layerblob_stored(const char *ldir, json_t *meta, struct layerblob *x)
{
	const char *digest = json_string_value(json_object_get(meta, "digest"));
	const char *diff_id = json_string_value(json_object_get(meta, "diff_id"));
	char want[DIGEST_HEX_LEN + 1], have[DIGEST_HEX_LEN + 1];
	snprintf(x->blob, sizeof(x->blob), "%.*s/layer.tar.gz", PATH_MAX - 16, ldir);
	int fd = open(x->blob, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok = fd >= 0 && digest && diff_id && store_digest_hex(digest, want) &&
		  store_digest_hex(diff_id, x->diff_id) && fstat(fd, &st) == 0 &&
		  digest_fd(fd, have) == 0 && strcmp(want, have) == 0;
	if (fd >= 0)
		close(fd);
	if (ok) {
		memcpy(x->digest, have, sizeof(have));
		x->size = (uint64_t)st.st_size;
	}
	return ok;
}

/* Writes the layer afresh from LDIR/diff into WORK/<i>.tar.gz. */
int layerblob_fresh(const char *ldir, const char *work, size_t i, struct layerblob *x)
{
	char diff[PATH_MAX + 8];
	snprintf(diff, sizeof(diff), "%s/diff", ldir);
	snprintf(x->blob, sizeof(x->blob), "%.*s/layer%zu.tar.gz", PATH_MAX - 40, work, i);
	int dfd = open(diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int out = open(x->blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	struct layer_blob lb;
	int rc = dfd < 0 || out < 0 ? -1 : layerwrite(dfd, NULL, out, &lb);
	if (dfd >= 0)
		close(dfd);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "layerctl: cannot write layer %s\n", diff);
		return -1;
	}
	memcpy(x->digest, lb.digest, sizeof(lb.digest));
	memcpy(x->diff_id, lb.diff_id, sizeof(lb.diff_id));
	x->size = lb.blob_size;
	return 0;
}

