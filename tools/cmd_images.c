/* layerctl images | rmi IMAGE... | gc: listing images, removing them, and
 * dropping layers nothing uses. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "layerctl.h"
#include "store.h"

/* Common option parsing: --store, -q, and extra flags (-f for rmi). */
static int parse_opts(struct ctl *ctl, int argc, char **argv, bool *force)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'f' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, force ? "qf" : "q", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl->store_root = optarg; break;
		case 'q': ctl->quiet = true; break;
		case 'f':
			if (!force)
				return -1;
			*force = true;
			break;
		default: return -1;
		}
	}
	return 0;
}

static void human_size(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", n);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* ---- images ---- */

struct row {
	char *name;
	char id[13];
	size_t layers;
	uint64_t size;
	char created[32];
};

struct table {
	const struct store *s;
	struct row *rows;
	size_t n;
	bool ids_only;
};

static uint64_t image_size(const struct store *s, json_t *image)
{
	uint64_t total = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(image, "layers"), i, v) {
		char hex[65];
		if (!store_digest_hex(json_string_value(v), hex))
			continue;
		json_t *meta = store_layer_meta(s, hex);
		total += (uint64_t)json_integer_value(json_object_get(meta, "size"));
		json_decref(meta);
	}
	return total;
}

static void add_row(struct table *t, const char *name, const char *id_hex, size_t layers,
		    uint64_t size, const char *created)
{
	t->rows = realloc(t->rows, (t->n + 1) * sizeof(*t->rows));
	if (t->rows == NULL)
		abort();
	struct row *r = &t->rows[t->n++];
	r->name = strdup(name);
	snprintf(r->id, sizeof(r->id), "%.12s", id_hex);
	r->layers = layers;
	r->size = size;
	snprintf(r->created, sizeof(r->created), "%.19s", created ? created : "");
	char *T = strchr(r->created, 'T');
	if (T)
		*T = ' ';
}

static int table_fn(const char *id_hex, json_t *image, void *arg)
{
	struct table *t = arg;
	json_t *names = json_object_get(image, "names");
	size_t layers = json_array_size(json_object_get(image, "layers"));
	uint64_t size = image_size(t->s, image);
	const char *created = json_string_value(json_object_get(image, "created"));
	size_t i;
	json_t *v;
	char shown[1024];
	json_array_foreach(names, i, v) {
		if (!json_is_string(v))
			continue;
		store_name_familiar(json_string_value(v), shown, sizeof(shown));
		add_row(t, shown, id_hex, layers, size, created);
	}
	if (json_array_size(names) > 0)
		return 0;
	/* pulled by digest only: NAME@sha256:..., as it can be used */
	json_array_foreach(json_object_get(image, "digests"), i, v) {
		if (!json_is_string(v))
			continue;
		store_name_familiar(json_string_value(v), shown, sizeof(shown));
		add_row(t, shown, id_hex, layers, size, created);
	}
	if (json_array_size(json_object_get(image, "digests")) == 0)
		add_row(t, "<none>", id_hex, layers, size, created);
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->id, y->id);
}

static void print_table(struct table *t)
{
	if (t->n > 1)
		qsort(t->rows, t->n, sizeof(*t->rows), row_cmp);
	size_t w = 4;
	for (size_t i = 0; i < t->n; i++)
		w = strlen(t->rows[i].name) > w ? strlen(t->rows[i].name) : w;
	printf("%-*s  %-12s  %6s  %10s  %s\n", (int)w, "NAME", "IMAGE ID", "LAYERS", "SIZE",
	       "CREATED");
	for (size_t i = 0; i < t->n; i++) {
		struct row *r = &t->rows[i];
		char size[32];
		human_size(r->size, size, sizeof(size));
		printf("%-*s  %-12s  %6zu  %10s  %s\n", (int)w, r->name, r->id, r->layers, size,
		       r->created);
	}
}

int cmd_images(struct ctl *ctl, int argc, char **argv)
{
	if (parse_opts(ctl, argc, argv, NULL) < 0 || optind != argc) {
		fprintf(stderr, "usage: layerctl images [--store DIR] [-q]\n");
		return CTL_USAGE;
	}
	struct store s;
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	struct table t = { .s = &s };
	store_image_each(&s, table_fn, &t);
	if (ctl->quiet) {
		for (size_t i = 0; i < t.n; i++) {
			if (i == 0 || strcmp(t.rows[i].id, t.rows[i - 1].id) != 0)
				printf("%s\n", t.rows[i].id);
		}
	} else {
		print_table(&t);
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.rows[i].name);
	free(t.rows);
	store_close(&s);
	return CTL_OK;
}

/* ---- rmi ---- */

struct users {
	const char *id_hex;
	char list[1024];
	size_t n;
};

static int users_fn(const char *name, json_t *container, void *arg)
{
	struct users *u = arg;
	char hex[65];
	if (!store_digest_hex(json_string_value(json_object_get(container, "image")), hex) ||
	    strcmp(hex, u->id_hex) != 0)
		return 0;
	size_t len = strlen(u->list);
	snprintf(u->list + len, sizeof(u->list) - len, "%s%s", u->n ? ", " : "", name);
	u->n++;
	return 0;
}

static int delete_image(struct store *s, const char *id_hex, json_t *names, const char *ref)
{
	struct users u = { .id_hex = id_hex };
	store_container_each(s, users_fn, &u);
	if (u.n > 0) {
		fprintf(stderr, "layerctl: rmi %s: image sha256:%.12s is used by container%s %s; "
			"remove %s first\n", ref, id_hex, u.n > 1 ? "s" : "", u.list,
			u.n > 1 ? "them" : "it");
		return -1;
	}
	char rel[96];
	snprintf(rel, sizeof(rel), "images/%s.json", id_hex);
	if (unlinkat(s->fd, rel, 0) < 0) {
		fprintf(stderr, "layerctl: rmi %s: %s\n", ref, strerror(errno));
		return -1;
	}
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		char shown[1024];
		store_name_familiar(json_string_value(v) ? json_string_value(v) : "", shown,
				    sizeof(shown));
		printf("Untagged: %s\n", shown);
	}
	printf("Deleted: sha256:%s\n", id_hex);
	return 0;
}

/* One IMAGE: untag when named and other names remain, else delete. */
static int rmi_one(struct store *s, const char *ref, bool force)
{
	char id[65], name[1024], shown[1024];
	int rc = store_image_find(s, ref, id);
	if (rc < 0) {
		store_image_find_reason(ref, rc, shown, sizeof(shown));
		fprintf(stderr, "layerctl: rmi %s: %s\n", ref, shown);
		return -1;
	}
	json_t *image = store_image_load(s, id);
	json_t *names = json_object_get(image, "names");
	bool by_name = store_normalize_name(ref, name, sizeof(name)) == 0 &&
		       store_names_remove(names, name);
	if (by_name && json_array_size(names) > 0) {
		rc = store_image_save(s, id, image);
		store_name_familiar(name, shown, sizeof(shown));
		if (rc == 0)
			printf("Untagged: %s\n", shown);
		else
			fprintf(stderr, "layerctl: rmi %s: %s\n", ref, strerror(-rc));
	} else if (!by_name && json_array_size(names) > 1 && !force) {
		fprintf(stderr, "layerctl: rmi %s: image sha256:%.12s has %zu names; remove them "
			"by name, or use -f\n", ref, id, json_array_size(names));
		rc = -1;
	} else {
		if (by_name)
			json_array_append_new(names, json_string(name));
		rc = delete_image(s, id, names, ref);
	}
	json_decref(image);
	return rc;
}

int cmd_rmi(struct ctl *ctl, int argc, char **argv)
{
	bool force = false;
	if (parse_opts(ctl, argc, argv, &force) < 0 || optind >= argc) {
		fprintf(stderr, "usage: layerctl rmi [-f] IMAGE...\n");
		return CTL_USAGE;
	}
	struct store s;
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	int rc = store_lock(&s), failed = 0;
	if (rc < 0) {
		fprintf(stderr, "layerctl: %s: lock: %s\n", s.root, strerror(-rc));
		failed = 1;
	}
	for (int i = optind; rc == 0 && i < argc; i++)
		failed |= rmi_one(&s, argv[i], force) < 0;
	store_close(&s);
	return failed ? CTL_FAIL : CTL_OK;
}

/* ---- gc ---- */

struct used {
	char (*hex)[65];
	size_t n;
};

static void use_layers(struct used *u, json_t *layers)
{
	size_t i;
	json_t *v;
	json_array_foreach(layers, i, v) {
		char hex[65];
		if (!store_digest_hex(json_string_value(v), hex))
			continue;
		u->hex = realloc(u->hex, (u->n + 1) * sizeof(*u->hex));
		if (u->hex == NULL)
			abort();
		memcpy(u->hex[u->n++], hex, 65);
	}
}

static int used_by_image(const char *id_hex, json_t *image, void *arg)
{
	(void)id_hex;
	use_layers(arg, json_object_get(image, "layers"));
	return 0;
}

static int used_by_container(const char *name, json_t *container, void *arg)
{
	(void)name;
	use_layers(arg, json_object_get(container, "layers"));
	return 0;
}

static bool is_used(const struct used *u, const char *hex)
{
	for (size_t i = 0; i < u->n; i++) {
		if (strcmp(u->hex[i], hex) == 0)
			return true;
	}
	return false;
}

/* Moves the layer into tmp/ (one rename: never half a layer in layers/),
 * then removes it there. */
static int remove_layer(struct store *s, const char *hex, uint64_t *bytes)
{
	char from[96], to[128];
	snprintf(from, sizeof(from), "layers/%s", hex);
	snprintf(to, sizeof(to), "tmp/gc.%ld.%s", (long)getpid(), hex);
	if (renameat(s->fd, from, s->fd, to) < 0)
		return -errno;
	int tfd = openat(s->fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	int rc = store_remove_tree(tfd, to + 4, bytes);
	close(tfd);
	return rc;
}

static int collect_unused(struct store *s, const struct used *u, struct used *out)
{
	int fd = openat(s->fd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!digest_is_hex(de->d_name) || is_used(u, de->d_name))
			continue;
		json_t *one = json_pack("[s]", de->d_name);
		use_layers(out, one);
		json_decref(one);
	}
	closedir(d);
	return 0;
}

static int gc_run(struct store *s, bool quiet)
{
	struct used used = { 0 }, unused = { 0 };
	store_image_each(s, used_by_image, &used);
	store_container_each(s, used_by_container, &used);
	int rc = collect_unused(s, &used, &unused);
	uint64_t bytes = 0;
	size_t removed = 0;
	for (size_t i = 0; rc == 0 && i < unused.n; i++) {
		int r = remove_layer(s, unused.hex[i], &bytes);
		if (r < 0)
			fprintf(stderr, "layerctl: gc: layer %s: %s\n", unused.hex[i], strerror(-r));
		else
			removed++;
	}
	if (rc < 0) {
		fprintf(stderr, "layerctl: gc: %s/layers: %s\n", s->root, strerror(-rc));
	} else if (!quiet || removed) {
		char h[32];
		human_size(bytes, h, sizeof(h));
		printf("gc: removed %zu layer%s, %" PRIu64 " bytes (%s)\n", removed,
		       removed == 1 ? "" : "s", bytes, h);
	}
	free(used.hex);
	free(unused.hex);
	return rc < 0 || removed < unused.n ? -1 : 0;
}

int cmd_gc(struct ctl *ctl, int argc, char **argv)
{
	if (parse_opts(ctl, argc, argv, NULL) < 0 || optind != argc) {
		fprintf(stderr, "usage: layerctl gc [--store DIR] [-q]\n");
		return CTL_USAGE;
	}
	struct store s;
	if (store_open(&s, ctl->store_root, true) < 0)
		return CTL_FAIL;
	int rc = store_lock(&s);
	if (rc < 0)
		fprintf(stderr, "layerctl: %s: lock: %s\n", s.root, strerror(-rc));
	else
		rc = gc_run(&s, ctl->quiet);
	store_close(&s);
	return rc < 0 ? CTL_FAIL : CTL_OK;
}
