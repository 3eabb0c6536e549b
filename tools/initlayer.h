/* A container's init/ layer (docker's "-init" layer): the files a runtime
 * expects and that belong to this container, not the image — between the
 * image's layers and the rw layer, never committed:
 *   etc/{hosts,hostname,resolv.conf,mtab -> /proc/mounts},
 *   dev/{console,pts/,shm/,mqueue/}, proc/, sys/,
 *   the mount points of the container's volumes and tmpfs mounts, its
 *   working directory, and --init-file files.
 * Mount points live here so that a runtime never has to make them in the
 * rw layer (where diff and commit would see them) nor in a read-only root. */
#ifndef LAYERCTL_INITLAYER_H
#define LAYERCTL_INITLAYER_H

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

/* The layer below it: the image's layers over which init/ goes. */
struct initlayer {
	int initfd;        /* O_PATH of init/ */
	int *fd;           /* fd[0] = initfd, then the image's layers top first */
	unsigned n;
};

/* Makes DIRFD/init with the fixed files for a container of HOSTNAME and
 * opens it with the image's LAYERS (chain ids, bottom first) below it.
 * 0 or -errno. */
int initlayer_make(const struct store *s, int dirfd, const char *hostname, json_t *layers,
		   struct initlayer *il);
void initlayer_close(struct initlayer *il);

/* A mount point at PATH (absolute, normalised): what the merged image
 * lacks of it is made in init/ — parent directories with the attributes
 * the image gives them, the last one a directory (dir) or an empty file.
 * Nothing is made where the image has a symbolic link or a file on the
 * way (the runtime resolves that within the root). 0 or -errno. */
int initlayer_mountpoint(struct initlayer *il, const char *path, bool dir);

/* Copies the host's regular file SRC to PATH in init/ (mode kept, owned by
 * root), replacing an init file there. 0, or -1 with a one-line reason in
 * err. */
int initlayer_copy_file(struct initlayer *il, const char *src, const char *path, char *err,
			size_t errsize);

#endif
