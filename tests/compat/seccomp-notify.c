/* compat: refuse SECCOMP_RET_USER_NOTIF */
/*
 * seccomp-notify.c - a filter that hands a system call to a user-space
 * supervisor (SECCOMP_RET_USER_NOTIF) needs its listener, which thaw cannot
 * bring back: the dump refuses it, naming the filter.  (Here the listener is
 * closed at once, so getppid fails with ENOSYS.)
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static struct sock_filter prog[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int setup(void)
{
	struct sock_fprog fprog = { sizeof(prog) / sizeof(prog[0]), prog };
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			  &fprog);

	if (fd < 0) {
		perror("installing the filter");
		return -1;
	}
	close((int)fd);
	return 0;
}

static int check(char *why, size_t whylen)
{
	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != ENOSYS)
		return FAILED("getppid gave errno %d, want ENOSYS (no listener)", errno);
	return 0;
}
