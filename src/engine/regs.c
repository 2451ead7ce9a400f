/*
 * regs.c - the CPU: per-thread registers and the host fingerprint.
 *
 * Registers come from PTRACE_GETREGSET (NT_PRSTATUS with fs/gs base, and
 * NT_X86_XSTATE sized from CPUID leaf 0xD, never a constant: AMX makes it
 * 11 KiB).  A thread stopped inside a system call is normalised here so that
 * restore resumes it exactly (research/cr-engine.md §6): restartable calls are
 * rewound to the syscall instruction, relative sleeps continue with the time
 * the kernel says was left, and orig_rax is cleared so that the kernel applies
 * no restart logic of its own after we set the registers.
 */
#define LOG_TAG "regs"
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516


uint32_t regs_xsave_size(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
		return 512 + 64;
	return b;
}

static uint64_t read_xcr0(void)
{
	uint32_t lo, hi;

	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static void vdso_fingerprint(struct image_host *host)
{
	struct proc_map *maps;
	size_t n, i;

	if (proc_read_maps(getpid(), &maps, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		uint64_t len = maps[i].end - maps[i].start;

		if (!strcmp(maps[i].name, "[vvar]"))
			host->vvar_size = len;
		else if (!strcmp(maps[i].name, "[vvar_vclock]"))
			host->vvar_vclock_size = len;
		else if (!strcmp(maps[i].name, "[vdso]")) {
			host->vdso_size = len;
			host->vdso_crc = crc32c((const void *)maps[i].start, len);
		}
	}
	proc_maps_free(maps, n);
}

void host_fingerprint(struct image_host *host)
{
	unsigned int a, b, c, d;
	struct utsname u;

	memset(host, 0, sizeof(*host));
	if (uname(&u) == 0)
		snprintf(host->kernel_release, sizeof(host->kernel_release), "%s", u.release);
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		/* bit 27 of ecx is OSXSAVE and bits 24-31 of ebx vary per CPU: only features */
		host->cpuid[0] = c;
		host->cpuid[1] = d;
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		host->cpuid[2] = b;
		host->cpuid[3] = c;
		host->cpuid[4] = d;
	}
	if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
		host->cpuid[5] = a;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d)) {
		host->cpuid[6] = c;
		host->cpuid[7] = d;
	}
	host->xcr0 = read_xcr0();
	host->xsave_size = regs_xsave_size();
	vdso_fingerprint(host);
}

int host_compare(const struct image_host *snap, const struct image_host *here, char *why,
		 size_t whylen)
{
	static const char *const words[] = { "1.ecx",	"1.edx",   "7.0.ebx",	 "7.0.ecx",
					      "7.0.edx", "7.1.eax", "80000001.ecx", "80000001.edx" };
	int i;

	for (i = 0; i < 8; i++) {
		uint32_t missing = snap->cpuid[i] & ~here->cpuid[i];

		if (missing) {
			snprintf(why, whylen,
				 "this CPU lacks features the snapshot's CPU had (CPUID %s bits 0x%x)",
				 words[i], missing);
			return -ENOTSUP;
		}
	}
	if (snap->xcr0 != here->xcr0 || snap->xsave_size != here->xsave_size) {
		snprintf(why, whylen,
			 "XSAVE layout differs: snapshot xcr0 0x%llx size %u, here xcr0 0x%llx size %u",
			 (unsigned long long)snap->xcr0, snap->xsave_size,
			 (unsigned long long)here->xcr0, here->xsave_size);
		return -ENOTSUP;
	}
	if (snap->vvar_size != here->vvar_size || snap->vvar_vclock_size != here->vvar_vclock_size ||
	    snap->vdso_size != here->vdso_size || snap->vdso_crc != here->vdso_crc) {
		snprintf(why, whylen,
			 "vDSO differs (snapshot from kernel %s, vvar %llu + vclock %llu + vdso %llu bytes; "
			 "here kernel %s, %llu + %llu + %llu bytes%s)",
			 snap->kernel_release, (unsigned long long)snap->vvar_size,
			 (unsigned long long)snap->vvar_vclock_size,
			 (unsigned long long)snap->vdso_size, here->kernel_release,
			 (unsigned long long)here->vvar_size,
			 (unsigned long long)here->vvar_vclock_size,
			 (unsigned long long)here->vdso_size,
			 snap->vdso_crc != here->vdso_crc ? ", other code" : "");
		return -ENOTSUP;
	}
	return 0;
}

/* Decides how a thread frozen inside a system call goes on (see the top). */
static void normalise_syscall(struct image_thread *t)
{
	struct image_regs *r = &t->regs;
	int64_t nr = (int64_t)r->orig_rax;
	int64_t rax = (int64_t)r->rax;

	t->syscall_nr = nr;
	if (nr < 0) {
		t->state = IMAGE_THREAD_RUNNING;
		return;
	}
	switch (-rax) {
	case ERESTARTSYS:
	case ERESTARTNOINTR:
	case ERESTARTNOHAND:
		t->state = IMAGE_THREAD_SYSCALL_RESTART;
		break;
	case ERESTART_RESTARTBLOCK:
		/*
		 * The kernel's restart block is gone after restore.  Relative
		 * sleeps wrote the time left to their rem argument: sleep that.
		 */
		if (nr == SYS_nanosleep && r->rsi)
			r->rdi = r->rsi;
		else if (nr == SYS_clock_nanosleep && r->r10)
			r->rdx = r->r10;
		t->state = IMAGE_THREAD_SYSCALL_RESTART;
		break;
	case EINTR:
		/* a stop makes epoll waits fail with EINTR; they consumed nothing */
		if (nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == 441 /* epoll_pwait2 */) {
			t->state = IMAGE_THREAD_SYSCALL_RESTART;
			break;
		}
		t->state = IMAGE_THREAD_SYSCALL_DONE;
		break;
	default:
		t->state = IMAGE_THREAD_SYSCALL_DONE;
		break;
	}
	if (t->state == IMAGE_THREAD_SYSCALL_RESTART) {
		r->rax = r->orig_rax;
		r->rip -= 2; /* `syscall` is two bytes */
	}
	r->orig_rax = (uint64_t)-1;
}

int signals_peek(pid_t tid, bool shared, unsigned char **ret, size_t *ret_len)
{
	struct {
		uint64_t off;
		uint32_t flags;
		int32_t nr;
	} arg = { 0, shared ? PTRACE_PEEKSIGINFO_SHARED : 0, 32 };
	unsigned char *all = NULL, *grown;
	size_t count = 0;

	for (;;) {
		unsigned char batch[32 * 128];
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &arg, batch);

		if (n < 0) {
			free(all);
			return log_errno("tid %d: PTRACE_PEEKSIGINFO", tid);
		}
		if (n == 0)
			break;
		if (count + (size_t)n > IMAGE_MAX_SIGINFO) {
			log_error("tid %d: more than %d queued signals", tid, IMAGE_MAX_SIGINFO);
			free(all);
			return -E2BIG;
		}
		grown = realloc(all, (count + (size_t)n) * 128);
		if (!grown) {
			free(all);
			return -ENOMEM;
		}
		all = grown;
		memcpy(all + count * 128, batch, (size_t)n * 128);
		count += (size_t)n;
		arg.off += (uint64_t)n;
	}
	*ret = all;
	*ret_len = count * 128;
	return 0;
}

static int dump_pending(pid_t tid, bool shared, struct image *img, struct image_blob *ret)
{
	unsigned char *all = NULL;
	size_t len = 0;
	int ret_code = signals_peek(tid, shared, &all, &len);

	if (ret_code == 0)
		ret_code = image_add_blob(img, all, len, ret);
	free(all);
	return ret_code;
}

static int read_comm(pid_t pid, pid_t tid, char comm[16])
{
	char path[64], *text;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	if (proc_read_file(path, &text, &len) < 0)
		return -ENOENT;
	if (len && text[len - 1] == '\n')
		text[--len] = 0;
	snprintf(comm, 16, "%s", text);
	free(text);
	return 0;
}

static int dump_thread(struct frozen *fz, pid_t tid, struct image *img, struct image_thread *t)
{
	uint32_t xsize = regs_xsave_size();
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	struct rseq_config rseq = { 0 };
	struct proc_status st;
	uint64_t args[6] = { 0 };
	unsigned char scratch[32];
	void *xsave;
	long res;
	int ret;

	ret = proc_read_status(fz->pid, tid, &st);
	if (ret < 0)
		return ret;
	t->tid = st.nspid_n ? st.nspid[st.nspid_n - 1] : tid;
	read_comm(fz->pid, tid, t->comm);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return log_errno("pid %d tid %d: reading registers", fz->pid, tid);
	memcpy(&t->regs, &regs, sizeof(t->regs));
	normalise_syscall(t);

	xsave = calloc(1, xsize);
	if (!xsave)
		return -ENOMEM;
	iov.iov_base = xsave;
	iov.iov_len = xsize;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
		free(xsave);
		return log_errno("pid %d tid %d: reading the xsave state (%u bytes)", fz->pid, tid,
				 xsize);
	}
	ret = image_add_blob(img, xsave, iov.iov_len, &t->xsave);
	free(xsave);
	if (ret < 0)
		return ret;

	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(t->sigmask), &t->sigmask) < 0)
		return log_errno("pid %d tid %d: reading the signal mask", fz->pid, tid);
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(rseq), &rseq) < 0)
		return log_errno("pid %d tid %d: reading the rseq registration", fz->pid, tid);
	t->rseq_abi = rseq.rseq_abi_pointer;
	t->rseq_len = rseq.rseq_abi_size;
	t->rseq_sig = rseq.signature;
	t->rseq_flags = rseq.flags;
	{
		uint64_t head = 0;
		size_t len = 0;

		if (syscall(SYS_get_robust_list, tid, &head, &len) < 0)
			return log_errno("pid %d tid %d: get_robust_list", fz->pid, tid);
		t->robust_list = head;
		t->robust_list_len = len;
	}

	/* the tid address and the alternate stack are visible only from inside */
	memset(scratch, 0, sizeof(scratch));
	args[0] = 40; /* PR_GET_TID_ADDRESS */
	args[1] = INJECT_SCRATCH;
	ret = inject_syscall(fz, tid, SYS_prctl, args, scratch, 8, &res);
	if (ret < 0)
		return ret;
	if (res < 0) {
		log_error("pid %d tid %d: PR_GET_TID_ADDRESS: %s", fz->pid, tid, strerror((int)-res));
		return (int)res;
	}
	memcpy(&t->clear_child_tid, scratch, 8);
	memset(scratch, 0, sizeof(scratch));
	args[0] = 0;
	args[1] = INJECT_SCRATCH;
	ret = inject_syscall(fz, tid, SYS_sigaltstack, args, scratch, sizeof(stack_t), &res);
	if (ret < 0)
		return ret;
	if (res == 0) {
		stack_t ss;

		memcpy(&ss, scratch, sizeof(ss));
		if (!(ss.ss_flags & SS_DISABLE)) {
			t->altstack_sp = (uint64_t)ss.ss_sp;
			t->altstack_size = ss.ss_size;
			t->altstack_flags = (uint32_t)ss.ss_flags;
		}
	}
	return dump_pending(tid, false, img, &t->pending);
}

int threads_dump(struct frozen *fz, struct image *img)
{
	size_t i;
	int ret;

	for (i = 0; i < fz->nr_tids; i++) {
		struct image_thread *t = image_new_thread(img);

		if (!t)
			return -ENOMEM;
		ret = dump_thread(fz, fz->tids[i], img, t);
		if (ret < 0)
			return ret;
	}
	return dump_pending(fz->pid, true, img, &img->proc.pending_shared);
}

int regs_set(pid_t tid, const struct image_thread *t, const void *xsave, size_t xsave_len)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	uint64_t mask = t->sigmask;

	memcpy(&regs, &t->regs, sizeof(regs));
	regs.orig_rax = (unsigned long long)-1;
	if (xsave_len) {
		struct iovec xiov = { (void *)xsave, xsave_len };

		if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &xiov) < 0)
			return log_errno("tid %d: setting the xsave state", t->tid);
	}
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return log_errno("tid %d: setting registers (rip 0x%llx)", t->tid,
				 (unsigned long long)t->regs.rip);
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0)
		return log_errno("tid %d: setting the signal mask", t->tid);
	return 0;
}
