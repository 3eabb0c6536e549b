/* Walking a merged view from layerctl, by the union rule (layerfs/union.h):
 * a directory is its copies in a stack of layers, top first; its entries
 * are what the rule shows, each with the copy that supplies it and, for a
 * directory, the stack of the copies that merge into it. A container's rw
 * layer may hold redirects (a directory renamed by layerfs without its
 * lower parts): they are followed into the lower view, so the walk sees
 * what the mounted container saw. diff and commit walk with it where the
 * rw layer alone does not say what is there. */
#ifndef LAYERCTL_MERGEDWALK_H
#define LAYERCTL_MERGEDWALK_H

#include <stdbool.h>
#include <sys/stat.h>

/* The lower view: its layers' root fds, top first. */
struct mw_view {
	const int *roots;
	unsigned nroots;
};

/* A directory's copies (O_PATH fds, owned), top first; top_is_rw when the
 * first is in the rw layer (whose redirects are followed). */
struct mw_stack {
	int *fd;
	unsigned n;
	bool top_is_rw;
};

/* The copies of directory path in the lower view (an empty stack when the
 * view has no such directory). 0 or -errno. */
int mw_stack_at(const struct mw_view *view, const char *path, struct mw_stack *out);
/* The stack of an rw directory (fd dup'ed) with its redirect followed:
 * [rw copy] + the lower view's copies at the redirect's path, or just the
 * rw copy without one. */
int mw_stack_rw(const struct mw_view *view, int rwdir_fd, struct mw_stack *out);
void mw_stack_free(struct mw_stack *s);

/* Called for every entry of a merged directory, by name: the supplying
 * copy's directory fd and the entry's name and stat there; for a directory,
 * sub holds the stack of its merging copies (to walk further), else NULL.
 * A negative return stops the walk and is returned. */
typedef int (*mw_visit)(void *arg, const char *name, int dfd, const struct stat *st,
			const struct mw_stack *sub);
int mw_list(const struct mw_view *view, const struct mw_stack *dir, mw_visit fn, void *arg);

#endif
