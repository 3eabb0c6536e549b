/* The layer store: see store.h for the layout. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layerfs/fdio.h"
#include "digest.h"

static const char *const store_dirs[] = { "layers", "images", "containers", "tmp" };

static int default_root(char *buf, size_t size)
{
	int n;
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	if (geteuid() == 0)
		n = snprintf(buf, size, "/var/lib/layerctl");
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/layerctl", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, size, "%s/.local/share/layerctl", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p for the store's root. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* tmp/ entries are "<tag>.<pid>.XXXXXX" (store_tmpdir): store_open removes
 * those whose maker is gone, and never what a live layerctl is building, so
 * that two commands can share a store. Names of another form are removed. */
static bool tmp_entry_stale(const char *name)
{
	const char *last = strrchr(name, '.');
	if (last == NULL || last == name)
		return true;
	const char *p = last - 1;
	while (p > name && isdigit((unsigned char)*p))
		p--;
	if (*p != '.' || p + 1 == last)
		return true;
	long pid = strtol(p + 1, NULL, 10);
	if (pid <= 0 || pid == (long)getpid())
		return pid <= 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void clean_tmp(struct store *s)
{
	int fd = openat(s->fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (tmp_entry_stale(de->d_name))
			store_remove_tree(dirfd(d), de->d_name, NULL);
	}
	closedir(d);
}

/* The store is its owner's alone, as docker keeps /var/lib/docker: an
 * image's device nodes and setuid files must not be reachable by other
 * users through it. A store made by an older layerctl (0755) is closed
 * when opened; one we do not own is left as it is, with a warning. */
static void private_mode(int dirfd, const char *name, const char *shown)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode) || (st.st_mode & 077) == 0)
		return;
	/* fchmodat cannot take an O_PATH fd with AT_EMPTY_PATH: go by /proc */
	char proc[64];
	if (name[0] == '\0')
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	int rc = st.st_uid != geteuid() ? -EPERM
		 : name[0] ? (fchmodat(dirfd, name, st.st_mode & 0700, 0) < 0 ? -errno : 0)
		 : (chmod(proc, st.st_mode & 0700) < 0 ? -errno : 0);
	if (rc < 0)
		fprintf(stderr, "layerctl: warning: %s is mode %04o and could not be made 0700 "
			"(%s): other users can reach the images' files\n", shown,
			(unsigned)(st.st_mode & 07777), strerror(-rc));
}

static int open_root(struct store *s, const char *root, bool create)
{
	if (create) {
		int rc = make_dirs(root);
		if (rc < 0)
			return rc;
	}
	char *abs = realpath(root, NULL);
	if (abs == NULL)
		return -errno;
	s->root = abs;
	s->fd = open(abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++) {
		if (create && mkdirat(s->fd, store_dirs[i], 0700) < 0 && errno != EEXIST)
			return -errno;
		struct stat st;
		if (fstatat(s->fd, store_dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	private_mode(s->fd, "", s->root);
	private_mode(s->fd, "layers", "the store's layers/");
	return 0;
}

int store_open(struct store *s, const char *root, bool create)
{
	char def[PATH_MAX];
	s->root = NULL;
	s->fd = s->lockfd = -1;
	int rc = 0;
	if (root == NULL || root[0] == '\0') {
		rc = default_root(def, sizeof(def));
		root = def;
	}
	if (rc == 0)
		rc = open_root(s, root, create);
	if (rc < 0) {
		fprintf(stderr, "layerctl: store %s: %s\n", root, strerror(-rc));
		store_close(s);
		return rc;
	}
	clean_tmp(s);
	return 0;
}

void store_close(struct store *s)
{
	store_unlock(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->root);
	s->root = NULL;
	s->fd = -1;
}

int store_lock(struct store *s)
{
	if (s->lockfd >= 0)
		return 0;
	int fd = openat(s->fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int err = -errno;
			close(fd);
			return err;
		}
	}
	s->lockfd = fd;
	return 0;
}

void store_unlock(struct store *s)
{
	if (s->lockfd < 0)
		return;
	flock(s->lockfd, LOCK_UN);
	close(s->lockfd);
	s->lockfd = -1;
}

bool store_digest_hex(const char *digest, char hex[65])
{
	if (digest == NULL)
		return false;
	if (digest_parse(digest, hex))
		return true;
	if (!digest_is_hex(digest))
		return false;
	memcpy(hex, digest, 65);
	return true;
}

static int path_fmt(char *buf, size_t size, const char *root, const char *dir,
		    const char *name, const char *suffix)
{
	int n = snprintf(buf, size, "%s/%s/%s%s", root, dir, name, suffix);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int store_layer_path(const struct store *s, const char *chain_hex, char *buf, size_t size)
{
	return path_fmt(buf, size, s->root, "layers", chain_hex, "");
}

int store_image_path(const struct store *s, const char *id_hex, char *buf, size_t size)
{
	return path_fmt(buf, size, s->root, "images", id_hex, ".json");
}

int store_container_path(const struct store *s, const char *name, char *buf, size_t size)
{
	return path_fmt(buf, size, s->root, "containers", name, "");
}

int store_tmpdir(const struct store *s, const char *tag, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/tmp/%s.%ld.XXXXXX", s->root, tag, (long)getpid());
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

static json_t *load_json_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	json_error_t err;
	json_t *j = json_loadfd(fd, 0, &err);
	close(fd);
	return j;
}

bool store_has_layer(const struct store *s, const char *chain_hex)
{
	char rel[128];
	if (!digest_is_hex(chain_hex))
		return false;
	snprintf(rel, sizeof(rel), "layers/%s/meta.json", chain_hex);
	if (faccessat(s->fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	snprintf(rel, sizeof(rel), "layers/%s/diff", chain_hex);
	struct stat st;
	return fstatat(s->fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

json_t *store_layer_meta(const struct store *s, const char *chain_hex)
{
	char rel[128];
	if (!digest_is_hex(chain_hex))
		return NULL;
	snprintf(rel, sizeof(rel), "layers/%s/meta.json", chain_hex);
	return load_json_at(s->fd, rel);
}

json_t *store_image_load(const struct store *s, const char *id_hex)
{
	char rel[128];
	if (!digest_is_hex(id_hex))
		return NULL;
	snprintf(rel, sizeof(rel), "images/%s.json", id_hex);
	return load_json_at(s->fd, rel);
}

int store_json_write_at(const struct store *s, int dirfd, const char *name, json_t *json)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "tmp/json.%ld.XXXXXX", (long)getpid());
	char *text = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL)
		return -ENOMEM;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->root, tmp);
	int fd = mkstemp(path);
	int rc = fd < 0 ? -errno : 0;
	if (rc == 0)
		rc = lfs_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = lfs_write_all(fd, "\n", 1);
	if (rc == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && renameat(AT_FDCWD, path, dirfd, name) < 0)
		rc = -errno;
	if (rc < 0 && fd >= 0)
		unlink(path);
	free(text);
	return rc;
}

int store_image_save(const struct store *s, const char *id_hex, json_t *image)
{
	if (!digest_is_hex(id_hex))
		return -EINVAL;
	char name[80];
	snprintf(name, sizeof(name), "%s.json", id_hex);
	int dfd = openat(s->fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int rc = store_json_write_at(s, dfd, name, image);
	close(dfd);
	return rc;
}

/* Calls fn(entry name) for each entry of the store directory dir. */
static int each_entry(const struct store *s, const char *dir,
		      int (*fn)(const char *name, void *arg), void *arg)
{
	int fd = openat(s->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			rc = fn(de->d_name, arg);
	}
	closedir(d);
	return rc;
}

struct image_iter {
	const struct store *s;
	int (*fn)(const char *id_hex, json_t *image, void *arg);
	void *arg;
};

static int image_entry(const char *name, void *arg)
{
	struct image_iter *it = arg;
	char hex[65];
	size_t len = strlen(name);
	if (len != 64 + 5 || strcmp(name + 64, ".json") != 0)
		return 0;
	memcpy(hex, name, 64);
	hex[64] = '\0';
	json_t *img = store_image_load(it->s, hex);
	if (img == NULL)
		return 0;
	int rc = it->fn(hex, img, it->arg);
	json_decref(img);
	return rc;
}

int store_image_each(const struct store *s,
		     int (*fn)(const char *id_hex, json_t *image, void *arg), void *arg)
{
	struct image_iter it = { s, fn, arg };
	return each_entry(s, "images", image_entry, &it);
}

json_t *store_container_load(const struct store *s, const char *name)
{
	char rel[PATH_MAX];
	if (!store_valid_name(name))
		return NULL;
	snprintf(rel, sizeof(rel), "containers/%s/container.json", name);
	return load_json_at(s->fd, rel);
}

struct container_iter {
	const struct store *s;
	int (*fn)(const char *name, json_t *container, void *arg);
	void *arg;
};

static int container_entry(const char *name, void *arg)
{
	struct container_iter *it = arg;
	json_t *c = store_container_load(it->s, name);
	if (c == NULL)
		return 0;
	int rc = it->fn(name, c, it->arg);
	json_decref(c);
	return rc;
}

json_t *store_open_container(struct store *s, const char *root, const char *name,
			     const char *cmd)
{
	if (store_open(s, root, false) < 0)
		return NULL;
	json_t *ctr = store_container_load(s, name);
	if (!ctr) {
		fprintf(stderr, "layerctl: %s: no container named %s\n", cmd, name);
		store_close(s);
	}
	return ctr;
}

int store_container_each(const struct store *s,
			 int (*fn)(const char *name, json_t *container, void *arg), void *arg)
{
	struct container_iter it = { s, fn, arg };
	return each_entry(s, "containers", container_entry, &it);
}

bool store_valid_name(const char *name)
{
	if (name == NULL || !isalnum((unsigned char)name[0]))
		return false;
	size_t n = 1;
	for (; name[n]; n++) {
		char c = name[n];
		if (!isalnum((unsigned char)c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return n <= 128;
}

void store_now_rfc3339(char buf[32])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Removes everything inside the open directory fd. */
static int empty_dir(int fd, uint64_t *bytes)
{
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int err = -errno;
		close(fd);
		return err;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int r = store_remove_tree(dirfd(d), de->d_name, bytes);
		if (r < 0 && rc == 0)
			rc = r;
	}
	closedir(d);
	return rc;
}

int store_remove_tree(int dirfd, const char *name, uint64_t *bytes)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0)
			return errno == ENOENT ? 0 : -errno;
		if (bytes && st.st_nlink <= 1)
			*bytes += (uint64_t)st.st_blocks * 512;
		return 0;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A directory made without write or search permission by a layer. */
	if ((st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	int rc = empty_dir(fd, bytes);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	if (bytes)
		*bytes += (uint64_t)st.st_blocks * 512;
	return rc;
}
