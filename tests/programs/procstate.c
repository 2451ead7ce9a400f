/*
 * procstate.c - a program that sets every bit of per-process state thaw must
 * bring back, and checks it when asked (SIGUSR1).
 *
 *   procstate WORKDIR [ARGS...]
 *
 * It becomes a session leader, moves to WORKDIR, sets umask 027, a
 * personality (UNAME26), rlimits, its comm, signal handlers with SA_RESTART /
 * SA_SIGINFO / SA_RESETHAND / sa_mask, SIG_IGN and SA_NOCLDSTOP flags, a
 * repeating ITIMER_REAL, and queues blocked signals (one standard, two
 * real-time with values) to itself; it records its cmdline, environ, auxv and
 * exe.  After SIGUSR1 (whose SA_SIGINFO handler proves delivery) it compares
 * all of it, delivers signals to check the handlers really work, and prints
 * PASS or FAIL lines, exiting 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PERSONA (PER_LINUX | UNAME26)

extern char **environ;

static char outbuf[1 << 14];
static int failures;

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		failures++;                                                                        \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAILF(__VA_ARGS__);                                                        \
	} while (0)

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

struct blob {
	char data[65536];
	ssize_t len;
};

static ssize_t read_all(const char *path, char *buf, size_t cap)
{
	ssize_t n, len = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((size_t)len < cap && (n = read(fd, buf + len, cap - (size_t)len)) > 0)
		len += n;
	close(fd);
	return len;
}

static struct blob cmdline, environ_file, auxv;
static char exe[4096], workdir[4096], **env_copy;
static int env_count;
static pid_t my_pid;
static struct sigaction acts[NSIG];
static struct rlimit limits[RLIM_NLIMITS];

static volatile sig_atomic_t got_usr1, usr1_signo, usr1_code;
static volatile sig_atomic_t alarms, hups, hup_mask_ok, ints, usr2s;

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	usr1_signo = si->si_signo;
	usr1_code = si->si_code;
	got_usr1 = sig == SIGUSR1;
}

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (sig == SIGUSR2 && si->si_signo == SIGUSR2)
		usr2s++;
}

static void on_alrm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_hup(int sig)
{
	sigset_t now;

	(void)sig;
	sigprocmask(SIG_BLOCK, NULL, &now);
	hup_mask_ok = sigismember(&now, SIGTERM) && sigismember(&now, SIGPIPE) &&
		      sigismember(&now, SIGHUP);
	hups++;
}

static void on_int(int sig)
{
	(void)sig;
	ints++;
}

static void set_action(int sig, void *handler, int flags, int mask1, int mask2)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = handler;
	else
		sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (mask1)
		sigaddset(&sa.sa_mask, mask1);
	if (mask2)
		sigaddset(&sa.sa_mask, mask2);
	if (sigaction(sig, &sa, NULL))
		die("sigaction");
}

static void setup(void)
{
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
	struct rlimit rl;
	union sigval v;
	sigset_t block;
	int i, sig;

	my_pid = getpid();
	if (setsid() < 0)
		die("setsid");
	if (chdir(workdir) || !getcwd(workdir, sizeof(workdir)))
		die("chdir");
	umask(027);
	if (personality(PERSONA) < 0)
		die("personality");
	if (prctl(PR_SET_NAME, "thaw-procstate"))
		die("PR_SET_NAME");

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max < 200 ? rl.rlim_max : 200;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit NOFILE");
	if (getrlimit(RLIMIT_CORE, &rl))
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	if (setrlimit(RLIMIT_CORE, &rl))
		die("setrlimit CORE");
	for (i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &limits[i]);

	set_action(SIGUSR1, on_usr1, SA_SIGINFO | SA_RESTART, 0, 0);
	set_action(SIGUSR2, on_usr2, SA_SIGINFO | SA_RESTART, SIGINT, SIGQUIT);
	set_action(SIGHUP, on_hup, 0, SIGTERM, SIGPIPE);
	set_action(SIGINT, on_int, SA_RESETHAND | SA_RESTART, 0, 0);
	set_action(SIGALRM, on_alrm, SA_RESTART, 0, 0);
	set_action(SIGPIPE, SIG_IGN, 0, 0, 0);
	set_action(SIGCHLD, SIG_DFL, SA_NOCLDSTOP, 0, 0);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, NULL, &acts[sig]);

	if (setitimer(ITIMER_REAL, &it, NULL))
		die("setitimer");

	/* blocked signals queued to the process: they must still be pending */
	sigemptyset(&block);
	sigaddset(&block, SIGWINCH);
	sigaddset(&block, SIGRTMIN + 3);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGWINCH);
	v.sival_int = 4242;
	sigqueue(getpid(), SIGRTMIN + 3, v);
	v.sival_int = 4343;
	sigqueue(getpid(), SIGRTMIN + 3, v);

	cmdline.len = read_all("/proc/self/cmdline", cmdline.data, sizeof(cmdline.data));
	environ_file.len = read_all("/proc/self/environ", environ_file.data,
				    sizeof(environ_file.data));
	auxv.len = read_all("/proc/self/auxv", auxv.data, sizeof(auxv.data));
	if (cmdline.len <= 0 || environ_file.len < 0 || auxv.len <= 0)
		die("/proc/self");
	if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) < 0)
		die("readlink exe");
	for (env_count = 0; environ[env_count]; env_count++)
		;
	env_copy = calloc((size_t)env_count + 1, sizeof(char *));
	for (i = 0; env_copy && i < env_count; i++)
		env_copy[i] = strdup(environ[i]);
}

static void check_blob(const char *path, const struct blob *before)
{
	static struct blob now;
	ssize_t i;

	now.len = read_all(path, now.data, sizeof(now.data));
	if (now.len == before->len && !memcmp(now.data, before->data, (size_t)now.len))
		return;
	for (i = 0; i < now.len && i < before->len && now.data[i] == before->data[i]; i++)
		;
	FAILF("%s changed: %zd bytes, were %zd; first difference at byte %zd", path, now.len,
	      before->len, i);
}

static void check_auxv(void)
{
	static struct blob now;
	unsigned long *a, *b;
	ssize_t i;

	CHECK(getauxval(AT_PAGESZ) == 4096, "getauxval(AT_PAGESZ) is %lu", getauxval(AT_PAGESZ));
	now.len = read_all("/proc/self/auxv", now.data, sizeof(now.data));
	a = (unsigned long *)now.data;
	b = (unsigned long *)auxv.data;
	for (i = 0; i + 1 < auxv.len / (ssize_t)sizeof(long); i += 2)
		if (i + 1 >= now.len / (ssize_t)sizeof(long) || a[i] != b[i] || a[i + 1] != b[i + 1]) {
			FAILF("auxv entry %zd (type %lu) is %#lx, was %#lx", i / 2, b[i],
			      i + 1 < now.len / (ssize_t)sizeof(long) ? a[i + 1] : 0, b[i + 1]);
			break;
		}
}

static void check_signals(void)
{
	struct sigaction now;
	struct itimerval it;
	struct timespec ts = { 0, 400000000 }, zero = { 0, 0 };
	sigset_t pend, set;
	siginfo_t si;
	int sig, before, s;

	CHECK(usr1_signo == SIGUSR1 && usr1_code == SI_USER,
	      "SIGUSR1 handler saw signo %d code %d", (int)usr1_signo, (int)usr1_code);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &now))
			continue;
		if (now.sa_handler != acts[sig].sa_handler || now.sa_flags != acts[sig].sa_flags) {
			FAILF("sigaction %d: handler %p flags %#x, were %p %#x", sig,
			      (void *)now.sa_handler, now.sa_flags, (void *)acts[sig].sa_handler,
			      acts[sig].sa_flags);
			continue;
		}
		for (s = 1; s < NSIG; s++)
			if (sigismember(&now.sa_mask, s) != sigismember(&acts[sig].sa_mask, s)) {
				FAILF("sigaction %d: sa_mask differs at signal %d", sig, s);
				break;
			}
	}

	/* pending, queued while blocked, with their values */
	sigpending(&pend);
	CHECK(sigismember(&pend, SIGWINCH), "blocked SIGWINCH no longer pending");
	CHECK(sigismember(&pend, SIGRTMIN + 3), "blocked SIGRTMIN+3 no longer pending");
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 3);
	sig = sigtimedwait(&set, &si, &zero);
	CHECK(sig == SIGRTMIN + 3 && si.si_code == SI_QUEUE && si.si_value.sival_int == 4242,
	      "first queued SIGRTMIN+3: got %d code %d value %d", sig, si.si_code,
	      si.si_value.sival_int);
	sig = sigtimedwait(&set, &si, &zero);
	CHECK(sig == SIGRTMIN + 3 && si.si_value.sival_int == 4343,
	      "second queued SIGRTMIN+3: got %d value %d", sig, si.si_value.sival_int);
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sig = sigtimedwait(&set, &si, &zero);
	CHECK(sig == SIGWINCH && si.si_code == SI_USER && si.si_pid == my_pid,
	      "pending SIGWINCH: got %d code %d pid %d", sig, si.si_code, si.si_pid);

	/* handlers really run, with their masks and flags */
	raise(SIGHUP);
	CHECK(hups == 1 && hup_mask_ok, "SIGHUP handler: ran %d times, sa_mask applied %d",
	      (int)hups, (int)hup_mask_ok);
	raise(SIGUSR2);
	CHECK(usr2s == 1, "SIGUSR2 SA_SIGINFO handler ran %d times", (int)usr2s);
	raise(SIGINT);
	CHECK(ints == 1, "SIGINT handler ran %d times", (int)ints);
	sigaction(SIGINT, NULL, &now);
	CHECK(now.sa_handler == SIG_DFL, "SA_RESETHAND did not reset the SIGINT handler");

	/* the interval timer keeps firing */
	CHECK(!getitimer(ITIMER_REAL, &it) && it.it_interval.tv_sec == 0 &&
		      it.it_interval.tv_usec == 50000,
	      "ITIMER_REAL interval is %ld.%06ld", (long)it.it_interval.tv_sec,
	      (long)it.it_interval.tv_usec);
	before = alarms;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	CHECK(alarms >= before + 3, "ITIMER_REAL fired %d times in 400 ms", alarms - before);
}

static void check_process(int argc, char **argv)
{
	char buf[4096], status[8192], *p;
	struct rlimit rl;
	struct utsname u;
	mode_t old;
	int i;

	CHECK(getpid() == my_pid, "getpid() is %d, was %d", getpid(), my_pid);
	CHECK(getsid(0) == my_pid && getpgrp() == my_pid, "session %d group %d, want %d",
	      getsid(0), getpgrp(), my_pid);
	CHECK(getcwd(buf, sizeof(buf)) && !strcmp(buf, workdir), "cwd is %s, was %s", buf,
	      workdir);
	old = umask(0);
	umask(old);
	CHECK(old == 027, "umask is %03o", (unsigned)old);
	if (read_all("/proc/self/status", status, sizeof(status) - 1) > 0) {
		status[sizeof(status) - 1] = 0;
		p = strstr(status, "Umask:");
		CHECK(p && !strncmp(p, "Umask:\t0027", 11), "/proc/self/status Umask wrong");
	}
	i = personality(0xffffffff);
	CHECK(i == PERSONA, "personality is %#x, was %#x", i, PERSONA);
	CHECK(!uname(&u) && !strncmp(u.release, "2.6", 3), "UNAME26 not in effect: release %s",
	      u.release);
	for (i = 0; i < RLIM_NLIMITS; i++) {
		getrlimit(i, &rl);
		CHECK(rl.rlim_cur == limits[i].rlim_cur && rl.rlim_max == limits[i].rlim_max,
		      "rlimit %d is %llu/%llu, was %llu/%llu", i, (unsigned long long)rl.rlim_cur,
		      (unsigned long long)rl.rlim_max, (unsigned long long)limits[i].rlim_cur,
		      (unsigned long long)limits[i].rlim_max);
	}
	CHECK(read_all("/proc/self/comm", buf, sizeof(buf)) == 15 &&
		      !strncmp(buf, "thaw-procstate\n", 15),
	      "comm changed");
	check_blob("/proc/self/cmdline", &cmdline);
	check_blob("/proc/self/environ", &environ_file);
	for (i = 1; i < argc; i++)
		CHECK(strlen(argv[i]) < sizeof(buf), "argv");
	p = cmdline.data;
	for (i = 0; i < argc && p < cmdline.data + cmdline.len; i++) {
		CHECK(!strcmp(argv[i], p), "argv[%d] is '%s', was '%s'", i, argv[i], p);
		p += strlen(p) + 1;
	}
	for (i = 0; env_copy && i < env_count; i++)
		CHECK(environ[i] && env_copy[i] && !strcmp(environ[i], env_copy[i]),
		      "environ[%d] changed", i);
	check_auxv();
	memset(buf, 0, sizeof(buf));
	CHECK(readlink("/proc/self/exe", buf, sizeof(buf) - 1) > 0 && !strcmp(buf, exe),
	      "/proc/self/exe is %s, was %s", buf, exe);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0); /* inherited fds are not part of the test */
	if (argc < 2) {
		fprintf(stderr, "usage: procstate WORKDIR [ARGS...]\n");
		return 2;
	}
	snprintf(workdir, sizeof(workdir), "%s", argv[1]);
	setup();
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	check_process(argc, argv);
	check_signals();
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
