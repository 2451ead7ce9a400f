/* compat: restore */
/*
 * mempolicy.c - NUMA memory policies are per thread (set_mempolicy(2)): the
 * main thread prefers node 0, one thread is bound to node 0 with
 * MPOL_F_STATIC_NODES, one interleaves, one keeps the default
 * (get_mempolicy per thread).
 */
#include <sys/syscall.h>

#include "compat.h"
#include "threads.h"

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_F_STATIC_NODES (1 << 15)

static struct compat_thread bound, interleaved, untouched;

static long set_policy(void *arg)
{
	unsigned long node0 = 1;

	return syscall(SYS_set_mempolicy, (long)arg, &node0, 2) ? -errno : 0;
}

/* mode * 16 + the nodemask's first word (node 0 only here) */
static long get_policy(void *arg)
{
	unsigned long nodes[16] = { 0 };
	int mode = -1;

	(void)arg;
	if (syscall(SYS_get_mempolicy, &mode, nodes, 1024, NULL, 0))
		return -errno;
	return (long)mode * 16 + (long)nodes[0];
}

static int setup(void)
{
	long ret;

	if (compat_thread_start(&bound) || compat_thread_start(&interleaved) ||
	    compat_thread_start(&untouched))
		return -1;
	ret = set_policy((void *)MPOL_PREFERRED);
	if (!ret)
		ret = compat_call(&bound, set_policy, (void *)(MPOL_BIND | MPOL_F_STATIC_NODES));
	if (!ret)
		ret = compat_call(&interleaved, set_policy, (void *)MPOL_INTERLEAVE);
	if (ret) {
		printf("SKIP: set_mempolicy: %s\n", strerror((int)-ret));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	static const struct {
		const char *name;
		struct compat_thread *t;
		long want;
	} threads[] = {
		{ "the main thread", NULL, MPOL_PREFERRED * 16 + 1 },
		{ "the bound thread", &bound, (MPOL_BIND | MPOL_F_STATIC_NODES) * 16L + 1 },
		{ "the interleaving thread", &interleaved, MPOL_INTERLEAVE * 16 + 1 },
		{ "the untouched thread", &untouched, MPOL_DEFAULT * 16 },
	};
	size_t i;
	long got;

	for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
		got = threads[i].t ? compat_call(threads[i].t, get_policy, NULL) : get_policy(NULL);
		if (got != threads[i].want)
			return FAILED("%s: mode*16+nodes is 0x%lx, want 0x%lx", threads[i].name, got,
				      threads[i].want);
	}
	return 0;
}
