/* FUSE passthrough (kernel >= 6.9): reads and writes of an open file go
 * straight from the kernel to the branch file, with no request to the
 * daemon. libfuse 3.14 has no API for it; passthrough.c adds it through the
 * session's custom I/O hooks. */
#ifndef LAYERFS_PASSTHROUGH_H
#define LAYERFS_PASSTHROUGH_H

#include "node.h"

/* -o passthrough=on|off. Files in the rw branch are passed through, and
 * in a union without an rw branch every file. A lower file of a union with
 * an rw branch can be copied up while open, and the kernel cannot move an
 * open passthrough file to a new backing file (nor mix passthrough and
 * cached opens of one inode): a reader passed through to the lower file
 * would go on reading it after the copy-up and miss every write to the
 * copy. So there lower files stay served by the daemon, which makes every
 * open see the copied-up file (as on overlayfs since Linux 4.19); and an
 * rw branch cannot be added to a read-only union while files passed
 * through from it are open (branchops.c). */
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

/* Before the mount: the policy of the command line. */
void lfs_pt_set_policy(enum lfs_pt_policy policy);
/* From init(): the INIT flags passthrough needs (and its max_stack_depth
 * in *depth), or 0 when the policy is off or devio.c is not attached. */
uint64_t lfs_pt_init_flags(uint32_t *depth);
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
/* Whether files opened while the union had no rw branch are open passed
 * through (then it must not get one: they would miss copy-ups). */
bool lfs_pt_ro_union_files_open(void);
/* Handle h of node n is closed (caller holds tree_lock): returns a backing
 * id to close once the lock is dropped, or 0. */
int lfs_pt_handle_gone_locked(struct node *n, struct fhandle *h);

#endif
