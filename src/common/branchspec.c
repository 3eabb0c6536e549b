/* Branch specification parsing: see include/layerfs/branchspec.h.
 *
 * Rules this file settles beyond the header:
 *  - Escapes: only "\:" and "\\" exist; a backslash before anything else, or
 *    at the very end, is an error rather than silently dropped or kept.
 *  - Permission: an aufs element is split at its LAST '=' when the text after
 *    it is a valid permission ("a=b=ro" is path "a=b", ro). When it is not
 *    ("a=b", "/x=rx"), the whole element is the path and the default
 *    permission applies; a path that itself ends in "=rw" etc. must therefore
 *    be given an explicit permission ("/x=rw=ro").
 *  - "=ro" (permission, empty path) and empty elements ("a::b", leading or
 *    trailing ':', "") are errors.
 *  - Overlay options: lowerdir elements are paths only ('=' is an ordinary
 *    character there); an empty upperdir string is an error, not "no upper".
 *  - Error messages are truncated to errsz and have control characters
 *    replaced by '?', so a path holding a newline cannot split the line. */
#include "layerfs/branchspec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
	if (err == NULL || errsz == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	for (char *c = err; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
}

static int out_of_memory(char *err, size_t errsz)
{
	set_err(err, errsz, "out of memory while parsing branches");
	return -ENOMEM;
}

/* ---- permissions ------------------------------------------------------ */

static const struct {
	const char *name;
	enum lfs_perm perm;
	bool wh;
} perm_table[] = {
	{ "rw", LFS_PERM_RW, true },
	{ "ro", LFS_PERM_RO, false },
	{ "ro+wh", LFS_PERM_RO, true },
	{ "rr", LFS_PERM_RR, false },
	{ "rr+wh", LFS_PERM_RR, true },
};
#define PERM_TABLE_LEN (sizeof(perm_table) / sizeof(perm_table[0]))

int lfs_parse_perm(const char *s, enum lfs_perm *perm, bool *wh)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < PERM_TABLE_LEN; i++) {
		if (strcmp(s, perm_table[i].name) != 0)
			continue;
		if (perm != NULL)
			*perm = perm_table[i].perm;
		if (wh != NULL)
			*wh = perm_table[i].wh;
		return 0;
	}
	return -EINVAL;
}

static bool perm_is_known(enum lfs_perm perm)
{
	return perm == LFS_PERM_RW || perm == LFS_PERM_RO || perm == LFS_PERM_RR;
}

/* An rw branch always honours whiteouts, whatever wh says. */
const char *lfs_perm_name(enum lfs_perm perm, bool wh)
{
	switch (perm) {
	case LFS_PERM_RW:
		return "rw";
	case LFS_PERM_RO:
		return wh ? "ro+wh" : "ro";
	case LFS_PERM_RR:
		return wh ? "rr+wh" : "rr";
	}
	return "?";
}

/* ---- the list --------------------------------------------------------- */

/* Takes ownership of path, also when it fails. No capacity is stored in the
 * list, so it grows one slot at a time; lists are a few hundred long at most. */
static int append_branch(struct lfs_branch_list *out, char *path,
			 enum lfs_perm perm, bool wh)
{
	if (out->n >= SIZE_MAX / sizeof(out->v[0]) - 1) {
		free(path);
		return -ENOMEM;
	}
	struct lfs_branch_spec *v = realloc(out->v, (out->n + 1) * sizeof(v[0]));
	if (v == NULL) {
		free(path);
		return -ENOMEM;
	}
	out->v = v;
	out->v[out->n++] = (struct lfs_branch_spec){ .path = path, .perm = perm, .wh = wh };
	return 0;
}

void lfs_branch_list_free(struct lfs_branch_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---- splitting and unescaping ----------------------------------------- */

/* The next ':' that is not escaped, or the terminating NUL. */
static const char *find_separator(const char *s)
{
	for (; *s != '\0' && *s != ':'; s++) {
		if (s[0] == '\\' && s[1] != '\0')
			s++;
	}
	return s;
}

/* Copies raw[0..len) into a new string, resolving "\:" and "\\". Returns 0,
 * -ENOMEM, or -EINVAL with *bad pointing at the offending backslash. */
static int unescape(const char *raw, size_t len, char **out, const char **bad)
{
	char *s = malloc(len + 1);
	if (s == NULL)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\\') {
			if (i + 1 == len || (raw[i + 1] != ':' && raw[i + 1] != '\\')) {
				*bad = raw + i;
				free(s);
				return -EINVAL;
			}
			i++;
		}
		s[o++] = raw[i];
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

static int unescape_or_report(const char *raw, size_t len, char **out,
			      char *err, size_t errsz)
{
	const char *bad = NULL;
	int rc = unescape(raw, len, out, &bad);
	if (rc == -ENOMEM)
		return out_of_memory(err, errsz);
	if (rc == -EINVAL) {
		bool at_end = bad + 1 == raw + len;
		set_err(err, errsz, "bad escape in %.*s: %s (only \\: and \\\\ are escapes)",
			(int)len, raw, at_end ? "backslash at the end" : "stray backslash");
	}
	return rc;
}

/* ---- the shared list grammar ------------------------------------------ */

struct list_syntax {
	const char *what;  /* how messages call one element */
	bool aufs_perms;   /* elements may end in =PERM; else all are ro+wh */
	const char *empty_hint; /* appended to the empty-element message */
};

static int report_empty_element(const struct list_syntax *syn,
				const struct lfs_branch_list *out, size_t first,
				bool at_end, char *err, size_t errsz)
{
	if (out->n == first)
		set_err(err, errsz, "empty %s at the start of the list%s", syn->what,
			syn->empty_hint);
	else
		set_err(err, errsz, "empty %s after %s%s%s", syn->what,
			out->v[out->n - 1].path, at_end ? " (trailing ':')" : "",
			syn->empty_hint);
	return -EINVAL;
}

/* Splits "PATH=PERM" in place when the text after the last '=' is a
 * permission; see the rule at the top of this file. */
static bool split_perm(char *elem, enum lfs_perm *perm, bool *wh)
{
	char *eq = strrchr(elem, '=');
	if (eq == NULL || lfs_parse_perm(eq + 1, perm, wh) != 0)
		return false;
	*eq = '\0';
	return true;
}

/* Appends one unescaped element (ownership of path passes on). */
static int add_element(const struct list_syntax *syn, char *path,
		       struct lfs_branch_list *out, char *err, size_t errsz)
{
	enum lfs_perm perm = LFS_PERM_RO;
	bool wh = true;
	if (syn->aufs_perms && !split_perm(path, &perm, &wh)) {
		/* Default: the very first branch of the whole list is rw. */
		perm = out->n == 0 ? LFS_PERM_RW : LFS_PERM_RO;
		wh = perm == LFS_PERM_RW;
	}
	if (path[0] == '\0') {
		set_err(err, errsz, "%s with permission %s has an empty path",
			syn->what, lfs_perm_name(perm, wh));
		free(path);
		return -EINVAL;
	}
	if (append_branch(out, path, perm, wh) != 0)
		return out_of_memory(err, errsz);
	return 0;
}

static int parse_list(const char *spec, const struct list_syntax *syn,
		      struct lfs_branch_list *out, char *err, size_t errsz)
{
	const size_t first = out->n;
	const char *p = spec;
	for (;;) {
		const char *end = find_separator(p);
		if (end == p)
			return report_empty_element(syn, out, first, *p == '\0', err, errsz);
		char *path;
		int rc = unescape_or_report(p, (size_t)(end - p), &path, err, errsz);
		if (rc == 0)
			rc = add_element(syn, path, out, err, errsz);
		if (rc != 0)
			return rc;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

int lfs_parse_aufs_branches(const char *spec, struct lfs_branch_list *out,
			    char *err, size_t errsz)
{
	static const struct list_syntax aufs = {
		.what = "branch", .aufs_perms = true, .empty_hint = "",
	};
	if (out == NULL) {
		set_err(err, errsz, "no list to parse into");
		return -EINVAL;
	}
	if (spec == NULL || spec[0] == '\0') {
		set_err(err, errsz, "empty branch list");
		return -EINVAL;
	}
	return parse_list(spec, &aufs, out, err, errsz);
}

static int add_upperdir(const char *upperdir, struct lfs_branch_list *out,
			char *err, size_t errsz)
{
	if (upperdir[0] == '\0') {
		set_err(err, errsz, "upperdir is empty (leave it out for a read-only mount)");
		return -EINVAL;
	}
	/* One path: an unescaped ':' is an ordinary character here. */
	char *path;
	int rc = unescape_or_report(upperdir, strlen(upperdir), &path, err, errsz);
	if (rc != 0)
		return rc;
	if (append_branch(out, path, LFS_PERM_RW, true) != 0)
		return out_of_memory(err, errsz);
	return 0;
}

int lfs_parse_overlay_branches(const char *lowerdir, const char *upperdir,
			       struct lfs_branch_list *out, char *err, size_t errsz)
{
	static const struct list_syntax overlay = {
		.what = "lowerdir layer", .aufs_perms = false,
		.empty_hint = " (\"::\" data-only layers are not supported)",
	};
	if (out == NULL) {
		set_err(err, errsz, "no list to parse into");
		return -EINVAL;
	}
	if (lowerdir == NULL || lowerdir[0] == '\0') {
		set_err(err, errsz, "lowerdir is required");
		return -EINVAL;
	}
	if (upperdir != NULL) {
		int rc = add_upperdir(upperdir, out, err, errsz);
		if (rc != 0)
			return rc;
	}
	return parse_list(lowerdir, &overlay, out, err, errsz);
}

/* ---- checks ----------------------------------------------------------- */

/* Component iterator for lexical comparison: skips empty and "." parts. */
static size_t next_real_component(const char **p)
{
	for (;;) {
		while (**p == '/')
			(*p)++;
		size_t len = strcspn(*p, "/");
		if (len != 1 || **p != '.')
			return len;
		(*p)++;
	}
}

/* Equal after collapsing "//", dropping trailing '/' and "." components;
 * ".." and symlinks are deliberately left alone (no filesystem access). */
static bool same_lexical_path(const char *a, const char *b)
{
	if ((a[0] == '/') != (b[0] == '/'))
		return false;
	for (;;) {
		size_t alen = next_real_component(&a);
		size_t blen = next_real_component(&b);
		if (alen != blen || memcmp(a, b, alen) != 0)
			return false;
		if (alen == 0)
			return true;
		a += alen;
		b += blen;
	}
}

static int check_each_branch(const struct lfs_branch_list *l, char *err, size_t errsz)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct lfs_branch_spec *b = &l->v[i];
		if (b->path == NULL || b->path[0] == '\0') {
			set_err(err, errsz, "branch %zu of %zu has an empty path", i, l->n);
			return -EINVAL;
		}
		if (!perm_is_known(b->perm)) {
			set_err(err, errsz, "branch %s has an invalid permission %d",
				b->path, (int)b->perm);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_rw_placement(const struct lfs_branch_list *l, char *err, size_t errsz)
{
	const struct lfs_branch_spec *rw = NULL;
	for (size_t i = 0; i < l->n; i++) {
		const struct lfs_branch_spec *b = &l->v[i];
		if (b->perm != LFS_PERM_RW)
			continue;
		if (rw != NULL) {
			set_err(err, errsz, "two rw branches: %s and %s", rw->path, b->path);
			return -EINVAL;
		}
		if (i != 0) {
			set_err(err, errsz, "rw branch must be the first branch: %s", b->path);
			return -EINVAL;
		}
		rw = b;
	}
	return 0;
}

static int check_duplicates(const struct lfs_branch_list *l, char *err, size_t errsz)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t j = i + 1; j < l->n; j++) {
			if (!same_lexical_path(l->v[i].path, l->v[j].path))
				continue;
			set_err(err, errsz, "branch given twice: %s and %s",
				l->v[i].path, l->v[j].path);
			return -EINVAL;
		}
	}
	return 0;
}

int lfs_branch_list_check(const struct lfs_branch_list *l, char *err, size_t errsz)
{
	if (l == NULL || l->n == 0 || l->v == NULL) {
		set_err(err, errsz, "no branches");
		return -EINVAL;
	}
	int rc = check_each_branch(l, err, errsz);
	if (rc == 0)
		rc = check_rw_placement(l, err, errsz);
	if (rc == 0)
		rc = check_duplicates(l, err, errsz);
	return rc;
}
