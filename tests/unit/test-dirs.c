/*
 * test-dirs.c - unit tests of src/base/dirs.c's staging directories: a
 * locked one is never swept while its maker holds it, is swept once it lets
 * go, a look-alike of another owner or another name is left alone, and
 * make_staging_dir() sweeps the staging directories of dumps that are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/dirs.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/thaw-test-dirs.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(AT_FDCWD, root, 4);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void put_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void test_locked_dir(void **state)
{
	char dir[PATH_MAX], other[PATH_MAX];
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/snap.tmp-XXXXXX", root);
	assert_int_equal(make_locked_dir(dir, &fd), 0);
	put_file(dir, "pages.img");
	/* in use: never swept */
	assert_int_equal(sweep_locked_dirs(root, "snap.tmp-", 1), 0);
	assert_true(exists(dir));
	/* its maker let go (or died): swept, with what is in it */
	close(fd);
	assert_int_equal(sweep_locked_dirs(root, "snap.tmp-", 1), 1);
	assert_false(exists(dir));

	/* not ours: another name, another length, another owner */
	snprintf(other, sizeof(other), "%s/snap.tmp-toolong1", root);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(other, sizeof(other), "%s/snapx.tmp-abcdef", root);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(other, sizeof(other), "%s/snap.tmp-nobody", root);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(chown(other, 65534, 65534), 0);
	assert_int_equal(sweep_locked_dirs(root, "snap.tmp-", 1), 0);
	assert_true(exists(other));
}

static void test_staging_dir(void **state)
{
	char staged[PATH_MAX], second[PATH_MAX], *slash;
	int lock, lock2;

	(void)state;
	assert_int_equal(make_staging_dir(root, staged, sizeof(staged), &lock), 0);
	slash = strrchr(staged, '/');
	assert_non_null(slash);
	assert_string_equal(slash, "/snapshot");
	assert_false(exists(staged)); /* engine_dump makes it */
	assert_int_equal(mkdir(staged, 0700), 0);
	put_file(staged, "manifest.json");
	/* a second dump beside a live one leaves it alone */
	assert_int_equal(make_staging_dir(root, second, sizeof(second), &lock2), 0);
	assert_true(exists(staged));
	remove_staging_dir(second, lock2);
	/* the first one is killed: its lock goes with it, and the next dump sweeps it */
	close(lock);
	assert_int_equal(make_staging_dir(root, second, sizeof(second), &lock2), 0);
	assert_false(exists(staged));
	*strrchr(second, '/') = '\0';
	assert_true(exists(second));
	strcat(second, "/snapshot");
	remove_staging_dir(second, lock2);
	*strrchr(second, '/') = '\0';
	assert_false(exists(second));
	/* too long a parent is an error, not a truncated path */
	memset(second, 'a', sizeof(second) - 1);
	second[sizeof(second) - 1] = '\0';
	assert_int_equal(make_staging_dir(second, staged, sizeof(staged), &lock), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locked_dir),
		cmocka_unit_test(test_staging_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
