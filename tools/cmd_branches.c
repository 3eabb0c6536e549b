/* layerctl branches | which | branch: looking at and changing the branches
 * of a live layerfs mount through its control socket. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control_client.h"
#include "layerctl.h"
#include "layerfs/whiteout.h"

struct branch_row {
	int index;
	unsigned long long id;
	char perm[16];
	char path[PATH_MAX];
	unsigned long long files, whiteouts, bytes;
};

static int fail(const char *cmd, const char *msg)
{
	fprintf(stderr, "layerctl %s: %s\n", cmd, msg);
	return CTL_FAIL;
}

/* ---- counting a branch ---- */

static struct branch_row *counting;

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	const char *name = path + ftw->base;
	if (ftw->level == 0)
		return 0;
	/* The rw branch's own metadata (work dir, index, whiteout base). */
	if (ftw->level == 1 && lfs_is_meta_name(name) && !lfs_is_opaque_name(name))
		return S_ISDIR(st->st_mode) ? FTW_SKIP_SUBTREE : 0;
	if (lfs_whiteout_target(name)) {
		counting->whiteouts++;
		return 0;
	}
	if (lfs_is_marker_name(name) || S_ISDIR(st->st_mode))
		return 0;
	counting->files++;
	if (S_ISREG(st->st_mode))
		counting->bytes += (unsigned long long)st->st_size;
	return 0;
}

static void count_branch(struct branch_row *row)
{
	counting = row;
	nftw(row->path, count_entry, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	counting = NULL;
}

static size_t parse_branches(char *text, struct branch_row **rows)
{
	size_t n = 0, cap = 0;
	*rows = NULL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct branch_row *v = realloc(*rows, cap * sizeof(*v));
			if (!v)
				break;
			*rows = v;
		}
		struct branch_row *r = &(*rows)[n];
		memset(r, 0, sizeof(*r));
		int used = 0;
		if (sscanf(line, "%d\t%llu\t%15[^\t]\t%n", &r->index, &r->id, r->perm, &used) != 3)
			continue;
		snprintf(r->path, sizeof(r->path), "%s", line + used);
		n++;
	}
	return n;
}

static void print_json(const struct branch_row *rows, size_t n, const char *mnt)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:i, s:I, s:s, s:s, s:I, s:I, s:I}",
			"index", rows[i].index, "id", (json_int_t)rows[i].id, "perm", rows[i].perm,
			"path", rows[i].path, "files", (json_int_t)rows[i].files,
			"whiteouts", (json_int_t)rows[i].whiteouts, "bytes", (json_int_t)rows[i].bytes));
	json_t *doc = json_pack("{s:s, s:o}", "mountpoint", mnt, "branches", arr);
	json_dumpf(doc, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(doc);
}

static void print_table(const struct branch_row *rows, size_t n)
{
	printf("%-5s %-5s %-6s %8s %9s %12s  %s\n", "INDEX", "ID", "PERM", "FILES", "WHITEOUTS",
	       "BYTES", "PATH");
	for (size_t i = 0; i < n; i++)
		printf("%-5d %-5llu %-6s %8llu %9llu %12llu  %s\n", rows[i].index, rows[i].id,
		       rows[i].perm, rows[i].files, rows[i].whiteouts, rows[i].bytes, rows[i].path);
}

/* Room for a message about the path the user gave, however long. */
static size_t err_size(const char *arg)
{
	return strlen(arg) + 2 * PATH_MAX + 256;
}

int cmd_branches(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			argc = -1;
		json = true;
	}
	if (argc < 0 || optind != argc - 1) {
		fprintf(stderr, "usage: layerctl branches MNT [--json]\n");
		return CTL_USAGE;
	}
	char rundir[PATH_MAX], mnt[PATH_MAX];
	size_t errsz = err_size(argv[optind]);
	char *err = malloc(errsz);
	if (err == NULL)
		abort();
	const char *req[] = { "branches" };
	char *text = NULL;
	if (ctl_find_mount(argv[optind], rundir, sizeof(rundir), mnt, sizeof(mnt), err, errsz) ||
	    ctl_request(rundir, req, 1, &text, err, errsz)) {
		int rc = fail("branches", err);
		free(err);
		return rc;
	}
	free(err);
	struct branch_row *rows;
	size_t n = parse_branches(text, &rows);
	free(text);
	for (size_t i = 0; i < n; i++)
		count_branch(&rows[i]);
	if (json)
		print_json(rows, n, mnt);
	else
		print_table(rows, n);
	free(rows);
	return CTL_OK;
}

/* ---- which ---- */

int cmd_which(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc != 2) {
		fprintf(stderr, "usage: layerctl which MNT/PATH\n");
		return CTL_USAGE;
	}
	char rundir[PATH_MAX], rel[PATH_MAX], err[PATH_MAX + 256];
	if (strlen(argv[1]) >= PATH_MAX) {
		fprintf(stderr, "layerctl: which: %s: %s\n", argv[1], strerror(ENAMETOOLONG));
		return CTL_FAIL;
	}
	if (ctl_find_containing(argv[1], rundir, sizeof(rundir), rel, sizeof(rel), err, sizeof(err)))
		return fail("which", err);
	const char *req[] = { "which", rel };
	char *text = NULL;
	int ret = ctl_request(rundir, req, 2, &text, err, sizeof(err));
	if (ret == -ENOENT) {
		printf("%s: not in any branch\n", argv[1]);
		return CTL_FAIL;
	}
	if (ret)
		return fail("which", err);
	printf("%s\n", argv[1]);
	bool visible = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char role[16];
		int index, used = 0;
		if (sscanf(line, "%15[^\t]\t%d\t%n", role, &index, &used) != 2)
			continue;
		visible |= !strcmp(role, "supplies");
		printf("  %-9s branch %-3d %s\n", role, index, line + used);
	}
	if (!visible)
		printf("  (hidden: no branch supplies it)\n");
	free(text);
	return visible ? CTL_OK : CTL_FAIL;
}

/* ---- branch add|append|prepend|del|mod ---- */

/* "PATH=PERM" -> fields; PERM defaults to ro when absent. */
static void split_path_perm(char *arg, const char **path, const char **perm)
{
	char *eq = strrchr(arg, '=');
	*path = arg;
	*perm = "ro";
	if (eq && strchr(eq, '/') == NULL) {
		*eq = '\0';
		*perm = eq + 1;
	}
}

static int branch_usage(void)
{
	fprintf(stderr, "usage: layerctl branch add MNT INDEX PATH=PERM\n"
			"       layerctl branch append|prepend MNT PATH=PERM\n"
			"       layerctl branch del MNT PATH|INDEX\n"
			"       layerctl branch mod MNT PATH|INDEX=PERM\n");
	return CTL_USAGE;
}

int cmd_branch(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc < 4)
		return branch_usage();
	const char *op = argv[1], *mnt = argv[2];
	const char *fields[4] = { op };
	int n = 1;
	const char *path, *perm;
	if (!strcmp(op, "add") && argc == 5) {
		split_path_perm(argv[4], &path, &perm);
		fields[n++] = argv[3];
		fields[n++] = path;
		fields[n++] = perm;
	} else if ((!strcmp(op, "append") || !strcmp(op, "prepend") || !strcmp(op, "mod")) &&
		   argc == 4) {
		split_path_perm(argv[3], &path, &perm);
		fields[n++] = path;
		fields[n++] = perm;
	} else if (!strcmp(op, "del") && argc == 4) {
		fields[n++] = argv[3];
	} else {
		return branch_usage();
	}
	char rundir[PATH_MAX], err[PATH_MAX * 2 + 256];
	if (ctl_find_mount(mnt, rundir, sizeof(rundir), NULL, 0, err, sizeof(err)))
		return fail("branch", err);
	char *text = NULL;
	int ret = ctl_request(rundir, fields, n, &text, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "layerctl branch %s: %s (%s)\n", op, err, strerror(-ret));
		return CTL_FAIL;
	}
	free(text);
	return CTL_OK;
}
