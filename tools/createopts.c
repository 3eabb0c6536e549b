/* `layerctl create`'s options. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "createopts.h"

static int fail(char err[CREATEOPTS_ERR_SIZE], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CREATEOPTS_ERR_SIZE, fmt, ap);
	va_end(ap);
	return CREATEOPTS_BAD;
}

static void *grow(void *v, size_t n, size_t elem)
{
	void *nv = realloc(v, (n + 1) * elem);
	if (!nv)
		abort();
	return nv;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static void push(char ***v, size_t *n, const char *s)
{
	*v = grow(*v, *n, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

void createopts_env_set(char ***env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = xstrdup(kv);
			return;
		}
	}
	push(env, n, kv);
}

/* KEY=VALUE as is; a bare KEY takes its value from our environment and is
 * left out when that has none (as docker does). */
static int env_item(struct create_opts *o, const char *item, const char *what,
		    char err[CREATEOPTS_ERR_SIZE])
{
	size_t klen = strcspn(item, "=");
	if (klen == 0)
		return fail(err, "%s '%s': no variable name", what, item);
	if (item[klen] == '=') {
		createopts_env_set(&o->env, &o->nenv, item);
		return CREATEOPTS_OK;
	}
	const char *val = getenv(item);
	if (val) {
		char *kv;
		if (asprintf(&kv, "%s=%s", item, val) < 0)
			abort();
		createopts_env_set(&o->env, &o->nenv, kv);
		free(kv);
	}
	return CREATEOPTS_OK;
}

/* docker's env file: one KEY=VALUE (or KEY) a line, '#' comments, blank
 * lines skipped; values are taken literally (no quotes removed). */
static int env_file(struct create_opts *o, const char *path, char err[CREATEOPTS_ERR_SIZE])
{
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(err, "--env-file %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = CREATEOPTS_OK, lineno = 0;
	while (rc == CREATEOPTS_OK && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		const char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		char what[64 + 4096];
		snprintf(what, sizeof(what), "--env-file %s line %d", path, lineno);
		rc = env_item(o, p, what, err);
	}
	free(line);
	fclose(f);
	return rc;
}

static int add_mount(struct create_opts *o, int kind, const char *arg,
		     char err[CREATEOPTS_ERR_SIZE])
{
	struct mountspec m;
	char why[MSPEC_ERR_SIZE];
	int rc = kind == 'v' ? mountspec_parse_volume(arg, &m, why)
		 : kind == 'M' ? mountspec_parse_mount(arg, &m, why)
			       : mountspec_parse_tmpfs(arg, &m, why);
	if (rc < 0)
		return fail(err, "%s", why);
	o->mounts = grow(o->mounts, o->nmounts, sizeof(*o->mounts));
	o->mounts[o->nmounts++] = m;
	return CREATEOPTS_OK;
}

static int set_path(char **dst, const char *path, const char *what,
		    char err[CREATEOPTS_ERR_SIZE])
{
	char norm[4096], why[MSPEC_ERR_SIZE];
	if (mountspec_normalize_destination(path, norm, sizeof(norm), why) < 0)
		return fail(err, "%s: %s", what, why);
	free(*dst);
	*dst = xstrdup(norm);
	return CREATEOPTS_OK;
}

static int init_file(struct create_opts *o, const char *arg, char err[CREATEOPTS_ERR_SIZE])
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || !colon[1])
		return fail(err, "--init-file %s: expected SOURCE:DESTINATION", arg);
	struct init_file f = { strndup(arg, (size_t)(colon - arg)), NULL };
	if (!f.src)
		abort();
	if (set_path(&f.dst, colon + 1, "--init-file", err) < 0 || strcmp(f.dst, "/") == 0) {
		if (f.dst)
			fail(err, "--init-file %s: the destination must be a file path", arg);
		free(f.src);
		free(f.dst);
		return CREATEOPTS_BAD;
	}
	o->files = grow(o->files, o->nfiles, sizeof(*o->files));
	o->files[o->nfiles++] = f;
	return CREATEOPTS_OK;
}

/* RFC 1123 labels: letters, digits, '-' and '.', at most 63 characters. */
static bool valid_hostname(const char *h)
{
	size_t n = strlen(h);
	return n > 0 && n <= 63 && h[0] != '-' && h[0] != '.' &&
	       strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

static int root_propagation(const char *v)
{
	if (!strcmp(v, "private") || !strcmp(v, "rprivate"))
		return MSPEC_RPRIVATE;
	if (!strcmp(v, "slave") || !strcmp(v, "rslave"))
		return MSPEC_RSLAVE;
	if (!strcmp(v, "shared") || !strcmp(v, "rshared"))
		return MSPEC_RSHARED;
	return -1;
}

enum {
	OPT_MOUNT = 'M', OPT_TMPFS = 'T', OPT_READ_ONLY = 'R', OPT_ROOT_PROP = 'P',
	OPT_ENV_FILE = 'F', OPT_HOSTNAME = 'H', OPT_ENTRYPOINT = 'E', OPT_INIT_FILE = 'I',
	OPT_CAP_ADD = 'A', OPT_CAP_DROP = 'D', OPT_PRIVILEGED = 'X',
};

static const struct option long_opts[] = {
	{ "volume", required_argument, NULL, 'v' },
	{ "mount", required_argument, NULL, OPT_MOUNT },
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "rootfs-propagation", required_argument, NULL, OPT_ROOT_PROP },
	{ "env", required_argument, NULL, 'e' },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "init-file", required_argument, NULL, OPT_INIT_FILE },
	{ "cap-add", required_argument, NULL, OPT_CAP_ADD },
	{ "cap-drop", required_argument, NULL, OPT_CAP_DROP },
	{ "privileged", no_argument, NULL, OPT_PRIVILEGED },
	{ 0 },
};

/* -e items, applied after every --env-file (docker's order). */
struct env_flags {
	const char **v;
	size_t n;
};

static int one_option(struct create_opts *o, int c, const char *arg, struct env_flags *flags,
		      char err[CREATEOPTS_ERR_SIZE])
{
	char canon[64];
	switch (c) {
	case 'v': case OPT_MOUNT: case OPT_TMPFS:
		return add_mount(o, c, arg, err);
	case OPT_READ_ONLY: o->read_only = true; return CREATEOPTS_OK;
	case OPT_PRIVILEGED: o->privileged = true; return CREATEOPTS_OK;
	case OPT_ROOT_PROP:
		o->root_propagation = root_propagation(arg);
		return o->root_propagation >= 0 ? CREATEOPTS_OK
		       : fail(err, "--rootfs-propagation %s: use private, slave or shared", arg);
	case 'e':
		flags->v = grow(flags->v, flags->n, sizeof(*flags->v));
		flags->v[flags->n++] = arg;
		return CREATEOPTS_OK;
	case OPT_ENV_FILE: return env_file(o, arg, err);
	case 'w': return set_path(&o->workdir, arg, "-w", err);
	case 'u':
		if (!*arg)
			return fail(err, "-u: empty user");
		o->user = arg;
		return CREATEOPTS_OK;
	case OPT_HOSTNAME:
		o->hostname = arg;
		return valid_hostname(arg) ? CREATEOPTS_OK
		       : fail(err, "--hostname %s: letters, digits, '-' and '.' (at most 63)", arg);
	case OPT_ENTRYPOINT: o->entrypoint = arg; return CREATEOPTS_OK;
	case OPT_INIT_FILE: return init_file(o, arg, err);
	case OPT_CAP_ADD: case OPT_CAP_DROP:
		if (!caps_canonical(arg, canon, sizeof(canon)))
			return fail(err, "--cap-%s %s: no such capability",
				    c == OPT_CAP_ADD ? "add" : "drop", arg);
		if (c == OPT_CAP_ADD)
			push(&o->cap_add, &o->ncap_add, canon);
		else
			push(&o->cap_drop, &o->ncap_drop, canon);
		return CREATEOPTS_OK;
	default:
		return CREATEOPTS_USAGE;
	}
}

int createopts_parse(int argc, char **argv, struct create_opts *o,
		     char err[CREATEOPTS_ERR_SIZE])
{
	memset(o, 0, sizeof(*o));
	o->root_propagation = -1;
	err[0] = '\0';
	optind = 0;
	opterr = 0;
	int c, rc = CREATEOPTS_OK;
	struct env_flags flags = { NULL, 0 };
	/* '+': options end at IMAGE; what follows NAME is the command */
	while (rc == CREATEOPTS_OK && (c = getopt_long(argc, argv, "+:v:e:w:u:", long_opts, NULL)) != -1) {
		if (c == ':') {
			rc = fail(err, "%s needs a value", argv[optind - 1]);
		} else if (c == '?') {
			if (optopt)
				fail(err, "unknown option -%c", optopt);
			else
				fail(err, "unknown option %s", argv[optind - 1]);
			rc = CREATEOPTS_USAGE;
		} else {
			rc = one_option(o, c, optarg, &flags, err);
		}
	}
	for (size_t i = 0; rc == CREATEOPTS_OK && i < flags.n; i++)
		rc = env_item(o, flags.v[i], "-e", err);
	free(flags.v);
	if (rc != CREATEOPTS_OK)
		return rc;
	if (argc - optind < 2)
		return CREATEOPTS_USAGE;
	o->image = argv[optind];
	o->name = argv[optind + 1];
	o->cmd = argv + optind + 2;
	o->ncmd = argc - optind - 2;
	if (o->ncmd > 0 && strcmp(o->cmd[0], "--") == 0) {
		o->cmd++;
		o->ncmd--;
	}
	char why[MSPEC_ERR_SIZE];
	if (mountspec_check_set(o->mounts, o->nmounts, why) < 0 ||
	    mountspec_root_propagation(o->mounts, o->nmounts, o->root_propagation, why) < 0)
		return fail(err, "%s", why);
	for (size_t i = 0; i < o->nfiles; i++)
		for (size_t k = 0; k < o->nmounts; k++)
			if (!strcmp(o->files[i].dst, o->mounts[k].destination))
				return fail(err, "--init-file %s: a mount is there too", o->files[i].dst);
	return CREATEOPTS_OK;
}

void createopts_free(struct create_opts *o)
{
	for (size_t i = 0; i < o->nmounts; i++)
		mountspec_free(&o->mounts[i]);
	free(o->mounts);
	for (size_t i = 0; i < o->nenv; i++)
		free(o->env[i]);
	free(o->env);
	for (size_t i = 0; i < o->nfiles; i++) {
		free(o->files[i].src);
		free(o->files[i].dst);
	}
	free(o->files);
	for (size_t i = 0; i < o->ncap_add; i++)
		free(o->cap_add[i]);
	free(o->cap_add);
	for (size_t i = 0; i < o->ncap_drop; i++)
		free(o->cap_drop[i]);
	free(o->cap_drop);
	free(o->workdir);
	memset(o, 0, sizeof(*o));
}
