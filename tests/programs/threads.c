/*
 * threads.c - a program whose threads sit in every state thaw must freeze and
 * bring back, and that checks each of them when asked (SIGUSR1).
 *
 *   threads
 *
 * Eight threads spin with a distinct AVX2 pattern live in ymm0-ymm13 and
 * compare it after every spin; others block in pthread_cond_wait (futex),
 * read() on a pipe, nanosleep (with a sigaltstack), epoll_wait (holding a
 * robust mutex) and poll.  Every thread has its own signal mask.  The main
 * thread has SIGUSR2 pending while blocked.  After SIGUSR1 the main thread
 * checks PIDs/TIDs, masks, the robust list, rseq, the pending signal, that
 * the spinners progress without losing a register, pokes each blocked thread
 * (they must wake and exit, and join must work), then prints PASS or FAIL
 * lines and exits 0 or 1.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NR_AVX 8
#define NR_REGS 14 /* ymm0-ymm13; ymm14 is the compare scratch */

enum { T_COND = NR_AVX, T_READ, T_SLEEP, T_EPOLL, T_POLL, NR_THREADS };

static const char *const role_name[NR_THREADS] = {
	"avx0", "avx1", "avx2", "avx3", "avx4", "avx5", "avx6", "avx7",
	"cond_wait", "read", "nanosleep", "epoll_wait", "poll",
};

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static atomic_int failures;

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		atomic_fetch_add(&failures, 1);                                                    \
		flockfile(stdout);                                                                 \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
		funlockfile(stdout);                                                               \
	} while (0)
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAILF(__VA_ARGS__);                                                        \
	} while (0)

struct worker {
	int idx;
	pthread_t thread;
	pid_t tid;
	sigset_t mask;
	atomic_int blocked; /* about to enter its blocking call */
	atomic_long progress;
	atomic_long errors;
	atomic_int check_req, checked;
	uint64_t ymm[NR_REGS * 4] __attribute__((aligned(32)));
};

static struct worker workers[NR_THREADS];
static atomic_int stop;
static pid_t main_pid, main_tid;
static sigset_t main_mask;
static long main_robust_head;

static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_go;
static int read_pipe[2], poll_pipe[2];
static int epfd, efd;
static pthread_mutex_t robust;
static char altstack[65536];
static atomic_int urg_count, urg_on_altstack;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void ms_sleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Loads the pattern into ymm0-13, spins n times, and compares every register
 * with the pattern: a register the restore got wrong shows here.
 */
#define LD(j) "vmovdqu " #j "*32(%[p]), %%ymm" #j "\n\t"
#define CMP(j)                                                                                     \
	"vpcmpeqb " #j "*32(%[p]), %%ymm" #j ", %%ymm14\n\t"                                      \
	"vpmovmskb %%ymm14, %%eax\n\t"                                                             \
	"cmp $-1, %%eax\n\t"                                                                       \
	"jne 2f\n\t"
static int avx_spin(const uint64_t *pattern, unsigned long n)
{
	int bad;

	__asm__ volatile(LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11)
				 LD(12) LD(13)
			 "1:\n\t"
			 "dec %[n]\n\t"
			 "jnz 1b\n\t"
			 CMP(0) CMP(1) CMP(2) CMP(3) CMP(4) CMP(5) CMP(6) CMP(7) CMP(8) CMP(9)
				 CMP(10) CMP(11) CMP(12) CMP(13)
			 "xor %[bad], %[bad]\n\t"
			 "jmp 3f\n"
			 "2:\n\t"
			 "mov $1, %[bad]\n"
			 "3:\n\t"
			 "vzeroupper\n\t"
			 : [bad] "=&r"(bad), [n] "+r"(n)
			 : [p] "r"(pattern)
			 : "eax", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
			   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			   "xmm14");
	return bad;
}

/* The thread's own view of itself: same TID and signal mask as before. */
static void check_self(struct worker *w)
{
	sigset_t now;
	int sig;

	CHECK(gettid_() == w->tid, "%s: gettid() is %d, was %d", role_name[w->idx], gettid_(),
	      w->tid);
	CHECK(getpid() == main_pid, "%s: getpid() changed", role_name[w->idx]);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (sig = 1; sig < SIGRTMAX; sig++)
		if (sigismember(&now, sig) != sigismember(&w->mask, sig)) {
			FAILF("%s: signal mask differs at signal %d", role_name[w->idx], sig);
			break;
		}
}

static void *avx_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	while (!atomic_load(&stop)) {
		if (avx_spin(w->ymm, 3000000))
			atomic_fetch_add(&w->errors, 1);
		atomic_fetch_add(&w->progress, 1);
		if (atomic_load(&w->check_req) && !atomic_load(&w->checked)) {
			check_self(w);
			atomic_store(&w->checked, 1);
		}
	}
	return NULL;
}

static void *cond_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	pthread_mutex_lock(&cond_lock);
	atomic_store(&w->blocked, 1);
	while (!cond_go)
		pthread_cond_wait(&cond, &cond_lock);
	pthread_mutex_unlock(&cond_lock);
	check_self(w);
	atomic_store(&w->checked, 1);
	return NULL;
}

static void *read_main(void *arg)
{
	struct worker *w = arg;
	ssize_t n;
	char c = 0;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	atomic_store(&w->blocked, 1);
	do
		n = read(read_pipe[0], &c, 1);
	while (n < 0 && errno == EINTR);
	CHECK(n == 1 && c == 'x', "read: read() returned %zd '%c'", n, c);
	check_self(w);
	atomic_store(&w->checked, 1);
	return NULL;
}

static void on_urg(int sig)
{
	char here;

	(void)sig;
	atomic_fetch_add(&urg_count, 1);
	if (&here >= altstack && &here < altstack + sizeof(altstack))
		atomic_store(&urg_on_altstack, 1);
}

static void *sleep_main(void *arg)
{
	struct worker *w = arg;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) }, now;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	atomic_store(&w->blocked, 1);
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, 100000000 };

		nanosleep(&ts, NULL); /* EINTR from SIGURG is fine: count on */
		atomic_fetch_add(&w->progress, 1);
		if (atomic_load(&w->check_req) && !atomic_load(&w->checked)) {
			check_self(w);
			CHECK(!sigaltstack(NULL, &now) && now.ss_sp == altstack &&
				      now.ss_size == sizeof(altstack) && !(now.ss_flags & SS_DISABLE),
			      "nanosleep: sigaltstack lost (sp %p size %zu flags %d)", now.ss_sp,
			      now.ss_size, now.ss_flags);
			atomic_store(&w->checked, 1);
		}
	}
	return NULL;
}

static void *epoll_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev;
	int n;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	if (pthread_mutex_lock(&robust))
		die("lock robust mutex");
	atomic_store(&w->blocked, 1);
	do
		n = epoll_wait(epfd, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	CHECK(n == 1 && ev.data.u64 == 0xE9011ull && (ev.events & EPOLLIN),
	      "epoll_wait: returned %d, data %#llx", n, (unsigned long long)ev.data.u64);
	check_self(w);
	atomic_store(&w->checked, 1);
	return NULL; /* exits holding the robust mutex: the kernel marks it owner-dead */
}

static void *poll_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd pfd = { .fd = poll_pipe[0], .events = POLLIN };
	char c = 0;
	int n;

	w->tid = gettid_();
	pthread_sigmask(SIG_BLOCK, NULL, &w->mask);
	atomic_store(&w->blocked, 1);
	do
		n = poll(&pfd, 1, -1);
	while (n < 0 && errno == EINTR);
	CHECK(n == 1 && (pfd.revents & POLLIN) && read(poll_pipe[0], &c, 1) == 1 && c == 'y',
	      "poll: returned %d revents %#x", n, pfd.revents);
	check_self(w);
	atomic_store(&w->checked, 1);
	return NULL;
}

static void *(*const role_main[NR_THREADS])(void *) = {
	avx_main, avx_main, avx_main, avx_main, avx_main, avx_main, avx_main, avx_main,
	cond_main, read_main, sleep_main, epoll_main, poll_main,
};

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static uint64_t pattern_word(uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;

	x ^= x >> 29;
	return x;
}

static void setup(void)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct sigaction su = { .sa_handler = on_urg, .sa_flags = SA_ONSTACK };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xE9011ull };
	pthread_mutexattr_t ma;
	sigset_t set;
	int i, j;

	main_pid = getpid();
	main_tid = gettid_();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&su.sa_mask);
	sigaction(SIGURG, &su, NULL);

	if (pipe(read_pipe) || pipe(poll_pipe))
		die("pipe");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	efd = eventfd(0, EFD_NONBLOCK);
	if (epfd < 0 || efd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev))
		die("epoll/eventfd");
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(&robust, &ma))
		die("robust mutex");

	/* Each thread inherits the mask in force when it is created: all differ. */
	for (i = 0; i < NR_THREADS; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		for (j = 0; j < NR_REGS * 4; j++)
			w->ymm[j] = pattern_word((uint64_t)i * 1000 + (uint64_t)j);
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGUSR2);
		sigaddset(&set, SIGRTMIN + 1 + i);
		if (i % 2)
			sigaddset(&set, SIGHUP);
		pthread_sigmask(SIG_SETMASK, &set, NULL);
		if (pthread_create(&w->thread, NULL, role_main[i], w))
			die("pthread_create");
	}

	/* main: SIGUSR1 open, SIGUSR2 blocked with one pending */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMAX - 1);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	main_mask = set;
	raise(SIGUSR2);
	{
		long len;

		syscall(SYS_get_robust_list, 0, &main_robust_head, &len);
	}

	for (i = T_COND; i < NR_THREADS; i++)
		while (!atomic_load(&workers[i].blocked))
			ms_sleep(1);
	for (i = 0; i < NR_AVX; i++)
		while (!atomic_load(&workers[i].progress))
			ms_sleep(1);
}

static int timed_join(int i, int seconds)
{
	struct timespec ts;
	int err;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	err = pthread_timedjoin_np(workers[i].thread, NULL, &ts);
	CHECK(!err, "%s: pthread_join failed: %s", role_name[i], strerror(err));
	return err;
}

static void check_rseq(void)
{
	struct rseq *rs;
	cpu_set_t orig, one;
	uintptr_t tp;
	int cpu, tried = 0;

	CHECK(__rseq_size > 0, "rseq: glibc has no rseq area registered (__rseq_size 0)");
	if (!__rseq_size)
		return;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	rs = (struct rseq *)(tp + (uintptr_t)__rseq_offset);
	if (sched_getaffinity(0, sizeof(orig), &orig))
		return;
	/* The kernel updates cpu_id on migration only while rseq is registered. */
	for (cpu = 0; cpu < CPU_SETSIZE && tried < 4; cpu++) {
		unsigned int kcpu = ~0u;

		if (!CPU_ISSET(cpu, &orig))
			continue;
		tried++;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			continue;
		sched_yield();
		syscall(SYS_getcpu, &kcpu, NULL, NULL);
		CHECK(kcpu == (unsigned int)cpu, "rseq: getcpu says %u pinned to %d", kcpu, cpu);
		CHECK(rs->cpu_id == (uint32_t)cpu, "rseq: cpu_id is %d pinned to cpu %d (not registered?)",
		      (int)rs->cpu_id, cpu);
		CHECK(sched_getcpu() == cpu, "sched_getcpu() is %d pinned to cpu %d", sched_getcpu(),
		      cpu);
	}
	sched_setaffinity(0, sizeof(orig), &orig);
}

static void check_main_thread(void)
{
	sigset_t now, pend;
	long head = 0, len = 0;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int sig;

	CHECK(getpid() == main_pid, "getpid() is %d, was %d", getpid(), main_pid);
	CHECK(gettid_() == main_tid, "main: gettid() is %d, was %d", gettid_(), main_tid);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (sig = 1; sig < SIGRTMAX; sig++)
		if (sigismember(&now, sig) != sigismember(&main_mask, sig)) {
			FAILF("main: signal mask differs at signal %d", sig);
			break;
		}
	CHECK(!syscall(SYS_get_robust_list, 0, &head, &len) && head && head == main_robust_head,
	      "robust list: head %#lx, was %#lx", head, main_robust_head);
	sigpending(&pend);
	CHECK(sigismember(&pend, SIGUSR2), "SIGUSR2 raised while blocked is no longer pending");
	sigemptyset(&now);
	sigaddset(&now, SIGUSR2);
	sig = sigtimedwait(&now, &si, &zero);
	CHECK(sig == SIGUSR2 && si.si_pid == main_pid,
	      "pending SIGUSR2: sigtimedwait got %d code %d pid %d", sig, si.si_code, si.si_pid);
	check_rseq();
}

static void check_threads(void)
{
	long before[NR_THREADS];
	pthread_t late;
	int i, err, spins;

	for (i = 0; i < NR_THREADS; i++)
		before[i] = atomic_load(&workers[i].progress);
	for (i = 0; i < NR_AVX; i++)
		atomic_store(&workers[i].check_req, 1);
	atomic_store(&workers[T_SLEEP].check_req, 1);
	ms_sleep(500);
	for (i = 0; i < NR_AVX; i++) {
		CHECK(atomic_load(&workers[i].progress) > before[i], "%s: made no progress",
		      role_name[i]);
		CHECK(!atomic_load(&workers[i].errors), "%s: ymm registers lost their pattern %ld times",
		      role_name[i], atomic_load(&workers[i].errors));
	}
	CHECK(atomic_load(&workers[T_SLEEP].progress) > before[T_SLEEP] + 1,
	      "nanosleep: thread does not wake up any more");

	/* the nanosleep thread's handler must run on its alternate stack */
	pthread_kill(workers[T_SLEEP].thread, SIGURG);
	for (spins = 0; spins < 200 && !atomic_load(&urg_count); spins++)
		ms_sleep(10);
	CHECK(atomic_load(&urg_count) == 1 && atomic_load(&urg_on_altstack),
	      "nanosleep: SIGURG handler ran %d times, on altstack %d", atomic_load(&urg_count),
	      atomic_load(&urg_on_altstack));

	/* wake every blocked thread; each exits, so join (clear_child_tid) must work */
	pthread_mutex_lock(&cond_lock);
	cond_go = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&cond_lock);
	timed_join(T_COND, 5);
	CHECK(write(read_pipe[1], "x", 1) == 1, "write to read pipe");
	timed_join(T_READ, 5);
	CHECK(write(poll_pipe[1], "y", 1) == 1, "write to poll pipe");
	timed_join(T_POLL, 5);
	{
		uint64_t one = 1;

		CHECK(write(efd, &one, sizeof(one)) == sizeof(one), "write eventfd");
	}
	if (!timed_join(T_EPOLL, 5)) {
		err = pthread_mutex_lock(&robust);
		CHECK(err == EOWNERDEAD, "robust mutex: lock after its owner died gave %s",
		      strerror(err));
		if (err == EOWNERDEAD)
			pthread_mutex_consistent(&robust);
		if (!err || err == EOWNERDEAD)
			pthread_mutex_unlock(&robust);
	}
	for (i = T_COND; i < NR_THREADS; i++)
		if (i != T_SLEEP)
			CHECK(atomic_load(&workers[i].checked), "%s: did not check itself",
			      role_name[i]);

	atomic_store(&stop, 1);
	for (i = 0; i < NR_AVX; i++)
		if (!timed_join(i, 10))
			CHECK(atomic_load(&workers[i].checked), "%s: did not check itself",
			      role_name[i]);
	if (!timed_join(T_SLEEP, 10))
		CHECK(atomic_load(&workers[T_SLEEP].checked), "nanosleep: did not check itself");

	/* a thread created after restore works too */
	err = pthread_create(&late, NULL, cond_main, &workers[T_COND]);
	CHECK(!err && !pthread_join(late, NULL), "new thread after restore: %s", strerror(err));
}

int main(void)
{
	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0); /* inherited fds are not part of the test */
	setup();
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1)
		ms_sleep(10);
	check_main_thread();
	check_threads();
	printf(atomic_load(&failures) ? "FAIL: %d checks failed\n" : "PASS\n",
	       atomic_load(&failures));
	fflush(stdout);
	return atomic_load(&failures) ? 1 : 0;
}
