/* layerctl create / rm: a container's life in the store.
 *
 * A container is containers/<name>/ with init/ (docker's "-init" layer, see
 * initlayer.h), rw/ (the writable layer, empty at first), mnt/ (the
 * mountpoint), config.json (the OCI runtime config, written once, here)
 * and container.json. It is built under tmp/ and renamed into place; bad
 * input is refused before anything is made. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "createopts.h"
#include "ctrlife.h"
#include "initlayer.h"
#include "layerctl.h"
#include "runtime.h"
#include "sharedmount.h"
#include "store.h"

#define CREATE_USAGE "usage: layerctl create [OPTIONS] IMAGE NAME [COMMAND [ARG...]]"

/* What create found out about the host before touching the store. */
struct host_paths {
	char **source;    /* per mount: the resolved host path (binds), else NULL */
	bool *is_dir;     /* per mount: a directory mount point */
};

static void host_paths_free(struct host_paths *h, size_t n)
{
	for (size_t i = 0; h->source && i < n; i++)
		free(h->source[i]);
	free(h->source);
	free(h->is_dir);
}

/* Resolves every bind's host path (it must exist) and checks the
 * --init-file sources: -1 with a message when one is missing. */
static int check_host(const struct create_opts *o, struct host_paths *h)
{
	h->source = calloc(o->nmounts + 1, sizeof(*h->source));
	h->is_dir = calloc(o->nmounts + 1, sizeof(*h->is_dir));
	if (!h->source || !h->is_dir)
		abort();
	for (size_t i = 0; i < o->nmounts; i++) {
		const struct mountspec *m = &o->mounts[i];
		struct stat st;
		h->is_dir[i] = true;
		if (m->type != MSPEC_BIND)
			continue;
		h->source[i] = realpath(m->source, NULL);
		if (!h->source[i] || stat(h->source[i], &st) < 0) {
			fprintf(stderr, "layerctl: create: volume source %s (for %s): %s\n", m->source,
				m->destination, strerror(errno));
			return -1;
		}
		h->is_dir[i] = S_ISDIR(st.st_mode);
	}
	for (size_t i = 0; i < o->nfiles; i++) {
		struct stat st;
		int bad = stat(o->files[i].src, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : -1;
		if (bad) {
			fprintf(stderr, "layerctl: create: --init-file %s: %s\n", o->files[i].src,
				bad > 0 ? strerror(bad) : "not a regular file");
			return -1;
		}
	}
	return 0;
}

/* The user's mounts in OCI form. */
static json_t *user_mounts(const struct create_opts *o, const struct host_paths *h)
{
	json_t *a = json_array();
	for (size_t i = 0; i < o->nmounts; i++)
		json_array_append_new(a, mountspec_to_oci(&o->mounts[i], h->source[i]));
	return a;
}

/* init/ with its fixed files, the mount points, the working directory
 * and the --init-file files. */
static int fill_init(const struct store *s, int dirfd, const char *name, json_t *image,
		     const struct create_opts *o, const struct host_paths *h)
{
	struct initlayer il;
	json_t *cfg = json_object_get(json_object_get(image, "config"), "config");
	const char *cwd = o->workdir ? o->workdir
			  : json_string_value(json_object_get(cfg, "WorkingDir"));
	int rc = initlayer_make(s, dirfd, o->hostname ? o->hostname : name,
				json_object_get(image, "layers"), &il);
	for (size_t i = 0; rc == 0 && i < o->nmounts; i++)
		rc = initlayer_mountpoint(&il, o->mounts[i].destination, h->is_dir[i]);
	if (rc == 0 && cwd && cwd[0] == '/')
		rc = initlayer_mountpoint(&il, cwd, true);
	if (rc < 0)
		fprintf(stderr, "layerctl: create: init layer: %s\n", strerror(-rc));
	for (size_t i = 0; rc == 0 && i < o->nfiles; i++) {
		char err[PATH_MAX + 256];
		rc = initlayer_copy_file(&il, o->files[i].src, o->files[i].dst, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "layerctl: create: %s\n", err);
	}
	initlayer_close(&il);
	return rc < 0 ? -1 : 0;
}

/* Fills TMP (a fresh directory under tmp/) with the whole container. */
static int build_container(const struct store *s, const char *tmp, const char *id_hex,
			   json_t *image, const struct create_opts *o, const struct host_paths *h)
{
	int dirfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -1;
	int rc = fill_init(s, dirfd, o->name, image, o, h);
	if (!rc && (mkdirat(dirfd, "rw", 0755) < 0 || mkdirat(dirfd, "mnt", 0755) < 0 ||
		    fchmodat(dirfd, "rw", 0755, 0) < 0 || fchmodat(dirfd, "mnt", 0755, 0) < 0)) {
		fprintf(stderr, "layerctl: create: %s: %s\n", tmp, strerror(errno));
		rc = -1;
	}
	close(dirfd);
	if (rc)
		return -1;
	char created[64], image_id[80], path[PATH_MAX + 32];
	store_now_rfc3339(created);
	snprintf(image_id, sizeof(image_id), "sha256:%s", id_hex);
	json_t *layers = json_object_get(image, "layers");
	json_t *ctr = json_pack("{s:s, s:s, s:O, s:s}", "name", o->name, "image", image_id,
				"layers", layers ? layers : json_array(), "created", created);
	json_t *mounts = user_mounts(o, h);
	json_t *cfg = ctr ? bundle_config(s, image, ctr, o->name, o, mounts) : NULL;
	json_decref(mounts);
	int n = snprintf(path, sizeof(path), "%s/container.json", tmp);
	rc = cfg && n > 0 && (size_t)n < sizeof(path) &&
		     json_dump_file(ctr, path, JSON_INDENT(2)) == 0 && bundle_write(tmp, cfg) == 0
		     ? 0 : -1;
	json_decref(cfg);
	json_decref(ctr);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	if (rc < 0 && errno != ENOENT)
		fprintf(stderr, "layerctl: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* Removes a tree, never crossing into a mount. */
static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* The host side of every rslave/rshared volume propagates (made so). */
static int ensure_sources(const struct store *s, const struct create_opts *o,
			  const struct host_paths *h)
{
	for (size_t i = 0; i < o->nmounts; i++) {
		enum mspec_propagation p = o->mounts[i].propagation;
		if (o->mounts[i].type == MSPEC_BIND && mountspec_needs_propagating_source(p) &&
		    sharedmount_ensure(s, o->name, h->source[i], mountspec_needs_shared_source(p),
				       "create") < 0)
			return -1;
	}
	return 0;
}

static int create_locked(struct store *s, const struct create_opts *o,
			 const struct host_paths *h)
{
	char id_hex[65], dst[PATH_MAX], tmp[PATH_MAX];
	int rc = store_image_find(s, o->image, id_hex);
	if (rc < 0) {
		char why[320];
		store_image_find_reason(o->image, rc, why, sizeof(why));
		fprintf(stderr, "layerctl: create: image %s: %s\n", o->image, why);
		return CTL_FAIL;
	}
	struct stat st;
	if (store_container_path(s, o->name, dst, sizeof(dst)) < 0 || lstat(dst, &st) == 0) {
		fprintf(stderr, "layerctl: create: a container named %s exists already\n", o->name);
		return CTL_FAIL;
	}
	json_t *image = store_image_load(s, id_hex);
	if (!image || store_tmpdir(s, "create", tmp, sizeof(tmp)) < 0) {
		fprintf(stderr, "layerctl: create: cannot read image %s or make a temporary directory\n", id_hex);
		json_decref(image);
		return CTL_FAIL;
	}
	rc = ensure_sources(s, o, h);
	if (rc == 0)
		rc = build_container(s, tmp, id_hex, image, o, h);
	json_decref(image);
	if (rc == 0 && rename(tmp, dst) < 0) {
		fprintf(stderr, "layerctl: create: rename into %s: %s\n", dst, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		sharedmount_release(s, o->name);
		remove_tree(tmp);
		return CTL_FAIL;
	}
	return CTL_OK;
}

static int parse_force(int argc, char **argv, bool *force, int nargs, const char *usage)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c != 'f' || !force) {
			fprintf(stderr, "usage: layerctl %s\n", usage);
			return -1;
		}
		*force = true;
	}
	if (argc - optind != nargs) {
		fprintf(stderr, "usage: layerctl %s\n", usage);
		return -1;
	}
	return 0;
}

int cmd_create(struct ctl *ctl, int argc, char **argv)
{
	struct create_opts o;
	char err[CREATEOPTS_ERR_SIZE];
	int prc = createopts_parse(argc, argv, &o, err);
	if (prc != CREATEOPTS_OK) {
		if (prc == CREATEOPTS_USAGE && !err[0])
			fprintf(stderr, CREATE_USAGE "\n");
		else if (prc == CREATEOPTS_USAGE)
			fprintf(stderr, "layerctl: create: %s (" CREATE_USAGE ")\n", err);
		else
			fprintf(stderr, "layerctl: create: %s\n", err);
		createopts_free(&o);
		return prc == CREATEOPTS_USAGE ? CTL_USAGE : CTL_FAIL;
	}
	if (!store_valid_name(o.name)) {
		fprintf(stderr, "layerctl: create: invalid container name %s "
			"(letters, digits, '_', '.', '-'; starting with a letter or digit)\n", o.name);
		createopts_free(&o);
		return CTL_FAIL;
	}
	struct host_paths h = { NULL, NULL };
	struct store s;
	int rc = CTL_FAIL;
	if (check_host(&o, &h) == 0 && store_open(&s, ctl->store_root, true) == 0) {
		rc = store_lock(&s) < 0 ? CTL_FAIL : create_locked(&s, &o, &h);
		store_unlock(&s);
		store_close(&s);
	}
	if (rc == CTL_OK && !ctl->quiet)
		printf("%s\n", o.name);
	host_paths_free(&h, o.nmounts);
	createopts_free(&o);
	return rc;
}

static int rm_locked(struct store *s, const char *name, bool force)
{
	char dir[PATH_MAX], mnt[PATH_MAX], tmp[PATH_MAX];
	if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) < 0 ||
	    store_container_path(s, name, dir, sizeof(dir)) < 0)
		return CTL_FAIL;
	if (rt_running_pid(s, name)) {
		if (!force) {
			fprintf(stderr, "layerctl: rm: container %s is running; stop it first or use "
				"--force\n", name);
			return CTL_FAIL;
		}
		if (ctr_stop(s, name, 0, "rm") < 0)
			return CTL_FAIL;
	}
	enum rt_mount_state st = rt_mount_state(mnt);
	if (st != RT_UNMOUNTED && !force) {
		fprintf(stderr, "layerctl: rm: container %s is %s; unmount it first or use --force\n",
			name, st == RT_DEAD ? "mounted (its layerfs daemon is gone)" : "mounted");
		return CTL_FAIL;
	}
	if (rt_umount(mnt, true) < 0)   /* also when unmounted: the guard bind goes */
		return CTL_FAIL;
	if (store_tmpdir(s, "rm", tmp, sizeof(tmp)) < 0)
		return CTL_FAIL;
	strncat(tmp, "/c", sizeof(tmp) - strlen(tmp) - 1);
	if (rename(dir, tmp) < 0) {
		fprintf(stderr, "layerctl: rm: %s: %s\n", dir, strerror(errno));
		return CTL_FAIL;
	}
	*strrchr(tmp, '/') = '\0';
	remove_tree(tmp);
	sharedmount_release(s, name);
	return CTL_OK;
}

int cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	bool force = false;
	if (parse_force(argc, argv, &force, 1, "rm [--force] NAME") < 0)
		return CTL_USAGE;
	const char *name = argv[optind];
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "rm");
	if (!ctr)
		return CTL_FAIL;
	int rc = CTL_FAIL;
	if (store_lock(&s) == 0)
		rc = rm_locked(&s, name, force);
	json_decref(ctr);
	store_unlock(&s);
	store_close(&s);
	return rc;
}
