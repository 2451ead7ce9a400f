/*
 * progress.h - how far a long operation has got, for people and programs.
 *
 * A layer doing something that can take seconds (a dump writing pages, a
 * store putting or fetching chunks) says what and how many bytes
 * (progress_begin("dump", total)), may add to the total as it learns more
 * (progress_more(), a tree's next process), adds the bytes it has done
 * (progress_add(), from any thread) and says when it is over
 * (progress_end()).  Nobody listening costs an add and a clock read.
 *
 * Whoever runs the layers (src/cli/) sets sinks: each is called at most
 * every PROGRESS_INTERVAL_MS while the operation runs, and once at its end
 * with done set, with the figures of struct progress.  One operation at a
 * time: a begin while one is open ends that one first.
 */
#ifndef THAW_BASE_PROGRESS_H
#define THAW_BASE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_INTERVAL_MS 200
#define PROGRESS_SINKS 2

struct progress {
	const char *what;      /* "dump", "restore", "put" ... */
	uint64_t bytes, total; /* done so far, and of how many (total 0: not known) */
	double elapsed_s;
	double rate;           /* bytes per second since the start */
	double left_s;         /* time left at that rate; < 0: not known */
	bool done;             /* the last call for this operation */
};

typedef void (*progress_sink_fn)(void *arg, const struct progress *p);

/* Adds a sink (at most PROGRESS_SINKS); -ENOSPC when full. */
int progress_add_sink(progress_sink_fn fn, void *arg);
void progress_begin(const char *what, uint64_t total);
void progress_more(uint64_t total);
void progress_add(uint64_t bytes);
/* Sets the bytes done, for whoever counts them as a total (a restore reading /proc/PID/io). */
void progress_set(uint64_t bytes);
void progress_end(void);
/* Whether any sink listens: work done only to measure can be skipped when none does. */
bool progress_wanted(void);

#endif
