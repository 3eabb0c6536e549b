/* layerctl: global options and dispatch to the commands. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerctl.h"

struct command {
	const char *name, *args, *help;
	cmd_fn fn;
};

#define LAYERCTL_ENTRY(name, args, help) { #name, args, help, cmd_##name },
static const struct command commands[] = { LAYERCTL_COMMANDS(LAYERCTL_ENTRY) };
#undef LAYERCTL_ENTRY

static void usage(FILE *out)
{
	fprintf(out, "usage: layerctl [--store DIR] [-q] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		fprintf(out, "  %-8s %-40s %s\n", commands[i].name, commands[i].args,
			commands[i].help);
	}
	fprintf(out, "\noptions:\n"
		     "  --store DIR   the layer store (default $LAYERCTL_STORE, /var/lib/layerctl)\n"
		     "  -q, --quiet   no progress output\n"
		     "  -V, --version print the version\n");
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
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		int first = optind;
		optind = 0;  /* let the command run getopt afresh */
		return commands[i].fn(&ctl, argc - first, argv + first);
	}
	fprintf(stderr, "layerctl: unknown command '%s' (see layerctl --help)\n", name);
	return CTL_USAGE;
}
