/* The entries of a directory, sorted by name: the order layerctl writes
 * and compares layers in. */
#ifndef LAYERCTL_DIRNAMES_H
#define LAYERCTL_DIRNAMES_H

#include <sys/types.h>

/* The sorted entry names of directory fd DIRFD ("." and ".." left out):
 * their count, or -1. Free them with lw_free_names. */
ssize_t lw_sorted_names(int dirfd, char ***out);
void lw_free_names(char **v, ssize_t n);
/* strcmp for qsort/bsearch over an array of char *. */
int lw_cmp_strp(const void *a, const void *b);

#endif
