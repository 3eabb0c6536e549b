/* The mounts a user asks `layerctl create` for, in docker's spellings:
 *   -v, --volume HOST:CTR[:OPTS]      a bind mount (OPTS: ro|rw, a propagation,
 *                                     nosuid, nodev, noexec)
 *   --mount type=bind,src=..,dst=..[,readonly][,bind-propagation=..]
 *   --mount type=tmpfs,dst=..[,tmpfs-size=..][,tmpfs-mode=..]
 *   --tmpfs PATH[:OPTS]               a tmpfs (OPTS: mount options)
 * and what they become in an OCI config.json. Pure: parsing never looks at
 * the file system (the caller resolves a host path), errors are one line in
 * the caller's buffer. */
#ifndef LAYERCTL_MOUNTSPEC_H
#define LAYERCTL_MOUNTSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum mspec_type { MSPEC_BIND, MSPEC_TMPFS };

/* Mount propagation, as Kubernetes names the three that matter: None
 * (rprivate, docker's default), HostToContainer (rslave), Bidirectional
 * (rshared); the non-recursive forms apply to the mount itself only. */
enum mspec_propagation {
	MSPEC_RPRIVATE, MSPEC_PRIVATE, MSPEC_RSLAVE, MSPEC_SLAVE,
	MSPEC_RSHARED, MSPEC_SHARED,
};

#define MSPEC_ERR_SIZE 512
#define MSPEC_OPTS_MAX 16

struct mountspec {
	enum mspec_type type;
	char *source;             /* bind: the host path as given; tmpfs: NULL */
	char *destination;        /* absolute, normalised ("/a/b") */
	bool readonly;
	enum mspec_propagation propagation;   /* bind only */
	/* further mount options, in order: nosuid/nodev/noexec for a bind;
	 * for a tmpfs everything but the defaults (size=, mode=, ...) */
	char *opts[MSPEC_OPTS_MAX];
	size_t nopts;
};

/* Each parser fills *m (free it with mountspec_free) and returns 0, or -1
 * with a one-line reason in err (no "layerctl:" prefix). */
int mountspec_parse_volume(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE]);
int mountspec_parse_mount(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE]);
int mountspec_parse_tmpfs(const char *arg, struct mountspec *m, char err[MSPEC_ERR_SIZE]);
void mountspec_free(struct mountspec *m);

/* "rprivate", "rslave", ... and back; -1 for an unknown name. */
int mountspec_propagation_parse(const char *name);
const char *mountspec_propagation_name(enum mspec_propagation p);
/* Whether the host side of a bind with this propagation must be a shared
 * mount (rshared/shared) or at least a shared or slave one (rslave/slave)
 * for the propagation to happen at all. */
bool mountspec_needs_shared_source(enum mspec_propagation p);
bool mountspec_needs_propagating_source(enum mspec_propagation p);

/* A container path: absolute, no ".." component; normalised into out
 * ("//a/./b/" -> "/a/b"). -1 with err otherwise. */
int mountspec_normalize_destination(const char *path, char *out, size_t size,
				    char err[MSPEC_ERR_SIZE]);

/* The set as a whole: no mount over "/", no two at one destination. */
int mountspec_check_set(const struct mountspec *v, size_t n, char err[MSPEC_ERR_SIZE]);

/* The root propagation a set of mounts needs: given (an explicit
 * --rootfs-propagation, or -1), checked against the mounts (an rshared
 * bind needs a shared root, an rslave one a slave or shared root), else
 * derived from them: rshared with any shared bind, otherwise rslave (runc's
 * default). Returns the propagation or -1 with err. */
int mountspec_root_propagation(const struct mountspec *v, size_t n, int given,
			       char err[MSPEC_ERR_SIZE]);

/* The OCI mounts[] entry (new reference). source: the host path to use for
 * a bind (the resolved one), ignored for a tmpfs. */
json_t *mountspec_to_oci(const struct mountspec *m, const char *source);

/* The propagation an OCI mount entry's options ask for (the last one
 * given), or -1 when they name none. */
int mountspec_oci_propagation(json_t *mount);

#endif
