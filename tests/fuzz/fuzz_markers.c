/* libFuzzer target: the contents of markers a branch holds, read by the
 * union rule (src/common/union.c, src/common/longwh.c): a long-name
 * whiteout list and a redirect, as any lower branch (an image layer, a
 * hand-made directory) may present them. The input is split at the first
 * 0xff byte: the list's bytes, then the opaque marker's. Whatever they
 * hold, reading must not crash, leak or overrun; every name read back is a
 * valid single component, every redirect a valid path; adding and taking
 * out a name leave the list with and without it. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/longwh.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"
#include "layerfs/whiteout.h"

static char dir[64];
static int dfd = -1;

/* The scratch directory goes when the fuzzer exits. */
static void remove_dir(void)
{
	unlinkat(dfd, "d/" LFS_WH_OPAQUE, 0);
	unlinkat(dfd, "d", AT_REMOVEDIR);
	unlinkat(dfd, LFS_WH_LONG, 0);
	unlinkat(dfd, "tmp", 0);
	rmdir(dir);
}

static void put(const char *name, const uint8_t *data, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

static int check_name(void *arg, const char *name)
{
	(void)arg;
	if (!lfs_name_is_valid(name))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dfd < 0) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_markers.%d", (int)getpid());
		mkdir(dir, 0755);
		dfd = open(dir, O_RDONLY | O_DIRECTORY);
		if (dfd < 0 || mkdirat(dfd, "d", 0755) < 0)
			abort();
		atexit(remove_dir);
	}
	const uint8_t *split = memchr(data, 0xff, size);
	size_t nlist = split ? (size_t)(split - data) : size;
	put(LFS_WH_LONG, data, nlist);
	int d = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
	put("d/" LFS_WH_OPAQUE, split ? split + 1 : data, split ? size - nlist - 1 : 0);
	lfs_longwh_foreach(dfd, check_name, NULL);
	char name[NAME_MAX + 1];
	memset(name, 'n', sizeof(name) - 1);
	name[NAME_MAX] = '\0';
	if (lfs_longwh_change(dfd, name, true, dfd, "tmp") == 0 && lfs_longwh_has(dfd, name) != 1)
		abort();
	if (lfs_longwh_change(dfd, name, false, dfd, "tmp") == 0 && lfs_longwh_has(dfd, name) != 0)
		abort();
	char *target = NULL;
	if (lfs_union_redirect_at(dfd, "d", &target) == 1 && !lfs_union_redirect_valid(target))
		abort();
	free(target);
	lfs_union_whiteout_at(dfd, name);
	close(d);
	unlinkat(dfd, LFS_WH_LONG, 0);
	unlinkat(dfd, "tmp", 0);
	return 0;
}
