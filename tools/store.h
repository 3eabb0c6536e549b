/* layerctl's layer store: the on-disk layout and the calls every command
 * uses to find layers, images and containers. One implementation
 * (tools/store.c); every command goes through it.
 *
 * STORE/                          (--store DIR, else $LAYERCTL_STORE, else
 *                                  /var/lib/layerctl as root,
 *                                  $XDG_DATA_HOME/layerctl otherwise)
 *   lock                          flock(2) target for every change
 *   tmp/                          half-made things; emptied by store_open
 *   layers/<chain>/diff/          an unpacked layer, whiteouts as .wh. files
 *   layers/<chain>/layer.tar.gz   (optional) the gzip blob `commit` made; `export`
 *                                  writes it as is when its digest matches meta.json
 *   layers/<chain>/meta.json      { "chain_id", "diff_id", "parent" (chain id
 *                                  or null), "digest" (compressed blob, or
 *                                  null), "media_type", "size" (bytes of the
 *                                  unpacked files) }
 *   images/<id>.json              { "id": "sha256:<config digest>",
 *                                  "names": ["docker.io/library/busybox:latest",
 *                                            ...] (normal form, reference.h;
 *                                            older stores: any spelling),
 *                                  "digests": ["REPO@sha256:<manifest>", ...]
 *                                            (optional: where a registry
 *                                            served it, as docker's RepoDigests),
 *                                  "layers": [chain ids, bottom first],
 *                                  "diff_ids": [...], "created": RFC 3339,
 *                                  "config": <the image config JSON as read> }
 *   containers/<name>/            init/ (the -init layer), rw/ (the writable
 *                                  layer), mnt/ (mountpoint), config.json
 *                                  (OCI runtime bundle: root.path = "mnt"),
 *                                  container.json { "name", "image" (id),
 *                                  "layers": [chain ids, bottom first],
 *                                  "created" }; run.json, state.json,
 *                                  container.log, .run/ (see ctrstate.h)
 *   shared-mounts.json            shared binds of volume sources (sharedmount.h)
 *
 * <chain> and <id> are the 64 hex digits of the sha256 digest, without the
 * "sha256:" prefix. Everything is made in tmp/ and renamed into place when
 * complete, so a crash leaves nothing half-made outside tmp/. */
#ifndef LAYERCTL_STORE_H
#define LAYERCTL_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store {
	char *root;      /* absolute path */
	int fd;          /* O_PATH|O_DIRECTORY of root */
	int lockfd;      /* -1 unless locked */
};

/* Opens (with create, makes) the store at root (NULL: the default above),
 * creating layers/, images/, containers/, tmp/ and emptying tmp/.
 * Returns 0 or -errno with a one-line message on stderr. */
int store_open(struct store *s, const char *root, bool create);
void store_close(struct store *s);
/* Exclusive lock for changes (blocks); store_unlock releases it. */
int store_lock(struct store *s);
void store_unlock(struct store *s);

/* "sha256:<hex>" or "<hex>" -> the 64 hex digits; false when malformed. */
bool store_digest_hex(const char *digest, char hex[65]);

/* Path builders: write "ROOT/layers/<hex>" etc. into buf; -ENAMETOOLONG. */
int store_layer_path(const struct store *s, const char *chain_hex, char *buf, size_t size);
int store_image_path(const struct store *s, const char *id_hex, char *buf, size_t size);
int store_container_path(const struct store *s, const char *name, char *buf, size_t size);
/* A fresh directory under tmp/ (mkdtemp), for building something. */
int store_tmpdir(const struct store *s, const char *tag, char *buf, size_t size);

bool store_has_layer(const struct store *s, const char *chain_hex);
/* meta.json of a layer (new reference) or NULL. */
json_t *store_layer_meta(const struct store *s, const char *chain_hex);

/* Reads images/<id>.json (new reference) or NULL. */
json_t *store_image_load(const struct store *s, const char *id_hex);
/* Writes images/<id>.json atomically (tmp file + rename). */
int store_image_save(const struct store *s, const char *id_hex, json_t *image);
/* Finds an image by full id ("sha256:<hex>" or "<hex>"), by a reference in
 * docker's spelling (tools/store_names.c: "busybox" is
 * docker.io/library/busybox:latest; "NAME@sha256:<hex>" is a manifest
 * digest in "digests", or the image id of an image of that repository), or
 * by a unique id prefix of at least 12 hex digits. Fills id_hex. -ENOENT
 * when none, -EEXIST when a prefix is ambiguous. */
int store_image_find(const struct store *s, const char *ref, char id_hex[65]);
/* Why store_image_find(ref) failed with rc, in a few words ("no such
 * image", "ambiguous id prefix", a malformed reference's reason). */
void store_image_find_reason(const char *ref, int rc, char *buf, size_t size);
/* Calls fn for every image (id_hex, image json); stops on non-zero. */
int store_image_each(const struct store *s,
		     int (*fn)(const char *id_hex, json_t *image, void *arg), void *arg);

/* Reads containers/<name>/container.json (new reference), or NULL (also for
 * a name store_valid_name refuses). */
json_t *store_container_load(const struct store *s, const char *name);
/* What every command on a container starts with: opens the store at root
 * and loads container NAME. On failure a one-line message naming cmd on
 * stderr, the store closed again, and NULL. */
json_t *store_open_container(struct store *s, const char *root, const char *name,
			     const char *cmd);
int store_container_each(const struct store *s,
			 int (*fn)(const char *name, json_t *container, void *arg), void *arg);

/* Container names: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. */
bool store_valid_name(const char *name);

/* Added by the unpack/images half. */

/* Removes NAME below dirfd and, when it is a directory, everything in it,
 * never following a symlink. ENOENT counts as done. bytes (may be NULL)
 * grows by the space the removed files took. 0 or -errno. */
int store_remove_tree(int dirfd, const char *name, uint64_t *bytes);
/* Writes json to dirfd/name atomically (a temporary file in tmp/, fsync,
 * rename). 0 or -errno. */
int store_json_write_at(const struct store *s, int dirfd, const char *name, json_t *json);
/* Image names (tools/store_names.c). */

/* A reference as stored in "names": the normal form of reference.h
 * ("busybox" -> "docker.io/library/busybox:latest"). -EINVAL for a
 * malformed name or one with a digest (a name is NAME[:TAG]). */
int store_normalize_name(const char *ref, char *buf, size_t size);
/* Whether a name read from an image record (in its stored spelling, which
 * older stores did not normalise) is the normal-form name. */
bool store_name_equal(const char *stored, const char *normal);
/* The familiar form of a stored name ("busybox:latest"), for output. */
void store_name_familiar(const char *stored, char *buf, size_t size);
/* Removes from a "names" array every entry equal to normal (as
 * store_name_equal); true when there was one. */
bool store_names_remove(json_t *names, const char *normal);
/* Current time as RFC 3339 in UTC ("2024-01-02T03:04:05Z"). */
void store_now_rfc3339(char buf[32]);

#endif
