/* run.json and state.json of a container. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrstate.h"
#include "digest.h"

static int leaf_path(const struct store *s, const char *name, const char *leaf, char *buf,
		     size_t size)
{
	char dir[PATH_MAX];
	int rc = store_container_path(s, name, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	int n = snprintf(buf, size, "%s/%s", dir, leaf);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ctr_runtime_id(const struct store *s, const char *name, char *buf, size_t size)
{
	char hex[DIGEST_HEX_LEN + 1];
	digest_buffer(s->root, strlen(s->root), hex);
	int n = snprintf(buf, size, "layerctl-%s-%.8s", name, hex);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

unsigned long long ctr_process_start(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state is field 3, the start time field 22 */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	char state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	/* a zombie has ended: its run is over */
	return state == 'Z' ? 0 : strtoull(p, NULL, 10);
}

static int write_json(const char *path, json_t *doc)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(doc, tmp, JSON_INDENT(2)) < 0 || rename(tmp, path) < 0) {
		int rc = errno ? -errno : -EIO;
		unlink(tmp);
		return rc;
	}
	return 0;
}

int ctr_run_write(const struct store *s, const char *name, const struct ctr_run *r)
{
	char path[PATH_MAX];
	int rc = leaf_path(s, name, "run.json", path, sizeof(path));
	if (rc < 0)
		return rc;
	json_t *doc = json_pack("{s:i, s:I, s:s, s:s, s:b, s:i, s:s}", "pid", r->pid, "start",
				(json_int_t)r->start, "runtime", r->runtime, "id", r->id,
				"detached", r->detached, "init_pid", r->init_pid, "started",
				r->started);
	rc = doc ? write_json(path, doc) : -ENOMEM;
	json_decref(doc);
	return rc;
}

int ctr_run_read(const struct store *s, const char *name, struct ctr_run *r)
{
	char path[PATH_MAX];
	memset(r, 0, sizeof(*r));
	if (leaf_path(s, name, "run.json", path, sizeof(path)) < 0)
		return -ENOENT;
	json_t *doc = json_load_file(path, 0, NULL);
	if (!doc)
		return -ENOENT;
	r->pid = (int)json_integer_value(json_object_get(doc, "pid"));
	r->start = (unsigned long long)json_integer_value(json_object_get(doc, "start"));
	r->detached = json_is_true(json_object_get(doc, "detached"));
	r->init_pid = (int)json_integer_value(json_object_get(doc, "init_pid"));
	const char *rt = json_string_value(json_object_get(doc, "runtime"));
	const char *id = json_string_value(json_object_get(doc, "id"));
	const char *started = json_string_value(json_object_get(doc, "started"));
	snprintf(r->runtime, sizeof(r->runtime), "%s", rt ? rt : "");
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	snprintf(r->started, sizeof(r->started), "%s", started ? started : "");
	json_decref(doc);
	if (r->pid <= 0 || ctr_process_start(r->pid) != r->start || r->start == 0)
		return -ENOENT;
	return 0;
}

void ctr_run_clear(const struct store *s, const char *name)
{
	char path[PATH_MAX];
	if (leaf_path(s, name, "run.json", path, sizeof(path)) == 0)
		unlink(path);
}

int ctr_exit_write(const struct store *s, const char *name, int code)
{
	char path[PATH_MAX], finished[32];
	int rc = leaf_path(s, name, "state.json", path, sizeof(path));
	if (rc < 0)
		return rc;
	store_now_rfc3339(finished);
	json_t *doc = json_pack("{s:i, s:s}", "exit_code", code, "finished", finished);
	rc = doc ? write_json(path, doc) : -ENOMEM;
	json_decref(doc);
	return rc;
}

int ctr_exit_read(const struct store *s, const char *name, int *code, char finished[32])
{
	char path[PATH_MAX];
	if (leaf_path(s, name, "state.json", path, sizeof(path)) < 0)
		return -ENOENT;
	json_t *doc = json_load_file(path, 0, NULL);
	json_t *c = json_object_get(doc, "exit_code");
	int rc = json_is_integer(c) ? 0 : -ENOENT;
	*code = (int)json_integer_value(c);
	const char *f = json_string_value(json_object_get(doc, "finished"));
	snprintf(finished, 32, "%s", f ? f : "");
	json_decref(doc);
	return rc;
}

void ctr_exit_clear(const struct store *s, const char *name)
{
	char path[PATH_MAX];
	if (leaf_path(s, name, "state.json", path, sizeof(path)) == 0)
		unlink(path);
}

bool ctr_wait_gone(const struct ctr_run *r, int timeout_ms)
{
	for (int waited = 0;; waited += 20) {
		if (ctr_process_start(r->pid) != r->start)
			return true;
		if (waited >= timeout_ms)
			return false;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
