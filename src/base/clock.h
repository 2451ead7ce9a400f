/*
 * clock.h - the monotonic clock in milliseconds, for timings in logs and
 * events, deadlines and retry delays in every layer.
 */
#ifndef THAW_BASE_CLOCK_H
#define THAW_BASE_CLOCK_H

#include <time.h>

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
