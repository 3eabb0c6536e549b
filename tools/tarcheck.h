/* Whether one tar entry may go into a layer: a pure decision (no I/O), used
 * by unpack and meant for fuzzing. The path is normalised; absolute paths,
 * ".." and hardlinks leaving the layer are refused; whiteout names follow
 * the shared rules of layerfs/whiteout.h; aufs metadata entries other than
 * the opaque marker are skipped. */
#ifndef LAYERCTL_TARCHECK_H
#define LAYERCTL_TARCHECK_H

#include <limits.h>
#include <sys/types.h>

enum tc_verdict {
	TC_ACCEPT,   /* make the entry */
	TC_SKIP,     /* leave it out, with a note (reason) */
	TC_REJECT,   /* the archive is unacceptable (reason) */
};

enum tc_kind {
	TC_PLAIN,     /* an ordinary entry of its type */
	TC_WHITEOUT,  /* ".wh.NAME": kept as an empty regular file */
	TC_OPAQUE,    /* ".wh..wh..opq": kept as an empty regular file */
};

struct tc_result {
	enum tc_kind kind;
	char path[PATH_MAX];   /* normalised; "." is the layer's root */
	char link[PATH_MAX];   /* normalised hardlink target, or "" */
	const char *reason;    /* static text for TC_SKIP and TC_REJECT */
};

/* type: the S_IFMT bits of the entry (libarchive's AE_IF* values; 0 is
 * taken as a regular file). hardlink: the target of a hardlink entry, else
 * NULL. */
enum tc_verdict tarcheck_entry(const char *path, mode_t type, const char *hardlink,
			       struct tc_result *res);

#endif
