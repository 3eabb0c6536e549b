/* layerctl mount / umount: a container's rootfs through layerfs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* --dev / --nodev: recorded in container.json, so that run mounts the
 * same way. 0 or -1 with a message. */
static int record_dev(struct store *s, const char *name, json_t *ctr, bool dev)
{
	if (json_is_true(json_object_get(ctr, "dev")) == dev)
		return 0;
	char dir[PATH_MAX];
	int rc = store_lock(s);
	if (rc == 0)
		rc = store_container_path(s, name, dir, sizeof(dir));
	int dfd = rc == 0 ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (rc == 0 && dfd < 0)
		rc = -errno;
	json_object_set_new(ctr, "dev", json_boolean(dev));
	if (rc == 0)
		rc = store_json_write_at(s, dfd, "container.json", ctr);
	if (dfd >= 0)
		close(dfd);
	store_unlock(s);
	if (rc < 0)
		fprintf(stderr, "layerctl: mount: %s: container.json: %s\n", name, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int mount_usage(void)
{
	fprintf(stderr, "usage: layerctl mount [--dev | --nodev] NAME\n");
	return CTL_USAGE;
}

int cmd_mount(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", no_argument, NULL, 'd' },
		{ "nodev", no_argument, NULL, 'n' },
		{ 0 },
	};
	int c, dev = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd' && c != 'n')
			return mount_usage();
		dev = c == 'd';
	}
	if (argc - optind != 1)
		return mount_usage();
	const char *name = argv[optind];
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "mount");
	if (!ctr)
		return CTL_FAIL;
	char mnt[PATH_MAX];
	int rc = rt_container_file(&s, name, "mnt", mnt, sizeof(mnt)) < 0 ? -1 : 0;
	if (rc == 0 && dev >= 0 && rt_mount_state(mnt) != RT_UNMOUNTED) {
		fprintf(stderr, "layerctl: mount: %s is mounted already; --%s takes effect at its "
			"next mount (layerctl umount %s first)\n", name, dev ? "dev" : "nodev", name);
		rc = -1;
	}
	if (rc == 0 && dev >= 0)
		rc = record_dev(&s, name, ctr, dev);
	if (rc == 0)
		rc = rt_mount(&s, name, ctr);
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
