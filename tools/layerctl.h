/* layerctl: the commands, and what they share. Each command lives in its own
 * file (tools/cmd_*.c) and is called with argv[0] = its name. */
#ifndef LAYERCTL_H
#define LAYERCTL_H

#include <stdbool.h>

struct ctl {
	const char *store_root;  /* --store, or NULL for the default */
	bool quiet;              /* -q: no progress, only errors */
};

typedef int (*cmd_fn)(struct ctl *ctl, int argc, char **argv);

/* Exit statuses: 0 done, 1 failed (a message on stderr), 2 bad usage. */
enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

/* Commands: name, usage, what it does; cmd_NAME in tools/cmd_*.c. */
#define LAYERCTL_COMMANDS(X) \
	X(unpack, "IMAGE [--name NAME:TAG]", "unpack an image or layer tarball into the store") \
	X(images, "", "list images") \
	X(rmi, "IMAGE", "remove an image (refused while a container uses it)") \
	X(gc, "", "remove layers no image uses") \
	X(create, "[OPTIONS] IMAGE NAME [CMD...]", "create a container: init and rw layers, OCI bundle") \
	X(mount, "NAME", "mount a container's rootfs with layerfs") \
	X(umount, "NAME [--force]", "unmount a container's rootfs") \
	X(rm, "[--force] NAME", "remove a container (--force: a running or mounted one too)") \
	X(ps, "", "list containers and their state") \
	X(inspect, "NAME", "a container's image, layers, mounts and state as JSON") \
	X(config, "NAME", "print a container's config.json") \
	X(run, "[-d] [-t] [--runtime R] NAME [CMD...]", "run a container with runc or crun") \
	X(exec, "[-t] NAME CMD...", "run a command in a running container") \
	X(stop, "[--time S] NAME", "stop a running container (SIGTERM, then SIGKILL)") \
	X(kill, "NAME [SIGNAL]", "send a signal to a running container") \
	X(logs, "NAME", "output of a container's detached runs") \
	X(diff, "NAME", "changes in a container's rw layer (A/C/D)") \
	X(commit, "NAME NEWNAME:TAG", "make the rw layer a new image layer") \
	X(export, "IMAGE --oci DIR | --docker-archive FILE", "write an image out") \
	X(branches, "MNT [--json]", "show the branches of a layerfs mount") \
	X(which, "MNT/PATH", "which branch supplies a path") \
	X(branch, "add|append|prepend|del|mod MNT ...", "change the branches of a live mount")

#define LAYERCTL_DECLARE(name, args, help) \
	int cmd_##name(struct ctl *ctl, int argc, char **argv);
LAYERCTL_COMMANDS(LAYERCTL_DECLARE)
#undef LAYERCTL_DECLARE

#endif
