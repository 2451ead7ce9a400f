/*
 * store-ram.c - bench/store.py's RAM tier figures.  The RAM tier lives in
 * one process (store.h, ram_limit), so no `thaw restore` can reach it: this
 * program restores one snapshot several times in itself, through thaw's own
 * library, as a long-lived restoring process would.  The store handles of a
 * process share one RAM tier: the first restore from the store reads the
 * disk tier (verifying every chunk) and fills it, every later one reads RAM
 * only.  Each round also restores the same snapshot from its plain directory,
 * in this same process, so that the two compare without thaw's start-up.
 * Every restore is detached; its program and init are killed by PID at once.
 *
 *   store-ram STORE NAME SNAPSHOT_DIR ROUNDS
 *
 * Prints one line per restore: "plain|store ROUND MS" (store round 0 is the
 * one that fills the RAM tier).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "engine/engine.h"
#include "repo/repo.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Kills what a detached restore left running: the program, then its init. */
static void end_restore(pid_t program, pid_t init)
{
	if (program > 0)
		kill(program, SIGKILL);
	if (init > 0) {
		kill(init, SIGKILL);
		waitpid(init, NULL, 0);
	}
}

/* One detached restore; its time to running in ms, or < 0. */
static double restore_once(const struct store_config *cfg, const char *name, const char *dir)
{
	struct engine_restore_opts o = { .detach = true, .die_with_caller = true };
	struct store_snap_restore *r = NULL;
	struct repo_pages pages;
	pid_t init = 0, program = 0;
	double t0 = now_ms(), ms;
	int status, rc;

	o.ret_init_pid = &init;
	o.ret_program_pid = &program;
	if (cfg) {
		rc = store_snap_restore_open(cfg, name, NULL, &r);
		if (rc < 0)
			return rc;
		repo_pages_init(&pages, r);
		o.dir = store_snap_restore_dir(r);
		o.pages = &pages.source;
	} else {
		o.dir = dir;
	}
	rc = engine_restore(&o, &status);
	ms = now_ms() - t0;
	store_snap_restore_close(r);
	end_restore(program, init);
	return rc < 0 ? rc : ms;
}

int main(int argc, char **argv)
{
	struct store_config cfg;
	int rounds, i;

	if (argc != 5 || (rounds = atoi(argv[4])) < 2) {
		fprintf(stderr, "usage: store-ram STORE NAME SNAPSHOT_DIR ROUNDS (>= 2)\n");
		return 2;
	}
	store_config_init(&cfg);
	cfg.dir = argv[1];
	cfg.ram_limit = 8ull << 30;
	for (i = 0; i < rounds; i++) {
		double plain = restore_once(NULL, NULL, argv[3]);
		double store = restore_once(&cfg, argv[2], NULL);

		if (plain < 0 || store < 0) {
			fprintf(stderr, "store-ram: restore %d failed: %s\n", i,
				strerror((int)-(plain < 0 ? plain : store)));
			return 1;
		}
		printf("plain %d %.1f\nstore %d %.1f\n", i, plain, i, store);
		fflush(stdout);
	}
	return 0;
}
