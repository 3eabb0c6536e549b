/* /proc/self/mountinfo as a table: which mount holds a path, how it
 * propagates (shared:N, master:N), what is mounted below it. The line
 * parser is pure; mountinfo_read reads the file. */
#ifndef LAYERCTL_MOUNTINFO_H
#define LAYERCTL_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>

struct mi_entry {
	int id, parent;
	char *root;        /* the mount's root within its file system */
	char *mountpoint;  /* unescaped */
	char *options;     /* per-mount options ("rw,relatime") */
	char *fstype, *source;
	int shared;        /* peer group (shared:N), 0 when not shared */
	int master;        /* master:N, 0 when not a slave */
};

struct mi_table {
	struct mi_entry *v;
	size_t n;
};

/* One line (without or with its newline) into e, fields copied. 0, or -1
 * for a malformed line. */
int mountinfo_parse_line(const char *line, struct mi_entry *e);
void mountinfo_entry_free(struct mi_entry *e);

/* Reads path (NULL: /proc/self/mountinfo). 0 or -errno. */
int mountinfo_read(struct mi_table *t, const char *path);
void mountinfo_free(struct mi_table *t);

/* The topmost mount whose mountpoint is exactly mnt, or NULL. */
const struct mi_entry *mountinfo_top_at(const struct mi_table *t, const char *mnt);
/* The mount that holds path (absolute, normalised, symlinks resolved):
 * the topmost mount on the longest mountpoint at or above it. */
const struct mi_entry *mountinfo_holder(const struct mi_table *t, const char *path);
/* Whether some mount sits on e (its parent is e). */
bool mountinfo_has_children(const struct mi_table *t, const struct mi_entry *e);
/* Whether some mountpoint lies strictly below path. */
bool mountinfo_any_below(const struct mi_table *t, const char *path);

#endif
