/* layerctl mount / umount: a container's rootfs through layerfs. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "layerctl.h"
#include "runtime.h"
#include "store.h"

static int parse(int argc, char **argv, bool *force, const char *usage)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c != 'f' || !force) {
			fprintf(stderr, "usage: layerctl %s\n", usage);
			return -1;
		}
		*force = true;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: layerctl %s\n", usage);
		return -1;
	}
	return 0;
}

int cmd_mount(struct ctl *ctl, int argc, char **argv)
{
	if (parse(argc, argv, NULL, "mount NAME") < 0)
		return CTL_USAGE;
	const char *name = argv[optind];
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "mount");
	if (!ctr)
		return CTL_FAIL;
	char mnt[PATH_MAX];
	int rc = rt_container_file(&s, name, "mnt", mnt, sizeof(mnt)) < 0 ? -1
		 : rt_mount(&s, name, ctr);
	if (rc == 1)
		fprintf(stderr, "layerctl: %s is mounted already\n", name);
	if (rc >= 0)
		printf("%s\n", mnt);
	json_decref(ctr);
	store_close(&s);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}

int cmd_umount(struct ctl *ctl, int argc, char **argv)
{
	bool force = false;
	if (parse(argc, argv, &force, "umount [--force] NAME") < 0)
		return CTL_USAGE;
	const char *name = argv[optind];
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "umount");
	if (!ctr)
		return CTL_FAIL;
	char mnt[PATH_MAX];
	int rc = CTL_FAIL;
	if (rt_running_pid(&s, name) && !force)
		fprintf(stderr, "layerctl: umount: container %s is running\n", name);
	else if (rt_container_file(&s, name, "mnt", mnt, sizeof(mnt)) == 0)
		rc = rt_umount(mnt, force) < 0 ? CTL_FAIL : CTL_OK;
	json_decref(ctr);
	store_close(&s);
	return rc;
}
