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
	unsigned max_read;       /* init() must repeat the mount option */
};

/* layerfs's own -o items are taken out of the command line before libfuse
 * sees it: libfuse would strip the backslashes that escape ':' in branch
 * paths. Everything else goes on to libfuse untouched. */
static int set_branch_option(struct cmdline *c, const char *value)
{
	if (c->br) {
		fprintf(stderr, "layerfs: branches given twice (br=/dirs= may appear once)\n");
		return -1;
	}
	c->br = strdup(value);
	return c->br ? 0 : -1;
}

static int set_string(char **dst, const char *value, const char *what)
{
	if (*dst) {
		fprintf(stderr, "layerfs: %s given twice\n", what);
		return -1;
	}
	*dst = strdup(value);
	return *dst ? 0 : -1;
}

/* 1 when item was one of ours (and taken), 0 when it is for libfuse,
 * -1 on error. */
static int take_own_item(struct cmdline *c, const char *item)
{
	if (!strncmp(item, "br=", 3))
		return set_branch_option(c, item + 3) ? -1 : 1;
	if (!strncmp(item, "dirs=", 5))
		return set_branch_option(c, item + 5) ? -1 : 1;
	if (!strncmp(item, "br:", 3))   /* aufs also spells it br:DIR:DIR */
		return set_branch_option(c, item + 3) ? -1 : 1;
	if (!strncmp(item, "lowerdir=", 9))
		return set_string(&c->lowerdir, item + 9, "lowerdir=") ? -1 : 1;
	if (!strncmp(item, "upperdir=", 9))
		return set_string(&c->upperdir, item + 9, "upperdir=") ? -1 : 1;
	if (!strncmp(item, "workdir=", 8))
		return set_string(&c->workdir, item + 8, "workdir=") ? -1 : 1;
	if (!strncmp(item, "timeout=", 8)) {
		char *end;
		c->timeout = strtod(item + 8, &end);
		if (end == item + 8 || *end || c->timeout < 0) {
			fprintf(stderr, "layerfs: bad timeout '%s'\n", item + 8);
			return -1;
		}
		return 1;
	}
	if (!strncmp(item, "fsname=", 7))
		c->has_fsname = true;
	if (!strncmp(item, "max_read=", 9))
		c->max_read = (unsigned)strtoul(item + 9, NULL, 0);
	return 0;
}

/* Splits an -o value at commas not escaped by a backslash; our items are
 * taken, the rest is appended to rest (comma-separated, escapes kept). */
static int split_option_value(struct cmdline *c, const char *value, char *rest)
{
	size_t len = strlen(value);
	char *item = malloc(len + 1);
	if (!item)
		return -1;
	size_t il = 0;
	int ret = 0;
	for (size_t i = 0; i <= len && ret == 0; i++) {
		if (value[i] == '\\' && value[i + 1] == ',') {
			item[il++] = value[++i];
			continue;
		}
		if (value[i] == '\\' && value[i + 1]) {
			item[il++] = value[i++];
			item[il++] = value[i];
			continue;
		}
		if (value[i] != ',' && value[i] != '\0') {
			item[il++] = value[i];
			continue;
		}
		item[il] = '\0';
		il = 0;
		if (!item[0])
			continue;       /* empty items ("a,,b") mean nothing */
		int own = take_own_item(c, item);
		if (own < 0)
			ret = -1;
		else if (own == 0) {
			if (rest[0])
				strcat(rest, ",");
			strcat(rest, item);
		}
	}
	free(item);
	return ret;
}

/* Builds the argument list for libfuse from argv minus our -o items. */
static int extract_own_options(int argc, char *argv[], struct cmdline *c,
			       struct fuse_args *out)
{
	if (fuse_opt_add_arg(out, argv[0]))
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *value = NULL;
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			value = argv[++i];
		else if (!strncmp(argv[i], "-o", 2) && argv[i][2])
			value = argv[i] + 2;
		if (!value) {
			if (fuse_opt_add_arg(out, argv[i]))
				return -1;
			continue;
		}
		/* libfuse turns "\," into ","; ours are already split. */
		char *rest = calloc(1, strlen(value) * 2 + 2);
		if (!rest)
			return -1;
		int ret = split_option_value(c, value, rest);
		if (ret == 0 && rest[0])
			ret = fuse_opt_add_arg(out, "-o") || fuse_opt_add_arg(out, rest) ? -1 : 0;
		free(rest);
		if (ret)
			return -1;
	}
	return 0;
}

/* Non-option arguments: [SOURCE] MOUNTPOINT (mount.fuse3 passes a source). */
static int nonopt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct cmdline *c = data;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (c->nnonopt == 2) {
		fprintf(stderr, "layerfs: too many arguments: '%s'\n", arg);
		return -1;
	}
	c->nonopt[c->nnonopt++] = strdup(arg);
	return 0;
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

static struct fuse_conn_info_opts *conn_opts;
static unsigned opt_max_read;

static void lfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn_opts)
		fuse_apply_conn_info_opts(conn_opts, conn);
	if (opt_max_read)
		conn->max_read = opt_max_read;
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
	unsigned threads = copts->singlethread ? 1 : copts->max_threads;
	if (threads == 0 || threads > 256)
		threads = 16;
	return lfs_session_loop(se, threads);
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

static int mount_and_serve(struct fuse_args *args, struct fuse_cmdline_opts *copts)
{
	struct fuse_session *se = make_session(args);
	if (!se)
		return 1;
	int ret = 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, copts->mountpoint) == 0) {
			fuse_daemonize(copts->foreground);
			lfs->se = se;
			lfs_control_start();   /* inspection is a service, not a must */
			ret = run_session(se, copts) ? 1 : 0;
			lfs_control_stop();
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
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct cmdline c = { .timeout = 1.0 };
	struct fuse_cmdline_opts copts = { 0 };
	struct lfs_branch_list list = { 0 };
	static struct lfs fs;
	int ret = 1;

	fuse_set_log_func(quiet_log);
	if (extract_own_options(argc, argv, &c, &args) ||
	    fuse_opt_parse(&args, &c, NULL, nonopt_proc))
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
	if (branch_list_from(&c, &list))
		goto out;
	lfs = &fs;
	fs.timeout = c.timeout;
	fs.debug = copts.debug;
	if (lfs_fs_init(&fs, &list, c.upperdir ? c.workdir : NULL, copts.mountpoint))
		goto out;
	if (lfs_clean_orph())
		lfs_log("could not empty the work directory of '%s'", fs.workdir);
	lfs_make_si();
	fs.root = lfs_node_new_root();
	if (!fs.root || add_mount_options(&args, &c, !fs.has_rw))
		goto out;
	opt_max_read = c.max_read;
	conn_opts = fuse_parse_conn_info_opts(&args);
	if (!conn_opts)
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
	free(conn_opts);
	free_cmdline(&c);
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
