/* compat: restore */
/*
 * stopped.c - a child stopped by SIGSTOP (a shell's stopped job: its own
 * process group, the stop seen by its parent with WUNTRACED) is still
 * stopped after the restore, and a SIGCONT resumes it.
 */
#define STOP_SIGNAL SIGSTOP
#include "stopped.h"
