/*
 * progress.c - the figures of the operation in flight, handed to the sinks
 * the CLI set (progress.h).  progress_add() may run on several threads at
 * once (a restore from a store decodes on several): the counts are atomic,
 * and one thread at a time calls the sinks, whichever gets the flag.
 */
#include "base/clock.h"
#include "progress.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

static struct {
	progress_sink_fn fn;
	void *arg;
} sinks[PROGRESS_SINKS];
static int nr_sinks;

static const char *what;
static uint64_t total, bytes;   /* atomics */
static double t0_ms;
static int64_t last_ms;         /* atomic; written only by whoever holds busy */
static int busy;                /* atomic: a thread is calling the sinks */
static bool active;             /* atomic */

int progress_add_sink(progress_sink_fn fn, void *arg)
{
	if (nr_sinks == PROGRESS_SINKS)
		return -ENOSPC;
	sinks[nr_sinks].fn = fn;
	sinks[nr_sinks].arg = arg;
	nr_sinks++;
	return 0;
}

static void emit(double now, bool done)
{
	struct progress p = { .what = what, .done = done };
	int i;

	p.bytes = __atomic_load_n(&bytes, __ATOMIC_RELAXED);
	p.total = __atomic_load_n(&total, __ATOMIC_RELAXED);
	p.elapsed_s = (now - t0_ms) / 1e3;
	p.rate = p.elapsed_s > 0 ? (double)p.bytes / p.elapsed_s : 0;
	/* the first half second's rate says little of what is left */
	p.left_s = p.total >= p.bytes && p.rate > 0 && p.elapsed_s >= 0.5 ?
			   (double)(p.total - p.bytes) / p.rate :
			   -1;
	if (done)
		p.left_s = 0;
	for (i = 0; i < nr_sinks; i++)
		sinks[i].fn(sinks[i].arg, &p);
}

void progress_begin(const char *name, uint64_t n)
{
	if (__atomic_load_n(&active, __ATOMIC_ACQUIRE))
		progress_end();
	what = name;
	__atomic_store_n(&total, n, __ATOMIC_RELAXED);
	__atomic_store_n(&bytes, 0, __ATOMIC_RELAXED);
	t0_ms = now_ms();
	/* the first add shows at once: whoever watches sees the operation start */
	__atomic_store_n(&last_ms, (int64_t)t0_ms - PROGRESS_INTERVAL_MS, __ATOMIC_RELAXED);
	__atomic_store_n(&active, true, __ATOMIC_RELEASE);
}

void progress_more(uint64_t n)
{
	__atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
}

bool progress_wanted(void)
{
	return nr_sinks > 0;
}

static void update(void);

void progress_add(uint64_t n)
{
	__atomic_add_fetch(&bytes, n, __ATOMIC_RELAXED);
	update();
}

void progress_set(uint64_t n)
{
	__atomic_store_n(&bytes, n, __ATOMIC_RELAXED);
	update();
}

/* Calls the sinks if PROGRESS_INTERVAL_MS have gone by since they were last called. */
static void update(void)
{
	double now;

	if (!nr_sinks || !__atomic_load_n(&active, __ATOMIC_ACQUIRE))
		return;
	now = now_ms();
	if (now - (double)__atomic_load_n(&last_ms, __ATOMIC_RELAXED) < PROGRESS_INTERVAL_MS ||
	    __atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		return;
	/* another thread may have emitted between the check and the flag */
	if (now - (double)__atomic_load_n(&last_ms, __ATOMIC_RELAXED) >= PROGRESS_INTERVAL_MS) {
		__atomic_store_n(&last_ms, (int64_t)now, __ATOMIC_RELAXED);
		emit(now, false);
	}
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

void progress_end(void)
{
	if (!__atomic_exchange_n(&active, false, __ATOMIC_ACQ_REL))
		return;
	while (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		;
	if (nr_sinks)
		emit(now_ms(), true);
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}
