/* layerctl: global options, help, and dispatch to the commands.
 *
 * Help is answered here, from the command table of layerctl.h, for every
 * command alike: `layerctl help [COMMAND]`, and -h/--help among a
 * command's arguments (before a "--"; for run only right after the
 * command, as the rest is the container's command line). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerctl.h"

struct command {
	const char *name, *args, *help, *details;
	cmd_fn fn;
};

#define LAYERCTL_ENTRY(name, args, help, details) \
	{ #name, args, help, details, cmd_##name },
static const struct command commands[] = { LAYERCTL_COMMANDS(LAYERCTL_ENTRY) };
#undef LAYERCTL_ENTRY
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_options[] =
	"  --store DIR   the layer store (default $LAYERCTL_STORE, /var/lib/layerctl\n"
	"                as root, else $XDG_DATA_HOME/layerctl)\n"
	"  -q, --quiet   no progress output\n"
	"  -h, --help    this help; layerctl help COMMAND (or COMMAND --help) for one\n"
	"  -V, --version print the version\n";

static void usage(FILE *out)
{
	fprintf(out, "usage: layerctl [--store DIR] [-q] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-8s%s%s\n           %s\n", commands[i].name,
			commands[i].args[0] ? " " : "", commands[i].args, commands[i].help);
	fprintf(out, "\noptions (before COMMAND):\n%s", global_options);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static void command_help(const struct command *c, FILE *out)
{
	fprintf(out, "usage: layerctl [--store DIR] [-q] %s%s%s\n\n%s\n", c->name,
		c->args[0] ? " " : "", c->args, c->help);
	if (c->details[0])
		fprintf(out, "\n%s", c->details);
	fprintf(out, "\nglobal options (before %s):\n%s", c->name, global_options);
}

int cmd_help(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc == 1) {
		usage(stdout);
		return CTL_OK;
	}
	const struct command *c = argc == 2 ? find_command(argv[1]) : NULL;
	if (c == NULL) {
		if (argc == 2)
			fprintf(stderr, "layerctl: help: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return CTL_USAGE;
	}
	command_help(c, stdout);
	return CTL_OK;
}

/* Whether the command's arguments ask for help. */
static bool wants_help(const struct command *c, int argc, char **argv)
{
	int last = strcmp(c->name, "run") == 0 ? (argc > 1 ? 1 : 0) : argc - 1;
	for (int i = 1; i <= last; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctl ctl = { .store_root = getenv("LAYERCTL_STORE") };
	int c;
	/* '+': stop at the command; its own options are its business. */
	while ((c = getopt_long(argc, argv, "+qhV", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl.store_root = optarg; break;
		case 'q': ctl.quiet = true; break;
		case 'h': usage(stdout); return CTL_OK;
		case 'V': printf("layerctl %s\n", LAYERFS_VERSION); return CTL_OK;
		default: usage(stderr); return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	const struct command *cmd = find_command(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "layerctl: unknown command '%s' (see layerctl help)\n",
			argv[optind]);
		return CTL_USAGE;
	}
	int first = optind;
	if (wants_help(cmd, argc - first, argv + first)) {
		command_help(cmd, stdout);
		return CTL_OK;
	}
	optind = 0;  /* let the command run getopt afresh */
	return cmd->fn(&ctl, argc - first, argv + first);
}
