/* Talking to a running layerfs: finding its runtime directory (si_<id>)
 * from a mountpoint, and requests over its control socket. */
#ifndef LAYERCTL_CONTROL_CLIENT_H
#define LAYERCTL_CONTROL_CLIENT_H

#include <stddef.h>

/* Fills rundir for the layerfs mounted at mnt (canonical path in mntout,
 * may be NULL). Removes runtime directories whose daemon is gone on the
 * way. -ENOENT with a message when mnt is no layerfs mount, -ENOTCONN when
 * its daemon died. */
int ctl_find_mount(const char *mnt, char *rundir, size_t size, char *mntout, size_t mntsize,
		   char *err, size_t errsz);
/* Finds the layerfs mount that contains path; fills its rundir and the
 * path relative to the mount ("" for the mountpoint itself). */
int ctl_find_containing(const char *path, char *rundir, size_t size, char *rel,
			size_t relsize, char *err, size_t errsz);
/* Sends fields (NUL-separated) and returns the reply text (malloc'ed) in
 * *reply, or a negative errno with the daemon's message in err. */
int ctl_request(const char *rundir, const char *const *fields, int n, char **reply,
		char *err, size_t errsz);

#endif
