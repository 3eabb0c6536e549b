/* Registry credentials on disk: see authfile.h. */
#include "authfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

static int fmt(char *buf, size_t size, const char *f, const char *a, const char *b)
{
	int n = snprintf(buf, size, f, a, b);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int authfile_primary(const char *authfile, char *buf, size_t size)
{
	const char *env = getenv("REGISTRY_AUTH_FILE");
	const char *run = getenv("XDG_RUNTIME_DIR");
	if (authfile && authfile[0])
		return fmt(buf, size, "%s%s", authfile, "");
	if (env && env[0])
		return fmt(buf, size, "%s%s", env, "");
	if (run && run[0] == '/')
		return fmt(buf, size, "%s%s", run, "/containers/auth.json");
	char uid[32];
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	return fmt(buf, size, "/run/containers/%s%s", uid, "/auth.json");
}

/* The files read, in order; n of them. */
static size_t read_order(const char *authfile, char paths[3][PATH_MAX])
{
	size_t n = 0;
	if (authfile_primary(authfile, paths[n], PATH_MAX) == 0)
		n++;
	const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (cfg && cfg[0] == '/')
		n += fmt(paths[n], PATH_MAX, "%s%s", cfg, "/containers/auth.json") == 0;
	else if (home && home[0] == '/')
		n += fmt(paths[n], PATH_MAX, "%s%s", home, "/.config/containers/auth.json") == 0;
	if (home && home[0] == '/')
		n += fmt(paths[n], PATH_MAX, "%s%s", home, "/.docker/config.json") == 0;
	return n;
}

/* The JSON of a file; an empty document when it does not exist. */
static json_t *load(const char *path, char *err, size_t errsz)
{
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return json_object();
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	if (!json_is_object(doc)) {
		snprintf(err, errsz, "%s: %s", path, doc ? "not a JSON object" : je.text);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int authfile_lookup(const char *authfile, const char *host, const char *repo, char **user,
		    char **password, char *err, size_t errsz)
{
	char paths[3][PATH_MAX];
	size_t n = read_order(authfile, paths);
	for (size_t i = 0; i < n; i++) {
		json_t *doc = load(paths[i], err, errsz);
		if (doc == NULL)
			return -1;
		char why[300] = "";
		int rc = auth_json_lookup(doc, host, repo, user, password, why, sizeof(why));
		json_decref(doc);
		if (rc < 0)
			snprintf(err, errsz, "%s: %s", paths[i], why);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* mkdir -p of path's directory, 0700 for what it makes. */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

static int save(const char *path, json_t *doc, char *err, size_t errsz)
{
	char tmp[PATH_MAX];
	if (fmt(tmp, sizeof(tmp), "%s.tmp.%s", path, "") < 0 || make_parent(path) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno ? errno : ENAMETOOLONG));
		return -1;
	}
	snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "%d", (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	char *text = json_dumps(doc, JSON_INDENT(1));
	size_t len = text ? strlen(text) : 0;
	bool ok = fd >= 0 && text && write(fd, text, len) == (ssize_t)len &&
		  write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	int saved = errno;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	free(text);
	if (ok && rename(tmp, path) == 0)
		return 0;
	saved = errno ? errno : saved;
	unlink(tmp);
	snprintf(err, errsz, "%s: %s", path, strerror(saved));
	return -1;
}

int authfile_update(const char *authfile, const char *host, const char *user,
		    const char *password, bool *had, char *err, size_t errsz)
{
	char path[PATH_MAX];
	if (authfile_primary(authfile, path, sizeof(path)) < 0) {
		snprintf(err, errsz, "the auth file's path is too long");
		return -1;
	}
	json_t *doc = load(path, err, errsz);
	if (doc == NULL)
		return -1;
	int rc = 0;
	if (password) {
		auth_json_set(doc, host, user, password);
		rc = save(path, doc, err, errsz);
	} else {
		*had = auth_json_remove(doc, host);
		if (*had)
			rc = save(path, doc, err, errsz);
	}
	json_decref(doc);
	return rc;
}

int authfile_clear(const char *authfile, char *err, size_t errsz)
{
	char path[PATH_MAX];
	if (authfile_primary(authfile, path, sizeof(path)) < 0) {
		snprintf(err, errsz, "the auth file's path is too long");
		return -1;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	json_t *doc = load(path, err, errsz);
	if (doc == NULL)
		return -1;
	json_object_set_new(doc, "auths", json_object());
	int rc = save(path, doc, err, errsz);
	json_decref(doc);
	return rc;
}
