/* libFuzzer target: the tar entry checker of layerctl (tools/tarcheck.c).
 * Input: byte 0 picks the entry type, the rest is "PATH\0HARDLINK". An
 * accepted entry must have a normalised path inside the layer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tarcheck.h"

static const mode_t types[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO,
				S_IFSOCK, 0170000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	mode_t type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	size_t plen = strlen(buf);
	const char *link = (data[0] & 0x80) && plen + 1 < size ? buf + plen + 1 : NULL;
	struct tc_result *res = malloc(sizeof(*res));
	if (!res) {
		free(buf);
		return 0;
	}
	enum tc_verdict v = tarcheck_entry(buf, type, link, res);
	if (v == TC_ACCEPT) {
		if (res->path[0] == '/' || strcmp(res->path, "..") == 0 ||
		    strncmp(res->path, "../", 3) == 0 ||
		    strstr(res->path, "/../") || memchr(res->path, '\0', sizeof(res->path)) == NULL)
			abort();
		size_t n = strlen(res->path);
		if (n >= 3 && strcmp(res->path + n - 3, "/..") == 0)
			abort();
		if (res->link[0] == '/' || strstr(res->link, "/../") ||
		    strncmp(res->link, "../", 3) == 0 || strcmp(res->link, "..") == 0)
			abort();
	} else if (!res->reason) {
		abort();
	}
	free(res);
	free(buf);
	return 0;
}
