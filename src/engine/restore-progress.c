/*
 * restore-progress.c - progress of a restore from a snapshot directory.
 *
 * There the restored processes read their own pages: the blob's fillers
 * pread pages.img inside them, and thaw only waits for the blob.  What they
 * have read so far is what this namespace's /proc/PID/io counts as rchar
 * (threads that are gone included), a little more than the pages (the
 * helper's own reads), so the sum is capped at the pages' bytes.  A timer
 * interrupts the tracer's wait every PROGRESS_INTERVAL_MS to look
 * (restore_progress_poll() on EINTR); nothing of it when no one listens.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/progress.h"
#include "engine-internal.h"

static pid_t *pids;
static uint32_t nr_pids;
static uint64_t total;
static struct sigaction old_alrm;

static void tick(int sig)
{
	(void)sig; /* only to interrupt the wait */
}

/* rchar of /proc/PID/io, 0 when it cannot be read (not started yet, or gone) */
static uint64_t rchar(pid_t pid)
{
	char path[64], buf[512], *p;
	uint64_t v = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, "rchar: ");
	if (p)
		sscanf(p + 7, "%" SCNu64, &v);
	return v;
}

void restore_progress_begin(struct image *const *imgs, uint32_t nr)
{
	struct sigaction sa = { .sa_handler = tick }; /* no SA_RESTART: the wait returns EINTR */
	struct itimerval it = { { 0, PROGRESS_INTERVAL_MS * 1000 },
				{ 0, PROGRESS_INTERVAL_MS * 1000 } };
	uint32_t k;

	if (!progress_wanted() || nr == 0)
		return;
	pids = calloc(nr, sizeof(*pids));
	if (!pids)
		return;
	for (k = 0, total = 0; k < nr; k++) {
		pids[k] = imgs[k]->proc.pid;
		total += imgs[k]->pages_bytes;
	}
	nr_pids = nr;
	progress_begin("restore", total);
	sigaction(SIGALRM, &sa, &old_alrm);
	setitimer(ITIMER_REAL, &it, NULL);
}

void restore_progress_poll(void)
{
	uint64_t sum = 0;
	uint32_t k;

	for (k = 0; k < nr_pids; k++)
		sum += rchar(pids[k]);
	progress_set(sum < total ? sum : total);
}

void restore_progress_end(void)
{
	struct itimerval off = { 0 };

	if (!pids)
		return;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_alrm, NULL);
	restore_progress_poll();
	progress_end();
	free(pids);
	pids = NULL;
	nr_pids = 0;
}
