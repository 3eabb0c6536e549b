/* The shared registry options: see regopts.h. */
#include "regopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void regopts_init(struct registry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = true;
	o->retries = 3;
}

static bool parse_bool(const char *s, bool *out)
{
	if (s == NULL || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
		*out = false;
		return true;
	}
	return false;
}

int regopts_handle(struct registry_opts *o, int c, const char *arg)
{
	char *end;
	switch (c) {
	case REGOPT_TLS_VERIFY:
		if (!parse_bool(arg, &o->tls_verify)) {
			fprintf(stderr, "layerctl: --tls-verify=%s: true or false\n", arg);
			return -1;
		}
		return 1;
	case REGOPT_CERT_DIR:
		o->cert_dir = arg;
		return 1;
	case REGOPT_AUTHFILE:
		o->authfile = arg;
		return 1;
	case REGOPT_CREDS: {
		free((char *)o->username);
		char *copy = strdup(arg);
		if (copy == NULL)
			abort();
		char *colon = strchr(copy, ':');
		if (colon)
			*colon = '\0';
		if (copy[0] == '\0') {
			fprintf(stderr, "layerctl: --creds: USER[:PASSWORD] with a user\n");
			free(copy);
			o->username = NULL;
			return -1;
		}
		o->username = copy;
		o->password = colon ? colon + 1 : "";
		return 1;
	}
	case REGOPT_RETRY:
		o->retries = (int)strtol(arg, &end, 10);
		if (*arg == '\0' || *end || o->retries < 0 || o->retries > 100) {
			fprintf(stderr, "layerctl: --retry %s: a count from 0 to 100\n", arg);
			return -1;
		}
		return 1;
	case REGOPT_RETRY_DELAY:
		o->retry_delay = strtod(arg, &end);
		if (*arg == '\0' || *end || o->retry_delay < 0 || o->retry_delay > 3600) {
			fprintf(stderr, "layerctl: --retry-delay %s: seconds, up to 3600\n", arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

void regopts_free(struct registry_opts *o)
{
	free((char *)o->username);
	o->username = NULL;
	o->password = NULL;
}
