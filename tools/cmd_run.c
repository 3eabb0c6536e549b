/* layerctl run NAME [CMD...]: mounts the rootfs when needed, writes the
 * bundle's config.json (CMD replaces the image's Entrypoint+Cmd), runs it
 * with runc or crun (LAYERCTL_RUNTIME chooses) in the foreground, and
 * exits with the container's status. A rootfs that run mounted is
 * unmounted again afterwards; one mounted before stays. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "layerctl.h"
#include "runtime.h"
#include "store.h"

static int write_pid(const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

/* Mounted and configured: run it. Returns the exit status for main. */
static int run_bundle(const struct store *s, const char *name, const char *runtime)
{
	char dir[PATH_MAX], pidfile[PATH_MAX], id[200];
	if (store_container_path(s, name, dir, sizeof(dir)) < 0 ||
	    rt_container_file(s, name, "run.pid", pidfile, sizeof(pidfile)) < 0)
		return CTL_FAIL;
	if (write_pid(pidfile) < 0) {
		fprintf(stderr, "layerctl: run: cannot write %s\n", pidfile);
		return CTL_FAIL;
	}
	snprintf(id, sizeof(id), "layerctl-%s", name);
	int rc = rt_run_container(runtime, dir, id);
	unlink(pidfile);
	if (rc < 0) {
		fprintf(stderr, "layerctl: run: %s could not be started\n", runtime);
		return CTL_FAIL;
	}
	return rc;
}

static int run_container(struct store *s, const char *name, json_t *ctr, char **cmd, int ncmd)
{
	char runtime[PATH_MAX], dir[PATH_MAX], mnt[PATH_MAX], hex[65];
	if (rt_find_runtime(runtime, sizeof(runtime)) < 0) {
		const char *env = getenv("LAYERCTL_RUNTIME");
		fprintf(stderr, "layerctl: run: %s%s is not installed (apt-get install runc, or crun)\n",
			env && *env ? "LAYERCTL_RUNTIME=" : "no OCI runtime: runc or crun",
			env && *env ? env : "");
		return CTL_FAIL;
	}
	if (rt_running_pid(s, name)) {
		fprintf(stderr, "layerctl: run: container %s is running already\n", name);
		return CTL_FAIL;
	}
	const char *image_id = json_string_value(json_object_get(ctr, "image"));
	json_t *image = image_id && store_digest_hex(image_id, hex) ? store_image_load(s, hex) : NULL;
	json_t *cfg = image ? bundle_config(s, image, ctr, name, cmd, ncmd, true) : NULL;
	json_decref(image);
	if (!cfg || store_container_path(s, name, dir, sizeof(dir)) < 0 ||
	    rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) < 0 || bundle_write(dir, cfg) < 0) {
		if (!image)
			fprintf(stderr, "layerctl: run: the image of %s is not in the store\n", name);
		json_decref(cfg);
		return CTL_FAIL;
	}
	json_decref(cfg);
	int mounted = rt_mount(s, name, ctr);
	if (mounted < 0)
		return CTL_FAIL;
	int rc = run_bundle(s, name, runtime);
	if (mounted == 0 && rt_umount(mnt, false) < 0)
		fprintf(stderr, "layerctl: run: %s stays mounted\n", mnt);
	return rc;
}

int cmd_run(struct ctl *ctl, int argc, char **argv)
{
	int first = argc > 2 && !strcmp(argv[2], "--") ? 3 : 2;
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: layerctl run NAME [CMD...]\n");
		return CTL_USAGE;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, argv[1], "run");
	if (!ctr)
		return CTL_FAIL;
	int rc = run_container(&s, argv[1], ctr, argv + first, argc - first);
	json_decref(ctr);
	store_close(&s);
	return rc;
}
