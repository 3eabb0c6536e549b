/* Unit tests for looking for the next request before sleeping
 * (src/spinwait.c): a request already there is found at once; with none
 * the reader looks for its window and then gives up; a window of 0 never
 * looks; and once more tasks are runnable than there are CPUs (what
 * /proc/loadavg says, here a stand-in file) at two looks of the last
 * four, it does not look for a while. The
 * device is a pipe: readable is what a pending request looks like. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spinwait.h"

#define WINDOW_US 200000   /* long enough to tell looking from not looking */

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Each test: a pipe as the device, and a spinwait of WINDOW_US on a
 * machine of two CPUs whose loadavg reads as the test says. */
struct fixture {
	int dev[2];
	struct lfs_spinwait s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f || pipe(f->dev) < 0)
		return -1;
	lfs_spinwait_init(&f->s, WINDOW_US);
	if (f->s.loadavg_fd >= 0)
		close(f->s.loadavg_fd);
	f->s.loadavg_fd = memfd_create("loadavg", MFD_CLOEXEC);
	f->s.ncpus = 2;
	f->s.schedstat_fd = -1;    /* whether this test waits for its CPU: not asked */
	*state = f;
	return f->s.loadavg_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	lfs_spinwait_free(&f->s);
	close(f->dev[0]);
	close(f->dev[1]);
	free(f);
	return 0;
}

static void set_loadavg(struct fixture *f, const char *text)
{
	size_t len = strlen(text);
	assert_int_equal(ftruncate(f->s.loadavg_fd, 0), 0);
	assert_int_equal(pwrite(f->s.loadavg_fd, text, len, 0), (ssize_t)len);
	f->s.next_load_check_ns = 0;     /* read at the next look */
}

static void send_request(struct fixture *f)
{
	assert_int_equal(write(f->dev[1], "r", 1), 1);
}

static bool look(struct fixture *f)
{
	return lfs_spinwait_for_request(&f->s, f->dev[0]);
}

#define IDLE "0.10 0.20 0.30 1/90 123\n"
#define BUSY "2.10 1.90 1.50 3/90 123\n"
#define WINDOW_NS ((int64_t)WINDOW_US * 1000)

static void test_a_waiting_request_is_found_at_once(void **state)
{
	struct fixture *f = *state;
	set_loadavg(f, IDLE);
	send_request(f);
	int64_t t0 = now_ns();
	assert_true(look(f));
	assert_true(now_ns() - t0 < WINDOW_NS / 2);
}

static void test_with_no_request_it_looks_for_its_window(void **state)
{
	struct fixture *f = *state;
	set_loadavg(f, IDLE);
	int64_t t0 = now_ns();
	assert_false(look(f));
	/* Unless a yield handed the CPU to another task (then it stops
	 * early, as it should), it looked the whole window. */
	if (f->s.strikes == 0 && f->s.calm_until_ns == 0)
		assert_true(now_ns() - t0 >= WINDOW_NS);
}

static void test_window_zero_never_looks(void **state)
{
	struct fixture *f = *state;
	struct lfs_spinwait off;
	lfs_spinwait_init(&off, 0);
	assert_int_equal(off.loadavg_fd, -1);
	send_request(f);
	assert_false(lfs_spinwait_for_request(&off, f->dev[0]));
	lfs_spinwait_free(&off);
}

static void test_no_looking_while_cpus_are_oversubscribed(void **state)
{
	struct fixture *f = *state;
	set_loadavg(f, BUSY);
	/* One busy look may be chance; the second in a row calms it. */
	assert_false(look(f));
	f->s.next_load_check_ns = 0;
	int64_t t0 = now_ns();
	assert_false(look(f));
	assert_true(now_ns() - t0 < WINDOW_NS / 2);
	assert_true(f->s.calm_until_ns > t0);
	/* Calm for a while: even a waiting request is left to read(2). */
	send_request(f);
	assert_false(look(f));
}

static void test_one_busy_look_alone_does_not_calm(void **state)
{
	struct fixture *f = *state;
	set_loadavg(f, BUSY);
	assert_false(look(f));
	set_loadavg(f, IDLE);      /* idle again by the next look */
	send_request(f);
	assert_true(look(f));
}

static void test_an_unreadable_loadavg_does_not_stop_looking(void **state)
{
	struct fixture *f = *state;
	set_loadavg(f, "garbage\n");
	send_request(f);
	assert_true(look(f));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_a_waiting_request_is_found_at_once),
		T(test_with_no_request_it_looks_for_its_window),
		T(test_window_zero_never_looks),
		T(test_no_looking_while_cpus_are_oversubscribed),
		T(test_one_busy_look_alone_does_not_calm),
		T(test_an_unreadable_loadavg_does_not_stop_looking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
