/* Volume, --mount and --tmpfs arguments, and their OCI form. Pure. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mountspec.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const prop_names[] = {
	[MSPEC_RPRIVATE] = "rprivate", [MSPEC_PRIVATE] = "private",
	[MSPEC_RSLAVE] = "rslave",     [MSPEC_SLAVE] = "slave",
	[MSPEC_RSHARED] = "rshared",   [MSPEC_SHARED] = "shared",
};

/* The options a tmpfs always gets first (docker's --tmpfs defaults); the
 * user's come after them, so "exec" wins over "noexec". */
static const char *const tmpfs_defaults[] = { "nosuid", "nodev", "noexec" };

static int fail(char err[MSPEC_ERR_SIZE], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, MSPEC_ERR_SIZE, fmt, ap);
	va_end(ap);
	return -1;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

int mountspec_propagation_parse(const char *name)
{
	for (size_t i = 0; i < N(prop_names); i++)
		if (strcmp(name, prop_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *mountspec_propagation_name(enum mspec_propagation p)
{
	return (size_t)p < N(prop_names) ? prop_names[p] : "?";
}

bool mountspec_needs_shared_source(enum mspec_propagation p)
{
	return p == MSPEC_RSHARED || p == MSPEC_SHARED;
}

bool mountspec_needs_propagating_source(enum mspec_propagation p)
{
	return mountspec_needs_shared_source(p) || p == MSPEC_RSLAVE || p == MSPEC_SLAVE;
}

void mountspec_free(struct mountspec *m)
{
	free(m->source);
	free(m->destination);
	for (size_t i = 0; i < m->nopts; i++)
		free(m->opts[i]);
	memset(m, 0, sizeof(*m));
}

int mountspec_normalize_destination(const char *path, char *out, size_t size,
				    char err[MSPEC_ERR_SIZE])
{
	if (!path || path[0] != '/')
		return fail(err, "container path '%s' is not absolute", path ? path : "");
	size_t len = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(err, "container path '%s' has a '..' component", path);
		if (!(n == 1 && p[0] == '.')) {
			if (len + 1 + n + 1 > size)
				return fail(err, "container path '%s' is too long", path);
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	if (len == 0) {
		if (size < 2)
			return fail(err, "container path '%s' is too long", path);
		out[len++] = '/';
	}
	out[len] = '\0';
	return 0;
}

static int set_destination(struct mountspec *m, const char *path, const char *what,
			   char err[MSPEC_ERR_SIZE])
{
	char norm[4096], why[MSPEC_ERR_SIZE];
	if (mountspec_normalize_destination(path, norm, sizeof(norm), why) < 0)
		return fail(err, "%s: %s", what, why);
	free(m->destination);
	m->destination = xstrdup(norm);
	return 0;
}

/* A host path: absolute, or relative starting with "./" or "../" (resolved
 * by the caller); anything else would be a docker named volume. */
static int set_source(struct mountspec *m, const char *path, const char *what,
		      char err[MSPEC_ERR_SIZE])
{
	bool ok = path[0] == '/' || !strcmp(path, ".") || !strcmp(path, "..") ||
		  !strncmp(path, "./", 2) || !strncmp(path, "../", 3);
	if (!*path)
		return fail(err, "%s: empty host path", what);
	if (!ok)
		return fail(err, "%s: '%s' is not a host path (named volumes are not "
			    "supported: give an absolute path, or one starting with ./)", what, path);
	free(m->source);
	m->source = xstrdup(path);
	return 0;
}

static int add_opt(struct mountspec *m, const char *opt, const char *what,
		   char err[MSPEC_ERR_SIZE])
{
	for (size_t i = 0; i < m->nopts; i++)
		if (strcmp(m->opts[i], opt) == 0)
			return 0;
	if (m->nopts == MSPEC_OPTS_MAX)
		return fail(err, "%s: too many options", what);
	m->opts[m->nopts++] = xstrdup(opt);
	return 0;
}

/* Splits s at the first ':' (in place); returns the rest or NULL. */
static char *split_colon(char *s)
{
	char *c = strchr(s, ':');
	if (c)
		*c++ = '\0';
	return c;
}

/* -v OPTS: ro|rw, one propagation, nosuid|nodev|noexec. */
static int volume_options(struct mountspec *m, char *opts, const char *arg,
			  char err[MSPEC_ERR_SIZE])
{
	bool have_rw = false, have_prop = false;
	char *save = NULL;
	if (!*opts)
		return fail(err, "-v %s: empty option list", arg);
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int prop = mountspec_propagation_parse(o);
		if (!strcmp(o, "ro") || !strcmp(o, "rw")) {
			if (have_rw && m->readonly != !strcmp(o, "ro"))
				return fail(err, "-v %s: both ro and rw", arg);
			have_rw = true;
			m->readonly = !strcmp(o, "ro");
		} else if (prop >= 0) {
			if (have_prop && m->propagation != (enum mspec_propagation)prop)
				return fail(err, "-v %s: two propagation modes", arg);
			have_prop = true;
			m->propagation = prop;
		} else if (!strcmp(o, "nosuid") || !strcmp(o, "nodev") || !strcmp(o, "noexec")) {
			if (add_opt(m, o, "-v", err) < 0)
				return -1;
		} else {
			return fail(err, "-v %s: unknown option '%s' (ro, rw, rprivate, private, "
				    "rslave, slave, rshared, shared, nosuid, nodev, noexec)", arg, o);
		}
	}
	return 0;
}

int mountspec_parse_volume(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE])
{
	memset(m, 0, sizeof(*m));
	m->type = MSPEC_BIND;
	m->propagation = MSPEC_RPRIVATE;
	char *copy = xstrdup(arg);
	char *dst = split_colon(copy);
	char *opts = dst ? split_colon(dst) : NULL;
	int rc = -1;
	if (!dst || (opts && strchr(opts, ':')))
		fail(err, "-v %s: expected HOST:CONTAINER[:OPTIONS]", arg);
	else if (set_source(m, copy, "-v", err) == 0 && set_destination(m, dst, "-v", err) == 0 &&
		 (!opts || volume_options(m, opts, arg, err) == 0))
		rc = 0;
	free(copy);
	if (rc < 0)
		mountspec_free(m);
	return rc;
}

/* "64m", "1g", "1024", "10MB" (docker's RAMInBytes) -> bytes. */
static bool parse_bytes(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	unsigned shift = 0;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'b': shift = 0; end++; break;
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	case 't': shift = 40; end++; break;
	default: return false;
	}
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

/* An octal mode up to 07777. */
static bool parse_mode(const char *s, unsigned *out)
{
	char *end;
	if (!*s || strspn(s, "01234567") != strlen(s))
		return false;
	unsigned long v = strtoul(s, &end, 8);
	if (*end || v > 07777)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

/* What --mount's items said beyond the mountspec itself. */
struct mount_seen {
	bool type, propagation, tmpfs_opts;
};

/* One key[=value] item of --mount. */
static int mount_item(struct mountspec *m, char *item, struct mount_seen *seen,
		      const char *arg, char err[MSPEC_ERR_SIZE])
{
	char *val = strchr(item, '=');
	if (val)
		*val++ = '\0';
	char buf[64];
	if (!strcmp(item, "type")) {
		if (!val || (strcmp(val, "bind") && strcmp(val, "tmpfs")))
			return fail(err, "--mount %s: type must be bind or tmpfs (named volumes "
				    "are not supported)", arg);
		seen->type = true;
		m->type = !strcmp(val, "tmpfs") ? MSPEC_TMPFS : MSPEC_BIND;
	} else if (!strcmp(item, "source") || !strcmp(item, "src")) {
		return val ? set_source(m, val, "--mount", err)
			   : fail(err, "--mount %s: %s needs a value", arg, item);
	} else if (!strcmp(item, "destination") || !strcmp(item, "dst") || !strcmp(item, "target")) {
		return val ? set_destination(m, val, "--mount", err)
			   : fail(err, "--mount %s: %s needs a value", arg, item);
	} else if (!strcmp(item, "readonly") || !strcmp(item, "ro")) {
		if (!parse_bool(val, &m->readonly))
			return fail(err, "--mount %s: %s takes true or false", arg, item);
	} else if (!strcmp(item, "bind-propagation")) {
		int p = val ? mountspec_propagation_parse(val) : -1;
		if (p < 0)
			return fail(err, "--mount %s: bind-propagation must be one of rprivate, "
				    "private, rslave, slave, rshared, shared", arg);
		m->propagation = p;
		seen->propagation = true;
	} else if (!strcmp(item, "tmpfs-size")) {
		unsigned long long bytes;
		if (!val || !parse_bytes(val, &bytes))
			return fail(err, "--mount %s: tmpfs-size must be a size (bytes, or with "
				    "k, m, g)", arg);
		snprintf(buf, sizeof(buf), "size=%llu", bytes);
		seen->tmpfs_opts = true;
		return add_opt(m, buf, "--mount", err);
	} else if (!strcmp(item, "tmpfs-mode")) {
		unsigned mode;
		if (!val || !parse_mode(val, &mode))
			return fail(err, "--mount %s: tmpfs-mode must be an octal mode", arg);
		snprintf(buf, sizeof(buf), "mode=%o", mode);
		seen->tmpfs_opts = true;
		return add_opt(m, buf, "--mount", err);
	} else {
		return fail(err, "--mount %s: unknown key '%s' (type, source, destination, "
			    "readonly, bind-propagation, tmpfs-size, tmpfs-mode)", arg, item);
	}
	return 0;
}

static int mount_check(const struct mountspec *m, const struct mount_seen *seen,
		       const char *arg, char err[MSPEC_ERR_SIZE])
{
	if (!seen->type)
		return fail(err, "--mount %s: type=bind or type=tmpfs is required", arg);
	if (!m->destination)
		return fail(err, "--mount %s: destination (dst, target) is required", arg);
	if (m->type == MSPEC_BIND) {
		if (!m->source)
			return fail(err, "--mount %s: a bind mount needs source (src)", arg);
		if (seen->tmpfs_opts)
			return fail(err, "--mount %s: tmpfs-size and tmpfs-mode are for type=tmpfs",
				    arg);
	} else {
		if (m->source)
			return fail(err, "--mount %s: a tmpfs has no source", arg);
		if (seen->propagation)
			return fail(err, "--mount %s: bind-propagation is for type=bind", arg);
	}
	return 0;
}

int mountspec_parse_mount(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE])
{
	memset(m, 0, sizeof(*m));
	m->type = MSPEC_BIND;
	m->propagation = MSPEC_RPRIVATE;
	char *copy = xstrdup(arg), *save = NULL;
	struct mount_seen seen = { false, false, false };
	int rc = 0;
	for (char *it = strtok_r(copy, ",", &save); it && rc == 0; it = strtok_r(NULL, ",", &save))
		rc = mount_item(m, it, &seen, arg, err);
	if (rc == 0)
		rc = mount_check(m, &seen, arg, err);
	free(copy);
	if (rc < 0)
		mountspec_free(m);
	return rc;
}

/* A number with an optional size suffix (tmpfs's size=, nr_blocks=,
 * nr_inodes=); size= may also be a percentage. */
static bool tmpfs_number(const char *v, bool percent_ok)
{
	size_t digits = strspn(v, "0123456789");
	if (digits == 0)
		return false;
	const char *rest = v + digits;
	if (!*rest)
		return true;
	if (rest[1])
		return false;
	return strchr("kKmMgGtT", *rest) || (percent_ok && *rest == '%');
}

static bool tmpfs_option_ok(const char *o)
{
	static const char *const flags[] = {
		"nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async",
		"dirsync", "noatime", "atime", "nodiratime", "diratime", "relatime",
		"norelatime", "strictatime", "nostrictatime",
	};
	for (size_t i = 0; i < N(flags); i++)
		if (!strcmp(o, flags[i]))
			return true;
	const char *v = strchr(o, '=');
	if (!v)
		return false;
	size_t k = (size_t)(v++ - o);
	unsigned mode;
	if (k == 4 && !strncmp(o, "size", 4))
		return tmpfs_number(v, true);
	if ((k == 9 && !strncmp(o, "nr_blocks", 9)) || (k == 9 && !strncmp(o, "nr_inodes", 9)))
		return tmpfs_number(v, false);
	if (k == 4 && !strncmp(o, "mode", 4))
		return parse_mode(v, &mode);
	if ((k == 3 && !strncmp(o, "uid", 3)) || (k == 3 && !strncmp(o, "gid", 3)))
		return *v && strspn(v, "0123456789") == strlen(v);
	if (k == 4 && !strncmp(o, "huge", 4))
		return !strcmp(v, "never") || !strcmp(v, "always") || !strcmp(v, "within_size") ||
		       !strcmp(v, "advise") || !strcmp(v, "deny") || !strcmp(v, "force");
	return false;
}

int mountspec_parse_tmpfs(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE])
{
	memset(m, 0, sizeof(*m));
	m->type = MSPEC_TMPFS;
	char *copy = xstrdup(arg), *save = NULL;
	char *opts = split_colon(copy);
	int rc = set_destination(m, copy, "--tmpfs", err);
	if (rc == 0 && opts && !*opts)
		rc = fail(err, "--tmpfs %s: empty option list", arg);
	for (char *o = rc == 0 && opts ? strtok_r(opts, ",", &save) : NULL; o && rc == 0;
	     o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "ro") || !strcmp(o, "rw"))
			m->readonly = !strcmp(o, "ro");
		else if (tmpfs_option_ok(o))
			rc = add_opt(m, o, "--tmpfs", err);
		else
			rc = fail(err, "--tmpfs %s: unknown or malformed option '%s'", arg, o);
	}
	free(copy);
	if (rc < 0)
		mountspec_free(m);
	return rc;
}

int mountspec_check_set(const struct mountspec *v, size_t n, char err[MSPEC_ERR_SIZE])
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].destination, "/") == 0)
			return fail(err, "a mount over / is not allowed (the root is the "
				    "container's image)");
		for (size_t j = 0; j < i; j++)
			if (strcmp(v[i].destination, v[j].destination) == 0)
				return fail(err, "two mounts at %s", v[i].destination);
	}
	return 0;
}

int mountspec_root_propagation(const struct mountspec *v, size_t n, int given,
			       char err[MSPEC_ERR_SIZE])
{
	const struct mountspec *shared = NULL, *slave = NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i].type != MSPEC_BIND)
			continue;
		if (mountspec_needs_shared_source(v[i].propagation))
			shared = shared ? shared : &v[i];
		else if (mountspec_needs_propagating_source(v[i].propagation))
			slave = slave ? slave : &v[i];
	}
	if (given < 0)
		return shared ? MSPEC_RSHARED : MSPEC_RSLAVE;
	if (shared && given != MSPEC_RSHARED && given != MSPEC_SHARED)
		return fail(err, "the %s volume at %s needs --rootfs-propagation shared",
			    mountspec_propagation_name(shared->propagation), shared->destination);
	if (slave && (given == MSPEC_RPRIVATE || given == MSPEC_PRIVATE))
		return fail(err, "the %s volume at %s needs --rootfs-propagation slave or shared",
			    mountspec_propagation_name(slave->propagation), slave->destination);
	return given;
}

json_t *mountspec_to_oci(const struct mountspec *m, const char *source)
{
	json_t *opts = json_array();
	if (m->type == MSPEC_BIND) {
		json_array_append_new(opts, json_string("rbind"));
		json_array_append_new(opts, json_string(mountspec_propagation_name(m->propagation)));
	} else {
		for (size_t i = 0; i < N(tmpfs_defaults); i++)
			json_array_append_new(opts, json_string(tmpfs_defaults[i]));
	}
	json_array_append_new(opts, json_string(m->readonly ? "ro" : "rw"));
	for (size_t i = 0; i < m->nopts; i++)
		json_array_append_new(opts, json_string(m->opts[i]));
	bool bind = m->type == MSPEC_BIND;
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", m->destination,
			 "type", bind ? "bind" : "tmpfs", "source", bind ? source : "tmpfs",
			 "options", opts);
}

int mountspec_oci_propagation(json_t *mount)
{
	int found = -1;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(mount, "options"), i, o) {
		const char *s = json_string_value(o);
		int p = s ? mountspec_propagation_parse(s) : -1;
		if (p >= 0)
			found = p;
	}
	return found;
}
