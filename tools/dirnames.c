/* Sorted directory listings: see dirnames.h. */
#include "dirnames.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int lw_cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

ssize_t lw_sorted_names(int dirfd, char ***out)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap && !(v = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*v))))
			abort();
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), lw_cmp_strp);
	*out = v;
	return (ssize_t)n;
}

void lw_free_names(char **v, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
