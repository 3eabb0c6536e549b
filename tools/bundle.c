/* config.json of a container's OCI runtime bundle. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};
static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
static const char *const namespaces[] = { "pid", "network", "ipc", "uts", "mount" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static json_t *string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *source,
			   const char *opts)
{
	json_t *options = json_array();
	char *copy = strdup(opts), *save = NULL;
	for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save))
		json_array_append_new(options, json_string(o));
	free(copy);
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type,
			 "source", source, "options", options);
}

static json_t *default_mounts(void)
{
	json_t *m = json_array();
	json_array_append_new(m, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(m, mount_entry("/dev", "tmpfs", "tmpfs",
					     "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(m, mount_entry("/dev/pts", "devpts", "devpts",
					     "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(m, mount_entry("/dev/shm", "tmpfs", "shm",
					     "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(m, mount_entry("/dev/mqueue", "mqueue", "mqueue",
					     "nosuid,noexec,nodev"));
	json_array_append_new(m, mount_entry("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
	return m;
}

/* Opens REL (e.g. "etc/passwd") as the merged image would show it (the
 * union rule over the image's layers), never through a symlink (the
 * layers are untrusted). LAYERS: chain ids bottom first. A FILE, or NULL
 * when the image has no such regular file. */
static FILE *layer_file_open(const struct store *s, json_t *layers, const char *rel)
{
	size_t n = json_array_size(layers);
	int *fd = calloc(n ? n : 1, sizeof(*fd));
	unsigned *out = calloc(n ? n : 1, sizeof(*out));
	if (!fd || !out)
		abort();
	size_t opened = 0;
	for (; opened < n; opened++) {
		char hex[65], path[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, n - 1 - opened));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, path, sizeof(path) - 5) < 0)
			break;
		strcat(path, "/diff");
		fd[opened] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd[opened] < 0)
			break;
	}
	FILE *f = NULL;
	struct lfs_union_fds fds = { fd, NULL };
	struct lfs_union_stack stack = { (unsigned)opened, lfs_union_probe_fds, &fds };
	unsigned nout, supplier;
	enum lfs_union_kind kind;
	if (opened == n &&
	    lfs_union_resolve_path(&stack, rel, out, &nout, &supplier, &kind) == 0 &&
	    kind == LFS_UNION_NONDIR) {
		int file = lfs_openat_beneath(fd[supplier], rel, O_RDONLY | O_CLOEXEC, 0, true);
		struct stat st;
		if (file >= 0 && fstat(file, &st) == 0 && S_ISREG(st.st_mode))
			f = fdopen(file, "r");
		if (!f && file >= 0)
			close(file);
	}
	for (size_t i = 0; i < opened; i++)
		close(fd[i]);
	free(fd);
	free(out);
	return f;
}

static bool parse_id(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > 0x7fffffff)
		return false;
	*out = v;
	return true;
}

/* Numeric id of a user name (also its primary group) from etc/passwd. */
static bool lookup_user(FILE *f, const char *user, long *uid, long *gid)
{
	struct passwd *pw;
	while (f && (pw = fgetpwent(f))) {
		if (strcmp(pw->pw_name, user) == 0) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			return true;
		}
	}
	return false;
}

/* The group NAME's gid; with member set, instead collects the gids of the
 * groups listing MEMBER into extra. */
static bool lookup_group(FILE *f, const char *name, long *gid, const char *member, json_t *extra)
{
	struct group *gr;
	while (f && (gr = fgetgrent(f))) {
		if (name && strcmp(gr->gr_name, name) == 0) {
			*gid = gr->gr_gid;
			return true;
		}
		for (char **m = gr->gr_mem; member && m && *m; m++)
			if (strcmp(*m, member) == 0)
				json_array_append_new(extra, json_integer(gr->gr_gid));
	}
	return false;
}

/* process.user from the image's User: "", "uid", "uid:gid", "name",
 * "name:group". Unknown names: uid/gid 0 with a warning. */
static json_t *user_entry(const struct store *s, json_t *layers, const char *spec)
{
	long uid = 0, gid = 0;
	json_t *extra = json_array();
	char *copy = strdup(spec ? spec : "");
	char *grp = copy ? strchr(copy, ':') : NULL;
	if (grp)
		*grp++ = '\0';
	if (copy && *copy && !parse_id(copy, &uid)) {
		FILE *f = layer_file_open(s, layers, "etc/passwd");
		if (!lookup_user(f, copy, &uid, &gid))
			fprintf(stderr, "layerctl: warning: user %s is not in the image's "
				"etc/passwd; running as uid 0\n", copy);
		if (f)
			fclose(f);
		f = layer_file_open(s, layers, "etc/group");
		lookup_group(f, NULL, &gid, copy, extra);
		if (f)
			fclose(f);
	} else if (copy && *copy) {
		gid = 0;
	}
	if (grp && *grp && !parse_id(grp, &gid)) {
		FILE *f = layer_file_open(s, layers, "etc/group");
		if (!lookup_group(f, grp, &gid, NULL, NULL))
			fprintf(stderr, "layerctl: warning: group %s is not in the image's "
				"etc/group; running with gid 0\n", grp);
		if (f)
			fclose(f);
	}
	free(copy);
	json_t *u = json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
	if (json_array_size(extra))
		json_object_set(u, "additionalGids", extra);
	json_decref(extra);
	return u;
}

static json_t *process_args(json_t *cfg, char **args, int nargs)
{
	json_t *a = json_array();
	if (nargs > 0) {
		for (int i = 0; i < nargs; i++)
			json_array_append_new(a, json_string(args[i]));
		return a;
	}
	static const char *const keys[] = { "Entrypoint", "Cmd" };
	for (size_t k = 0; k < N(keys); k++) {
		json_t *v = json_object_get(cfg, keys[k]), *e;
		size_t i;
		json_array_foreach(v, i, e)
			if (json_is_string(e))
				json_array_append(a, e);
	}
	return a;
}

static json_t *process_env(json_t *cfg)
{
	json_t *env = json_array(), *e;
	bool has_path = false;
	size_t i;
	json_array_foreach(json_object_get(cfg, "Env"), i, e) {
		const char *s = json_string_value(e);
		if (!s)
			continue;
		has_path = has_path || strncmp(s, "PATH=", 5) == 0;
		json_array_append(env, e);
	}
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	return env;
}

static json_t *capabilities(void)
{
	json_t *c = json_object();
	static const char *const sets[] = { "bounding", "effective", "permitted" };
	for (size_t i = 0; i < N(sets); i++)
		json_object_set_new(c, sets[i], string_array(default_caps, N(default_caps)));
	return c;
}

static json_t *linux_section(void)
{
	json_t *ns = json_array();
	for (size_t i = 0; i < N(namespaces); i++)
		json_array_append_new(ns, json_pack("{s:s}", "type", namespaces[i]));
	return json_pack("{s:o, s:s, s:o, s:o}", "namespaces", ns, "rootfsPropagation", "private",
			 "maskedPaths", string_array(masked_paths, N(masked_paths)),
			 "readonlyPaths", string_array(readonly_paths, N(readonly_paths)));
}

json_t *bundle_config(const struct store *s, json_t *image, json_t *container,
		      const char *name, char **args, int nargs, bool need_args)
{
	json_t *cfg = json_object_get(json_object_get(image, "config"), "config");
	json_t *argv = process_args(cfg, args, nargs);
	if (need_args && json_array_size(argv) == 0) {
		fprintf(stderr, "layerctl: the image has no Entrypoint or Cmd: give a command "
			"(layerctl run %s CMD...)\n", name);
		json_decref(argv);
		return NULL;
	}
	const char *cwd = json_string_value(json_object_get(cfg, "WorkingDir"));
	json_t *rlimits = json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE",
				    "hard", 1024, "soft", 1024);
	json_t *process = json_pack(
		"{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:b}", "terminal", 0,
		"user", user_entry(s, json_object_get(container, "layers"),
				   json_string_value(json_object_get(cfg, "User"))),
		"args", argv, "env", process_env(cfg), "cwd", cwd && *cwd ? cwd : "/",
		"capabilities", capabilities(), "rlimits", rlimits, "noNewPrivileges", 1);
	return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2",
			 "process", process, "root", "path", "mnt", "readonly", 0,
			 "hostname", name, "mounts", default_mounts(), "linux", linux_section());
}

int bundle_write(const char *dir, json_t *config)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int a = snprintf(tmp, sizeof(tmp), "%s/.config.json.tmp", dir);
	int b = snprintf(dst, sizeof(dst), "%s/config.json", dir);
	if (a < 0 || b < 0 || (size_t)a >= sizeof(tmp) || (size_t)b >= sizeof(dst))
		return -1;
	if (json_dump_file(config, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 ||
	    rename(tmp, dst) < 0) {
		fprintf(stderr, "layerctl: cannot write %s: %s\n", dst, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
