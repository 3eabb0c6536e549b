/* Dropping a file's privileges when it changes, by the kernel's rules.
 *
 * layerfs takes FUSE_HANDLE_KILLPRIV_V2 (devio.c): the kernel then stops
 * asking for security.capability before every write and leaves the kill of
 * setuid/setgid to the filesystem, flagging the requests where a caller
 * without CAP_FSETID changes a file. The rules, as ext4 applies them:
 *   - a write, truncate or O_TRUNC open by a caller without CAP_FSETID
 *     (the kernel's flag) drops setuid, and setgid when the group may
 *     execute the file or the caller is not in the file's group;
 *   - chown of a non-directory drops setuid, and setgid when the group may
 *     execute it (the daemon's own chown on the branch does exactly this;
 *     a caller that is not root and not in the old group also loses a
 *     setgid without group-exec);
 *   - security.capability goes on write, truncate and chown: the kernel
 *     removes it itself (a REMOVEXATTR request), and the branch filesystem
 *     does under the daemon's own write, truncate and chown.
 * Writes through FUSE passthrough never reach the daemon, so a file that
 * carries setuid, setgid or a capability is not passed through
 * (passthrough.c asks lfs_killpriv_privileged()); one that gains them
 * while passthrough opens exist is covered by the kernel's kill request
 * (an empty SETATTR before each such write: lfs_killpriv_on_request()). */
#ifndef LAYERFS_KILLPRIV_H
#define LAYERFS_KILLPRIV_H

#include <stdbool.h>
#include <sys/stat.h>

#include "lfs.h"

/* Whether the kernel agreed to FUSE_HANDLE_KILLPRIV_V2 for this mount. */
bool lfs_killpriv_on(void);

/* The mode a kill leaves of mode (pure). */
mode_t lfs_killpriv_mode(mode_t mode, bool caller_in_group);

/* After a write, truncate or O_TRUNC open of open file fd by the request
 * req: drops setuid/setgid when the kernel flagged the request. 0 or
 * -errno; *changed says whether the mode changed. */
int lfs_killpriv_after_change(fuse_req_t req, int fd, bool *changed);
/* After chown by req of a non-directory whose mode and group were old. */
int lfs_killpriv_after_chown_at(fuse_req_t req, int dfd, const char *name,
				const struct stat *old);

/* A SETATTR that asks for no change is the kernel's kill request (its
 * VFS found privileges to drop, and says nothing more): before a write,
 * also one through passthrough, whose data never reaches us, by a caller
 * without CAP_FSETID; or from chown(f, -1, -1), by anyone. A caller that
 * holds the file (inode number ino) open for writing is taken to write.
 * Drops setuid/setgid of the object name in dfd by the rules of the one or
 * the other (a chown by a caller neither owner nor CAP_FOWNER: -EPERM, as
 * ext4 says). 0 or -errno. */
int lfs_killpriv_on_request(fuse_req_t req, int dfd, const char *name, uint64_t ino);

/* After req set the access ACL of the object name in dfd: setgid goes
 * when the caller is neither in the object's group nor has CAP_FSETID
 * (posix_acl_update_mode(); the daemon set it with its own rights). */
int lfs_killpriv_after_acl_at(fuse_req_t req, int dfd, const char *name);

/* A regular file with setuid, setgid or security.capability. */
bool lfs_killpriv_privileged(int fd);

#endif
