/*
 * test-config.c - unit tests of src/base/config.c: the format of thaw's
 * configuration files (keys, comments, spaces, errors by line), a second
 * file's values over the first's, and a file others can write refused.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/config.h"

static int parse(const char *text, struct config *c)
{
	return config_parse("test", text, strlen(text), c);
}

static void test_good(void **state)
{
	struct config c = { 0 };

	(void)state;
	assert_int_equal(parse("# thaw's defaults\n"
			       "\n"
			       "store = s3://bucket/prefix\n"
			       "  s3-endpoint=http://127.0.0.1:9000  \n"
			       "\t# indented comment\n"
			       "cache =\t/var/cache/thaw chunks\n"
			       "key-file = /etc/thaw/key", /* no final newline */
			       &c),
			 0);
	assert_string_equal(c.value[CONFIG_STORE], "s3://bucket/prefix");
	assert_string_equal(c.value[CONFIG_S3_ENDPOINT], "http://127.0.0.1:9000");
	assert_string_equal(c.value[CONFIG_CACHE], "/var/cache/thaw chunks");
	assert_string_equal(c.value[CONFIG_KEY_FILE], "/etc/thaw/key");
	config_free(&c);
	assert_null(c.value[CONFIG_STORE]);
	assert_int_equal(parse("", &c), 0);
	assert_int_equal(parse("\n\n# only comments\n", &c), 0);
	assert_null(c.value[CONFIG_STORE]);
}

/* the user's file is parsed after the system's: its keys win, the others stay */
static void test_layers(void **state)
{
	struct config c = { 0 };

	(void)state;
	assert_int_equal(parse("store = /srv/system\ncache = /var/cache/system\n", &c), 0);
	assert_int_equal(parse("store = https://user.example/store\n", &c), 0);
	assert_string_equal(c.value[CONFIG_STORE], "https://user.example/store");
	assert_string_equal(c.value[CONFIG_CACHE], "/var/cache/system");
	config_free(&c);
}

static void test_bad(void **state)
{
	static const char *const bad[] = {
		"stor = /x\n", /* unknown key */
		"Store = /x\n", /* keys are lower case */
		"store /x\n", /* no '=' */
		"store = /x\nstore = /y\n", /* twice */
		"store =\n", /* no value */
		"store = relative/dir\n", /* not absolute, not a URL */
		"store = ftp://x/y\n",
		"s3-endpoint = s3://x\n",
		"cache = ~/cache\n",
		"key-file = key\n",
		"store = /x\r\n", /* a control character */
		"= /x\n",
		"store = /x # a comment after a value\n",
		"# fine\nstore = /x#1\ncache\n", /* line 3 */
	};
	struct config c = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &c), -EINVAL);
		config_free(&c);
	}
	assert_int_equal(config_parse("test", "store = /x\0y\n", 13, &c), -EINVAL);
}

static void test_bounds(void **state)
{
	size_t n = CONFIG_MAX_BYTES + 1;
	struct config c = { 0 };
	char *big = malloc(n + 1);

	(void)state;
	assert_non_null(big);
	memset(big, '#', n); /* one comment line, too long as a file and as a line */
	big[n] = '\0';
	assert_int_equal(parse(big, &c), -EINVAL);
	memcpy(big, "store = /", 9); /* a value over CONFIG_MAX_VALUE */
	memset(big + 9, 'a', CONFIG_MAX_VALUE + 1);
	big[9 + CONFIG_MAX_VALUE + 1] = '\0';
	assert_int_equal(parse(big, &c), -EINVAL);
	big[9 + CONFIG_MAX_VALUE - 1] = '\0'; /* exactly CONFIG_MAX_VALUE */
	assert_int_equal(parse(big, &c), 0);
	assert_int_equal(strlen(c.value[CONFIG_STORE]), CONFIG_MAX_VALUE);
	config_free(&c);
	free(big);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/thaw-test-config.XXXXXX", path[64];
	struct config c = { 0 };
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	assert_int_equal(config_load(path, &c), 0); /* none: nothing set */
	assert_null(c.value[CONFIG_STORE]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "store = /srv/thaw\nbad\n", 22), 22);
	close(fd);
	assert_int_equal(config_load(path, &c), -EINVAL);
	assert_int_equal(truncate(path, 18), 0);
	assert_int_equal(config_load(path, &c), 0);
	assert_string_equal(c.value[CONFIG_STORE], "/srv/thaw");
	config_free(&c);
	assert_int_equal(chmod(path, 0666), 0); /* others could choose root's key file */
	assert_int_equal(config_load(path, &c), -EPERM);
	assert_null(c.value[CONFIG_STORE]);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),   cmocka_unit_test(test_layers),
		cmocka_unit_test(test_bad),    cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
