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

#include "ctrstate.h"
#include "mountinfo.h"
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

/* What is mounted on MNT: 0 nothing, 1 a FUSE mount (the rootfs), 2
 * something else (the private guard bind below, see guard_mountpoint). */
static int mounted_on(const char *mnt)
{
	struct mi_table t;
	if (mountinfo_read(&t, NULL) < 0)
		return 0;
	const struct mi_entry *top = mountinfo_top_at(&t, mnt);
	int what = !top ? 0 : strncmp(top->fstype, "fuse", 4) == 0 ? 1 : 2;
	mountinfo_free(&t);
	return what;
}

enum rt_mount_state rt_mount_state(const char *mnt)
{
	if (mounted_on(mnt) != 1)
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
	 * the container its own /dev. setuid files keep working. A chmod or
	 * chown copies metadata only: commit, export and diff know such
	 * copies (layerfs/metacopy.h). */
	bool dev = json_is_true(json_object_get(container, "dev"));
	char *opt;
	if (asprintf(&opt, "br=%s,allow_other,metacopy=on%s", br, dev ? "" : ",nodev") < 0)
		goto fail;
	free(br);
	return opt;
fail:
	free(br);
	return NULL;
}

/* A rootfs mount must not spread into other mount namespaces. Made on a
 * shared mount (/ on a systemd host), it would be copied at once into
 * every peer of that mount; so then MNT is first bound onto itself and the
 * bind made private: the rootfs goes on top of that guard, and only the
 * guard (a plain directory) is copied. Needs CAP_SYS_ADMIN (else a no-op:
 * an unprivileged user has no peers to spread to). */
static void guard_mountpoint(const char *mnt)
{
	struct mi_table t;
	if (mountinfo_read(&t, NULL) < 0)
		return;
	const struct mi_entry *holder = mountinfo_holder(&t, mnt);
	bool shared = holder && holder->shared;
	mountinfo_free(&t);
	if (!shared || mount(mnt, mnt, NULL, MS_BIND, NULL) < 0)
		return;
	if (mount(NULL, mnt, NULL, MS_PRIVATE, NULL) < 0)
		umount2(mnt, UMOUNT_NOFOLLOW);
}

/* The guard goes with the rootfs (its unmount reaches the peers that got
 * a copy). */
static void drop_guard(const char *mnt)
{
	if (mounted_on(mnt) == 2)
		umount2(mnt, UMOUNT_NOFOLLOW);
}

/* The rootfs mount itself is private too: mounts made on it (a runtime's
 * /proc, /dev, volumes) stay where they are made, and a namespace made
 * later gets a copy that is no peer of it. */
static void make_private(const char *mnt)
{
	if (mount(NULL, mnt, NULL, MS_PRIVATE, NULL) < 0 && errno != EPERM)
		fprintf(stderr, "layerctl: warning: cannot make %s a private mount: %s\n", mnt,
			strerror(errno));
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
	guard_mountpoint(mnt);
	int rc = rt_spawn(argv, STDERR_FILENO);
	free(opt);
	if (rc != 0) {
		fprintf(stderr, "layerctl: %s exited with status %d; %s is not mounted\n", bin, rc, mnt);
		drop_guard(mnt);
		return -1;
	}
	if (rt_mount_state(mnt) != RT_MOUNTED) {
		fprintf(stderr, "layerctl: %s returned but %s is not a live mount\n", bin, mnt);
		drop_guard(mnt);
		return -1;
	}
	make_private(mnt);
	return 0;
}

static int run_quiet(char *const argv[])
{
	return rt_spawn(argv, STDERR_FILENO);
}

int rt_umount(const char *mnt, bool force)
{
	enum rt_mount_state st = rt_mount_state(mnt);
	if (st == RT_UNMOUNTED) {
		drop_guard(mnt);
		return 0;
	}
	char *fu[] = { "fusermount3", "-u", (char *)mnt, NULL };
	if (run_quiet(fu) == 0 && rt_mount_state(mnt) == RT_UNMOUNTED) {
		drop_guard(mnt);
		return 0;
	}
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
	drop_guard(mnt);
	return 0;
}

int rt_running_pid(const struct store *s, const char *name)
{
	struct ctr_run r;
	return ctr_run_read(s, name, &r) == 0 ? r.pid : 0;
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

int rt_find_runtime(const char *name, char *buf, size_t size)
{
	const char *env = getenv("LAYERCTL_RUNTIME");
	if (name && *name)
		return in_path(name, buf, size) ? 0 : -ENOENT;
	if (env && *env)
		return in_path(env, buf, size) ? 0 : -ENOENT;
	if (in_path("runc", buf, size) || in_path("crun", buf, size))
		return 0;
	return -ENOENT;
}

bool rt_is_crun(const char *runtime)
{
	const char *base = strrchr(runtime, '/');
	return strcmp(base ? base + 1 : runtime, "crun") == 0;
}

/* cgroup v1 at /sys/fs/cgroup with a cgroup2 at /sys/fs/cgroup/unified. */
static bool hybrid_cgroups(void)
{
	struct statfs top, uni;
	return statfs("/sys/fs/cgroup", &top) == 0 && top.f_type != CGROUP2_SUPER_MAGIC &&
	       statfs("/sys/fs/cgroup/unified", &uni) == 0 && uni.f_type == CGROUP2_SUPER_MAGIC;
}

/* crun refuses a hybrid hierarchy whose cgroup2 has controllers. It runs
 * in a mount namespace of its own without /sys/fs/cgroup/unified, and
 * that is the only difference: every other mount keeps its propagation
 * (a shared volume source stays a peer of the host's, so an rshared
 * volume works as under runc). Only /sys/fs/cgroup becomes a slave, so
 * the unmount below it does not reach the host. */
static void hide_unified_cgroup(void)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/sys/fs/cgroup", NULL, MS_SLAVE, NULL) < 0 ||
	    umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
		fprintf(stderr, "layerctl: warning: cannot hide /sys/fs/cgroup/unified from crun: %s\n",
			strerror(errno));
}

pid_t rt_runtime_spawn(const char *runtime, char *const args[], const int fds[3])
{
	size_t n = 0;
	while (args[n])
		n++;
	char **argv = calloc(n + 2, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[0] = (char *)runtime;
	memcpy(argv + 1, args, n * sizeof(*argv));
	bool crun = rt_is_crun(runtime) && hybrid_cgroups();
	pid_t pid = fork();
	if (pid == 0) {
		/* a terminal's ^C and ^\\ are the runtime's to pass on */
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		for (int i = 0; fds && i < 3; i++)
			if (fds[i] >= 0 && fds[i] != i)
				dup2(fds[i], i);
		if (crun)
			hide_unified_cgroup();
		execv(runtime, argv);
		fprintf(stderr, "layerctl: cannot run %s: %s\n", runtime, strerror(errno));
		_exit(127);
	}
	int err = errno;
	free(argv);
	return pid < 0 ? -err : pid;
}

int rt_wait(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int rt_runtime_call(const char *runtime, char *const args[], bool quiet)
{
	int devnull = quiet ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
	int fds[3] = { devnull, devnull, devnull };
	pid_t pid = rt_runtime_spawn(runtime, args, fds);
	if (devnull >= 0)
		close(devnull);
	return pid < 0 ? -1 : rt_wait(pid);
}

void rt_delete_stale(const char *runtime, const char *id)
{
	char *del[] = { "delete", "--force", (char *)id, NULL };
	rt_runtime_call(runtime, del, true);   /* quiet: there is usually nothing to delete */
}

int rt_run_container(const char *runtime, const char *bundle, const char *id)
{
	rt_delete_stale(runtime, id);
	char *args[] = { "run", "--bundle", (char *)bundle, (char *)id, NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	pid_t pid = rt_runtime_spawn(runtime, args, NULL);
	int status = pid < 0 ? -1 : rt_wait(pid);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	return status;
}
