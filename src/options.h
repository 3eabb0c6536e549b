/* The command line of layerfs: its own -o items (branches, overlayfs
 * spellings, fuse-overlayfs compatibility), taken out before libfuse sees
 * the rest. */
#ifndef LAYERFS_OPTIONS_H
#define LAYERFS_OPTIONS_H

#include "idmap.h"
#include "lfs.h"
#include "passthrough.h"

/* How long a reader looks for the next request before it sleeps. */
#define LFS_SPIN_US_DEFAULT 100
#define LFS_SPIN_US_MAX 10000

struct cmdline {
	char *br;            /* br=, dirs= or br: value */
	char *lowerdir;
	char *upperdir;
	char *workdir;
	double timeout;
	enum lfs_pt_policy passthrough;
	int redirect_dir;        /* 1 on, 0 off, -1 the default of the syntax */
	bool metacopy;           /* -o metacopy=on */
	bool io_uring;           /* -o io_uring: requests over io_uring */
	unsigned spin_us;        /* -o spin=USEC (spinwait.h) */
	int nbr_options;
	char *nonopt[3];
	int nnonopt;
	bool has_fsname;
	unsigned max_read;       /* init() must repeat the mount option */
	bool noacl;              /* fuse-overlayfs's noacl: no POSIX ACLs */
	struct lfs_idmap ids;    /* squash_to_*, uidmapping=, gidmapping= */
};

/* Takes our items out of argv into c and builds args for libfuse (with the
 * mountpoint last). Returns 0, or -1 after a one-line message. */
int lfs_parse_own_options(int argc, char *argv[], struct cmdline *c, struct fuse_args *args);
/* Builds the branch list from whichever syntax was used. */
int lfs_branch_list_from(struct cmdline *c, struct lfs_branch_list *list);
void lfs_cmdline_free(struct cmdline *c);

#endif
