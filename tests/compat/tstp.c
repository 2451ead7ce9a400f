/* compat: restore */
/*
 * tstp.c - a child stopped by SIGTSTP (^Z in a shell; its own process group,
 * the stop seen by its parent with WUNTRACED) is still stopped after the
 * restore, by SIGTSTP, and a SIGCONT resumes it.
 */
#define STOP_SIGNAL SIGTSTP
#include "stopped.h"
