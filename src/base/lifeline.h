/*
 * lifeline.h - the thaw command and the process that does its work.
 *
 * kill -9 of a thaw command must harm nothing, at any moment.  A process
 * that is killed cannot undo what it was in the middle of: registers it
 * borrowed in a traced thread, a program's CUDA state moved into host
 * memory, a restored program not yet reported, staging files.  So the
 * commands that change other processes split at their start:
 * lifeline_split() forks, and the parent (the process the caller started,
 * "the command") only waits and passes on its child's exit status; the
 * child (the worker) does all the work and holds all the state.  Killing
 * the command kills nobody who holds anything.  The worker holds the read
 * end of a pipe whose only write end the command holds: once the command
 * is gone, lifeline_check() says so, and the worker takes the failure path
 * it takes for any error, which puts everything back.  It checks before
 * each step that cannot be undone (a snapshot named, a program killed or
 * let go), so an outcome the caller never heard of is never made after
 * the caller is gone, and between long steps, so that it gives up soon.
 *
 * SIGINT, SIGTERM and SIGHUP sent to the command are passed on to the
 * worker (a terminal's reach it directly: same process group); in the
 * worker they only make lifeline_check() fail, so a dump or a restore
 * stopped that way fails cleanly too, and the command then dies of the
 * same signal.  Without a split (thaw run, which keeps its program only
 * as long as it runs itself), lifeline_check() always passes.
 */
#ifndef THAW_BASE_LIFELINE_H
#define THAW_BASE_LIFELINE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * In the worker: returns 0.  The command never returns: it exits as its
 * worker did.  -errno (nothing split) when the fork fails.
 */
int lifeline_split(void) __attribute__((warn_unused_result));

/* 0 while the command is there; -ECANCELED (said once, as an error) once it is gone or stopped. */
int lifeline_check(void) __attribute__((warn_unused_result));

/* For poll(): hangs up once the command is gone; -1 without a split. */
int lifeline_fd(void);

/* In a child of the worker that outlives it (a restore's init): lets go of the lifeline. */
void lifeline_drop(void);

/* The process the caller started: the parent after a split, else this process. */
pid_t lifeline_command(void);

/*
 * The worker's exit: a command that failed because it was stopped by a
 * signal dies of that signal (so that a shell sees it was interrupted);
 * otherwise returns status.
 */
int lifeline_exit_status(int status);

#endif
