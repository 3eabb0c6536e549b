/* FUSE passthrough (kernel >= 6.9): reads and writes of an open file go
 * straight from the kernel to the branch file, with no request to the
 * daemon. libfuse 3.14 has no API for it; passthrough.c adds it by patching
 * replies in the session's custom I/O hooks (devio.c). */
#ifndef LAYERFS_PASSTHROUGH_H
#define LAYERFS_PASSTHROUGH_H

#include <sys/uio.h>

#include "node.h"

/* -o passthrough=on|off. Only files in the rw branch are passed through:
 * a lower file can be copied up while open, and the kernel cannot move an
 * open passthrough file to a new backing file (nor mix passthrough and
 * cached opens of one inode), so lower files stay served by the daemon,
 * which makes every open see the copied-up file. */
enum lfs_pt_policy {
	LFS_PT_OFF,
	LFS_PT_ON,
};

/* Parses "on" or "off"; -1 for anything else. */
int lfs_pt_parse_policy(const char *s, enum lfs_pt_policy *out);

int lfs_pt_init(void);
void lfs_pt_free(void);
/* Node n goes: what passthrough kept for it goes too (tree_lock held). */
void lfs_pt_node_gone(struct node *n);

/* After the mount, before the first request: the policy, and the device
 * fd backing files are registered on. */
int lfs_pt_attach(struct fuse_session *se, enum lfs_pt_policy policy);
/* devio.c, on every reply right before the kernel sees it: announces
 * passthrough in the INIT reply and marks OPEN/CREATE replies, as the
 * notes below asked. */
void lfs_pt_patch_reply(struct iovec *iov, int count);
/* Called from init(): the reply this thread sends next is the INIT reply. */
void lfs_pt_note_init_reply(void);
/* Releases a backing id lfs_pt_handle_gone_locked() handed back. */
void lfs_pt_backing_close(int id);
/* The OPEN or CREATE reply this thread sends next carries backing id. */
void lfs_pt_note_open_reply(int id);

/* Decides whether the open of node n that made handle h (fd and branch
 * set) is passed through, keeping the kernel's rule that an inode's open
 * files are all passthrough on one backing file or all cached. Sets
 * h->passthrough and fi->keep_cache; returns the backing id for the reply,
 * or 0. */
struct fhandle;
int lfs_pt_choose(struct node *n, struct fhandle *h, struct fuse_file_info *fi);
/* Handle h of node n is closed (caller holds tree_lock): returns a backing
 * id to close once the lock is dropped, or 0. */
int lfs_pt_handle_gone_locked(struct node *n, struct fhandle *h);

#endif
