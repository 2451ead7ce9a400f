/* compat: restore */
/*
 * comm.c - thread names are per thread (PR_SET_NAME, /proc/self/task/TID/comm):
 * a name of the full 15 bytes on the main thread, another on a thread, and
 * one thread left with the name it inherited.
 */
#include <sys/prctl.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread named, inherited;
static char inherited_name[16];

static long get_name(void *arg)
{
	return prctl(PR_GET_NAME, (char *)arg, 0, 0, 0) ? -errno : 0;
}

static long set_name(void *arg)
{
	return prctl(PR_SET_NAME, (const char *)arg, 0, 0, 0) ? -errno : 0;
}

static int setup(void)
{
	if (compat_thread_start(&named) || compat_thread_start(&inherited) ||
	    compat_call(&inherited, get_name, inherited_name) ||
	    set_name("fifteen-bytes-x") || compat_call(&named, set_name, "worker 2")) {
		perror("setup");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char name[16] = "";

	if (get_name(name) || strcmp(name, "fifteen-bytes-x"))
		return FAILED("the main thread is named \"%s\"", name);
	if (compat_call(&named, get_name, name) || strcmp(name, "worker 2"))
		return FAILED("a thread is named \"%s\", want \"worker 2\"", name);
	if (compat_call(&inherited, get_name, name) || strcmp(name, inherited_name))
		return FAILED("an untouched thread is named \"%s\", want \"%s\"", name,
			      inherited_name);
	return 0;
}
