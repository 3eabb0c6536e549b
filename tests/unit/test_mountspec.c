/* Unit tests for volume, --mount and --tmpfs parsing (tools/mountspec.c),
 * the create options (tools/createopts.c), capabilities (tools/caps.c)
 * and mountinfo lines (tools/mountinfo.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "caps.h"
#include "createopts.h"
#include "mountinfo.h"
#include "mountspec.h"

static char err[MSPEC_ERR_SIZE];

/* The OCI options of m as one comma-separated string. */
static const char *oci_options(const struct mountspec *m, const char *src)
{
	static char buf[512];
	json_t *j = mountspec_to_oci(m, src), *o;
	size_t i, len = 0;
	buf[0] = '\0';
	json_array_foreach(json_object_get(j, "options"), i, o)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
					json_string_value(o));
	json_decref(j);
	return buf;
}

static void test_volume_basic(void **state)
{
	(void)state;
	struct mountspec m;
	assert_int_equal(mountspec_parse_volume("/srv/data:/data", &m, err), 0);
	assert_int_equal(m.type, MSPEC_BIND);
	assert_string_equal(m.source, "/srv/data");
	assert_string_equal(m.destination, "/data");
	assert_false(m.readonly);
	assert_int_equal(m.propagation, MSPEC_RPRIVATE);   /* docker's and k8s's default */
	assert_string_equal(oci_options(&m, "/real"), "rbind,rprivate,rw");
	json_t *j = mountspec_to_oci(&m, "/real");
	assert_string_equal(json_string_value(json_object_get(j, "source")), "/real");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "bind");
	json_decref(j);
	mountspec_free(&m);
}

static void test_volume_options(void **state)
{
	(void)state;
	struct mountspec m;
	assert_int_equal(mountspec_parse_volume("./rel:/a//b/./c/:ro,rshared,nosuid,nodev", &m, err), 0);
	assert_string_equal(m.source, "./rel");
	assert_string_equal(m.destination, "/a/b/c");
	assert_true(m.readonly);
	assert_int_equal(m.propagation, MSPEC_RSHARED);
	assert_string_equal(oci_options(&m, "/x"), "rbind,rshared,ro,nosuid,nodev");
	mountspec_free(&m);
	const char *modes[] = { "private", "rprivate", "slave", "rslave", "shared", "rshared" };
	for (size_t i = 0; i < 6; i++) {
		char arg[64];
		snprintf(arg, sizeof(arg), "/h:/c:%s", modes[i]);
		assert_int_equal(mountspec_parse_volume(arg, &m, err), 0);
		assert_string_equal(mountspec_propagation_name(m.propagation), modes[i]);
		mountspec_free(&m);
	}
}

static void test_volume_bad(void **state)
{
	(void)state;
	struct {
		const char *arg, *why;
	} bad[] = {
		{ "/only", "HOST:CONTAINER" },
		{ "/a:/b:ro:extra", "HOST:CONTAINER" },
		{ "name:/b", "named volumes" },
		{ ":/b", "empty host path" },
		{ "/a:b", "not absolute" },
		{ "/a:/x/../y", ".." },
		{ "/a:/b:", "empty option list" },
		{ "/a:/b:ro,rw", "both ro and rw" },
		{ "/a:/b:shared,slave", "two propagation modes" },
		{ "/a:/b:z", "unknown option 'z'" },
		{ "/a:/b:ro,,rw", "both ro and rw" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mountspec m;
		err[0] = '\0';
		assert_int_equal(mountspec_parse_volume(bad[i].arg, &m, err), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: '%s' lacks '%s'", bad[i].arg, err, bad[i].why);
		assert_null(strchr(err, '\n'));
		assert_null(m.source);   /* freed on failure */
	}
}

static void test_mount_flag(void **state)
{
	(void)state;
	struct mountspec m;
	assert_int_equal(mountspec_parse_mount("type=bind,source=/h,target=/c,readonly,"
					       "bind-propagation=rslave", &m, err), 0);
	assert_int_equal(m.type, MSPEC_BIND);
	assert_true(m.readonly);
	assert_int_equal(m.propagation, MSPEC_RSLAVE);
	assert_string_equal(oci_options(&m, "/h"), "rbind,rslave,ro");
	mountspec_free(&m);
	assert_int_equal(mountspec_parse_mount("type=bind,src=/h,dst=/c,ro=false", &m, err), 0);
	assert_false(m.readonly);
	mountspec_free(&m);
	assert_int_equal(mountspec_parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
					       &m, err), 0);
	assert_int_equal(m.type, MSPEC_TMPFS);
	assert_null(m.source);
	assert_string_equal(oci_options(&m, NULL), "nosuid,nodev,noexec,rw,size=67108864,mode=1770");
	json_t *j = mountspec_to_oci(&m, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "source")), "tmpfs");
	json_decref(j);
	mountspec_free(&m);
	const char *bad[] = {
		"src=/h,dst=/c", "type=volume,src=v,dst=/c", "type=bind,dst=/c", "type=bind,src=/h",
		"type=tmpfs,src=/h,dst=/c", "type=tmpfs,dst=/c,bind-propagation=rshared",
		"type=bind,src=/h,dst=/c,tmpfs-size=1m", "type=tmpfs,dst=/c,tmpfs-size=12q",
		"type=tmpfs,dst=/c,tmpfs-mode=999", "type=bind,src=/h,dst=/c,readonly=maybe",
		"type=bind,src=/h,dst=/c,weird=1", "type=bind,src,dst=/c", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mountspec_parse_mount(bad[i], &m, err) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_tmpfs_flag(void **state)
{
	(void)state;
	struct mountspec m;
	assert_int_equal(mountspec_parse_tmpfs("/run", &m, err), 0);
	assert_string_equal(oci_options(&m, NULL), "nosuid,nodev,noexec,rw");
	mountspec_free(&m);
	assert_int_equal(mountspec_parse_tmpfs("/run:size=10%,mode=0755,exec,uid=1,ro", &m, err), 0);
	assert_true(m.readonly);
	assert_string_equal(oci_options(&m, NULL), "nosuid,nodev,noexec,ro,size=10%,mode=0755,exec,uid=1");
	mountspec_free(&m);
	const char *bad[] = { "run", "/run:", "/run:size=", "/run:size=1q", "/run:mode=9",
			      "/run:uid=x", "/run:bogus", "/run:huge=sometimes" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mountspec_parse_tmpfs(bad[i], &m, err) != -1)
			fail_msg("accepted: %s", bad[i]);
}

static void test_set_and_root_propagation(void **state)
{
	(void)state;
	struct mountspec v[3];
	assert_int_equal(mountspec_parse_volume("/a:/x:rslave", &v[0], err), 0);
	assert_int_equal(mountspec_parse_tmpfs("/y", &v[1], err), 0);
	assert_int_equal(mountspec_check_set(v, 2, err), 0);
	assert_int_equal(mountspec_root_propagation(v, 2, -1, err), MSPEC_RSLAVE);
	assert_int_equal(mountspec_root_propagation(v, 2, MSPEC_RSHARED, err), MSPEC_RSHARED);
	assert_int_equal(mountspec_root_propagation(v, 2, MSPEC_RPRIVATE, err), -1);
	assert_non_null(strstr(err, "slave or shared"));
	assert_int_equal(mountspec_parse_volume("/b:/z:shared", &v[2], err), 0);
	assert_int_equal(mountspec_root_propagation(v, 3, -1, err), MSPEC_RSHARED);
	assert_int_equal(mountspec_root_propagation(v, 3, MSPEC_RSLAVE, err), -1);
	assert_non_null(strstr(err, "--rootfs-propagation shared"));
	assert_int_equal(mountspec_root_propagation(NULL, 0, -1, err), MSPEC_RSLAVE);
	mountspec_free(&v[2]);
	assert_int_equal(mountspec_parse_tmpfs("/x/", &v[2], err), 0);
	assert_int_equal(mountspec_check_set(v, 3, err), -1);
	assert_non_null(strstr(err, "two mounts at /x"));
	mountspec_free(&v[2]);
	assert_int_equal(mountspec_parse_volume("/b://.", &v[2], err), 0);
	assert_int_equal(mountspec_check_set(v, 3, err), -1);
	assert_non_null(strstr(err, "over /"));
	for (size_t i = 0; i < 3; i++)
		mountspec_free(&v[i]);
}

static void test_oci_propagation(void **state)
{
	(void)state;
	json_t *m = json_pack("{s:[s,s,s]}", "options", "rbind", "rslave", "ro");
	assert_int_equal(mountspec_oci_propagation(m), MSPEC_RSLAVE);
	json_decref(m);
	m = json_pack("{s:[s]}", "options", "ro");
	assert_int_equal(mountspec_oci_propagation(m), -1);
	json_decref(m);
	assert_true(mountspec_needs_shared_source(MSPEC_SHARED));
	assert_false(mountspec_needs_shared_source(MSPEC_RSLAVE));
	assert_true(mountspec_needs_propagating_source(MSPEC_SLAVE));
	assert_false(mountspec_needs_propagating_source(MSPEC_PRIVATE));
}

static int parse(struct create_opts *o, char cerr[CREATEOPTS_ERR_SIZE], ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, cerr);
	argv[argc++] = "create";
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return createopts_parse(argc, argv, o, cerr);
}

static void test_createopts(void **state)
{
	(void)state;
	struct create_opts o;
	char cerr[CREATEOPTS_ERR_SIZE];
	char envfile[] = "/tmp/test_mountspec_env_XXXXXX";
	int fd = mkstemp(envfile);
	assert_true(fd >= 0);
	const char *text = "# comment\n\n  A=1\nB=two words\r\nUNSET_IN_TEST_ENV\nHOME\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	setenv("HOME", "/root", 1);
	unsetenv("UNSET_IN_TEST_ENV");
	assert_int_equal(parse(&o, cerr, "-v", "/h:/c:ro", "--tmpfs", "/t", "--read-only",
			       "-e", "A=3", "--env-file", envfile, "-eC=4", "-w", "/w//x/",
			       "-u", "app", "--hostname", "box", "--entrypoint", "",
			       "--init-file", "/etc/motd:/etc/motd", "--cap-add", "sys_admin",
			       "--cap-drop", "ALL", "--rootfs-propagation", "shared",
			       "img:1", "name", "sh", "-c", "x", NULL), CREATEOPTS_OK);
	assert_string_equal(o.image, "img:1");
	assert_string_equal(o.name, "name");
	assert_int_equal(o.ncmd, 3);
	assert_string_equal(o.cmd[1], "-c");
	assert_int_equal(o.nmounts, 2);
	assert_true(o.read_only);
	assert_int_equal(o.nenv, 4);
	assert_string_equal(o.env[0], "A=3");          /* -e after the files, in place */
	assert_string_equal(o.env[1], "B=two words");
	assert_string_equal(o.env[2], "HOME=/root");
	assert_string_equal(o.env[3], "C=4");
	assert_string_equal(o.workdir, "/w/x");
	assert_string_equal(o.user, "app");
	assert_string_equal(o.hostname, "box");
	assert_string_equal(o.entrypoint, "");
	assert_int_equal(o.nfiles, 1);
	assert_string_equal(o.files[0].dst, "/etc/motd");
	assert_string_equal(o.cap_add[0], "CAP_SYS_ADMIN");
	assert_string_equal(o.cap_drop[0], "ALL");
	assert_int_equal(o.root_propagation, MSPEC_RSHARED);
	createopts_free(&o);
	unlink(envfile);

	assert_int_equal(parse(&o, cerr, "img", "name", "--", "-v", NULL), CREATEOPTS_OK);
	assert_int_equal(o.ncmd, 1);
	assert_string_equal(o.cmd[0], "-v");       /* after NAME: the command's */
	createopts_free(&o);
	assert_int_equal(parse(&o, cerr, "img", NULL), CREATEOPTS_USAGE);
	assert_string_equal(cerr, "");
	createopts_free(&o);
	assert_int_equal(parse(&o, cerr, "--nope", "img", "n", NULL), CREATEOPTS_USAGE);
	assert_non_null(strstr(cerr, "unknown option --nope"));
	createopts_free(&o);
	assert_int_equal(parse(&o, cerr, "img", "n", "-v", NULL), CREATEOPTS_OK);
	createopts_free(&o);
	assert_int_equal(parse(&o, cerr, "-v", NULL), CREATEOPTS_BAD);
	assert_non_null(strstr(cerr, "needs a value"));
	createopts_free(&o);
	const char *bad[][3] = {
		{ "-v", "/a:/x" }, { "--hostname", "-bad" }, { "-w", "rel" }, { "--cap-add", "nope" },
		{ "--init-file", "src" }, { "--init-file", "/a:/" }, { "--rootfs-propagation", "up" },
		{ "-e", "=x" }, { "--env-file", "/nonexistent" }, { "-u", "" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = i == 0 ? parse(&o, cerr, "-v", "/a:/x", "--tmpfs", "/x", "i", "n", NULL)
				: parse(&o, cerr, bad[i][0], bad[i][1], "i", "n", NULL);
		if (rc != CREATEOPTS_BAD)
			fail_msg("accepted: %s %s", bad[i][0], bad[i][1]);
		assert_null(strchr(cerr, '\n'));
		createopts_free(&o);
	}
}

static void test_caps(void **state)
{
	(void)state;
	char c[64];
	assert_true(caps_canonical("sys_admin", c, sizeof(c)));
	assert_string_equal(c, "CAP_SYS_ADMIN");
	assert_true(caps_canonical("Cap_Chown", c, sizeof(c)));
	assert_string_equal(c, "CAP_CHOWN");
	assert_true(caps_canonical("all", c, sizeof(c)));
	assert_string_equal(c, "ALL");
	assert_false(caps_canonical("CAP_", c, sizeof(c)));
	assert_false(caps_canonical("frobnicate", c, sizeof(c)));
	const char *bad = NULL;
	json_t *l = caps_resolve(NULL, 0, NULL, 0, false, ~0ULL, &bad);
	assert_int_equal(json_array_size(l), 14);      /* docker's default set */
	json_decref(l);
	char *add[] = { "CAP_SYS_ADMIN" }, *drop[] = { "ALL" };
	l = caps_resolve(add, 1, drop, 1, false, ~0ULL, &bad);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(json_string_value(json_array_get(l, 0)), "CAP_SYS_ADMIN");
	json_decref(l);
	l = caps_resolve(NULL, 0, NULL, 0, true, ~(1ULL << 24), &bad);
	assert_int_equal(json_array_size(l), 40);      /* all 41 but the unavailable one */
	json_decref(l);
	char *unknown[] = { "NOPE" };
	assert_null(caps_resolve(unknown, 1, NULL, 0, false, ~0ULL, &bad));
	assert_string_equal(bad, "NOPE");
}

static void test_mountinfo_lines(void **state)
{
	(void)state;
	struct mi_entry e;
	assert_int_equal(mountinfo_parse_line("36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 "
					      "shared:7 - ext3 /dev/root rw,errors=continue\n", &e), 0);
	assert_int_equal(e.id, 36);
	assert_int_equal(e.parent, 35);
	assert_string_equal(e.root, "/mnt1");
	assert_string_equal(e.mountpoint, "/mnt 2");
	assert_string_equal(e.fstype, "ext3");
	assert_string_equal(e.source, "/dev/root");
	assert_int_equal(e.master, 1);
	assert_int_equal(e.shared, 7);
	mountinfo_entry_free(&e);
	assert_int_equal(mountinfo_parse_line("1 0 0:1 / / rw - rootfs rootfs rw", &e), 0);
	assert_int_equal(e.shared, 0);
	assert_int_equal(e.master, 0);
	mountinfo_entry_free(&e);
	assert_int_equal(mountinfo_parse_line("x 0 0:1 / / rw - a b c", &e), -1);
	assert_int_equal(mountinfo_parse_line("1 0 0:1 / / rw shared:1", &e), -1);
	assert_int_equal(mountinfo_parse_line("", &e), -1);
}

static void test_mountinfo_table(void **state)
{
	(void)state;
	char path[] = "/tmp/test_mountinfo_XXXXXX";
	int fd = mkstemp(path);
	const char *text =
		"1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
		"2 1 0:5 / /srv rw - tmpfs t rw\n"
		"3 2 8:1 /data /srv rw shared:4 - ext4 /dev/sda1 rw\n"
		"4 3 0:6 / /srv/a/b rw master:4 - tmpfs u rw\n"
		"garbage line\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct mi_table t;
	assert_int_equal(mountinfo_read(&t, path), 0);
	unlink(path);
	assert_int_equal(t.n, 4);
	assert_int_equal(mountinfo_top_at(&t, "/srv")->id, 3);   /* stacked: the top one */
	assert_null(mountinfo_top_at(&t, "/srv/a"));
	assert_int_equal(mountinfo_holder(&t, "/srv/a")->id, 3);
	assert_int_equal(mountinfo_holder(&t, "/srv/a/b/c")->id, 4);
	assert_int_equal(mountinfo_holder(&t, "/srvx")->id, 1);
	assert_int_equal(mountinfo_holder(&t, "/")->id, 1);
	assert_true(mountinfo_has_children(&t, mountinfo_top_at(&t, "/srv")));
	assert_false(mountinfo_has_children(&t, mountinfo_top_at(&t, "/srv/a/b")));
	assert_true(mountinfo_any_below(&t, "/srv"));
	assert_true(mountinfo_any_below(&t, "/srv/a"));
	assert_false(mountinfo_any_below(&t, "/srv/a/b"));
	mountinfo_free(&t);
	assert_true(mountinfo_read(&t, "/nonexistent/mountinfo") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_volume_basic),
		cmocka_unit_test(test_volume_options),
		cmocka_unit_test(test_volume_bad),
		cmocka_unit_test(test_mount_flag),
		cmocka_unit_test(test_tmpfs_flag),
		cmocka_unit_test(test_set_and_root_propagation),
		cmocka_unit_test(test_oci_propagation),
		cmocka_unit_test(test_createopts),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_mountinfo_lines),
		cmocka_unit_test(test_mountinfo_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
