/* Unit tests for the pure parts of src/acl.c and src/killpriv.c: what a
 * default ACL gives a new object (ext4's posix_acl_create_masq), ACL ids
 * through uidmapping=/gidmapping=, and the mode a kill of privileges
 * leaves. Expected values are what getfacl shows on ext4 for the same
 * setfacl -d and mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "killpriv.h"
#include "lfs.h"

struct lfs *lfs;
static struct lfs fs;

enum { UO = 0x01, U = 0x02, GO = 0x04, G = 0x08, M = 0x10, O = 0x20 };
struct ent { uint16_t tag, perm; uint32_t id; };

/* The xattr form of entries (little-endian), into buf; its length. */
static size_t encode(char *buf, const struct ent *e, size_t n)
{
	uint32_t version = 2;
	memcpy(buf, &version, 4);
	for (size_t i = 0; i < n; i++) {
		char *p = buf + 4 + 8 * i;
		memcpy(p, &e[i].tag, 2);
		memcpy(p + 2, &e[i].perm, 2);
		memcpy(p + 4, &e[i].id, 4);
	}
	return 4 + 8 * n;
}

static uint16_t perm_of(const char *buf, size_t i)
{
	uint16_t v;
	memcpy(&v, buf + 4 + 8 * i + 2, 2);
	return v;
}

static uint32_t id_of(const char *buf, size_t i)
{
	uint32_t v;
	memcpy(&v, buf + 4 + 8 * i + 4, 4);
	return v;
}

static int setup(void **state)
{
	(void)state;
	memset(&fs, 0, sizeof(fs));
	lfs = &fs;
	return 0;
}

/* setfacl -d -m u:1000:rwx,g::r-x,o::- DIR; open(DIR/f, O_CREAT, 0666):
 * getfacl f shows user::rw-, user:1000:rwx #effective:rw-, group::r-x
 * #effective:r--, mask::rw-, other::---; mode 0660. */
static void test_masq_with_named_user(void **state)
{
	(void)state;
	struct ent e[] = { { UO, 7, 0 }, { U, 7, 1000 }, { GO, 5, 0 }, { M, 7, 0 }, { O, 0, 0 } };
	char buf[64];
	size_t len = encode(buf, e, 5);
	mode_t mode = S_IFREG | 0666;
	assert_int_equal(lfs_acl_create_masq(buf, len, &mode), 1);
	assert_int_equal(mode, S_IFREG | 0660);
	assert_int_equal(perm_of(buf, 0), 6);   /* user::rw- */
	assert_int_equal(perm_of(buf, 1), 7);   /* named entries are kept */
	assert_int_equal(perm_of(buf, 2), 5);   /* group::r-x stays, the mask masks it */
	assert_int_equal(perm_of(buf, 3), 6);   /* mask::rw- */
	assert_int_equal(perm_of(buf, 4), 0);
}

/* A default ACL of the three base entries only: equivalent to a mode. */
static void test_masq_minimal_acl_is_a_mode(void **state)
{
	(void)state;
	struct ent e[] = { { UO, 7, 0 }, { GO, 5, 0 }, { O, 1, 0 } };
	char buf[64];
	size_t len = encode(buf, e, 3);
	mode_t mode = S_IFDIR | S_ISGID | 0777;
	assert_int_equal(lfs_acl_create_masq(buf, len, &mode), 0);
	assert_int_equal(mode, S_IFDIR | S_ISGID | 0751);   /* special bits kept */
	assert_int_equal(perm_of(buf, 1), 5);
}

static void test_masq_refuses_malformed(void **state)
{
	(void)state;
	struct ent e[] = { { UO, 7, 0 }, { O, 0, 0 } };    /* no group class */
	char buf[64];
	size_t len = encode(buf, e, 2);
	mode_t mode = 0644;
	assert_int_equal(lfs_acl_create_masq(buf, len, &mode), -EINVAL);
	assert_int_equal(lfs_acl_create_masq(buf, len - 3, &mode), -EINVAL);
	uint32_t bad = 1;
	memcpy(buf, &bad, 4);
	assert_int_equal(lfs_acl_create_masq(buf, len, &mode), -EINVAL);
	struct ent odd[] = { { UO, 7, 0 }, { 0x40, 7, 0 }, { GO, 5, 0 }, { O, 0, 0 } };
	len = encode(buf, odd, 4);
	assert_int_equal(lfs_acl_create_masq(buf, len, &mode), -EINVAL);
}

static void test_ids_mapped_both_ways(void **state)
{
	(void)state;
	struct lfs_idrange ur = { 0, 100000, 65536 }, gr = { 0, 200000, 65536 };
	fs.ids.uids = (struct lfs_idranges){ &ur, 1 };
	fs.ids.gids = (struct lfs_idranges){ &gr, 1 };
	struct ent e[] = { { UO, 7, 0 }, { U, 5, 101000 }, { GO, 5, 0 }, { G, 4, 200100 },
			   { M, 7, 0 }, { O, 0, 0 } };
	char buf[64];
	size_t len = encode(buf, e, 6);
	assert_int_equal(lfs_acl_map_ids(buf, len, false), 0);
	assert_int_equal(id_of(buf, 1), 1000);
	assert_int_equal(id_of(buf, 3), 100);
	assert_int_equal(id_of(buf, 0), 0);        /* only named entries carry ids */
	assert_int_equal(lfs_acl_map_ids(buf, len, true), 0);
	assert_int_equal(id_of(buf, 1), 101000);
	struct ent far[] = { { UO, 7, 0 }, { U, 5, 70000 }, { GO, 5, 0 }, { M, 7, 0 },
			     { O, 0, 0 } };
	len = encode(buf, far, 5);
	assert_int_equal(lfs_acl_map_ids(buf, len, true), -EOVERFLOW);
	fs.ids.uids = fs.ids.gids = (struct lfs_idranges){ NULL, 0 };
}

/* ext4: a write by a caller without CAP_FSETID. */
static void test_kill_mode(void **state)
{
	(void)state;
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 04755, true), S_IFREG | 0755);
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 02755, true), S_IFREG | 0755);
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 06711, true), S_IFREG | 0711);
	/* setgid without group-exec: mandatory locking, kept for the group */
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 02644, true), S_IFREG | 02644);
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 02644, false), S_IFREG | 0644);
	assert_int_equal(lfs_killpriv_mode(S_IFREG | 0755, false), S_IFREG | 0755);
	assert_int_equal(lfs_killpriv_mode(S_IFDIR | 02775, false), S_IFDIR | 02775);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_masq_with_named_user, setup),
		cmocka_unit_test_setup(test_masq_minimal_acl_is_a_mode, setup),
		cmocka_unit_test_setup(test_masq_refuses_malformed, setup),
		cmocka_unit_test_setup(test_ids_mapped_both_ways, setup),
		cmocka_unit_test_setup(test_kill_mode, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
