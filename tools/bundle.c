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
#include "caps.h"
#include "layerfs/pathutil.h"
#include "layerfs/union.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

static json_t *default_mounts(bool privileged)
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
	json_array_append_new(m, mount_entry("/sys", "sysfs", "sysfs",
					     privileged ? "nosuid,noexec,nodev" : "nosuid,noexec,nodev,ro"));
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


/* Entrypoint + Cmd as docker makes them: the command after the image
 * replaces Cmd; --entrypoint replaces Entrypoint and drops the image's
 * Cmd ("" clears it). */
static json_t *process_args(json_t *cfg, const struct create_opts *o)
{
	json_t *a = json_array(), *e;
	size_t i;
	if (o && o->entrypoint) {
		if (*o->entrypoint)
			json_array_append_new(a, json_string(o->entrypoint));
	} else {
		json_array_foreach(json_object_get(cfg, "Entrypoint"), i, e)
			if (json_is_string(e))
				json_array_append(a, e);
	}
	if (o && o->ncmd > 0) {
		for (int k = 0; k < o->ncmd; k++)
			json_array_append_new(a, json_string(o->cmd[k]));
	} else if (!o || !o->entrypoint) {
		json_array_foreach(json_object_get(cfg, "Cmd"), i, e)
			if (json_is_string(e))
				json_array_append(a, e);
	}
	return a;
}

/* Sets KEY=VALUE in an env array, replacing KEY's value. */
static void env_set(json_t *env, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	json_t *e;
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, kv, klen) == 0 && s[klen] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static json_t *process_env(json_t *cfg, const struct create_opts *o)
{
	json_t *env = json_array(), *e;
	size_t i;
	json_array_foreach(json_object_get(cfg, "Env"), i, e)
		if (json_string_value(e) && strchr(json_string_value(e), '='))
			env_set(env, json_string_value(e));
	for (size_t k = 0; o && k < o->nenv; k++)
		env_set(env, o->env[k]);
	bool has_path = false;
	json_array_foreach(env, i, e)
		has_path = has_path || strncmp(json_string_value(e), "PATH=", 5) == 0;
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	return env;
}

/* Our own bounding set (CapBnd), which "every capability" means. */
static unsigned long long bounding_set(void)
{
	unsigned long long mask = ~0ULL;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapBnd: %llx", &mask) == 1)
			break;
	if (f)
		fclose(f);
	return mask;
}

static json_t *capabilities(const struct create_opts *o)
{
	const char *bad = NULL;
	unsigned long long avail = bounding_set();
	json_t *list = o ? caps_resolve(o->cap_add, o->ncap_add, o->cap_drop, o->ncap_drop,
					 o->privileged, avail, &bad)
			 : caps_resolve(NULL, 0, NULL, 0, false, avail, &bad);
	if (!list)
		list = json_array();   /* createopts checked the names */
	json_t *c = json_object();
	static const char *const sets[] = { "bounding", "effective", "permitted" };
	for (size_t i = 0; i < N(sets); i++)
		json_object_set_new(c, sets[i], json_deep_copy(list));
	json_decref(list);
	return c;
}

static json_t *linux_section(const struct create_opts *o)
{
	json_t *ns = json_array();
	for (size_t i = 0; i < N(namespaces); i++)
		json_array_append_new(ns, json_pack("{s:s}", "type", namespaces[i]));
	char err[MSPEC_ERR_SIZE];
	int prop = o ? mountspec_root_propagation(o->mounts, o->nmounts, o->root_propagation, err)
		     : MSPEC_RSLAVE;
	bool priv = o && o->privileged;
	json_t *lx = json_pack("{s:o, s:s, s:o, s:o}", "namespaces", ns, "rootfsPropagation",
			       mountspec_propagation_name(prop < 0 ? MSPEC_RSLAVE : prop),
			       "maskedPaths", string_array(masked_paths, priv ? 0 : N(masked_paths)),
			       "readonlyPaths",
			       string_array(readonly_paths, priv ? 0 : N(readonly_paths)));
	if (priv)   /* every device the cgroup can allow */
		json_object_set_new(lx, "resources",
				    json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 1, "access",
					      "rwm"));
	return lx;
}

static size_t depth(json_t *mount)
{
	const char *d = json_string_value(json_object_get(mount, "destination"));
	size_t n = 0;
	for (; d && *d; d++)
		n += *d == '/';
	return n;
}

/* The default mounts the user's do not replace, then the user's, a
 * parent before what is mounted below it (as docker sorts them). */
static json_t *all_mounts(bool privileged, json_t *user)
{
	json_t *out = json_array(), *defaults = default_mounts(privileged), *m, *u;
	size_t i, k;
	json_array_foreach(defaults, i, m) {
		bool replaced = false;
		json_array_foreach(user, k, u)
			replaced = replaced || json_equal(json_object_get(u, "destination"),
							  json_object_get(m, "destination"));
		if (!replaced)
			json_array_append(out, m);
	}
	json_decref(defaults);
	size_t base = json_array_size(out);
	json_array_foreach(user, i, u) {
		size_t at = json_array_size(out);
		while (at > base && depth(json_array_get(out, at - 1)) > depth(u))
			at--;
		json_array_insert(out, at, u);
	}
	return out;
}

json_t *bundle_config(const struct store *s, json_t *image, json_t *container,
		      const char *name, const struct create_opts *o, json_t *mounts)
{
	json_t *cfg = json_object_get(json_object_get(image, "config"), "config");
	const char *cwd = o && o->workdir ? o->workdir
			  : json_string_value(json_object_get(cfg, "WorkingDir"));
	const char *user = o && o->user ? o->user : json_string_value(json_object_get(cfg, "User"));
	const char *hostname = o && o->hostname ? o->hostname : name;
	json_t *rlimits = json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE",
				    "hard", 1024, "soft", 1024);
	json_t *process = json_pack(
		"{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:b}", "terminal", 0,
		"user", user_entry(s, json_object_get(container, "layers"), user),
		"args", process_args(cfg, o), "env", process_env(cfg, o),
		"cwd", cwd && *cwd ? cwd : "/", "capabilities", capabilities(o), "rlimits", rlimits,
		"noNewPrivileges", !(o && o->privileged));
	return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2",
			 "process", process, "root", "path", "mnt", "readonly", o && o->read_only,
			 "hostname", hostname, "mounts", all_mounts(o && o->privileged, mounts),
			 "linux", linux_section(o));
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

json_t *bundle_load(const char *dir, const char *cmd)
{
	char path[PATH_MAX];
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	json_t *cfg = json_load_file(path, 0, &jerr);
	if (!cfg)
		fprintf(stderr, "layerctl: %s: %s: %s (line %d)\n", cmd, path, jerr.text, jerr.line);
	else if (!json_is_object(cfg) || !json_is_object(json_object_get(cfg, "process"))) {
		fprintf(stderr, "layerctl: %s: %s: no \"process\" object\n", cmd, path);
		json_decref(cfg);
		cfg = NULL;
	}
	return cfg;
}

bool bundle_mount_is_bind(json_t *mount)
{
	const char *type = json_string_value(json_object_get(mount, "type"));
	if (type && strcmp(type, "bind") == 0)
		return true;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(mount, "options"), i, o) {
		const char *s = json_string_value(o);
		if (s && (!strcmp(s, "bind") || !strcmp(s, "rbind")))
			return true;
	}
	return false;
}

int bundle_check_propagation(json_t *cfg, const char *cmd)
{
	const char *rp = json_string_value(json_object_get(json_object_get(cfg, "linux"),
							   "rootfsPropagation"));
	int root = rp ? mountspec_propagation_parse(rp) : -1;
	bool root_shared = root == MSPEC_RSHARED || root == MSPEC_SHARED;
	bool root_slave = root == MSPEC_RSLAVE || root == MSPEC_SLAVE;
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(cfg, "mounts"), i, m) {
		int p = bundle_mount_is_bind(m) ? mountspec_oci_propagation(m) : -1;
		const char *dst = json_string_value(json_object_get(m, "destination"));
		if (p < 0)
			continue;
		if (mountspec_needs_shared_source(p) && !root_shared) {
			fprintf(stderr, "layerctl: %s: config.json: the %s mount at %s needs "
				"linux.rootfsPropagation rshared\n", cmd, mountspec_propagation_name(p),
				dst ? dst : "?");
			return -1;
		}
		if (mountspec_needs_propagating_source(p) && !root_shared && !root_slave) {
			fprintf(stderr, "layerctl: %s: config.json: the %s mount at %s needs "
				"linux.rootfsPropagation rslave or rshared\n", cmd,
				mountspec_propagation_name(p), dst ? dst : "?");
			return -1;
		}
	}
	return 0;
}

int bundle_for_run(json_t *cfg, const char *ctrdir, char **args, int nargs, bool terminal,
		   char *out, size_t size)
{
	json_t *copy = json_deep_copy(cfg);
	json_t *process = json_object_get(copy, "process");
	if (nargs > 0) {
		json_t *a = json_array();
		for (int i = 0; i < nargs; i++)
			json_array_append_new(a, json_string(args[i]));
		json_object_set_new(process, "args", a);
	}
	if (terminal)
		json_object_set_new(process, "terminal", json_true());
	json_t *root = json_object_get(copy, "root");
	const char *path = json_string_value(json_object_get(root, "path"));
	if (path && path[0] != '/') {
		char abs[PATH_MAX];
		snprintf(abs, sizeof(abs), "%s/%s", ctrdir, path);
		json_object_set_new(root, "path", json_string(abs));
	}
	int n = snprintf(out, size, "%s/.run", ctrdir);
	int rc = n < 0 || (size_t)n >= size ? -1 : 0;
	if (rc == 0 && mkdir(out, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "layerctl: run: cannot make %s: %s\n", out, strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = bundle_write(out, copy);
	json_decref(copy);
	return rc;
}
