/* layerctl stop [-t|--time S] NAME / kill NAME [SIGNAL]: ending a running
 * container, as docker stop and docker kill do. */
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctrlife.h"
#include "ctrstate.h"
#include "layerctl.h"
#include "store.h"

/* "KILL", "SIGKILL", "kill", "9" -> 9; -1 for no signal. */
static int parse_signal(const char *s)
{
	char *end;
	if (isdigit((unsigned char)*s)) {
		long v = strtol(s, &end, 10);
		return *end || v <= 0 || v >= NSIG ? -1 : (int)v;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcasecmp(abbrev, s) == 0)
			return sig;
	}
	return -1;
}

int cmd_kill(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "signal", required_argument, NULL, 's' }, { 0 } };
	const char *signame = "KILL";
	int c;
	while ((c = getopt_long(argc, argv, "+s:", opts, NULL)) != -1) {
		if (c != 's')
			goto usage;
		signame = optarg;
	}
	if (argc - optind < 1 || argc - optind > 2)
		goto usage;
	const char *name = argv[optind];
	if (argc - optind == 2)
		signame = argv[optind + 1];
	int sig = parse_signal(signame);
	if (sig < 0) {
		fprintf(stderr, "layerctl: kill: %s is not a signal\n", signame);
		return CTL_FAIL;
	}
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "kill");
	if (!ctr)
		return CTL_FAIL;
	json_decref(ctr);
	int rc = ctr_signal(&s, name, sig, "kill") < 0 ? CTL_FAIL : CTL_OK;
	store_close(&s);
	if (rc == CTL_OK && !ctl->quiet)
		printf("%s\n", name);
	return rc;
usage:
	fprintf(stderr, "usage: layerctl kill NAME [SIGNAL]\n");
	return CTL_USAGE;
}

int cmd_stop(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "time", required_argument, NULL, 't' }, { 0 } };
	long timeout = 10;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
		if (c != 't')
			goto usage;
		timeout = strtol(optarg, &end, 10);
		if (!*optarg || *end || timeout < 0 || timeout > 86400) {
			fprintf(stderr, "layerctl: stop: --time %s: seconds, 0 to 86400\n", optarg);
			return CTL_FAIL;
		}
	}
	if (argc - optind != 1)
		goto usage;
	const char *name = argv[optind];
	struct store s;
	json_t *ctr = store_open_container(&s, ctl->store_root, name, "stop");
	if (!ctr)
		return CTL_FAIL;
	json_decref(ctr);
	int rc = ctr_stop(&s, name, (int)timeout, "stop") < 0 ? CTL_FAIL : CTL_OK;
	store_close(&s);
	if (rc == CTL_OK && !ctl->quiet)
		printf("%s\n", name);
	return rc;
usage:
	fprintf(stderr, "usage: layerctl stop [-t|--time SECONDS] NAME\n");
	return CTL_USAGE;
}
