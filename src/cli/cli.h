/* cli.h - the subcommands of thaw; each returns the process exit code. */
#ifndef THAW_CLI_CLI_H
#define THAW_CLI_CLI_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

/*
 * --verify, or THAW_VERIFY set to anything but "" and "0" (the test suite
 * sets it, so that every restore it makes is verified).
 */
static inline bool cli_verify_wanted(bool flag)
{
	const char *env = getenv("THAW_VERIFY");

	return flag || (env && *env && strcmp(env, "0"));
}

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);

#endif
