/* TLS settings of a registry, as containers-certs.d(5) lays them out:
 * DIR/HOST[:PORT]/ holds *.crt (CAs, trusted besides the system's), and a
 * client certificate as NAME.cert + NAME.key. DIR is --cert-dir (used as
 * the host's directory itself, as podman does), else $LAYERCTL_CERTS_DIR,
 * else /etc/containers/certs.d, then /etc/docker/certs.d. */
#ifndef LAYERCTL_CERTSD_H
#define LAYERCTL_CERTSD_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* Fills tls for host ("reg:5000"). 0, or -1 with err (an unreadable CA). */
int certsd_tls(const char *host, const char *cert_dir, bool verify, struct http_tls *tls,
	       char *err, size_t errsz);
void certsd_free(struct http_tls *tls);

#endif
