/* A container's lower view: see ctrview.h. */
#include "ctrview.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_layer(struct ctr_view *v, const char *path, const char *cmd)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "layerctl: %s: %s: %s\n", cmd, path, strerror(errno));
		return -1;
	}
	v->fd[v->n++] = fd;
	return 0;
}

int ctr_view_open(const struct store *s, const char *name, json_t *ctr, const char *cmd,
		  struct ctr_view *v)
{
	json_t *layers = json_object_get(ctr, "layers");
	size_t n = json_array_size(layers);
	*v = (struct ctr_view){ calloc(n + 1, sizeof(int)), 0, { NULL, 0 } };
	if (!v->fd)
		abort();
	char cdir[PATH_MAX], path[PATH_MAX + 16];
	if (store_container_path(s, name, cdir, sizeof(cdir)) < 0) {
		fprintf(stderr, "layerctl: %s: bad container name\n", cmd);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/init", cdir);
	int rc = open_layer(v, path, cmd);
	for (size_t i = n; rc == 0 && i-- > 0;) {
		char hex[65], dir[PATH_MAX];
		const char *chain = json_string_value(json_array_get(layers, i));
		if (!chain || !store_digest_hex(chain, hex) ||
		    store_layer_path(s, hex, dir, sizeof(dir)) < 0) {
			fprintf(stderr, "layerctl: %s: bad layer id in container.json\n", cmd);
			rc = -1;
			break;
		}
		snprintf(path, sizeof(path), "%s/diff", dir);
		rc = open_layer(v, path, cmd);
	}
	v->view = (struct mw_view){ v->fd, v->n };
	if (rc)
		ctr_view_close(v);
	return rc;
}

void ctr_view_close(struct ctr_view *v)
{
	for (unsigned i = 0; i < v->n; i++)
		close(v->fd[i]);
	free(v->fd);
	v->fd = NULL;
	v->n = 0;
}
