/* sha256 digests and chain ids: see digest.h. */
#include "digest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void digest_init(struct digest *d)
{
	sha256_init(&d->ctx);
}

void digest_update(struct digest *d, const void *buf, size_t len)
{
	if (len > 0)
		sha256_update(&d->ctx, len, buf);
}

static void to_hex(const unsigned char *bin, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[bin[i] >> 4];
		hex[2 * i + 1] = digits[bin[i] & 0xf];
	}
	hex[2 * n] = '\0';
}

void digest_final_hex(struct digest *d, char hex[DIGEST_HEX_LEN + 1])
{
	unsigned char bin[SHA256_DIGEST_SIZE];
	sha256_digest(&d->ctx, sizeof(bin), bin);
	to_hex(bin, sizeof(bin), hex);
}

void digest_buffer(const void *buf, size_t len, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest d;
	digest_init(&d);
	digest_update(&d, buf, len);
	digest_final_hex(&d, hex);
}

int digest_fd(int fd, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest d;
	char buf[65536];
	digest_init(&d);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		digest_update(&d, buf, (size_t)n);
	}
	digest_final_hex(&d, hex);
	return 0;
}

bool digest_is_hex(const char *s)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < DIGEST_HEX_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[DIGEST_HEX_LEN] == '\0';
}

bool digest_parse(const char *s, char hex[DIGEST_HEX_LEN + 1])
{
	if (s == NULL || strncmp(s, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0)
		return false;
	if (!digest_is_hex(s + DIGEST_PREFIX_LEN))
		return false;
	memcpy(hex, s + DIGEST_PREFIX_LEN, DIGEST_HEX_LEN + 1);
	return true;
}

void digest_format(const char *hex, char out[DIGEST_STR_SIZE])
{
	snprintf(out, DIGEST_STR_SIZE, "%s%.64s", DIGEST_PREFIX, hex);
}

void digest_chain_id(const char *parent_hex, const char *diff_hex,
		     char out_hex[DIGEST_HEX_LEN + 1])
{
	if (parent_hex == NULL) {
		memmove(out_hex, diff_hex, DIGEST_HEX_LEN);
		out_hex[DIGEST_HEX_LEN] = '\0';
		return;
	}
	char parent[DIGEST_STR_SIZE], diff[DIGEST_STR_SIZE];
	digest_format(parent_hex, parent);
	digest_format(diff_hex, diff);
	struct digest d;
	digest_init(&d);
	digest_update(&d, parent, strlen(parent));
	digest_update(&d, " ", 1);
	digest_update(&d, diff, strlen(diff));
	digest_final_hex(&d, out_hex);
}
