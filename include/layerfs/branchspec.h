/* Parsing of branch specifications: aufs "br=" lists and overlayfs-style
 * lowerdir/upperdir options. Pure string handling: nothing here touches the
 * filesystem (checking that branches exist is the caller's job). */
#ifndef LAYERFS_BRANCHSPEC_H
#define LAYERFS_BRANCHSPEC_H

#include <stdbool.h>
#include <stddef.h>

enum lfs_perm {
	LFS_PERM_RW, /* the one writable branch; always honours whiteouts */
	LFS_PERM_RO, /* read-only, may change underneath */
	LFS_PERM_RR, /* "real read-only": nobody changes it, cache freely */
};

struct lfs_branch_spec {
	char *path;         /* as given (unescaped), not resolved */
	enum lfs_perm perm;
	bool wh;            /* whiteouts/opaque markers in this branch are honoured */
};

struct lfs_branch_list {
	struct lfs_branch_spec *v;
	size_t n;
};

/* "rw", "ro", "ro+wh", "rr", "rr+wh" -> perm/wh. Returns 0 or -EINVAL. */
int lfs_parse_perm(const char *s, enum lfs_perm *perm, bool *wh);
/* The canonical aufs spelling of a permission ("rw", "ro+wh", ...). */
const char *lfs_perm_name(enum lfs_perm perm, bool wh);

/* Parses an aufs branch list "DIR[=PERM]:DIR[=PERM]:..." (the value of
 * br=/dirs=, or what follows "br:"), appending to *out. A branch without
 * =PERM is rw when it is the first branch of the whole list, ro otherwise.
 * "\:" and "\\" escape a colon and a backslash inside a path.
 * Returns 0, or -EINVAL with a one-line message in err. */
int lfs_parse_aufs_branches(const char *spec, struct lfs_branch_list *out,
			    char *err, size_t errsz);

/* Builds the list from overlay options: upperdir (may be NULL) becomes the rw
 * branch, lowerdir "TOP:...:BOTTOM" (same escapes) the ro+wh branches.
 * Returns 0, or -EINVAL with a message in err. */
int lfs_parse_overlay_branches(const char *lowerdir, const char *upperdir,
			       struct lfs_branch_list *out, char *err, size_t errsz);

/* Checks the rules that need no filesystem: at least one branch, at most one
 * rw branch and it must be branch 0, no empty path, no path given twice
 * (compared after lexical normalisation). Returns 0 or -EINVAL + message. */
int lfs_branch_list_check(const struct lfs_branch_list *l, char *err, size_t errsz);

void lfs_branch_list_free(struct lfs_branch_list *l);

#endif
