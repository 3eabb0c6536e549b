/* Unit tests for the union rule (src/common/union.c): the step of a walk,
 * path resolution through stacks of real directories (made in a temporary
 * directory; no root needed), and merged listings. Table-driven: every
 * rule of the README's "Semantics in brief". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* The tables below leave the ro flags of most stacks out (all false). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "layerfs/union.h"
#include "layerfs/whiteout.h"

#define MAXBR 6
#define MAXENT 12

/* A branch is a list of entries: "d:PATH" directory, "f:PATH" file,
 * "l:PATH" symlink, "w:PATH" whiteout of PATH, "o:PATH" opaque marker in
 * directory PATH. Parents are made as needed. */
struct stack_spec {
	const char *br[MAXBR][MAXENT];
	bool ro[MAXBR];             /* does not honour whiteouts */
};

struct built {
	char root[64];
	int fd[MAXBR];
	bool wh[MAXBR];
	unsigned n;
};

static void make_parents(int rootfd, const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdirat(rootfd, buf, 0755);
		*p = '/';
	}
}

static void make_entry(int rootfd, const char *spec)
{
	char kind = spec[0];
	const char *path = spec + 2;
	char buf[PATH_MAX];
	make_parents(rootfd, path);
	switch (kind) {
	case 'd':
		assert_int_equal(mkdirat(rootfd, path, 0755), 0);
		break;
	case 'f':
		close(openat(rootfd, path, O_CREAT | O_WRONLY, 0644));
		break;
	case 'l':
		assert_int_equal(symlinkat("/etc", rootfd, path), 0);
		break;
	case 'w': {
		const char *slash = strrchr(path, '/');
		snprintf(buf, sizeof(buf), "%.*s%s" LFS_WH_PREFIX "%s",
			 slash ? (int)(slash - path) : 0, path, slash ? "/" : "",
			 slash ? slash + 1 : path);
		close(openat(rootfd, buf, O_CREAT | O_WRONLY, 0));
		break;
	}
	case 'o':
		snprintf(buf, sizeof(buf), "%s/" LFS_WH_OPAQUE, path);
		make_parents(rootfd, buf);
		mkdirat(rootfd, path, 0755);
		close(openat(rootfd, buf, O_CREAT | O_WRONLY, 0));
		break;
	default:
		fail_msg("bad entry spec %s", spec);
	}
}

static void build(const struct stack_spec *sp, struct built *b)
{
	snprintf(b->root, sizeof(b->root), "/tmp/test_union.XXXXXX");
	assert_non_null(mkdtemp(b->root));
	b->n = 0;
	for (unsigned i = 0; i < MAXBR && sp->br[i][0]; i++) {
		char dir[128];
		snprintf(dir, sizeof(dir), "%s/b%u", b->root, i);
		assert_int_equal(mkdir(dir, 0755), 0);
		b->fd[i] = open(dir, O_PATH | O_DIRECTORY);
		assert_true(b->fd[i] >= 0);
		b->wh[i] = !sp->ro[i];
		for (unsigned j = 0; j < MAXENT && sp->br[i][j]; j++)
			if (strcmp(sp->br[i][j], "-"))    /* "-": an empty branch */
				make_entry(b->fd[i], sp->br[i][j]);
		b->n++;
	}
}

static void teardown_built(struct built *b)
{
	char cmd[128];
	for (unsigned i = 0; i < b->n; i++)
		close(b->fd[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->root);
	assert_int_equal(system(cmd), 0);
}

/* Expected: ret, supplier, kind, and the merging branches as a string of
 * digits ("012"). */
struct resolve_case {
	const char *what;
	struct stack_spec stack;
	const char *path;
	int ret;
	unsigned supplier;
	enum lfs_union_kind kind;
	const char *branches;
};

static const struct resolve_case resolve_cases[] = {
	{ "a name in one branch", { { { "f:a" }, { "-" } } }, "a", 0, 0, LFS_UNION_NONDIR, "0" },
	{ "a name in a lower branch only", { { { "-" }, { "f:a" } } }, "a", 0, 1, LFS_UNION_NONDIR, "1" },
	{ "the topmost of several", { { { "-" }, { "f:a" }, { "f:a" } } }, "a", 0, 1,
	  LFS_UNION_NONDIR, "1" },
	{ "directories merge", { { { "d:d" }, { "-" }, { "d:d" } } }, "d", 0, 0, LFS_UNION_DIR, "02" },
	{ "a file hides a directory below", { { { "f:d" }, { "d:d" } } }, "d", 0, 0,
	  LFS_UNION_NONDIR, "0" },
	{ "a directory hides a file below, and what is below that",
	  { { { "d:d" }, { "f:d" }, { "d:d" } } }, "d", 0, 0, LFS_UNION_DIR, "0" },
	{ "a whiteout hides below", { { { "w:a" }, { "f:a" } } }, "a", -ENOENT, 0, 0, "" },
	{ "a whiteout does not hide in its own branch", { { { "w:a", "f:a" }, { "f:a" } } }, "a", 0,
	  0, LFS_UNION_NONDIR, "0" },
	{ "a whiteout below the supplier changes nothing above",
	  { { { "f:a" }, { "w:a" }, { "f:a" } } }, "a", 0, 0, LFS_UNION_NONDIR, "0" },
	{ "a whiteout ends a directory's merge", { { { "d:d" }, { "w:d" }, { "d:d" } } }, "d", 0, 0,
	  LFS_UNION_DIR, "0" },
	{ "an opaque directory ends the merge", { { { "d:d" }, { "o:d" }, { "d:d" } } }, "d", 0, 0,
	  LFS_UNION_DIR, "01" },
	{ "an opaque top directory", { { { "o:d" }, { "d:d" } } }, "d", 0, 0, LFS_UNION_OPAQUE_DIR,
	  "0" },
	{ "ro: whiteouts mean nothing", { { { "-" }, { "w:a" }, { "f:a" } }, { false, true } }, "a",
	  0, 2, LFS_UNION_NONDIR, "2" },
	{ "ro: opaque markers mean nothing", { { { "o:d" }, { "d:d" } }, { true } }, "d", 0, 0,
	  LFS_UNION_DIR, "01" },
	{ "below a merged directory", { { { "d:d" }, { "f:d/x" } } }, "d/x", 0, 1, LFS_UNION_NONDIR,
	  "1" },
	{ "a whited-out parent hides its children", { { { "w:d" }, { "f:d/x" } } }, "d/x", -ENOENT, 0,
	  0, "" },
	{ "an opaque parent hides the children below it",
	  { { { "o:d" }, { "f:d/x" } } }, "d/x", -ENOENT, 0, 0, "" },
	{ "a parent that is a file", { { { "f:d" }, { "f:d/x" } } }, "d/x", -ENOTDIR, 0, 0, "" },
	{ "a parent that is a symlink", { { { "l:d" }, { "f:d/x" } } }, "d/x", -ENOTDIR, 0, 0, "" },
	{ "a symlink in a lower branch is not followed", { { { "d:d" }, { "l:d" } } }, "d", 0, 0,
	  LFS_UNION_DIR, "0" },
	{ "the merge below a deep path", { { { "d:a/b" }, { "d:a" }, { "d:a/b/c" } } }, "a/b", 0, 0,
	  LFS_UNION_DIR, "02" },
	{ "mkdir over a whiteout (opaque) shows nothing of the old directory",
	  { { { "o:d", "w:d" }, { "f:d/x" } } }, "d/x", -ENOENT, 0, 0, "" },
	{ "a marker at a branch root hides nothing", { { { "o:." }, { "f:a" } } }, "a", 0, 1,
	  LFS_UNION_NONDIR, "1" },
	{ "the root", { { { "-" }, { "-" } } }, "", 0, 0, LFS_UNION_DIR, "01" },
	{ "absent everywhere", { { { "-" }, { "-" } } }, "nope", -ENOENT, 0, 0, "" },
	{ "dot components are skipped", { { { "d:d" }, { "f:d/x" } } }, "./d/./x", 0, 1,
	  LFS_UNION_NONDIR, "1" },
	{ "dot-dot is refused", { { { "d:d" }, { "f:x" } } }, "d/../x", -EINVAL, 0, 0, "" },
};

static void test_resolve_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(resolve_cases) / sizeof(resolve_cases[0]); c++) {
		const struct resolve_case *rc = &resolve_cases[c];
		struct built b;
		build(&rc->stack, &b);
		struct lfs_union_fds fds = { b.fd, b.wh };
		struct lfs_union_stack s = { b.n, lfs_union_probe_fds, &fds };
		unsigned out[MAXBR], nout = 0, supplier = 99;
		enum lfs_union_kind kind = LFS_UNION_ABSENT;
		int ret = lfs_union_resolve_path(&s, rc->path, out, &nout, &supplier, &kind);
		if (ret != rc->ret)
			fail_msg("%s: ret %d, expected %d", rc->what, ret, rc->ret);
		if (ret == 0) {
			char got[MAXBR + 1] = "";
			for (unsigned i = 0; i < nout; i++)
				got[i] = (char)('0' + out[i]);
			if (supplier != rc->supplier || kind != rc->kind || strcmp(got, rc->branches))
				fail_msg("%s: supplier %u kind %d branches '%s', expected %u %d '%s'",
					 rc->what, supplier, kind, got, rc->supplier, rc->kind,
					 rc->branches);
		}
		teardown_built(&b);
	}
}

/* Every role the walk can give, in the order `which` prints them. */
static void test_step_roles(void **state)
{
	(void)state;
	struct lfs_union_walk w = LFS_UNION_WALK_INIT;
	assert_int_equal(lfs_union_step(&w, LFS_UNION_ABSENT), LFS_UNION_SILENT);
	assert_int_equal(lfs_union_step(&w, LFS_UNION_DIR), LFS_UNION_SUPPLIES);
	assert_true(w.found && w.is_dir && !w.ended);
	assert_int_equal(lfs_union_step(&w, LFS_UNION_DIR), LFS_UNION_MERGES);
	assert_int_equal(lfs_union_step(&w, LFS_UNION_OPAQUE_DIR), LFS_UNION_MERGES);
	assert_true(w.ended);
	assert_int_equal(lfs_union_step(&w, LFS_UNION_NONDIR), LFS_UNION_HIDDEN);
	assert_int_equal(lfs_union_step(&w, LFS_UNION_WHITEOUT), LFS_UNION_SILENT);

	struct lfs_union_walk v = LFS_UNION_WALK_INIT;
	assert_int_equal(lfs_union_step(&v, LFS_UNION_DIR), LFS_UNION_SUPPLIES);
	assert_int_equal(lfs_union_step(&v, LFS_UNION_NONDIR), LFS_UNION_HIDDEN);
	assert_true(v.ended);

	struct lfs_union_walk u = LFS_UNION_WALK_INIT;
	assert_int_equal(lfs_union_step(&u, LFS_UNION_WHITEOUT), LFS_UNION_HIDES);
	assert_true(u.ended && !u.found);
	assert_int_equal(lfs_union_step(&u, LFS_UNION_DIR), LFS_UNION_HIDDEN);

	struct lfs_union_walk t = LFS_UNION_WALK_INIT;
	assert_int_equal(lfs_union_step(&t, LFS_UNION_NONDIR), LFS_UNION_SUPPLIES);
	assert_true(t.ended && t.found && !t.is_dir);
}

static void test_kind_of(void **state)
{
	(void)state;
	assert_int_equal(lfs_union_kind_of(true, S_IFREG, true, false, true), LFS_UNION_NONDIR);
	assert_int_equal(lfs_union_kind_of(true, S_IFDIR, false, true, true), LFS_UNION_OPAQUE_DIR);
	assert_int_equal(lfs_union_kind_of(true, S_IFDIR, false, true, false), LFS_UNION_DIR);
	assert_int_equal(lfs_union_kind_of(false, 0, true, false, true), LFS_UNION_WHITEOUT);
	assert_int_equal(lfs_union_kind_of(false, 0, true, false, false), LFS_UNION_ABSENT);
	assert_int_equal(lfs_union_kind_of(true, S_IFLNK, false, false, true), LFS_UNION_NONDIR);
}

static void test_probe_at(void **state)
{
	(void)state;
	struct stack_spec sp = { { { "f:a", "w:b", "o:d", "w:a", "d:e" } } };
	struct built b;
	build(&sp, &b);
	struct stat st;
	enum lfs_union_kind k;
	assert_int_equal(lfs_union_probe_at(b.fd[0], "a", true, &st, &k), 0);
	assert_int_equal(k, LFS_UNION_NONDIR);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lfs_union_probe_at(b.fd[0], "b", true, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_WHITEOUT);
	assert_int_equal(lfs_union_probe_at(b.fd[0], "b", false, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_ABSENT);
	assert_int_equal(lfs_union_probe_at(b.fd[0], "d", true, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_OPAQUE_DIR);
	assert_int_equal(lfs_union_probe_at(b.fd[0], "e", true, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_DIR);
	assert_int_equal(lfs_union_probe_at(b.fd[0], "zz", true, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_ABSENT);
	char longname[300];
	memset(longname, 'x', 299);
	longname[299] = '\0';
	assert_int_equal(lfs_union_probe_at(b.fd[0], longname, true, NULL, &k), 0);
	assert_int_equal(k, LFS_UNION_ABSENT);
	assert_int_equal(lfs_union_opaque_beneath(b.fd[0], "", "d"), 1);
	assert_int_equal(lfs_union_opaque_beneath(b.fd[0], "", "e"), 0);
	assert_true(lfs_union_opaque_beneath(b.fd[0], "", "nope") <= 0);
	assert_true(lfs_union_dir_opaque_at(b.fd[0], "d"));
	assert_false(lfs_union_dir_opaque_at(b.fd[0], "e"));
	teardown_built(&b);
}

static void test_classify(void **state)
{
	(void)state;
	const char *t;
	assert_int_equal(lfs_union_classify("a", true, &t), LFS_UNION_ENTRY_NAME);
	assert_null(t);
	assert_int_equal(lfs_union_classify(".wh.a", true, &t), LFS_UNION_ENTRY_WHITEOUT);
	assert_string_equal(t, "a");
	assert_int_equal(lfs_union_classify(".wh.a", false, &t), LFS_UNION_ENTRY_IGNORED);
	assert_int_equal(lfs_union_classify(LFS_WH_OPAQUE, true, &t), LFS_UNION_ENTRY_IGNORED);
	assert_int_equal(lfs_union_classify(LFS_WH_BASE, true, &t), LFS_UNION_ENTRY_IGNORED);
	assert_int_equal(lfs_union_classify(".", true, &t), LFS_UNION_ENTRY_IGNORED);
	assert_int_equal(lfs_union_classify("..", true, &t), LFS_UNION_ENTRY_IGNORED);
	assert_int_equal(lfs_union_classify(".wh..", true, &t), LFS_UNION_ENTRY_IGNORED);
}

/* A listing of branches given as entry arrays, top first; returns the
 * listed names joined by ','. */
static void list_of(const char *const *branches[], const bool *honours_wh, unsigned n, char *out,
		    size_t size)
{
	struct lfs_union_list l = LFS_UNION_LIST_INIT;
	out[0] = '\0';
	for (unsigned b = 0; b < n; b++) {
		for (const char *const *e = branches[b]; *e; e++) {
			int r = lfs_union_list_entry(&l, *e, honours_wh[b]);
			assert_true(r >= 0);
			if (r == 1) {
				strncat(out, *e, size - strlen(out) - 1);
				strncat(out, ",", size - strlen(out) - 1);
			}
		}
		assert_int_equal(lfs_union_list_end_branch(&l), 0);
	}
	lfs_union_list_free(&l);
}

static void test_listing(void **state)
{
	(void)state;
	char got[256];
	const char *b0[] = { "a", ".wh.b", LFS_WH_OPAQUE, LFS_WH_BASE, ".wh.c", "c", NULL };
	const char *b1[] = { "a", "b", "c", "d", ".wh.e", ".", "..", NULL };
	const char *b2[] = { "e", "d", ".wh.x", NULL };
	const char *b3[] = { "x", NULL };
	const char *const *stack[] = { b0, b1, b2, b3 };
	bool wh[] = { true, true, true, true };
	list_of(stack, wh, 4, got, sizeof(got));
	/* b hidden by b0's whiteout, c shows from b0 (own whiteout beside it),
	 * e hidden by b1's, x by b2's; markers never listed. */
	assert_string_equal(got, "a,c,d,");
	bool top_and_bottom_ro[] = { false, true, true, false };
	list_of(stack, top_and_bottom_ro, 4, got, sizeof(got));
	assert_string_equal(got, "a,c,b,d,");
	/* A whiteout hides only the branches below it: a name listed above
	 * stays; one met first in the same branch stays too. */
	const char *c0[] = { ".wh.a", "a", NULL };
	const char *c1[] = { "a", "b", NULL };
	const char *const *stack2[] = { c0, c1 };
	list_of(stack2, wh, 2, got, sizeof(got));
	assert_string_equal(got, "a,b,");
}

static void test_listing_many_names(void **state)
{
	(void)state;
	struct lfs_union_list l = LFS_UNION_LIST_INIT;
	char name[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(lfs_union_list_name(&l, name), 1);
	}
	assert_int_equal(lfs_union_list_end_branch(&l), 0);
	for (int i = 0; i < 100000; i += 7) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(lfs_union_list_name(&l, name), 0);
		assert_true(lfs_union_list_has(&l, name));
	}
	assert_false(lfs_union_list_has(&l, "n100000"));
	lfs_union_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_of),
		cmocka_unit_test(test_step_roles),
		cmocka_unit_test(test_resolve_table),
		cmocka_unit_test(test_probe_at),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_listing_many_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
