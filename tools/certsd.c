/* A registry's TLS settings from a certs.d directory: see certsd.h. */
#include "certsd.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSTEM_CAS "/etc/ssl/certs/ca-certificates.crt"
#define CA_MAX (16u << 20)

/* Appends the file's bytes to *buf. 0, or -errno. */
static int append_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (*len + n + 2 > CA_MAX) {
			rc = -EFBIG;
			break;
		}
		*buf = realloc(*buf, *len + n + 2);
		if (*buf == NULL)
			abort();
		memcpy(*buf + *len, chunk, n);
		*len += n;
	}
	if (ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc == 0 && *len > 0 && (*buf)[*len - 1] != '\n')
		(*buf)[(*len)++] = '\n';
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The host's directory: 1 when it exists (path filled), 0 when not. */
static int host_dir(const char *host, const char *cert_dir, char *path, size_t size)
{
	struct stat st;
	if (cert_dir) {
		snprintf(path, size, "%s", cert_dir);
		return 1;
	}
	const char *env = getenv("LAYERCTL_CERTS_DIR");
	const char *roots[] = { env && env[0] ? env : "/etc/containers/certs.d",
				env && env[0] ? NULL : "/etc/docker/certs.d" };
	for (size_t i = 0; i < 2 && roots[i]; i++) {
		int n = snprintf(path, size, "%s/%s", roots[i], host);
		if (n > 0 && (size_t)n < size && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
	}
	return 0;
}

int certsd_tls(const char *host, const char *cert_dir, bool verify, struct http_tls *tls,
	       char *err, size_t errsz)
{
	memset(tls, 0, sizeof(*tls));
	tls->verify = verify;
	char dir[PATH_MAX];
	if (!host_dir(host, cert_dir, dir, sizeof(dir)))
		return 0;
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char **crts = NULL;
	size_t ncrts = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + 256];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (ends_with(de->d_name, ".crt")) {
			crts = realloc(crts, (ncrts + 1) * sizeof(*crts));
			if (crts == NULL || (crts[ncrts++] = strdup(path)) == NULL)
				abort();
		} else if (ends_with(de->d_name, ".cert") && !tls->client_cert) {
			char key[PATH_MAX + 256];
			snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(path) - 5), path);
			if (access(key, R_OK) == 0) {
				tls->client_cert = strdup(path);
				tls->client_key = strdup(key);
			}
		}
	}
	closedir(d);
	if (ncrts > 1)
		qsort(crts, ncrts, sizeof(*crts), names_cmp);
	int rc = 0;
	if (ncrts > 0) {
		/* the blob replaces curl's CA file: the system's CAs first */
		append_file(SYSTEM_CAS, &tls->ca_blob, &tls->ca_len);
		for (size_t i = 0; i < ncrts && rc == 0; i++) {
			int r = append_file(crts[i], &tls->ca_blob, &tls->ca_len);
			if (r < 0) {
				snprintf(err, errsz, "%s: %s", crts[i], strerror(-r));
				rc = -1;
			}
		}
	}
	for (size_t i = 0; i < ncrts; i++)
		free(crts[i]);
	free(crts);
	if (rc < 0)
		certsd_free(tls);
	return rc;
}

void certsd_free(struct http_tls *tls)
{
	free(tls->ca_blob);
	free(tls->client_cert);
	free(tls->client_key);
	memset(tls, 0, sizeof(*tls));
}
