/* sha256 digests as layerctl uses them: a streaming context, the
 * "sha256:<hex>" form, and OCI chain ids. Pure except digest_fd. */
#ifndef LAYERCTL_DIGEST_H
#define LAYERCTL_DIGEST_H

#include <nettle/sha2.h>
#include <stdbool.h>
#include <stddef.h>

#define DIGEST_HEX_LEN 64
#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LEN 7
/* Room for "sha256:" + 64 hex digits + NUL. */
#define DIGEST_STR_SIZE (DIGEST_PREFIX_LEN + DIGEST_HEX_LEN + 1)

struct digest {
	struct sha256_ctx ctx;
};

void digest_init(struct digest *d);
void digest_update(struct digest *d, const void *buf, size_t len);
/* Writes the 64 lowercase hex digits; the context starts afresh. */
void digest_final_hex(struct digest *d, char hex[DIGEST_HEX_LEN + 1]);

/* One call: the hex digest of a buffer. */
void digest_buffer(const void *buf, size_t len, char hex[DIGEST_HEX_LEN + 1]);
/* The hex digest of everything readable from fd. 0 or -errno. */
int digest_fd(int fd, char hex[DIGEST_HEX_LEN + 1]);

/* True for exactly 64 lowercase hex digits. */
bool digest_is_hex(const char *s);
/* "sha256:<64 hex>" -> hex; false for any other algorithm or form. */
bool digest_parse(const char *s, char hex[DIGEST_HEX_LEN + 1]);
/* hex -> "sha256:<hex>". */
void digest_format(const char *hex, char out[DIGEST_STR_SIZE]);

/* ChainID(L0) = DiffID(L0); ChainID(n) = sha256(ChainID(n-1) + " " +
 * DiffID(n)), both in their "sha256:" form. parent_hex NULL for L0. */
void digest_chain_id(const char *parent_hex, const char *diff_hex,
		     char out_hex[DIGEST_HEX_LEN + 1]);

#endif
