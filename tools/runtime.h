/* The programs a container needs, and the state they leave it in: layerfs
 * for its rootfs, fusermount3/umount to take that down again, runc or crun
 * to run it. Used by mount/umount, rm, ps and run. */
#ifndef LAYERCTL_RUNTIME_H
#define LAYERCTL_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "store.h"

enum rt_mount_state {
	RT_UNMOUNTED,   /* nothing mounted on mnt/ */
	RT_MOUNTED,     /* a live mount */
	RT_DEAD,        /* mounted, but its daemon is gone (ENOTCONN) */
};

/* Runs argv[0] (looked up in PATH when it has no '/') with argv and waits.
 * stdout_fd >= 0 replaces the child's stdout. Returns its exit status,
 * 128+signal when killed, or -errno when it could not be started. */
int rt_spawn(char *const argv[], int stdout_fd);

/* The state of the mount on MNT (an absolute path). */
enum rt_mount_state rt_mount_state(const char *mnt);
const char *rt_mount_state_name(enum rt_mount_state st);

/* containers/<name>/<leaf> of the store into buf. -ENAMETOOLONG. */
int rt_container_file(const struct store *s, const char *name, const char *leaf,
		      char *buf, size_t size);

/* Mounts the container's rootfs: layerfs with rw=rw, init=ro+wh, the
 * image layers top to bottom as ro+wh on containers/<name>/mnt; nodev
 * unless container.json has "dev": true. Returns 0
 * when it mounted, 1 when it was mounted already, -1 on failure (a message
 * on stderr; a dead mount is one). */
int rt_mount(const struct store *s, const char *name, json_t *container);
/* Unmounts MNT (fusermount3 -u). force: a busy or dead mount goes lazily
 * (umount -l). 0 or -1 with a message. Not mounted is 0. */
int rt_umount(const char *mnt, bool force);

/* pid of the process that holds the container's run (`layerctl run` in
 * the foreground, its monitor when detached) while it runs, else 0. */
int rt_running_pid(const struct store *s, const char *name);

/* The OCI runtime: NAME (a name or path) when given, else
 * $LAYERCTL_RUNTIME, else runc, else crun from PATH. Returns 0 with its
 * path in buf, or -ENOENT. */
int rt_find_runtime(const char *name, char *buf, size_t size);
bool rt_is_crun(const char *runtime);

/* Starts RUNTIME with ARGS (NULL-terminated, after the program name);
 * fds (may be NULL) replace the child's stdin, stdout, stderr where >= 0.
 * crun on a hybrid cgroup host (cgroup v1 with a cgroup2 on
 * /sys/fs/cgroup/unified, which crun refuses) runs in a mount namespace
 * without that cgroup2 mount and otherwise the host's propagation. The
 * child has SIGINT and SIGQUIT at their defaults. Returns its pid or
 * -errno. */
pid_t rt_runtime_spawn(const char *runtime, char *const args[], const int fds[3]);
/* Waits for pid: its exit status, 128+signal, -1. */
int rt_wait(pid_t pid);
/* Spawns and waits; quiet: all three on /dev/null. */
int rt_runtime_call(const char *runtime, char *const args[], bool quiet);
/* Deletes the runtime's state of ID, if any (delete --force, quietly). */
void rt_delete_stale(const char *runtime, const char *id);

/* Runs the bundle in the foreground (RUNTIME run --bundle DIR ID) and
 * returns the container's exit status (128+signal when the runtime was
 * killed), -1 when the runtime could not be started. A stale state of ID
 * is deleted first. SIGINT/SIGQUIT reach the container, not us. */
int rt_run_container(const char *runtime, const char *bundle, const char *id);

#endif
