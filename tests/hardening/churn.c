/* churn: a bounded stream of lookups, creates and unlinks on a directory of a
 * layerfs mount, for the long-running-mount test.
 *
 * usage: churn DIR TOTAL_OPS SECONDS
 * Each round creates a new name, looks up a few existing and missing names
 * (stat), unlinks the name made a few rounds earlier, and now and then a
 * lower file (leaving a whiteout). Stops after TOTAL_OPS operations or
 * SECONDS, prints "ops N" and exits 0; any unexpected error exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: churn DIR TOTAL_OPS SECONDS\n");
		return 2;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(argv[1]);
		return 1;
	}
	long total = atol(argv[2]);
	double end = now() + atof(argv[3]);
	long ops = 0;
	char name[64];
	struct stat st;
	for (long i = 0; ops < total; i++) {
		if ((i & 255) == 0 && now() > end)
			break;
		snprintf(name, sizeof(name), "n%ld", i);
		int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "create %s: %s\n", name, strerror(errno));
			return 1;
		}
		close(fd);
		ops++;
		/* lookups: the new name, a recent one, a missing one, a lower one */
		if (fstatat(dfd, name, &st, 0) < 0) {
			fprintf(stderr, "stat %s: %s\n", name, strerror(errno));
			return 1;
		}
		snprintf(name, sizeof(name), "missing%ld", i);
		if (fstatat(dfd, name, &st, 0) == 0 || errno != ENOENT) {
			fprintf(stderr, "stat %s: unexpected\n", name);
			return 1;
		}
		snprintf(name, sizeof(name), "low%ld", i % 1000);
		fstatat(dfd, name, &st, 0);     /* may be whited out already */
		ops += 3;
		if (i >= WINDOW) {
			snprintf(name, sizeof(name), "n%ld", i - WINDOW);
			if (unlinkat(dfd, name, 0) < 0) {
				fprintf(stderr, "unlink %s: %s\n", name, strerror(errno));
				return 1;
			}
			ops++;
		}
		if (i % 97 == 0 && i / 97 < 1000) {
			snprintf(name, sizeof(name), "low%ld", i / 97);
			if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
				fprintf(stderr, "unlink %s: %s\n", name, strerror(errno));
				return 1;
			}
			ops++;
		}
	}
	printf("ops %ld\n", ops);
	return 0;
}
