/* The union rule: what hides what in a stack of branches, top first. This
 * is the one place that decides it; the daemon (lookup, listings, its
 * directory cache, `which`) and layerctl (unpack, the bundle's user lookup,
 * diff) all ask it. The naming of markers is whiteout.h's.
 *
 * One branch's say about a NAME in a directory it takes part in is a kind:
 *   - absent: neither NAME nor a whiteout of it;
 *   - whiteout: `.wh.NAME` (only in a branch that honours whiteouts) hides
 *     NAME in every branch BELOW it; in its own branch NAME, when present,
 *     wins over its whiteout;
 *   - a non-directory: it is what NAME is, if nothing above had NAME; it
 *     ends the search either way;
 *   - a directory: it is what NAME is, if nothing above had NAME, and the
 *     same-named directories below merge into it, down to the first branch
 *     where NAME is not a directory or is whited out;
 *   - an opaque directory (`.wh..wh..opq` inside, in a branch that honours
 *     whiteouts): a directory below which nothing merges.
 * Branch roots always merge: a marker at a branch root hides nothing.
 *
 * A redirect: an opaque marker that is not empty holds a path from the
 * union root (components separated by '/', no "." or ".."): the directory
 * whose lower parts merge into this one, in the branches below the one
 * holding it, in place of the same-named directories there. It is how a
 * rename of a merged directory moves only the directory itself (layerfs
 * writes redirects in its rw branch only, and follows them there; readers
 * that do not know them see an opaque directory).
 *
 * Everything here is pure but the probes, which read a branch (never
 * through a symlink); nothing keeps global state. */
#ifndef LAYERFS_UNION_H
#define LAYERFS_UNION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum lfs_union_kind {
	LFS_UNION_ABSENT,
	LFS_UNION_WHITEOUT,
	LFS_UNION_NONDIR,
	LFS_UNION_DIR,
	LFS_UNION_OPAQUE_DIR,
};

/* The kind a branch's facts make: whether NAME is present and its mode,
 * whether `.wh.NAME` is there, whether NAME (a directory) holds the opaque
 * marker. A branch that does not honour whiteouts (aufs `ro`, `rr`) has no
 * whiteouts and no opaque directories. */
enum lfs_union_kind lfs_union_kind_of(bool present, mode_t mode, bool whiteout, bool opaque,
				      bool honours_wh);

static inline bool lfs_union_kind_present(enum lfs_union_kind k)
{
	return k == LFS_UNION_NONDIR || k == LFS_UNION_DIR || k == LFS_UNION_OPAQUE_DIR;
}

static inline bool lfs_union_kind_is_dir(enum lfs_union_kind k)
{
	return k == LFS_UNION_DIR || k == LFS_UNION_OPAQUE_DIR;
}

/* ---- one name, down the stack ---- */

/* What a branch is for a name, given the branches above it. */
enum lfs_union_role {
	LFS_UNION_SILENT,    /* says nothing about the name */
	LFS_UNION_SUPPLIES,  /* the topmost object: the name is this */
	LFS_UNION_MERGES,    /* a lower part of the directory the name is */
	LFS_UNION_HIDDEN,    /* has the name, but the branches above hide it */
	LFS_UNION_HIDES,     /* its whiteout hides the name from the branches below */
};

/* The state of a walk down the branches that take part in one directory,
 * for one name. Start it zeroed (LFS_UNION_WALK_INIT). */
struct lfs_union_walk {
	bool found;     /* some branch supplies the name */
	bool is_dir;    /* ...as a directory */
	bool ended;     /* no branch below takes part any more */
};
#define LFS_UNION_WALK_INIT { false, false, false }

/* Takes the next branch's kind; returns that branch's role. Once the walk
 * has ended, present kinds are HIDDEN and the others SILENT, so a caller
 * that wants every branch's role (`which`) can go on asking. */
enum lfs_union_role lfs_union_step(struct lfs_union_walk *w, enum lfs_union_kind k);

/* ---- reading a branch ---- */

/* What directory dfd of a branch (any fd a *at call takes, O_PATH is fine)
 * says about name: looks at name, `.wh.name` and, for a directory,
 * `name/.wh..wh..opq`, never following a symlink. st (may be NULL) gets
 * name's attributes when it is present. Returns 0 or -errno (a failure to
 * read, not absence). */
int lfs_union_probe_at(int dfd, const char *name, bool honours_wh, struct stat *st,
		       enum lfs_union_kind *kind);
/* Whether directory dirname in dfd holds the opaque marker. */
bool lfs_union_dir_opaque_at(int dfd, const char *dirname);
/* The redirect of directory dirname in dfd (see above): 1 with the path in
 * *target (malloc'ed), 0 when there is none (no marker, or an empty one),
 * or -errno (-EINVAL for a marker that holds no valid path). */
int lfs_union_redirect_at(int dfd, const char *dirname, char **target);
/* Whether path can be a redirect's target: relative, components that are
 * valid names and no markers. */
bool lfs_union_redirect_valid(const char *path);

/* Whether directory name, in directory dirpath below branch root rootfd,
 * holds the opaque marker, with one openat2 beneath the root: 1, 0, or
 * -errno when that cannot be told (the caller then probes it fully). */
int lfs_union_opaque_beneath(int rootfd, const char *dirpath, const char *name);
/* Whether directory dfd holds a whiteout of name, however it is spelled
 * (".wh.NAME", or the long-name list for names too long for that). */
bool lfs_union_whiteout_at(int dfd, const char *name);

/* A branch's say about name in its directory dirpath ("" the root). A
 * dirpath the branch lacks, or reaches only through a symlink or a
 * non-directory, is ABSENT. Returns 0 or -errno. */
typedef int (*lfs_union_probe_fn)(void *ctx, unsigned branch, const char *dirpath,
				  const char *name, enum lfs_union_kind *kind);

/* A stack of n branches, 0 the top, read through probe. */
struct lfs_union_stack {
	unsigned n;
	lfs_union_probe_fn probe;
	void *ctx;
};

/* The probe for branch roots given as directory fds: ctx is a struct
 * lfs_union_fds. */
struct lfs_union_fds {
	const int *fd;          /* fd[b]: the root of branch b */
	const bool *honours_wh; /* NULL: every branch honours whiteouts */
};
int lfs_union_probe_fds(void *ctx, unsigned branch, const char *dirpath, const char *name,
			enum lfs_union_kind *kind);

/* Resolves path ("a/b/c"; "" the root) through the stack. On success
 * *supplier is the branch that supplies it, *kind its kind there, and
 * out[0..*nout) the branches whose copies make it, top first: for a
 * directory every branch that merges into it, for anything else just the
 * supplier. out must hold s->n entries. -ENOENT when no branch supplies it
 * (or something above hides it), -ENOTDIR when a parent is not a directory
 * in the merged view, other -errno when a probe fails. */
int lfs_union_resolve_path(const struct lfs_union_stack *s, const char *path, unsigned *out,
			   unsigned *nout, unsigned *supplier, enum lfs_union_kind *kind);

/* ---- a merged listing ---- */

/* What an entry read from a branch directory is to the union. */
enum lfs_union_entry {
	LFS_UNION_ENTRY_NAME,     /* a name the branch holds */
	LFS_UNION_ENTRY_WHITEOUT, /* a whiteout: *target is the name it hides */
	LFS_UNION_ENTRY_LONG_WHITEOUTS, /* the list of long names' whiteouts (longwh.h):
					  * read it with lfs_union_list_foreach_long */
	LFS_UNION_ENTRY_IGNORED,  /* ".", "..", a marker that means nothing here */
};
enum lfs_union_entry lfs_union_classify(const char *entry, bool honours_wh,
					const char **target);

/* Builds a merged listing from the branches that take part in a directory,
 * read top-down: a name shows from the topmost branch that has it; the
 * whiteouts of a branch hide names in the branches read after it. The
 * set of names keeps its own copies. */
struct lfs_union_list {
	uint32_t *slot;        /* name offset + 1 into pool; 0 empty */
	size_t cap, used;
	char *pool;            /* NUL-terminated names, back to back */
	size_t poollen, poolcap;
	size_t *pending;       /* pool offsets of the current branch's whiteouts */
	size_t npending, cappending;
};
#define LFS_UNION_LIST_INIT { 0 }

/* An entry as read from the current branch's directory dfd (classified
 * here; dfd is read for the long-name list, -1: not read): 1 when it is a
 * name to list, 0 when not, -errno. */
int lfs_union_list_entry(struct lfs_union_list *l, int dfd, const char *entry, bool honours_wh);
/* The same for an entry already classified: a name, or a whiteout's target. */
int lfs_union_list_name(struct lfs_union_list *l, const char *name);
int lfs_union_list_whiteout(struct lfs_union_list *l, const char *target);
/* The whiteouts in the long-name list of directory dfd (an entry that
 * classified as LFS_UNION_ENTRY_LONG_WHITEOUTS): each target goes to fn, or
 * into the listing. 0, fn's non-zero return, or -errno. */
int lfs_union_list_foreach_long(int dfd, int (*fn)(void *arg, const char *target), void *arg);
int lfs_union_list_long_whiteouts(struct lfs_union_list *l, int dfd);
/* The current branch is read: its whiteouts now hide names below. 0 or
 * -ENOMEM. */
int lfs_union_list_end_branch(struct lfs_union_list *l);
/* Whether name is listed or hidden already (by the branches ended). */
bool lfs_union_list_has(const struct lfs_union_list *l, const char *name);
void lfs_union_list_free(struct lfs_union_list *l);

#endif
