/*
 * test-check.c - engine_check() prints one well-formed line per probe and
 * leaves no child behind.  Whether each feature is present depends on the
 * machine, so only the format and the cleanup are checked, plus that the
 * return value agrees with the lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "engine/engine.h"

static void test_check_lines(void **state)
{
	size_t size = 0, lines = 0, missing = 0;
	char *text = NULL, *line, *save;
	FILE *out;
	int r;

	(void)state;
	out = open_memstream(&text, &size);
	assert_non_null(out);
	r = engine_check(out);
	assert_int_equal(fclose(out), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* "name" padded to 30, one space, "ok"/"MISSING" padded to 7, detail */
		assert_true(strlen(line) > 39);
		assert_int_equal(line[30], ' ');
		if (!strncmp(line + 31, "MISSING ", 8))
			missing++;
		else
			assert_memory_equal(line + 31, "ok      ", 8);
		lines++;
	}
	assert_int_equal(lines, 12); /* one per probe of check.c */
	assert_int_equal(r, missing ? -ENOSYS : 0);
	free(text);

	/* Every probe reaped its children. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG | __WALL), -1);
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
