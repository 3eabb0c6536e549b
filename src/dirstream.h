/* Open directory streams. The merged listing is built when a stream starts
 * (offset 0, so rewinddir sees changes) and kept for it, so offsets stay
 * valid for telldir/seekdir while the directory changes. */
#ifndef LAYERFS_DIRSTREAM_H
#define LAYERFS_DIRSTREAM_H

#include "dirmerge.h"

struct dirstream {
	struct dirlist list;
	bool loaded;
	pthread_mutex_t lock;            /* lock order 2 */
	struct dirstream *prev, *next;   /* all open ones, freed at unmount */
};

int lfs_dirstreams_init(void);
struct dirstream *lfs_dirstream_new(void);
void lfs_dirstream_free(struct dirstream *d);
/* Takes d's lock and makes sure it holds the listing of dir (built afresh
 * at offset 0). 0, or -errno with the lock released. */
int lfs_dirstream_lock_listing(struct dirstream *d, struct node *dir, off_t off);
void lfs_dirstream_unlock(struct dirstream *d);
/* At unmount: the streams whose release never came. */
void lfs_dirstreams_free_all(void);

#endif
