/* layerctl unpack IMAGE [--platform P] [--name NAME:TAG] [-q]: every layer
 * into layers/<chain>/diff (built in tmp/, renamed into place), in
 * parallel, then the image record. An image without layers (scratch) gets
 * its record only. The store insertion (image_load, see imageload.h) is
 * shared with pull. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "imageload.h"
#include "layerctl.h"
#include "reference.h"
#include "store.h"
#include "unpack.h"

struct job {
	struct image_layer *layer;
	char chain[65];        /* "" until the diff_id is known */
	bool present;          /* already in the store */
	char tmpdir[PATH_MAX]; /* "" when nothing was made */
	struct unpack_result res;
	char *err;             /* errsz bytes: room for the longest paths */
	size_t errsz;
	int rc;
};

struct run {
	struct store *s;
	const struct image_load *o;
	struct job *jobs;
	size_t njobs, todo, next, done;
	uint64_t bytes;          /* raw bytes read, for the progress line */
	uint64_t total;          /* raw bytes of the layers to unpack */
	struct timespec start;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void drop_tmp(struct run *r, struct job *j)
{
	if (j->tmpdir[0] == '\0')
		return;
	int tfd = openat(r->s->fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd >= 0) {
		store_remove_tree(tfd, base_name(j->tmpdir), NULL);
		close(tfd);
	}
	j->tmpdir[0] = '\0';
}

/* The digests the image promised, against what was read. After a failed
 * unpack, a blob that is not the promised one is the better explanation. */
static int verify(struct job *j, int unpack_rc)
{
	const struct image_layer *l = j->layer;
	if (l->digest[0] && j->res.digest[0] && strcmp(l->digest, j->res.digest) != 0) {
		snprintf(j->err, j->errsz, "%s: content is sha256:%s, but %s says sha256:%s",
			 l->label, j->res.digest, l->digest_field, l->digest);
		return -1;
	}
	if (unpack_rc < 0)
		return -1;
	if (l->diff_id[0] && strcmp(l->diff_id, j->res.diff_id) != 0) {
		snprintf(j->err, j->errsz,
			 "%s: uncompressed content is sha256:%s, but %s says sha256:%s", l->label,
			 j->res.diff_id, l->diff_id_field, l->diff_id);
		return -1;
	}
	return 0;
}

static int unpack_job(struct run *r, struct job *j)
{
	int rc = store_tmpdir(r->s, "layer", j->tmpdir, sizeof(j->tmpdir));
	if (rc < 0) {
		j->tmpdir[0] = '\0';
		snprintf(j->err, j->errsz, "%s/tmp: %s", r->s->root, strerror(-rc));
		return -1;
	}
	int tfd = open(j->tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int dfd = -1;
	if (tfd >= 0 && mkdirat(tfd, "diff", 0755) == 0)
		dfd = openat(tfd, "diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd >= 0)
		close(tfd);
	if (dfd < 0) {
		snprintf(j->err, j->errsz, "%.1024s: %s", j->tmpdir, strerror(errno));
		return -1;
	}
	struct blob_reader *in = NULL;
	size_t i = (size_t)(j - r->jobs);
	if (r->o->open)
		rc = r->o->open(r->o->ctx, i, &in, j->err, j->errsz);
	else
		rc = blob_open(j->layer, &in, j->err, j->errsz);
	if (rc == 0)
		rc = unpack_layer(in, dfd, j->layer->label, &r->bytes, &j->res, j->err, j->errsz);
	if (rc < 0 && in && r->o->failed)
		r->o->failed(r->o->ctx, i, j->err, j->errsz);
	blob_close(in);
	close(dfd);
	return verify(j, rc);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (r->next < r->njobs && r->jobs[r->next].present)
			r->next++;
		struct job *j = r->next < r->njobs ? &r->jobs[r->next++] : NULL;
		pthread_mutex_unlock(&r->mu);
		if (j == NULL)
			return NULL;
		j->rc = unpack_job(r, j);
		if (j->rc < 0)
			drop_tmp(r, j);
		pthread_mutex_lock(&r->mu);
		r->done++;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
}

static void human(double bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;
	while (bytes >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* "layer k/N, done/total, rate" on stderr (a terminal), redrawn in place;
 * the last one, at N/N, ends the line. */
static void progress_line(struct run *r, bool final)
{
	uint64_t bytes = __atomic_load_n(&r->bytes, __ATOMIC_RELAXED);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = (double)(now.tv_sec - r->start.tv_sec) +
		      (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
	char done[32], total[32], rate[32];
	human((double)bytes, done, sizeof(done));
	human((double)(r->total > bytes ? r->total : bytes), total, sizeof(total));
	human(secs > 0.001 ? (double)bytes / secs : 0.0, rate, sizeof(rate));
	fprintf(stderr, "\r\033[Klayer %zu/%zu, %s/%s, %s/s%s", r->done, r->todo, done, total,
		rate, final ? "\n" : "");
	fflush(stderr);
}

/* Runs the jobs on one thread per core; a progress line when show. */
static void run_jobs(struct run *r, bool show)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = r->o->jobs ? r->o->jobs : cores > 0 ? (size_t)cores : 1;
	if (n > r->todo)
		n = r->todo;
	pthread_t *th = calloc(n ? n : 1, sizeof(*th));
	size_t started = 0;
	for (; started < n; started++) {
		if (pthread_create(&th[started], NULL, worker, r) != 0)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	if (started == 0)
		worker(r);
	pthread_mutex_lock(&r->mu);
	while (r->done < r->todo) {
		if (show)
			progress_line(r, false);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (show && r->todo > 0)
		progress_line(r, true);
}

static void compute_chains(struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *diff = jobs[i].layer->diff_id;
		if (diff[0] == '\0')
			diff = jobs[i].res.diff_id;
		digest_chain_id(i ? jobs[i - 1].chain : NULL, diff, jobs[i].chain);
	}
}

static json_t *str_or_null(const char *hex)
{
	char buf[DIGEST_STR_SIZE];
	if (hex == NULL || hex[0] == '\0')
		return json_null();
	digest_format(hex, buf);
	return json_string(buf);
}

static int write_meta(struct run *r, struct job *j, const char *parent)
{
	const char *diff = j->layer->diff_id[0] ? j->layer->diff_id : j->res.diff_id;
	json_t *meta = json_object();
	json_object_set_new(meta, "chain_id", str_or_null(j->chain));
	json_object_set_new(meta, "diff_id", str_or_null(diff));
	json_object_set_new(meta, "parent", str_or_null(parent));
	json_object_set_new(meta, "digest", str_or_null(j->res.digest));
	json_object_set_new(meta, "media_type", j->layer->media_type
				  ? json_string(j->layer->media_type) : json_null());
	json_object_set_new(meta, "size", json_integer((json_int_t)j->res.size));
	if (r->o->meta)
		r->o->meta(r->o->ctx, (size_t)(j - r->jobs), meta);
	int dfd = open(j->tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int rc = dfd < 0 ? -errno : store_json_write_at(r->s, dfd, "meta.json", meta);
	if (dfd >= 0)
		close(dfd);
	json_decref(meta);
	return rc;
}

/* Moves the finished layers into layers/; under the store lock. */
static int commit_layers(struct run *r)
{
	for (size_t i = 0; i < r->njobs; i++) {
		struct job *j = &r->jobs[i];
		const char *parent = i ? r->jobs[i - 1].chain : NULL;
		bool have = store_has_layer(r->s, j->chain);
		if (have || j->tmpdir[0] == '\0') {
			drop_tmp(r, j);
			if (!have) {
				fprintf(stderr, "layerctl: layer sha256:%s vanished from the store while "
					"unpacking (gc?); run unpack again\n", j->chain);
				return -1;
			}
			continue;
		}
		char dst[PATH_MAX];
		int rc = write_meta(r, j, parent);
		if (rc == 0)
			rc = store_layer_path(r->s, j->chain, dst, sizeof(dst));
		if (rc == 0) {
			/* A leftover without meta.json (not a layer) makes way. */
			store_remove_tree(AT_FDCWD, dst, NULL);
			rc = rename(j->tmpdir, dst) < 0 ? -errno : 0;
		}
		if (rc < 0) {
			fprintf(stderr, "layerctl: %s: layer sha256:%s: %s\n", r->s->root, j->chain,
				strerror(-rc));
			return -1;
		}
		j->tmpdir[0] = '\0';
	}
	return 0;
}

struct names {
	char **v;
	size_t n;
};

struct untag {
	struct store *s;
	const char *keep;  /* the image that gets the names */
	const struct image_load *o;
};

/* A name moves to the new image: other images lose it (as docker does). */
static int untag_fn(const char *id_hex, json_t *image, void *arg)
{
	struct untag *u = arg;
	if (strcmp(id_hex, u->keep) == 0)
		return 0;
	bool changed = false;
	json_t *arr = json_object_get(image, "names");
	for (size_t i = 0; i < u->o->nnames; i++)
		changed |= store_names_remove(arr, u->o->names[i]);
	if (changed)
		store_image_save(u->s, id_hex, image);
	return 0;
}

static json_t *new_image(struct run *r, const struct image_src *img)
{
	char now[32];
	json_t *layers = json_array(), *diffs = json_array();
	for (size_t i = 0; i < r->njobs; i++) {
		json_array_append_new(layers, str_or_null(r->jobs[i].chain));
		json_array_append_new(diffs, str_or_null(img->layers[i].diff_id));
	}
	const char *created = json_string_value(json_object_get(img->config, "created"));
	store_now_rfc3339(now);
	return json_pack("{s:o, s:[], s:o, s:o, s:s, s:O}",
			 "id", str_or_null(img->config_digest), "names", "layers", layers,
			 "diff_ids", diffs, "created", created ? created : now,
			 "config", img->config);
}

/* Adds the strings of add to the array field of obj, each once. */
static void add_unique(json_t *obj, const char *field, char **add, size_t n)
{
	json_t *arr = json_object_get(obj, field);
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(obj, field, arr);
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;
		json_t *v;
		bool have = false;
		json_array_foreach(arr, k, v)
			have |= json_is_string(v) && strcmp(json_string_value(v), add[i]) == 0;
		if (!have)
			json_array_append_new(arr, json_string(add[i]));
	}
}

static int save_image(struct run *r, const struct image_src *img)
{
	json_t *image = store_image_load(r->s, img->config_digest);
	if (image == NULL)
		image = new_image(r, img);
	if (image == NULL)
		return -ENOMEM;
	json_t *arr = json_object_get(image, "names");
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(image, "names", arr);
	}
	for (size_t i = 0; i < r->o->nnames; i++) {
		store_names_remove(arr, r->o->names[i]);
		json_array_append_new(arr, json_string(r->o->names[i]));
	}
	if (r->o->ndigests)
		add_unique(image, "digests", r->o->digests, r->o->ndigests);
	struct untag u = { r->s, img->config_digest, r->o };
	store_image_each(r->s, untag_fn, &u);
	int rc = store_image_save(r->s, img->config_digest, image);
	json_decref(image);
	return rc;
}

/* A name in docker's spelling, kept in normal form; -1 with the reason. */
static int add_name(struct names *names, const char *ref, char *err, size_t errsz)
{
	char buf[1024];
	if (reference_normalize(ref, buf, sizeof(buf), err, errsz) < 0)
		return -1;
	if (strchr(buf, '@')) {
		snprintf(err, errsz, "a name takes a tag, not a digest");
		return -1;
	}
	names->v = realloc(names->v, (names->n + 1) * sizeof(char *));
	if (names->v == NULL || (names->v[names->n] = strdup(buf)) == NULL)
		abort();
	names->n++;
	return 0;
}

static void free_names(struct names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
}

/* The diff directory of a job: in tmp/ when unpacked now, else in layers/. */
static int open_diff(struct run *r, struct job *j)
{
	char path[PATH_MAX];
	int n = j->tmpdir[0] ? snprintf(path, sizeof(path), "%s/diff", j->tmpdir) : -1;
	if (!j->tmpdir[0] && store_layer_path(r->s, j->chain, path, sizeof(path) - 5) == 0)
		n = (int)strlen(strcat(path, "/diff"));
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Bottom first, so that a layer's lower layers are fixed up before it
 * looks at them: see unpack_inherit_dirs. */
static void inherit_dirs(struct run *r)
{
	size_t n = r->njobs ? r->njobs : 1;
	int *fds = calloc(n, sizeof(int)), *lower = calloc(n, sizeof(int));
	if (fds == NULL || lower == NULL)
		abort();
	for (size_t i = 0; i < r->njobs; i++)
		fds[i] = open_diff(r, &r->jobs[i]);
	for (size_t i = 1; i < r->njobs; i++) {
		struct job *j = &r->jobs[i];
		if (!j->tmpdir[0] || j->res.nimplicit == 0 || fds[i] < 0)
			continue;
		size_t n = 0;
		for (size_t k = i; k-- > 0;) {
			if (fds[k] >= 0)
				lower[n++] = fds[k];
		}
		unpack_inherit_dirs(fds[i], &j->res, lower, n);
	}
	for (size_t i = 0; i < r->njobs; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(fds);
	free(lower);
}

static int finish(struct run *r, struct image_src *img)
{
	if (img->format == IMAGE_LAYER &&
	    image_layer_config(img, r->jobs[0].res.diff_id) < 0)
		return -1;
	compute_chains(r->jobs, r->njobs);
	inherit_dirs(r);
	int rc = store_lock(r->s);
	if (rc == 0 && commit_layers(r) == 0) {
		rc = save_image(r, img);
		if (rc < 0)
			fprintf(stderr, "layerctl: %s: image %s: %s\n", r->s->root,
				img->config_digest, strerror(-rc));
	} else if (rc < 0) {
		fprintf(stderr, "layerctl: %s: lock: %s\n", r->s->root, strerror(-rc));
	} else {
		rc = -1;
	}
	store_unlock(r->s);
	return rc;
}

/* After a failure: the finished layers from the bottom up go into the
 * store (each complete and checked), the rest is dropped. */
static void keep_finished(struct run *r)
{
	size_t n = 0, all = r->njobs;
	while (n < all && r->jobs[n].rc == 0 && (r->jobs[n].present || r->jobs[n].tmpdir[0]))
		n++;
	if (n == 0 || store_lock(r->s) < 0)
		return;
	r->njobs = n;  /* chains are known: they come from the config */
	inherit_dirs(r);
	commit_layers(r);
	r->njobs = all;
	store_unlock(r->s);
}

int image_load(struct store *s, struct image_src *img, const struct image_load *o)
{
	struct run r = { .s = s, .o = o, .njobs = img->nlayers };
	size_t errsz = o->errsz ? o->errsz : 4096;
	r.jobs = calloc(img->nlayers ? img->nlayers : 1, sizeof(*r.jobs));
	if (r.jobs == NULL)
		abort();
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	for (size_t i = 0; i < r.njobs; i++) {
		r.jobs[i].layer = &img->layers[i];
		r.jobs[i].errsz = errsz;
		if ((r.jobs[i].err = calloc(1, errsz)) == NULL)
			abort();
	}
	if (img->format != IMAGE_LAYER) {
		compute_chains(r.jobs, r.njobs);
		for (size_t i = 0; i < r.njobs; i++)
			r.jobs[i].present = store_has_layer(s, r.jobs[i].chain);
	}
	for (size_t i = 0; i < r.njobs; i++) {
		r.todo += !r.jobs[i].present;
		r.total += r.jobs[i].present ? 0 : r.jobs[i].layer->size;
	}
	run_jobs(&r, o->show);
	int rc = 0;
	for (size_t i = 0; i < r.njobs; i++) {
		if (r.jobs[i].rc < 0) {
			fprintf(stderr, "layerctl: %s\n", r.jobs[i].err);
			rc = -1;
		}
	}
	if (rc == 0)
		rc = finish(&r, img);
	else if (o->keep_finished && img->format != IMAGE_LAYER)
		keep_finished(&r);
	for (size_t i = 0; i < r.njobs; i++) {
		drop_tmp(&r, &r.jobs[i]);
		unpack_result_free(&r.jobs[i].res);
		free(r.jobs[i].err);
	}
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	free(r.jobs);
	return rc;
}

static void print_result(const struct image_src *img, const struct names *names)
{
	printf("Loaded image ID: sha256:%s\n", img->config_digest);
	for (size_t i = 0; i < names->n; i++) {
		char shown[1024];
		store_name_familiar(names->v[i], shown, sizeof(shown));
		printf("Loaded image: %s\n", shown);
	}
}

static int usage(FILE *out)
{
	fprintf(out, "usage: layerctl unpack IMAGE [--platform OS/ARCH[/VARIANT]] "
		"[--name NAME:TAG]... [-q]\n(see layerctl help unpack)\n");
	return out == stdout ? CTL_OK : CTL_USAGE;
}

int cmd_unpack(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "platform", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct names names = { 0 };
	const char *platform = NULL;
	char why[512];
	int c, rc = CTL_OK;
	while ((c = getopt_long(argc, argv, "qn:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl->store_root = optarg; break;
		case 'p': platform = optarg; break;
		case 'q': ctl->quiet = true; break;
		case 'n':
			if (add_name(&names, optarg, why, sizeof(why)) < 0) {
				fprintf(stderr, "layerctl: --name '%s': %s\n", optarg, why);
				rc = CTL_USAGE;
			}
			break;
		case 'h':
			free_names(&names);
			return usage(stdout);
		default: rc = CTL_USAGE; break;
		}
	}
	if (rc != CTL_OK || optind != argc - 1) {
		free_names(&names);
		return usage(stderr);
	}
	struct image_src img;
	/* Messages name the source (twice at most) and paths inside it. */
	size_t errsz = 4 * strlen(argv[optind]) + 4 * PATH_MAX + 1024;
	char *err = calloc(1, errsz);
	struct store s;
	if (err == NULL)
		abort();
	if (image_read(argv[optind], platform, &img, err, errsz) < 0) {
		fprintf(stderr, "layerctl: %s\n", err);
		rc = CTL_FAIL;
	} else if (store_open(&s, ctl->store_root, true) < 0) {
		rc = CTL_FAIL;
	} else {
		bool given = names.n > 0;
		for (size_t i = 0; !given && i < img.nnames; i++) {
			if (add_name(&names, img.names[i], why, sizeof(why)) < 0)
				fprintf(stderr, "layerctl: %s: name '%s' ignored: %s\n",
					img.source, img.names[i], why);
		}
		bool show = !ctl->quiet && isatty(STDERR_FILENO);
		struct image_load o = { .names = names.v, .nnames = names.n, .show = show,
					.errsz = errsz };
		rc = image_load(&s, &img, &o) == 0 ? CTL_OK : CTL_FAIL;
		if (rc == CTL_OK)
			print_result(&img, &names);
		store_close(&s);
	}
	image_free(&img);
	free_names(&names);
	free(err);
	return rc;
}
