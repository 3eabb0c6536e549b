/* layerctl login [OPTIONS] HOST and layerctl logout HOST | --all: the
 * credentials of a registry in the auth file podman, skopeo and docker
 * read (authfile.h). login checks them against the registry first (its
 * Basic realm, or its token server) and stores them only when accepted. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "authfile.h"
#include "layerctl.h"
#include "registry.h"
#include "regopts.h"

#define SECRET_MAX 4096

/* A line from stdin (the prompt on stderr); echo off for a password on a
 * terminal. NULL at end of input. */
static char *read_line(const char *prompt, bool secret)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	if (tty)
		fprintf(stderr, "%s", prompt);
	if (tty && secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	} else {
		secret = false;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (secret) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

/* Everything on stdin, less one trailing newline (--password-stdin). */
static char *read_stdin(void)
{
	char *buf = malloc(SECRET_MAX + 1);
	size_t len = 0;
	ssize_t n;
	if (buf == NULL)
		abort();
	while (len < SECRET_MAX && (n = read(STDIN_FILENO, buf + len, SECRET_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	return buf;
}

/* "docker://reg:5000", "https://reg:5000/v2/" -> "reg:5000". */
static bool host_of(const char *arg, char *buf, size_t size)
{
	if (strncmp(arg, "docker://", 9) == 0)
		arg += 9;
	auth_key_normalize(arg, buf, size);
	return buf[0] != '\0' && !strpbrk(buf, " \t\n/@");
}

static int login_usage(FILE *out)
{
	fprintf(out, "usage: layerctl login [OPTIONS] HOST[:PORT]\n"
		"  -u, --username USER    the user (asked for on a terminal when not given)\n"
		"  -p, --password PASS    the password (visible to other users: prefer\n"
		"                         --password-stdin, or the prompt)\n"
		"  --password-stdin       read the password from standard input\n"
		REGOPTS_USAGE);
	return out == stdout ? CTL_OK : CTL_USAGE;
}

static int do_login(const char *host, struct registry_opts *ro, const char *user,
		    const char *password)
{
	char err[2048];
	struct registry *r = NULL;
	ro->username = user;
	ro->password = password;
	ro->retries = ro->retries > 1 ? 1 : ro->retries;
	int rc = registry_open(&r, host, NULL, ro, err, sizeof(err));
	if (rc == 0)
		rc = registry_check_login(r, err, sizeof(err));
	registry_close(r);
	ro->username = ro->password = NULL;
	if (rc == 0)
		rc = authfile_update(ro->authfile, host, user, password, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "layerctl: login %s: %s\n", host, err);
		return CTL_FAIL;
	}
	printf("Login Succeeded!\n");
	return CTL_OK;
}

int cmd_login(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		REGOPTS_LONG,
		{ 0 },
	};
	struct registry_opts ro;
	char *user = NULL, *password = NULL, host[512];
	bool from_stdin = false;
	int c, bad = 0;
	regopts_init(&ro);
	while ((c = getopt_long(argc, argv, "u:p:h", opts, NULL)) != -1) {
		int r = c == REGOPT_CREDS ? 0 : regopts_handle(&ro, c, optarg);
		if (r != 0) {
			bad |= r < 0;
			continue;
		}
		switch (c) {
		case 'u': free(user); user = strdup(optarg); break;
		case 'p': free(password); password = strdup(optarg); break;
		case 'P': from_stdin = true; break;
		case 'h': free(user); free(password); return login_usage(stdout);
		default: bad = 1; break;
		}
	}
	if (bad || optind != argc - 1 || !host_of(argv[optind], host, sizeof(host)) ||
	    (from_stdin && password)) {
		if (from_stdin && password)
			fprintf(stderr, "layerctl: login: --password and --password-stdin together\n");
		free(user);
		free(password);
		return login_usage(stderr);
	}
	if (user == NULL && !from_stdin && isatty(STDIN_FILENO))
		user = read_line("Username: ", false);
	if (password == NULL && user)
		password = from_stdin ? read_stdin()
			   : isatty(STDIN_FILENO) ? read_line("Password: ", true) : NULL;
	int rc;
	if (user == NULL || user[0] == '\0' || password == NULL) {
		fprintf(stderr, "layerctl: login %s: needs a username (--username) and a password "
			"(--password-stdin, or a terminal to ask on)\n", host);
		rc = CTL_USAGE;
	} else {
		rc = do_login(host, &ro, user, password);
	}
	if (password)
		memset(password, 0, strlen(password));
	free(user);
	free(password);
	return rc;
}

int cmd_logout(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "authfile", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *authfile = NULL;
	bool all = false;
	int c, bad = 0;
	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'f': authfile = optarg; break;
		case 'h':
			printf("usage: layerctl logout [--authfile FILE] HOST[:PORT] | --all\n");
			return CTL_OK;
		default: bad = 1; break;
		}
	}
	char host[512], err[1024];
	if (bad || (all ? optind != argc : optind != argc - 1) ||
	    (!all && !host_of(argv[optind], host, sizeof(host)))) {
		fprintf(stderr, "usage: layerctl logout [--authfile FILE] HOST[:PORT] | --all\n");
		return CTL_USAGE;
	}
	bool had = false;
	int rc = all ? authfile_clear(authfile, err, sizeof(err))
		     : authfile_update(authfile, host, NULL, NULL, &had, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "layerctl: logout: %s\n", err);
		return CTL_FAIL;
	}
	if (!all && !had) {
		char path[4096];
		authfile_primary(authfile, path, sizeof(path));
		fprintf(stderr, "layerctl: logout %s: not logged in (no credentials for it in %s)\n",
			host, path);
		return CTL_FAIL;
	}
	printf(all ? "Removed login credentials for all registries\n"
		   : "Removed login credentials for %s\n", host);
	return CTL_OK;
}
