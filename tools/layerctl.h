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

/* Commands. A command whose file is not built yet is NULL (weak). */
#define LAYERCTL_COMMANDS(X) \
	X(unpack, "IMAGE [--name NAME:TAG]", "unpack an image or layer tarball into the store") \
	X(images, "", "list images") \
	X(rmi, "IMAGE", "remove an image (refused while a container uses it)") \
	X(gc, "", "remove layers no image uses") \
	X(create, "IMAGE NAME", "create a container: init and rw layers, OCI bundle") \
	X(mount, "NAME", "mount a container's rootfs with layerfs") \
	X(umount, "NAME [--force]", "unmount a container's rootfs") \
	X(rm, "NAME", "remove a container") \
	X(ps, "", "list containers and their state") \
	X(run, "NAME [CMD...]", "run a container with runc or crun") \
	X(diff, "NAME", "changes in a container's rw layer (A/C/D)") \
	X(commit, "NAME NEWNAME:TAG", "make the rw layer a new image layer") \
	X(export, "IMAGE --oci DIR | --docker-archive FILE", "write an image out") \
	X(pull, "[docker://]REF", "fetch an image from a registry into the store") \
	X(push, "IMAGE [[docker://]REF]", "send an image to a registry") \
	X(login, "[--username U --password-stdin] HOST", "store credentials for a registry") \
	X(logout, "HOST | --all", "remove stored credentials") \
	X(branches, "MNT [--json]", "show the branches of a layerfs mount") \
	X(which, "MNT/PATH", "which branch supplies a path") \
	X(branch, "add|append|prepend|del|mod MNT ...", "change the branches of a live mount")

#define LAYERCTL_DECLARE(name, args, help) \
	int cmd_##name(struct ctl *ctl, int argc, char **argv) __attribute__((weak));
LAYERCTL_COMMANDS(LAYERCTL_DECLARE)
#undef LAYERCTL_DECLARE

#endif
