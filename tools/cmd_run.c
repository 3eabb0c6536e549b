/* layerctl run [-d] [-t] [--runtime R] NAME [CMD...]: runs the bundle as
 * it stands — config.json is written once, by create, and is the user's
 * to edit; a CMD (which replaces process.args) or -t go into a copy for
 * this run (containers/<name>/.run/). Mounts the rootfs when needed (and
 * unmounts it again at the end of the run), makes sure the host side of
 * an rslave or rshared bind propagates, and runs it with runc or crun: in
 * the foreground, exiting with the container's status, or detached (-d). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "ctrlife.h"
#include "layerctl.h"
#include "mountspec.h"
#include "runtime.h"
#include "sharedmount.h"
#include "store.h"

#define RUN_USAGE "usage: layerctl run [-d] [-t] [--runtime RUNTIME] NAME [COMMAND [ARG...]]\n"

struct run_opts {
	bool detach, tty;
	const char *runtime;
	const char *name;
	char **cmd;
	int ncmd;
};

static int parse(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "runtime", required_argument, NULL, 'r' },
		{ 0 },
	};
	memset(o, 0, sizeof(*o));
	int c;
	while ((c = getopt_long(argc, argv, "+dti", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o->detach = true; break;
		case 't': o->tty = true; break;
		case 'i': break;   /* stdin is always the container's in the foreground */
		case 'r': o->runtime = optarg; break;
		default: return -1;
		}
	}
	if (optind >= argc)
		return -1;
	o->name = argv[optind];
	o->cmd = argv + optind + 1;
	o->ncmd = argc - optind - 1;
	if (o->ncmd > 0 && strcmp(o->cmd[0], "--") == 0) {
		o->cmd++;
		o->ncmd--;
	}
	return 0;
}

/* The host side of each rslave/rshared bind of the config propagates
 * (made so when needed; recorded for rm). */
static int ensure_sources(struct store *s, const char *name, json_t *cfg)
{
	size_t i;
	json_t *m;
	int rc = 0;
	json_array_foreach(json_object_get(cfg, "mounts"), i, m) {
		int p = bundle_mount_is_bind(m) ? mountspec_oci_propagation(m) : -1;
		const char *src = json_string_value(json_object_get(m, "source"));
		char real[PATH_MAX];
		if (p < 0 || !mountspec_needs_propagating_source(p) || !src || !realpath(src, real))
			continue;   /* a missing source is the runtime's to report */
		if (store_lock(s) < 0)
			return -1;
		rc = sharedmount_ensure(s, name, real, mountspec_needs_shared_source(p), "run");
		store_unlock(s);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Checks and prepares the bundle: the bundle directory the runtime gets
 * into bundle, *own when it is a copy made for this run. */
static int prepare(struct store *s, const struct run_opts *o, const char *dir, char *bundle,
		   size_t size, bool *own)
{
	json_t *cfg = bundle_load(dir, "run");
	if (!cfg)
		return -1;
	json_t *process = json_object_get(cfg, "process");
	int rc = 0;
	if (o->ncmd == 0 && json_array_size(json_object_get(process, "args")) == 0) {
		fprintf(stderr, "layerctl: run: %s has no command (process.args is empty): give "
			"one (layerctl run %s CMD...)\n", o->name, o->name);
		rc = -1;
	} else if (o->detach && (o->tty || json_is_true(json_object_get(process, "terminal")))) {
		fprintf(stderr, "layerctl: run: a detached container cannot have a terminal "
			"(-t, or process.terminal in config.json)\n");
		rc = -1;
	} else if (o->tty && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "layerctl: run: -t needs a terminal on standard input\n");
		rc = -1;
	}
	if (rc == 0)
		rc = bundle_check_propagation(cfg, "run");
	if (rc == 0)
		rc = ensure_sources(s, o->name, cfg);
	*own = rc == 0 && (o->ncmd > 0 || o->tty);
	if (*own)
		rc = bundle_for_run(cfg, dir, o->cmd, o->ncmd, o->tty, bundle, size);
	else if (rc == 0)
		snprintf(bundle, size, "%s", dir);
	json_decref(cfg);
	return rc;
}

static int run_container(struct store *s, const struct run_opts *o)
{
	char runtime[PATH_MAX], dir[PATH_MAX], mnt[PATH_MAX], bundle[PATH_MAX];
	if (rt_find_runtime(o->runtime, runtime, sizeof(runtime)) < 0) {
		const char *env = getenv("LAYERCTL_RUNTIME");
		const char *want = o->runtime ? o->runtime : env && *env ? env : NULL;
		fprintf(stderr, "layerctl: run: %s%s is not installed (apt-get install runc, or crun)\n",
			want ? "runtime " : "no OCI runtime: runc or crun", want ? want : "");
		return CTL_FAIL;
	}
	if (rt_running_pid(s, o->name)) {
		fprintf(stderr, "layerctl: run: container %s is running already\n", o->name);
		return CTL_FAIL;
	}
	bool own = false;
	if (store_container_path(s, o->name, dir, sizeof(dir)) < 0 ||
	    rt_container_file(s, o->name, "mnt", mnt, sizeof(mnt)) < 0 ||
	    prepare(s, o, dir, bundle, sizeof(bundle), &own) < 0)
		return CTL_FAIL;
	json_t *ctr = store_container_load(s, o->name);
	int mounted = ctr ? rt_mount(s, o->name, ctr) : -1;
	json_decref(ctr);
	struct run_request rq = { s, o->name, runtime, bundle, dir, mnt, mounted == 0, own };
	if (mounted < 0) {
		ctr_run_abandon(&rq);
		return CTL_FAIL;
	}
	return o->detach ? ctr_run_detached(&rq) : ctr_run_foreground(&rq);
}

int cmd_run(struct ctl *ctl, int argc, char **argv)
{
	struct run_opts o;
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, RUN_USAGE);
		return CTL_USAGE;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, o.name, "run");
	if (!ctr)
		return CTL_FAIL;
	json_decref(ctr);
	int rc = run_container(&s, &o);
	if (rc == CTL_OK && o.detach && !ctl->quiet)
		printf("%s\n", o.name);
	store_close(&s);
	return rc;
}
