/* layerctl ps / inspect / config / logs: what a container is and does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctrstate.h"
#include "layerctl.h"
#include "runtime.h"
#include "sharedmount.h"
#include "store.h"

/* NAME, with no options: the container's name into *name. */
static int one_name(int argc, char **argv, const char *usage, const char **name)
{
	static const struct option none[] = { { 0 } };
	if (getopt_long(argc, argv, "", none, NULL) != -1 || argc - optind != 1) {
		fprintf(stderr, "usage: layerctl %s\n", usage);
		return -1;
	}
	*name = argv[optind];
	return 0;
}

/* The state as ps shows it: running, dead-mount, exited(CODE), mounted,
 * created. */
static void state_name(const struct store *s, const char *name, char *buf, size_t size)
{
	char mnt[PATH_MAX], finished[32];
	int code;
	enum rt_mount_state ms = RT_UNMOUNTED;
	if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) == 0)
		ms = rt_mount_state(mnt);
	if (rt_running_pid(s, name))
		snprintf(buf, size, "running");
	else if (ms == RT_DEAD)
		snprintf(buf, size, "%s", rt_mount_state_name(ms));
	else if (ctr_exit_read(s, name, &code, finished) == 0)
		snprintf(buf, size, "exited(%d)", code);
	else
		snprintf(buf, size, "%s", rt_mount_state_name(ms));
}

/* The image's first name (in docker's short form), else the first 12 hex
 * digits of its id. */
static void image_name(const struct store *s, json_t *ctr, char *buf, size_t size)
{
	char hex[65];
	const char *id = json_string_value(json_object_get(ctr, "image"));
	bool ok = id && store_digest_hex(id, hex);
	snprintf(buf, size, "%.12s", ok ? hex : "?");
	json_t *img = ok ? store_image_load(s, hex) : NULL;
	const char *tag = json_string_value(json_array_get(json_object_get(img, "names"), 0));
	if (tag)
		store_name_familiar(tag, buf, size);
	json_decref(img);
}

/* ps: NAME IMAGE STATE CREATED, one line per container. */
static int ps_line(const char *name, json_t *ctr, void *arg)
{
	const struct store *s = arg;
	char image[160], state[32];
	image_name(s, ctr, image, sizeof(image));
	state_name(s, name, state, sizeof(state));
	const char *created = json_string_value(json_object_get(ctr, "created"));
	printf("%-20s %-30s %-12s %s\n", name, image, state, created ? created : "-");
	return 0;
}

int cmd_ps(struct ctl *ctl, int argc, char **argv)
{
	static const struct option none[] = { { 0 } };
	if (getopt_long(argc, argv, "", none, NULL) != -1 || optind != argc) {
		fprintf(stderr, "usage: layerctl ps\n");
		return CTL_USAGE;
	}
	struct store s;
	if (store_open(&s, ctl->store_root, false) < 0)
		return CTL_FAIL;
	printf("%-20s %-30s %-12s %s\n", "NAME", "IMAGE", "STATE", "CREATED");
	int rc = store_container_each(&s, ps_line, &s);
	store_close(&s);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}

/* Copies a container's file to stdout. */
static int cat_file(struct ctl *ctl, int argc, char **argv, const char *leaf,
		    const char *usage, bool missing_ok)
{
	const char *name;
	if (one_name(argc, argv, usage, &name) < 0)
		return CTL_USAGE;
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, argv[0]);
	if (!ctr)
		return CTL_FAIL;
	json_decref(ctr);
	char path[PATH_MAX], buf[65536];
	int rc = CTL_OK;
	int fd = rt_container_file(&s, name, leaf, path, sizeof(path)) < 0 ? -1
		 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && !(missing_ok && errno == ENOENT)) {
		fprintf(stderr, "layerctl: %s: %s: %s\n", argv[0], path, strerror(errno));
		rc = CTL_FAIL;
	}
	ssize_t n;
	fflush(stdout);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		if (write(STDOUT_FILENO, buf, (size_t)n) != n) {
			rc = CTL_FAIL;
			break;
		}
	if (fd >= 0)
		close(fd);
	store_close(&s);
	return rc;
}

int cmd_config(struct ctl *ctl, int argc, char **argv)
{
	return cat_file(ctl, argc, argv, "config.json", "config NAME", false);
}

int cmd_logs(struct ctl *ctl, int argc, char **argv)
{
	return cat_file(ctl, argc, argv, "container.log", "logs NAME", true);
}

/* The state object of inspect. */
static json_t *state_object(const struct store *s, const char *name)
{
	char buf[32], finished[32];
	struct ctr_run r;
	int code;
	state_name(s, name, buf, sizeof(buf));
	json_t *st = json_pack("{s:s}", "status", strncmp(buf, "exited", 6) ? buf : "exited");
	char mnt[PATH_MAX];
	if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) == 0)
		json_object_set_new(st, "mount", json_string(rt_mount_state_name(rt_mount_state(mnt))));
	if (ctr_run_read(s, name, &r) == 0) {
		json_object_set_new(st, "pid", json_integer(r.pid));
		json_object_set_new(st, "init_pid", json_integer(r.init_pid));
		json_object_set_new(st, "runtime", json_string(r.runtime));
		json_object_set_new(st, "detached", json_boolean(r.detached));
		json_object_set_new(st, "started", json_string(r.started));
	} else if (ctr_exit_read(s, name, &code, finished) == 0) {
		json_object_set_new(st, "exit_code", json_integer(code));
		json_object_set_new(st, "finished", json_string(finished));
	}
	char id[256];
	if (ctr_runtime_id(s, name, id, sizeof(id)) == 0)
		json_object_set_new(st, "runtime_id", json_string(id));
	return st;
}

/* inspect: { name, image, image_name, layers, created, bundle, rootfs,
 * read_only, rootfs_propagation, mounts (config.json's), shared_mounts,
 * state }. */
int cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	const char *name;
	if (one_name(argc, argv, "inspect NAME", &name) < 0)
		return CTL_USAGE;
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "inspect");
	if (!ctr)
		return CTL_FAIL;
	char dir[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX + 16], image[160];
	store_container_path(&s, name, dir, sizeof(dir));
	rt_container_file(&s, name, "mnt", mnt, sizeof(mnt));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	image_name(&s, ctr, image, sizeof(image));
	json_t *cfg = json_load_file(path, 0, NULL);
	json_t *root = json_object_get(cfg, "root");
	json_t *out = json_pack("{s:s, s:O, s:s, s:O, s:O, s:s, s:s, s:b, s:O, s:O, s:o, s:o}",
				"name", name, "image", json_object_get(ctr, "image") ?: json_null(),
				"image_name", image,
				"layers", json_object_get(ctr, "layers") ?: json_null(),
				"created", json_object_get(ctr, "created") ?: json_null(), "bundle", dir,
				"rootfs", mnt, "read_only",
				json_is_true(json_object_get(root, "readonly")),
				"rootfs_propagation",
				json_object_get(json_object_get(cfg, "linux"), "rootfsPropagation")
				    ?: json_null(),
				"mounts", json_object_get(cfg, "mounts") ?: json_null(),
				"shared_mounts", sharedmount_list(&s, name),
				"state", state_object(&s, name));
	int rc = out && json_dumpf(out, stdout, JSON_INDENT(2)) == 0 ? CTL_OK : CTL_FAIL;
	printf("\n");
	json_decref(out);
	json_decref(cfg);
	json_decref(ctr);
	store_close(&s);
	return rc;
}
