/* layerfs: command line, mount, session loop. */
#include "layerfs.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layerfs/branchspec.h"

struct cmdline {
	char *br;            /* br=, dirs= or br: value */
	char *lowerdir;
	char *upperdir;
	char *workdir;
	double timeout;
	int nbr_options;
	char *nonopt[3];
	int nnonopt;
	bool has_fsname;
	bool bad;
};

enum { KEY_BR, KEY_FSNAME };

#define LFS_OPT(t, p) { t, offsetof(struct cmdline, p), 0 }
static const struct fuse_opt layerfs_opts[] = {
	LFS_OPT("lowerdir=%s", lowerdir),
	LFS_OPT("upperdir=%s", upperdir),
	LFS_OPT("workdir=%s", workdir),
	LFS_OPT("timeout=%lf", timeout),
	FUSE_OPT_KEY("br=", KEY_BR),
	FUSE_OPT_KEY("dirs=", KEY_BR),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_END
};

static int set_branch_option(struct cmdline *c, const char *value)
{
	if (c->br) {
		fprintf(stderr, "layerfs: branches given twice (br=/dirs= may appear once)\n");
		c->bad = true;
		return -1;
	}
	c->br = strdup(value);
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct cmdline *c = data;
	switch (key) {
	case KEY_BR:
		return set_branch_option(c, strchr(arg, '=') + 1);
	case KEY_FSNAME:
		c->has_fsname = true;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (c->nnonopt == 2) {
			fprintf(stderr, "layerfs: too many arguments: '%s'\n", arg);
			c->bad = true;
			return -1;
		}
		c->nonopt[c->nnonopt++] = strdup(arg);
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "br:", 3) == 0)   /* aufs also spells it br:DIR:DIR */
			return set_branch_option(c, arg + 3);
		return 1;
	default:
		return 1;
	}
}

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
	       "    -o timeout=SECONDS     kernel cache timeout for names and attributes (1)\n"
	       "    -V, --version          print the version\n"
	       "\n", prog, prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Builds the branch list from whichever syntax was used. */
static int branch_list_from(struct cmdline *c, struct lfs_branch_list *list)
{
	char err[512] = "";
	int ret;
	if (c->br && c->lowerdir) {
		fprintf(stderr, "layerfs: use either br= or lowerdir=, not both\n");
		return -EINVAL;
	}
	if (c->br)
		ret = lfs_parse_aufs_branches(c->br, list, err, sizeof(err));
	else if (c->lowerdir)
		ret = lfs_parse_overlay_branches(c->lowerdir, c->upperdir, list, err, sizeof(err));
	else {
		fprintf(stderr, "layerfs: no branches: give -o br=DIR[=PERM]:... or -o lowerdir=...\n");
		return -EINVAL;
	}
	if (ret == 0 && c->upperdir && !c->lowerdir)
		ret = -EINVAL, snprintf(err, sizeof(err), "upperdir= needs lowerdir=");
	if (ret == 0)
		ret = lfs_branch_list_check(list, err, sizeof(err));
	if (ret)
		fprintf(stderr, "layerfs: %s\n", err);
	return ret;
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

static void lfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static struct fuse_session *make_session(struct fuse_args *args)
{
	struct fuse_lowlevel_ops ops = { .init = lfs_init };
	lfs_ops_entry(&ops);
	lfs_ops_rename(&ops);
	lfs_ops_attr(&ops);
	lfs_ops_file(&ops);
	lfs_ops_dir(&ops);
	lfs_ops_xattr(&ops);
	return fuse_session_new(args, &ops, sizeof(ops), lfs);
}

static int run_session(struct fuse_session *se, struct fuse_cmdline_opts *copts)
{
	if (copts->singlethread)
		return fuse_session_loop(se);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, copts->clone_fd);
	fuse_loop_cfg_set_max_threads(cfg, copts->max_threads);
	if (copts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, copts->max_idle_threads);
	int ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}

static void free_cmdline(struct cmdline *c)
{
	free(c->br);
	free(c->lowerdir);
	free(c->upperdir);
	free(c->workdir);
	for (int i = 0; i < c->nnonopt; i++)
		free(c->nonopt[i]);
}

static int add_mount_options(struct fuse_args *args, const struct cmdline *c,
			     bool read_only)
{
	if (fuse_opt_add_arg(args, "-odefault_permissions,subtype=layerfs"))
		return -1;
	if (!c->has_fsname && fuse_opt_add_arg(args, "-ofsname=layerfs"))
		return -1;
	if (read_only && fuse_opt_add_arg(args, "-oro"))
		return -1;
	return 0;
}

static int mount_and_serve(struct fuse_args *args, struct fuse_cmdline_opts *copts)
{
	struct fuse_session *se = make_session(args);
	if (!se)
		return 1;
	int ret = 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, copts->mountpoint) == 0) {
			fuse_daemonize(copts->foreground);
			ret = run_session(se, copts) ? 1 : 0;
			fuse_session_unmount(se);
		} else {
			fprintf(stderr, "layerfs: cannot mount on '%s'\n", copts->mountpoint);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cmdline c = { .timeout = 1.0 };
	struct fuse_cmdline_opts copts = { 0 };
	struct lfs_branch_list list = { 0 };
	static struct lfs fs;
	int ret = 1;

	fuse_set_log_func(quiet_log);
	if (fuse_opt_parse(&args, &c, layerfs_opts, opt_proc) || c.bad)
		goto out;
	if (c.nnonopt && fuse_opt_add_arg(&args, c.nonopt[c.nnonopt - 1]))
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
	if (c.timeout < 0) {
		fprintf(stderr, "layerfs: timeout must not be negative\n");
		goto out;
	}
	if (branch_list_from(&c, &list))
		goto out;
	lfs = &fs;
	fs.timeout = c.timeout;
	fs.debug = copts.debug;
	if (lfs_fs_init(&fs, &list, c.upperdir ? c.workdir : NULL, copts.mountpoint))
		goto out;
	if (lfs_clean_orph())
		lfs_log("could not empty the work directory of '%s'", fs.workdir);
	fs.root = lfs_node_new_root();
	if (!fs.root || add_mount_options(&args, &c, !fs.has_rw))
		goto out;
	ret = mount_and_serve(&args, &copts);
out:
	if (fs.root)
		lfs_node_free_all();
	if (lfs) {
		lfs_fs_destroy(&fs);
		lfs_ino_map_free();
	}
	lfs_branch_list_free(&list);
	free_cmdline(&c);
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
