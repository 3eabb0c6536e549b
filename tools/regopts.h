/* The registry options pull, push and login share (--tls-verify,
 * --cert-dir, --authfile, --creds, --retry, --retry-delay), parsed the way
 * podman and skopeo spell them. */
#ifndef LAYERCTL_REGOPTS_H
#define LAYERCTL_REGOPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "layerctl.h"
#include "registry.h"

/* getopt_long values of the shared options (beyond any short option). */
enum {
	REGOPT_TLS_VERIFY = 0x1000,
	REGOPT_CERT_DIR,
	REGOPT_AUTHFILE,
	REGOPT_CREDS,
	REGOPT_RETRY,
	REGOPT_RETRY_DELAY,
};

#define REGOPTS_LONG \
	{ "tls-verify", optional_argument, NULL, REGOPT_TLS_VERIFY }, \
	{ "cert-dir", required_argument, NULL, REGOPT_CERT_DIR }, \
	{ "authfile", required_argument, NULL, REGOPT_AUTHFILE }, \
	{ "creds", required_argument, NULL, REGOPT_CREDS }, \
	{ "retry", required_argument, NULL, REGOPT_RETRY }, \
	{ "retry-delay", required_argument, NULL, REGOPT_RETRY_DELAY }

#define REGOPTS_USAGE LAYERCTL_REGISTRY_OPTIONS

void regopts_init(struct registry_opts *o);
/* Handles option c with optarg: 1 when it was one of them, 0 when not, -1
 * with a message on stderr for a bad value. */
int regopts_handle(struct registry_opts *o, int c, const char *arg);
void regopts_free(struct registry_opts *o);

#endif
