/* compat: restore */
/*
 * stop-pending.c - a stopped child with another SIGSTOP pending (sent while
 * it was stopped, a stopped task does not take it): the pending stop must
 * not stop the restore itself, the child is stopped after the restore, and
 * a SIGCONT resumes it.
 */
#define STOP_SIGNAL SIGSTOP
#define STOP_TWICE
#include "stopped.h"
