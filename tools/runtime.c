/* The programs a container needs: layerfs, fusermount3/umount, runc/crun. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"

int rt_spawn(char *const argv[], int stdout_fd)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (stdout_fd >= 0 && stdout_fd != STDOUT_FILENO)
			dup2(stdout_fd, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "layerctl: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* True when /proc/self/mountinfo has a mount whose mountpoint is MNT. */
static bool is_mountpoint(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);
		for (int i = 1; tok && i < 5; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape_octal(tok);
		found = strcmp(tok, mnt) == 0;
	}
	free(line);
	fclose(f);
	return found;
}

enum rt_mount_state rt_mount_state(const char *mnt)
{
	if (!is_mountpoint(mnt))
		return RT_UNMOUNTED;
	/* statfs always asks the daemon (stat may be answered from the
	 * kernel's attribute cache): ENOTCONN means it is gone. */
	struct statfs sf;
	if (statfs(mnt, &sf) < 0 && errno == ENOTCONN)
		return RT_DEAD;
	return RT_MOUNTED;
}

const char *rt_mount_state_name(enum rt_mount_state st)
{
	switch (st) {
	case RT_MOUNTED: return "mounted";
	case RT_DEAD: return "dead-mount";
	default: return "created";
	}
}

int rt_container_file(const struct store *s, const char *name, const char *leaf,
		      char *buf, size_t size)
{
	char dir[PATH_MAX];
	int rc = store_container_path(s, name, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	int n = snprintf(buf, size, "%s/%s", dir, leaf);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* $LAYERFS_BIN, else next to this binary (the build tree's ../layerfs, an
 * installed ../sbin/layerfs or ./layerfs), else "layerfs" from PATH. */
static void find_layerfs(char *buf, size_t size)
{
	const char *env = getenv("LAYERFS_BIN");
	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		const char *dir = dirname(self);
		static const char *const rel[] = { "../layerfs", "../sbin/layerfs", "layerfs" };
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			int k = snprintf(buf, size, "%s/%s", dir, rel[i]);
			if (k > 0 && (size_t)k < size && access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, size, "layerfs");
}

/* Appends PATH=PERM to the br= list, escaping ':' and '\\' (layerfs's only
 * escapes). ',' would end the -o option: refused. */
static int br_append(char **br, size_t *len, const char *path, const char *perm)
{
	if (strchr(path, ',')) {
		fprintf(stderr, "layerctl: branch path %s contains ',', which layerfs options cannot carry\n",
			path);
		return -1;
	}
	size_t need = *len + 2 * strlen(path) + strlen(perm) + 3;
	char *nb = realloc(*br, need);
	if (!nb)
		return -1;
	*br = nb;
	char *w = nb + *len;
	if (*len)
		*w++ = ':';
	for (const char *r = path; *r; r++) {
		if (*r == ':' || *r == '\\')
			*w++ = '\\';
		*w++ = *r;
	}
	w += sprintf(w, "=%s", perm);
	*len = (size_t)(w - nb);
	return 0;
}

/* "br=RW=rw:INIT=ro+wh:L_N=ro+wh:...:L_1=ro+wh" for the container. */
static char *branch_option(const struct store *s, const char *name, json_t *container)
{
	char *br = strdup("");
	size_t len = 0;
	char path[PATH_MAX];
	json_t *layers = json_object_get(container, "layers");
	if (!br || !json_is_array(layers))
		goto fail;
	if (rt_container_file(s, name, "rw", path, sizeof(path)) < 0 ||
	    br_append(&br, &len, path, "rw") < 0 ||
	    rt_container_file(s, name, "init", path, sizeof(path)) < 0 ||
	    br_append(&br, &len, path, "ro+wh") < 0)
		goto fail;
	for (size_t i = json_array_size(layers); i-- > 0;) {
		char hex[65], dir[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, i));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, dir, sizeof(dir)) < 0) {
			fprintf(stderr, "layerctl: container %s: bad layer id in container.json\n", name);
			goto fail;
		}
		int k = snprintf(path, sizeof(path), "%s/diff", dir);
		if (k < 0 || (size_t)k >= sizeof(path) || br_append(&br, &len, path, "ro+wh") < 0)
			goto fail;
		if (!store_has_layer(s, hex)) {
			fprintf(stderr, "layerctl: container %s: layer %s is missing from the store\n",
				name, hex);
			goto fail;
		}
	}
	/* nodev unless container.json says "dev": true (layerctl mount --dev):
	 * an image's device nodes stay inert on the host; the runtime gives
	 * the container its own /dev. setuid files keep working. */
	bool dev = json_is_true(json_object_get(container, "dev"));
	char *opt;
	if (asprintf(&opt, "br=%s,allow_other%s", br, dev ? "" : ",nodev") < 0)
		goto fail;
	free(br);
	return opt;
fail:
	free(br);
	return NULL;
}

int rt_mount(const struct store *s, const char *name, json_t *container)
{
	char mnt[PATH_MAX], bin[PATH_MAX];
	if (rt_container_file(s, name, "mnt", mnt, sizeof(mnt)) < 0)
		return -1;
	switch (rt_mount_state(mnt)) {
	case RT_MOUNTED:
		return 1;
	case RT_DEAD:
		fprintf(stderr, "layerctl: %s: the layerfs daemon of this mount is gone "
			"(transport endpoint not connected); run: layerctl umount --force %s\n",
			mnt, name);
		return -1;
	default:
		break;
	}
	char *opt = branch_option(s, name, container);
	if (!opt)
		return -1;
	find_layerfs(bin, sizeof(bin));
	char *argv[] = { bin, mnt, "-o", opt, NULL };
	int rc = rt_spawn(argv, STDERR_FILENO);
	free(opt);
	if (rc != 0) {
		fprintf(stderr, "layerctl: %s exited with status %d; %s is not mounted\n", bin, rc, mnt);
		return -1;
	}
	if (rt_mount_state(mnt) != RT_MOUNTED) {
		fprintf(stderr, "layerctl: %s returned but %s is not a live mount\n", bin, mnt);
		return -1;
	}
	return 0;
}

static int run_quiet(char *const argv[])
{
	return rt_spawn(argv, STDERR_FILENO);
}

int rt_umount(const char *mnt, bool force)
{
	enum rt_mount_state st = rt_mount_state(mnt);
	if (st == RT_UNMOUNTED)
		return 0;
	char *fu[] = { "fusermount3", "-u", (char *)mnt, NULL };
	if (run_quiet(fu) == 0 && rt_mount_state(mnt) == RT_UNMOUNTED)
		return 0;
	if (!force) {
		fprintf(stderr, "layerctl: cannot unmount %s%s; --force unmounts it lazily\n", mnt,
			st == RT_DEAD ? " (its layerfs daemon is gone)" : "");
		return -1;
	}
	char *lazy[] = { "umount", "-l", (char *)mnt, NULL };
	char *fuz[] = { "fusermount3", "-u", "-z", (char *)mnt, NULL };
	if (run_quiet(lazy) != 0)
		run_quiet(fuz);
	if (rt_mount_state(mnt) != RT_UNMOUNTED) {
		fprintf(stderr, "layerctl: %s is still mounted after umount -l\n", mnt);
		return -1;
	}
	return 0;
}

int rt_running_pid(const struct store *s, const char *name)
{
	char path[PATH_MAX];
	if (rt_container_file(s, name, "run.pid", path, sizeof(path)) < 0)
		return 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int pid = 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	return pid;
}

static bool in_path(const char *prog, char *buf, size_t size)
{
	if (strchr(prog, '/')) {
		snprintf(buf, size, "%s", prog);
		return access(buf, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *dirs = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	bool found = false;
	char *save = NULL;
	for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		int k = snprintf(buf, size, "%s/%s", d, prog);
		found = k > 0 && (size_t)k < size && access(buf, X_OK) == 0;
	}
	free(dirs);
	return found;
}

int rt_find_runtime(char *buf, size_t size)
{
	const char *env = getenv("LAYERCTL_RUNTIME");
	if (env && *env)
		return in_path(env, buf, size) ? 0 : -ENOENT;
	if (in_path("runc", buf, size) || in_path("crun", buf, size))
		return 0;
	return -ENOENT;
}

void rt_run_argv(const char *runtime, const char *bundle, const char *id, char *argv[6])
{
	argv[0] = (char *)runtime;
	argv[1] = "run";
	argv[2] = "--bundle";
	argv[3] = (char *)bundle;
	argv[4] = (char *)id;
	argv[5] = NULL;
}

/* cgroup v1 at /sys/fs/cgroup with a cgroup2 at /sys/fs/cgroup/unified. */
static bool hybrid_cgroups(void)
{
	struct statfs top, uni;
	return statfs("/sys/fs/cgroup", &top) == 0 && top.f_type != CGROUP2_SUPER_MAGIC &&
	       statfs("/sys/fs/cgroup/unified", &uni) == 0 && uni.f_type == CGROUP2_SUPER_MAGIC;
}

static void hide_unified_cgroup(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
		fprintf(stderr, "layerctl: warning: cannot hide /sys/fs/cgroup/unified from crun: %s\n",
			strerror(errno));
}

int rt_run_container(const char *runtime, const char *bundle, const char *id)
{
	char *del[] = { (char *)runtime, "delete", "--force", (char *)id, NULL };
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) {   /* quiet: there is usually nothing to delete */
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execv(runtime, del);
		_exit(127);
	}
	if (devnull >= 0)
		close(devnull);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	const char *base = strrchr(runtime, '/');
	bool crun = strcmp(base ? base + 1 : runtime, "crun") == 0;
	char *argv[6];
	rt_run_argv(runtime, bundle, id, argv);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		if (crun && hybrid_cgroups())
			hide_unified_cgroup();
		execv(runtime, argv);
		fprintf(stderr, "layerctl: cannot run %s: %s\n", runtime, strerror(errno));
		_exit(127);
	}
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (pid < 0 || status == -1)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
