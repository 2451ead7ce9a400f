/* compat: restore */
/*
 * cpuid-fault.c - CPUID faulting is per thread (arch_prctl ARCH_SET_CPUID 0):
 * one thread has cpuid fault, the main thread does not (ARCH_GET_CPUID per
 * thread).  Needs a CPU with CPUID faulting, here and at restore.
 */
#include <sys/syscall.h>

#include "compat.h"
#include "threads.h"

#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012

static struct compat_thread faulting;

static long get_cpuid(void *arg)
{
	(void)arg;
	return syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
}

static long set_faulting(void *arg)
{
	(void)arg;
	return syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) ? -errno : 0;
}

static int setup(void)
{
	long ret;

	if (compat_thread_start(&faulting))
		return -1;
	ret = compat_call(&faulting, set_faulting, NULL);
	if (ret) {
		printf("SKIP: ARCH_SET_CPUID: %s\n", strerror((int)-ret));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got;

	if ((got = get_cpuid(NULL)) != 1)
		return FAILED("the main thread's ARCH_GET_CPUID is %ld, want 1", got);
	if ((got = compat_call(&faulting, get_cpuid, NULL)) != 0)
		return FAILED("the faulting thread's ARCH_GET_CPUID is %ld, want 0", got);
	return 0;
}
