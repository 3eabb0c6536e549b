/* Shared binds of volume sources, and their record in the store. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "layerfs/pathutil.h"
#include "mountinfo.h"
#include "sharedmount.h"

#define RECORD "shared-mounts.json"

/* The record (new reference): {"mounts": []} when there is none yet, NULL
 * (with a message) when it cannot be read. */
static json_t *record_load(const struct store *s, const char *cmd)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->root, RECORD);
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		FILE *f = fopen(path, "re");
		if (!f && errno == ENOENT)
			return json_pack("{s:[]}", "mounts");
		if (f)
			fclose(f);
		fprintf(stderr, "layerctl: %s: %s: %s\n", cmd, path, jerr.text);
		return NULL;
	}
	if (!json_is_array(json_object_get(doc, "mounts"))) {
		fprintf(stderr, "layerctl: %s: %s: \"mounts\" is not an array\n", cmd, path);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int record_save(const struct store *s, json_t *doc, const char *cmd)
{
	int rc = store_json_write_at(s, s->fd, RECORD, doc);
	if (rc < 0)
		fprintf(stderr, "layerctl: %s: cannot write %s/%s: %s\n", cmd, s->root, RECORD,
			strerror(-rc));
	return rc;
}

static bool has_name(json_t *names, const char *name)
{
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n)
		if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
			return true;
	return false;
}

/* Adds container to the records of our binds, still in place, that
 * source relies on. Returns whether anything changed. */
static bool record_users(json_t *doc, const struct mi_table *t, const char *source,
			 const char *container)
{
	bool changed = false;
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(doc, "mounts"), i, rec) {
		const char *path = json_string_value(json_object_get(rec, "path"));
		const struct mi_entry *top = path ? mountinfo_top_at(t, path) : NULL;
		json_t *names = json_object_get(rec, "containers");
		if (!top || !lfs_path_is_beneath(path, source) || !json_is_array(names) ||
		    top->id != json_integer_value(json_object_get(rec, "mount_id")))
			continue;
		if (!has_name(names, container)) {
			json_array_append_new(names, json_string(container));
			changed = true;
		}
	}
	return changed;
}

/* Binds source onto itself and makes the bind shared. The new mount's id,
 * or -1 with a message. */
static int bind_shared(const char *source, const char *cmd)
{
	if (mount(source, source, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "layerctl: %s: cannot bind %s onto itself: %s\n", cmd, source,
			strerror(errno));
		return -1;
	}
	if (mount(NULL, source, NULL, MS_SHARED, NULL) < 0) {
		fprintf(stderr, "layerctl: %s: cannot make %s shared: %s\n", cmd, source,
			strerror(errno));
		umount2(source, UMOUNT_NOFOLLOW);
		return -1;
	}
	struct mi_table t;
	const struct mi_entry *top = NULL;
	if (mountinfo_read(&t, NULL) == 0)
		top = mountinfo_top_at(&t, source);
	int id = top ? top->id : -1;
	mountinfo_free(&t);
	if (id < 0) {
		fprintf(stderr, "layerctl: %s: the shared bind of %s is not in mountinfo\n", cmd,
			source);
		umount2(source, UMOUNT_NOFOLLOW);
	}
	return id;
}

static void record_bind(json_t *doc, const char *source, int id, const char *container)
{
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(doc, "mounts"), i, rec) {
		const char *path = json_string_value(json_object_get(rec, "path"));
		if (path && strcmp(path, source) == 0) {
			json_object_set_new(rec, "mount_id", json_integer(id));
			json_t *names = json_object_get(rec, "containers");
			if (!json_is_array(names)) {
				names = json_array();
				json_object_set_new(rec, "containers", names);
			}
			if (!has_name(names, container))
				json_array_append_new(names, json_string(container));
			return;
		}
	}
	json_array_append_new(json_object_get(doc, "mounts"),
			      json_pack("{s:s, s:i, s:[s]}", "path", source, "mount_id", id,
					"containers", container));
}

int sharedmount_ensure(const struct store *s, const char *container, const char *source,
		       bool need_shared, const char *cmd)
{
	struct mi_table t;
	int rc = mountinfo_read(&t, NULL);
	if (rc < 0) {
		fprintf(stderr, "layerctl: %s: /proc/self/mountinfo: %s\n", cmd, strerror(-rc));
		return -1;
	}
	json_t *doc = record_load(s, cmd);
	const struct mi_entry *holder = mountinfo_holder(&t, source);
	bool ok = holder && (holder->shared || (!need_shared && holder->master));
	rc = doc ? 0 : -1;
	if (doc && ok) {
		if (record_users(doc, &t, source, container))
			rc = record_save(s, doc, cmd);
	} else if (doc && mountinfo_any_below(&t, source)) {
		fprintf(stderr, "layerctl: %s: volume source %s is not on a shared mount and has "
			"mounts below it, which a bind would hide; make it shared first: "
			"mount --rbind %s %s && mount --make-rshared %s\n", cmd, source, source,
			source, source);
		rc = -1;
	} else if (doc) {
		int id = bind_shared(source, cmd);
		if (id < 0) {
			rc = -1;
		} else {
			record_bind(doc, source, id, container);
			rc = record_save(s, doc, cmd);
			if (rc < 0)
				umount2(source, UMOUNT_NOFOLLOW);
		}
	}
	json_decref(doc);
	mountinfo_free(&t);
	return rc < 0 ? -1 : 0;
}

/* Unmounts our bind at path when it is still ours and nothing sits on it. */
static void undo_bind(const char *path, json_int_t id)
{
	struct mi_table t;
	if (mountinfo_read(&t, NULL) < 0)
		return;
	const struct mi_entry *top = mountinfo_top_at(&t, path);
	if (top && top->id == id) {
		if (mountinfo_has_children(&t, top))
			fprintf(stderr, "layerctl: warning: %s stays a shared bind mount: something "
				"is mounted below it (unmount that, then: umount %s)\n", path, path);
		else if (umount2(path, UMOUNT_NOFOLLOW) < 0)
			fprintf(stderr, "layerctl: warning: cannot unmount the shared bind %s: %s\n",
				path, strerror(errno));
	}
	mountinfo_free(&t);
}

void sharedmount_release(const struct store *s, const char *container)
{
	json_t *doc = record_load(s, "rm");
	json_t *mounts = json_object_get(doc, "mounts");
	bool changed = false;
	for (size_t i = json_array_size(mounts); i-- > 0;) {
		json_t *rec = json_array_get(mounts, i);
		json_t *names = json_object_get(rec, "containers");
		for (size_t k = json_array_size(names); k-- > 0;) {
			const char *n = json_string_value(json_array_get(names, k));
			if (n && strcmp(n, container) == 0) {
				json_array_remove(names, k);
				changed = true;
			}
		}
		if (json_array_size(names) == 0) {
			const char *path = json_string_value(json_object_get(rec, "path"));
			if (path)
				undo_bind(path, json_integer_value(json_object_get(rec, "mount_id")));
			json_array_remove(mounts, i);
			changed = true;
		}
	}
	if (changed)
		record_save(s, doc, "rm");
	json_decref(doc);
}

json_t *sharedmount_list(const struct store *s, const char *container)
{
	json_t *out = json_array();
	json_t *doc = record_load(s, "inspect");
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(doc, "mounts"), i, rec) {
		if (has_name(json_object_get(rec, "containers"), container))
			json_array_append(out, json_object_get(rec, "path"));
	}
	json_decref(doc);
	return out;
}
