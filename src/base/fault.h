/*
 * fault.h - named fault points: tests kill the thaw command at each step.
 *
 * "kill -9 at any moment harms nothing" is tested two ways (tests/fault/):
 * at random moments, and at the narrow moments a random kill rarely hits
 * (a thread's registers borrowed for an injected system call, a snapshot
 * written but not yet named).  For those, THAW_FAULT=NAME[:N] makes the
 * Nth pass (default the first) of this process through fault_point(NAME)
 * send SIGKILL to the thaw command: the process the caller started
 * (lifeline.h), which after the split is not this one, so the work goes
 * on and must notice.  Without THAW_FAULT a fault point costs one test of
 * a static variable.  The names are listed in docs/faults.md.
 */
#ifndef THAW_BASE_FAULT_H
#define THAW_BASE_FAULT_H

void fault_point(const char *name);

#endif
