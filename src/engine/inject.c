/*
 * inject.c - run a system call inside a stopped thread.
 *
 * Some state the kernel shows only to the process itself (sigactions, the
 * tid address, sigaltstack, itimers, the exact brk).  We borrow a stopped
 * thread: point its rip at a `syscall` instruction that already exists in
 * the process (the vDSO has one for its fallbacks, so no code is written),
 * put the arguments in registers and step over the call with PTRACE_SYSCALL
 * (entry stop, exit stop).  Then the saved registers go back and the thread
 * is parked in an interrupt stop again, so that the kernel's syscall-restart
 * decision for the call it was really in still happens when it is let go.
 * Meanwhile every signal is blocked (inject_syscall()).
 */
#define LOG_TAG "inject"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

#define SYSCALL_STOP (SIGTRAP | 0x80)
#define INJECT_TIMEOUT_MS 10000

static int find_in_mapping(pid_t pid, const struct proc_map *m, uint64_t *ret)
{
	char path[64];
	size_t len = (size_t)(m->end - m->start), i;
	unsigned char *buf;
	ssize_t n;
	int fd;

	if (len > (64u << 20))
		len = 64u << 20;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(len);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, buf, len, (off_t)m->start);
	close(fd);
	for (i = 0; n > 1 && i + 1 < (size_t)n; i++) {
		if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
			*ret = m->start + i;
			free(buf);
			return 0;
		}
	}
	free(buf);
	return -ENOENT;
}

/* Finds a `syscall` instruction: first in the vDSO, then any executable mapping. */
static int find_syscall_insn(struct frozen *fz)
{
	struct proc_map *maps;
	size_t n, i;
	int ret;

	ret = proc_read_maps(fz->pid, &maps, &n);
	if (ret < 0)
		return ret;
	ret = -ENOENT;
	for (i = 0; i < n && ret < 0; i++)
		if (!strcmp(maps[i].name, "[vdso]"))
			ret = find_in_mapping(fz->pid, &maps[i], &fz->syscall_insn);
	for (i = 0; i < n && ret < 0; i++)
		if ((maps[i].prot & PROT_EXEC) && strcmp(maps[i].name, "[vsyscall]"))
			ret = find_in_mapping(fz->pid, &maps[i], &fz->syscall_insn);
	proc_maps_free(maps, n);
	if (ret < 0)
		log_error("pid %d: found no syscall instruction to borrow", fz->pid);
	return ret;
}

/*
 * Resumes the thread with `request` and waits for the next ptrace stop.
 * A signal that arrives meanwhile is held back and handed to *held.
 */
static int step(pid_t tid, int request, int want, int *held)
{
	int status, ret;

	if (ptrace(request, tid, NULL, NULL) < 0)
		return -errno;
	for (;;) {
		/* the borrowed call never blocks: a thread that does not come back is stuck */
		ret = wait_tracee(tid, &status, INJECT_TIMEOUT_MS);
		if (ret < 0)
			return ret;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (!WIFSTOPPED(status))
			continue;
		if (want == PTRACE_EVENT_STOP && (status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		if (want == SYSCALL_STOP && WSTOPSIG(status) == SYSCALL_STOP)
			return 0;
		if ((status >> 16) == 0 && WSTOPSIG(status) != SYSCALL_STOP)
			*held = WSTOPSIG(status);
		if (ptrace(request, tid, NULL, NULL) < 0)
			return -errno;
	}
}

/*
 * A thread that did not come back from our call in time still runs it: it
 * is stopped again, so that its registers can be put back before it runs
 * on with ours.  0, or -errno with errno set.
 */
static int stop_again(pid_t tid)
{
	int status, ret;

	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return -errno;
	for (;;) {
		ret = wait_tracee(tid, &status, INJECT_TIMEOUT_MS);
		if (ret == 0 && (WIFEXITED(status) || WIFSIGNALED(status)))
			ret = -ESRCH;
		if (ret < 0) {
			errno = -ret;
			return ret;
		}
		if (WIFSTOPPED(status))
			return 0;
	}
}

static int copy_scratch(pid_t tid, uint64_t addr, void *buf, size_t len, bool to_target)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n;

	if (to_target)
		n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
	else
		n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

/*
 * Runs calls[0..n) one after the other in the stopped thread tid, with one
 * scratch area for all of them, and puts everything back once.
 */
static int borrow(struct frozen *fz, pid_t tid, struct inject_call *calls, size_t n,
		  void *scratch, size_t scratch_len)
{
	struct user_regs_struct saved, regs;
	uint64_t scratch_addr = 0, a[6];
	unsigned char kept[INJECT_SCRATCH_MAX];
	int held = 0, ret = 0, i;
	size_t k;

	if (!fz->syscall_insn) {
		ret = find_syscall_insn(fz);
		if (ret < 0)
			return ret;
	}
	if (ptrace(PTRACE_GETREGS, tid, NULL, &saved) < 0)
		return log_errno("pid %d tid %d: PTRACE_GETREGS", fz->pid, tid);
	if (scratch) {
		if (scratch_len > sizeof(kept))
			return -EINVAL;
		/*
		 * Below the red zone, where a signal frame could land anyway; if
		 * the stack has not grown that far, on the live stack itself.
		 * Either way the bytes there are put back afterwards.
		 */
		scratch_addr = (saved.rsp - 128 - scratch_len) & ~(uint64_t)63;
		ret = copy_scratch(tid, scratch_addr, kept, scratch_len, false);
		if (ret < 0) {
			scratch_addr = saved.rsp & ~(uint64_t)7;
			ret = copy_scratch(tid, scratch_addr, kept, scratch_len, false);
		}
		if (ret == 0)
			ret = copy_scratch(tid, scratch_addr, scratch, scratch_len, true);
		if (ret < 0) {
			log_error("pid %d tid %d: cannot write scratch space at 0x%llx", fz->pid,
				  tid, (unsigned long long)scratch_addr);
			return ret;
		}
	}
	for (k = 0; ret == 0 && k < n; k++) {
		for (i = 0; i < 6; i++)
			a[i] = scratch && calls[k].args[i] - INJECT_SCRATCH < scratch_len
				       ? scratch_addr + (calls[k].args[i] - INJECT_SCRATCH)
				       : calls[k].args[i];
		regs = saved;
		regs.rip = fz->syscall_insn;
		regs.rax = (uint64_t)calls[k].nr;
		regs.orig_rax = (uint64_t)-1; /* no restart logic for our borrowed call */
		regs.rdi = a[0];
		regs.rsi = a[1];
		regs.rdx = a[2];
		regs.r10 = a[3];
		regs.r8 = a[4];
		regs.r9 = a[5];
		if (ptrace(PTRACE_SETREGS, tid, NULL, &regs) < 0) {
			ret = log_errno("pid %d tid %d: PTRACE_SETREGS", fz->pid, tid);
			goto put_back;
		}
		/* the narrowest moment of a dump: the thread runs our call, not its own code */
		fault_point("inject");
		ret = step(tid, PTRACE_SYSCALL, SYSCALL_STOP, &held);
		if (ret == 0)
			ret = step(tid, PTRACE_SYSCALL, SYSCALL_STOP, &held);
		if (ret == 0 && ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0)
			ret = -errno;
		if (ret < 0) {
			log_error("pid %d tid %d: injected syscall %ld failed to run: %s", fz->pid,
				  tid, calls[k].nr, strerror(-ret));
			goto put_back;
		}
		calls[k].result = (long)regs.rax;
	}
	if (scratch)
		ret = copy_scratch(tid, scratch_addr, scratch, scratch_len, false);
put_back:
	/*
	 * On every path: the thread must get back exactly what it had, or it
	 * would run on with our registers (and die) once it is let go.
	 */
	if (scratch && copy_scratch(tid, scratch_addr, kept, scratch_len, true) < 0) {
		/* its memory is not what it was: no snapshot of it may be taken */
		log_error("pid %d tid %d: could not put back %zu bytes at 0x%llx", fz->pid, tid,
			  scratch_len, (unsigned long long)scratch_addr);
		if (ret == 0)
			ret = -EIO;
	}
	if (ptrace(PTRACE_SETREGS, tid, NULL, &saved) < 0 &&
	    (errno != ESRCH || stop_again(tid) < 0 ||
	     ptrace(PTRACE_SETREGS, tid, NULL, &saved) < 0))
		return log_errno("pid %d tid %d: putting registers back", fz->pid, tid);
	/* park it in an interrupt stop again (see the top of this file) */
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return log_errno("pid %d tid %d: PTRACE_INTERRUPT", fz->pid, tid);
	i = step(tid, PTRACE_CONT, PTRACE_EVENT_STOP, &held);
	if (i < 0)
		return log_errno("pid %d tid %d: re-stopping after injection", fz->pid, tid);
	if (held) {
		log_debug("pid %d tid %d: signal %d arrived during the dump; sent again", fz->pid,
			  tid, held);
		syscall(SYS_tgkill, fz->pid, tid, held);
	}
	return ret;
}

/*
 * Every signal is blocked while the thread runs the borrowed call: one the
 * thread has pending (queued at a restore, or arriving meanwhile) must not
 * be delivered, or taken out of its queue and sent again with another
 * siginfo, by the steps of an inspection.
 */
int inject_syscalls(struct frozen *fz, pid_t tid, struct inject_call *calls, size_t n,
		    void *scratch, size_t scratch_len)
{
	uint64_t mask, all = ~0ull;
	int ret;

	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0 ||
	    ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(all), &all) < 0)
		return log_errno("pid %d tid %d: blocking signals for an injected call", fz->pid,
				 tid);
	ret = borrow(fz, tid, calls, n, scratch, scratch_len);
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0 && ret == 0)
		ret = log_errno("pid %d tid %d: putting the signal mask back", fz->pid, tid);
	return ret;
}

int inject_syscall(struct frozen *fz, pid_t tid, long nr, const uint64_t args[6], void *scratch,
		   size_t scratch_len, long *ret_result)
{
	struct inject_call call = { .nr = nr };
	int ret;

	memcpy(call.args, args, sizeof(call.args));
	ret = inject_syscalls(fz, tid, &call, 1, scratch, scratch_len);
	if (ret == 0)
		*ret_result = call.result;
	return ret;
}
