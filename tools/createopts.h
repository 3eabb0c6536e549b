/* The command line of `layerctl create`, in docker's spelling:
 *   create [OPTIONS] IMAGE NAME [COMMAND [ARG...]]
 * Everything after NAME is the command (as after docker's IMAGE). Reads
 * --env-file files and, for -e KEY without a value, the environment; no
 * other side effects. */
#ifndef LAYERCTL_CREATEOPTS_H
#define LAYERCTL_CREATEOPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "mountspec.h"

#define CREATEOPTS_ERR_SIZE 1024

struct init_file {
	char *src;   /* host file, as given */
	char *dst;   /* container path, normalised */
};

struct create_opts {
	const char *image, *name;
	char **cmd;                 /* into argv */
	int ncmd;
	struct mountspec *mounts;   /* -v, --mount, --tmpfs, in order given */
	size_t nmounts;
	int root_propagation;       /* --rootfs-propagation (recursive form), -1: derive */
	bool read_only, privileged;
	char **env;                 /* "KEY=VALUE": --env-file, then -e; a later KEY wins */
	size_t nenv;
	char *workdir;              /* normalised */
	const char *user, *hostname;
	const char *entrypoint;     /* NULL: the image's; "" clears it */
	struct init_file *files;
	size_t nfiles;
	char **cap_add, **cap_drop;
	size_t ncap_add, ncap_drop;
};

enum { CREATEOPTS_OK = 0, CREATEOPTS_BAD = -1, CREATEOPTS_USAGE = -2 };

/* Parses argv (argv[0] is "create"). CREATEOPTS_OK, CREATEOPTS_BAD with a
 * one-line reason in err (bad input), or CREATEOPTS_USAGE (an unknown
 * option, with a reason in err, or the wrong number of arguments, err
 * empty). Free with createopts_free in every case. */
int createopts_parse(int argc, char **argv, struct create_opts *o,
		     char err[CREATEOPTS_ERR_SIZE]);
void createopts_free(struct create_opts *o);

/* Sets KEY=VALUE in env (replacing KEY's earlier value). */
void createopts_env_set(char ***env, size_t *n, const char *kv);

#endif
