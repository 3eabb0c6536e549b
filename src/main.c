/* layerfs: command line, mount, session loop. */
#include "lfs.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "branch.h"
#include "control.h"
#include "devio.h"
#include "dircache.h"
#include "dirstream.h"
#include "handle.h"
#include "ino.h"
#include "layerfs/branchspec.h"
#include "loop.h"
#include "node.h"
#include "ops.h"
#include "options.h"
#include "passthrough.h"
#include "recover.h"
#include "workdir.h"

static void usage(const char *prog)
{
	printf("usage: %s [SOURCE] MOUNTPOINT -o br=DIR[=PERM]:DIR[=PERM]... [options]\n"
	       "       %s [SOURCE] MOUNTPOINT -o lowerdir=TOP:...:BOTTOM[,upperdir=DIR,workdir=DIR]\n"
	       "\n"
	       "An aufs-style union of directories. Branch 0 is the top; PERM is rw, ro,\n"
	       "ro+wh, rr or rr+wh (the first branch defaults to rw, the others to ro).\n"
	       "\n"
	       "layerfs options:\n"
	       "    -o br=BRANCHES         branches, top first (also dirs= and br:)\n"
	       "    -o lowerdir=DIRS       overlayfs-style read-only branches, top first\n"
	       "    -o upperdir=DIR        overlayfs-style writable branch\n"
	       "    -o workdir=DIR         where layerfs keeps its work files (same fs as upperdir)\n"
	       "    -o timeout=SECONDS     kernel cache timeout for names and attributes (3600)\n"
	       "    -o passthrough=on|off  reads/writes of rw-branch files bypass the daemon (on)\n"
	       "    -o redirect_dir=on|off a renamed lower directory is redirected, not copied\n"
	       "    -o metacopy=on|off     chmod/chown/utimes/xattrs of a lower file copy its\n"
	       "                           metadata only (default off)\n"
	       "                           (on with br=, off with upperdir=)\n"
	       "    -o spin=USEC           after each request, look for the next one this long\n"
	       "                           before sleeping (100; 0 never)\n"
	       "    -o io_uring            requests over FUSE io_uring rings when the kernel\n"
	       "                           offers them (else through /dev/fuse as usual)\n"
	       "    -V, --version          print the version\n"
	       "\n", prog, prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* libfuse reports bad options through its log; keep them one line and ours. */
static void quiet_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (level > FUSE_LOG_ERR && !(lfs && lfs->debug))
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *text = strncmp(msg, "fuse: ", 6) == 0 ? msg + 6 : msg;
	if (strncmp(text, "layerfs: ", 9) == 0)
		text += 9;
	fprintf(stderr, "layerfs: %s", text);
}

static struct fuse_session *make_session(struct fuse_args *args)
{
	return fuse_session_new(args, &lfs_ops, sizeof(lfs_ops), lfs);
}

/* libfuse's thread options, read our way (loop.c): max_idle_threads is
 * how many threads wait for requests (2 unless given). */
static int run_session(struct fuse_session *se, struct fuse_cmdline_opts *copts,
		       const struct cmdline *c)
{
	struct lfs_loop_opts o = {
		.max_threads = copts->singlethread ? 1 : copts->max_threads,
		.max_idle = copts->max_idle_threads,
		.clone_fd = copts->clone_fd,
		.io_uring = c->io_uring,
		.spin_us = c->spin_us,
	};
	if (o.max_threads == 0 || o.max_threads > 256)
		o.max_threads = 16;
	if (o.max_idle == 0 || o.max_idle == UINT_MAX)
		o.max_idle = 2;
	if (copts->singlethread)
		o.max_idle = 1;
	return lfs_session_loop(se, &o);
}

static int add_mount_options(struct fuse_args *args, const struct cmdline *c,
			     bool read_only)
{
	if (fuse_opt_add_arg(args, "-odefault_permissions,subtype=layerfs"))
		return -1;
	/* libfuse mounts nosuid,nodev unless told otherwise; a container rootfs
	 * needs setuid programs and devices to work, as on overlayfs. Inserted
	 * first so that the user's own -o nosuid/nodev still win. */
	if (geteuid() == 0 && fuse_opt_insert_arg(args, 1, "-osuid,dev"))
		return -1;
	char fsname[64];
	snprintf(fsname, sizeof(fsname), "-ofsname=layerfs:si_%s", lfs->si);
	if (!c->has_fsname && fuse_opt_add_arg(args, fsname))
		return -1;
	/* A union without an rw branch is not mounted "ro": every write fails
	 * with EROFS in layerfs itself, and an rw branch can be added live. */
	(void)read_only;
	return 0;
}

static int mount_and_serve(struct fuse_args *args, struct fuse_cmdline_opts *copts,
			   const struct cmdline *c)
{
	struct fuse_session *se = make_session(args);
	if (!se)
		return 1;
	int ret = 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, copts->mountpoint) == 0) {
			lfs->se = se;
			lfs_pt_set_policy(c->passthrough);
			if (lfs_devio_attach(se) == 0) {
				fuse_daemonize(copts->foreground);
				lfs_control_start();   /* inspection is a service, not a must */
				ret = run_session(se, copts, c) ? 1 : 0;
				lfs_control_stop();
			} else {
				fuse_session_unmount(se);
			}
			lfs_mark_clean();
		} else {
			fprintf(stderr, "layerfs: cannot mount on '%s'\n", copts->mountpoint);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	return ret;
}

/* As many fds as we may have (podman does the same for its mount
 * programs): a quarter of them for the rw directories nodes keep open. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur / 4 : 256;
	lfs->rwfds_max = n > 65536 ? 65536 : (unsigned)n;
}

/* Every module's share of the mount (lfs.h). */
static int init_modules(void)
{
	raise_fd_limit();
	int ret = lfs_nodes_init();
	if (ret == 0)
		ret = lfs_inos_init();
	if (ret == 0)
		ret = lfs_dircaches_init();
	if (ret == 0)
		ret = lfs_dirstreams_init();
	if (ret == 0)
		ret = lfs_pt_init();
	if (ret == 0)
		ret = lfs_devio_init();
	return ret;
}

/* After the session: open files and streams first (they point at nodes). */
static void free_modules(void)
{
	lfs_handles_free_all();
	lfs_dirstreams_free_all();
	lfs_node_free_all();
	lfs_dircaches_free();
	lfs_inos_free();
	lfs_pt_free();
	lfs_devio_free();
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct cmdline c = { .timeout = 3600.0, .spin_us = LFS_SPIN_US_DEFAULT,
			     .passthrough = LFS_PT_ON, .redirect_dir = -1 };
	struct fuse_cmdline_opts copts = { 0 };
	struct lfs_branch_list list = { 0 };
	static struct lfs fs;
	int ret = 1;

	/* The kernel sends modes with the caller's umask applied already; ours
	 * must not take anything more away. */
	umask(0);
	fuse_set_log_func(quiet_log);
	if (lfs_parse_own_options(argc, argv, &c, &args))
		goto out;
	if (fuse_parse_cmdline(&args, &copts))
		goto out;
	if (copts.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (copts.show_version) {
		printf("layerfs %s (libfuse %s)\n", LAYERFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (!copts.mountpoint) {
		fprintf(stderr, "layerfs: no mountpoint given (see 'layerfs --help')\n");
		goto out;
	}
	if (lfs_branch_list_from(&c, &list))
		goto out;
	lfs = &fs;
	fs.timeout = c.timeout;
	fs.ids = c.ids;             /* moved: freed with fs */
	c.ids = (struct lfs_idmap){ 0 };
	fs.debug = copts.debug;
	/* Tools that read an upperdir= themselves (podman, buildah) know no
	 * redirects: with that syntax a renamed directory is copied unless
	 * asked otherwise; with br= (layerctl reads redirects) it is redirected. */
	fs.redirect_dir = c.redirect_dir >= 0 ? c.redirect_dir : !c.upperdir;
	/* Only with br=: podman and buildah (upperdir=) read the upper
	 * directory as a plain layer and would find zeros where the data is
	 * below; like fuse-overlayfs, layerfs then ignores metacopy=on (which
	 * their storage.conf may pass, meant for the kernel's overlayfs). */
	fs.metacopy = c.metacopy && !c.upperdir;
	if (lfs_fs_init(&fs, &list, c.upperdir ? c.workdir : NULL, copts.mountpoint) ||
	    init_modules())
		goto out;
	lfs_recover();
	if (lfs_clean_orph())
		lfs_log("could not empty the work directory of '%s'", fs.workdir);
	lfs_make_si();
	fs.root = lfs_node_new_root();
	if (!fs.root || add_mount_options(&args, &c, !fs.has_rw))
		goto out;
	fs.max_read = c.max_read;
	fs.noacl = c.noacl;
	fs.conn_opts = fuse_parse_conn_info_opts(&args);
	if (!fs.conn_opts)
		goto out;
	ret = mount_and_serve(&args, &copts, &c);
out:
	if (lfs) {
		free_modules();
		lfs_idmap_free(&fs.ids);
		lfs_fs_destroy(&fs);
		free(fs.conn_opts);
	}
	lfs_branch_list_free(&list);
	lfs_cmdline_free(&c);
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
