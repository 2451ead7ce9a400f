/* compat: restore */
/*
 * seccomp-filter.c - seccomp filters come back, stacked in their order and
 * shared by the threads that shared them.  Two filters, installed as root
 * without no_new_privs (CAP_SYS_ADMIN allows it): the older makes getppid
 * fail with errno 77 and refuses prctl, the newer (with
 * SECCOMP_FILTER_FLAG_LOG) makes getppid fail with 78 and refuses munmap;
 * the newest filter's errno wins.  A dump must read and a restore must
 * install them although they refuse the prctl and munmap calls thaw itself
 * makes inside the process.  A second thread created afterwards shares
 * them, and a later SECCOMP_FILTER_FLAG_TSYNC (which needs every thread on
 * the caller's filters) still succeeds.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

#define ARCH_CHECK                                                                                 \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),                   \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),                      \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),                               \
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ERRNO_IF(nr, err)                                                                          \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

static struct sock_filter older[] = {
	ARCH_CHECK,
	ERRNO_IF(SYS_getppid, 77),
	ERRNO_IF(SYS_prctl, EPERM),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static struct sock_filter newer[] = {
	ARCH_CHECK,
	ERRNO_IF(SYS_getppid, 78),
	ERRNO_IF(SYS_munmap, EPERM),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };

static pid_t other_tid;
static int ready[2];

static long install(struct sock_filter *prog, size_t n, unsigned int flags)
{
	struct sock_fprog fprog = { (unsigned short)n, prog };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

static void *other(void *arg)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)arg;
	if (write(ready[1], &tid, sizeof(tid)) != sizeof(tid))
		return NULL;
	for (;;)
		pause();
}

static int setup(void)
{
	pthread_t t;

	if (install(older, sizeof(older) / sizeof(older[0]), 0) ||
	    install(newer, sizeof(newer) / sizeof(newer[0]), SECCOMP_FILTER_FLAG_LOG)) {
		perror("installing the filters");
		return -1;
	}
	if (pipe(ready) || pthread_create(&t, NULL, other, NULL) ||
	    read(ready[0], &other_tid, sizeof(other_tid)) != sizeof(other_tid)) {
		perror("starting the second thread");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	long mine, theirs, r;
	char *page;

	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != 78)
		return FAILED("getppid gave errno %d, want 78 (the newer filter's)", errno);
	errno = 0;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != -1 || errno != EPERM)
		return FAILED("prctl was not refused (errno %d)", errno);
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	errno = 0;
	if (page == MAP_FAILED || munmap(page, 4096) != -1 || errno != EPERM)
		return FAILED("munmap was not refused (errno %d)", errno);
	mine = status_number(self, "Seccomp_filters");
	theirs = status_number(other_tid, "Seccomp_filters");
	if (status_number(other_tid, "Seccomp") != 2 || mine < 2 || theirs != mine)
		return FAILED("filters: %ld here, %ld in the second thread", mine, theirs);
	/* every thread must be on this thread's filters: the kernel names one that is not */
	r = install(allow, 1, SECCOMP_FILTER_FLAG_TSYNC);
	if (r)
		return FAILED("a TSYNC install gave %ld (errno %d): the threads do not share filters",
			      r, errno);
	return 0;
}
