/* layerctl exec [-t] [-e KEY=VALUE]... [-w DIR] [-u UID[:GID]] NAME CMD...:
 * runs CMD in a running container (its namespaces, mounts, environment
 * and user, as `runc exec` gives them) and exits with CMD's status. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrstate.h"
#include "layerctl.h"
#include "runtime.h"
#include "store.h"

#define EXEC_USAGE "usage: layerctl exec [-t] [-e KEY=VALUE]... [-w DIR] [-u UID[:GID]] NAME COMMAND [ARG...]\n"

/* The runtime's arguments: exec [--tty] [--env E]... [--cwd D] [--user U]
 * ID CMD..., with a NULL at *idpos for the id and *tty set for -t; NULL on
 * bad usage. */
static char **exec_args(int argc, char **argv, const char **name, size_t *idpos, bool *tty)
{
	static const struct option opts[] = {
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ 0 },
	};
	char **args = calloc((size_t)argc * 2 + 4, sizeof(*args));
	size_t n = 0;
	int c;
	if (!args)
		abort();
	args[n++] = "exec";
	while ((c = getopt_long(argc, argv, "+tie:w:u:", opts, NULL)) != -1) {
		switch (c) {
		case 't': args[n++] = "--tty"; *tty = true; break;
		case 'i': break;
		case 'e': args[n++] = "--env"; args[n++] = optarg; break;
		case 'w': args[n++] = "--cwd"; args[n++] = optarg; break;
		case 'u': args[n++] = "--user"; args[n++] = optarg; break;
		default: free(args); return NULL;
		}
	}
	if (argc - optind < 2) {
		free(args);
		return NULL;
	}
	*name = argv[optind];
	*idpos = n++;   /* the id goes here */
	for (int i = optind + 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return args;
}

int cmd_exec(struct ctl *ctl, int argc, char **argv)
{
	const char *name = NULL;
	size_t idpos = 0;
	bool tty = false;
	char **args = exec_args(argc, argv, &name, &idpos, &tty);
	if (!args) {
		fprintf(stderr, EXEC_USAGE);
		return CTL_USAGE;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "exec");
	int rc = CTL_FAIL;
	struct ctr_run r;
	if (!ctr) {
		free(args);
		return CTL_FAIL;
	}
	json_decref(ctr);
	if (ctr_run_read(&s, name, &r) < 0) {
		fprintf(stderr, "layerctl: exec: container %s is not running\n", name);
	} else if (tty && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "layerctl: exec: -t needs a terminal on standard input\n");
	} else {
		args[idpos] = r.id;
		struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
		sigaction(SIGINT, &ign, &old_int);
		sigaction(SIGQUIT, &ign, &old_quit);
		pid_t pid = rt_runtime_spawn(r.runtime, args, NULL);
		rc = pid < 0 ? -1 : rt_wait(pid);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		if (rc < 0) {
			fprintf(stderr, "layerctl: exec: cannot run %s\n", r.runtime);
			rc = CTL_FAIL;
		}
	}
	free(args);
	store_close(&s);
	return rc;
}
