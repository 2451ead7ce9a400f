/* cli.h - the subcommands of thaw; each returns the process exit code. */
#ifndef THAW_CLI_CLI_H
#define THAW_CLI_CLI_H

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);

#endif
