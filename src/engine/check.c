/*
 * check.c - engine_check(): probe, for real, the kernel features dump and
 * restore need, and print one line per feature.
 *
 * Each probe exercises the feature the way the engine will (a clone3 with
 * set_tid inside a fresh PID namespace, pidfd_getfd on another process's fd,
 * ptrace of a seized child ...) rather than trusting a version number: a
 * container, a seccomp profile or a missing capability removes features that
 * the kernel version promises.  Children are started per probe, die with us
 * (PR_SET_PDEATHSIG) and are killed and reaped by PID before the probe returns.
 */
#define LOG_TAG "check"

#include "engine/engine.h"

#include <cpuid.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/engine-internal.h"
#include "engine/proc.h"


#define CHECK_TID 4242 /* what the set_tid probe asks for */
#define CHILD_TIMEOUT_MS 5000

struct probe {
	const char *name;
	/* Returns true when present; detail says what was seen either way. */
	bool (*run)(char *detail, size_t size);
};

static void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* Waits for pid to exit; kills it after CHILD_TIMEOUT_MS.  0 or -errno. */
static int wait_exit(pid_t pid, int *ret_status)
{
	struct timespec tick = { 0, 1000000 };
	int waited_ms;

	for (waited_ms = 0; waited_ms < CHILD_TIMEOUT_MS; waited_ms++) {
		pid_t r = waitpid(pid, ret_status, WNOHANG | __WALL);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		nanosleep(&tick, NULL);
	}
	kill_and_reap(pid);
	return -ETIMEDOUT;
}

/* A child that sleeps until killed and dies with us. */
static pid_t spawn_idle_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	return pid;
}

/* Seizes pid and stops it with PTRACE_INTERRUPT; -errno on failure. */
static int seize_and_stop(pid_t pid)
{
	int status;

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
		return -errno;
	while (waitpid(pid, &status, __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFSTOPPED(status) || status >> 16 != PTRACE_EVENT_STOP)
		return -ECHILD;
	return 0;
}

/*
 * In the new namespace we are pid 1: clone3 a grandchild with set_tid and let
 * it check its pid.  Exit codes: 0 ok, 1 wrong pid, 2 wait failed, 3 we are
 * not pid 1, 100+errno clone3 failed.
 */
static int pid_ns_init(void)
{
	pid_t tid = CHECK_TID;
	struct clone_args args = {
		.exit_signal = SIGCHLD,
		.set_tid = (uintptr_t)&tid,
		.set_tid_size = 1,
	};
	long child;
	int status;

	if (syscall(SYS_getpid) != 1)
		return 3;
	child = syscall(SYS_clone3, &args, sizeof(args));
	if (child == 0)
		_exit(syscall(SYS_getpid) == CHECK_TID ? 0 : 1);
	if (child < 0)
		return 100 + (errno < 150 ? errno : 150);
	if (waitpid((pid_t)child, &status, 0) != child)
		return 2;
	if (child != CHECK_TID)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

static bool probe_clone3_set_tid(char *detail, size_t size)
{
	struct clone_args args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	long pid;
	int status, r;

	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(pid_ns_init());
	}
	if (pid < 0) {
		snprintf(detail, size, "clone3(CLONE_NEWPID): %s", strerror(errno));
		return false;
	}
	r = wait_exit((pid_t)pid, &status);
	if (r < 0) {
		snprintf(detail, size, "namespace init: %s", strerror(-r));
		return false;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(detail, size, "pid %d in a new PID namespace", CHECK_TID);
		return true;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 100)
		snprintf(detail, size, "clone3(set_tid=%d): %s", CHECK_TID,
			 strerror(WEXITSTATUS(status) - 100));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		snprintf(detail, size, "child did not get pid %d", CHECK_TID);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		snprintf(detail, size, "first process of the new namespace is not pid 1");
	else
		snprintf(detail, size, "namespace init failed (status 0x%x)", status);
	return false;
}

static bool probe_pidfd_getfd(char *detail, size_t size)
{
	struct stat mine, theirs;
	int p[2], pidfd = -1, fd = -1;
	bool ok = false;
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(detail, size, "pipe: %s", strerror(errno));
		return false;
	}
	child = spawn_idle_child();
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		goto out;
	}
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	if (pidfd < 0) {
		snprintf(detail, size, "pidfd_open: %s", strerror(errno));
		goto out;
	}
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, p[1], 0);
	if (fd < 0) {
		snprintf(detail, size, "pidfd_getfd: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &theirs) < 0 || fstat(p[1], &mine) < 0 || mine.st_ino != theirs.st_ino) {
		snprintf(detail, size, "pidfd_getfd returned another file");
		goto out;
	}
	snprintf(detail, size, "took fd %d of pid %d", p[1], (int)child);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (pidfd >= 0)
		close(pidfd);
	kill_and_reap(child);
	close(p[0]);
	close(p[1]);
	return ok;
}

static bool probe_rseq(char *detail, size_t size)
{
	struct rseq_config conf = { 0 };
	bool ok = false;
	pid_t child;
	long r;
	int err;

	child = spawn_idle_child();
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		return false;
	}
	err = seize_and_stop(child);
	if (err < 0) {
		snprintf(detail, size, "PTRACE_SEIZE/INTERRUPT: %s", strerror(-err));
		goto out;
	}
	r = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, child, (void *)sizeof(conf), &conf);
	if (r < 0) {
		snprintf(detail, size, "%s", strerror(errno));
		goto out;
	}
	if (conf.rseq_abi_pointer)
		snprintf(detail, size, "child's rseq at 0x%llx, %u bytes, signature 0x%x",
			 (unsigned long long)conf.rseq_abi_pointer, conf.rseq_abi_size,
			 conf.signature);
	else
		snprintf(detail, size, "works (child has no rseq registered)");
	ok = true;
out:
	kill_and_reap(child);
	return ok;
}

static bool probe_mm_map(char *detail, size_t size)
{
	unsigned int mm_size = 0;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &mm_size, 0, 0) < 0) {
		snprintf(detail, size, "PR_SET_MM_MAP_SIZE: %s", strerror(errno));
		return false;
	}
	if (mm_size != sizeof(struct prctl_mm_map)) {
		snprintf(detail, size, "kernel struct is %u bytes, ours %zu", mm_size,
			 sizeof(struct prctl_mm_map));
		return false;
	}
	snprintf(detail, size, "struct prctl_mm_map of %u bytes", mm_size);
	return true;
}

static int open_userfaultfd(const char **how)
{
	int fd, dev;

	*how = "userfaultfd()";
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	/* vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE: the device still works. */
	*how = "/dev/userfaultfd";
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	close(dev);
	return fd;
}

static bool probe_userfaultfd(char *detail, size_t size)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	const char *how;
	int fd;

	fd = open_userfaultfd(&how);
	if (fd < 0) {
		snprintf(detail, size, "userfaultfd and /dev/userfaultfd: %s", strerror(errno));
		return false;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		snprintf(detail, size, "%s: UFFDIO_API: %s", how, strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	snprintf(detail, size, "%s, features 0x%llx, ioctls 0x%llx", how,
		 (unsigned long long)api.features, (unsigned long long)api.ioctls);
	return true;
}

static bool probe_vdso(char *detail, size_t size)
{
	const struct proc_map *vvar, *vclock, *vdso;
	struct proc_map *maps;
	uint64_t data_end;
	size_t n;
	bool ok = false;

	if (proc_read_maps(getpid(), &maps, &n) < 0) {
		snprintf(detail, size, "cannot parse /proc/self/maps");
		return false;
	}
	vvar = proc_maps_find(maps, n, "[vvar]");
	vclock = proc_maps_find(maps, n, "[vvar_vclock]");
	vdso = proc_maps_find(maps, n, "[vdso]");
	if (!vvar || !vdso) {
		snprintf(detail, size, "no %s mapping", vvar ? "[vdso]" : "[vvar]");
		goto out;
	}
	/* Since 6.13: [vvar][vvar_vclock][vdso], each right after the other. */
	data_end = vvar->end;
	if (vclock) {
		if (vclock->start != vvar->end) {
			snprintf(detail, size, "[vvar_vclock] does not follow [vvar]");
			goto out;
		}
		data_end = vclock->end;
	}
	if (vdso->start != data_end) {
		snprintf(detail, size, "[vdso] does not follow [vvar%s]", vclock ? "_vclock" : "");
		goto out;
	}
	snprintf(detail, size, "vvar %llu KiB, vvar_vclock %llu KiB, vdso %llu KiB",
		 (unsigned long long)(vvar->end - vvar->start) >> 10,
		 vclock ? (unsigned long long)(vclock->end - vclock->start) >> 10 : 0ull,
		 (unsigned long long)(vdso->end - vdso->start) >> 10);
	ok = true;
out:
	proc_maps_free(maps, n);
	return ok;
}

static bool probe_xstate(char *detail, size_t size)
{
	unsigned int eax, ebx, ecx, edx;
	struct iovec iov;
	bool ok = false;
	void *buf;
	pid_t child;
	int err;

	if (!__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx) || ebx < 576) {
		snprintf(detail, size, "no XSAVE (CPUID 0xD)");
		return false;
	}
	buf = calloc(1, ebx);
	if (!buf) {
		snprintf(detail, size, "out of memory");
		return false;
	}
	child = spawn_idle_child();
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		goto out;
	}
	err = seize_and_stop(child);
	if (err < 0) {
		snprintf(detail, size, "PTRACE_SEIZE/INTERRUPT: %s", strerror(-err));
		goto out;
	}
	iov.iov_base = buf;
	iov.iov_len = ebx;
	if (ptrace(PTRACE_GETREGSET, child, (void *)NT_X86_XSTATE, &iov) < 0) {
		snprintf(detail, size, "PTRACE_GETREGSET NT_X86_XSTATE: %s", strerror(errno));
		goto out;
	}
	if (iov.iov_len == ebx)
		snprintf(detail, size, "xsave %u bytes", ebx);
	else
		snprintf(detail, size, "xsave %u bytes by CPUID, kernel gave %zu", ebx,
			 iov.iov_len);
	ok = true;
out:
	kill_and_reap(child);
	free(buf);
	return ok;
}

static bool probe_map_files(char *detail, size_t size)
{
	char dir_path[64], path[320], target[512];
	size_t entries = 0;
	bool ok = false;
	struct dirent *de;
	DIR *dir = NULL;
	pid_t child;
	ssize_t len;
	int fd;

	child = spawn_idle_child();
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		return false;
	}
	snprintf(dir_path, sizeof(dir_path), "/proc/%d/map_files", (int)child);
	dir = opendir(dir_path);
	if (!dir) {
		snprintf(detail, size, "%s: %s", dir_path, strerror(errno));
		goto out;
	}
	snprintf(detail, size, "%s has no entries", dir_path);
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		entries++;
		if (ok)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0) {
			snprintf(detail, size, "readlink %s: %s", path, strerror(errno));
			break;
		}
		target[len] = '\0';
		/* Opening needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(detail, size, "open %s: %s", path, strerror(errno));
			break;
		}
		close(fd);
		ok = true;
	}
	if (ok)
		snprintf(detail, size, "%zu entries, links readable and openable", entries);
out:
	if (dir)
		closedir(dir);
	kill_and_reap(child);
	return ok;
}

static volatile uint64_t vm_read_marker;

static bool probe_process_vm_rw(char *detail, size_t size)
{
	uint64_t sent = 0x7468617763686b00ull ^ (uint64_t)getpid(), got = 0;
	struct iovec local = { &got, sizeof(got) };
	struct iovec remote = { (void *)&vm_read_marker, sizeof(got) };
	bool ok = false;
	pid_t child;
	ssize_t n;

	vm_read_marker = sent;
	child = spawn_idle_child();
	vm_read_marker = 0; /* the child keeps its copy */
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		return false;
	}
	n = process_vm_readv(child, &local, 1, &remote, 1, 0);
	if (n < 0) {
		snprintf(detail, size, "reading: %s", strerror(errno));
		goto out;
	}
	if (n != (ssize_t)sizeof(got) || got != sent) {
		snprintf(detail, size, "read wrong bytes from the child");
		goto out;
	}
	/* a restore from the store writes the pages this way (engine_page_source) */
	got = ~sent;
	n = process_vm_writev(child, &local, 1, &remote, 1, 0);
	if (n < 0) {
		snprintf(detail, size, "writing: %s", strerror(errno));
		goto out;
	}
	got = 0;
	if (process_vm_readv(child, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(got) ||
	    got != ~sent) {
		snprintf(detail, size, "wrote wrong bytes into the child");
		goto out;
	}
	snprintf(detail, size, "read and wrote the child's memory");
	ok = true;
out:
	kill_and_reap(child);
	return ok;
}

static bool probe_memfd(char *detail, size_t size)
{
	struct stat st;
	int fd;

	fd = memfd_create("thaw-check", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		snprintf(detail, size, "%s", strerror(errno));
		return false;
	}
	if (ftruncate(fd, 4096) < 0 || fstat(fd, &st) < 0 || st.st_size != 4096) {
		snprintf(detail, size, "memfd cannot be sized");
		close(fd);
		return false;
	}
	close(fd);
	snprintf(detail, size, "works");
	return true;
}

static bool probe_kcmp(char *detail, size_t size)
{
	bool ok = false;
	pid_t child;
	int p[2];
	long same, differ;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(detail, size, "pipe: %s", strerror(errno));
		return false;
	}
	child = spawn_idle_child();
	if (child < 0) {
		snprintf(detail, size, "fork: %s", strerror(errno));
		goto out;
	}
	same = syscall(SYS_kcmp, getpid(), child, KCMP_FILE, p[1], p[1]);
	differ = syscall(SYS_kcmp, getpid(), child, KCMP_FILE, p[0], p[1]);
	if (same < 0)
		snprintf(detail, size, "%s", strerror(errno));
	else if (same != 0 || differ == 0)
		snprintf(detail, size, "KCMP_FILE gave wrong answers");
	else {
		snprintf(detail, size, "KCMP_FILE works across processes");
		ok = true;
	}
	kill_and_reap(child);
out:
	close(p[0]);
	close(p[1]);
	return ok;
}

/*
 * Dumping and restoring a process under seccomp filters: reading a filter
 * back, and letting thaw's own injected calls past it.  Both need
 * CAP_SYS_ADMIN and a thaw that is not under seccomp itself.
 */
static bool probe_seccomp(char *detail, size_t size)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), got = { 0 };
	bool ok = false;
	pid_t child;
	int p[2], err;
	long n;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(detail, size, "pipe: %s", strerror(errno));
		return false;
	}
	child = fork();
	if (child == 0) {
		struct sock_fprog prog = { 1, &allow };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) || write(p[1], "s", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (child < 0 || read(p[0], &c, 1) != 1) {
		snprintf(detail, size, "a child could not install a filter");
		goto out;
	}
	err = seize_and_stop(child);
	if (err < 0) {
		snprintf(detail, size, "PTRACE_SEIZE/INTERRUPT: %s", strerror(-err));
		goto out;
	}
	if (ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)(long)PTRACE_O_SUSPEND_SECCOMP) < 0) {
		snprintf(detail, size, "PTRACE_O_SUSPEND_SECCOMP: %s", strerror(errno));
		goto out;
	}
	n = ptrace(PTRACE_SECCOMP_GET_FILTER, child, NULL, &got);
	if (n != 1 || got.code != allow.code || got.k != allow.k) {
		snprintf(detail, size, "PTRACE_SECCOMP_GET_FILTER: %s",
			 n < 0 ? strerror(errno) : "gave another filter");
		goto out;
	}
	snprintf(detail, size, "a filter read back, and suspended for injected calls");
	ok = true;
out:
	close(p[0]);
	kill_and_reap(child);
	return ok;
}

static const struct probe probes[] = {
	{ "clone3 set_tid in a PID ns", probe_clone3_set_tid },
	{ "pidfd_open + pidfd_getfd", probe_pidfd_getfd },
	{ "PTRACE_GET_RSEQ_CONFIGURATION", probe_rseq },
	{ "PR_SET_MM_MAP", probe_mm_map },
	{ "userfaultfd", probe_userfaultfd },
	{ "vDSO layout", probe_vdso },
	{ "ptrace NT_X86_XSTATE", probe_xstate },
	{ "/proc/PID/map_files", probe_map_files },
	{ "process_vm_readv/writev", probe_process_vm_rw },
	{ "memfd_create", probe_memfd },
	{ "kcmp", probe_kcmp },
	{ "seccomp filter dump/restore", probe_seccomp },
};

int engine_check(FILE *out)
{
	size_t i, missing = 0;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char detail[256] = "";
		bool ok = probes[i].run(detail, sizeof(detail));

		if (!ok)
			missing++;
		fprintf(out, "%-30s %-7s %s\n", probes[i].name, ok ? "ok" : "MISSING", detail);
		fflush(out);
	}
	log_debug("%zu of %zu features missing", missing,
		  sizeof(probes) / sizeof(probes[0]));
	return missing ? -ENOSYS : 0;
}
