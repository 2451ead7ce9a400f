/* compat: restore */
/*
 * creds-uid.c - ids and supplementary groups come back per thread: the main
 * thread runs as uid 1000/1001/1002 (real/effective/saved) with fsuid 1000,
 * gids 100/101/102 with fsgid 100 and groups 27 100 65534; a second thread
 * changed only its own credentials (raw system calls: glibc's wrappers
 * change every thread's) to uids 2000.., gids 200.. and groups 5 6.  The
 * dumpable flag, which an id change resets to fs.suid_dumpable, was set
 * back to 1 and must stay 1.
 */
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static pid_t other_tid;
static int ready[2];

static int set_ids(const gid_t *groups, size_t n, uid_t u, gid_t g, uid_t fsuid, gid_t fsgid)
{
	if (syscall(SYS_setgroups, n, groups) || syscall(SYS_setresgid, g, g + 1, g + 2) ||
	    syscall(SYS_setresuid, u, u + 1, u + 2))
		return -1;
	syscall(SYS_setfsgid, fsgid);
	syscall(SYS_setfsuid, fsuid);
	return 0;
}

static void *other(void *arg)
{
	static const gid_t groups[] = { 5, 6 };
	char c = set_ids(groups, 2, 2000, 200, 2001, 201) ? 'f' : 'r';

	(void)arg;
	other_tid = (pid_t)syscall(SYS_gettid);
	if (write(ready[1], &c, 1) != 1)
		return NULL;
	for (;;)
		pause();
}

static int setup(void)
{
	static const gid_t groups[] = { 27, 100, 65534 };
	pthread_t t;
	char c = 0;

	if (pipe(ready) || pthread_create(&t, NULL, other, NULL) || read(ready[0], &c, 1) != 1 ||
	    c != 'r') {
		fprintf(stderr, "the second thread could not change its credentials\n");
		return -1;
	}
	if (set_ids(groups, 3, 1000, 100, 1000, 100)) {
		perror("changing the main thread's credentials");
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) {
		perror("PR_SET_DUMPABLE");
		return -1;
	}
	return 0;
}

static int check_thread(pid_t tid, const char *uids, const char *gids, const char *groups,
			char *why, size_t whylen)
{
	static const char *const keys[] = { "Uid", "Gid", "Groups" };
	const char *want[] = { uids, gids, groups };
	char got[512];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (status_line(tid, keys[i], got, sizeof(got)))
			return FAILED("tid %d: no %s line", tid, keys[i]);
		if (strcmp(got, want[i]))
			return FAILED("tid %d: %s is '%s', want '%s'", tid, keys[i], got, want[i]);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

	if (check_thread((pid_t)syscall(SYS_gettid), "1000\t1001\t1002\t1000", "100\t101\t102\t100",
			 "27 100 65534 ", why, whylen) ||
	    check_thread(other_tid, "2000\t2001\t2002\t2001", "200\t201\t202\t201", "5 6 ", why,
			 whylen))
		return 1;
	if (dumpable != 1)
		return FAILED("dumpable is %d, want 1", dumpable);
	return 0;
}
