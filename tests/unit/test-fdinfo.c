/*
 * test-fdinfo.c - the fdinfo parser on samples taken from Linux 6.18 (one
 * per fd kind thaw supports), on lines it must refuse, and on garbage.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/fdinfo.h"

static int parse(const char *text, struct fdinfo *info)
{
	size_t off;

	return fdinfo_parse(text, strlen(text), info, &off);
}

static void test_pipe(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t04001\nmnt_id:\t16\nino:\t9654\n", &info), 0);
	assert_int_equal(info.pos, 0);
	assert_int_equal(info.flags, 04001);
	assert_int_equal(info.mnt_id, 16);
	assert_int_equal(info.ino, 9654);
	assert_false(info.has_eventfd || info.has_sigmask || info.has_timerfd);
	fdinfo_release(&info);
}

static void test_file(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t4\nflags:\t0102002\nmnt_id:\t27\nino:\t10952970\n", &info), 0);
	assert_int_equal(info.pos, 4);
	assert_int_equal(info.flags, 0102002);
	assert_int_equal(info.ino, 10952970);
	/* an unknown future line is skipped */
	assert_int_equal(parse("pos:\t9223372036854775807\nflags:\t02100002\nmnt_id:\t27\n"
			       "ino:\t1\nlock:\t1: POSIX  ADVISORY  WRITE 42 08:01:1 0 EOF\n"
			       "new-thing:\t7\n",
			       &info),
			 0);
	assert_true(info.pos == INT64_MAX);
	assert_int_equal(info.flags, 02100002);
	assert_int_equal(info.nr_locks, 1);
	fdinfo_release(&info);
}

/* "lock:" lines as Linux 6.18 prints them (fs/locks.c lock_get_status). */
static void test_locks(void **state)
{
	struct fdinfo info;
	const struct fdinfo_lock *l;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t0100002\nmnt_id:\t27\nino:\t10953704\n"
			       "lock:\t1: POSIX  ADVISORY  WRITE 28893 fe:00:10953704 10 29\n"
			       "lock:\t2: POSIX  ADVISORY  READ 28893 fe:00:10953704 100 EOF\n"
			       "lock:\t3: OFDLCK ADVISORY  READ -1 fe:00:10953704 0 4\n"
			       "lock:\t4: FLOCK  ADVISORY  WRITE 28893 fe:00:10953704 0 EOF\n"
			       "lock:\t5: LEASE  ACTIVE    READ 28893 fe:00:10953704 0 EOF\n"
			       "lock:\t6: LEASE  BREAKING  UNLCK 7 103:1f:18446744073709551615 0 EOF\n",
			       &info),
			 0);
	assert_int_equal(info.nr_locks, 6);
	l = &info.locks[0];
	assert_int_equal(l->kind, FDINFO_LOCK_POSIX);
	assert_int_equal(l->mode, FDINFO_LOCK_ADVISORY);
	assert_int_equal(l->type, F_WRLCK);
	assert_int_equal(l->pid, 28893);
	assert_int_equal(l->dev_major, 0xfe);
	assert_int_equal(l->dev_minor, 0);
	assert_int_equal(l->ino, 10953704);
	assert_int_equal(l->start, 10);
	assert_int_equal(l->end, 29);
	assert_false(l->is_waiter);
	assert_true(info.locks[1].end == FDINFO_LOCK_EOF);
	assert_int_equal(info.locks[1].type, F_RDLCK);
	assert_int_equal(info.locks[2].kind, FDINFO_LOCK_OFD);
	assert_int_equal(info.locks[2].pid, -1);
	assert_int_equal(info.locks[3].kind, FDINFO_LOCK_FLOCK);
	assert_int_equal(info.locks[4].kind, FDINFO_LOCK_LEASE);
	assert_int_equal(info.locks[4].mode, FDINFO_LEASE_ACTIVE);
	l = &info.locks[5];
	assert_int_equal(l->mode, FDINFO_LEASE_BREAKING);
	assert_int_equal(l->type, F_UNLCK);
	assert_int_equal(l->dev_major, 0x103);
	assert_int_equal(l->dev_minor, 0x1f);
	assert_true(l->ino == UINT64_MAX);
	fdinfo_release(&info);
	assert_null(info.locks);

	/* what only /proc/locks shows: waiters, inode-less locks, old kernels' mandatory locks */
	{
		static const char *const lines[] = {
			"1: -> POSIX  ADVISORY  WRITE 22212 fe:00:10953704 10 29",
			"2: POSIX *NOINODE* WRITE 5 <none>:0 0 EOF",
			"3: POSIX  MANDATORY WRITE 5 08:01:7 0 0",
			"4: DELEG  ACTIVE    READ 9 00:2d:44 0 EOF",
			"5: UNKNOWN UNKNOWN  UNLCK 0 00:00:1 0 EOF",
		};
		struct fdinfo_lock got[5];
		size_t i;

		for (i = 0; i < 5; i++)
			assert_int_equal(fdinfo_parse_lock(lines[i], lines[i] + strlen(lines[i]),
							   &got[i]),
					 0);
		assert_true(got[0].is_waiter);
		assert_int_equal(got[1].mode, FDINFO_LOCK_NOINODE);
		assert_int_equal(got[1].ino, 0);
		assert_int_equal(got[2].mode, FDINFO_LOCK_MANDATORY);
		assert_int_equal(got[2].end, 0);
		assert_int_equal(got[3].kind, FDINFO_LOCK_DELEG);
		assert_int_equal(got[4].kind, FDINFO_LOCK_UNKNOWN);
	}
}

static void test_eventfd(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1039\n"
			       "eventfd-count:                7\neventfd-id: 1\n"
			       "eventfd-semaphore: 1\n",
			       &info),
			 0);
	assert_true(info.has_eventfd);
	assert_int_equal(info.eventfd_count, 7);
	assert_true(info.eventfd_semaphore);
	assert_int_equal(info.flags, 02000002);
	/* the count is hex */
	assert_int_equal(parse("eventfd-count: fffffffffffffffe\neventfd-semaphore: 0\n", &info), 0);
	assert_true(info.eventfd_count == 0xfffffffffffffffeull);
	assert_false(info.eventfd_semaphore);
	fdinfo_release(&info);
}

static void test_epoll(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1039\n"
			       "tfd:        3 events: 80000019 data: 1122334455667788  pos:0 "
			       "ino:25b6 sdev:f\n"
			       "tfd:        5 events:       1c data:               2a  pos:0 "
			       "ino:40f sdev:10\n",
			       &info),
			 0);
	assert_int_equal(info.nr_tfds, 2);
	assert_int_equal(info.tfds[0].tfd, 3);
	assert_int_equal(info.tfds[0].events, 0x80000019);
	assert_true(info.tfds[0].data == 0x1122334455667788ull);
	assert_int_equal(info.tfds[0].ino, 0x25b6);
	assert_int_equal(info.tfds[0].sdev, 0xf);
	assert_int_equal(info.tfds[1].tfd, 5);
	assert_int_equal(info.tfds[1].events, 0x1c);
	assert_int_equal(info.tfds[1].data, 0x2a);
	assert_int_equal(info.tfds[1].ino, 0x40f);
	assert_int_equal(info.tfds[1].sdev, 0x10);
	fdinfo_release(&info);
	assert_null(info.tfds);
}

static void test_epoll_many(void **state)
{
	struct fdinfo info;
	char *text, *p;
	int i, n = 1000;

	(void)state;
	text = malloc((size_t)n * 100 + 1);
	assert_non_null(text);
	p = text;
	for (i = 0; i < n; i++)
		p += sprintf(p, "tfd: %8d events: %8x data: %16x  pos:0 ino:%x sdev:f\n", i, i, i,
			     i);
	assert_int_equal(parse(text, &info), 0);
	assert_int_equal(info.nr_tfds, n);
	assert_int_equal(info.tfds[n - 1].tfd, n - 1);
	assert_int_equal(info.tfds[n - 1].data, n - 1);
	fdinfo_release(&info);
	free(text);
}

static void test_signalfd(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1039\n"
			       "sigmask:\t0000001000000200\n",
			       &info),
			 0);
	assert_true(info.has_sigmask);
	assert_true(info.sigmask == ((1ull << (10 - 1)) | (1ull << (37 - 1))));
	assert_int_equal(info.flags, 04002);
}

static void test_timerfd(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1039\nclockid: 1\n"
			       "ticks: 0\nsettime flags: 00\nit_value: (99, 966160176)\n"
			       "it_interval: (1, 500)\n",
			       &info),
			 0);
	assert_true(info.has_timerfd);
	assert_int_equal(info.clockid, 1);
	assert_int_equal(info.ticks, 0);
	assert_int_equal(info.settime_flags, 0);
	assert_int_equal(info.it_value_sec, 99);
	assert_int_equal(info.it_value_nsec, 966160176);
	assert_int_equal(info.it_interval_sec, 1);
	assert_int_equal(info.it_interval_nsec, 500);
	assert_int_equal(parse("clockid: 0\nticks: 18446744073709551615\nsettime flags: 03\n"
			       "it_value: (0, 0)\nit_interval: (0, 1000000)\n",
			       &info),
			 0);
	assert_int_equal(info.clockid, 0);
	assert_true(info.ticks == UINT64_MAX);
	assert_int_equal(info.settime_flags, 3);
	assert_int_equal(info.it_interval_nsec, 1000000);
}

static void test_memfd(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t3\nflags:\t0100002\nmnt_id:\t0\nino:\t1025\n", &info), 0);
	assert_int_equal(info.pos, 3);
	assert_int_equal(info.mnt_id, 0);
}

static void test_pidfd(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t02004002\nmnt_id:\t4\nino:\t130051\n"
			       "Pid:\t32713\nNSpid:\t32713\t12\t2\n",
			       &info),
			 0);
	assert_true(info.has_pid);
	assert_int_equal(info.pid, 32713);
	assert_int_equal(info.nspid_inner, 2);
	assert_int_equal(info.nspid_depth, 3);
	fdinfo_release(&info);
	/* a process that is gone: Pid -1 and no NSpid */
	assert_int_equal(parse("pos:\t0\nflags:\t02\nPid:\t-1\n", &info), 0);
	assert_int_equal(info.pid, -1);
	assert_int_equal(info.nspid_depth, 0);
	fdinfo_release(&info);
	assert_int_equal(parse("Pid:\t0\n", &info), -EINVAL);
	assert_int_equal(parse("Pid:\t-2\n", &info), -EINVAL);
	assert_int_equal(parse("Pid:\t5\nNSpid:\t5 0\n", &info), -EINVAL);
	assert_int_equal(parse("Pid:\t5\nNSpid:\t\n", &info), -EINVAL);
	assert_int_equal(parse("Pid:\t5\nNSpid:\t1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "
			       "20 21 22 23 24 25 26 27 28 29 30 31 32 33\n",
			       &info),
			 -EINVAL);
}

static void test_inotify(void **state)
{
	struct fdinfo info;

	(void)state;
	assert_int_equal(parse("pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1039\n"
			       "inotify wd:2 ino:35d sdev:fe00000 mask:2 ignored_mask:0 "
			       "fhandle-bytes:8 fhandle-type:1 f_handle:5d03000000000000\n"
			       "inotify wd:1 ino:3c51a sdev:fe00000 mask:fff ignored_mask:0\n",
			       &info),
			 0);
	assert_int_equal(info.nr_inotify, 2);
	assert_int_equal(info.inotify[0].wd, 2);
	assert_int_equal(info.inotify[0].ino, 0x35d);
	assert_int_equal(info.inotify[0].sdev, 0xfe00000);
	assert_int_equal(info.inotify[0].mask, 2);
	assert_int_equal(info.inotify[0].handle_bytes, 8);
	assert_int_equal(info.inotify[0].handle_type, 1);
	assert_int_equal(info.inotify[0].handle[0], 0x5d);
	assert_int_equal(info.inotify[0].handle[1], 0x03);
	assert_int_equal(info.inotify[1].wd, 1);
	assert_int_equal(info.inotify[1].handle_bytes, 0);
	fdinfo_release(&info);
	/* a handle longer than it says, shorter, too long, a bad digit, a wd of 0 */
	assert_int_equal(parse("inotify wd:2 ino:1 sdev:0 mask:2 ignored_mask:0 fhandle-bytes:1 "
			       "fhandle-type:1 f_handle:5d03\n",
			       &info),
			 -EINVAL);
	assert_int_equal(parse("inotify wd:2 ino:1 sdev:0 mask:2 ignored_mask:0 fhandle-bytes:4 "
			       "fhandle-type:1 f_handle:5d03\n",
			       &info),
			 -EINVAL);
	assert_int_equal(parse("inotify wd:2 ino:1 sdev:0 mask:2 ignored_mask:0 fhandle-bytes:81 "
			       "fhandle-type:1 f_handle:00\n",
			       &info),
			 -EINVAL);
	assert_int_equal(parse("inotify wd:2 ino:1 sdev:0 mask:2 ignored_mask:0 fhandle-bytes:1 "
			       "fhandle-type:1 f_handle:zz\n",
			       &info),
			 -EINVAL);
	assert_int_equal(parse("inotify wd:0 ino:1 sdev:0 mask:2 ignored_mask:0\n", &info),
			 -EINVAL);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"pos:\t-1\n",
		"pos:\t\n",
		"pos:\t12x\n",
		"pos:\t99999999999999999999\n",
		"flags:\t089\n",
		"flags:\t077777777777\n",
		"mnt_id:\t99999999999\n",
		"eventfd-count: 1ffffffffffffffff\n",
		"eventfd-count: 0x10\n",
		"eventfd-semaphore: 2\n",
		"sigmask:\tzz\n",
		"clockid: -1\n",
		"it_value: (1, 1000000000)\n",
		"it_value: (1 1)\n",
		"it_value: (1, 2\n",
		"it_interval: (1, 2) junk\n",
		"tfd: -3 events: 1 data: 2 pos:0 ino:1 sdev:1\n",
		"tfd: 3 events: 1 data: 2 pos:0 ino:1\n",
		"tfd: 3 events: 100000000 data: 2 pos:0 ino:1 sdev:1\n",
		"tfd: 3 data: 2 events: 1 pos:0 ino:1 sdev:1\n",
		"pos:\t0\nno colon here\n",
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 10 9\n", /* ends before it starts */
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 10\n",
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 -1 EOF\n",
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 0 9223372036854775808\n",
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe: 00:1 0 EOF\n",
		"lock:\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 0 EOF junk\n",
		"lock:\t1: POSIX  ADVISORY  WRITE -2 fe:00:1 0 EOF\n",
		"lock:\t1: POSIX  ADVISORY  WRITEX 1 fe:00:1 0 EOF\n",
		"lock:\t1: FLOCK  MSNFS  READ 1 fe:00:1 0 EOF\n",
		"lock:\t1: SPLOCK ADVISORY  READ 1 fe:00:1 0 EOF\n",
		"lock:\t1 POSIX  ADVISORY  READ 1 fe:00:1 0 EOF\n",
		"lock:\t1: POSIX  ADVISORY  READ 1 fe:100000000:1 0 EOF\n",
		"lock:\t1: POSIX  ADVISORY  READ 1 <none>:1 0 EOF\n",
	};
	struct fdinfo info;
	size_t i, off;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = fdinfo_parse(bad[i], strlen(bad[i]), &info, &off);

		if (ret != -EINVAL)
			fail_msg("accepted or wrong error for \"%s\": %d", bad[i], ret);
		assert_null(info.tfds);
		assert_null(info.locks);
	}
	/* the offset names the bad line */
	assert_int_equal(fdinfo_parse("pos:\t0\nflags:\tx\n", 16, &info, &off), -EINVAL);
	assert_int_equal(off, 7);
}

static void test_garbage(void **state)
{
	struct fdinfo info;
	unsigned char buf[512];
	unsigned int seed = 1;
	size_t off;
	int i, j;

	(void)state;
	/* no NUL terminator needed, empty input fine, random bytes never crash */
	assert_int_equal(fdinfo_parse("", 0, &info, &off), 0);
	assert_int_equal(fdinfo_parse("pos:\t5", 6, &info, &off), 0);
	assert_int_equal(info.pos, 5);
	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		static const char alphabet[] = "tfd:events data pos ino sdev lock: POSIX READ EOF "
					       "0123456789abcdef\n\t(),-x";

		for (j = 0; j < (int)len; j++)
			buf[j] = (i & 1) ? (unsigned char)rand_r(&seed) :
					   (unsigned char)alphabet[rand_r(&seed) %
								   (int)(sizeof(alphabet) - 1)];
		if (fdinfo_parse((const char *)buf, len, &info, &off) == 0)
			fdinfo_release(&info);
		else
			assert_true(off <= len);
	}
	assert_int_equal(fdinfo_parse("x", FDINFO_MAX_BYTES + 1, &info, &off), -E2BIG);
}

static void test_read_self(void **state)
{
	struct fdinfo info;
	char *buf;
	size_t len, off;

	(void)state;
	assert_int_equal(fdinfo_read(getpid(), 0, &buf, &len), 0);
	assert_int_equal(fdinfo_parse(buf, len, &info, &off), 0);
	free(buf);
	assert_int_equal(fdinfo_read(getpid(), 100000, &buf, &len), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe),	  cmocka_unit_test(test_file),
		cmocka_unit_test(test_eventfd),	  cmocka_unit_test(test_epoll),
		cmocka_unit_test(test_epoll_many), cmocka_unit_test(test_signalfd),
		cmocka_unit_test(test_timerfd),	  cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_refused),	  cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_read_self), cmocka_unit_test(test_pidfd),
		cmocka_unit_test(test_inotify),
		cmocka_unit_test(test_locks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
