/* layerctl create / rm / ps: a container's life in the store.
 *
 * A container is containers/<name>/ with init/ (docker's "-init" layer: the
 * files a runtime expects to find and that belong to this container, not
 * the image), rw/ (the writable layer, empty at first), mnt/ (the mountpoint),
 * config.json (the OCI runtime config) and container.json. It is built
 * under tmp/ and renamed into place. */
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

#include "layerfs/fdio.h"
#include "bundle.h"
#include "layerctl.h"
#include "runtime.h"
#include "store.h"

static int write_file(int dirfd, const char *rel, const char *text, mode_t mode)
{
	int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = lfs_write_all(fd, text, strlen(text));
	if (fchmod(fd, mode) < 0 || close(fd) < 0)
		rc = -errno;
	return rc;
}

/* The host's resolv.conf without loopback nameservers (a resolver on the
 * host's 127.0.0.x is not reachable from the container's network
 * namespace); public resolvers when no nameserver is left. */
static char *resolv_conf(void)
{
	char *out = NULL, *line = NULL;
	size_t outlen = 0, cap = 0;
	FILE *mem = open_memstream(&out, &outlen);
	FILE *f = fopen("/etc/resolv.conf", "re");
	bool have_ns = false;
	while (mem && f && getline(&line, &cap, f) > 0) {
		char ns[64];
		if (sscanf(line, " nameserver %63s", ns) == 1) {
			if (!strncmp(ns, "127.", 4) || !strcmp(ns, "::1"))
				continue;
			have_ns = true;
		}
		fputs(line, mem);
	}
	if (mem && !have_ns)
		fputs("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", mem);
	free(line);
	if (f)
		fclose(f);
	if (mem)
		fclose(mem);
	return out;
}

/* init/: etc/{hosts,hostname,resolv.conf,mtab -> /proc/mounts},
 * dev/{console,pts/,shm/,mqueue/}, proc/, sys/ (the last three are mount
 * points the runtime needs, kept out of rw/ as docker's init layer does). */
static int make_init(int dirfd, const char *name)
{
	static const char *const dirs[] = { "init", "init/etc", "init/dev", "init/dev/pts",
					    "init/dev/shm", "init/dev/mqueue", "init/proc",
					    "init/sys" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(dirfd, dirs[i], 0755) < 0 || fchmodat(dirfd, dirs[i], 0755, 0) < 0)
			return -errno;
	char hosts[512], hostname[256];
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n", name);
	snprintf(hostname, sizeof(hostname), "%s\n", name);
	char *resolv = resolv_conf();
	int rc = write_file(dirfd, "init/etc/hosts", hosts, 0644);
	if (!rc)
		rc = write_file(dirfd, "init/etc/hostname", hostname, 0644);
	if (!rc)
		rc = write_file(dirfd, "init/etc/resolv.conf", resolv ? resolv : "", 0644);
	free(resolv);
	if (!rc)
		rc = write_file(dirfd, "init/dev/console", "", 0755);
	if (!rc && symlinkat("/proc/mounts", dirfd, "init/etc/mtab") < 0)
		rc = -errno;
	return rc;
}

/* Fills TMP (a fresh directory under tmp/) with the whole container. */
static int build_container(const struct store *s, const char *tmp, const char *name,
			   const char *id_hex, json_t *image)
{
	int dirfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -1;
	int rc = make_init(dirfd, name);
	if (!rc && (mkdirat(dirfd, "rw", 0755) < 0 || mkdirat(dirfd, "mnt", 0755) < 0 ||
		    fchmodat(dirfd, "rw", 0755, 0) < 0 || fchmodat(dirfd, "mnt", 0755, 0) < 0))
		rc = -errno;
	close(dirfd);
	if (rc) {
		fprintf(stderr, "layerctl: create: %s: %s\n", tmp, strerror(-rc));
		return -1;
	}
	char created[64], image_id[80], path[PATH_MAX + 32];
	store_now_rfc3339(created);
	snprintf(image_id, sizeof(image_id), "sha256:%s", id_hex);
	json_t *layers = json_object_get(image, "layers");
	json_t *ctr = json_pack("{s:s, s:s, s:O, s:s}", "name", name, "image", image_id,
				"layers", layers ? layers : json_array(), "created", created);
	json_t *cfg = ctr ? bundle_config(s, image, ctr, name, NULL, 0, false) : NULL;
	int n = snprintf(path, sizeof(path), "%s/container.json", tmp);
	rc = cfg && n > 0 && (size_t)n < sizeof(path) && json_dump_file(ctr, path, JSON_INDENT(2)) == 0 && bundle_write(tmp, cfg) == 0
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

static int create_locked(struct store *s, const char *ref, const char *name)
{
	char id_hex[65], dst[PATH_MAX], tmp[PATH_MAX];
	int rc = store_image_find(s, ref, id_hex);
	if (rc < 0) {
		char why[320];
		store_image_find_reason(ref, rc, why, sizeof(why));
		fprintf(stderr, "layerctl: create: image %s: %s\n", ref, why);
		return CTL_FAIL;
	}
	struct stat st;
	if (store_container_path(s, name, dst, sizeof(dst)) < 0 || lstat(dst, &st) == 0) {
		fprintf(stderr, "layerctl: create: a container named %s exists already\n", name);
		return CTL_FAIL;
	}
	json_t *image = store_image_load(s, id_hex);
	if (!image || store_tmpdir(s, "create", tmp, sizeof(tmp)) < 0) {
		fprintf(stderr, "layerctl: create: cannot read image %s or make a temporary directory\n", id_hex);
		json_decref(image);
		return CTL_FAIL;
	}
	rc = build_container(s, tmp, name, id_hex, image);
	json_decref(image);
	if (rc == 0 && rename(tmp, dst) < 0) {
		fprintf(stderr, "layerctl: create: rename into %s: %s\n", dst, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
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
	if (parse_force(argc, argv, NULL, 2, "create IMAGE NAME") < 0)
		return CTL_USAGE;
	const char *ref = argv[optind], *name = argv[optind + 1];
	if (!store_valid_name(name)) {
		fprintf(stderr, "layerctl: create: invalid container name %s "
			"(letters, digits, '_', '.', '-'; starting with a letter or digit)\n", name);
		return CTL_FAIL;
	}
	struct store s;
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	int rc = store_lock(&s) < 0 ? CTL_FAIL : create_locked(&s, ref, name);
	store_unlock(&s);
	store_close(&s);
	if (rc == CTL_OK && !ctl->quiet)
		printf("%s\n", name);
	return rc;
}

static int rm_locked(struct store *s, const char *name, bool force)
{
	char dir[PATH_MAX], mnt[PATH_MAX], tmp[PATH_MAX];
	if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) < 0 ||
	    store_container_path(s, name, dir, sizeof(dir)) < 0)
		return CTL_FAIL;
	if (rt_running_pid(s, name)) {
		fprintf(stderr, "layerctl: rm: container %s is running\n", name);
		return CTL_FAIL;
	}
	enum rt_mount_state st = rt_mount_state(mnt);
	if (st != RT_UNMOUNTED && !force) {
		fprintf(stderr, "layerctl: rm: container %s is %s; unmount it first or use --force\n",
			name, st == RT_DEAD ? "mounted (its layerfs daemon is gone)" : "mounted");
		return CTL_FAIL;
	}
	if (st != RT_UNMOUNTED && rt_umount(mnt, true) < 0)
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

/* ps: NAME IMAGE STATE CREATED, one line per container. */
static int ps_line(const char *name, json_t *ctr, void *arg)
{
	const struct store *s = arg;
	char mnt[PATH_MAX], hex[65], image[160];
	const char *id = json_string_value(json_object_get(ctr, "image"));
	snprintf(image, sizeof(image), "%.12s", id && store_digest_hex(id, hex) ? hex : "?");
	json_t *img = id && store_digest_hex(id, hex) ? store_image_load(s, hex) : NULL;
	const char *tag = json_string_value(json_array_get(json_object_get(img, "names"), 0));
	if (tag)
		store_name_familiar(tag, image, sizeof(image));
	json_decref(img);
	const char *state = "created";
	if (rt_running_pid(s, name))
		state = "running";
	else if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) == 0)
		state = rt_mount_state_name(rt_mount_state(mnt));
	const char *created = json_string_value(json_object_get(ctr, "created"));
	printf("%-20s %-30s %-10s %s\n", name, image, state, created ? created : "-");
	return 0;
}

int cmd_ps(struct ctl *ctl, int argc, char **argv)
{
	if (parse_force(argc, argv, NULL, 0, "ps") < 0)
		return CTL_USAGE;
	struct store s;
	if (store_open(&s, ctl->store_root, false) < 0)
		return CTL_FAIL;
	printf("%-20s %-30s %-10s %s\n", "NAME", "IMAGE", "STATE", "CREATED");
	int rc = store_container_each(&s, ps_line, &s);
	store_close(&s);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}
